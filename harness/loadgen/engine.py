"""Runs a benchmark's rounds: worker processes, a common start instant, merged statistics.

A round that is stopped early (``should_stop`` says so: a signal reached the run) or in which a
worker's workload module failed ends for every worker at once: they stop sending, write their
records and return. Such a round is *partial*, and its figures are computed from the records
that reached the run folder.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import queue
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.config.benchmark import Benchmark, RoundSpec
from harness.loadgen.metrics import ClassStats, class_stats, stats_from_records, total_of
from harness.loadgen.remote import RemoteWorkers
from harness.loadgen.worker import STOP_GRACE_S, STOP_POLL_S, WorkerJob, WorkerProgress, init_worker_process, run_worker
from harness.loadgen.workload import WorkloadFailure
from harness.store.records import worker_file
from protocol.tls import TlsFiles

# Workers start together this long after the round is handed out, so process start-up and
# connection set-up do not count as generator lag.
START_LEAD_S = 0.5
# From the second round on, the worker processes are up and only connect again: a shorter lead
# keeps the gaps between rounds (a saturation search's steps) short.
WARM_START_LEAD_S = 0.1
REMOTE_START_LEAD_S = 3.0
# How long stopped workers get to write their records and return before the round is closed
# with what reached the disk (a remote worker also needs an SSH round trip to be told).
STOPPED_WORKERS_WAIT_S = STOP_POLL_S + STOP_GRACE_S + 1.0
REMOTE_STOPPED_WORKERS_WAIT_S = 10.0

ProgressCallback = Callable[[RoundSpec, dict[str, tuple[int, int, int]]], None]


@dataclass
class RoundResult:
    spec: RoundSpec
    per_class: dict[str, ClassStats]
    started_ns: int
    ended_ns: int
    records: list[Path] = field(default_factory=list)
    partial: bool = False
    """The round was stopped before its end: its figures are those of what was recorded."""
    failures: list[WorkloadFailure] = field(default_factory=list)
    """Workload modules that raised during the round (the reason it was stopped)."""

    @property
    def total(self) -> ClassStats:
        return total_of(self.per_class.values())


class Engine:
    """Runs rounds on local worker processes, or on client nodes when given ``remote``."""

    def __init__(self, benchmark: Benchmark, endpoints: list[str], run_token: str, records_dir: Path,
                 remote: RemoteWorkers | None = None, tls: TlsFiles | None = None,
                 connector_options: dict[str, Any] | None = None) -> None:
        if not endpoints:
            raise ValueError("no control node endpoint to send to")
        self.benchmark = benchmark
        self.endpoints = endpoints
        self.run_token = run_token
        self.records_dir = records_dir
        self.remote = remote
        self.tls = tls
        self.connector_options = connector_options or {}
        context = multiprocessing.get_context("spawn")
        self.progress: multiprocessing.Queue[WorkerProgress] = context.Queue()
        self.stop_event = context.Event()
        self.pool = ProcessPoolExecutor(
            max_workers=benchmark.workers, mp_context=context,
            initializer=init_worker_process, initargs=(self.progress, self.stop_event),
        )
        # One thread per remote worker holds its SSH session for the round.
        self.threads = ThreadPoolExecutor(max_workers=benchmark.workers) if remote is not None else None
        self.rounds_started = 0

    def __enter__(self) -> Engine:
        # Start every worker process now, not inside the first round's timing.
        if self.remote is None:
            wait([self.pool.submit(time.sleep, 0.2) for _ in range(self.benchmark.workers)])
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()  # whatever still runs (an error in the caller) stops now
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.threads is not None:
            self.threads.shutdown(wait=True, cancel_futures=True)
        self.progress.close()

    def run_round(self, spec: RoundSpec, on_progress: ProgressCallback | None = None,
                  should_stop: Callable[[], bool] = lambda: False) -> RoundResult:
        self.stop_event.clear()
        workers = self.benchmark.workers
        lead_s = START_LEAD_S if self.rounds_started == 0 else WARM_START_LEAD_S
        self.rounds_started += 1
        start_at_ns = time.time_ns() + int(lead_s * 1e9)
        jobs = [
            WorkerJob(
                run_token=self.run_token, round=spec, worker_index=w, worker_count=workers,
                endpoint=self.endpoints[w % len(self.endpoints)], connector=self.benchmark.connector,
                start_at_ns=start_at_ns,
                records_path=worker_file(self.records_dir, spec.index, w), tls=self.tls,
                send_window_ns=int(self.benchmark.send_window_ms * 1e6),
                connector_options={**self.connector_options, "worker_index": w,
                                   "mix": [share.cos.to_int() for share in spec.cos_mix]},
            )
            for w in range(workers)
        ]
        futures: list[Future[dict[str, Any]]]
        if self.remote is not None and self.threads is not None:
            # Remote workers start after an SSH round trip and an upload: give them longer.
            start_at_ns = time.time_ns() + int(REMOTE_START_LEAD_S * 1e9)
            jobs = [dataclasses.replace(job, start_at_ns=start_at_ns) for job in jobs]
            futures = [self.threads.submit(self.remote.run_one, job, self.progress.put) for job in jobs]
        else:
            futures = [self.pool.submit(run_local_worker, job) for job in jobs]
        latest: dict[int, dict[str, tuple[int, int, int]]] = {}
        stopped = False
        while True:
            done, pending = wait(futures, timeout=0.25)
            self._drain_progress(spec, latest)
            if on_progress is not None and latest:
                on_progress(spec, _sum_progress(latest))
            if not pending:
                break
            if not stopped and (should_stop() or any(f.exception() is not None for f in done)):
                stopped = True
                self._stop(jobs)
                wait(futures, timeout=REMOTE_STOPPED_WORKERS_WAIT_S if self.remote else STOPPED_WORKERS_WAIT_S)
                break
        failures = [f.exception() for f in futures if f.done() and isinstance(f.exception(), WorkloadFailure)]
        for future in futures:
            error = future.exception() if future.done() else None
            if error is not None and not isinstance(error, WorkloadFailure):
                raise error
        if stopped or failures:
            classes = [share.slug for share in spec.cos_mix]
            per_class = stats_from_records([j.records_path for j in jobs if j.records_path.exists()], classes)
            return RoundResult(spec, per_class, start_at_ns, time.time_ns(), [j.records_path for j in jobs],
                               partial=True, failures=failures)  # type: ignore[arg-type]
        results = [future.result() for future in futures]
        if self.remote is None:  # a worker process's statistics cross the process boundary in wire form
            results = [{slug: ClassStats.from_wire(wire) for slug, wire in result.items()} for result in results]
        return self._merge(spec, start_at_ns, jobs, results)

    def _stop(self, jobs: list[WorkerJob]) -> None:
        """Tells every worker of the round to stop sending and wrap up."""
        self.stop_event.set()
        if self.remote is not None:
            self.remote.stop(jobs)

    def _merge(self, spec: RoundSpec, start_at_ns: int, jobs: list[WorkerJob],
               results: list[dict[str, ClassStats]]) -> RoundResult:
        per_class: dict[str, ClassStats] = {}
        for result in results:
            for slug, stats in result.items():
                per_class.setdefault(slug, ClassStats()).merge(stats)
        return RoundResult(spec, per_class, start_at_ns, time.time_ns(), [j.records_path for j in jobs])

    def _drain_progress(self, spec: RoundSpec, latest: dict[int, dict[str, tuple[int, int, int]]]) -> None:
        while True:
            try:
                update = self.progress.get_nowait()
            except queue.Empty:
                return
            if update.round_index == spec.index:
                latest[update.worker_index] = update.per_class


def run_local_worker(job: WorkerJob) -> dict[str, dict[str, Any]]:
    """A worker process's job: runs it and returns per-class statistics in wire form."""
    log = run_worker(job)
    stats = class_stats(log.stats_rows(), [share.slug for share in job.round.cos_mix])
    return {slug: s.to_wire() for slug, s in stats.items()}


def _sum_progress(latest: dict[int, dict[str, tuple[int, int, int]]]) -> dict[str, tuple[int, int, int]]:
    total: dict[str, list[int]] = {}
    for per_class in latest.values():
        for slug, counts in per_class.items():
            acc = total.setdefault(slug, [0, 0, 0])
            for i, value in enumerate(counts):
                acc[i] += value
    return {slug: (a[0], a[1], a[2]) for slug, a in total.items()}
