"""`harness results push RUN_DIR...`: a run folder's points, in batches; what fails is spooled.

A batch the server does not take is written to ``RUN_DIR/spool/`` and the push reports it; the
next push sends the whole run again (same points and timestamps, so nothing is duplicated) and
clears the spool when every batch is taken.
"""
from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor

from harness.export.config import InfluxConfig
from harness.export.schema import run_points
from harness.export.tally import ExportTally
from harness.export.writers import BATCH, ExportError, Writer
from harness.store.folder import RunFolder


def push(folder: RunFolder, config: InfluxConfig) -> ExportTally:
    writer = Writer(config)
    report = ExportTally(config.url, config.bucket, writer.protocol, "push")
    spool = folder.spool_dir
    for old in spool.glob("*.lp") if spool.exists() else []:
        old.unlink()
    batch: list[tuple[str, str]] = []
    sequence = 0

    def send(number: int, lines: list[str], counts: Counter[str]) -> None:
        try:
            writer.write(lines)
            report.acknowledged.update(counts)
        except ExportError as error:
            spool.mkdir(exist_ok=True)
            (spool / f"batch-{number:06d}.lp").write_text("\n".join(lines) + "\n")
            report.spooled.update(counts)
            report.errors.append(str(error))

    # One writer thread: the next batch is built while the server takes the previous one.
    pending: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            for measurement, line in run_points(folder):
                report.produced[measurement] += 1
                batch.append((measurement, line))
                if len(batch) >= BATCH:
                    if pending is not None:
                        pending.result()
                    sequence += 1
                    pending = pool.submit(send, sequence, [text for _, text in batch], Counter(m for m, _ in batch))
                    batch = []
            if pending is not None:
                pending.result()
            if batch:
                send(sequence + 1, [text for _, text in batch], Counter(m for m, _ in batch))
        finally:
            writer.close()
    if spool.exists() and not any(spool.iterdir()):
        spool.rmdir()
    report.pending.update(report.spooled)  # a push does not retry: what it spooled waits for the next one
    folder.export_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report
