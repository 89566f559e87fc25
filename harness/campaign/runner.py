"""A campaign, run or resumed: every trial (cell × repetition) a run of :func:`harness.run.runner.run_benchmark`.

Trials run in the order ``campaign.json`` fixed when the campaign began: ``sequential`` runs each
cell's repetitions one after the other; ``random`` runs the repetitions in rounds, each round
visiting every cell once in an order drawn from the recorded seed (randomised multiple interleaved
trials, after Abedi and Brecht, ICPE 2017), so a drift of the shared machine spreads over all
cells instead of looking like a difference between profiles.

After each trial the index says so (atomically): ``campaign run --resume DIR`` after ^C, SIGTERM,
SIGKILL or a power cut skips complete trials and reruns the one that was interrupted. The
comparison report is built at the end from the folder alone (:mod:`harness.campaign.report`).
"""
from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from pathlib import Path

from harness import interrupt
from harness.campaign.config import Campaign, load_campaign
from harness.campaign.folder import COMPLETE, FAILED, INTERRUPTED, RUNNING, CampaignFolder, Trial
from harness.campaign.report import build_campaign_report
from harness.campaign.testbeds import Testbeds
from harness.export.config import InfluxConfig
from harness.run.runner import RunEvents, RunSettings, check_benchmark, run_benchmark
from harness.store.folder import iso_time
from protocol.errors import EXIT_AUDIT_FAILED, EXIT_FAILURE, EXIT_OK, HarnessError


class CampaignEvents:
    """What a campaign tells its caller; every method may stay silent."""

    def campaign_started(self, folder: CampaignFolder, trials: int) -> None:
        """The folder exists (its path is what `--resume` takes)."""

    def trial_started(self, trial: Trial, done: int, total: int, eta_s: float | None) -> None: ...

    def trial_finished(self, trial: Trial, done: int, total: int) -> None: ...

    def action(self, text: str) -> None: ...

    def run_events(self) -> RunEvents:
        return RunEvents()

    def resumed(self, skipped: int, abandoned: list[str]) -> None: ...


@dataclass(frozen=True)
class CampaignSettings:
    campaigns_dir: Path = Path("results") / "campaigns"
    export: InfluxConfig | None = None
    export_optional: bool = False
    keep_up: bool = False
    sample_interval_s: float = 1.0
    teardown_timeout_s: float = 30.0


@dataclass(frozen=True)
class CampaignOutcome:
    folder: CampaignFolder
    trials: list[Trial]

    @property
    def exit_code(self) -> int:
        """5 when an audit found a broken promise, 1 when a trial did not complete or its
        points did not all reach the results database, else 0."""
        if any(t.exit_code == EXIT_AUDIT_FAILED for t in self.trials):
            return EXIT_AUDIT_FAILED
        if any(t.state != COMPLETE or t.exit_code == EXIT_FAILURE for t in self.trials):
            return EXIT_FAILURE
        return EXIT_OK


def trial_order(campaign: Campaign, seed: int) -> list[Trial]:
    cells = [cell.id for cell in campaign.cells]
    if campaign.order == "sequential":
        return [Trial(cell, rep) for cell in cells for rep in range(1, campaign.repetitions + 1)]
    draw = random.Random(seed)
    trials = []
    for rep in range(1, campaign.repetitions + 1):
        visit = list(cells)
        draw.shuffle(visit)
        trials += [Trial(cell, rep) for cell in visit]
    return trials


def check_campaign(campaign: Campaign) -> None:
    """What can be known wrong before anything starts: each benchmark's workload modules."""
    for benchmark in campaign.benchmarks.values():
        for bed in campaign.testbeds.values():
            check_benchmark(benchmark, bed.inventory)


def start_campaign(campaign: Campaign, settings: CampaignSettings, events: CampaignEvents | None = None
                   ) -> CampaignOutcome:
    check_campaign(campaign)
    seed = campaign.seed if campaign.seed is not None else random.SystemRandom().randrange(2**31)
    folder = CampaignFolder.create(settings.campaigns_dir, campaign, seed, trial_order(campaign, seed))
    return _Campaign(campaign, folder, settings, events or CampaignEvents()).run()


def resume_campaign(path: Path, settings: CampaignSettings, events: CampaignEvents | None = None) -> CampaignOutcome:
    """Goes on with the campaign in ``path`` as its own copy of the campaign file describes it."""
    folder = CampaignFolder(path)
    campaign = load_campaign(folder.campaign_file, folder.source_dir)
    check_campaign(campaign)
    return _Campaign(campaign, folder, settings, events or CampaignEvents()).run(resuming=True)


class _Campaign:
    def __init__(self, campaign: Campaign, folder: CampaignFolder, settings: CampaignSettings,
                 events: CampaignEvents) -> None:
        self.campaign, self.folder, self.settings, self.events = campaign, folder, settings, events
        self.cells = {cell.id: cell for cell in campaign.cells}
        self.testbeds = Testbeds(campaign.testbeds, folder.testbed_dir)

    def run(self, resuming: bool = False) -> CampaignOutcome:
        with self.folder.locked():
            return self._run(resuming)

    def _run(self, resuming: bool) -> CampaignOutcome:
        trials = self.folder.read_index()
        unknown = [t.cell for t in trials if t.cell not in self.cells]
        if unknown:
            raise HarnessError(f"{self.folder.path}: index.json names cells its campaign.yaml has not: "
                               f"{', '.join(sorted(set(unknown)))}")
        self.events.campaign_started(self.folder, len(trials))
        if resuming:
            abandoned = self.folder.abandon_leftovers(trials)
            for trial in trials:
                if trial.state != COMPLETE:
                    trial.reset()
            self.folder.write_index(trials)
            self.events.resumed(sum(t.state == COMPLETE for t in trials), abandoned)
            # A killed campaign left its testbeds up: those no trial needs any more go down at the end too.
            self.testbeds.adopt_existing()
        try:
            with interrupt.polled():
                for trial in trials:
                    if trial.state == COMPLETE:
                        continue
                    interrupt.check()
                    self._trial(trial, trials)
        finally:
            self._take_down()
        build_campaign_report(self.folder)
        return CampaignOutcome(self.folder, trials)

    def _eta(self, trials: list[Trial]) -> float | None:
        durations = [t.duration_s for t in trials if t.state == COMPLETE and t.duration_s]
        if not durations:
            return None
        left = sum(t.state != COMPLETE for t in trials)
        return left * sum(durations) / len(durations)

    def _trial(self, trial: Trial, trials: list[Trial]) -> None:
        cell = self.cells[trial.cell]
        done = sum(t.state == COMPLETE for t in trials)
        self.events.trial_started(trial, done, len(trials), self._eta(trials))
        started = time.monotonic()
        trial.state, trial.started_at, trial.run = RUNNING, iso_time(time.time_ns()), None
        self.folder.write_index(trials)
        outcome = None
        try:
            bed = self.testbeds.ready(cell.testbed, self.campaign.policies[cell.policy], self.events.action)
            # A trial's own report.html is left to `harness report RUN_DIR`: drawing one per
            # trial (a figure per search step) would be most of a campaign's time outside rounds.
            settings = RunSettings(
                results_dir=self.folder.cell_dir(cell.id), keep_up=True, export=self.settings.export, report=False,
                export_optional=self.settings.export_optional, sample_interval_s=self.settings.sample_interval_s,
                teardown_timeout_s=self.settings.teardown_timeout_s,
                campaign={"id": self.folder.id, "cell": cell.id, "repetition": trial.repetition,
                          "benchmark": cell.benchmark, "testbed": cell.testbed, "policy": cell.policy})
            benchmark = self.campaign.benchmarks[cell.benchmark]
            if bed.network is not None:
                outcome = run_benchmark(dataclasses.replace(benchmark, connector="ethereum"), None, [bed.network.url],
                                        settings=settings, events=self.events.run_events(), network=bed.network)
            else:
                outcome = run_benchmark(benchmark, bed.inventory, settings=settings, events=self.events.run_events(),
                                        hardware=bed.hardware)
        except interrupt.Interrupted as stop:
            trial.state, trial.detail = INTERRUPTED, f"stopped by {stop.name}"
            raise
        except HarnessError as error:
            trial.state, trial.detail = FAILED, str(error)
        finally:
            trial.ended_at = iso_time(time.time_ns())
            trial.duration_s = round(time.monotonic() - started, 2)
            if outcome is not None:
                trial.run = str(outcome.path.relative_to(self.folder.path))
                trial.exit_code = outcome.exit_code
                audit_ok = not outcome.audit_failed
                trial.state = COMPLETE if outcome.summary.status == "complete" and audit_ok else FAILED
                if not audit_ok:
                    trial.detail = "the audit found a broken promise (see the run's audit.json)"
            self.folder.write_index(trials)
            self.events.trial_finished(trial, sum(t.state == COMPLETE for t in trials), len(trials))

    def _take_down(self) -> None:
        if self.settings.keep_up or interrupt.aborted():
            return
        self.events.action("taking the testbeds down")
        if interrupt.requested():
            self.testbeds.down_all(self.settings.teardown_timeout_s, interrupt.aborted)
        else:
            self.testbeds.down_all()


