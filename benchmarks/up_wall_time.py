"""Wall time of `harness up` on 2, 4 and 8 namespace hosts, and of an idempotent second run.

Goals (issue 5): 8 hosts take <= 1.5x the time of 2 hosts; an idempotent re-run takes <= 50 %
of the first run. Needs root and openssh-server (scripts/install-system-packages).

    .venv/bin/python benchmarks/up_wall_time.py [COUNT ...]
"""
from __future__ import annotations

import sys
import time

from harness import netns, testbed
from harness.inventory import load_inventory


def timed_up(count: int) -> tuple[float, float]:
    created = netns.create(count)
    try:
        inventory = load_inventory(created.inventory)
        started = time.monotonic()
        testbed.up(inventory)
        first = time.monotonic() - started
        started = time.monotonic()
        testbed.up(inventory)
        again = time.monotonic() - started
        testbed.act("teardown", inventory)
        return first, again
    finally:
        netns.destroy(created.run_id)


def main(counts: list[int]) -> int:
    from harness import wheelhouse

    wheelhouse.build()  # built once, outside the timings
    print(f"{'hosts':>6} {'first up s':>11} {'re-run s':>9} {'re-run / first':>15}")
    firsts = {}
    for count in counts:
        first, again = timed_up(count)
        firsts[count] = first
        print(f"{count:>6} {first:>11.1f} {again:>9.1f} {again / first:>15.0%}", flush=True)
    if 2 in firsts and 8 in firsts:
        ratio = firsts[8] / firsts[2]
        print(f"\n8 hosts / 2 hosts: {ratio:.2f}x (goal <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main([int(c) for c in sys.argv[1:]] or [2, 4, 8]))
