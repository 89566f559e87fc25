"""How a run shows itself in a terminal: the console's :class:`harness.run.RunEvents`."""
from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from harness.config.benchmark import Benchmark, RoundSpec
from harness.export.tally import ExportTally
from harness.provision.ansible import PlaybookResult, TaskCallback
from harness.provision.inventory import Inventory
from harness.provision.testbed import NodeHealth
from harness.run.runner import Progress, RunEvents, RunOutcome
from harness.store.audit import AuditReport
from harness.store.folder import RunFolder
from harness.store.summary import COMPLETE, RoundSummary, RunSummary
from harness.terminal.tables import (Live, action_progress, action_summary, audit_lines, audit_table, failure_lines,
                                     progress_table, round_table, show, slo_table, warn, warn_unselectable)


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

    def note(self, message: str) -> None:
        self.target.print(escape(message))

    def run_started(self, folder: RunFolder, benchmark: Benchmark) -> None:
        self.target.print(f"run [bold]{folder.run_id}[/bold]: {len(benchmark.rounds)} round(s), "
                          f"{benchmark.workers} worker(s) → {folder.path}")

    @contextlib.contextmanager
    def round(self, spec: RoundSpec) -> Iterator[Callable[[RoundSpec, Progress], None]]:
        started = time.monotonic()
        with Live(progress_table(spec.label, {}, 0.0), console=self.target, transient=True) as view:
            yield lambda s, counts: view.update(progress_table(s.label, counts, time.monotonic() - started))

    def round_finished(self, round_summary: RoundSummary) -> None:
        show(self.target, lambda width: round_table(round_summary, width), self.wide)
        if not round_summary.generator.kept_up:
            self.target.print(f"[yellow]generator {round_summary.generator.verdict}[/yellow]")
        if round_summary.slo_results:
            self.target.print(slo_table(round_summary))

    def audit_finished(self, report: AuditReport) -> None:
        if report.classes:
            show(self.target, lambda width: audit_table(report, width), self.wide)
        for style, line in audit_lines(report):
            self.target.print(Text(line, style=style), soft_wrap=True)

    def run_finished(self, folder: RunFolder, summary: RunSummary, tally: ExportTally | None) -> None:
        status = summary.status
        note = "" if status == COMPLETE else f" [yellow]({status}: {summary.stopped_by})[/yellow]"
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


def outcome_errors(target: Console, outcome: RunOutcome) -> None:
    """The line that says why a run that ended exits non-zero (its exit code says which)."""
    if outcome.audit_failed:
        target.print(Text("error: the audit found receipts the chains do not bear out (audit.json says which)",
                          style="red"))
    elif outcome.nothing_confirmed:
        target.print(Text("error: no transaction was confirmed", style="red"))
        for round_summary in outcome.summary.rounds:
            for line in failure_lines(round_summary, per_class=5):
                target.print(Text(f"round {round_summary.label}: {line}", style="red"), soft_wrap=True)
    elif outcome.export_pending and not outcome.export_optional:
        target.print(Text(f"error: {outcome.export_pending} points are not in the results database", style="red"))
    elif outcome.missed_slos:
        target.print(Text(f"error: {len(outcome.missed_slos)} service-level objective(s) missed", style="red"))


def push_lines(target: Console, errors: Console, folder: RunFolder, tally: ExportTally) -> None:
    """What `harness results push` did with one run folder."""
    for measurement, produced in sorted(tally.produced.items()):
        target.print(f"{folder.run_id}: {measurement}: {produced} produced, {tally.acknowledged[measurement]} "
                     f"acknowledged, {tally.spooled[measurement]} spooled ({tally.protocol})", highlight=False)
    for error in tally.errors[:3]:
        errors.print(Text(f"error: {error}", style="red"), soft_wrap=True)


__all__ = ["ConsoleEvents", "outcome_errors", "push_lines"]
