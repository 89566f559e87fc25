"""One order of commits: sequence numbers, the durable log, and what each execution node has of it.

The control node's agreed results become commits here, one after the other: each gets the next
sequence number, and a batch of them is appended to the :class:`vdlt.commit_log.CommitLog` and
synced to disk (in a thread, while more results wait for the next batch: group commit) before any
execution node is sent one. So the order execution nodes apply is the log's order, and what the
log holds is all a node can ever need.

The sequencer also knows how far each execution node's chain goes (each answer says so), and
wakes whoever waits until a commit is in enough chains: a receipt says CONFIRMED only then
(ARCHITECTURE.md, I1).

Recent commits are kept in memory, up to ``memory_commits`` and ``memory_bytes``, for the links
to send; older ones are read back from the log for a node that is far behind.
"""
from __future__ import annotations

import asyncio
import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from protocol import ledger_pb2
from vdlt.commit_log import CommitLog

MEMORY_COMMITS = 20_000
MEMORY_BYTES = 64 << 20


class NotSequenced(RuntimeError):
    """The sequencer is halted: the commit was given no sequence number, nothing was applied."""


class LogWriteFailed(RuntimeError):
    """The log could not be written: the commit may or may not be on disk (an uncertain outcome)."""


@dataclass(order=True)
class _Waiter:
    sequence: int
    needed: int = field(compare=False)
    future: asyncio.Future[int] = field(compare=False)
    nodes: set[str] = field(default_factory=set, compare=False)


class Sequencer:
    def __init__(self, log: CommitLog, memory_commits: int = MEMORY_COMMITS, memory_bytes: int = MEMORY_BYTES,
                 on_new: Callable[[], None] = lambda: None) -> None:
        self.log = log
        self.memory_commits = memory_commits
        self.memory_bytes = memory_bytes
        self.on_new = on_new
        """Called when commits are released (the links send them)."""
        self.released_through = log.last_sequence
        """Commits through this sequence are in the log, on disk, and may be sent."""
        self._next = log.last_sequence + 1
        self._recent: deque[tuple[ledger_pb2.Commit, int]] = deque()
        self._recent_bytes = 0
        self._pending: list[tuple[ledger_pb2.Commit, asyncio.Future[ledger_pb2.Commit]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._waiters: list[_Waiter] = []
        self._release_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.node_sequences: dict[str, int] = {}
        self.halted = ""
        """Why the sequencer refuses to commit anything more (an execution node's chain holds other
        commits than the log): the control node then fails stop, it does not diverge."""

    @property
    def last_sequence(self) -> int:
        return self._next - 1

    # -- sequencing -----------------------------------------------------------------------------

    def commit(self, commit: ledger_pb2.Commit) -> asyncio.Future[ledger_pb2.Commit]:
        """Gives ``commit`` the next sequence number, at once (whoever checks it against the commits
        before it sees them all, written or not); the future resolves once it is in the log, on disk."""
        future: asyncio.Future[ledger_pb2.Commit] = asyncio.get_running_loop().create_future()
        if self.halted:
            future.set_exception(NotSequenced(self.halted))
            return future
        commit.sequence = self._next
        self._next += 1
        self._pending.append((commit, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="commit-log")
        return future

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self.log.append, [commit for commit, _ in batch])
            except Exception as error:  # noqa: BLE001 - a log that cannot be written stops commits
                self.halt(f"the control node's commit log cannot be written: {error}")
                failed, self._pending = batch + self._pending, []
                for _, future in failed:
                    future.set_exception(LogWriteFailed(self.halted))
                self._next = self.log.last_sequence + 1
                self._wake_released()
                return
            for commit, future in batch:
                self._remember(commit)
                if not future.done():
                    future.set_result(commit)
            self.released_through = batch[-1][0].sequence
            self._wake_released()
            self.on_new()

    def released(self, through: int) -> asyncio.Future[None]:
        """Resolves once commits through ``through`` are released (or the log failed)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.released_through >= through or self.halted or self._writer is None or self._writer.done():
            future.set_result(None)
        else:
            self._release_waiters.append((through, future))
        return future

    def _wake_released(self) -> None:
        waiting = []
        for through, future in self._release_waiters:
            if future.done():
                continue
            if through > self.released_through and not self.halted:
                waiting.append((through, future))
            else:
                future.set_result(None)
        self._release_waiters = waiting

    def _remember(self, commit: ledger_pb2.Commit) -> None:
        size = commit.ByteSize()
        self._recent.append((commit, size))
        self._recent_bytes += size
        while self._recent and (len(self._recent) > self.memory_commits or self._recent_bytes > self.memory_bytes):
            _, dropped = self._recent.popleft()
            self._recent_bytes -= dropped

    def adopt(self, commits: list[ledger_pb2.Commit]) -> None:
        """Commits an execution node's chain holds beyond the log's end, taken into the log as
        they are (a control node whose log was lost or restored from an older copy). Only while
        nothing else is being sequenced."""
        assert not self._pending, "adopt only before sequencing"
        self.log.append(commits)
        for commit in commits:
            self._remember(commit)
        self._next = self.log.last_sequence + 1
        self.released_through = self.log.last_sequence
        self.on_new()

    def halt(self, reason: str) -> None:
        if not self.halted:
            self.halted = reason

    # -- what the links send ----------------------------------------------------------------------

    def commits_after(self, after: int, count: int, max_bytes: int) -> list[ledger_pb2.Commit]:
        """Released commits after sequence ``after``: at most ``count`` of them and ``max_bytes``
        together (but at least one), from memory when they are recent, else from the log."""
        through = min(self.released_through, after + count)
        if through <= after:
            return []
        first_recent = self._recent[0][0].sequence if self._recent else self.released_through + 1
        if after + 1 >= first_recent:
            start = after + 1 - first_recent
            commits, size = [], 0
            for index in range(start, start + (through - after)):
                commit, commit_size = self._recent[index]
                if commits and size + commit_size > max_bytes:
                    break
                commits.append(commit)
                size += commit_size
            return commits
        commits, size = [], 0
        for commit in self.log.read(after, through):
            commit_size = commit.ByteSize()
            if commits and size + commit_size > max_bytes:
                break
            commits.append(commit)
            size += commit_size
        return commits

    # -- how far each execution node's chain goes -------------------------------------------------

    def node_reached(self, node_id: str, last_sequence: int, block_height: int) -> None:
        self.node_sequences[node_id] = last_sequence
        if self.halted:
            return  # a node's chain may hold other commits than the log: it confirms nothing more
        reached = bisect.bisect_right(self._waiters, _Waiter(last_sequence, 0, None))  # type: ignore[arg-type]
        for waiter in self._waiters[:reached]:
            waiter.nodes.add(node_id)
            if len(waiter.nodes) >= waiter.needed and not waiter.future.done():
                waiter.future.set_result(block_height)
        # Only the waiters this node reached can be done (or given up on): the rest stay as they are.
        self._waiters[:reached] = [w for w in self._waiters[:reached] if not w.future.done()]

    def in_chains(self, sequence: int, needed: int) -> asyncio.Future[int]:
        """Resolves (to a block height) once ``needed`` execution nodes hold ``sequence``."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(sequence, needed, future,
                         {node for node, last in self.node_sequences.items() if last >= sequence})
        if len(waiter.nodes) >= needed and not self.halted:
            future.set_result(0)
        else:
            bisect.insort(self._waiters, waiter)  # a waiter given up on (cancelled) goes at the next reach
        return future
