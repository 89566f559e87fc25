"""The run folder: the local store every run writes first, and the source of truth for reports.

This module owns its layout: every file's name, and the reading and writing of the run's summary
(typed in :mod:`harness.store.summary`). ``summary.json`` is rewritten atomically when a round
starts and when it ends. The per-transaction records are :mod:`harness.store.records`'s, the
node samples :mod:`harness.store.samples`'s, the manifest :mod:`harness.store.manifest`'s.

    RUN_DIR/
      summary.json        the run, its rounds and their figures (RunSummary)
      manifest.json       what ran with what
      benchmark.yaml      the benchmark as it ran;  inventory/  the inventory it ran on
      network.json        the network file it ran with (a system reached without an inventory)
      transactions/       round-R-worker-W.csv.gz, one row per transaction
      histograms/         round-R.json, HdrHistogram encodings per class
      nodes/              NODE.jsonl, each node's state samples
      rounds.csv, report.html   derived: `harness report` rebuilds them from the rest
      export.json, spool/ what the export to a results database did, and what waits to be sent
      errors.log          a workload module's traceback, when one raised
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.config.benchmark import Benchmark
from harness.provision.inventory import Inventory
from harness.store import records
from harness.store.manifest import build_manifest
from harness.store.summary import RunSummary
from protocol.errors import ConfigError

DEFAULT_RESULTS_DIR = Path("results")
SUMMARY = "summary.json"
MANIFEST = "manifest.json"
BENCHMARK_COPY = "benchmark.yaml"
NETWORK_COPY = "network.json"
INVENTORY_COPY = "inventory"
HISTOGRAMS = "histograms"
NODES = "nodes"
ROUNDS_CSV = "rounds.csv"
REPORT = "report.html"
EXPORT = "export.json"
SPOOL = "spool"
ERRORS_LOG = "errors.log"
AUDIT = "audit.json"


@dataclass
class RunFolder:
    path: Path
    token: str = ""
    """The run's short random part of its id; transaction ids start with it."""

    @property
    def run_id(self) -> str:
        return self.path.name

    @classmethod
    def create(cls, results_dir: Path, benchmark: Benchmark, inventory: Inventory | None,
               network: Path | None = None) -> RunFolder:
        token = secrets.token_hex(4)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = results_dir / f"{stamp}-{_safe(benchmark.name)}-{token}"
        path.mkdir(parents=True)
        shutil.copyfile(benchmark.path, path / BENCHMARK_COPY)
        if network is not None:
            shutil.copyfile(network, path / NETWORK_COPY)
        if inventory is not None:
            _copy_inventory(inventory, path / INVENTORY_COPY)
        return cls(path, token)

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """An existing run folder (a ConfigError when ``path`` is none)."""
        if not (path / SUMMARY).is_file():
            raise ConfigError(path, "", f"no {SUMMARY}: not a run folder")
        token = path.name.rsplit("-", 1)[-1]
        return cls(path, token if len(token) == 8 and all(c in "0123456789abcdef" for c in token) else "")

    # -- the files ---------------------------------------------------------------------------

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def records_dir(self) -> Path:
        return self.path / records.TRANSACTIONS_DIR

    @property
    def nodes_dir(self) -> Path:
        return self.path / NODES

    @property
    def rounds_csv_path(self) -> Path:
        return self.path / ROUNDS_CSV

    @property
    def report_path(self) -> Path:
        return self.path / REPORT

    @property
    def export_path(self) -> Path:
        return self.path / EXPORT

    @property
    def spool_dir(self) -> Path:
        return self.path / SPOOL

    @property
    def errors_log(self) -> Path:
        return self.path / ERRORS_LOG

    @property
    def audit_path(self) -> Path:
        return self.path / AUDIT

    def node_sample_files(self) -> list[Path]:
        return sorted(self.nodes_dir.glob("*.jsonl"))

    def round_record_files(self, round_index: int) -> list[Path]:
        return records.round_files(self.path, round_index)

    def record_files(self) -> list[Path]:
        """Every round's records files, a round that did not finish included."""
        return sorted(self.records_dir.glob("round-*-worker-*.csv.gz"))

    def round_records(self, round_index: int) -> list[records.TxRecord]:
        return records.read_records(self.round_record_files(round_index))

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.path))

    # -- reading and writing -------------------------------------------------------------------

    def read_summary(self) -> RunSummary:
        return RunSummary.from_json(json.loads(self.summary_path.read_text()))

    def write_summary(self, summary: RunSummary) -> None:
        write_atomic(self.summary_path, json.dumps(summary.to_json(), indent=2) + "\n")

    def read_manifest(self) -> dict[str, Any] | None:
        return json.loads(self.manifest_path.read_text()) if self.manifest_path.is_file() else None

    def write_manifest(self, benchmark: Benchmark, inventory: Inventory | None, hardware: list[dict[str, Any]] | None,
                       absent: dict[str, str] | None = None, ledger: dict[str, Any] | None = None,
                       campaign: dict[str, Any] | None = None) -> dict[str, Any]:
        manifest = build_manifest(self.run_id, benchmark.name, self.path, inventory, hardware, absent, ledger, campaign)
        write_atomic(self.manifest_path, json.dumps(manifest, indent=2) + "\n")
        return manifest

    def write_histograms(self, round_index: int, label: str, encoded: dict[str, tuple[bytes, bytes]]) -> Path:
        """A round's latency and lag histograms per class (and ``all``), in HdrHistogram's
        standard compressed encoding (base64), so percentiles can be recomputed or merged across
        runs exactly."""
        directory = self.path / HISTOGRAMS
        directory.mkdir(exist_ok=True)
        path = directory / f"round-{round_index}.json"
        classes = {slug: {"latency_us": latency.decode(), "lag_us": lag.decode()}
                   for slug, (latency, lag) in encoded.items()}
        write_atomic(path, json.dumps({"round": label, "unit": "microseconds", "classes": classes}, indent=2) + "\n")
        return path

    def read_audit(self) -> dict[str, Any] | None:
        return json.loads(self.audit_path.read_text()) if self.audit_path.is_file() else None

    def write_audit(self, audit: dict[str, Any]) -> None:
        write_atomic(self.audit_path, json.dumps(audit, indent=2) + "\n")

    def append_error(self, text: str) -> None:
        with self.errors_log.open("a") as out:
            out.write(text.rstrip("\n") + "\n")

    def remove(self) -> None:
        """For a run that could not start: no folder is left that looks like a run."""
        shutil.rmtree(self.path)


def _copy_inventory(inventory: Inventory, target: Path) -> None:
    target.mkdir(parents=True)
    shutil.copyfile(inventory.hosts_file, target / inventory.hosts_file.name)
    for sub in ("group_vars", "host_vars"):
        if (inventory.directory / sub).is_dir():
            shutil.copytree(inventory.directory / sub, target / sub)


def write_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
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
