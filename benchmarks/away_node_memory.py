"""Control-node memory while an execution node is away, with and without the commit backlog limit.

Every commit is in the control node's log on disk; it also keeps the latest ones in memory to
send execution nodes that are behind. The policy's `commit_backlog_limit` bounds how many (and
64 MiB bounds their bytes); a node further behind is sent the rest from the log when it returns,
so the limit trades memory for disk reads, never commits.

For each limit, on a fresh local testbed: exec-0 is killed, then best-effort key-value rounds
commit transactions on the other two nodes. After each round the control node's resident memory
is printed. The baseline is a limit no run reaches (only the 64 MiB bound holds), measured in
the same run. Then exec-0 is started again, and the time until its chain holds every commit is
printed.

    .venv/bin/python benchmarks/away_node_memory.py [--rounds N] [--limit L]
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time

import psutil
from _local import kv_round, local_testbed, run_rounds

from harness.provision import testbed
from harness.provision.inventory import Inventory
from vdlt.ledger import replay_state
from vdlt.policy import load_policy

UNBOUNDED = 10**9
RATE = 2000
SECONDS = 10


def _pid(inventory: Inventory, node: str) -> int:
    return int((inventory.directory / "nodes" / node / "agent.pid").read_text())


def _rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def _states_equal(inventory: Inventory) -> bool:
    states = [replay_state(inventory.directory / "nodes" / node / "ledger") for node in ("exec-0", "exec-1")]
    return states[0] == states[1]


def measure(limit: int, rounds: int) -> tuple[list[tuple[int, float]], float | None]:
    """(commits while away, control RSS MiB) after each round; seconds exec-0 took to catch up."""
    points = []
    with local_testbed({"commit_backlog_limit": limit}) as bed:
        inventory = bed.inventory
        run_rounds(bed, [kv_round("warm-up", 500, 2, {"best-effort": 1})], send_window_ms=2)
        control = _pid(inventory, "control-0")
        os.kill(_pid(inventory, "exec-0"), signal.SIGKILL)
        time.sleep(2)  # until the control node stops choosing it
        points.append((0, _rss_mib(control)))
        committed = 0
        for index in range(rounds):
            (result,) = run_rounds(bed, [kv_round(f"away-{index}", RATE, SECONDS, {"best-effort": 1})],
                                   send_window_ms=2)
            committed += result.total.succeeded
            points.append((committed, _rss_mib(control)))
            print(f"  limit {limit:>10}: {committed:>7} commits while exec-0 is away -> control node RSS "
                  f"{points[-1][1]:7.1f} MiB", flush=True)
        started = time.monotonic()
        testbed.up(inventory)  # starts exec-0 again
        caught_up = None
        while time.monotonic() - started < 120:
            if _states_equal(inventory):
                caught_up = time.monotonic() - started
                break
            time.sleep(0.5)
    return points, caught_up


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4, help=f"rounds of {SECONDS} s at {RATE}/s while exec-0 is away")
    parser.add_argument("--limit", type=int, default=load_policy().commit_backlog_limit,
                        help="the commit_backlog_limit measured (default: the shipped policy's)")
    args = parser.parse_args()
    results = {}
    for limit in (UNBOUNDED, args.limit):
        results[limit] = measure(limit, args.rounds)
    print(f"\n{'commit_backlog_limit':>20} {'commits away':>13} {'RSS growth MiB':>15} {'KiB/commit':>11} "
          f"{'catch-up s':>11}")
    for limit, (points, caught_up) in results.items():
        (_, first), (commits, last) = points[0], points[-1]
        label = "none (baseline)" if limit == UNBOUNDED else str(limit)
        per_commit = (last - first) * 1024 / commits if commits else 0.0
        print(f"{label:>20} {commits:>13} {last - first:>15.1f} {per_commit:>11.2f} "
              f"{caught_up if caught_up is not None else float('nan'):>11.1f}")
    base = results[UNBOUNDED][0]
    bounded = results[args.limit][0]
    growth_base = base[-1][1] - base[0][1]
    growth_bounded = bounded[-1][1] - bounded[0][1]
    if growth_base > 0:
        print(f"\nwith the limit the control node grew {growth_bounded:.1f} MiB instead of {growth_base:.1f} MiB "
              f"({growth_bounded / growth_base:.0%} of the baseline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
