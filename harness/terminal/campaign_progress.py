"""How a campaign shows itself in a terminal: one line per trial with cells done, total and time
left, one short line per round (a saturation search's every step), and the tables ``campaign
status`` and ``campaign report`` print."""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.text import Text

from harness.campaign.folder import CampaignFolder, Trial
from harness.campaign.report import compact
from harness.campaign.runner import CampaignEvents
from harness.config.benchmark import RoundSpec
from harness.provision.ansible import TaskCallback
from harness.run.runner import Progress, RunEvents, offered
from harness.store.audit import AuditReport
from harness.store.summary import RoundSummary
from harness.terminal.tables import Column, fitted, warn


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class _QuietRun(RunEvents):
    """A trial's run, a line per round: the campaign's own line says where it stands."""

    def __init__(self, target: Console) -> None:
        self.target = target

    @contextlib.contextmanager
    def action(self, action: str) -> Iterator[TaskCallback | None]:
        with self.target.status(f"{action} …"):
            yield None

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        with self.target.status(what):
            yield

    @contextlib.contextmanager
    def round(self, spec: RoundSpec) -> Iterator[Callable[[RoundSpec, Progress], None]]:
        with self.target.status(f"  {spec.label}") as status:
            started = time.monotonic()
            yield lambda s, counts: status.update(f"  {s.label}: {time.monotonic() - started:.0f} s")

    def round_finished(self, round_summary: RoundSummary) -> None:
        parts = []
        for service_class, figures in round_summary.classes.items():
            verdicts = [v for v in round_summary.slo_results if v.scope == service_class]
            mark = "" if not verdicts else (" ✓" if all(v.met for v in verdicts) else " ✗")
            p99 = figures.latency_ms.get("p99")
            parts.append(f"{service_class.slug} {figures.throughput_tps or 0:,.0f}/s p99 "
                         f"{'–' if p99 is None else f'{p99:,.0f}'} ms{mark}")
        search = round_summary.header.search
        kept_up = (offered(round_summary, round_summary.header.offered_tps or 0.0, search["max_lag_ms"])
                   if search and "max_lag_ms" in search else round_summary.generator.kept_up)
        lag_p99 = round_summary.total.lag_ms.get("p99")
        lag = "" if kept_up else f"  [yellow]generator behind (lag p99 {lag_p99 or 0:,.0f} ms)[/yellow]"
        self.target.print(Text.from_markup(f"  {round_summary.label}: {'; '.join(parts)}{lag}"), highlight=False)

    def warning(self, message: str) -> None:
        warn(message)

    def audit_finished(self, report: AuditReport) -> None:
        if not report.skipped and not report.ok:
            self.target.print(Text("  the audit found receipts the chains do not bear out (audit.json)", style="red"))


class ConsoleCampaignEvents(CampaignEvents):
    def __init__(self, target: Console) -> None:
        self.target = target

    def campaign_started(self, folder: CampaignFolder, trials: int) -> None:
        self.target.print(f"campaign {folder.path} ({trials} trials; `harness campaign run --resume {folder.path}` "
                          f"goes on after a stop)", highlight=False, soft_wrap=True)

    def trial_started(self, trial: Trial, done: int, total: int, eta_s: float | None) -> None:
        left = f", about {_duration(eta_s)} left" if eta_s is not None else ""
        self.target.print(Text.from_markup(f"[bold]{done}/{total} trials done{left}[/bold] · {trial.cell} "
                                           f"repetition {trial.repetition}"), highlight=False)

    def trial_finished(self, trial: Trial, done: int, total: int) -> None:
        if trial.state != "complete":
            self.target.print(Text(f"  {trial.cell} #{trial.repetition}: {trial.state}: {trial.detail}", style="red"),
                              soft_wrap=True)

    def action(self, text: str) -> None:
        self.target.print(f"  {text}", highlight=False)

    def run_events(self) -> RunEvents:
        return _QuietRun(self.target)

    def resumed(self, skipped: int, abandoned: list[str]) -> None:
        self.target.print(f"resuming: {skipped} trial(s) complete are kept", highlight=False)
        for path in abandoned:
            self.target.print(f"  {path}: left half done, moved to abandoned/ (its trial runs again)", highlight=False)


STATUS_COLUMNS = (Column("cell", keep=True, justify="left"), Column("rep", keep=True), Column("state", keep=True,
                  justify="left"), Column("time"), Column("run", justify="left"))


def status_table(trials: list[Trial], width: int | None) -> Any:
    rows = [[t.cell, str(t.repetition), t.state + (f": {t.detail}" if t.detail and t.state != "complete" else ""),
             _duration(t.duration_s) if t.duration_s else "", t.run or ""] for t in trials]
    done = sum(t.state == "complete" for t in trials)
    return fitted(f"trials: {done}/{len(trials)} complete", STATUS_COLUMNS, rows, width)


COMPARISON_COLUMNS = (Column("testbed", keep=True, justify="left"), Column("class", keep=True, justify="left"),
                      Column("saturation\ntx/s", keep=True), Column("95% CI", keep=True), Column("class\ntx/s"),
                      Column("p99\nms"), Column("tx per\ncost-h"), Column("policy", justify="left"))


def comparison_table(rows: list[dict[str, Any]], width: int | None) -> Any:
    def number(value: Any) -> str:
        return "–" if value is None else f"{value:,.0f}"

    def interval(row: dict[str, Any]) -> str:
        if row["saturation_ci_low"] is not None:
            return f"{number(row['saturation_ci_low'])}–{number(row['saturation_ci_high'])}"
        return "bound" if row["bounds"] != "reached" else "n<3"
    shown = [[r["label"], r["class"], number(r["saturation_tps"]), interval(r), number(r["class_tps"]),
              number(r["latency_p99_ms"]), compact(r["confirmed_per_cost_hour"]), r["policy"]] for r in rows]
    return fitted("saturation per class", COMPARISON_COLUMNS, shown, width)
