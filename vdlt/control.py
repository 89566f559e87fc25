"""Control plane: classify, queue, select, execute on replicas, agree, commit, answer.

1. The CoS byte is parsed and the source's reputation may re-class it (:mod:`vdlt.classify`).
2. The transaction waits in the scheduler (CBWFQ or FIFO); a full queue drops it.
3. At most ``max_in_flight`` transactions are being executed at once; each is sent to the
   replicas :mod:`vdlt.selection` chooses for its class.
4. The replicas' answers must agree (:mod:`vdlt.agreement`: the quorum, and the trust each
   answer earns or costs its node).
5. The agreed result is checked against what was committed since (a read of an older version
   than the latest commit of that key is a read conflict, as in Fabric's MVCC validation),
   given the next sequence number and sent to every execution node, which apply commits in
   sequence order; the receipt waits until the agreeing replicas have it in their chains.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import grpc

from protocol import ledger_pb2, ledger_pb2_grpc, node_agent_pb2
from protocol.tls import TlsFiles
from vdlt.agreement import Agreement
from vdlt.classify import Classification, classify
from vdlt.execution_link import ExecutionLink, ExecutionOutcome
from vdlt.peers import ExecutionPeer
from vdlt.policy import Policy
from vdlt.scheduler import AsyncScheduler, QueueFull
from vdlt.selection import Selector
from vdlt.state_watch import StateWatcher
from vdlt.trust import TrustBook

log = logging.getLogger(__name__)
Status = ledger_pb2.ReceiptStatus
# Sequence numbers are reserved on disk in blocks of this many, so a restarted control node
# never reuses one (execution nodes skip sequences they already applied).
SEQUENCE_RESERVATION = 100_000

__all__ = ["ControlService", "ExecutionPeer"]


@dataclass
class _Job:
    tx: ledger_pb2.Transaction
    classification: Classification
    receipt: ledger_pb2.Receipt
    done: asyncio.Future[ledger_pb2.Receipt]


class _Sequence:
    def __init__(self, path: Path) -> None:
        self.path = path
        reserved = int(path.read_text()) if path.exists() else 0
        self.next = reserved + 1
        self.limit = reserved
        self._reserve()

    def _reserve(self) -> None:
        self.limit += SEQUENCE_RESERVATION
        partial = self.path.with_suffix(".partial")
        partial.write_text(str(self.limit))
        partial.replace(self.path)

    def take(self) -> int:
        if self.next > self.limit:
            self._reserve()
        value, self.next = self.next, self.next + 1
        return value


class ControlService(ledger_pb2_grpc.ControlServicer):
    def __init__(self, peers: list[ExecutionPeer], policy: Policy, data_dir: Path,
                 state_interval_s: float = 0.5, execution_timeout_s: float = 10.0,
                 tls: TlsFiles | None = None) -> None:
        if not peers:
            raise ValueError("a control node needs at least one execution node")
        self.policy = policy
        self.execution_timeout_s = execution_timeout_s
        self.node_trust = TrustBook(policy.trust_half_life_s)
        self.source_trust = TrustBook(policy.trust_half_life_s)
        self.links = {p.node_id: ExecutionLink(p.node_id, p.address, self._trust_report_for(p.node_id), tls=tls,
                                               backlog_limit=policy.commit_backlog_limit,
                                               # with one execution node there is no other chain to read
                                               catch_up=self._read_missed_commits if len(peers) > 1 else None)
                      for p in peers}
        self.watcher = StateWatcher(peers, state_interval_s, tls)
        self.latency_ewma_s: dict[str, float] = {}
        self.selector = Selector(policy, self.watcher, self.node_trust,
                                 outstanding=lambda n: self.links[n].outstanding,
                                 latency_s=self.latency_ewma_s.get,
                                 catching_up=lambda n: self.links[n].catching_up)
        self.agreement = Agreement(self.links, self.selector, self.node_trust, execution_timeout_s,
                                   self._observe_latency)
        self.versions: dict[str, int] = {}
        data_dir.mkdir(parents=True, exist_ok=True)
        self.sequence = _Sequence(data_dir / "control-sequence")
        self.scheduler: AsyncScheduler[_Job] | None = None
        self._dispatcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.watcher.start()
        self.scheduler = AsyncScheduler(self.policy)
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

    async def _read_missed_commits(self, node_id: str, after: int, through: int) -> AsyncIterator[list[ledger_pb2.Commit]]:
        """For a node that missed commits: them, from the first other execution node that has them."""
        for peer_id, peer in self.links.items():
            if peer_id == node_id or peer.catching_up:
                continue
            log.info("execution node %s reads the commits it missed (%d..%d) from %s's chain", node_id,
                     after + 1, through, peer_id)
            sent = False
            try:
                async for commits in peer.read_commits(after, through):
                    sent = True
                    yield commits
            except grpc.aio.AioRpcError as error:
                log.info("execution node %s could not read commits from %s: %s: %s", node_id, peer_id,
                         error.code().name, error.details())
                if not sent:
                    continue
            return  # after a partial read, the node resumes from where its chain got to

    # -- intake ---------------------------------------------------------------------------

    def admit(self, tx: ledger_pb2.Transaction) -> asyncio.Future[ledger_pb2.Receipt]:
        """Classifies and queues a transaction; the future resolves to its receipt."""
        receipt = ledger_pb2.Receipt(transaction_id=tx.id, cos_asked=tx.cos)
        receipt.timings.received_ns = time.time_ns()
        done: asyncio.Future[ledger_pb2.Receipt] = asyncio.get_running_loop().create_future()
        try:
            classification = classify(tx.cos, tx.source, self.source_trust.score(tx.source), self.policy)
        except ValueError as error:
            done.set_result(_finish(receipt, Status.RECEIPT_STATUS_ERROR, f"bad CoS byte: {error}"))
            return done
        receipt.cos_given = classification.given.to_int()
        assert self.scheduler is not None, "start() was not called"
        try:
            self.scheduler.offer(_Job(tx, classification, receipt, done), classification.given.service_class)
        except QueueFull as full:
            done.set_result(_finish(receipt, Status.RECEIPT_STATUS_DROPPED, str(full)))
        return done

    async def handle(self, tx: ledger_pb2.Transaction) -> ledger_pb2.Receipt:
        return await self.admit(tx)

    async def _dispatch(self) -> None:
        assert self.scheduler is not None
        slots = asyncio.Semaphore(self.policy.max_in_flight)
        while True:
            await slots.acquire()
            job, _ = await self.scheduler.take()
            task = asyncio.create_task(self._process(job))
            task.add_done_callback(lambda _: slots.release())

    async def _process(self, job: _Job) -> None:
        try:
            receipt = await self._execute(job)
        except Exception as error:  # noqa: BLE001 - a receipt must always come back
            log.exception("transaction %s failed inside the control node", job.tx.id)
            receipt = _finish(job.receipt, Status.RECEIPT_STATUS_ERROR, f"control node error: {error}")
        if not job.done.done():
            job.done.set_result(receipt)

    # -- execution and agreement ----------------------------------------------------------

    async def _execute(self, job: _Job) -> ledger_pb2.Receipt:
        tx, receipt = job.tx, job.receipt
        receipt.timings.dispatched_ns = time.time_ns()
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
        conflict = self._read_conflict(result)
        if conflict:
            return _finish(receipt, Status.RECEIPT_STATUS_REJECTED, conflict)

        commit = ledger_pb2.Commit(sequence=self.sequence.take(), transaction=tx, accepted=result.accepted,
                                   result_digest=result.result_digest, writes=result.writes)
        for write in result.writes:
            self.versions[write.key] = commit.sequence
        acks = {node_id: link.commit(commit) for node_id, link in self.links.items()}
        agreeing = [o.node_id for o in agreed]
        in_time = await _all_done([acks[n] for n in agreeing], self.execution_timeout_s)
        behind = [n for n in agreeing if acks[n].cancelled()]
        if behind:
            return _finish(receipt, Status.RECEIPT_STATUS_ERROR,
                           f"commit {commit.sequence} not yet in the chain of {', '.join(behind)}, which fell more than "
                           f"{self.policy.commit_backlog_limit} commits behind and will read it from another execution "
                           f"node's chain")
        if not in_time:
            return _finish(receipt, Status.RECEIPT_STATUS_ERROR,
                           f"commit {commit.sequence} not in the chains of {', '.join(agreeing)} within "
                           f"{self.execution_timeout_s:g} s")
        receipt.execution_nodes.extend(agreeing)
        receipt.block_height = max(acks[n].result() for n in agreeing)
        receipt.result_digest = result.result_digest
        receipt.result_json = result.result_json
        self._source_evidence(tx.source, result.accepted)
        if result.accepted:
            return _finish(receipt, Status.RECEIPT_STATUS_CONFIRMED, "")
        return _finish(receipt, Status.RECEIPT_STATUS_REJECTED, result.reason)

    def _observe_latency(self, outcome: ExecutionOutcome) -> None:
        previous = self.latency_ewma_s.get(outcome.node_id)
        self.latency_ewma_s[outcome.node_id] = outcome.elapsed_s if previous is None else 0.8 * previous + 0.2 * outcome.elapsed_s

    def _read_conflict(self, result: ledger_pb2.ExecutionResult) -> str:
        if not result.writes:
            return ""  # a read-only call is serialized where its snapshot was: nothing to conflict with
        for read in result.reads:
            committed = self.versions.get(read.key)
            if committed is not None and read.version < committed:
                return f"read conflict on {read.key}: read version {read.version}, committed since at {committed}"
        return ""

    def _source_evidence(self, source: str, accepted: bool | None) -> None:
        if accepted is True:
            self.source_trust[source].record_success()
        elif accepted is False:
            self.source_trust[source].record_failure()

    # -- gRPC -------------------------------------------------------------------------------

    async def Submit(self, request: ledger_pb2.Transaction, context: grpc.aio.ServicerContext) -> ledger_pb2.Receipt:
        return await self.handle(request)

    async def SubmitStream(
        self, request_iterator: AsyncIterator[ledger_pb2.Transaction], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ledger_pb2.Receipt]:
        async def transactions() -> AsyncIterator[list[ledger_pb2.Transaction]]:
            async for tx in request_iterator:
                yield [tx]

        async for receipts in self._pump(transactions()):
            for receipt in receipts:
                yield receipt

    async def SubmitBatches(
        self, request_iterator: AsyncIterator[ledger_pb2.TransactionBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ledger_pb2.ReceiptBatch]:
        async def transactions() -> AsyncIterator[list[ledger_pb2.Transaction]]:
            async for batch in request_iterator:
                yield batch.transactions

        async for receipts in self._pump(transactions()):
            yield ledger_pb2.ReceiptBatch(receipts=receipts)

    async def _pump(self, incoming: AsyncIterator[list[ledger_pb2.Transaction]]) -> AsyncIterator[list[ledger_pb2.Receipt]]:
        """Admits what arrives; yields the receipts decided since the last yield, until all are out."""
        ready: list[ledger_pb2.Receipt] = []
        wakeup = asyncio.Event()
        open_count = 0
        reading = True

        def deliver(future: asyncio.Future[ledger_pb2.Receipt]) -> None:
            nonlocal open_count
            open_count -= 1
            if not future.cancelled():
                ready.append(future.result())
                wakeup.set()

        async def read() -> None:
            nonlocal open_count, reading
            try:
                async for transactions in incoming:
                    for tx in transactions:
                        open_count += 1
                        self.admit(tx).add_done_callback(deliver)
            finally:
                reading = False
                wakeup.set()

        reader = asyncio.create_task(read())
        try:
            while reading or open_count or ready:
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


async def _all_done(futures: list[asyncio.Future], timeout_s: float) -> bool:  # type: ignore[type-arg]
    """Whether every future finished within the timeout; lighter than asyncio.wait/wait_for,
    which add tasks and sets per call on the hot path."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()
    remaining = len(futures)

    def one_done(_: asyncio.Future) -> None:  # type: ignore[type-arg]
        nonlocal remaining
        remaining -= 1
        if remaining == 0 and not waiter.done():
            waiter.set_result(True)

    for future in futures:
        if future.done():
            remaining -= 1
        else:
            future.add_done_callback(one_done)
    if remaining == 0:
        return True
    timer = loop.call_later(timeout_s, lambda: waiter.done() or waiter.set_result(False))
    try:
        return await waiter
    finally:
        timer.cancel()
        for future in futures:
            future.remove_done_callback(one_done)


def _finish(receipt: ledger_pb2.Receipt, status: int, reason: str) -> ledger_pb2.Receipt:
    receipt.status = status
    receipt.reason = reason
    receipt.timings.decided_ns = time.time_ns()
    return receipt

