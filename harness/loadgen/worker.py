"""One worker process's share of one round.

The worker follows its rate controller open loop: every transaction has an intended send
instant, latency is measured from it, and the actual send instant is kept as lag. After the
last send it waits at most the round's per-transaction timeout; whatever is still unanswered
then becomes a timeout, so a dead or stalled target never hangs a round.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.benchmark import RoundSpec
from harness.connectors import CONNECTORS, Connector
from harness.connectors.base import CONFIRMED, TIMEOUT, Outcome
from harness.loadgen.cos_mix import worker_sequence
from harness.loadgen.rate_control import ControllerContext, LoadState, build_controller
from harness.loadgen.tx_log import SLUGS, TransactionLog
from harness.loadgen.workload import load_workload_module
from vdlt.tls import TlsFiles

PROGRESS_INTERVAL_S = 0.5
# At high rates many transactions are due at once; yield to the event loop every so often so
# receipts are read while the schedule is being caught up.
_YIELD_EVERY = 64


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


@dataclass(frozen=True)
class WorkerProgress:
    round_index: int
    worker_index: int
    per_class: dict[str, tuple[int, int, int]]
    """class slug -> (submitted, succeeded, failed) so far."""


_progress_queue: Any = None


def init_worker_process(progress_queue: Any) -> None:
    """Where this process's workers report progress (anything with ``put(WorkerProgress)``).

    The ProcessPoolExecutor initializer: a queue can only reach a pool worker this way."""
    global _progress_queue
    _progress_queue = progress_queue


def run_worker(job: WorkerJob) -> TransactionLog:
    """Runs the job and writes its records to ``job.records_path``; returns its log."""
    return asyncio.run(_Worker(job).run())


class _Worker:
    def __init__(self, job: WorkerJob) -> None:
        self.job = job
        spec = job.round
        self.timeout_ns = int(spec.timeout_s * 1e9)
        self.log = TransactionLog()
        self.tx_prefix = f"{job.run_token}.{spec.index}.{job.worker_index}."
        # Live counts per class for progress: (submitted, succeeded, failed), not trimmed ones only.
        self.progress = {share.slug: [0, 0, 0] for share in spec.cos_mix}
        self.outstanding: dict[str, int] = {}
        self.all_answered = asyncio.Event()
        self.completion = asyncio.Event()
        self.completed = 0
        self.succeeded = 0

    def tx_id(self, index: int) -> str:
        return f"{self.tx_prefix}{index}"

    def on_outcome(self, outcome: Outcome) -> None:
        index = self.outstanding.pop(outcome.tx_id, None)
        if index is None:
            return  # already declared a timeout
        decided = time.time_ns()
        status = outcome.status
        if decided - self.log.intended[index] > self.timeout_ns:
            status = TIMEOUT
        self._finish(index, status, decided, outcome.cos_given, outcome.execution_nodes, outcome.reason)

    def _finish(self, index: int, status: str, decided: int, cos_given: int, nodes: tuple[str, ...],
                reason: str) -> None:
        self.log.finish(index, status, decided, cos_given, nodes, reason)
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

    async def run(self) -> TransactionLog:
        job, spec = self.job, self.job.round
        workload = load_workload_module(spec.workload_module)
        connector = CONNECTORS[job.connector](job.endpoint, job.tls)
        await connector.start(self.on_outcome)
        workload.initialize_workload_module(job.worker_index, job.worker_count, spec.index,
                                            dict(spec.workload_arguments), connector, {})
        progress = asyncio.create_task(self._report_progress())
        try:
            await self._send_all(workload, connector)
            await self._await_outstanding()
        finally:
            progress.cancel()
            self._report_now()
            workload.cleanup_workload_module()
            await connector.stop()
        self.log.write_csv(self.job.records_path, self.job.worker_index, self.tx_id)
        return self.log

    def _my_count(self) -> int | None:
        total = self.job.round.tx_number
        if total is None:
            return None
        w, n = self.job.worker_index, self.job.worker_count
        return total // n + (1 if w < total % n else 0)

    async def _send_all(self, workload: Any, connector: Connector) -> None:
        job, spec = self.job, self.job.round
        context = ControllerContext(job.worker_index, job.worker_count, spec.index, spec.tx_number,
                                    spec.tx_duration_s, spec.base_dir)
        controller = build_controller(spec.rate_type, spec.rate_opts, context)
        classes = worker_sequence([s.weight for s in spec.cos_mix], job.worker_index, job.worker_count)
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
                    # One message per wake-up: sending every transaction on its own costs the
                    # worker and the control node a gRPC message each, which at thousands per
                    # second takes the cores the system under test needs.
                    await asyncio.sleep((max(intended, now + job.send_window_ns) - now) / 1e9)
                    since_yield = 0
                elif since_yield >= _YIELD_EVERY:
                    await asyncio.sleep(0)
                    since_yield = 0
                self._send(workload, connector, index, intended, spec.cos_mix[next(classes)].cos.to_int(), source,
                           offset, context)
                index += 1
                since_yield += 1
        finally:
            controller.finish()

    def _send(self, workload: Any, connector: Connector, index: int, intended: int, cos: int, source: str,
              offset: float, context: ControllerContext) -> None:
        spec = self.job.round
        request = workload.submit_transaction()
        tx_id = f"{self.tx_prefix}{index}"
        trimmed = bool(spec.trim) and (
            context.global_index(index) < spec.trim if spec.tx_number is not None else offset < spec.trim)
        self.log.add(cos, intended, time.time_ns(), trimmed)
        self.progress[SLUGS[cos]][0] += 1
        self.outstanding[tx_id] = index
        self.all_answered.clear()
        connector.submit(tx_id, cos, source, request)

    async def _await_outstanding(self) -> None:
        if not self.outstanding:
            return
        deadline = max(self.log.intended[i] for i in self.outstanding.values()) + self.timeout_ns
        remaining = (deadline - time.time_ns()) / 1e9
        try:
            await asyncio.wait_for(self.all_answered.wait(), max(remaining, 0))
        except TimeoutError:
            pass
        now = time.time_ns()
        for tx_id, index in list(self.outstanding.items()):
            del self.outstanding[tx_id]
            self._finish(index, TIMEOUT, now, -1, (), f"no receipt within {self.job.round.timeout_s:g} s")

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            self._report_now()

    def _report_now(self) -> None:
        if _progress_queue is None:
            return
        per_class = {slug: (c[0], c[1], c[2]) for slug, c in self.progress.items()}
        _progress_queue.put(WorkerProgress(self.job.round.index, self.job.worker_index, per_class))
