"""What recording costs the load generator: time per transaction and memory per million.

Runs a worker's real bookkeeping (`_Worker._send` and `_Worker.on_outcome`: the per-transaction
columns and live counts) for N transactions, against a baseline loop in the same run that does
everything else a send needs (the workload call, the id, the connector call, the outcome object)
without recording. Writing the records to the run folder happens while the round runs (a gzip
member a second, synced to disk): its cost per transaction is reported on its own line, measured
through the worker's own writer in one-second-sized chunks of the same transactions. The per-class
HDR histograms are built from the columns when the round ends: that cost is reported on its own
line too, as it falls between rounds, not while sending. Memory is the growth of the process's
resident set while recording, per million transactions.

    .venv/bin/python benchmarks/recording_overhead.py [N]
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from harness.config.benchmark import load_benchmark
from harness.connectors.base import CONFIRMED, Outcome, Request
from harness.loadgen.metrics import class_stats
from harness.loadgen.rate_control import ControllerContext
from harness.loadgen.worker import WorkerJob, _Worker, RECORD_SLICE

from _local import positive_int

REQUEST = Request("kv", "put", {"key": "k", "value": 1})
CHUNK = 20_000


class NullWorkload:
    def submit_transaction(self) -> Request:
        return REQUEST


class NullConnector:
    def submit(self, tx_id: str, cos: int, source: str, request: Request) -> None:
        pass


def make_worker(tmp: Path) -> _Worker:
    path = tmp / "b.yaml"
    module = Path(__file__).resolve().parent.parent / "workloads" / "modules" / "kv.py"
    path.write_text(yaml.safe_dump({"test": {"workers": {"number": 1}, "rounds": [{
        "label": "r", "txNumber": 1, "rateControl": {"type": "fixed-rate", "opts": {"tps": 1}},
        "workload": {"module": str(module)}, "cos": {"fast-confirmation": 1, "best-effort": 1}}]}}))
    spec = load_benchmark(path).rounds[0]
    return _Worker(WorkerJob("bench", spec, 0, 1, "unused", "vdlt", time.time_ns(), tmp / "r.csv.gz"))


def main(n: int) -> int:
    workload, connector = NullWorkload(), NullConnector()
    with tempfile.TemporaryDirectory() as tmp:
        async def run() -> tuple[float, float, float, float, float]:
            worker = make_worker(Path(tmp))
            context = ControllerContext(0, 1, 0, n, None, Path(tmp))
            cos_values = worker.cos_values

            # Baseline: what every send does anyway, without recording it.
            started = time.perf_counter_ns()
            for index in range(n):
                request = workload.submit_transaction()
                tx_id = f"bench.0.0.{index}"
                connector.submit(tx_id, cos_values[index & 1], "s", request)
                Outcome(f"bench.0.0.{index}", CONFIRMED, cos_values[index & 1], ("exec-0",))
            baseline_ns = time.perf_counter_ns() - started

            gc.collect()
            rss_before = psutil.Process().memory_info().rss
            now = time.time_ns()
            started = time.perf_counter_ns()
            worker.with_context = False  # a Caliper-style module
            for index in range(n):
                worker._send(workload, connector, index, now, index & 1, "s", 0.0, context)
                worker.on_outcome(Outcome(f"bench.0.0.{index}", CONFIRMED, cos_values[index & 1], ("exec-0",)))
            recorded_ns = time.perf_counter_ns() - started
            gc.collect()
            rss_after = psutil.Process().memory_info().rss
            # As the worker writes while a round runs: a member per CHUNK transactions (a second's
            # worth at 20,000 tx/s), compressed in slices, appended and synced.
            started = time.perf_counter_ns()
            decided = worker.log.take_decided()
            for start in range(0, n, CHUNK):
                chunk = decided[start:start + CHUNK]
                for first in range(0, len(chunk), RECORD_SLICE):
                    worker.writer.add(worker.log.lines(chunk[first:first + RECORD_SLICE], 0, worker.tx_prefix))
                worker.writer.end_member()
            write_ns = time.perf_counter_ns() - started
            started = time.perf_counter_ns()
            stats = class_stats(worker.log.stats_rows())
            summary_ns = time.perf_counter_ns() - started
            assert sum(s.succeeded for s in stats.values()) == n
            return (baseline_ns / n, recorded_ns / n, (rss_after - rss_before) / n * 1_000_000, summary_ns / n,
                    write_ns / n)

        baseline, recorded, memory, summary, write = asyncio.run(run())
    print(f"transactions: {n:,}")
    print(f"baseline send path:        {baseline:8.0f} ns per transaction")
    print(f"with recording:            {recorded:8.0f} ns per transaction")
    print(f"recording overhead:        {recorded - baseline:8.0f} ns per transaction "
          f"({recorded / baseline:.1f}x the baseline)")
    print(f"writing the records:       {write:8.0f} ns per transaction (while the round runs, a chunk a second)")
    print(f"histograms at round end:   {summary:8.0f} ns per transaction (between rounds, not while sending)")
    print(f"memory while recording:    {memory / 2**20:8.1f} MiB per million transactions")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=positive_int, default=1_000_000, metavar="N",
                        help="transactions recorded (default: %(default)s)")
    sys.exit(main(parser.parse_args().n))
