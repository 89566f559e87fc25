"""What the benchmark scripts share: a scratch local testbed, and running rounds on it."""
from __future__ import annotations

import argparse
import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from harness.config.benchmark import load_benchmark
from harness.provision import testbed
from harness.provision.inventory import Inventory, load_inventory
from harness.run.runner import RunOutcome, RunSettings, gather_hardware, run_benchmark
from harness.store.summary import RoundSummary
from harness.provision.local_copy import scratch_local_inventory

REPO = Path(__file__).resolve().parent.parent
KV_MODULE = REPO / "workloads" / "modules" / "kv.py"


@dataclass(frozen=True)
class LocalTestbed:
    inventory: Inventory
    work_dir: Path
    hardware: list[dict[str, Any]]
    """The nodes' hardware records, gathered once: every run on the testbed reuses them."""


@contextlib.contextmanager
def local_testbed(policy: dict[str, Any] | None = None, use_tls: bool = False) -> Iterator[LocalTestbed]:
    """A local testbed of its own (free ports, temp files), stopped afterwards; with mutual TLS
    between all its parties when ``use_tls``."""
    with tempfile.TemporaryDirectory(prefix="vdlt-bench-") as tmp:
        directory = scratch_local_inventory(Path(tmp) / "inventory", use_tls=use_tls)
        if policy is not None:
            (directory / "policy.yaml").write_text(yaml.safe_dump(policy))
            (directory / "group_vars").mkdir()
            (directory / "group_vars" / "control.yml").write_text("vdlt_policy_file: policy.yaml\n")
        inventory = load_inventory(directory)
        testbed.up(inventory)
        testbed.wait_for_selection(inventory)
        try:
            yield LocalTestbed(inventory, Path(tmp), gather_hardware(inventory))
        finally:
            testbed.down(inventory)


def run_rounds(bed: LocalTestbed, rounds: list[dict[str, Any]], workers: int = 2,
               send_window_ms: float | None = None) -> list[RoundSummary]:
    """The rounds on the testbed as it is (a node the script stopped stays stopped), through the
    harness's own run: each call is a run with its folder under the testbed's work directory.
    ``send_window_ms`` None keeps the harness's default."""
    return run(bed, rounds, workers, send_window_ms).summary.rounds


def run(bed: LocalTestbed, rounds: list[dict[str, Any]], workers: int = 2, send_window_ms: float | None = None,
        audit: bool = True) -> RunOutcome:
    """One run of ``rounds``, as :func:`run_rounds`; the whole outcome (summary, folder, audit)."""
    path = bed.work_dir / f"bench-{len(list(bed.work_dir.glob('bench-*.yaml')))}.yaml"
    options: dict[str, Any] = {"number": workers}
    if send_window_ms is not None:
        options["sendWindowMs"] = send_window_ms
    path.write_text(yaml.safe_dump({"test": {"name": path.stem, "workers": options, "rounds": rounds}}))
    return run_benchmark(load_benchmark(path), bed.inventory, hardware=bed.hardware,
                         settings=RunSettings(results_dir=bed.work_dir / "runs", bring_up=False, audit=audit))


@dataclass(frozen=True)
class LadderStep:
    rate: float
    throughput: float
    success: float
    latency_ms: dict[str, Any]
    lag_ms: dict[str, Any]


def rate_ladder(bed: LocalTestbed, rates: list[float], seconds: float = 6) -> Iterator[LadderStep]:
    """A warm-up, then one best-effort key-value round per fixed rate, as each one ends."""
    run_rounds(bed, [kv_round("warm-up", 200, 2, {"best-effort": 1})])
    for rate in rates:
        (result,) = run_rounds(bed, [kv_round(f"rate-{rate:g}", rate, seconds, {"best-effort": 1})])
        total = result.total
        yield LadderStep(rate, total.throughput_tps or 0.0, total.succeeded / max(total.submitted, 1),
                         total.latency_ms, total.lag_ms)


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
