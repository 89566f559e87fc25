"""How a run shows itself in a terminal: the console's :class:`harness.run.RunEvents`."""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.text import Text

from harness.ansible import PlaybookResult, TaskCallback
from harness.benchmark import Benchmark, RoundSpec
from harness.console import (Live, action_progress, action_summary, failure_lines, progress_table, round_table,
                             show, slo_table, status_table, warn, warn_unselectable)
from harness.export.tally import ExportTally
from harness.inventory import Inventory
from harness.results import RunFolder
from harness.run import Progress, RunEvents
from harness.testbed import NodeHealth


class ConsoleEvents(RunEvents):
    """Progress, tables and warnings on ``target`` (stderr when stdout carries JSON)."""

    def __init__(self, target: Console, wide: bool = False) -> None:
        self.target = target
        self.wide = wide

    @contextlib.contextmanager
    def action(self, action: str) -> Iterator[TaskCallback | None]:
        with action_progress(action, self.target) as on_task:
            yield on_task

    def action_finished(self, action: str, result: PlaybookResult, inventory: Inventory) -> None:
        action_summary(action, result, {n.name: n.role for n in inventory.nodes}, self.target)

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        with self.target.status(what):
            yield

    def selection(self, health: list[NodeHealth]) -> None:
        warn_unselectable(health)

    def warning(self, message: str) -> None:
        warn(message)

    def run_started(self, folder: RunFolder, benchmark: Benchmark) -> None:
        self.target.print(f"run [bold]{folder.run_id}[/bold]: {len(benchmark.rounds)} round(s), "
                          f"{benchmark.workers} worker(s) → {folder.path}")

    @contextlib.contextmanager
    def round(self, spec: RoundSpec) -> Iterator[Callable[[RoundSpec, Progress], None]]:
        started = time.monotonic()
        with Live(progress_table(spec.label, {}, 0.0), console=self.target, transient=True) as view:
            yield lambda s, counts: view.update(progress_table(s.label, counts, time.monotonic() - started))

    def round_finished(self, round_summary: dict[str, Any]) -> None:
        show(self.target, lambda width: round_table(round_summary, width), self.wide)
        generator = round_summary["generator"]
        if not generator["kept_up"]:
            self.target.print(f"[yellow]generator {generator['verdict']}[/yellow]")
        if round_summary["slo_results"]:
            self.target.print(slo_table(round_summary))

    def run_finished(self, folder: RunFolder, summary: dict[str, Any], tally: ExportTally | None) -> None:
        status = summary["status"]
        note = "" if status == "complete" else f" [yellow]({status}: {summary.get('stopped_by')})[/yellow]"
        self.target.print(Text.from_markup(f"results: {folder.path}  (report: report.html, rounds.csv, "
                                           f"summary.json){note}"), soft_wrap=True)
        if tally is not None:
            self._export(tally, folder)

    def _export(self, tally: ExportTally, folder: RunFolder) -> None:
        produced, acknowledged = sum(tally.produced.values()), sum(tally.acknowledged.values())
        pending, spooled = sum(tally.pending.values()), sum(tally.spooled.values())
        if pending:
            warn(f"{pending} of {produced} points are not in the results database yet ({tally.errors[-1]}); "
                 f"`harness results push {folder.path}` sends the run again")
            return
        retried = f", {spooled} of them after the database came back" if spooled else ""
        self.target.print(f"results database: {acknowledged} of {produced} points acknowledged{retried} "
                          f"({tally.url}, {tally.protocol})", highlight=False)


def print_failures(target: Console, summary: dict[str, Any]) -> None:
    """Why a run's transactions failed, when none was confirmed."""
    for round_summary in summary["rounds"]:
        for line in failure_lines(round_summary, per_class=5):
            target.print(Text(f"round {round_summary['label']}: {line}", style="red"), soft_wrap=True)


__all__ = ["ConsoleEvents", "print_failures", "show", "status_table"]
