"""What the CLI prints: progress while work runs, tables when it is done.

Tables never cut a number short. Where a terminal is too narrow for a whole table, the columns
a reader can do without are left out (saying which); the whole table is printed for a wide
terminal, with ``--wide``, and into a pipe or file (unless ``COLUMNS`` sets a width there).
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.provision.ansible import PlaybookResult, TaskCallback
from harness.provision.remote_exec import ExecResult
from harness.provision.testbed import NodeHealth, unselectable
from harness.store.audit import AuditReport
from harness.store.samples import sample_record
from harness.store.summary import RoundSummary
from protocol.node_agent_pb2 import NodeState
from vdlt.ledger import Comparison, VerifyReport

# Piped output (CI logs, files) without COLUMNS gets room for any whole table.
PIPE_WIDTH = 200


def _make(stream: Any) -> Console:
    sized = stream.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(file=stream, width=None if sized else PIPE_WIDTH)


console = _make(sys.stdout)
error_console = _make(sys.stderr)


def whole_tables(target: Console) -> bool:
    """Whether ``target`` gets whole tables: it is a pipe or file with no width of its own."""
    return not target.is_terminal and not os.environ.get("COLUMNS", "").isdigit()


@dataclass(frozen=True)
class Column:
    name: str
    keep: bool = False
    """Kept at any width; the others are left out, last first, until the table fits."""
    justify: str = "right"


def fitted(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None,
           caption: str = "") -> Table:
    """A table of ``rows`` (cells may hold rich markup) no wider than ``width`` (None: whole)."""
    shown = list(range(len(columns)))
    if width is not None:
        needed = [max([Text.from_markup(line).cell_len for line in c.name.split("\n")]
                      + [Text.from_markup(str(r[i])).cell_len for r in rows])
                  for i, c in enumerate(columns)]

        def total(indices: list[int]) -> int:  # borders and padding of rich's default box
            return sum(needed[i] for i in indices) + 3 * len(indices) + 1

        for i in reversed(range(len(columns))):
            if total(shown) <= width:
                break
            if not columns[i].keep:
                shown.remove(i)
    hidden = [columns[i].name.replace("\n", " ") for i in range(len(columns)) if i not in shown]
    if hidden:
        caption = (caption + "\n" if caption else "") + f"not shown at {width} columns: {', '.join(hidden)} (--wide shows them)"
    table = Table(title=title, title_justify="left", caption=caption or None, caption_justify="left")
    for i in shown:
        # Folded, never cut with an ellipsis, should a terminal be too narrow even for the kept columns.
        table.add_column(columns[i].name, justify=columns[i].justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(str(row[i]) for i in shown))
    return table


def show(target: Console, build: Callable[[int | None], Table], wide: bool = False) -> None:
    """Prints the table ``build(width)`` makes for ``target``'s width (None: whole)."""
    whole = wide or whole_tables(target)
    table = build(None if whole else target.width)
    if not whole:
        target.print(table)
        return
    # Rich draws no wider than its console: widen it for this table, as a pipe would take it.
    width = target.width
    target.width = max(width, target.measure(table, options=target.options.update(width=10_000)).maximum)
    try:
        target.print(table, crop=False)
    finally:
        target.width = width


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


ROUND_COLUMNS = (Column("class", keep=True, justify="left"), Column("succ", keep=True), Column("fail", keep=True),
                 Column("tput/s", keep=True), Column("p50", keep=True), Column("p99", keep=True),
                 Column("send/s"), Column("min"), Column("max"))


def round_table(round_summary: RoundSummary, width: int | None = None) -> Table:
    rows_in = [(c.slug, f) for c, f in round_summary.classes.items()]
    if len(rows_in) > 1:
        rows_in.append(("all", round_summary.total))
    rows = []
    for slug, figures in rows_in:
        latency = figures.latency_ms
        rows.append([slug if slug != "all" else "[bold]all[/bold]", str(figures.succeeded), str(figures.failed),
                     _rate(figures.throughput_tps), _ms(latency["p50"]), _ms(latency["p99"]),
                     _rate(figures.send_rate_tps), _ms(latency["min"]), _ms(latency["max"])])
    partial = " (partial: stopped before its end)" if round_summary.partial else ""
    caption = "latency in ms from intended send time; tput = confirmed/s"
    failures = failure_lines(round_summary)
    if failures:
        caption += "\n" + "\n".join(failures)
    if round_summary.total.undecided:
        caption += (f"\n{round_summary.total.undecided} sent without a receipt before the round stopped "
                    f"(counted as neither)")
    return fitted(f"round {round_summary.index}: {round_summary.label}{partial}", ROUND_COLUMNS, rows, width, caption)


def failure_lines(round_summary: RoundSummary, per_class: int = 3) -> list[str]:
    """Per class that had failures: how many of each status, and the most frequent reasons."""
    lines = []
    for service_class, figures in round_summary.classes.items():
        if not figures.failed:
            continue
        counts = ", ".join(f"{k} {v}" for k, v in figures.failed_by_reason.items() if v)
        reasons = "; ".join(f"{r.count}× {r.reason}" for r in figures.failure_reasons[:per_class])
        lines.append(f"failed: {service_class.slug}: {counts}" + (f" ({reasons})" if reasons else ""))
    return lines


def slo_table(round_summary: RoundSummary) -> Table:
    table = Table(title=f"service-level objectives, round {round_summary.index}", title_justify="left")
    for column in ("scope", "objective", "limit", "measured", "verdict"):
        table.add_column(column, no_wrap=True, overflow="fold")
    for verdict in round_summary.slo_results:
        measured = "-" if verdict.measured is None else f"{verdict.measured:.3f}"
        state = "[green]met[/green]" if verdict.met else "[red]MISSED[/red]"
        table.add_row(verdict.scope_name, verdict.objective, f"{verdict.limit:g}", measured, state)
    return table


def hardware_table(records: list[dict[str, Any]]) -> Table:
    table = Table(title="hardware profiles", title_justify="left")
    for column in ("node", "profile", "arch", "cpu", "cores/threads", "memory", "disks", "NICs", "system"):
        table.add_column(column)
    for r in records:
        disks = ", ".join(f"{n} {d['size']}{' (HDD)' if d['rotational'] else ''}" for n, d in r["disks"].items())
        nics = ", ".join(f"{n}{' ' + str(i['speed_mbps']) + 'Mb/s' if i.get('speed_mbps') else ''}"
                         for n, i in r["interfaces"].items())
        system = " ".join(str(v) for v in (r["system_vendor"], r["product_name"]) if v) or "-"
        cores, memory = f"{r['cpu_cores']}/{r['cpu_threads']}", f"{r['memory_mb']} MB"
        if r.get("emulated"):  # a capped node: what it may use, of what the machine has
            if r["cpu_limit_cores"] is not None:
                cores = f"[yellow]{r['cpu_limit_cores']:g} of {r['cpu_threads']}[/yellow]"
            if r["memory_limit_mb"] is not None:
                memory = f"[yellow]{r['memory_limit_mb']} of {r['memory_mb']} MB[/yellow]"
            disk_caps = [f"{r['limits'][key]:g} MB/s {what}" for key, what in (("read_mbps", "reads"),
                                                                              ("write_mbps", "writes"))
                         if key in r["limits"]]
            if disk_caps:
                disks = f"{disks or '-'} [yellow]({', '.join(disk_caps)})[/yellow]"
        table.add_row(r["node"], r["hardware_profile"], str(r["architecture"]), str(r["cpu_model"] or "-"),
                      cores, memory, disks or "-", nics or "-", system)
    return table


def playbook_table(result: PlaybookResult, roles: dict[str, str]) -> Table:
    table = Table(title=f"{result.playbook}", title_justify="left")
    for column in ("host", "role", "result", "ok", "changed", "detail"):
        table.add_column(column)
    for host, outcome in sorted(result.hosts.items()):
        style = {"failed": "red", "unreachable": "red", "changed": "yellow"}.get(outcome.state, "green")
        table.add_row(host, roles.get(host, "-"), f"[{style}]{outcome.state}[/{style}]", str(outcome.ok),
                      str(outcome.changed), "; ".join(outcome.messages)[:200])
    return table


STATUS_COLUMNS = (Column("node", keep=True, justify="left"), Column("role", keep=True, justify="left"),
                  Column("health", keep=True, justify="left"), Column("cpu %", keep=True),
                  Column("mem %", keep=True), Column("trust", keep=True), Column("selects"),
                  Column("load 1m"), Column("uptime"), Column("data free"), Column("cpu"),
                  Column("profile", justify="left"), Column("endpoint", justify="left"))


def status_table(health: list[NodeHealth], width: int | None = None) -> Table:
    rows = []
    for h in health:
        state = h.state
        figures = ["-"] * 7
        if state is not None:
            data = next((m for m in state.storage.mounts if m.mountpoint == state.storage.data_mount), None)
            figures = [
                f"{state.cpu.utilization_percent:.0f}",
                f"{state.memory.used_percent:.0f}",
                f"{state.trust.score:.2f}",
                _selects(state),
                f"{state.cpu.load_average_1m:.2f}",
                f"{state.uptime_seconds:.0f} s",
                f"{data.free_bytes / 2**30:.1f} GiB" if data else "-",
            ]
        cores = _cores(state) if state is not None else "-"
        # Only gRPC's status name fits a cell; `status` prints the whole error under the table.
        health_text = "[green]serving[/green]" if h.serving else f"[red]{(h.detail or 'down').split(':')[0]}[/red]"
        rows.append([h.node.name, h.node.role, health_text, *figures, cores, h.node.hardware_profile, h.node.endpoint])
    return fitted("testbed", STATUS_COLUMNS, rows, width)


def _cores(state: NodeState) -> str:
    """logical/physical cores, or for a node capped to look smaller, its limit of the machine's: "0.25 of 2"."""
    if state.cpu.limit_cores:
        return f"[yellow]{state.cpu.limit_cores:g} of {state.cpu.logical_count}[/yellow]"
    return f"{state.cpu.logical_count}/{state.cpu.physical_count}"


def _selects(state: NodeState) -> str:
    """A control node's execution nodes it can choose now, of all it has."""
    views = state.execution_nodes
    if not views:
        return "-"
    selectable = sum(1 for view in views if view.selectable)
    style = "green" if selectable == len(views) else "yellow"
    return f"[{style}]{selectable}/{len(views)}[/{style}]"


def progress_table(label: str, per_class: dict[str, tuple[int, int, int]], elapsed_s: float) -> Table:
    table = Table(title=f"{label}  {elapsed_s:.1f} s", title_justify="left")
    for column in ("class", "submitted", "succeeded", "failed", "tps"):
        table.add_column(column, justify="left" if column == "class" else "right", no_wrap=True)
    for slug, (submitted, succeeded, failed) in per_class.items():
        tps = submitted / elapsed_s if elapsed_s > 0 else 0.0
        table.add_row(slug, str(submitted), str(succeeded), str(failed), f"{tps:.0f}")
    return table


def exec_output(target: Console, results: list[ExecResult]) -> None:
    """Each host's exit and output of `harness exec`."""
    for result in results:
        code = "unreachable" if result.exit_code is None else f"exit {result.exit_code}"
        target.print(f"[bold]{result.node}[/bold] ({code})", highlight=False)
        for line in (result.stdout + result.stderr).rstrip().splitlines():
            target.print(f"  {line}", highlight=False, markup=False)


def diagnoses(target: Console, health: list[NodeHealth], reasons: dict[str, str]) -> None:
    """For each node that does not serve: why, as the node sees it, and what the controller got."""
    details = {h.node.name: h.detail for h in health}
    for name, reason in reasons.items():
        target.print(f"{name}: {reason}", highlight=False, markup=False, soft_wrap=True)
        target.print(f"  the controller got: {details[name]}", highlight=False, markup=False, soft_wrap=True)


def status_json(health: list[NodeHealth], reasons: dict[str, str]) -> str:
    """`harness status --json`: one object per node, its state as the run folders keep it."""
    return json.dumps([{
        "node": h.node.name, "role": h.node.role, "hardware_profile": h.node.hardware_profile,
        "endpoint": h.node.endpoint, "serving": h.serving, "health": h.detail, "diagnosis": reasons.get(h.node.name),
        "state": sample_record(h.state) if h.state is not None else None,
    } for h in health], indent=2)


def chain_verdict(target: Console, path: Path, verdict: VerifyReport) -> bool:
    """What `harness ledger verify` found; whether the chain is intact."""
    if verdict.ok:
        target.print(f"{path}: {verdict.blocks} block(s), commits 1..{verdict.last_sequence}, chain intact")
    else:
        target.print(f"[red]{path}: block {verdict.first_bad_height} is bad: {verdict.problem}[/red] "
                     f"({verdict.blocks} good block(s) before it)")
    return verdict.ok


AUDIT_COLUMNS = (Column("class", keep=True, justify="left"), Column("confirmed", keep=True),
                 Column("in\nchains", keep=True), Column("short", keep=True), Column("holes", keep=True),
                 Column("twice", keep=True), Column("failed\nheld", keep=True), Column("uncertain\nheld"),
                 Column("uncertain\nnot held"))
AUDIT_CAPTION = ("in chains: confirmed, and in the class's quorum of chains; short: in fewer;\n"
                 "holes: a chain goes past it without it; twice: applied twice in a chain;\n"
                 "failed held: reported dropped, error or rejected, yet on the chains;\n"
                 "uncertain: timed out or unknown, and on the chains or not")


def audit_table(report: AuditReport, width: int | None = None) -> Table:
    rows = []
    for slug, figures in report.classes.items():
        def bad(count: int) -> str:
            return f"[red]{count}[/red]" if count else "0"
        rows.append([slug, str(figures.confirmed), str(figures.confirmed_present), bad(figures.under_quorum),
                     bad(sum(figures.missing.values())), bad(figures.applied_twice),
                     bad(figures.reported_failed_present + figures.contradicted), str(figures.uncertain_committed),
                     str(figures.uncertain_absent)])
    return fitted(f"audit: receipts against chains ({report.elapsed_s:.1f} s)", AUDIT_COLUMNS, rows, width,
                  AUDIT_CAPTION)


def audit_lines(report: AuditReport) -> list[tuple[str, str]]:
    """(style, line) for what the audit found beyond its table: the verdict first."""
    if report.skipped:
        return [("yellow", f"audit skipped: {report.skipped}")]
    lines = [("green", "audit: every receipt is borne out by the chains, and the chains agree")] if report.ok else [
        ("red", f"audit FAILED: {line}") for line in report.violations()]
    for node in report.nodes:
        if node.error:
            lines.append(("yellow", f"audit: {node.node}'s chain could not be read ({node.error})"))
        elif node.behind:
            lines.append(("", (f"audit: {node.node} is {node.behind} commit(s) behind the longest chain "
                              f"(catching up, not missing)")))
    if report.unrecorded:
        lines.append(("yellow", (f"audit: {report.unrecorded} of this run's transactions are on the chains "
                                f"without a record in the run folder")))
    return lines


def comparison_verdict(target: Console, comparison: Comparison) -> bool:
    """What `harness ledger compare` found; whether the chains are prefixes of one history."""
    for path in comparison.paths:
        target.print(f"{path}: commits through {comparison.lengths[path]}", highlight=False)
    if comparison.ok:
        target.print(f"the chains agree at every sequence they all hold (through {comparison.common_through})")
    else:
        target.print(Text(comparison.divergence, style="red"), soft_wrap=True)
    return comparison.ok


def warn(message: str) -> None:
    error_console.print(Text(f"warning: {message}", style="yellow"), soft_wrap=True)


@contextlib.contextmanager
def action_progress(action: str, target: Console) -> Iterator[TaskCallback]:
    """A spinner naming the task each host is at while a testbed action runs."""
    done: dict[str, int] = {}
    with target.status(f"{action}: starting ansible-runner") as live_status:
        def on_task(host: str, task: str, outcome: str) -> None:
            done[host] = done.get(host, 0) + 1
            live_status.update(f"{action}: {host}: {task} [{outcome}]  ({sum(done.values())} tasks done)")

        yield on_task


def action_summary(action: str, result: PlaybookResult, roles: dict[str, str], target: Console) -> None:
    target.print(playbook_table(result, roles))
    states = [h.state for h in result.hosts.values() if h.ok or h.failed or h.unreachable or h.skipped]
    target.print(f"{action}: {len(states)} host(s): {states.count('ok')} ok, {states.count('changed')} changed, "
                 f"{states.count('failed')} failed, {states.count('unreachable')} unreachable")
    if result.degraded:
        target.print(f"[yellow]degraded, going on without: {', '.join(result.degraded)}[/yellow]")
        for host in result.degraded:
            outcome = result.hosts[host]
            reason = " ".join("; ".join(outcome.messages).split())
            target.print(Text(f"  {host}: {outcome.state}: {reason}"), soft_wrap=True)


def warn_unselectable(health: list[NodeHealth]) -> None:
    for node_health in health:
        for why in unselectable(node_health):
            warn(f"{node_health.node.name} cannot choose execution node {why}")


__all__ = ["Live", "action_progress", "action_summary", "console", "error_console", "fitted", "hardware_table",
           "playbook_table", "progress_table", "round_table", "show", "slo_table", "status_table", "warn",
           "warn_unselectable"]
