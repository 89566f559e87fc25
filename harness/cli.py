"""`harness`: the command line over the controller's library."""
from __future__ import annotations

import fnmatch
import functools
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click
from rich.text import Text

# The controller never uses gRPC in a forked child (load workers are spawned, Ansible execs), and
# gRPC's fork handlers only print "Other threads are currently calling into gRPC" when the node
# state recorder's thread holds it. Read when grpc is first imported, so set before that.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from harness import __version__, testbed, tls
from harness.ansible import AnsibleError, PlaybookResult
from harness.benchmark import Benchmark, load_benchmark
from harness.console import (Live, console, error_console, hardware_table, playbook_table, progress_table,
                             round_table, slo_table, status_table)
from harness.errors import ConfigError, HarnessError
from harness.inventory import DEFAULT_INVENTORY, Inventory, load_inventory
from harness.loadgen.engine import Engine, RoundResult
from harness.loadgen.remote import RemoteWorkers
from harness.loadgen.workload import load_workload_module
from harness.node_watch import NodeStateRecorder
from harness.export import config as influx_config
from harness.export.config import InfluxConfig
from harness.export.live import LiveExport
from harness.export.tally import ExportTally
from harness.export.push import push as push_run
from harness.export.writers import ExportError, check_access, detect, protocol_for
from harness.hardware import profile_record
from harness.remote_exec import run_on
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


limit_option = click.option("--limit", metavar="PATTERN", default=None,
                            help="Only the hosts matching this Ansible pattern.")
max_fail_option = click.option("--max-fail", type=int, default=None, metavar="N",
                               help="Stop with an error when more than N hosts fail (default: go on degraded).")


def _wait_for_selection(inventory: Inventory) -> list[testbed.NodeHealth]:
    with console.status("waiting for the control nodes to hear from their execution nodes"):
        return testbed.wait_for_selection(inventory)


def _warn_unselectable(health: list[testbed.NodeHealth]) -> None:
    for node_health in health:
        for why in testbed.unselectable(node_health):
            _warn(f"{node_health.node.name} cannot choose execution node {why}")


def _act(action: str, inventory: Inventory, limit: str | None = None, max_fail: int | None = None,
         extravars: dict[str, Any] | None = None) -> PlaybookResult:
    roles = {n.name: n.role for n in inventory.nodes}
    done: dict[str, int] = {}

    def on_task(host: str, task: str, outcome: str) -> None:
        done[host] = done.get(host, 0) + 1
        live_status.update(f"{action}: {host}: {task} [{outcome}]  ({sum(done.values())} tasks done)")

    with console.status(f"{action}: starting ansible-runner") as live_status:
        if action == "up":
            result = testbed.up(inventory, on_task=on_task, limit=limit, max_fail=max_fail)
        else:
            result = testbed.act(action, inventory, limit, max_fail, on_task, extravars)
    console.print(playbook_table(result, roles))
    states = [h.state for h in result.hosts.values() if h.ok or h.failed or h.unreachable or h.skipped]
    console.print(f"{action}: {len(states)} host(s): {states.count('ok')} ok, {states.count('changed')} changed, "
                  f"{states.count('failed')} failed, {states.count('unreachable')} unreachable")
    if result.degraded:
        console.print(f"[yellow]degraded, going on without: {', '.join(result.degraded)}[/yellow]")
        for host in result.degraded:
            outcome = result.hosts[host]
            reason = " ".join("; ".join(outcome.messages).split())
            console.print(Text(f"  {host}: {outcome.state}: {reason}"), soft_wrap=True)
    return result


@main.command()
@inventory_option
@limit_option
@max_fail_option
@_friendly_errors
def provision(inventory_path: Path, limit: str | None, max_fail: int | None) -> None:
    """Install the project on the nodes (a virtual environment from the controller's wheelhouse)."""
    _act("provision", load_inventory(inventory_path), limit, max_fail)


@main.command()
@inventory_option
@limit_option
@max_fail_option
@_friendly_errors
def deploy(inventory_path: Path, limit: str | None, max_fail: int | None) -> None:
    """Provision and configure the nodes without starting them."""
    _act("deploy", load_inventory(inventory_path), limit, max_fail)


@main.command()
@inventory_option
@limit_option
@max_fail_option
@_friendly_errors
def up(inventory_path: Path, limit: str | None, max_fail: int | None) -> None:
    """Provision, deploy and start the node agents of an inventory."""
    inventory = load_inventory(inventory_path)
    _act("up", inventory, limit, max_fail)
    health = _wait_for_selection(inventory)
    console.print(status_table(health))
    _warn_unselectable(health)


@main.command()
@inventory_option
@limit_option
@_friendly_errors
def down(inventory_path: Path, limit: str | None) -> None:
    """Stop the node agents (their files stay)."""
    inventory = load_inventory(inventory_path)
    _act("down", inventory, limit)
    still = [h.node.name for h in testbed.check_all(inventory) if h.serving]
    if still and limit is None:
        raise HarnessError(f"still serving after `down`: {', '.join(still)}")


@main.command()
@inventory_option
@limit_option
@_friendly_errors
def teardown(inventory_path: Path, limit: str | None) -> None:
    """Stop the agents and remove everything the harness installed or wrote on the nodes."""
    _act("teardown", load_inventory(inventory_path), limit)


@main.command()
@inventory_option
@click.option("--to", "target", type=click.Path(path_type=Path), default=Path("logs"), show_default=True,
              help="Directory on this machine for the logs (one folder per host).")
@limit_option
@_friendly_errors
def logs(inventory_path: Path, target: Path, limit: str | None) -> None:
    """Fetch every node agent's log."""
    _act("logs", load_inventory(inventory_path), limit, extravars={"harness_logs_dir": str(target.resolve())})
    console.print(f"logs in {target}/")


@main.command()
@inventory_option
@limit_option
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
@_friendly_errors
def facts(inventory_path: Path, limit: str | None, as_json: bool) -> None:
    """Gather each node's hardware facts and print its hardware profile record."""
    inventory = load_inventory(inventory_path)
    records = gather_hardware(inventory, limit)
    if as_json:
        click.echo(json.dumps(records, indent=2))
    else:
        console.print(hardware_table(records))


def gather_hardware(inventory: Inventory, limit: str | None = None, quiet: bool = False) -> list[dict[str, Any]]:
    result = testbed.act("facts", inventory, limit) if quiet else _act("facts", inventory, limit)
    labels = {n.name: n.hardware_profile for n in inventory.nodes}
    return [profile_record(host, labels.get(host, "unknown"), host_facts) for host, host_facts in sorted(result.facts.items())]


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@inventory_option
@limit_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@_friendly_errors
def exec_command(inventory_path: Path, limit: str | None, command: tuple[str, ...]) -> None:
    """Run an ad-hoc command on the hosts over SSH: harness exec -i INV -- CMD ARGS."""
    inventory = load_inventory(inventory_path)
    nodes = [n for n in inventory.nodes if limit is None or fnmatch.fnmatch(n.name, limit) or n.role == limit]
    results = run_on(nodes, shlex.join(command))
    for result in results:
        code = "unreachable" if result.exit_code is None else f"exit {result.exit_code}"
        console.print(f"[bold]{result.node}[/bold] ({code})", highlight=False)
        for line in (result.stdout + result.stderr).rstrip().splitlines():
            console.print(f"  {line}", highlight=False, markup=False)
    if any(r.exit_code != 0 for r in results):
        sys.exit(1)


@main.command()
@inventory_option
@_friendly_errors
def status(inventory_path: Path) -> None:
    """Health and latest state of every node; for a node that does not serve, why."""
    inventory = load_inventory(inventory_path)
    health = testbed.check_all(inventory, with_state=True)
    console.print(status_table(health))
    _warn_unselectable(health)
    not_serving = {h.node.name: h.detail for h in health if not h.serving}
    if not_serving:
        for name, reason in testbed.diagnose(inventory, list(not_serving)).items():
            console.print(f"{name}: {reason}", highlight=False, markup=False, soft_wrap=True)
            console.print(f"  the controller got: {not_serving[name]}", highlight=False, markup=False, soft_wrap=True)
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
@click.option("--results-config", type=click.Path(path_type=Path), default=None,
              help="Write the run live to the results database this file names (as `results push --config`); "
                   "HARNESS_INFLUX_URL and friends do the same.")
@click.option("--results-optional", is_flag=True,
              help="When the results database cannot be reached, warn and keep the local store only.")
@click.option("--sample-interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True, metavar="SECONDS",
              help="How often every node's state (CPU, memory, disks, trust) is recorded during the run.")
@_friendly_errors
def run(benchmark_file: Path, inventory_path: Path, results_dir: Path, keep_up: bool, endpoints: tuple[str, ...],
        results_config: Path | None, results_optional: bool, sample_interval: float) -> None:
    """Run a benchmark against a testbed, bringing it up if needed."""
    # Everything is validated before anything starts, the results database included.
    benchmark = load_benchmark(benchmark_file)
    _check_workload_modules(benchmark)
    export = _results_database(results_config, results_optional)
    if endpoints:
        for endpoint in endpoints:
            host, _, port = endpoint.rpartition(":")
            if not host or not port.isdigit():
                raise HarnessError(f"--endpoint {endpoint!r}: expected HOST:PORT")
        summary = _run_benchmark(benchmark, None, results_dir, list(endpoints), export=export,
                                 export_optional=results_optional, sample_interval_s=sample_interval)
        _exit_on_missed_slos(summary)
        return
    inventory = load_inventory(inventory_path)
    if benchmark.worker_type == "remote" and not inventory.by_role("client"):
        raise benchmark.document.error(("test", "workers", "type"),
                                       f"remote workers need hosts in the 'client' group of {inventory.hosts_file}")

    started_here = False
    if not testbed.is_up(inventory):
        _act("up", inventory)
        started_here = True
    try:
        # Transactions sent before a control node hears from its execution nodes would be dropped.
        _warn_unselectable(_wait_for_selection(inventory))
        with console.status("gathering hardware facts"):
            hardware = gather_hardware(inventory, quiet=True)
        summary = _run_benchmark(benchmark, inventory, results_dir, [n.endpoint for n in inventory.by_role("control")],
                                 hardware, export=export, export_optional=results_optional,
                                 sample_interval_s=sample_interval)
    finally:
        if started_here and not keep_up:
            _act("down", inventory)
    _exit_on_missed_slos(summary)


def _results_database(config_file: Path | None, optional: bool) -> InfluxConfig | None:
    """The results database to write to, checked now; None when none is configured (or, with
    --results-optional, when it cannot be reached)."""
    if config_file is None and not os.environ.get("HARNESS_INFLUX_URL"):
        return None
    config = influx_config.resolve(config_file, {})
    try:
        check_access(config, protocol_for(config, detect(config.url)))
    except ExportError as error:
        _database_unavailable(error, optional)
        return None
    return config


def _start_live_export(config: InfluxConfig | None, folder: RunFolder, manifest: dict[str, Any],
                       optional: bool) -> LiveExport | None:
    if config is None:
        return None
    try:
        return LiveExport(config, folder.path, manifest)
    except ExportError as error:  # the database went away since it was checked
        if not optional:
            folder.remove()
        _database_unavailable(error, optional)
        return None


def _database_unavailable(error: ExportError, optional: bool) -> None:
    """Before any load: an error, or with --results-optional a warning and the local store only."""
    if not optional:
        raise HarnessError(f"{error} (nothing was started; --results-optional keeps the local store only)") from error
    _warn(f"{error}; results stay in the local store only")


def _report_export(tally: ExportTally, run_dir: Path, optional: bool) -> None:
    produced, acknowledged = sum(tally.produced.values()), sum(tally.acknowledged.values())
    pending, spooled = sum(tally.pending.values()), sum(tally.spooled.values())
    if pending:
        message = (f"{pending} of {produced} points are spooled in {run_dir / 'spool'} ({tally.errors[-1]}); "
                   f"`harness results push {run_dir}` sends the run again")
        if not optional:
            raise HarnessError(message)
        _warn(message)
        return
    retried = f", {spooled} of them after the database came back" if spooled else ""
    console.print(f"results database: {acknowledged} of {produced} points acknowledged{retried} "
                  f"({tally.url}, {tally.protocol})", highlight=False)


def _warn(message: str) -> None:
    error_console.print(Text(f"warning: {message}", style="yellow"), soft_wrap=True)


def _exit_on_missed_slos(summary: dict[str, Any]) -> None:
    missed = [v for r in summary["rounds"] for v in r["slo_results"] if not v["met"]]
    if missed:
        error_console.print(Text(f"error: {len(missed)} service-level objective(s) missed", style="red"))
        sys.exit(SLO_MISSED_EXIT)


def _check_workload_modules(benchmark: Benchmark) -> None:
    for spec in benchmark.rounds:
        try:
            load_workload_module(spec.workload_module)
        except Exception as error:  # noqa: BLE001 - user code may fail in any way; report it as config
            raise benchmark.document.error(("test", "rounds", spec.index, "workload", "module"),
                                           f"cannot load workload module: {error}") from error


SLO_MISSED_EXIT = 4


def _run_benchmark(benchmark: Benchmark, inventory: Inventory | None, results_dir: Path,
                   endpoints: list[str], hardware: list[dict[str, Any]] | None = None,
                   export: InfluxConfig | None = None, export_optional: bool = False,
                   sample_interval_s: float = 1.0) -> dict[str, Any]:
    folder = RunFolder.create(results_dir, benchmark, inventory, endpoints)
    manifest = folder.write_manifest(benchmark, hardware)
    live = _start_live_export(export, folder, manifest, export_optional)
    tls_files = tls.controller_files(inventory) if inventory else None
    recorder = NodeStateRecorder(list(inventory.nodes), folder.nodes_dir, sample_interval_s,
                                 on_sample=live.add_sample if live else None, tls=tls_files) if inventory else None
    console.print(f"run [bold]{folder.run_id}[/bold]: {len(benchmark.rounds)} round(s), "
                  f"{benchmark.workers} worker(s) → {folder.path}")
    started_ns = time.time_ns()
    results: list[RoundResult] = []
    status = "interrupted"
    tally: ExportTally | None = None
    remote = RemoteWorkers(inventory.by_role("client")) if benchmark.worker_type == "remote" and inventory else None
    try:
        if recorder is not None:
            recorder.start()
        with Engine(benchmark, endpoints, folder.token, folder.records_dir, remote, tls_files) as engine:
            for spec in benchmark.rounds:
                round_started = time.monotonic()
                with Live(progress_table(spec.label, {}, 0.0), console=console, transient=True) as live_view:
                    result = engine.run_round(
                        spec,
                        lambda s, counts: live_view.update(progress_table(s.label, counts, time.monotonic() - round_started))
                    )
                results.append(result)
                folder.write_histograms(result)
                summary = folder.write_summary(benchmark, results, started_ns, "running")
                if live is not None:
                    live.add_round(summary, summary["rounds"][-1])
                _print_round(summary["rounds"][-1])
        status = "complete"
    finally:
        if recorder is not None:
            recorder.stop()
        if live is not None:
            tally = live.close()
        summary = folder.write_summary(benchmark, results, started_ns, status,
                                       export=tally.to_json() if tally else None)
        report = build_report(folder.path)
    console.print(f"results: {folder.path}  (report: {report.name}, rounds.csv, summary.json)")
    if tally is not None:
        _report_export(tally, folder.path, export_optional)
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
def results() -> None:
    """Send runs to an InfluxDB-compatible results database."""


@results.command("push")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              help="YAML file with an 'influx' mapping (url, token, org, bucket, protocol).")
@click.option("--url", default=None, help="e.g. http://127.0.0.1:8086 (overrides HARNESS_INFLUX_URL and the file)")
@click.option("--token", default=None)
@click.option("--org", default=None)
@click.option("--bucket", default=None, help="bucket (v2) or database (v1)")
@click.option("--protocol", type=click.Choice(["auto", "v1", "v2"]), default=None,
              help="auto: v1 /write for InfluxDB before 1.8, the v2 API otherwise")
@_friendly_errors
def results_push(run_dirs: tuple[Path, ...], config_file: Path | None, url: str | None, token: str | None,
                 org: str | None, bucket: str | None, protocol: str | None) -> None:
    """Push run folders; pushing again sends the same points (no duplicates)."""
    config = influx_config.resolve(config_file, {"url": url, "token": token, "org": org, "bucket": bucket,
                                                 "protocol": protocol})
    failed = False
    for run_dir in run_dirs:
        if not (run_dir / "summary.json").is_file():
            raise ConfigError(run_dir, "", "no summary.json: not a run folder")
        report = push_run(run_dir, config)
        for measurement, produced in sorted(report.produced.items()):
            console.print(f"{run_dir.name}: {measurement}: {produced} produced, "
                          f"{report.acknowledged[measurement]} acknowledged, {report.spooled[measurement]} spooled "
                          f"({report.protocol})", highlight=False)
        for error in report.errors[:3]:
            error_console.print(Text(f"error: {error}", style="red"), soft_wrap=True)
        failed = failed or bool(report.errors)
    if failed:
        sys.exit(1)


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
