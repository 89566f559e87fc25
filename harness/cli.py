"""`harness`: the command line over the controller's library."""
from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click
from rich.text import Text

from harness import __version__, testbed
from harness.ansible import AnsibleError, PlaybookResult
from harness.benchmark import Benchmark, load_benchmark
from harness.console import (Live, console, error_console, playbook_table, progress_table, round_table, slo_table,
                             status_table)
from harness.errors import ConfigError, HarnessError
from harness.inventory import DEFAULT_INVENTORY, Inventory, load_inventory
from harness.loadgen.engine import Engine, RoundResult
from harness.loadgen.workload import WorkloadLoadError, load_workload_module
from harness.report import build_report
from harness.results import DEFAULT_RESULTS_DIR, RunFolder
from vdlt.ledger import verify_chain



def _friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (HarnessError, AnsibleError) as error:
            # One unwrapped line per message, so it can be grepped and clicked.
            error_console.print(Text("error: ", style="red") + Text(str(error)), soft_wrap=True)
            sys.exit(getattr(error, "exit_code", 1))

    return wrapper


inventory_option = click.option(
    "-i", "--inventory", "inventory_path", type=click.Path(path_type=Path), default=DEFAULT_INVENTORY,
    show_default="inventories/local", help="Ansible inventory: a directory with hosts.yml, or the file itself.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def main() -> None:
    """Provision vDLT testbeds, run benchmark campaigns, collect and report results."""


def _provision(action: str, inventory: Inventory) -> PlaybookResult:
    roles = {n.name: n.role for n in inventory.nodes}
    done: dict[str, int] = {}

    def on_task(host: str, task: str, outcome: str) -> None:
        done[host] = done.get(host, 0) + 1
        live_status.update(f"{action}: {host}: {task} [{outcome}]  ({sum(done.values())} tasks done)")

    with console.status(f"{action}: starting ansible-runner") as live_status:
        function = testbed.up if action == "up" else testbed.down
        result = function(inventory, on_task=on_task)
    console.print(playbook_table(result, roles))
    states = [h.state for h in result.hosts.values()]
    console.print(f"{action}: {len(states)} host(s): {states.count('ok')} ok, {states.count('changed')} changed, "
                  f"{states.count('failed')} failed, {states.count('unreachable')} unreachable")
    return result


@main.command()
@inventory_option
@_friendly_errors
def up(inventory_path: Path) -> None:
    """Deploy and start the node agents of an inventory."""
    inventory = load_inventory(inventory_path)
    _provision("up", inventory)
    console.print(status_table(testbed.check_all(inventory, with_state=True)))


@main.command()
@inventory_option
@_friendly_errors
def down(inventory_path: Path) -> None:
    """Stop every node agent of an inventory."""
    inventory = load_inventory(inventory_path)
    _provision("down", inventory)
    still = [h.node.name for h in testbed.check_all(inventory) if h.serving]
    if still:
        raise HarnessError(f"still serving after `down`: {', '.join(still)}")


@main.command()
@inventory_option
@_friendly_errors
def status(inventory_path: Path) -> None:
    """Health and latest state of every node."""
    inventory = load_inventory(inventory_path)
    health = testbed.check_all(inventory, with_state=True)
    console.print(status_table(health))
    if not all(h.serving for h in health):
        sys.exit(3)


@main.command()
@click.argument("benchmark_file", type=click.Path(path_type=Path))
@inventory_option
@click.option("--results-dir", type=click.Path(path_type=Path), default=DEFAULT_RESULTS_DIR, show_default=True,
              help="Where the run folder is created.")
@click.option("--keep-up", is_flag=True,
              help="Leave a testbed this run brought up running afterwards (one that was already up is always left up).")
@click.option("--endpoint", "endpoints", multiple=True, metavar="HOST:PORT",
              help="Send to this control endpoint (repeatable) instead of an inventory's control nodes; "
                   "nothing is provisioned.")
@_friendly_errors
def run(benchmark_file: Path, inventory_path: Path, results_dir: Path, keep_up: bool, endpoints: tuple[str, ...]) -> None:
    """Run a benchmark against a testbed, bringing it up if needed."""
    # Everything is validated before anything starts.
    benchmark = load_benchmark(benchmark_file)
    _check_workload_modules(benchmark)
    if endpoints:
        for endpoint in endpoints:
            host, _, port = endpoint.rpartition(":")
            if not host or not port.isdigit():
                raise HarnessError(f"--endpoint {endpoint!r}: expected HOST:PORT")
        _exit_on_missed_slos(_run_benchmark(benchmark, None, results_dir, list(endpoints)))
        return
    inventory = load_inventory(inventory_path)

    started_here = False
    if not testbed.is_up(inventory):
        _provision("up", inventory)
        started_here = True
    try:
        summary = _run_benchmark(benchmark, inventory, results_dir, [n.endpoint for n in inventory.by_role("control")])
    finally:
        if started_here and not keep_up:
            _provision("down", inventory)
    _exit_on_missed_slos(summary)


def _exit_on_missed_slos(summary: dict[str, Any]) -> None:
    missed = [v for r in summary["rounds"] for v in r["slo_results"] if not v["met"]]
    if missed:
        error_console.print(Text(f"error: {len(missed)} service-level objective(s) missed", style="red"))
        sys.exit(SLO_MISSED_EXIT)


def _check_workload_modules(benchmark: Benchmark) -> None:
    for spec in benchmark.rounds:
        try:
            load_workload_module(spec.workload_module)
        except (WorkloadLoadError, Exception) as error:  # noqa: BLE001 - any failure of user code
            raise benchmark.document.error(("test", "rounds", spec.index, "workload", "module"),
                                           f"cannot load workload module: {error}") from error


SLO_MISSED_EXIT = 4


def _run_benchmark(benchmark: Benchmark, inventory: Inventory | None, results_dir: Path,
                   endpoints: list[str]) -> dict[str, Any]:
    folder = RunFolder.create(results_dir, benchmark, inventory, endpoints)
    console.print(f"run [bold]{folder.run_id}[/bold]: {len(benchmark.rounds)} round(s), "
                  f"{benchmark.workers} worker(s) → {folder.path}")
    started_ns = time.time_ns()
    results: list[RoundResult] = []
    status = "interrupted"
    try:
        with Engine(benchmark, endpoints, folder.token, folder.records_dir) as engine:
            for spec in benchmark.rounds:
                round_started = time.monotonic()
                with Live(progress_table(spec.label, {}, 0.0), console=console, transient=True) as live:
                    result = engine.run_round(
                        spec, lambda s, counts: live.update(progress_table(s.label, counts, time.monotonic() - round_started))
                    )
                results.append(result)
                summary = folder.write_summary(benchmark, results, started_ns, "running")
                _print_round(summary["rounds"][-1])
        status = "complete"
    finally:
        summary = folder.write_summary(benchmark, results, started_ns, status)
        report = build_report(folder.path)
    console.print(f"results: {folder.path}  (report: {report.name}, rounds.csv, summary.json)")
    return summary


def _print_round(round_summary: dict[str, Any]) -> None:
    console.print(round_table(round_summary))
    generator = round_summary["generator"]
    if not generator["kept_up"]:
        console.print(f"[yellow]generator {generator['verdict']}[/yellow]")
    if round_summary["slo_results"]:
        console.print(slo_table(round_summary))


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_friendly_errors
def report(run_dir: Path) -> None:
    """Rebuild a run's report.html and rounds.csv from its folder alone."""
    if not (run_dir / "summary.json").is_file():
        raise ConfigError(run_dir, "", "no summary.json: not a run folder")
    path = build_report(run_dir)
    console.print(f"wrote {path} and {run_dir / 'rounds.csv'}")


@main.group()
def ledger() -> None:
    """Inspect execution nodes' block logs."""


@ledger.command("verify")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@_friendly_errors
def ledger_verify(path: Path) -> None:
    """Check a node's chain (its data directory, ledger directory or blocks.jsonl)."""
    candidates = [path / "ledger" / "blocks.jsonl", path / "blocks.jsonl", path]
    target = next(p for p in candidates if p.is_file() or p == path)
    if not target.is_file():
        raise ConfigError(path, "", "no blocks.jsonl here")
    report = verify_chain(target)
    if report.ok:
        console.print(f"{target}: {report.blocks} block(s), chain intact")
        return
    console.print(f"[red]{target}: block {report.first_bad_height} is bad: {report.problem}[/red] "
                  f"({report.blocks} good block(s) before it)")
    sys.exit(1)
