"""Making whole the folder of a run whose harness died without a word (SIGKILL, a power cut).

Such a folder's summary still says ``running``, with the round that was running and the rounds
before it. :func:`recover` turns the running round into a partial round computed from the records
that reached disk, and marks the run ``incomplete``; ``harness report`` and ``harness results
push`` call it first, so both work on such a folder. A run whose harness still runs is left as it is.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Callable

import psutil

from harness.loadgen.metrics import class_figures, stats_from_records, total_of
from harness.store.folder import RunFolder, iso_to_ns
from harness.store.records import iter_records
from harness.store.summary import COMPLETE, INCOMPLETE, RUNNING, RoundSummary, RunSummary


def open_run_folder(path: Path, warn: Callable[[str], None]) -> RunFolder:
    """The run folder at ``path``, made whole first if its harness died mid-run; ``warn`` is told
    when the run did not complete."""
    folder = RunFolder.open(path)
    summary = recover(folder)
    if summary.status != COMPLETE:
        warn(f"{path}: the run is {summary.status}" + (f" ({summary.stopped_by})" if summary.stopped_by else ""))
    return folder


def recover(folder: RunFolder) -> RunSummary:
    summary = folder.read_summary()
    if summary.status != RUNNING or still_running(summary):
        return summary
    if summary.running_round is not None:
        header, started_at = summary.running_round
        paths = folder.round_record_files(header.index)
        per_class = stats_from_records(paths, [c.slug for c in header.classes])
        started_ns = iso_to_ns(started_at)
        ended_ns = max((max(r.decided_ns, r.sent_ns) for r in iter_records(paths)), default=started_ns)
        summary.rounds.append(RoundSummary.judged(
            header, class_figures(per_class), total_of(per_class.values()).figures(), started_at, (ended_ns - started_ns) / 1e9,
            summary.benchmark.send_window_ms, [folder.relative(p) for p in paths], partial=True))
        summary.running_round = None
    summary.status = INCOMPLETE
    summary.stopped_by = "the harness process ended without finishing the run (killed, or the machine stopped)"
    folder.write_summary(summary)
    return summary


def still_running(summary: RunSummary) -> bool:
    """Whether the harness process that runs this run is alive on this machine."""
    process = summary.harness_process
    if process.get("host") != platform.node() or not process.get("pid"):
        return False
    try:
        candidate = psutil.Process(process["pid"])
        cmdline = " ".join(candidate.cmdline())
        born = candidate.create_time()
    except psutil.Error:
        return False
    # The pid of a process that started after the run did is another process's.
    return ("harness" in cmdline and born <= iso_to_ns(summary.started_at) / 1e9 + 1
            and candidate.pid != os.getpid())
