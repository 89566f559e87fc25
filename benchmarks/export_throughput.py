"""Points per second pushed to each results database on loopback, and whether every point
produced was acknowledged.

Goal (issue 6): >= 100,000 points/s through each path, acknowledged == produced. Makes one run
folder of N transactions against the gRPC sink, then writes it to Debian's influxdb 1.6.7 (v1
/write) and victoria-metrics (influxdb-client, v2 write API), each started here on loopback, in
both ways the harness writes: `results push` and the live export a run uses (fed the run's
rounds as `harness run` feeds them).

    .venv/bin/python benchmarks/export_throughput.py [TRANSACTIONS]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

from harness.export.config import InfluxConfig
from harness.export.live import LiveExport
from harness.testing.results_servers import create_database, influxdb_v1, victoria_metrics
from harness.export.push import push
from harness.store.folder import RunFolder
from harness.provision.local_copy import free_port

from _local import positive_int

REPO = Path(__file__).resolve().parent.parent
GOAL = 100_000


def make_run(tmp: Path, transactions: int) -> RunFolder:
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "harness.sink", "--port", str(port)])
    try:
        time.sleep(1)
        bench = tmp / "bench.yaml"
        bench.write_text(yaml.safe_dump({"test": {"name": "export", "workers": {"number": 2}, "rounds": [{
            "label": "r", "txNumber": transactions, "rateControl": {"type": "fixed-rate", "opts": {"tps": 20_000}},
            "workload": {"module": str(REPO / "workloads" / "modules" / "kv.py")},
            "cos": {"fast-confirmation": 1, "best-effort": 1, "scavenger": 1}}]}}))
        subprocess.run([sys.executable, "-m", "harness", "run", str(bench), "--endpoint", f"127.0.0.1:{port}",
                        "--results-dir", str(tmp / "results")], check=True, capture_output=True)
    finally:
        sink.terminate()
        sink.wait()
    (run_dir,) = (tmp / "results").iterdir()
    return RunFolder.open(run_dir)


def measure(name: str, url: str, folder: RunFolder) -> None:
    started = time.perf_counter()
    report = push(folder, InfluxConfig(url=url, bucket="vdlt"))
    show(f"{name}, push", report.protocol, report.produced, report.acknowledged, time.perf_counter() - started)
    summary, manifest = folder.read_summary(), folder.read_manifest() or {}
    started = time.perf_counter()
    live = LiveExport(InfluxConfig(url=url, bucket="vdlt"), folder, manifest)
    for round_summary in summary.rounds:
        live.add_round(summary, round_summary)
    tally = live.close()
    show(f"{name}, live", tally.protocol, tally.produced, tally.acknowledged, time.perf_counter() - started)


def show(name: str, protocol: str, produced_counts: Counter[str], acknowledged_counts: Counter[str],
         elapsed: float) -> None:
    produced, acknowledged = sum(produced_counts.values()), sum(acknowledged_counts.values())
    rate = produced / elapsed
    print(f"{name:<38} {protocol:>3} {produced:>9} {acknowledged:>9} {rate:>12,.0f}/s "
          f"{'met' if rate >= GOAL and acknowledged == produced else 'NOT met'}", flush=True)


def main(transactions: int) -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        run_dir = make_run(tmp, transactions)
        print(f"{'path':<38} {'':>3} {'produced':>9} {'acked':>9} {'points/s':>14} goal {GOAL:,}/s")
        with influxdb_v1(tmp / "influxdb") as url:
            create_database(url, "vdlt")
            measure("influxdb 1.6.7, v1 /write", url, run_dir)
        with victoria_metrics(tmp / "vm") as url:
            measure("victoria-metrics, influxdb-client", url, run_dir)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("transactions", nargs="?", type=positive_int, default=200_000, metavar="TRANSACTIONS",
                        help="transactions in the run folder pushed (default: %(default)s)")
    sys.exit(main(parser.parse_args().transactions))
