"""What the benchmark scripts share: a scratch local testbed, and running rounds on it."""
from __future__ import annotations

import argparse
import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from harness import testbed, tls
from harness.benchmark import load_benchmark
from harness.inventory import Inventory, load_inventory
from harness.loadgen.engine import Engine, RoundResult

REPO = Path(__file__).resolve().parent.parent
KV_MODULE = REPO / "workloads" / "modules" / "kv.py"


@contextlib.contextmanager
def local_testbed(policy: dict[str, Any] | None = None, use_tls: bool = False) -> Iterator[tuple[Inventory, Path]]:
    """A local testbed of its own (free ports, temp files), stopped afterwards; with mutual TLS
    between all its parties when ``use_tls``."""
    with tempfile.TemporaryDirectory(prefix="vdlt-bench-") as tmp:
        directory = testbed.scratch_local_inventory(Path(tmp) / "inventory", use_tls=use_tls)
        if policy is not None:
            (directory / "policy.yaml").write_text(yaml.safe_dump(policy))
            (directory / "group_vars").mkdir()
            (directory / "group_vars" / "control.yml").write_text("vdlt_policy_file: policy.yaml\n")
        inventory = load_inventory(directory)
        testbed.up(inventory)
        testbed.wait_for_selection(inventory)
        try:
            yield inventory, Path(tmp)
        finally:
            testbed.down(inventory)


def run_rounds(inventory: Inventory, work_dir: Path, rounds: list[dict[str, Any]], workers: int = 2,
               send_window_ms: float | None = None) -> list[RoundResult]:
    """The rounds on the testbed; ``send_window_ms`` None keeps the harness's default."""
    path = work_dir / f"bench-{len(list(work_dir.glob('bench-*.yaml')))}.yaml"
    options: dict[str, Any] = {"number": workers}
    if send_window_ms is not None:
        options["sendWindowMs"] = send_window_ms
    path.write_text(yaml.safe_dump({"test": {"name": path.stem, "workers": options, "rounds": rounds}}))
    benchmark = load_benchmark(path)
    endpoints = [n.endpoint for n in inventory.by_role("control")]
    with Engine(benchmark, endpoints, "bench", work_dir / "records", tls=tls.controller_files(inventory)) as engine:
        return [engine.run_round(spec) for spec in benchmark.rounds]


@dataclass(frozen=True)
class LadderStep:
    rate: float
    throughput: float
    success: float
    latency_ms: dict[str, Any]
    lag_ms: dict[str, Any]


def rate_ladder(inventory: Inventory, work_dir: Path, rates: list[float], seconds: float = 6) -> Iterator[LadderStep]:
    """A warm-up, then one best-effort key-value round per fixed rate, as each one ends."""
    run_rounds(inventory, work_dir, [kv_round("warm-up", 200, 2, {"best-effort": 1})])
    for rate in rates:
        (result,) = run_rounds(inventory, work_dir, [kv_round(f"rate-{rate:g}", rate, seconds, {"best-effort": 1})])
        total = result.total.summary()
        yield LadderStep(rate, total["throughput_tps"] or 0.0, total["succeeded"] / max(total["submitted"], 1),
                         total["latency_ms"], total["lag_ms"])


def kv_round(label: str, tps: float, seconds: float, cos: dict[str, float], operation: str = "put") -> dict[str, Any]:
    return {
        "label": label, "txDuration": seconds, "timeout": 10,
        "rateControl": {"type": "fixed-rate", "opts": {"tps": tps}},
        "workload": {"module": str(KV_MODULE), "arguments": {"operation": operation, "keys": 100_000}},
        "cos": cos,
    }


def positive_float(text: str) -> float:
    """A command-line number above zero (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not above zero")
    return value


def positive_int(text: str) -> int:
    """A command-line whole number above zero (an argparse type)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not above zero")
    return value
