"""What mutual TLS costs: confirmed throughput and latency on the local inventory, plaintext
against `vdlt_tls: true`, in one run (key-value contract, best effort, one replica).

For each, a ladder of fixed rates; printed per rate: confirmed/s, success, p50 and p99 latency;
then the highest throughput with >= 99 % confirmed, for both, and TLS's ratio to plaintext.
Every party is on this machine, so the encryption's CPU competes with everything else's.

    .venv/bin/python benchmarks/tls_overhead.py [RATE ...]
"""
from __future__ import annotations

import sys

from _local import kv_round, local_testbed, run_rounds


def ladder(use_tls: bool, rates: list[float]) -> float:
    best = 0.0
    with local_testbed(use_tls=use_tls) as (inventory, work_dir):
        run_rounds(inventory, work_dir, [kv_round("warm-up", 200, 2, {"best-effort": 1})])
        for rate in rates:
            (result,) = run_rounds(inventory, work_dir, [kv_round(f"rate-{rate:g}", rate, 6, {"best-effort": 1})])
            total = result.total.summary()
            success = total["succeeded"] / max(total["submitted"], 1)
            throughput = total["throughput_tps"] or 0.0
            latency = total["latency_ms"]
            print(f"{'mTLS' if use_tls else 'plaintext':>10} {rate:>10.0f} {throughput:>12.0f} {success:>8.1%} "
                  f"{latency['p50'] or 0:>8.1f} {latency['p99'] or 0:>8.1f}", flush=True)
            if success >= 0.99:
                best = max(best, throughput)
    return best


def main(rates: list[float]) -> int:
    print(f"{'transport':>10} {'offered/s':>10} {'confirmed/s':>12} {'success':>8} {'p50 ms':>8} {'p99 ms':>8}")
    plaintext = ladder(False, rates)
    mutual_tls = ladder(True, rates)
    print(f"\nconfirmed throughput (>= 99 % success): plaintext {plaintext:.0f}/s, mutual TLS {mutual_tls:.0f}/s "
          f"({mutual_tls / plaintext:.2f}x of plaintext)" if plaintext else "\nplaintext confirmed nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main([float(r) for r in sys.argv[1:]] or [1000, 2000, 2500, 3000]))
