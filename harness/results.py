"""The run folder: the local store every run writes first, and the source of truth for reports."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import __version__
from harness.benchmark import Benchmark
from harness.inventory import Inventory
from harness.loadgen.engine import RoundResult
from harness.loadgen.metrics import ClassStats
from harness.manifest import build_manifest
from harness.slo import evaluate, generator_verdict, slo_to_json
from vdlt.cos import ServiceClass

DEFAULT_RESULTS_DIR = Path("results")
DEFINITIONS = {
    "latency": "intended send time to receipt, confirmed transactions only (no coordinated omission)",
    "lag": "actual send time minus intended send time; up to the workers' send window by design",
    "send_rate_tps": "submitted / (last send - first send)",
    "throughput_tps": "confirmed / (last confirmation - first intended send)",
}


@dataclass
class RunFolder:
    run_id: str
    token: str
    path: Path
    inventory: Inventory | None
    endpoints: list[str]

    @classmethod
    def create(cls, results_dir: Path, benchmark: Benchmark, inventory: Inventory | None,
               endpoints: list[str]) -> RunFolder:
        token = secrets.token_hex(4)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        run_id = f"{stamp}-{_safe(benchmark.name)}-{token}"
        path = results_dir / run_id
        path.mkdir(parents=True)
        shutil.copyfile(benchmark.path, path / "benchmark.yaml")
        if inventory is not None:
            _copy_inventory(inventory, path / "inventory")
        return cls(run_id, token, path, inventory, endpoints)

    @property
    def records_dir(self) -> Path:
        return self.path / "transactions"

    @property
    def nodes_dir(self) -> Path:
        return self.path / "nodes"

    def write_manifest(self, benchmark: Benchmark, hardware: list[dict[str, Any]] | None) -> dict[str, Any]:
        manifest = build_manifest(self.run_id, benchmark.name, self.path, self.inventory, hardware)
        _write_atomic(self.path / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        return manifest

    def write_histograms(self, result: RoundResult) -> Path:
        """The round's latency and lag histograms per class, in HdrHistogram's standard compressed
        encoding (base64), so percentiles can be recomputed or merged across runs exactly."""
        directory = self.path / "histograms"
        directory.mkdir(exist_ok=True)
        path = directory / f"round-{result.spec.index}.json"
        classes = {slug: {"latency_us": stats.latency.encode().decode(), "lag_us": stats.lag.encode().decode()}
                   for slug, stats in [*result.per_class.items(), ("all", result.total)]}
        _write_atomic(path, json.dumps({"round": result.spec.label, "unit": "microseconds", "classes": classes},
                                       indent=2) + "\n")
        return path

    def remove(self) -> None:
        """For a run that could not start: no folder is left that looks like a run."""
        shutil.rmtree(self.path)

    def write_summary(self, benchmark: Benchmark, rounds: list[RoundResult], started_ns: int,
                      status: str, export: dict[str, Any] | None = None) -> dict[str, Any]:
        inventory = self.inventory
        summary = {
            "run_id": self.run_id,
            "status": status,
            "harness_version": __version__,
            "benchmark": {"name": benchmark.name, "description": benchmark.description,
                          "source": str(benchmark.path), "workers": benchmark.workers,
                          "send_window_ms": benchmark.send_window_ms},
            "inventory": {
                "source": str(inventory.path) if inventory else None,
                "nodes": [{"name": n.name, "role": n.role, "endpoint": n.endpoint,
                           "hardware_profile": n.hardware_profile} for n in inventory.nodes] if inventory else [],
            },
            "endpoints": self.endpoints,
            "started_at": _iso(started_ns),
            "ended_at": _iso(time.time_ns()),
            "definitions": DEFINITIONS,
            "rounds": [self._round(r, benchmark.send_window_ms) for r in rounds],
        }
        if export is not None:
            summary["export"] = export
        _write_atomic(self.path / "summary.json", json.dumps(summary, indent=2) + "\n")
        return summary

    def _round(self, result: RoundResult, send_window_ms: float) -> dict[str, Any]:
        spec = result.spec
        total = result.total.summary()
        entry = {
            "index": spec.index,
            "label": spec.label,
            "description": spec.description,
            "tx_number": spec.tx_number,
            "tx_duration_s": spec.tx_duration_s,
            "rate_control": {"type": spec.rate_type, "opts": spec.rate_opts},
            "cos_mix": {s.slug: s.weight for s in spec.cos_mix},
            "started_at": _iso(result.started_ns),
            "duration_s": (result.ended_ns - result.started_ns) / 1e9,
            "trim": spec.trim,
            "classes": {slug: stats.summary() for slug, stats in sorted(result.per_class.items(), key=_class_order)},
            "total": total,
            "generator": generator_verdict(total, send_window_ms),
            "slo": [slo_to_json(slo) for slo in spec.slos],
            "records": [str(p.relative_to(self.path)) for p in result.records],
        }
        entry["slo_results"] = evaluate(entry)
        return entry


def _class_order(item: tuple[str, ClassStats]) -> int:
    return -int(ServiceClass.from_slug(item[0]))


def _copy_inventory(inventory: Inventory, target: Path) -> None:
    target.mkdir(parents=True)
    shutil.copyfile(inventory.hosts_file, target / inventory.hosts_file.name)
    for sub in ("group_vars", "host_vars"):
        if (inventory.directory / sub).is_dir():
            shutil.copytree(inventory.directory / sub, target / sub)


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).isoformat(timespec="milliseconds")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40] or "run"
