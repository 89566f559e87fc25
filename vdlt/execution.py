"""Execution plane: executes transactions for the control node and keeps the agreed chain.

Each batch from the control node carries commits (agreed results, in sequence order) and
transactions to execute. Commits are applied first and become one block; then each transaction
runs against the committed state *without changing it*, and the node answers with the result,
its writes, the versioned reads it depended on, and a digest over all of these.

Fault modes (off unless configured) exist for experiments: a node can return a wrong result at
a given rate, or answer late.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import random
from dataclasses import dataclass
from typing import AsyncIterator, Callable

import grpc

from protocol import ledger_pb2, ledger_pb2_grpc
from vdlt.contracts import REGISTRY, ContractError, ContractState
from vdlt.ledger import BlockLog, BlockTransaction, canonical_json, sha256_hex


@dataclass(frozen=True)
class FaultMode:
    wrong_result_rate: float = 0.0
    delay_ms: float = 0.0

    @property
    def active(self) -> bool:
        return self.wrong_result_rate > 0 or self.delay_ms > 0


def result_digest(transaction_id: str, accepted: bool, result_json: str, writes: dict, reads: dict) -> str:
    return sha256_hex(canonical_json([transaction_id, accepted, result_json, writes, reads]))


TrustListener = Callable[[ledger_pb2.TrustReport], None]
# Commits per message when a node's chain is read back for another that missed them.
READ_COMMITS_CHUNK = 1024


def _commit_of(tx: BlockTransaction) -> ledger_pb2.Commit:
    """The commit a block's transaction was made from (the source is not kept in blocks)."""
    return ledger_pb2.Commit(
        sequence=tx.sequence, accepted=tx.accepted, result_digest=tx.result_digest,
        transaction=ledger_pb2.Transaction(id=tx.id, cos=tx.cos, contract=tx.contract, operation=tx.operation,
                                           arguments_json=tx.arguments_json),
        writes=[ledger_pb2.Write(key=k, value_json=canonical_json(v)) for k, v in tx.writes.items()],
    )


class ExecutionService(ledger_pb2_grpc.ExecutionServicer):
    def __init__(self, node_id: str, block_log: BlockLog, fault: FaultMode = FaultMode(),
                 on_trust: TrustListener | None = None) -> None:
        self.node_id = node_id
        self.block_log = block_log
        self.fault = fault
        self.on_trust = on_trust
        self._random = random.Random(node_id)
        # One batch at a time: commits are applied in the order they arrive.
        self._lock = asyncio.Lock()

    def process(self, batch: ledger_pb2.ExecuteBatch) -> ledger_pb2.ExecuteBatchResult:
        self._commit(batch.commits)
        results = [self._execute(tx) for tx in batch.transactions]
        return ledger_pb2.ExecuteBatchResult(
            batch_id=batch.batch_id, node_id=self.node_id, block_height=self.block_log.height,
            block_hash=self.block_log.head_hash, results=results, last_sequence=self.block_log.last_sequence,
        )

    def _commit(self, commits: list[ledger_pb2.Commit]) -> None:
        fresh = [c for c in commits if c.sequence > self.block_log.last_sequence]  # resent ones are skipped
        if not fresh:
            return
        self.block_log.append([
            BlockTransaction(
                id=c.transaction.id, sequence=c.sequence, cos=c.transaction.cos, contract=c.transaction.contract,
                operation=c.transaction.operation, arguments_json=c.transaction.arguments_json,
                accepted=c.accepted, result_digest=c.result_digest,
                writes={w.key: json.loads(w.value_json) for w in c.writes},
            )
            for c in fresh
        ])

    def _execute(self, tx: ledger_pb2.Transaction) -> ledger_pb2.ExecutionResult:
        accepted, reason, result_json, writes, reads = self._run(tx)
        if self.fault.wrong_result_rate and self._random.random() < self.fault.wrong_result_rate:
            result_json = canonical_json({"forged": self._random.getrandbits(32)})
        return ledger_pb2.ExecutionResult(
            transaction_id=tx.id, accepted=accepted, reason=reason, result_json=result_json,
            result_digest=result_digest(tx.id, accepted, result_json, writes, reads),
            writes=[ledger_pb2.Write(key=k, value_json=canonical_json(v)) for k, v in sorted(writes.items())],
            reads=[ledger_pb2.Read(key=k, version=v) for k, v in sorted(reads.items())],
        )

    def _run(self, tx: ledger_pb2.Transaction) -> tuple[bool, str, str, dict, dict]:
        contract = REGISTRY.get(tx.contract)
        if contract is None:
            return False, f"no contract named {tx.contract!r}", "", {}, {}
        try:
            arguments = json.loads(tx.arguments_json or "{}")
        except json.JSONDecodeError as error:
            return False, f"arguments are not JSON: {error}", "", {}, {}
        if not isinstance(arguments, dict):
            return False, "arguments must be a JSON object", "", {}, {}
        state = ContractState(tx.contract, self.block_log.values, self.block_log.versions)
        try:
            result = contract.execute(state, tx.operation, arguments)
        except ContractError as error:
            return False, str(error), "", {}, state.reads
        return True, "", canonical_json(result), state.writes, state.reads

    async def ReadCommits(
        self, request: ledger_pb2.ReadCommitsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ledger_pb2.CommitBatch]:
        if request.through_sequence > self.block_log.last_sequence:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"{self.node_id} has commits through {self.block_log.last_sequence} only, "
                                f"not through {request.through_sequence}")
        # The chain is read in a thread, a chunk at a time: it can be long, and the event loop
        # keeps executing meanwhile.
        committed = self.block_log.committed_between(request.after_sequence, request.through_sequence)
        while chunk := await asyncio.to_thread(lambda: list(itertools.islice(committed, READ_COMMITS_CHUNK))):
            yield ledger_pb2.CommitBatch(commits=[_commit_of(tx) for tx in chunk])

    async def ExecuteStream(
        self, request_iterator: AsyncIterator[ledger_pb2.ExecuteBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ledger_pb2.ExecuteBatchResult]:
        async for batch in request_iterator:
            if batch.HasField("trust") and self.on_trust is not None:
                self.on_trust(batch.trust)
            async with self._lock:
                result = await asyncio.to_thread(self.process, batch)
            if self.fault.delay_ms:
                await asyncio.sleep(self.fault.delay_ms / 1000)
            yield result
