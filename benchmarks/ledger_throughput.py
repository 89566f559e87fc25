"""Confirmed transactions per second on the local inventory, key-value contract.

Goal (issue 3): >= 2,000 confirmed/s. Offers a ladder of fixed rates (best effort, one replica)
and prints, per rate, the confirmed throughput, the success ratio and latency; the figure is the
highest throughput reached with at least 99 % of transactions confirmed.

    .venv/bin/python benchmarks/ledger_throughput.py [RATE ...]
"""
from __future__ import annotations

import argparse
import sys

from _local import local_testbed, rate_ladder, positive_float

GOAL = 2000.0


def main(rates: list[float]) -> int:
    best = 0.0
    print(f"{'offered/s':>10} {'confirmed/s':>12} {'success':>8} {'p50 ms':>8} {'p99 ms':>8} {'lag p99 ms':>10}")
    with local_testbed() as bed:
        for step in rate_ladder(bed, rates):
            print(f"{step.rate:>10.0f} {step.throughput:>12.0f} {step.success:>8.1%} "
                  f"{step.latency_ms['p50'] or 0:>8.1f} {step.latency_ms['p99'] or 0:>8.1f} "
                  f"{step.lag_ms['p99'] or 0:>10.1f}", flush=True)
            if step.success >= 0.99:
                best = max(best, step.throughput)
    print(f"\nconfirmed throughput (>= 99 % success): {best:.0f}/s; goal {GOAL:.0f}/s: "
          f"{'met' if best >= GOAL else 'NOT met'} ({best / GOAL:.2f}x of goal)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rates", nargs="*", type=positive_float, default=[500, 1000, 1500, 2000, 2500, 3000], metavar="RATE",
                        help="offered rates, transactions per second (default: %(default)s)")
    sys.exit(main(parser.parse_args().rates))
