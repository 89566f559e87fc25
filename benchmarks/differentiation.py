"""Class differentiation under overload: CBWFQ against FIFO, in one run.

Goal (issue 3): at 150 % of the measured saturation rate, with an equal mix of fast
confirmation, best effort and scavenger, fast confirmation's p99 latency stays within 2x its
unloaded p99 under CBWFQ, while under FIFO all classes degrade alike.

For each scheduler, on a fresh local testbed with that policy:
1. unloaded: the mix at 10 % of saturation -> each class's unloaded p99;
2. overload: the mix at 150 % of saturation -> each class's p99, success ratio and the
   ratio p99(overload) / p99(unloaded).
Saturation is measured first, under CBWFQ, as the highest confirmed throughput of the mix.
3. a lower bound no scheduler can beat: fast confirmation alone at its share of the overload
   (a third of 150 %), with no other class present; its p99 against the unloaded p99.
Also printed per scheduler: the confirmed throughput during the overload against the saturation,
and the generators' lag p99 (whether they kept to their schedule).

The load workers run on the same two cores as the testbed, so every CPU-second they spend is
taken from the system under test, and at 150 % they spend half as much again as at saturation.
They send with a 2 ms send window (test.workers.sendWindowMs): a message per few transactions
instead of one each, which leaves the testbed more of the cores. The wait itself counts in every
latency figure. It applies only where transactions are due less than 2 ms apart, so the
overload round carries it and the unloaded round (one transaction every 7 ms per worker) does
not. `--send-window-ms 0` measures without it.

`--policy FILE` runs both schedulers with that policy (laid over the shipped default, as an
inventory's `vdlt_policy_file` is) instead of the default; the benchmark sets only `scheduler`.

    .venv/bin/python benchmarks/differentiation.py [--seconds S] [--send-window-ms MS] [--policy FILE]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from _local import kv_round, local_testbed, run_rounds

from vdlt.cos import ServiceClass

MIX = {"fast-confirmation": 1, "best-effort": 1, "scavenger": 1}
CLASSES = list(MIX)


def saturation(base: dict[str, Any], seconds: float, send_window_ms: float) -> float:
    best = 0.0
    with local_testbed({**base, "scheduler": "cbwfq"}) as bed:
        run_rounds(bed, [kv_round("warm-up", 200, 2, MIX)], send_window_ms=send_window_ms)
        # Up in steps until the testbed falls behind, so the grid never caps the figure.
        for rate in range(1000, 8001, 500):
            (result,) = run_rounds(bed, [kv_round(f"sat-{rate}", rate, seconds, MIX)], send_window_ms=send_window_ms)
            total = result.total
            throughput = total.throughput_tps or 0.0
            print(f"  offered {rate:>5}/s -> confirmed {throughput:>6.0f}/s "
                  f"({total.succeeded / max(total.submitted, 1):.1%} ok)", flush=True)
            best = max(best, throughput)
            if throughput < 0.9 * rate:
                break
    return best


def measure(base: dict[str, Any], scheduler: str, saturated: float, seconds: float,
            send_window_ms: float) -> tuple[dict[str, dict], dict[str, float]]:
    """Per class figures, and the overload's confirmed throughput and generator lag."""
    with local_testbed({**base, "scheduler": scheduler}) as bed:
        run_rounds(bed, [kv_round("warm-up", 200, 2, MIX)], send_window_ms=send_window_ms)
        unloaded, overload, alone = run_rounds(bed, [
            kv_round("unloaded", 0.1 * saturated, seconds, MIX),
            kv_round("overload", 1.5 * saturated, seconds, MIX),
            kv_round("fast-alone", 1.5 * saturated / len(MIX), seconds, {"fast-confirmation": 1}),
        ], send_window_ms=send_window_ms)
    figures = {}
    for slug in CLASSES:
        service_class = ServiceClass.from_slug(slug)
        calm, busy = unloaded.classes[service_class], overload.classes[service_class]
        p99_calm, p99_busy = calm.latency_ms["p99"], busy.latency_ms["p99"]
        figures[slug] = {
            "unloaded_p99_ms": p99_calm, "overload_p99_ms": p99_busy,
            "ratio": (p99_busy / p99_calm) if p99_calm and p99_busy else None,
            "success": busy.succeeded / max(busy.submitted, 1),
            "dropped": busy.failed_by_reason["dropped"],
        }
    alone_p99 = alone.classes[ServiceClass.FAST_CONFIRMATION].latency_ms["p99"]
    calm = figures["fast-confirmation"]["unloaded_p99_ms"]
    figures["fast-confirmation"]["alone_p99_ms"] = alone_p99
    figures["fast-confirmation"]["alone_ratio"] = alone_p99 / calm if alone_p99 and calm else None
    total = overload.total
    return figures, {"throughput_tps": total.throughput_tps or 0.0, "lag_p99_ms": total.lag_ms["p99"] or 0.0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each measured round")
    parser.add_argument("--send-window-ms", type=float, default=2.0, help="the load workers' sendWindowMs")
    parser.add_argument("--policy", type=Path, help="a policy file laid over the shipped default")
    args = parser.parse_args()
    base = yaml.safe_load(args.policy.read_text()) if args.policy else {}
    print(f"policy: {args.policy or 'the shipped default'}")
    print(f"measuring saturation of the mix (CBWFQ; workers' send window {args.send_window_ms:g} ms):")
    saturated = saturation(base, args.seconds, args.send_window_ms)
    print(f"saturation: {saturated:.0f} confirmed/s; overload = 150 % = {1.5 * saturated:.0f}/s offered\n")
    measured = {scheduler: measure(base, scheduler, saturated, args.seconds, args.send_window_ms)
                for scheduler in ("cbwfq", "fifo")}
    results = {scheduler: figures for scheduler, (figures, _) in measured.items()}
    print(f"{'scheduler':<9} {'class':<18} {'p99 unloaded':>13} {'p99 overload':>13} {'ratio':>8} "
          f"{'success':>8} {'dropped':>8}")
    for scheduler, figures in results.items():
        for slug, f in figures.items():
            ratio = f"{f['ratio']:.1f}x" if f["ratio"] else "-"
            print(f"{scheduler:<9} {slug:<18} {f['unloaded_p99_ms'] or 0:>11.1f}ms {f['overload_p99_ms'] or 0:>11.1f}ms "
                  f"{ratio:>8} {f['success']:>8.1%} {f['dropped']:>8}")
    for scheduler, (_, overall) in measured.items():
        print(f"{scheduler:<9} overload confirmed {overall['throughput_tps']:.0f}/s "
              f"({overall['throughput_tps'] / saturated:.0%} of saturation), generator lag p99 "
              f"{overall['lag_p99_ms']:.1f} ms")
    fast_cbwfq = results["cbwfq"]["fast-confirmation"]["ratio"]
    fifo_ratios = [f["ratio"] for f in results["fifo"].values() if f["ratio"]]
    print(f"\nCBWFQ fast-confirmation p99 ratio: {fast_cbwfq:.2f}x (goal <= 2x): "
          f"{'met' if fast_cbwfq and fast_cbwfq <= 2 else 'NOT met'}")
    bound = results["cbwfq"]["fast-confirmation"]
    if bound["alone_ratio"]:
        print(f"lower bound for any scheduler: fast confirmation alone at {1.5 * saturated / len(MIX):.0f}/s "
              f"(its share of the overload): p99 {bound['alone_p99_ms']:.1f} ms = {bound['alone_ratio']:.2f}x unloaded")
    if fifo_ratios:
        print(f"FIFO p99 ratios across classes: {min(fifo_ratios):.1f}x .. {max(fifo_ratios):.1f}x "
              f"(spread {max(fifo_ratios) / min(fifo_ratios):.2f}: near 1 means all classes degrade alike)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
