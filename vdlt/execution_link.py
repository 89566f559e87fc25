"""A control node's connection to one execution node.

Executes and commits travel over one long-lived bidirectional stream. While ``window`` batches
are in flight (one by default), new work accumulates and leaves together as the next batch, so
batches grow with load while a lightly loaded link still forwards at once. Measured on the
local inventory: one batch in flight gave 2,400-2,560 confirmed/s, four gave 1,500-1,700/s,
because gRPC's per-message cost, not our code, dominates an execution node's CPU. A link just
answered holds its next batch until the results it brought are agreed and their commits are in
the log (a few turns of the event loop and one log write, at most COMMIT_WAIT_S), so a result's
commit leaves on the next batch rather than the one after.

Commits come from the control node's :class:`vdlt.sequencer.Sequencer`, in its order. The link
sends each node what follows the last commit the node said its chain holds, whatever happened
meanwhile: a stream starts with an empty batch whose answer says how far the chain goes; a node
that was away, restarted, lost the tail of its chain (a crash without fsync, a restored copy) or
skipped commits beyond a gap is simply sent what it lacks, from the sequencer's memory or, when
it is far behind, from the control node's log. Nothing is dropped and nothing read from another
node's chain. A node that is more than ``catch_up_lag`` commits behind is not chosen to execute
(:attr:`ExecutionLink.catching_up`): it would execute against an old state.

A batch is bounded by count and by bytes, so no burst of large transactions makes a message
gRPC refuses; a node that refuses a commit because its chain holds another one at that sequence
halts the sequencer (the control node fails stop rather than diverge).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass
from typing import AsyncIterator, Callable

import grpc

from protocol import ledger_pb2, ledger_pb2_grpc
from protocol.errors import HarnessError
from protocol.tls import TlsFiles, aio_channel
from vdlt.sequencer import Sequencer

log = logging.getLogger(__name__)
RECONNECT_DELAY_S = 0.5
# A read that takes longer ends.
READ_COMMITS_TIMEOUT_S = 300.0
# What one message may carry of commits, and as much of transactions to execute: with the
# largest transaction a control node takes (vdlt.policy.MAX_TRANSACTION_BYTES_LIMIT), a message
# stays well under gRPC's 4 MiB default, however large a burst's transactions are.
MAX_BATCH_BYTES = 1 << 20
CATCH_UP_LAG = 1024
# How long a trust change waits for a batch to ride on before it is sent on an empty one: the
# node's agent reports trust for people to read, and an empty batch at every change would hold
# the next batch of work back by a round trip (one batch is out at a time).
TRUST_IDLE_S = 0.5
# How many turns of the event loop an answered result takes to be agreed and handed to the
# sequencer (the answer's future, the agreement's wait, the control node's task), and how long a
# link waits at most for the log to release those commits before it sends the next batch.
AGREEMENT_TURNS = 3
COMMIT_WAIT_S = 0.005


class ExecutionUnavailable(HarnessError):
    """The execution node could not be reached or its stream broke."""


@dataclass(frozen=True)
class ExecutionOutcome:
    node_id: str
    result: ledger_pb2.ExecutionResult
    elapsed_s: float
    last_sequence: int = 0
    """The last commit in the node's chain when it executed: the state it read."""


@dataclass
class _Batch:
    executes: list[tuple[ledger_pb2.Transaction, asyncio.Future[ExecutionOutcome], float]]
    through: int
    """The last commit the batch carried (or the last before it)."""


class ExecutionLink:
    def __init__(self, node_id: str, address: str, sequencer: Sequencer,
                 trust_report: Callable[[], ledger_pb2.TrustReport] | None = None,
                 max_batch: int = 256, window: int = 1, tls: TlsFiles | None = None,
                 catch_up_lag: int = CATCH_UP_LAG, on_answer: Callable[[str, int], None] = lambda node, last: None
                 ) -> None:
        self.node_id = node_id
        self.address = address
        self.sequencer = sequencer
        self.tls = tls
        self.max_batch = max_batch
        self.catch_up_lag = catch_up_lag
        self._window_size = window
        self._trust_report = trust_report
        self.on_answer = on_answer
        """Told how far the node's chain goes at each answer (the control node looks for a chain
        that goes further than its own log)."""
        self.node_sequence: int | None = None
        """The last commit in the node's chain as its latest answer said (None: not known since
        the stream last broke)."""
        self._sent_through = 0
        self._held_through = 0
        """The furthest the node's chain ever went, as far as this link saw (a lost tail shows)."""
        self._behind = False
        self._trust_due = False
        """The node's trust changed since the last batch told it."""
        self._trust_urgent = False
        """It changed TRUST_IDLE_S ago and no batch has gone since: send an empty one."""
        self._trust_timer: asyncio.TimerHandle | None = None
        self._executes: list[tuple[ledger_pb2.Transaction, asyncio.Future[ExecutionOutcome], float]] = []
        self._in_flight: dict[int, _Batch] = {}
        self._wakeup = asyncio.Event()
        self._batch_ids = itertools.count(1)
        self._channel: grpc.aio.Channel | None = None
        self._task: asyncio.Task[None] | None = None
        # Which stream is current: bumped when one breaks (see _batches).
        self._stream = 0
        self.last_error = ""

    @property
    def catching_up(self) -> bool:
        """Whether the node is too far behind the log to execute anything now."""
        return self.node_sequence is None or self.sequencer.released_through - self.node_sequence > self.catch_up_lag

    @property
    def outstanding(self) -> int:
        """Executions sent or queued and not answered yet: this node's load as the control node sees it."""
        return len(self._executes) + sum(len(b.executes) for b in self._in_flight.values())

    def start(self) -> None:
        self._kick()

    def execute(self, tx: ledger_pb2.Transaction) -> asyncio.Future[ExecutionOutcome]:
        future: asyncio.Future[ExecutionOutcome] = asyncio.get_running_loop().create_future()
        self._executes.append((tx, future, time.monotonic()))
        self._kick()
        return future

    def kick(self) -> None:
        """New commits are released: send them."""
        self._kick()

    def _kick(self) -> None:
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"link-{self.node_id}")

    async def _batches(self, window: asyncio.Semaphore, stream: int):  # type: ignore[no-untyped-def]
        """The requests of one stream. gRPC keeps a broken stream's request iterator waiting where
        it was, so each one ends as soon as its stream is no longer the current one: otherwise it
        would take the next stream's work and lose it."""
        await window.acquire()
        yield self._send([], self._sent_through)  # its answer says how far the node's chain goes
        while True:
            await window.acquire()
            if stream != self._stream:
                return
            while not self._executes and not self._commits_due() and not self._trust_urgent:
                self._wakeup.clear()
                await self._wakeup.wait()
                if stream != self._stream:
                    return
            executes = self._take_executes()
            commits = (self.sequencer.commits_after(self._sent_through, self.max_batch * 4, MAX_BATCH_BYTES)
                       if self.node_sequence is not None else [])
            if commits:
                self._sent_through = commits[-1].sequence
            yield self._send(executes, self._sent_through, commits)

    def _take_executes(self) -> list[tuple[ledger_pb2.Transaction, asyncio.Future[ExecutionOutcome], float]]:
        """The next executes to send: at most ``max_batch`` and MAX_BATCH_BYTES (at least one)."""
        count, size = 0, 0
        for tx, _, _ in self._executes[: self.max_batch]:
            size += tx.ByteSize()
            if count and size > MAX_BATCH_BYTES:
                break
            count += 1
        executes, self._executes = self._executes[:count], self._executes[count:]
        return executes

    def _commits_due(self) -> bool:
        return self.node_sequence is not None and self.sequencer.released_through > self._sent_through

    def _send(self, executes: list[tuple[ledger_pb2.Transaction, asyncio.Future[ExecutionOutcome], float]],
              through: int, commits: list[ledger_pb2.Commit] | None = None) -> ledger_pb2.ExecuteBatch:
        batch_id = next(self._batch_ids)
        self._in_flight[batch_id] = _Batch(executes, through)
        message = ledger_pb2.ExecuteBatch(batch_id=batch_id, transactions=[tx for tx, _, _ in executes],
                                          commits=commits or [])
        if self._trust_report is not None:
            message.trust.CopyFrom(self._trust_report())
        self._trust_due = self._trust_urgent = False
        return message

    def trust_changed(self) -> None:
        """The node's trust changed: it hears so with the next batch, or with an empty one when
        none has gone for TRUST_IDLE_S (its agent reports its trust as the control node last sent it)."""
        self._trust_due = True
        if self._trust_timer is None:
            self._trust_timer = asyncio.get_running_loop().call_later(TRUST_IDLE_S, self._trust_idle)

    def _trust_idle(self) -> None:
        self._trust_timer = None
        if self._trust_due:
            self._trust_urgent = True
            self._wakeup.set()

    async def read_commits(self, after_sequence: int, through_sequence: int = 0
                           ) -> AsyncIterator[list[ledger_pb2.Commit]]:
        """The commits in this node's chain after ``after_sequence`` through ``through_sequence``
        (0: its last), a message at a time."""
        if self._channel is None:
            self._channel = aio_channel(self.address, self.tls)
        request = ledger_pb2.ReadCommitsRequest(after_sequence=after_sequence, through_sequence=through_sequence)
        async for batch in ledger_pb2_grpc.ExecutionStub(self._channel).ReadCommits(request, timeout=READ_COMMITS_TIMEOUT_S):
            yield list(batch.commits)

    async def _run(self) -> None:
        while True:
            if self._channel is None:
                self._channel = aio_channel(self.address, self.tls)
            stub = ledger_pb2_grpc.ExecutionStub(self._channel)
            window = asyncio.Semaphore(self._window_size)
            try:
                async for reply in stub.ExecuteStream(self._batches(window, self._stream)):
                    batch = self._in_flight.pop(reply.batch_id, None)
                    if batch is not None:
                        self._settle(batch, reply)
                        if batch.executes:
                            await self._let_results_commit()
                    window.release()
                raise ExecutionUnavailable("stream closed by the node")
            except (grpc.aio.AioRpcError, ExecutionUnavailable) as error:
                self.last_error = _describe(error)
                self._stream_broke()
                await asyncio.sleep(RECONNECT_DELAY_S)

    def _settle(self, batch: _Batch, reply: ledger_pb2.ExecuteBatchResult) -> None:
        if reply.refused_sequence:
            self.sequencer.halt(f"execution node {self.node_id} refused commit {reply.refused_sequence}: "
                                f"{reply.refused_reason}")
            log.error("%s; the control node commits nothing more until it is restarted", self.sequencer.halted)
        previous, last = self.node_sequence, reply.last_sequence
        if reply.refused_sequence:
            last = min(last, reply.refused_sequence - 1)  # it holds another commit there: none of ours beyond
        self.node_sequence = last
        self.on_answer(self.node_id, last)
        if previous is None:
            self._first_answer(last)
        if last < batch.through or (previous is not None and last < previous):
            # The chain goes less far than what was sent (a gap, a lost tail): send on from where it ends.
            self._sent_through = last
        elif last > self._sent_through:
            self._sent_through = last  # it holds these already (from before this stream)
        self._held_through = max(self._held_through, last)
        if self._behind and last >= self.sequencer.released_through:
            self._behind = False
            log.info("execution node %s caught up through commit %d", self.node_id, last)
        self.sequencer.node_reached(self.node_id, last, reply.block_height)
        now = time.monotonic()
        for (_, future, queued_at), result in zip(batch.executes, reply.results):
            if not future.done():
                future.set_result(ExecutionOutcome(self.node_id, result, now - queued_at, reply.last_sequence))
        if self._commits_due():
            self._wakeup.set()

    async def _let_results_commit(self) -> None:
        """The results just answered are agreed and sequenced within a few turns of the event loop
        and one write of the log: the next batch waits for that (at most COMMIT_WAIT_S), so their
        commits ride on it instead of one round trip later (one batch is out at a time)."""
        for _ in range(AGREEMENT_TURNS):
            await asyncio.sleep(0)
        released = self.sequencer.released(self.sequencer.last_sequence)
        if not released.done():
            await asyncio.wait([released], timeout=COMMIT_WAIT_S)

    def _first_answer(self, last: int) -> None:
        """What a new stream's first answer tells about the node's chain, for the operator."""
        if last < self._held_through:
            log.warning("execution node %s's chain ends at commit %d, before commit %d it held (a crash without "
                        "fsync, or a restored copy): it is sent what it lost", self.node_id, last, self._held_through)
        lag = self.sequencer.released_through - last
        if lag > 0:
            self._behind = True
            log.info("execution node %s is %d commits behind the log (%d..%d): sending them", self.node_id, lag,
                     last + 1, self.sequencer.released_through)

    def _stream_broke(self) -> None:
        self._stream += 1
        reason = ExecutionUnavailable(f"execution node {self.node_id} at {self.address}: {self.last_error}")
        for batch in self._in_flight.values():
            for _, future, _ in batch.executes:
                if not future.done():
                    future.set_exception(reason)
        self._in_flight.clear()
        # Executions are not retried here (the control node decides what to do without this
        # node); commits are sent again from where the node's chain will say it ends.
        for _, future, _ in self._executes:
            if not future.done():
                future.set_exception(reason)
        self._executes = []
        self.node_sequence = None
        self._sent_through = 0

    async def close(self) -> None:
        self._stream += 1
        if self._task is not None:
            self._task.cancel()
        if self._channel is not None:
            await self._channel.close()


def _describe(error: Exception) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    return str(error)
