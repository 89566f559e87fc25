"""The run folder: the local store every run writes first, and the source of truth for reports.

``summary.json`` is rewritten (atomically) when a round starts and when it ends, with the run's
``status``: ``running`` while the harness works on it, then ``complete``, ``interrupted`` (a
signal stopped it), ``failed`` (an error did) or, for a run whose harness process died without
a word (SIGKILL, a power cut), ``incomplete`` once :func:`recover` has read it. A round that
did not end is marked ``partial`` and its figures are those of the records that reached disk.
"""
from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from harness import __version__
from harness.benchmark import Benchmark, RoundSpec
from harness.inventory import Inventory
from harness.loadgen.engine import RoundResult
from harness.loadgen.metrics import ClassStats, stats_from_records, total_of
from harness.manifest import build_manifest
from harness.records import TRANSACTIONS_DIR, iter_records, round_files
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
        return self.path / TRANSACTIONS_DIR

    @property
    def nodes_dir(self) -> Path:
        return self.path / "nodes"

    def write_manifest(self, benchmark: Benchmark, hardware: list[dict[str, Any]] | None,
                       absent: dict[str, str] | None = None) -> dict[str, Any]:
        manifest = build_manifest(self.run_id, benchmark.name, self.path, self.inventory, hardware, absent)
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
                      status: str, export: dict[str, Any] | None = None, running_round: RoundSpec | None = None,
                      absent: dict[str, str] | None = None, stopped_by: str | None = None) -> dict[str, Any]:
        inventory = self.inventory
        absent = absent or {}
        summary = {
            "run_id": self.run_id,
            "status": status,
            "stopped_by": stopped_by,
            "harness_version": __version__,
            # Whose run it is while it is `running`: a reader can tell a live run from a dead one.
            "harness_process": {"pid": os.getpid(), "host": platform.node()},
            "benchmark": {"name": benchmark.name, "description": benchmark.description,
                          "source": str(benchmark.path), "workers": benchmark.workers,
                          "send_window_ms": benchmark.send_window_ms},
            "inventory": {
                "source": str(inventory.path) if inventory else None,
                "nodes": [{"name": n.name, "role": n.role, "endpoint": n.endpoint,
                           "hardware_profile": n.hardware_profile, "absent": absent.get(n.name)}
                          for n in inventory.nodes] if inventory else [],
            },
            "endpoints": self.endpoints,
            "started_at": iso_time(started_ns),
            "ended_at": iso_time(time.time_ns()),
            "definitions": DEFINITIONS,
            "rounds": [self._round(r, benchmark.send_window_ms) for r in rounds],
        }
        if running_round is not None:
            summary["running_round"] = {**round_header(running_round), "started_at": iso_time(time.time_ns())}
        if export is not None:
            summary["export"] = export
        _write_atomic(self.path / "summary.json", json.dumps(summary, indent=2) + "\n")
        return summary

    def _round(self, result: RoundResult, send_window_ms: float) -> dict[str, Any]:
        return round_entry(round_header(result.spec), result.per_class, result.started_ns, result.ended_ns,
                           send_window_ms, [str(p.relative_to(self.path)) for p in result.records if p.exists()],
                           result.partial)


def round_header(spec: RoundSpec) -> dict[str, Any]:
    """What a round is, known before it runs."""
    return {
        "index": spec.index,
        "label": spec.label,
        "description": spec.description,
        "tx_number": spec.tx_number,
        "tx_duration_s": spec.tx_duration_s,
        "rate_control": {"type": spec.rate_type, "opts": spec.rate_opts},
        "cos_mix": {s.slug: s.weight for s in spec.cos_mix},
        "trim": spec.trim,
        "slo": [slo_to_json(slo) for slo in spec.slos],
    }


def round_entry(header: dict[str, Any], per_class: dict[str, ClassStats], started_ns: int, ended_ns: int,
                send_window_ms: float, records: list[str], partial: bool) -> dict[str, Any]:
    """A round as summary.json holds it: what it was, and its figures."""
    total_summary = total_of(per_class.values()).summary()
    entry = {
        **header,
        "started_at": iso_time(started_ns),
        "duration_s": (ended_ns - started_ns) / 1e9,
        "partial": partial,
        "classes": {slug: stats.summary() for slug, stats in sorted(per_class.items(), key=_class_order)},
        "total": total_summary,
        "generator": generator_verdict(total_summary, send_window_ms),
        "records": records,
    }
    entry["slo_results"] = evaluate(entry)
    return entry


def read_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())


def recover(run_dir: Path) -> dict[str, Any]:
    """The run's summary; for a run whose harness process died while it was ``running``, first
    made whole from what reached disk: the round that was running becomes a partial round
    computed from its records, and the run is marked ``incomplete``."""
    summary = read_summary(run_dir)
    if summary.get("status") != "running" or _still_running(summary):
        return summary
    running = summary.pop("running_round", None)
    if running is not None:
        paths = round_files(run_dir, running["index"])
        per_class = stats_from_records(paths, list(running["cos_mix"]))
        started_ns = iso_to_ns(running["started_at"])
        ended_ns = max((max(r.decided_ns, r.sent_ns) for r in iter_records(paths)), default=started_ns)
        summary["rounds"].append(round_entry(
            {k: v for k, v in running.items() if k != "started_at"}, per_class, started_ns, ended_ns,
            summary["benchmark"].get("send_window_ms", 0.0), [str(p.relative_to(run_dir)) for p in paths], True))
    summary["status"] = "incomplete"
    summary["stopped_by"] = "the harness process ended without finishing the run (killed, or the machine stopped)"
    _write_atomic(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _still_running(summary: dict[str, Any]) -> bool:
    process = summary.get("harness_process") or {}
    if process.get("host") != platform.node() or not process.get("pid"):
        return False
    try:
        candidate = psutil.Process(process["pid"])
        cmdline = " ".join(candidate.cmdline())
        born = candidate.create_time()
    except psutil.Error:
        return False
    # The pid of a process that started after the run did is another process's.
    return "harness" in cmdline and born <= iso_to_ns(summary["started_at"]) / 1e9 + 1 and candidate.pid != os.getpid()


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


def iso_time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, timezone.utc).isoformat(timespec="milliseconds")


def iso_to_ns(iso: str) -> int:
    moment = datetime.fromisoformat(iso)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40] or "run"
