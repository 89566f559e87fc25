"""How much of a campaign's wall time is spent outside its measured rounds.

Runs a campaign (by default the shipped workloads/campaigns/profiles-quickstart.yaml) through the
library, as `harness campaign run` does, and splits its wall time into the measured part of every
round (each round's duration less its trimmed warm-up) and everything else: testbeds' bring-up
and facts, policy switches, each run's folder, audit and report, warm-up, teardown and the
campaign's comparison report. The target is at most 15 % outside measured rounds.

A saturation search also waits, before each step, for the system to finish what an overloaded
step left queued (the drain: the step's load, still being served). It is printed on its own line,
and the share is given without it and with it.

    python benchmarks/campaign_overhead.py [CAMPAIGN_FILE]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# As the CLI: no gRPC fork handlers (Ansible forks while the node-state threads use gRPC).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from benchmarks._local import REPO  # noqa: E402
from harness.campaign.config import load_campaign  # noqa: E402
from harness.campaign.folder import COMPLETE, Trial  # noqa: E402
from harness.campaign.runner import CampaignEvents, CampaignSettings, start_campaign  # noqa: E402
from harness.run.saturation import WARM_UP  # noqa: E402
from harness.store.folder import RunFolder  # noqa: E402

TARGET = 0.15


class Clock(CampaignEvents):
    """Wall time per trial, and the campaign's own actions (ups, facts, teardown) as they come."""

    def __init__(self) -> None:
        self.trial_started_at = 0.0
        self.trials: list[tuple[str, float]] = []

    def trial_started(self, trial: Trial, done: int, total: int, eta_s: float | None) -> None:
        self.trial_started_at = time.monotonic()
        print(f"  {done}/{total} trials done; {trial.cell} #{trial.repetition}", flush=True)

    def trial_finished(self, trial: Trial, done: int, total: int) -> None:
        self.trials.append((trial.key, time.monotonic() - self.trial_started_at))

    def action(self, text: str) -> None:
        print(f"    {text}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("campaign", nargs="?", type=Path,
                        default=REPO / "workloads" / "campaigns" / "profiles-quickstart.yaml")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="create the campaign folder under DIR and keep it (default: a temporary one)")
    args = parser.parse_args()
    campaign = load_campaign(args.campaign)
    clock = Clock()
    with tempfile.TemporaryDirectory(prefix="vdlt-campaign-") as tmp:
        started = time.monotonic()
        outcome = start_campaign(campaign, CampaignSettings(campaigns_dir=args.keep or Path(tmp)), clock)
        wall = time.monotonic() - started
        measured = warm_up = drain = 0.0
        rounds = 0
        for trial in outcome.trials:
            if trial.state != COMPLETE or not trial.run:
                continue
            summary = RunFolder.open(outcome.folder.path / trial.run).read_summary()
            for round_summary in summary.rounds:
                search = round_summary.header.search or {}
                drain += search.get("settled_s", 0.0)
                if search.get("phase") == WARM_UP:
                    warm_up += round_summary.duration_s
                    continue
                trimmed = round_summary.header.trim if round_summary.header.tx_duration_s else 0.0
                measured += max(0.0, round_summary.duration_s - trimmed)
                warm_up += min(trimmed, round_summary.duration_s)
                rounds += 1
        complete = sum(t.state == COMPLETE for t in outcome.trials)
        in_trials = sum(seconds for _, seconds in clock.trials)
    outside = wall - measured - drain
    share = outside / wall
    print(f"\ncampaign {campaign.name}: {complete}/{len(outcome.trials)} trials complete, {rounds} measured rounds")
    print(f"{'wall time':<44}{wall:>9.1f} s")
    print(f"{'inside measured rounds':<44}{measured:>9.1f} s")
    print(f"{'draining overloaded steps before the next':<44}{drain:>9.1f} s")
    print(f"{'outside them, the drain aside':<44}{outside:>9.1f} s  ({share:.1%} of the wall time; target <= "
          f"{TARGET:.0%}; {(outside + drain) / wall:.1%} with the drain)")
    print(f"{'  of which warm-up (rounds, trimmed seconds)':<44}{warm_up:>9.1f} s")
    print(f"{'  of which inside trials, between rounds':<44}{in_trials - measured - warm_up - drain:>9.1f} s"
          "  (run folders, audits, reports, first bring-up)")
    print(f"{'  of which outside trials':<44}{wall - in_trials:>9.1f} s  (teardown, comparison report)")
    print(f"verdict: {'met' if share <= TARGET else 'missed'}")
    if args.keep:
        print(f"campaign folder: {outcome.folder.path}")
    return 0 if complete == len(outcome.trials) else 1


if __name__ == "__main__":
    sys.exit(main())
