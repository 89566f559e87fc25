"""Hyperledger Caliper 0.6.0 and the harness side by side, one worker each, on the same chains.

Installs Caliper 0.6.0 bound to web3 1.3 into ``.cache/caliper/`` (once), then in one run drives
both tools with the same files (``workloads/caliper/broker/``: seed 004's resource broker, a
Caliper network file and benchmark, Caliper's JavaScript workload modules and the harness's
Python ports beside them) against:

(a) the instant JSON-RPC stub (``harness.testing.ethereum_stub``), whose own ceiling is measured
    first: Caliper's fixed-rate controller at several asked rates, then the harness at ten times
    the most Caliper achieved (or the rate given). Goals: the harness offers at least 10x
    Caliper's ceiling with >= 99 % of the asked rate sent and generator lag p99 <= 2 ms, and
    spends at most a fifth of Caliper's CPU per transaction; if the stub's own ceiling is below
    that rate, >= 90 % of it.
(b) ganache 7.9.2 with instant mining (fresh for each tool): the broker's three functions at
    rates over what the chain serves, so each tool's throughput is the chain's saturation.
    Goal: the harness's within 10 % of Caliper's, plus the per-class percentiles Caliper does
    not give (a round of two classes).

Each tool's generator is measured the same way (:mod:`_meter`): its worker process's CPU (user +
system, start-up included) per transaction and peak resident memory; the parent's (Caliper's
manager, the harness's controller) is printed beside. Caliper's latency percentiles come from
its per-transaction log (its own table has min, average and max only).

    .venv/bin/python benchmarks/vs_caliper.py [--duration S] [--caliper-rates R,R,R] [--harness-rate R]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _caliper import BROKER_WORKSPACE, CaliperResult, install_caliper, run_caliper  # noqa: E402
from _local import positive_float  # noqa: E402
from _meter import SAMPLE_S, ProcessMeter  # noqa: E402

from harness.connectors.ethereum.keys import Signer, caliper_worker_key  # noqa: E402
from harness.connectors.ethereum.rpc import JsonRpc  # noqa: E402
from harness.testing.ethereum_stub import EthereumStub  # noqa: E402
from harness.provision.ganache import Ganache, ganache_missing  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
NETWORK = BROKER_WORKSPACE / "networks" / "ganache.json"
BENCH = BROKER_WORKSPACE / "benchmarks" / "config.yaml"
SEED = json.loads(NETWORK.read_text())["ethereum"]["fromAddressSeed"]
DEPLOYER_KEY = json.loads(NETWORK.read_text())["ethereum"]["contractDeployerAddressPrivateKey"]
LAG_GOAL_MS = 2.0
SENT_GOAL = 0.99
CPU_GOAL = 1 / 5
SATURATION_GOAL = 0.10
# Over what ganache serves, so that each tool's throughput is the chain's: providers are added
# by count (the same state for both tools: four offers of every type, region and SLA level),
# then matched (getBestMatch scans every provider: ganache answers about 5 a second with 200)
# and reserved, for a duration each.
GANACHE_ROUNDS = {"addNetworkProvider": {"txNumber": 192, "tps": 150},
                  "getBestMatch": {"tps": 10}, "reserve": {"tps": 250}}


@dataclass
class Figures:
    """One tool's round: what was asked and got, and what its generator cost."""
    tool: str
    round: str
    asked_tps: float
    sent_tps: float | None
    achieved_tps: float | None
    succeeded: int
    failed: int
    p50_ms: float | None
    p99_ms: float | None
    lag_p99_ms: float | None
    worker_cpu_us_per_tx: float | None
    worker_peak_rss_mb: float
    parent_cpu_s: float
    parent_peak_rss_mb: float


# -- the harness, as a user runs it ---------------------------------------------------------------

def _is_harness_worker(command: list[str]) -> bool:
    return any("spawn_main" in part for part in command)


def run_harness(workspace: Path, network: Path, bench: dict[str, Any], results: Path) -> tuple[dict[str, Any], ProcessMeter]:
    """``harness run`` of ``bench`` with ``network``, from the workspace; its summary and its meter."""
    bench_file = workspace / "benchmarks" / "vs-caliper.yaml"
    bench_file.write_text(yaml.safe_dump(bench, sort_keys=False))
    command = [sys.executable, "-m", "harness", "run", str(bench_file), "--network", str(network), "--results-dir",
               str(results), "--no-audit"]
    process = subprocess.Popen(command, cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    meter = ProcessMeter(process.pid, _is_harness_worker)
    while process.poll() is None:
        meter.sample()
        time.sleep(SAMPLE_S)
    meter.sample()
    output = process.stdout.read().decode(errors="replace") if process.stdout else ""
    runs = sorted(p for p in results.iterdir() if p.is_dir())
    if process.returncode not in (0, 4) or not runs:
        raise SystemExit(f"harness run failed ({process.returncode}):\n{output[-3000:]}")
    return json.loads((runs[-1] / "summary.json").read_text()), meter


def harness_figures(summary: dict[str, Any], meter: ProcessMeter, asked: dict[str, float]) -> list[Figures]:
    cpu, worker_cpu = meter.cpu()
    transactions = sum(r["total"]["submitted"] for r in summary["rounds"])
    per_tx = worker_cpu / transactions * 1e6 if transactions else None
    figures = []
    for one in summary["rounds"]:
        total = one["total"]
        figures.append(Figures(
            "harness", one["label"], asked.get(one["label"], 0.0), total.get("send_rate_tps"),
            total.get("throughput_tps"), total["succeeded"], total["failed"], total["latency_ms"].get("p50"),
            total["latency_ms"].get("p99"), total["lag_ms"].get("p99"), per_tx, meter.worker_peak_rss / 2**20,
            cpu - worker_cpu, (meter.peak_rss - meter.worker_peak_rss) / 2**20))
    return figures


def caliper_figures(result: CaliperResult, asked: dict[str, float]) -> list[Figures]:
    transactions = sum(r.succ + r.fail for r in result.rounds)
    per_tx = result.worker_cpu_s / transactions * 1e6 if transactions else None
    figures = []
    for one in result.rounds:
        done = one.succ + one.fail
        # Caliper's throughput counts failed transactions too: its confirmed share of it.
        achieved = one.throughput_tps * one.succ / done if one.throughput_tps is not None and done else None
        figures.append(Figures(
            "caliper", one.name, asked.get(one.name, 0.0), one.send_rate_tps, achieved, one.succ, one.fail,
            one.p50_latency_s * 1000 if one.p50_latency_s is not None else None,
            one.p99_latency_s * 1000 if one.p99_latency_s is not None else None, None,
            per_tx if done else None, result.worker_peak_rss_bytes / 2**20, result.cpu_s - result.worker_cpu_s,
            (result.peak_rss_bytes - result.worker_peak_rss_bytes) / 2**20))
    return figures


# -- the stub's own ceiling -----------------------------------------------------------------------

async def _blast(url: str, seconds: float, batch: int = 100) -> tuple[int, float]:
    """Pre-signed transactions in batches, each batch's receipts asked at once, for ``seconds``."""
    signer = Signer(caliper_worker_key(SEED, 9), 1337)
    prepared = [signer.sign(nonce, 2_000_000_000, 21_000, bytes(20), 0, b"") for nonce in range(200_000)]
    rpc = JsonRpc(url)
    await rpc.connect()
    done, started = 0, time.monotonic()
    try:
        while time.monotonic() - started < seconds and done + batch <= len(prepared):
            chunk = prepared[done:done + batch]
            hashes = await rpc.batch([("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw, _ in chunk])
            await rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
            done += batch
        return done, time.monotonic() - started
    finally:
        await rpc.close()


def stub_ceiling(stub: EthereumStub, seconds: float = 3.0) -> tuple[float, float]:
    """Transactions a second the stub takes (sent and receipt read back, 100 per message each way,
    one client), and the stub's own CPU per transaction in µs."""
    assert stub.process is not None
    process = psutil.Process(stub.process.pid)
    before = sum(process.cpu_times()[:2])
    done, elapsed = asyncio.run(_blast(stub.ws_url, seconds))
    return done / elapsed, (sum(process.cpu_times()[:2]) - before) / done * 1e6


# -- the runs ---------------------------------------------------------------------------------------

def bench_with(rounds: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return {"test": {"name": name, "description": "benchmarks/vs_caliper.py", "workers": {"number": 1},
                     "rounds": rounds}}


def broker_round(label: str, module: str, tps: float, duration_s: float | None = None, count: int | None = None,
                 cos: dict[str, int] | None = None, timeout_s: float = 120) -> dict[str, Any]:
    one: dict[str, Any] = {"label": label, "rateControl": {"type": "fixed-rate", "opts": {"tps": tps}},
                           "workload": {"module": f"benchmarks/{module}", "arguments": {
                               "unitsPerProvider": 1_000_000, "providers": 48, "units": 1}},
                           "cos": cos or {"best-effort": 1}, "timeout": timeout_s}
    if count is not None:
        one["txNumber"] = count
    else:
        one["txDuration"] = duration_s
    return one


def workspace_copy(root: Path) -> Path:
    """The broker workspace laid out as in the repository (its network file names the contract by
    a path relative to the workspace), in a folder of this run."""
    copy = root / "workloads" / "caliper" / "broker"
    shutil.copytree(BROKER_WORKSPACE, copy, ignore=shutil.ignore_patterns("__pycache__", "vs-caliper.yaml"))
    shutil.copytree(REPO / "workloads" / "contracts", root / "workloads" / "contracts")
    return copy


def network_at(workspace: Path, url: str) -> Path:
    path = workspace / "networks" / "ganache.json"
    network = json.loads(path.read_text())
    network["ethereum"]["url"] = url
    path.write_text(json.dumps(network, indent=2))
    return path


def on_stub(folder: Path, tmp: Path, duration_s: float, caliper_rates: list[float], harness_rate: float | None
            ) -> tuple[list[Figures], float, float, float]:
    workspace = workspace_copy(tmp / "stub")
    caliper: list[Figures] = []
    with EthereumStub() as stub:
        ceiling, stub_us = stub_ceiling(stub)
        print(f"stub: its own ceiling {ceiling:,.0f} tx/s at {stub_us:.1f} µs of its CPU per transaction", flush=True)
        network = network_at(workspace, stub.ws_url)
        for rate in caliper_rates:
            bench = tmp / f"caliper-stub-{rate:g}.yaml"
            bench.write_text(yaml.safe_dump(bench_with([broker_round("reserve", "reserve.js", rate, duration_s)],
                                                       "stub")))
            print(f"caliper on the stub, asked {rate:,.0f} tx/s ...", flush=True)
            result = run_caliper(folder, workspace, network, bench, run_dir=tmp / f"caliper-stub-{rate:g}")
            caliper += caliper_figures(result, {"reserve": rate})
        best = max((f.achieved_tps or 0.0) for f in caliper)
        rate = harness_rate or 10 * best
        print(f"harness on the stub, asked {rate:,.0f} tx/s (10 x Caliper's {best:,.0f}) ...", flush=True)
        summary, meter = run_harness(workspace, network, bench_with(
            [broker_round("reserve", "reserve.py", rate, duration_s)], "stub"), tmp / "harness-stub")
    return caliper + harness_figures(summary, meter, {"reserve": rate}), ceiling, stub_us, rate


def on_ganache(folder: Path, tmp: Path, duration_s: float) -> list[Figures]:
    rounds = [broker_round("addNetworkProvider", "add-provider.{}", GANACHE_ROUNDS["addNetworkProvider"]["tps"],
                           count=GANACHE_ROUNDS["addNetworkProvider"]["txNumber"]),
              broker_round("getBestMatch", "get-best-match.{}", GANACHE_ROUNDS["getBestMatch"]["tps"], duration_s),
              broker_round("reserve", "reserve.{}", GANACHE_ROUNDS["reserve"]["tps"], duration_s)]
    asked = {name: spec["tps"] for name, spec in GANACHE_ROUNDS.items()}

    def rounds_for(extension: str) -> list[dict[str, Any]]:
        return [{**one, "workload": {**one["workload"], "module": one["workload"]["module"].format(extension)}}
                for one in rounds]

    workspace = workspace_copy(tmp / "ganache")
    deployer = [(DEPLOYER_KEY, 10**24)]
    with Ganache(tmp / "ganache-caliper", accounts=deployer) as chain:
        bench = tmp / "caliper-ganache.yaml"
        bench.write_text(yaml.safe_dump(bench_with(rounds_for("js"), "ganache")))
        print("caliper on ganache ...", flush=True)
        result = run_caliper(folder, workspace, network_at(workspace, chain.ws_url), bench,
                             run_dir=tmp / "caliper-ganache")
    figures = caliper_figures(result, asked)
    with Ganache(tmp / "ganache-harness", accounts=deployer) as chain:
        print("harness on ganache ...", flush=True)
        by_class = broker_round("reserve by class", "reserve.py", GANACHE_ROUNDS["reserve"]["tps"], duration_s,
                                cos={"fast-confirmation": 1, "best-effort": 1})
        summary, meter = run_harness(workspace, network_at(workspace, chain.ws_url),
                                     bench_with([*rounds_for("py"), by_class], "ganache"), tmp / "harness-ganache")
    asked["reserve by class"] = GANACHE_ROUNDS["reserve"]["tps"]
    classes = summary["rounds"][-1]["classes"]
    print("harness on ganache, reserve by class of service (Caliper has one gas price per run):")
    for slug, one in classes.items():
        latency = one["latency_ms"]
        print(f"  {slug:<18} {one['succeeded']:>6} confirmed  {one.get('throughput_tps') or 0:7.1f} tx/s  "
              f"p50 {latency.get('p50') or 0:8.1f} ms  p90 {latency.get('p90') or 0:8.1f} ms  "
              f"p99 {latency.get('p99') or 0:8.1f} ms")
    return figures + harness_figures(summary, meter, asked)


# -- the tables -------------------------------------------------------------------------------------

def _cell(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(title: str, figures: list[Figures]) -> None:
    print(f"\n{title}")
    header = (f"{'tool':<8}{'round':<19}{'asked/s':>9}{'sent/s':>9}{'got/s':>9}{'ok':>8}{'fail':>6}{'p50 ms':>9}"
              f"{'p99 ms':>9}{'lag99':>7}{'µs CPU/tx':>10}{'RSS MB':>8}")
    print(header)
    print("-" * len(header))
    for f in figures:
        print(f"{f.tool:<8}{f.round[:18]:<19}{_cell(f.asked_tps):>9}{_cell(f.sent_tps):>9}{_cell(f.achieved_tps, 1):>9}"
              f"{f.succeeded:>8}{f.failed:>6}{_cell(f.p50_ms, 1):>9}{_cell(f.p99_ms, 1):>9}"
              f"{_cell(f.lag_p99_ms, 2):>7}{_cell(f.worker_cpu_us_per_tx, 1):>10}{_cell(f.worker_peak_rss_mb):>8}")
    parents = {f.tool: (f.parent_cpu_s, f.parent_peak_rss_mb) for f in figures}
    print("CPU and RSS are the worker process's (start-up included, over every round of its run); the parent's: "
          + "; ".join(f"{tool} {cpu:.1f} CPU-s, {rss:,.0f} MB" for tool, (cpu, rss) in parents.items()))


def verdicts(stub: list[Figures], ceiling: float, harness_rate: float, ganache: list[Figures]) -> bool:
    caliper_stub = [f for f in stub if f.tool == "caliper"]
    ours = next(f for f in stub if f.tool == "harness")
    caliper_best = max(f.achieved_tps or 0.0 for f in caliper_stub)
    caliper_cpu = statistics.median(f.worker_cpu_us_per_tx for f in caliper_stub if f.worker_cpu_us_per_tx)
    sent_share = (ours.sent_tps or 0.0) / harness_rate
    target = 10 * caliper_best
    rate_met = harness_rate >= target and sent_share >= SENT_GOAL and (ours.lag_p99_ms or 1e9) <= LAG_GOAL_MS
    if ceiling < target:
        rate_met = (ours.sent_tps or 0.0) >= 0.9 * ceiling and (ours.lag_p99_ms or 1e9) <= LAG_GOAL_MS
    cpu_ratio = (ours.worker_cpu_us_per_tx or 1e9) / caliper_cpu
    print("\nverdicts")
    print(f"  stub, rate: Caliper's fixed-rate ceiling {caliper_best:,.0f} tx/s; the harness asked {harness_rate:,.0f} "
          f"({harness_rate / caliper_best:.1f}x) and sent {sent_share:.1%} of it, lag p99 {_cell(ours.lag_p99_ms, 2)} ms"
          + (f"; the stub's own ceiling is {ceiling:,.0f} tx/s, below 10x, so the goal is 90 % of it" if
             ceiling < target else "") + f": {'met' if rate_met else 'missed'}")
    print(f"  stub, CPU: {_cell(ours.worker_cpu_us_per_tx, 1)} µs per transaction against Caliper's "
          f"{caliper_cpu:,.1f} ({cpu_ratio:.2f}x; goal <= {CPU_GOAL:.2f}x): {'met' if cpu_ratio <= CPU_GOAL else 'missed'}")
    met_all = rate_met and cpu_ratio <= CPU_GOAL
    for name in GANACHE_ROUNDS:
        theirs = next((f for f in ganache if f.tool == "caliper" and f.round == name), None)
        mine = next((f for f in ganache if f.tool == "harness" and f.round == name), None)
        if theirs is None or mine is None or not theirs.achieved_tps:
            print(f"  ganache, {name}: no figure to compare")
            met_all = False
            continue
        difference = (mine.achieved_tps or 0.0) / theirs.achieved_tps - 1
        ok = abs(difference) <= SATURATION_GOAL
        met_all &= ok
        print(f"  ganache, {name}: saturation {mine.achieved_tps or 0:,.1f} tx/s against Caliper's "
              f"{theirs.achieved_tps:,.1f} ({difference:+.1%}; goal within {SATURATION_GOAL:.0%}): "
              f"{'met' if ok else 'missed'}")
    return met_all


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=positive_float, default=10.0, metavar="S",
                        help="seconds each timed round runs (default 10)")
    parser.add_argument("--caliper-rates", default="750,1500,3000", metavar="R,R,...",
                        help="fixed rates Caliper is asked on the stub (default 750,1500,3000)")
    parser.add_argument("--harness-rate", type=positive_float, default=None, metavar="R",
                        help="the harness's asked rate on the stub (default: 10x the most Caliper achieved)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR", help="keep the runs' folders under DIR")
    args = parser.parse_args()
    try:
        rates = [positive_float(r) for r in args.caliper_rates.split(",")]
    except argparse.ArgumentTypeError as error:
        parser.error(f"--caliper-rates: {error}")
    missing = ganache_missing()
    if missing:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 2
    folder = install_caliper()
    with tempfile.TemporaryDirectory(prefix="vs-caliper-") as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        stub, ceiling, _, harness_rate = on_stub(folder, tmp, args.duration, rates, args.harness_rate)
        ganache = on_ganache(folder, tmp, args.duration)
    print_table("(a) the instant stub: reserve, one worker each", stub)
    print_table("(b) ganache 7.9.2, instant mining: seed 004's broker, one worker each, asked over the chain's "
                "capacity", ganache)
    return 0 if verdicts(stub, ceiling, harness_rate, ganache) else 1


if __name__ == "__main__":
    sys.exit(main())
