"""Points to the results database while a run goes on, without losing one.

The run hands points over as they come (node samples every interval, a round's transactions and
figures when the round ends); one writer thread sends them in batches of up to ``BATCH`` lines
at least every ``flush_interval_s``. A batch the database does not take is written to
``RUN_DIR/spool/`` at once; while anything is spooled, new batches join the spool (in order) and
every ``retry_interval_s`` the oldest spooled batch is tried again, so a database that is
restarted mid-run receives everything once it is back. What is still spooled when the run ends
is reported, and ``harness results push RUN_DIR`` sends the whole run again (same points, same
timestamps, so nothing is duplicated).

The lines are the ones :func:`harness.export.schema.run_points` makes from the finished folder,
so the live copy and a later push are the same points.
"""
from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.export.config import InfluxConfig
from harness.export.schema import NodeTags, audit_points, round_points, saturation_points
from harness.export.tally import ExportTally
from harness.export.writers import BATCH, ExportError, Writer
from harness.store.folder import RunFolder
from harness.store.manifest import run_labels
from harness.store.summary import RoundSummary, RunSummary

_CLOSE = object()


@dataclass
class _SpooledBatch:
    """A batch on disk only: a long outage costs disk, not memory."""
    path: Path
    counts: Counter[str]


class LiveExport:
    def __init__(self, config: InfluxConfig, folder: RunFolder, manifest: dict[str, Any],
                 flush_interval_s: float = 1.0, retry_interval_s: float = 2.0) -> None:
        self.folder = folder
        self.spool_dir = folder.spool_dir
        self.writer = Writer(config)
        self.tally = ExportTally(config.url, config.bucket, self.writer.protocol, "live")
        self.node_tags = NodeTags(manifest)
        # The run's benchmark, campaign and cell, as `harness results push` reads them from the folder.
        self.labels = run_labels(manifest)
        self.manifest = manifest
        self.flush_interval_s = flush_interval_s
        self.retry_interval_s = retry_interval_s
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._spool: list[_SpooledBatch] = []
        self._spool_number = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="live-export", daemon=True)
        self._thread.start()

    # -- producers (any thread) -------------------------------------------------------------

    def add_sample(self, sample: dict[str, Any]) -> None:
        self._add(self.node_tags.points(sample))

    def add_round(self, summary: RunSummary, round_summary: RoundSummary) -> None:
        self._add(round_points(self.folder, summary, round_summary, self.labels))

    def add_audit(self, summary: RunSummary) -> None:
        self._add(audit_points(summary, self.labels))

    def add_saturation(self, summary: RunSummary) -> None:
        """The last saturation search's findings (call after each search round)."""
        self._add(saturation_points(summary, self.labels, self.manifest, summary.saturation[-1:]))

    def _add(self, points: Iterable[tuple[str, str]]) -> None:
        # Handed over a batch at a time, so the writer sends while the rest is still being made.
        chunk: list[tuple[str, str]] = []
        for point in points:
            chunk.append(point)
            if len(chunk) >= BATCH:
                self._hand_over(chunk)
                chunk = []
        if chunk:
            self._hand_over(chunk)

    def _hand_over(self, chunk: list[tuple[str, str]]) -> None:
        with self._lock:
            self.tally.produced.update(m for m, _ in chunk)
        self._inbox.put(chunk)

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        batch: list[tuple[str, str]] = []
        next_flush = time.monotonic() + self.flush_interval_s
        next_retry = 0.0
        closing = False
        while not closing or batch:
            timeout = max(next_flush - time.monotonic(), 0.0)
            try:
                item = self._inbox.get(timeout=timeout) if not closing else None
            except queue.Empty:
                item = None
            if item is _CLOSE:
                closing = True
            elif item:
                batch.extend(item)
            now = time.monotonic()
            if self._spool and now >= next_retry:
                self._retry_spool()
                next_retry = now + self.retry_interval_s
            if len(batch) >= BATCH or now >= next_flush or closing:
                while batch:
                    chunk, batch = batch[:BATCH], batch[BATCH:]
                    self._send(chunk)
                next_flush = now + self.flush_interval_s
        if self._spool:
            self._retry_spool()

    def _send(self, chunk: list[tuple[str, str]]) -> None:
        lines, counts = [line for _, line in chunk], Counter(m for m, _ in chunk)
        if not self._spool:
            try:
                self.writer.write(lines)
                with self._lock:
                    self.tally.acknowledged.update(counts)
                return
            except Exception as error:  # noqa: BLE001 - whatever the client raises, the batch is kept
                self.tally.errors.append(_describe(error))
        # Behind a spooled batch, a new one waits its turn: the spool keeps the order of the run.
        self._spool_number += 1
        self.spool_dir.mkdir(exist_ok=True)
        path = self.spool_dir / f"live-{self._spool_number:06d}.lp"
        path.write_text("\n".join(lines) + "\n")
        self._spool.append(_SpooledBatch(path, counts))
        with self._lock:
            self.tally.spooled.update(counts)

    def _retry_spool(self) -> None:
        while self._spool:
            oldest = self._spool[0]
            try:
                self.writer.write(oldest.path.read_text().splitlines())
            except Exception as error:  # noqa: BLE001 - whatever the client raises, the batch is kept
                self.tally.errors.append(_describe(error))
                return
            oldest.path.unlink()
            self._spool.pop(0)
            with self._lock:
                self.tally.acknowledged.update(oldest.counts)
        if self.spool_dir.exists() and not any(self.spool_dir.iterdir()):
            self.spool_dir.rmdir()

    def close(self, wait_s: float | None = None) -> ExportTally:
        """Sends what is queued, tries the spool once more, and writes ``export.json``. With
        ``wait_s`` (a run that was stopped), it waits no longer for the database than that:
        what was not acknowledged by then counts as pending, and ``harness results push``
        sends the run again from its folder."""
        self._inbox.put(_CLOSE)
        self._thread.join(wait_s)
        if self._thread.is_alive():
            with self._lock:
                self.tally.pending.update(self.tally.produced - self.tally.acknowledged)
                self.tally.errors.append(f"the run stopped before the database took everything (waited {wait_s:g} s)")
        else:
            self.writer.close()
            for spooled in self._spool:
                self.tally.pending.update(spooled.counts)
        self.folder.export_path.write_text(json.dumps(self.tally.to_json(), indent=2) + "\n")
        return self.tally


def _describe(error: Exception) -> str:
    return str(error) if isinstance(error, ExportError) else f"{type(error).__name__}: {error}"
