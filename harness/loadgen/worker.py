"""One worker process's share of one round.

The worker follows its rate controller open loop: every transaction has an intended send
instant, latency is measured from it, and the actual send instant is kept as lag. After the
last send it waits at most the round's per-transaction timeout; whatever is still unanswered
then becomes a timeout, so a dead or stalled target never hangs a round.

Records reach the run folder while the round runs (at most a second after their receipt, see
:mod:`harness.records`), so a harness that is killed keeps all but the last second of them.

A worker stops early when it is told to (the controller's stop event: a signal, or another
worker's failure) and when the process that started it is gone, whatever ended it (SIGKILL,
the OOM killer): it stops sending, waits briefly for receipts, writes its records and exits.
"""
from __future__ import annotations

import asyncio
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

from harness.config.benchmark import RoundSpec
from harness.connectors import Connector, connector_class
from harness.connectors.base import CONFIRMED, TIMEOUT, Outcome, Request
from harness.loadgen.cos_mix import worker_sequence
from harness.loadgen.rate_control import ControllerContext, LoadState, build_controller
from harness.loadgen.tx_log import SLUGS, TransactionLog
from harness.loadgen.workload import (TransactionContext, WorkloadFailure, WorkloadModule, load_workload_module,
                                      wants_context)
from harness.store.records import RecordWriter
from protocol.tls import TlsFiles

PROGRESS_INTERVAL_S = 0.5
# At high rates many transactions are due at once; yield to the event loop every so often so
# receipts are read while the schedule is being caught up.
_YIELD_EVERY = 64
# How often decided transactions are written to the run folder, and in slices of how many rows
# (each slice holds the event loop for about a millisecond).
RECORD_INTERVAL_S = 1.0
RECORD_SLICE = 200
# How often a worker looks whether it was told to stop, and how long it then waits for receipts
# of what it already sent.
STOP_POLL_S = 0.1
STOP_GRACE_S = 0.5
# A worker whose parent is gone exits after this long even if it cannot finish cleanly.
ORPHAN_EXIT_S = 3.0
STOPPED_REASON = "no receipt before the run was stopped"
# Preparing ahead stops this long before the next transaction is due, so it never makes it late.
PREPARE_MARGIN_NS = 200_000


@dataclass(frozen=True)
class WorkerJob:
    run_token: str
    round: RoundSpec
    worker_index: int
    worker_count: int
    endpoint: str
    connector: str
    start_at_ns: int
    records_path: Path
    # Mutual TLS to the control node, when the testbed uses it.
    tls: TlsFiles | None = None
    # See Benchmark.send_window_ms.
    send_window_ns: int = 0
    # What the run's connector prepared for its workers (Connector.prepare_run), with this
    # worker's index and the round's mix: plain data, as it crosses to the worker's process.
    connector_options: dict[str, Any] | None = None


@dataclass(frozen=True)
class WorkerProgress:
    round_index: int
    worker_index: int
    per_class: dict[str, tuple[int, int, int]]
    """class slug -> (submitted, succeeded, failed) so far."""


class StopFlag(Protocol):
    def is_set(self) -> bool: ...

    def set(self) -> None: ...


_progress_queue: Any = None
_stop: StopFlag = threading.Event()


def init_worker_process(progress_queue: Any, stop: StopFlag | None = None) -> None:
    """Where this process's workers report progress (anything with ``put(WorkerProgress)``) and
    the flag that tells them to stop.

    The ProcessPoolExecutor initializer: a queue or an event can only reach a pool worker this
    way. In a process started by multiprocessing it also watches the parent."""
    global _progress_queue, _stop
    _progress_queue = progress_queue
    if stop is not None:
        _stop = stop
    parent = multiprocessing.parent_process()
    if parent is not None:
        # A terminal's ^C reaches the whole process group; the controller decides for its workers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=_exit_with_parent, args=(parent.sentinel,), name="parent-watch", daemon=True).start()


def _exit_with_parent(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    _stop.set()
    time.sleep(ORPHAN_EXIT_S)
    os._exit(1)


_loop: asyncio.AbstractEventLoop | None = None


def run_worker(job: WorkerJob) -> TransactionLog:
    """Runs the job and writes its records to ``job.records_path``; returns its log. A workload
    module that raises ends the job in :class:`WorkloadFailure`, after its records are written."""
    global _loop
    # One event loop for every round this process runs, never closed: a connection given up on
    # at a round's end (receipts still streaming in) may still hear from gRPC after it, and gRPC
    # hands that to the loop the call was made on; a closed loop turns it into a traceback.
    if _loop is None:
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop.run_until_complete(_Worker(job).run())


class _Worker:
    def __init__(self, job: WorkerJob) -> None:
        self.job = job
        spec = job.round
        self.timeout_ns = int(spec.timeout_s * 1e9)
        self.log = TransactionLog()
        self.writer = RecordWriter(job.records_path)
        self.tx_prefix = f"{job.run_token}.{spec.index}.{job.worker_index}."
        # Live counts per class for progress: (submitted, succeeded, failed), not trimmed ones only.
        self.progress = {share.slug: [0, 0, 0] for share in spec.cos_mix}
        self.outstanding: dict[str, int] = {}
        self.all_answered = asyncio.Event()
        self.completion = asyncio.Event()
        self.completed = 0
        self.succeeded = 0
        self.stopped = False
        self.cos_values = [share.cos.to_int() for share in spec.cos_mix]
        self.connector: Connector | None = None
        # Requests drawn from the workload before they are due, for the connector to prepare:
        # (class share, request), the next one to send first.
        self.ahead: deque[tuple[int, Request]] = deque()
        self.with_context = True
        # One write at a time: a periodic write and the last one must not interleave their rows.
        self.record_lock = asyncio.Lock()

    def on_outcome(self, outcome: Outcome) -> None:
        index = self.outstanding.pop(outcome.tx_id, None)
        if index is None:
            return  # already declared a timeout
        decided = time.time_ns()
        status = outcome.status
        if decided - self.log.intended[index] > self.timeout_ns:
            status = TIMEOUT
        self._finish(index, status, decided, outcome.cos_given, outcome.execution_nodes, outcome.reason,
                     outcome.block_height, outcome.ref)

    def _finish(self, index: int, status: str, decided: int, cos_given: int, nodes: tuple[str, ...],
                reason: str, block: int = 0, ref: str = "") -> None:
        self.log.finish(index, status, decided, cos_given, nodes, reason, block, ref)
        self.completed += 1
        counts = self.progress[SLUGS[self.log.cos_asked[index]]]
        if status == CONFIRMED:
            self.succeeded += 1
            counts[1] += 1
        else:
            counts[2] += 1
        self.completion.set()
        if not self.outstanding:
            self.all_answered.set()

    def _fail(self, stage: str, error: BaseException) -> WorkloadFailure:
        spec = self.job.round
        return WorkloadFailure(
            f"workload module {spec.workload_module.name} failed in round {spec.label!r} ({stage}, worker "
            f"{self.job.worker_index}): {type(error).__name__}: {error}", traceback.format_exc())

    async def run(self) -> TransactionLog:
        job, spec = self.job, self.job.round
        connector = connector_class(job.connector)(job.endpoint, job.tls, spec.timeout_s, job.connector_options)
        self.connector = connector
        await connector.start(self.on_outcome)
        failure: WorkloadFailure | None = None
        workload: WorkloadModule | None = None
        try:
            workload = load_workload_module(spec.workload_module)
            workload.initialize_workload_module(job.worker_index, job.worker_count, spec.index,
                                                dict(spec.workload_arguments), connector, {})
        except Exception as error:  # noqa: BLE001 - user code may fail in any way
            failure = self._fail("initialize_workload_module", error)
        progress = asyncio.create_task(self._report_progress())
        recorder = asyncio.create_task(self._record_periodically())
        try:
            if workload is not None and failure is None:
                sending = asyncio.create_task(self._send_all(workload, connector))
                watcher = asyncio.create_task(self._watch_stop(sending))
                try:
                    await sending
                except asyncio.CancelledError:
                    if not self.stopped:
                        raise
                except WorkloadFailure as error:
                    failure = error
                finally:
                    watcher.cancel()
                await self._await_outstanding(STOP_GRACE_S if self.stopped or failure else None)
        finally:
            progress.cancel()
            self._report_now()
            if workload is not None:
                try:
                    workload.cleanup_workload_module()
                except Exception as error:  # noqa: BLE001 - user code may fail in any way
                    failure = failure or self._fail("cleanup_workload_module", error)
            await connector.stop()
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)
            await self._write_records(final=True)
        if failure is not None:
            raise failure
        return self.log

    async def _watch_stop(self, sending: asyncio.Task[None]) -> None:
        while not _stop.is_set():
            await asyncio.sleep(STOP_POLL_S)
        self.stopped = True
        sending.cancel()

    def _my_count(self) -> int | None:
        total = self.job.round.tx_number
        if total is None:
            return None
        w, n = self.job.worker_index, self.job.worker_count
        return total // n + (1 if w < total % n else 0)

    async def _send_all(self, workload: WorkloadModule, connector: Connector) -> None:
        job, spec = self.job, self.job.round
        context = ControllerContext(job.worker_index, job.worker_count, spec.index, spec.tx_number,
                                    spec.tx_duration_s, spec.base_dir)
        controller = build_controller(spec.rate_type, spec.rate_opts, context)
        classes = worker_sequence([s.weight for s in spec.cos_mix], job.worker_index, job.worker_count)
        self.with_context = wants_context(workload)
        count = self._my_count()
        duration = spec.tx_duration_s
        source = f"loadgen/worker-{job.worker_index}"
        index = 0
        since_yield = 0
        try:
            while count is None or index < count:
                now = time.time_ns()
                elapsed = (now - job.start_at_ns) / 1e9
                if duration is not None and elapsed >= duration:
                    break
                state = LoadState(elapsed, len(self.outstanding), self.completed, self.succeeded)
                offset = controller.next_offset(index, state)
                if offset is None:  # closed loop: wait for a completion (or the end of the round)
                    self.completion.clear()
                    limit = None if duration is None else max(duration - elapsed, 0)
                    try:
                        await asyncio.wait_for(self.completion.wait(), limit)
                    except TimeoutError:
                        pass
                    since_yield = 0
                    continue
                if math.isinf(offset) or (duration is not None and offset >= duration):
                    if duration is not None:  # a txDuration round lasts its duration, even when idle
                        await asyncio.sleep(max(job.start_at_ns / 1e9 + duration - time.time(), 0))
                    break
                intended = job.start_at_ns + int(offset * 1e9)
                if intended > now:
                    # What a connector prepares ahead (signs) is done while waiting, not when due.
                    self._prepare_ahead(workload, connector, classes, index, count, source, intended)
                    now = time.time_ns()
                if intended > now:
                    # One message per wake-up: sending every transaction on its own costs the
                    # worker and the control node a gRPC message each, which at thousands per
                    # second takes the cores the system under test needs.
                    await asyncio.sleep((max(intended, now + job.send_window_ns) - now) / 1e9)
                    since_yield = 0
                elif since_yield >= _YIELD_EVERY:
                    await asyncio.sleep(0)
                    since_yield = 0
                self._send(workload, connector, index, intended, classes, source, offset, context)
                index += 1
                since_yield += 1
        finally:
            controller.finish()

    def _request(self, workload: WorkloadModule, share: int, index: int) -> Request:
        """The workload module's ``index``-th request, of the mix's ``share``-th class."""
        spec = self.job.round
        try:
            if self.with_context:
                return workload.submit_transaction(TransactionContext(
                    spec.cos_mix[share].cos.service_class, self.cos_values[share], self.job.worker_index, index,
                    spec.index))
            return workload.submit_transaction()  # type: ignore[call-arg]
        except Exception as error:  # noqa: BLE001 - user code may fail in any way
            raise self._fail("submit_transaction", error) from error

    def _prepare_ahead(self, workload: WorkloadModule, connector: Connector, classes: Iterator[int], index: int,
                       count: int | None, source: str, due_ns: int) -> None:
        """Asks the workload for the requests after ``index`` and lets the connector prepare
        them, up to ``connector.lookahead`` ahead of the one due at ``due_ns`` and not past it."""
        ahead = self.ahead
        next_index = index + len(ahead)
        while (len(ahead) < connector.lookahead and (count is None or next_index < count)
               and time.time_ns() < due_ns - PREPARE_MARGIN_NS):
            share = next(classes)
            request = self._request(workload, share, next_index)
            connector.prepare(f"{self.tx_prefix}{next_index}", self.cos_values[share], source, request)
            ahead.append((share, request))
            next_index += 1

    def _send(self, workload: WorkloadModule, connector: Connector, index: int, intended: int,
              classes: Iterator[int], source: str, offset: float, context: ControllerContext) -> None:
        """Sends the ``index``-th transaction (prepared already, or asked of the workload now)."""
        spec = self.job.round
        if self.ahead:
            share, request = self.ahead.popleft()
        else:
            share = next(classes)
            request = self._request(workload, share, index)
        cos = self.cos_values[share]
        tx_id = f"{self.tx_prefix}{index}"
        trimmed = bool(spec.trim) and (
            context.global_index(index) < spec.trim if spec.tx_number is not None else offset < spec.trim)
        self.log.add(cos, intended, time.time_ns(), trimmed)
        self.progress[SLUGS[cos]][0] += 1
        self.outstanding[tx_id] = index
        self.all_answered.clear()
        connector.submit(tx_id, cos, source, request)

    async def _await_outstanding(self, grace_s: float | None) -> None:
        """Waits for the receipts of what was sent: up to the round's timeout, whatever is left
        then being a timeout; or, when the round was stopped, up to ``grace_s``, whatever is
        left then staying undecided."""
        if not self.outstanding:
            return
        if grace_s is None:
            deadline = max(self.log.intended[i] for i in self.outstanding.values()) + self.timeout_ns
        else:
            deadline = time.time_ns() + int(grace_s * 1e9)
        while self.outstanding and (now := time.time_ns()) < deadline:
            if grace_s is None and _stop.is_set():
                # Told to stop while waiting for the last receipts (a round's timeout may be
                # minutes): the same short grace as a stop while sending.
                self.stopped, grace_s = True, STOP_GRACE_S
                deadline = min(deadline, now + int(grace_s * 1e9))
                continue
            try:
                await asyncio.wait_for(self.all_answered.wait(), min(STOP_POLL_S, (deadline - now) / 1e9))
            except TimeoutError:
                pass
        now = time.time_ns()
        for tx_id, index in list(self.outstanding.items()):
            del self.outstanding[tx_id]
            if grace_s is None:
                self._finish(index, TIMEOUT, now, -1, (), f"no receipt within {self.job.round.timeout_s:g} s",
                             ref=self.connector.ref_of(tx_id) if self.connector is not None else "")
            else:
                self.log.annotate(index, STOPPED_REASON)

    async def _record_periodically(self) -> None:
        while True:
            await asyncio.sleep(RECORD_INTERVAL_S)
            # Shielded: cancelling the loop at the end must not cut a write in half.
            await asyncio.shield(self._write_records(final=False))

    async def _write_records(self, final: bool) -> None:
        """Writes the transactions decided since the last write as one member of the records
        file; at the end, the undecided ones too."""
        async with self.record_lock:
            await self._write_records_now(final)

    async def _write_records_now(self, final: bool) -> None:
        indices = list(self.log.take_decided())
        if final:
            indices += self.log.undecided()
        if not indices:
            return
        for start in range(0, len(indices), RECORD_SLICE):
            self.writer.add(self.log.lines(indices[start:start + RECORD_SLICE], self.job.worker_index, self.tx_prefix))
            if not final:
                await asyncio.sleep(0)
        if final:
            self.writer.end_member()
        else:
            await asyncio.to_thread(self.writer.end_member)

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            self._report_now()

    def _report_now(self) -> None:
        if _progress_queue is None:
            return
        per_class = {slug: (c[0], c[1], c[2]) for slug, c in self.progress.items()}
        _progress_queue.put(WorkerProgress(self.job.round.index, self.job.worker_index, per_class))
