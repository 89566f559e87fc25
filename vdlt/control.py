"""Control plane: classify, queue, select, execute on replicas, agree, commit, answer.

1. A transaction id seen before gets the first outcome of its commit (I3): it is executed and
   committed once; one that was not committed (dropped, refused for a read conflict, failed)
   is tried again. A transaction too large for any link is refused at once.
2. The CoS byte is parsed and the source may be re-classed (:mod:`vdlt.classify`); with mutual
   TLS the source is the caller's certificate, whatever the transaction claims.
3. The transaction waits in the scheduler (CBWFQ or FIFO); a full queue drops it, and so does
   the sender's timeout passing before the transaction leaves the queue (its sender has given
   up on it: executing it would only delay what waits behind it).
4. At most ``max_in_flight`` transactions are being executed at once (from leaving the
   scheduler to being sequenced); each is sent to the replicas :mod:`vdlt.selection` chooses for
   its class.
5. The replicas' answers must agree (:mod:`vdlt.agreement`: the quorum, forged answers, and the
   trust each answer earns or costs its node).
6. The agreed result is checked against what was committed since (a read of an older version
   than the latest commit of that key is a read conflict, as in Fabric's MVCC validation, for a
   refusal as much as for a write), then sequenced (:mod:`vdlt.sequencer`: the next sequence
   number, the control node's log on disk) and sent to every execution node in that order.
7. The receipt says CONFIRMED once the commit is in the chains of the class's quorum of
   execution nodes (I1); when that does not happen in time it says UNKNOWN, never a failure,
   since the commit is in the log and will reach them (I6).

At start, the control node hears from its execution nodes before it sequences anything: a chain
that goes further than its log (the log was lost, or restored from an older copy) is taken into
the log first, so a sequence number is never given twice. Until the consensus issue gives several
control nodes one log, a testbed has one control node (the harness refuses more).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import grpc

from protocol import ledger_pb2, ledger_pb2_grpc, node_agent_pb2
from protocol.errors import HarnessError
from protocol.tls import TlsFiles
from vdlt.agreement import Agreement
from vdlt.classify import Classification, classify
from vdlt.commit_log import CommitLog
from vdlt.cos import CosByte
from vdlt.execution_link import ExecutionLink, ExecutionOutcome
from vdlt.peers import ExecutionPeer
from vdlt.policy import Policy
from vdlt.scheduler import AsyncScheduler, QueueFull
from vdlt.selection import Selector
from vdlt.sequencer import LogWriteFailed, NotSequenced, Sequencer
from vdlt.state_watch import StateWatcher
from vdlt.trust import TrustBook

log = logging.getLogger(__name__)
Status = ledger_pb2.ReceiptStatus
# How long a starting control node waits to hear from its execution nodes before it sequences
# anything (one that does not answer by then cannot hold commits the others do not).
STARTUP_WAIT_S = 5.0
# How often the versions of keys no replica can read stale any more are forgotten.
PRUNE_EVERY = 4096

__all__ = ["ControlService", "ExecutionPeer", "read_conflict"]


@dataclass
class _Job:
    tx: ledger_pb2.Transaction
    classification: Classification
    receipt: ledger_pb2.Receipt
    done: asyncio.Future[ledger_pb2.Receipt]
    committed: bool = False
    """Its result is in the log: whatever happens next, it is not to be applied again."""
    slot: asyncio.Semaphore | None = None
    """Its place among the ``max_in_flight`` being executed, until :meth:`leave_execution`."""
    timeout_ms: int = 0
    """How long its sender waits for the receipt from when it was received (0: no limit)."""

    def leave_execution(self) -> None:
        """Its execution is over: the next transaction may be executed while this one's commit
        travels to the chains (the wait for the chains holds no execution node)."""
        if self.slot is not None:
            self.slot.release()
            self.slot = None


class ControlService(ledger_pb2_grpc.ControlServicer):
    def __init__(self, peers: list[ExecutionPeer], policy: Policy, data_dir: Path,
                 state_interval_s: float = 0.5, execution_timeout_s: float = 10.0,
                 tls: TlsFiles | None = None, sync_log: bool = True) -> None:
        if not peers:
            raise ValueError("a control node needs at least one execution node")
        self.policy = policy
        self.tls = tls
        self.execution_timeout_s = execution_timeout_s
        self.node_trust = TrustBook(policy.trust_half_life_s)
        self.source_trust = TrustBook(policy.trust_half_life_s)
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = CommitLog(data_dir, sync=sync_log)
        self.sequencer = Sequencer(self.log, memory_commits=policy.commit_backlog_limit, on_new=self._released)
        self.links = {p.node_id: ExecutionLink(p.node_id, p.address, self.sequencer,
                                               self._trust_report_for(p.node_id), tls=tls,
                                               on_answer=self._node_answered)
                      for p in peers}
        self.watcher = StateWatcher(peers, state_interval_s, tls)
        self.latency_ewma_s: dict[str, float] = {}
        self.selector = Selector(policy, self.watcher, self.node_trust,
                                 outstanding=lambda n: self.links[n].outstanding,
                                 latency_s=self.latency_ewma_s.get,
                                 catching_up=lambda n: self.links[n].catching_up)
        # Key -> sequence of the latest commit that wrote it: for read conflicts and forged reads.
        self.versions: dict[str, int] = {}
        self.agreement = Agreement(self.links, self.selector, self.node_trust, execution_timeout_s,
                                   self._observe_latency, self.versions.get)
        # Transaction id -> the future of the job deciding it, or once decided its receipt as bytes
        # (a window of 100,000 futures and messages is hundreds of MiB the garbage collector would
        # walk): the last `dedup_window` of them.
        self.known: OrderedDict[str, asyncio.Future[ledger_pb2.Receipt] | bytes] = OrderedDict()
        self.scheduler: AsyncScheduler[_Job] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._ahead: dict[str, int] = {}
        self._since_prune = 0
        self._pruned_through = 0
        """Versions written through this commit are forgotten: a result read at an older state
        cannot be checked, and is a read conflict."""
        self._committed_elsewhere: dict[str, bytes] = {}
        """Ids waiting in the queue that a chain taken into the log at start already holds."""
        self._unverified: set[str] = set()
        """Ids known from the log after a restart, not yet seen in enough chains to confirm a retry."""

    def start(self) -> None:
        self.watcher.start()
        self.scheduler = AsyncScheduler(self.policy)
        self._remember_recent_commits()
        for link in self.links.values():
            link.start()
        self._dispatcher = asyncio.create_task(self._dispatch(), name="dispatcher")

    def execution_views(self) -> list[node_agent_pb2.ExecutionNodeView]:
        """Each execution node as this control node sees it, for the agent's state reports."""
        views = []
        for node_id, view in self.watcher.views.items():
            reason = self.selector.unavailable(view)
            views.append(node_agent_pb2.ExecutionNodeView(
                node_id=node_id, selectable=not reason, reason=reason, trust=self._trust_report_for(node_id)(),
                outstanding=self.links[node_id].outstanding))
        return views

    def _trust_report_for(self, node_id: str):  # type: ignore[no-untyped-def]
        def report() -> ledger_pb2.TrustReport:
            entry = self.node_trust[node_id]
            return ledger_pb2.TrustReport(
                score=entry.score, success_evidence=entry.success, failure_evidence=entry.failure,
                agreements=entry.agreements, dissents=entry.dissents, timeouts=entry.timeouts)
        return report

    # -- the log, and the execution nodes' chains ---------------------------------------------

    def _released(self) -> None:
        for link in self.links.values():
            link.kick()

    def _remember_recent_commits(self) -> None:
        """After a restart: the ids and written keys of the log's recent commits."""
        after = max(0, self.log.last_sequence - self.policy.dedup_window)
        for commit in self.log.read(after):
            self._committed_before(commit)

    def _sequenced(self, commit: ledger_pb2.Commit) -> None:
        """The versions a sequenced commit writes: what later results are checked against."""
        for write in commit.writes:
            self.versions[write.key] = commit.sequence

    def _committed_before(self, commit: ledger_pb2.Commit) -> None:
        """A commit this control node did not decide since it started (from its log at a restart, or
        from a chain taken into the log): its versions, and its id for retries."""
        self._sequenced(commit)
        tx_id = commit.transaction.id
        earlier = self.known.get(tx_id)
        if isinstance(earlier, bytes):
            return
        receipt = ledger_pb2.Receipt(
            transaction_id=tx_id, cos_asked=commit.transaction.cos, cos_given=commit.cos_given or commit.transaction.cos,
            status=Status.RECEIPT_STATUS_CONFIRMED if commit.accepted else Status.RECEIPT_STATUS_REJECTED,
            reason=f"committed at sequence {commit.sequence} before the control node restarted",
            result_digest=commit.result_digest, sequence=commit.sequence)
        if earlier is None:
            self._know(tx_id, receipt.SerializeToString())
            self._unverified.add(tx_id)
        elif not earlier.done():
            self._committed_elsewhere[tx_id] = receipt.SerializeToString()  # a retry queued meanwhile

    def _retry_of_unverified(self, tx_id: str, stored: bytes) -> ledger_pb2.Receipt:
        """What a retry of a transaction committed before a restart is told: its outcome once the
        chains of its class's quorum hold it (I1), until then that it is uncertain."""
        receipt = ledger_pb2.Receipt.FromString(stored)
        class_policy = self.policy.classes[CosByte.parse(receipt.cos_given).service_class]
        needed = class_policy.quorum_of(class_policy.replicas)
        holding = sum(1 for last in self.sequencer.node_sequences.values() if last >= receipt.sequence)
        if holding >= needed and not self.sequencer.halted:
            self._unverified.discard(tx_id)
            return receipt
        return _finish(receipt, Status.RECEIPT_STATUS_UNKNOWN,
                       f"committed at sequence {receipt.sequence} before the control node restarted; not yet in "
                       f"the chains of {needed} execution node(s)")

    def _node_answered(self, node_id: str, last_sequence: int) -> None:
        if last_sequence > self.sequencer.last_sequence:
            if not self._ready.is_set():
                self._ahead[node_id] = last_sequence
            elif not self.sequencer.halted:
                self.sequencer.halt(f"execution node {node_id}'s chain goes to commit {last_sequence}, beyond "
                                    f"this control node's log ({self.sequencer.last_sequence}): another control "
                                    f"node commits to it")
                log.error("%s", self.sequencer.halted)
        if not self._ready.is_set() and all(link.node_sequence is not None for link in self.links.values()):
            self._ready.set()

    async def _started(self) -> None:
        """Until every execution node has said how far its chain goes (or a few seconds), and the
        commits a chain holds beyond the log are in the log."""
        try:
            await asyncio.wait_for(self._ready.wait(), STARTUP_WAIT_S)
        except TimeoutError:
            pass
        if self._ahead:
            node_id, through = max(self._ahead.items(), key=lambda item: item[1])
            try:
                await self._adopt(node_id, through)
            except (grpc.aio.AioRpcError, HarnessError) as error:
                self.sequencer.halt(f"execution node {node_id}'s chain goes beyond this control node's log, and "
                                    f"taking its commits into the log failed: {error}")
                log.error("%s", self.sequencer.halted)
        self._ready.set()

    async def _adopt(self, node_id: str, through: int) -> None:
        """Takes into the log the commits a node's chain holds beyond it."""
        after = self.sequencer.last_sequence
        log.warning("execution node %s's chain goes to commit %d, this control node's log to %d only (lost, or "
                    "restored from an older copy): taking commits %d..%d into the log from its chain",
                    node_id, through, after, after + 1, through)
        async for commits in self.links[node_id].read_commits(after, through):
            fresh = [c for c in commits if c.sequence > self.sequencer.last_sequence]
            if fresh:
                self.sequencer.adopt(fresh)
                for commit in fresh:
                    self._committed_before(commit)

    # -- intake ---------------------------------------------------------------------------

    def _know(self, tx_id: str, done: asyncio.Future[ledger_pb2.Receipt] | bytes) -> None:
        self.known[tx_id] = done
        while len(self.known) > self.policy.dedup_window:
            evicted, _ = self.known.popitem(last=False)
            self._unverified.discard(evicted)

    def admit(self, tx: ledger_pb2.Transaction, authenticated_source: str | None = None, timeout_ms: int = 0
              ) -> asyncio.Future[ledger_pb2.Receipt]:
        """Classifies and queues a transaction; the future resolves to its receipt. A transaction
        id seen before resolves to its first receipt (a retry is not applied twice). One still
        queued ``timeout_ms`` after now (when not 0) is dropped without being executed."""
        earlier = self.known.get(tx.id)
        if isinstance(earlier, bytes):
            if tx.id in self._unverified:
                return _resolved(self._retry_of_unverified(tx.id, earlier))
            return _resolved(ledger_pb2.Receipt.FromString(earlier))
        if earlier is not None:
            return earlier
        receipt = ledger_pb2.Receipt(transaction_id=tx.id, cos_asked=tx.cos)
        receipt.timings.received_ns = time.time_ns()
        done: asyncio.Future[ledger_pb2.Receipt] = asyncio.get_running_loop().create_future()
        size = tx.ByteSize()
        if size > self.policy.max_transaction_bytes:
            done.set_result(_finish(receipt, Status.RECEIPT_STATUS_ERROR,
                                    f"RESOURCE_EXHAUSTED: the transaction is {size} bytes, more than the "
                                    f"{self.policy.max_transaction_bytes} a control node takes"))
            return done
        self._know(tx.id, done)
        source = authenticated_source if authenticated_source is not None else tx.source
        try:
            classification = classify(tx.cos, source, self.source_trust.score(source), self.policy,
                                      authenticated=authenticated_source is not None)
        except ValueError as error:
            self.known.pop(tx.id, None)
            done.set_result(_finish(receipt, Status.RECEIPT_STATUS_ERROR, f"bad CoS byte: {error}"))
            return done
        receipt.cos_given = classification.given.to_int()
        assert self.scheduler is not None, "start() was not called"
        try:
            self.scheduler.offer(_Job(tx, classification, receipt, done, timeout_ms=timeout_ms),
                                 classification.given.service_class)
        except QueueFull as full:
            self.known.pop(tx.id, None)  # nothing was applied: a retry may try again
            done.set_result(_finish(receipt, Status.RECEIPT_STATUS_DROPPED, str(full)))
        return done

    async def handle(self, tx: ledger_pb2.Transaction, authenticated_source: str | None = None,
                     timeout_ms: int = 0) -> ledger_pb2.Receipt:
        # Shielded: a caller that gives up must not cancel the outcome a retry of the id shares.
        return await asyncio.shield(self.admit(tx, authenticated_source, timeout_ms))

    async def _dispatch(self) -> None:
        assert self.scheduler is not None
        await self._started()
        slots = asyncio.Semaphore(self.policy.max_in_flight)
        while True:
            await slots.acquire()
            job, _ = await self.scheduler.take()
            job.slot = slots
            task = asyncio.create_task(self._process(job))
            task.add_done_callback(lambda _, job=job: job.leave_execution())

    async def _process(self, job: _Job) -> None:
        try:
            receipt = await self._execute(job)
        except Exception as error:  # noqa: BLE001 - a receipt must always come back
            log.exception("transaction %s failed inside the control node", job.tx.id)
            # Once sequenced, the commit will reach the chains whatever failed here (I6).
            receipt = _finish(job.receipt, Status.RECEIPT_STATUS_UNKNOWN if job.committed else
                              Status.RECEIPT_STATUS_ERROR, f"control node error: {error}")
        if not job.done.done():
            job.done.set_result(receipt)
        if self.known.get(job.tx.id) is job.done:
            if job.committed:
                self.known[job.tx.id] = receipt.SerializeToString()
            else:
                del self.known[job.tx.id]  # it was not applied: a retry may try again

    # -- execution and agreement ----------------------------------------------------------

    async def _execute(self, job: _Job) -> ledger_pb2.Receipt:
        tx, receipt = job.tx, job.receipt
        receipt.timings.dispatched_ns = time.time_ns()
        elsewhere = self._committed_elsewhere.pop(tx.id, None)
        if elsewhere is not None:
            job.committed = True
            return self._retry_of_unverified(tx.id, elsewhere)
        waited_ms = (receipt.timings.dispatched_ns - receipt.timings.received_ns) / 1e6
        if job.timeout_ms and waited_ms > job.timeout_ms:
            # Nothing of it was executed or sequenced: a failure that did happen, and a retry of
            # the id is tried again.
            return _finish(receipt, Status.RECEIPT_STATUS_DROPPED,
                           f"its sender's timeout of {job.timeout_ms} ms passed while it waited in the queue "
                           f"({waited_ms:.0f} ms); not executed")
        if self.sequencer.halted:
            return _finish(receipt, Status.RECEIPT_STATUS_ERROR, f"the control node commits nothing: "
                                                                 f"{self.sequencer.halted}")
        service_class = job.classification.given.service_class
        class_policy = self.policy.classes[service_class]
        selection = self.selector.choose(service_class)
        if not selection.nodes:
            return _finish(receipt, Status.RECEIPT_STATUS_DROPPED, selection.reason)

        verdict = await self.agreement.reach(tx, selection.nodes, class_policy, service_class)
        agreed, failures = verdict.agreed, verdict.failures
        if agreed is None:
            if verdict.split_by_reads:
                self._source_evidence(tx.source, None)
                return _finish(receipt, Status.RECEIPT_STATUS_REJECTED,
                               "read conflict: replicas executed against different committed versions; retry")
            detail = "; ".join(failures) or "no two replicas agree"
            return _finish(receipt, Status.RECEIPT_STATUS_ERROR, f"no quorum among {', '.join(selection.nodes)}: {detail}")

        result = agreed[0].result
        conflict = read_conflict(result, self.versions)
        oldest = min(o.last_sequence for o in agreed)
        if not conflict and oldest < self._pruned_through:
            conflict = (f"read conflict: executed against commit {oldest}, older than the versions this control "
                        f"node still checks (after {self._pruned_through}); retry")
        if conflict:
            return _finish(receipt, Status.RECEIPT_STATUS_REJECTED, conflict)

        commit = ledger_pb2.Commit(transaction=tx, accepted=result.accepted, result_digest=result.result_digest,
                                   writes=result.writes, cos_given=receipt.cos_given)
        durable = self.sequencer.commit(commit)
        if durable.done() and isinstance(durable.exception(), NotSequenced):
            return _finish(receipt, Status.RECEIPT_STATUS_ERROR, f"not committed: {durable.exception()}")
        # Sequenced: the next result is checked against these writes even before they are on disk.
        job.committed = True
        self._sequenced(commit)
        receipt.sequence = commit.sequence
        try:
            await durable
        except LogWriteFailed as error:
            return _finish(receipt, Status.RECEIPT_STATUS_UNKNOWN, f"commit {commit.sequence}: {error}")
        job.leave_execution()
        self._prune()
        needed = class_policy.quorum_of(class_policy.replicas)
        in_chains = self.sequencer.in_chains(commit.sequence, needed)
        receipt.result_digest = result.result_digest
        receipt.result_json = result.result_json
        if not await _done_within(in_chains, self.execution_timeout_s):
            in_chains.add_done_callback(lambda reached: self._settled_late(tx.id, receipt, result, agreed, reached))
            return _finish(receipt, Status.RECEIPT_STATUS_UNKNOWN,
                           f"commit {commit.sequence} is in the control node's log, but not in the chains of "
                           f"{needed} execution node(s) within {self.execution_timeout_s:g} s; it will reach them")
        receipt.block_height = in_chains.result()
        receipt.execution_nodes.extend(o.node_id for o in agreed)
        self._source_evidence(tx.source, result.accepted)
        if result.accepted:
            return _finish(receipt, Status.RECEIPT_STATUS_CONFIRMED, "")
        return _finish(receipt, Status.RECEIPT_STATUS_REJECTED, result.reason)

    def _settled_late(self, tx_id: str, receipt: ledger_pb2.Receipt, result: ledger_pb2.ExecutionResult,
                      agreed: list[ExecutionOutcome], reached: asyncio.Future[int]) -> None:
        """A commit answered UNKNOWN reached its quorum of chains after all: a retry of its id now
        learns the outcome."""
        if reached.cancelled() or self.known.get(tx_id) is None:
            return
        final = ledger_pb2.Receipt()
        final.CopyFrom(receipt)
        final.block_height = reached.result()
        final.execution_nodes.extend(o.node_id for o in agreed)
        _finish(final, Status.RECEIPT_STATUS_CONFIRMED if result.accepted else Status.RECEIPT_STATUS_REJECTED,
                "" if result.accepted else result.reason)
        self.known[tx_id] = final.SerializeToString()

    def _observe_latency(self, outcome: ExecutionOutcome) -> None:
        previous = self.latency_ewma_s.get(outcome.node_id)
        self.latency_ewma_s[outcome.node_id] = outcome.elapsed_s if previous is None else 0.8 * previous + 0.2 * outcome.elapsed_s

    def _prune(self) -> None:
        """Forgets the versions no selectable replica can read stale any more (a replica further
        behind than ``catch_up_lag`` is not chosen), so the map does not grow without bound."""
        self._since_prune += 1
        if self._since_prune < PRUNE_EVERY:
            return
        self._since_prune = 0
        lag = max(link.catch_up_lag for link in self.links.values())
        horizon = self.sequencer.released_through - 2 * lag
        for key in [k for k, sequence in self.versions.items() if sequence <= horizon]:
            del self.versions[key]
        self._pruned_through = max(self._pruned_through, horizon)

    def _source_evidence(self, source: str, accepted: bool | None) -> None:
        if accepted is True:
            self.source_trust[source].record_success()
        elif accepted is False:
            self.source_trust[source].record_failure()

    # -- gRPC -------------------------------------------------------------------------------

    def _caller(self, context: grpc.aio.ServicerContext) -> str | None:
        """The caller's identity from its certificate (mutual TLS), None without TLS."""
        if self.tls is None:
            return None
        names = context.auth_context().get("x509_common_name") or []
        return names[0].decode() if names else ""

    async def Submit(self, request: ledger_pb2.Transaction, context: grpc.aio.ServicerContext) -> ledger_pb2.Receipt:
        # The call's gRPC deadline is its sender's timeout.
        remaining_s = context.time_remaining()
        timeout_ms = max(1, int(remaining_s * 1000)) if remaining_s is not None else 0
        return await self.handle(request, self._caller(context), timeout_ms)

    async def SubmitStream(
        self, request_iterator: AsyncIterator[ledger_pb2.Transaction], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ledger_pb2.Receipt]:
        async def transactions() -> AsyncIterator[tuple[list[ledger_pb2.Transaction], int]]:
            async for tx in request_iterator:
                yield [tx], 0

        async for receipts in self._pump(transactions(), self._caller(context)):
            for receipt in receipts:
                yield receipt

    async def SubmitBatches(
        self, request_iterator: AsyncIterator[ledger_pb2.TransactionBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ledger_pb2.ReceiptBatch]:
        async def transactions() -> AsyncIterator[tuple[list[ledger_pb2.Transaction], int]]:
            async for batch in request_iterator:
                yield batch.transactions, batch.timeout_ms

        async for receipts in self._pump(transactions(), self._caller(context)):
            yield ledger_pb2.ReceiptBatch(receipts=receipts)

    async def _pump(self, incoming: AsyncIterator[tuple[list[ledger_pb2.Transaction], int]], caller: str | None
                    ) -> AsyncIterator[list[ledger_pb2.Receipt]]:
        """Admits what arrives (transactions, with their sender's timeout); yields the receipts
        decided since the last yield, until all are out."""
        ready: list[ledger_pb2.Receipt] = []
        wakeup = asyncio.Event()
        open_count = 0
        reading = True
        aborted = False

        def deliver(future: asyncio.Future[ledger_pb2.Receipt]) -> None:
            nonlocal open_count
            open_count -= 1
            if not future.cancelled():
                ready.append(future.result())
                wakeup.set()

        async def read() -> None:
            nonlocal open_count, reading, aborted
            try:
                async for transactions, timeout_ms in incoming:
                    for tx in transactions:
                        open_count += 1
                        self.admit(tx, caller, timeout_ms).add_done_callback(deliver)
            except grpc.aio.AbortError:
                aborted = True  # a request did not decode: the stream's status is given already
            finally:
                reading = False
                wakeup.set()

        reader = asyncio.create_task(read())
        try:
            while (reading or open_count or ready) and not aborted:
                if not ready:
                    wakeup.clear()
                    await wakeup.wait()
                    continue
                out, ready = ready, []
                yield out
        finally:
            reader.cancel()

    async def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        await self.watcher.close()
        for link in self.links.values():
            await link.close()
        self.log.close()


def read_conflict(result: ledger_pb2.ExecutionResult, versions: dict[str, int]) -> str:
    """Why an agreed result may not be committed: it read a key at an older version than the
    latest commit of that key (``versions``). A refusal decided on such a read is as stale as a
    write: the call might succeed now. Only an accepted call that writes nothing is serialized
    where its snapshot was, and conflicts with nothing."""
    if result.accepted and not result.writes:
        return ""
    for read in result.reads:
        committed = versions.get(read.key)
        if committed is not None and read.version < committed:
            return f"read conflict on {read.key}: read version {read.version}, committed since at {committed}"
    return ""


def _resolved(receipt: ledger_pb2.Receipt) -> asyncio.Future[ledger_pb2.Receipt]:
    done: asyncio.Future[ledger_pb2.Receipt] = asyncio.get_running_loop().create_future()
    done.set_result(receipt)
    return done


async def _done_within(future: asyncio.Future[int], timeout_s: float) -> bool:
    """Whether ``future`` is done within ``timeout_s``; it goes on either way (cheaper than
    ``wait_for(shield(...))``, which a receipt would pay for every commit)."""
    if future.done():
        return True
    waiter = asyncio.get_running_loop().create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    timer = asyncio.get_running_loop().call_later(timeout_s, wake)
    try:
        await waiter
    finally:
        timer.cancel()
        future.remove_done_callback(wake)
    return future.done()


def _finish(receipt: ledger_pb2.Receipt, status: int, reason: str) -> ledger_pb2.Receipt:
    receipt.status = status
    receipt.reason = reason
    receipt.timings.decided_ns = time.time_ns()
    return receipt
