"""What the audit at the end of every run costs, against the run's own wall time.

Goal (issue 18): the audit takes at most 5 % of the run's wall time. On one local testbed, runs of
growing size (best-effort key-value puts at a fixed rate, each run one round, so the chains grow
from run to run as a lab's do) are run with the audit; the audit's own time (read every chain
from where it stood when the run began, check every receipt) is printed against the wall time
of the whole run. The same runs without the audit are the baseline: the difference in wall time
is the audit's cost as a user sees it (noisy on a shared 2-core machine; the audit's own time is
the figure).

    .venv/bin/python benchmarks/audit_cost.py [--rate R] [SECONDS ...]
"""
from __future__ import annotations

import argparse
import sys
import time

from _local import kv_round, local_testbed, positive_float, run

GOAL = 0.05


def main(rate: float, durations: list[float]) -> int:
    worst = 0.0
    print(f"{'round s':>8} {'confirmed':>10} {'commits read':>12} {'audit s':>8} {'run s':>7} {'share':>6} "
          f"{'run s, no audit':>15}")
    with local_testbed() as bed:
        for seconds in durations:
            rounds = [kv_round(f"audited-{seconds:g}s", rate, seconds, {"best-effort": 1})]
            started = time.monotonic()
            outcome = run(bed, rounds)
            wall = time.monotonic() - started
            started = time.monotonic()
            run(bed, [kv_round(f"unaudited-{seconds:g}s", rate, seconds, {"best-effort": 1})], audit=False)
            wall_without = time.monotonic() - started
            report = outcome.summary.audit
            if report is None or report.skipped:
                print(f"the audit did not run: {report.skipped if report else 'no report'}", file=sys.stderr)
                return 1
            share = report.elapsed_s / wall
            worst = max(worst, share)
            commits = max((node.last_sequence - node.read_after for node in report.nodes), default=0)
            print(f"{seconds:>8g} {outcome.summary.rounds[0].total.succeeded:>10} {commits:>12} "
                  f"{report.elapsed_s:>8.2f} {wall:>7.1f} {share:>6.1%} {wall_without:>15.1f}", flush=True)
    print(f"\nthe audit's largest share of a run's wall time: {worst:.1%}; goal at most {GOAL:.0%}: "
          f"{'met' if worst <= GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=positive_float, default=1000, help="offered transactions per second")
    parser.add_argument("durations", nargs="*", type=positive_float, default=[5, 10, 20], metavar="SECONDS",
                        help="round lengths (default: %(default)s)")
    arguments = parser.parse_args()
    sys.exit(main(arguments.rate, arguments.durations))
