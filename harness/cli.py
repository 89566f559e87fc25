"""`harness`: the command line over the controller's library."""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click
from rich.text import Text

# The controller never uses gRPC in a forked child (load workers are spawned, Ansible execs), and
# gRPC's fork handlers only print "Other threads are currently calling into gRPC" when the node
# state recorder's thread holds it. Read when grpc is first imported, so set before that.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from harness import __version__, interrupt
from harness.audit.run import audit_folder
from harness.campaign.config import check_campaign_folder, load_campaign
from harness.campaign.folder import DEFAULT_CAMPAIGNS_DIR, CampaignFolder
from harness.campaign.report import build_campaign_report
from harness.campaign.runner import CampaignSettings, resume_campaign, start_campaign
from harness.config.benchmark import load_benchmark
from harness.export import config as influx_config
from harness.export.push import push as push_run
from harness.provision import testbed
from harness.provision.ansible import PlaybookResult
from harness.provision.hardware import hardware_records
from harness.provision.inventory import DEFAULT_INVENTORY, Inventory, load_inventory
from harness.provision.remote_exec import run_on
from harness.report.run_report import build_report
from harness.run.recovery import open_run_folder
from harness.run.runner import (RunSettings, WorkloadError, check_benchmark, check_endpoints, network_for,
                                results_database, run_benchmark)
from harness.store.folder import DEFAULT_RESULTS_DIR
from harness.terminal.campaign_progress import ConsoleCampaignEvents, comparison_table, status_table as trials_table
from harness.terminal.run_progress import ConsoleEvents, outcome_errors, push_lines
from harness.terminal.tables import (action_progress, action_summary, chain_verdict, comparison_verdict, console,
                                     diagnoses, error_console,
                                     exec_output, hardware_table, show, status_json, status_table, warn,
                                     warn_unselectable)
from protocol.errors import EXIT_AUDIT_FAILED, EXIT_FAILURE, EXIT_NOT_SERVING, ConfigError, HarnessError
from vdlt.ledger import compare_chains, find_chain, verify_chain


def _friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except HarnessError as error:
            # One unwrapped line per message, so it can be grepped and clicked.
            error_console.print(Text("error: ", style="red") + Text(str(error)), soft_wrap=True)
            if isinstance(error, WorkloadError) and click.get_current_context().params.get("debug"):
                error_console.print(Text(error.traceback_text), soft_wrap=True)
            sys.exit(error.exit_code)
        except interrupt.Interrupted as stop:
            error_console.print(Text(f"{stop}", style="yellow"), soft_wrap=True)
            sys.exit(stop.exit_code)

    return wrapper


inventory_option = click.option(
    "-i", "--inventory", "inventory_path", type=click.Path(path_type=Path), default=DEFAULT_INVENTORY,
    show_default="inventories/local", help="Ansible inventory: a directory with hosts.yml, or the file itself.",
)
limit_option = click.option("--limit", metavar="PATTERN", default=None,
                            help="Only the hosts matching this Ansible pattern.")
max_fail_option = click.option("--max-fail", type=int, default=None, metavar="N",
                               help="Stop with an error when more than N hosts fail (default: go on degraded).")
wide_option = click.option("--wide", is_flag=True, help="Whole tables, however narrow the terminal.")
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Only JSON on stdout; progress and tables go to stderr.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def main() -> None:
    """Provision vDLT testbeds, run benchmark campaigns, collect and report results."""
    interrupt.install()


def _act(action: str, inventory: Inventory, limit: str | None = None, max_fail: int | None = None,
         extravars: dict[str, Any] | None = None) -> PlaybookResult:
    with action_progress(action, console) as on_task:
        if action == "up":
            result = testbed.up(inventory, on_task=on_task, limit=limit, max_fail=max_fail)
        else:
            result = testbed.act(action, inventory, limit, max_fail, on_task, extravars)
    action_summary(action, result, {n.name: n.role for n in inventory.nodes}, console)
    return result


def _playbook_command(action: str, help_text: str) -> None:
    """A command that runs one testbed action's playbook and shows how it went."""
    @main.command(name=action, help=help_text)
    @inventory_option
    @limit_option
    @max_fail_option
    @_friendly_errors
    def command(inventory_path: Path, limit: str | None, max_fail: int | None) -> None:
        _act(action, load_inventory(inventory_path), limit, max_fail)


_playbook_command("provision", "Install the project on the nodes (a virtual environment from the controller's "
                               "wheelhouse).")
_playbook_command("deploy", "Provision and configure the nodes without starting them.")
_playbook_command("teardown", "Stop the agents and remove everything the harness installed or wrote on the nodes.")


@main.command()
@inventory_option
@limit_option
@max_fail_option
@_friendly_errors
def up(inventory_path: Path, limit: str | None, max_fail: int | None) -> None:
    """Provision, deploy and start the node agents of an inventory."""
    inventory = load_inventory(inventory_path)
    _act("up", inventory, limit, max_fail)
    with console.status("waiting for the control nodes to hear from their execution nodes"):
        health = testbed.wait_for_selection(inventory)
    show(console, lambda width: status_table(health, width))
    warn_unselectable(health)


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
    result = testbed.act("facts", inventory, limit) if as_json else _act("facts", inventory, limit)
    records = hardware_records(result.facts, {n.name: n.hardware_profile for n in inventory.nodes},
                            {n.name: n.limits for n in inventory.nodes})
    if as_json:
        click.echo(json.dumps(records, indent=2))
    else:
        console.print(hardware_table(records))


@main.command(name="exec", context_settings={"ignore_unknown_options": True})
@inventory_option
@limit_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@_friendly_errors
def exec_command(inventory_path: Path, limit: str | None, command: tuple[str, ...]) -> None:
    """Run an ad-hoc command on the hosts over SSH: harness exec -i INV -- CMD ARGS.

    As with ssh, the words are joined by spaces and the node's shell reads them:
    `harness exec -- 'echo "a b" | wc -w'` runs a pipeline there."""
    inventory = load_inventory(inventory_path)
    results = run_on(inventory.matching(limit), " ".join(command))
    exec_output(console, results)
    if any(r.exit_code != 0 for r in results):
        sys.exit(EXIT_FAILURE)


@main.command()
@inventory_option
@wide_option
@json_option
@_friendly_errors
def status(inventory_path: Path, wide: bool, as_json: bool) -> None:
    """Health and latest state of every node; for a node that does not serve, why."""
    inventory = load_inventory(inventory_path)
    health = testbed.check_all(inventory, with_state=True)
    out = error_console if as_json else console
    show(out, lambda width: status_table(health, width), wide)
    warn_unselectable(health)
    not_serving = [h.node.name for h in health if not h.serving]
    reasons = testbed.diagnose(inventory, not_serving)
    diagnoses(out, health, reasons)
    if as_json:
        click.echo(status_json(health, reasons))
    if not_serving:
        sys.exit(EXIT_NOT_SERVING)


@main.command()
@click.argument("benchmark_file", type=click.Path(path_type=Path))
@inventory_option
@click.option("--results-dir", type=click.Path(path_type=Path), default=DEFAULT_RESULTS_DIR, show_default=True,
              help="Where the run folder is created.")
@click.option("--keep-up", is_flag=True,
              help="Leave the nodes this run brought up running afterwards (nodes that were up stay up anyway).")
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
@wide_option
@json_option
@click.option("--no-audit", is_flag=True,
              help="Do not check the receipts against the execution nodes' chains at the end (`harness audit` "
                   "can, later).")
@click.option("--debug", is_flag=True, help="Print a failing workload module's traceback, not only its one line.")
@click.option("--network", "network_file", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Drive the Ethereum chain a Caliper network file describes (its ethereum.url) instead of a "
                   "testbed; its contracts are deployed first.")
@_friendly_errors
def run(benchmark_file: Path, inventory_path: Path, results_dir: Path, keep_up: bool, endpoints: tuple[str, ...],
        results_config: Path | None, results_optional: bool, sample_interval: float, wide: bool, as_json: bool,
        no_audit: bool, debug: bool, network_file: Path | None) -> None:
    """Run a benchmark against a testbed, bringing up what of it does not serve."""
    # Everything is checked before anything starts, the results database included.
    benchmark = load_benchmark(benchmark_file)
    check_endpoints(list(endpoints))
    benchmark, network, sends_to = network_for(benchmark, network_file, list(endpoints))
    # Against a chain, remote workers still run on the inventory's client nodes.
    needs_inventory = not sends_to or (network is not None and benchmark.worker_type == "remote")
    inventory = load_inventory(inventory_path) if needs_inventory else None
    check_benchmark(benchmark, inventory)
    export = results_database(results_config, results_optional, warn)
    out = error_console if as_json else console
    settings = RunSettings(results_dir=results_dir, keep_up=keep_up, export=export, export_optional=results_optional,
                           sample_interval_s=sample_interval, audit=not no_audit)
    outcome = run_benchmark(benchmark, inventory, sends_to, settings, ConsoleEvents(out, wide), network=network)
    if as_json:
        click.echo(json.dumps(outcome.summary.to_json(), indent=2))
    outcome_errors(error_console, outcome)
    sys.exit(outcome.exit_code)


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-i", "--inventory", "inventory_path", type=click.Path(path_type=Path), default=None,
              help="The testbed the run ran on (default: the inventory its summary.json names).")
@wide_option
@_friendly_errors
def audit(run_dir: Path, inventory_path: Path | None, wide: bool) -> None:
    """Check a run's receipts against its execution nodes' chains, as `harness run` does at its end."""
    folder = open_run_folder(run_dir, warn)
    outcome = audit_folder(folder, inventory_path)
    ConsoleEvents(console, wide).audit_finished(outcome)
    build_report(folder)
    if outcome.skipped:
        sys.exit(EXIT_FAILURE)
    if not outcome.ok:
        sys.exit(EXIT_AUDIT_FAILED)


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_friendly_errors
def report(run_dir: Path) -> None:
    """Rebuild a run's report.html and rounds.csv from its folder alone."""
    folder = open_run_folder(run_dir, warn)
    path = build_report(folder)
    console.print(f"wrote {path} and {folder.rounds_csv_path}")


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
        folder = open_run_folder(run_dir, warn)
        tally = push_run(folder, config)
        push_lines(console, error_console, folder, tally)
        failed = failed or bool(tally.errors)
    if failed:
        sys.exit(EXIT_FAILURE)


@main.group()
def campaign() -> None:
    """Campaigns: benchmarks × testbeds × policies, repeated, compared (which machine serves which class)."""


@campaign.command("run")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--resume", is_flag=True,
              help="SOURCE is a campaign folder: go on from where it stopped (complete trials are kept).")
@click.option("--results-dir", type=click.Path(path_type=Path), default=DEFAULT_CAMPAIGNS_DIR, show_default=True,
              help="Where the campaign folder is created.")
@click.option("--keep-up", is_flag=True, help="Leave the testbeds up afterwards.")
@click.option("--results-config", type=click.Path(path_type=Path), default=None,
              help="Write every trial live to this results database (as `harness run`).")
@click.option("--results-optional", is_flag=True,
              help="When the results database cannot be reached, warn and keep the local store only.")
@click.option("--sample-interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True, metavar="SECONDS")
@wide_option
@_friendly_errors
def campaign_run(source: Path, resume: bool, results_dir: Path, keep_up: bool, results_config: Path | None,
                 results_optional: bool, sample_interval: float, wide: bool) -> None:
    """Run a campaign file (or, with --resume, a campaign folder), then write its comparison report."""
    export = results_database(results_config, results_optional, warn)
    settings = CampaignSettings(campaigns_dir=results_dir, export=export, export_optional=results_optional,
                                keep_up=keep_up, sample_interval_s=sample_interval)
    events = ConsoleCampaignEvents(console)
    if resume:
        outcome = resume_campaign(check_campaign_folder(source), settings, events)
    else:
        if source.is_dir():
            raise ConfigError(source, "", "a folder: give a campaign file, or --resume to go on with a campaign folder")
        outcome = start_campaign(load_campaign(source), settings, events)
    _comparison(outcome.folder, wide)
    console.print(f"campaign folder: {outcome.folder.path}  (report.html, comparison.csv, comparison.json)",
                  highlight=False)
    sys.exit(outcome.exit_code)


@campaign.command("status")
@click.argument("campaign_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@wide_option
@_friendly_errors
def campaign_status(campaign_dir: Path, wide: bool) -> None:
    """Every trial of a campaign folder and its state."""
    folder = CampaignFolder(check_campaign_folder(campaign_dir))
    show(console, lambda width: trials_table(folder.read_index(), width), wide)


@campaign.command("report")
@click.argument("campaign_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@wide_option
@_friendly_errors
def campaign_report(campaign_dir: Path, wide: bool) -> None:
    """Rebuild a campaign's comparison.csv, comparison.json and report.html from its folder."""
    folder = CampaignFolder(check_campaign_folder(campaign_dir))
    path = build_campaign_report(folder)
    _comparison(folder, wide)
    console.print(f"wrote {path}", highlight=False)


def _comparison(folder: CampaignFolder, wide: bool) -> None:
    rows = json.loads((folder.path / "comparison.json").read_text())["rows"]
    if rows:
        show(console, lambda width: comparison_table(rows, width), wide)


@main.group()
def ledger() -> None:
    """Inspect execution nodes' block logs."""


@ledger.command("verify")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@_friendly_errors
def ledger_verify(path: Path) -> None:
    """Check a node's chain (its data directory, ledger directory or blocks.jsonl)."""
    chain = _chain(path)
    if not chain_verdict(console, chain, verify_chain(chain)):
        sys.exit(EXIT_FAILURE)


@ledger.command("compare")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("-i", "--inventory", "inventory_path", type=click.Path(path_type=Path), default=None,
              help="Compare the chains of this inventory's execution nodes (nodes on this machine).")
@_friendly_errors
def ledger_compare(paths: tuple[Path, ...], inventory_path: Path | None) -> None:
    """Check that nodes' chains hold the same commit at every sequence they all have; name the first that differs."""
    chains = [_chain(path) for path in paths]
    if inventory_path is not None:
        chains += [_chain(Path(node.node_dir)) for node in load_inventory(inventory_path).by_role("execution")]
    if len(chains) < 2:
        raise ConfigError("PATH", "", "give two chains or more (node directories, ledger directories or "
                                      "blocks.jsonl), or -i INVENTORY")
    if not comparison_verdict(console, compare_chains(chains)):
        sys.exit(EXIT_FAILURE)


def _chain(path: Path) -> Path:
    target = find_chain(path)
    if target is None:
        raise ConfigError(path, "", "no blocks.jsonl here")
    return target
