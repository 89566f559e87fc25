"""What a load generator costs: the CPU and memory of a process and its descendants, sampled.

Both tools a benchmark compares are a parent with worker processes (Caliper's manager forks
``caliper.js launch worker``; a harness run spawns its workers with multiprocessing), so a meter
follows a whole tree and keeps the workers' share apart. CPU is each process's own user + system
time (a parent's children_* times would count its reaped workers again); an exited process keeps
its last sample, so up to one period of its CPU may be missed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import psutil

SAMPLE_S = 0.05              # a caller's sampling period
CHILDREN_EVERY = 10          # look for new processes every 10th sample (scanning /proc costs more)


@dataclass
class _Process:
    process: psutil.Process
    worker: bool
    cpu_s: float = 0.0
    rss: int = 0
    gone: bool = False


class ProcessMeter:
    """The tree under ``pid``; ``is_worker(cmdline)`` tells a worker process from the rest."""

    def __init__(self, pid: int, is_worker: Callable[[list[str]], bool]) -> None:
        self.root = pid
        self.is_worker = is_worker
        self.processes: dict[int, _Process] = {}
        self.peak_rss = 0
        self.worker_peak_rss = 0
        self.ticks = 0
        try:
            self.processes[pid] = _Process(psutil.Process(pid), False)
        except psutil.NoSuchProcess:
            pass

    def _find_children(self) -> None:
        try:
            children = self.processes[self.root].process.children(recursive=True)
        except (psutil.NoSuchProcess, KeyError):
            return
        for child in children:
            if child.pid not in self.processes:
                try:
                    worker = self.is_worker(child.cmdline())
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                self.processes[child.pid] = _Process(child, worker)

    def sample(self) -> None:
        if self.ticks % CHILDREN_EVERY == 0:
            self._find_children()
        self.ticks += 1
        total_rss = worker_rss = 0
        for entry in self.processes.values():
            if entry.gone:
                continue
            try:
                with entry.process.oneshot():
                    times = entry.process.cpu_times()
                    entry.cpu_s = times.user + times.system
                    # A zombie (exited, not yet reaped) still has its final CPU times.
                    rss = 0 if entry.process.status() == psutil.STATUS_ZOMBIE else entry.process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                entry.gone = True
                continue
            except psutil.AccessDenied:
                continue
            entry.rss = rss
            total_rss += rss
            worker_rss += rss if entry.worker else 0
        self.peak_rss = max(self.peak_rss, total_rss)
        self.worker_peak_rss = max(self.worker_peak_rss, worker_rss)

    def cpu(self) -> tuple[float, float]:
        """(all, workers only) CPU seconds so far."""
        return (sum(entry.cpu_s for entry in self.processes.values()),
                sum(entry.cpu_s for entry in self.processes.values() if entry.worker))

    @property
    def workers(self) -> int:
        return sum(entry.worker for entry in self.processes.values())
