"""Ceiling of one load-generator worker process against a trivial gRPC sink on loopback.

Goal (issue 4): the highest rate one worker holds with >= 99 % of the asked rate sent and
generator lag p99 <= 2 ms is >= 20,000 tx/s. For scale: one Caliper 0.6 worker's fixed-rate
controller was measured on this machine at about 745 tx/s at most, whatever rate was asked.

It drives the round engine alone, on purpose, not a whole run: it measures the generator, and a
run's folder, node recorder and report would only add their own costs between rounds.

    .venv/bin/python benchmarks/worker_ceiling.py [RATE ...]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from harness.config.benchmark import load_benchmark
from harness.loadgen.engine import Engine
from harness.provision.local_copy import free_port

from _local import positive_float

REPO = Path(__file__).resolve().parent.parent
GOAL = 20_000
CALIPER_WORKER_TPS = 745  # measured on this machine, see ../shared/TESTBED-NOTES.md


def main(rates: list[float]) -> int:
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "harness.sink", "--port", str(port)])
    time.sleep(1.0)
    best = 0.0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rounds = [{"label": f"rate-{rate:g}", "txDuration": 5, "timeout": 10,
                       "rateControl": {"type": "fixed-rate", "opts": {"tps": rate}},
                       "workload": {"module": str(REPO / "workloads" / "modules" / "kv.py")}} for rate in rates]
            path = Path(tmp) / "ceiling.yaml"
            path.write_text(yaml.safe_dump({"test": {"name": "ceiling", "workers": {"number": 1}, "rounds": rounds}}))
            benchmark = load_benchmark(path)
            print(f"{'asked/s':>9} {'sent/s':>9} {'of asked':>9} {'lag p99 ms':>11} {'confirmed/s':>12}")
            with Engine(benchmark, [f"127.0.0.1:{port}"], "ceiling", Path(tmp) / "records") as engine:
                for rate, spec in zip(rates, benchmark.rounds):
                    total = engine.run_round(spec).total.figures()
                    sent = total.submitted / spec.tx_duration_s
                    lag = total.lag_ms["p99"] or 0.0
                    held = sent >= 0.99 * rate and lag <= 2.0
                    print(f"{rate:>9.0f} {sent:>9.0f} {sent / rate:>9.1%} {lag:>11.2f} "
                          f"{total.throughput_tps or 0:>12.0f} {'held' if held else ''}", flush=True)
                    if held:
                        best = max(best, rate)
    finally:
        sink.terminate()
        sink.wait()
    print(f"\none worker holds {best:.0f} tx/s (goal {GOAL}: {'met' if best >= GOAL else 'NOT met'}); "
          f"{best / CALIPER_WORKER_TPS:.1f}x one Caliper 0.6 worker's {CALIPER_WORKER_TPS} tx/s")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rates", nargs="*", type=positive_float, default=[5000, 10000, 20000, 25000, 30000, 35000], metavar="RATE",
                        help="asked rates, transactions per second (default: %(default)s)")
    sys.exit(main(parser.parse_args().rates))
