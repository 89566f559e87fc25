"""What the CLI prints: progress while work runs, tables when it is done."""
from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness.ansible import PlaybookResult
from harness.testbed import NodeHealth
from node_agent.proto.node_agent_pb2 import NodeState

# Piped output (CI logs, files) gets room for a full table (the status table's 13 columns) instead
# of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
error_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def round_table(round_summary: dict[str, Any]) -> Table:
    table = Table(title=f"round {round_summary['index']}: {round_summary['label']}", title_justify="left",
                  caption="latency in ms from intended send time; tput = confirmed/s", caption_justify="left")
    table.add_column("class", no_wrap=True)
    for column in ("succ", "fail", "send/s", "tput/s", "min", "p50", "p99", "max"):
        table.add_column(column, justify="right", no_wrap=True)
    rows = list(round_summary["classes"].items())
    if len(rows) > 1:
        rows.append(("all", round_summary["total"]))
    failures = []
    for slug, stats in rows:
        latency = stats["latency_ms"]
        if slug != "all" and stats["failed"]:
            reasons = ", ".join(f"{k} {v}" for k, v in stats["failed_by_reason"].items() if v)
            failures.append(f"{slug}: {reasons}")
        table.add_row(
            slug if slug != "all" else "[bold]all[/bold]",
            str(stats["succeeded"]), str(stats["failed"]),
            _rate(stats["send_rate_tps"]), _rate(stats["throughput_tps"]),
            _ms(latency["min"]), _ms(latency["p50"]), _ms(latency["p99"]), _ms(latency["max"]),
        )
    if failures:
        table.caption += "\nfailed: " + "; ".join(failures)
    return table


def slo_table(round_summary: dict[str, Any]) -> Table:
    table = Table(title=f"service-level objectives, round {round_summary['index']}", title_justify="left")
    for column in ("scope", "objective", "limit", "measured", "verdict"):
        table.add_column(column)
    for verdict in round_summary["slo_results"]:
        measured = "-" if verdict["measured"] is None else f"{verdict['measured']:.3f}"
        state = "[green]met[/green]" if verdict["met"] else "[red]MISSED[/red]"
        table.add_row(verdict["scope"], verdict["objective"], f"{verdict['limit']:g}", measured, state)
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
        table.add_row(r["node"], r["hardware_profile"], str(r["architecture"]), str(r["cpu_model"] or "-"),
                      f"{r['cpu_cores']}/{r['cpu_threads']}", f"{r['memory_mb']} MB", disks or "-", nics or "-", system)
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


def status_table(health: list[NodeHealth]) -> Table:
    table = Table(title="testbed", title_justify="left")
    # What names and finds a node is never cut short; the figures and the profile give way first.
    whole = {"node": max((len(h.node.name) for h in health), default=4),
             "endpoint": max((len(h.node.endpoint) for h in health), default=8), "health": len("unavailable")}
    for column in ("node", "role", "profile", "endpoint", "health", "cpu", "cpu %", "load 1m", "mem %",
                   "data free", "trust", "uptime", "selects"):
        table.add_column(column, min_width=whole.get(column), no_wrap=True)
    for h in health:
        state = h.state
        cells = ["-"] * 8
        if state is not None:
            data = next((m for m in state.storage.mounts if m.mountpoint == state.storage.data_mount), None)
            cells = [
                f"{state.cpu.logical_count}/{state.cpu.physical_count}",
                f"{state.cpu.utilization_percent:.0f}",
                f"{state.cpu.load_average_1m:.2f}",
                f"{state.memory.used_percent:.0f}",
                f"{data.free_bytes / 2**30:.1f} GiB" if data else "-",
                f"{state.trust.score:.2f}",
                f"{state.trust.uptime_seconds:.0f} s",
                _selects(state),
            ]
        # Only gRPC's status name fits a cell; `status` prints the whole error under the table.
        health_text = "[green]serving[/green]" if h.serving else f"[red]{(h.detail or 'down').split(':')[0]}[/red]"
        table.add_row(h.node.name, h.node.role, h.node.hardware_profile, h.node.endpoint, health_text, *cells)
    return table


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
        table.add_column(column, justify="left" if column == "class" else "right")
    for slug, (submitted, succeeded, failed) in per_class.items():
        tps = submitted / elapsed_s if elapsed_s > 0 else 0.0
        table.add_row(slug, str(submitted), str(succeeded), str(failed), f"{tps:.0f}")
    return table


__all__ = ["Live", "console", "error_console", "hardware_table", "playbook_table", "progress_table", "round_table", "slo_table",
           "status_table"]
