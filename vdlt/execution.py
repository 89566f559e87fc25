"""Execution plane: executes transactions for the control node and keeps the agreed chain.

Each batch from the control node carries commits (agreed results, in sequence order) and
transactions to execute. Commits are applied first and become one block; then each transaction
runs against the committed state *without changing it*, and the node answers with the result,
its writes, the versioned reads it depended on, and a digest over all of these.

The chain holds one history (ARCHITECTURE.md, I2 and I4): a commit is applied only right after
the one before it. A commit sent again (the stream broke before its answer) is skipped if it is
the very commit the chain holds at that sequence, and refused if it is another one; a commit
beyond a gap is not applied. The answer's ``last_sequence`` says how far the chain goes, so the
control node sends what is missing.

Fault modes (off unless configured, :class:`FaultMode`) exist for experiments and for the tests
that hold the control node to its promises: a node can answer a wrong result, forge the writes
behind an honest digest, or answer late.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import random
from typing import AsyncIterator, Callable

import grpc

from protocol import ledger_pb2, ledger_pb2_grpc
from vdlt.contracts import REGISTRY, ContractError, ContractState
from vdlt.faults import FaultMode
from vdlt.ledger import BlockLog, BlockTransaction, canonical_json, commit_key, sha256_hex


def result_digest(transaction_id: str, accepted: bool, result_json: str, writes: dict, reads: dict) -> str:
    return sha256_hex(canonical_json([transaction_id, accepted, result_json, writes, reads]))


TrustListener = Callable[[ledger_pb2.TrustReport], None]
# Commits per message when a node's chain is read back (an audit, a control node rebuilding its log).
READ_COMMITS_CHUNK = 1024
READ_COMMITS_BYTES = 1 << 20


def _commit_of(tx: BlockTransaction, with_writes: bool = True) -> ledger_pb2.Commit:
    """The commit a block's transaction was made from (the source is not kept in blocks)."""
    return ledger_pb2.Commit(
        sequence=tx.sequence, accepted=tx.accepted, result_digest=tx.result_digest,
        transaction=ledger_pb2.Transaction(id=tx.id, cos=tx.cos, contract=tx.contract, operation=tx.operation,
                                           arguments_json=tx.arguments_json),
        writes=[ledger_pb2.Write(key=k, value_json=canonical_json(v)) for k, v in tx.writes.items()]
        if with_writes else [],
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
        refused_sequence, refused_reason = self._commit(batch.commits)
        results = [self._execute(tx) for tx in batch.transactions]
        return ledger_pb2.ExecuteBatchResult(
            batch_id=batch.batch_id, node_id=self.node_id, block_height=self.block_log.height,
            block_hash=self.block_log.head_hash, results=results, last_sequence=self.block_log.last_sequence,
            refused_sequence=refused_sequence, refused_reason=refused_reason,
        )

    def _commit(self, commits: list[ledger_pb2.Commit]) -> tuple[int, str]:
        """Applies the commits that continue the chain; the first refused one and why, if any."""
        fresh: list[ledger_pb2.Commit] = []
        refused: tuple[int, str] = (0, "")
        for commit in commits:
            expected = self.block_log.last_sequence + len(fresh) + 1
            if commit.sequence < expected:
                held = self.block_log.commit_key_at(commit.sequence)
                if held is not None and held != commit_key(commit.transaction.id, commit.accepted,
                                                           commit.result_digest):
                    refused = (commit.sequence, f"{self.node_id}'s chain holds another commit at sequence "
                                                f"{commit.sequence} than {commit.transaction.id}")
                    break
                continue  # sent again, and the chain has it already
            if commit.sequence > expected:
                break  # a gap: what comes before it must be applied first
            fresh.append(commit)
        if fresh:
            self._append(fresh)
        return refused

    def _append(self, fresh: list[ledger_pb2.Commit]) -> None:
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
        digest = result_digest(tx.id, accepted, result_json, writes, reads)
        if self.fault.forged_writes_rate and self._random.random() < self.fault.forged_writes_rate:
            writes = {key: {"forged": self._random.getrandbits(32)} for key in writes or {f"{tx.contract}/forged": 0}}
        return ledger_pb2.ExecutionResult(
            transaction_id=tx.id, accepted=accepted, reason=reason, result_json=result_json,
            result_digest=digest,
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
        through = request.through_sequence or self.block_log.last_sequence
        if through > self.block_log.last_sequence:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"{self.node_id} has commits through {self.block_log.last_sequence} only, "
                                f"not through {through}")
        # The chain is read in a thread, a chunk at a time: it can be long, and the event loop
        # keeps executing meanwhile. A message holds at most READ_COMMITS_CHUNK commits and
        # READ_COMMITS_BYTES of them (at least one), whatever the transactions' sizes.
        committed = self.block_log.committed_between(request.after_sequence, through)
        held: list[ledger_pb2.Commit] = []
        with_writes = not request.omit_writes
        while chunk := await asyncio.to_thread(
                lambda: [_commit_of(tx, with_writes) for tx in itertools.islice(committed, READ_COMMITS_CHUNK)]):
            size = sum(commit.ByteSize() for commit in held)
            for commit in chunk:
                commit_size = commit.ByteSize()
                if held and (len(held) >= READ_COMMITS_CHUNK or size + commit_size > READ_COMMITS_BYTES):
                    yield ledger_pb2.CommitBatch(commits=held)
                    held, size = [], 0
                held.append(commit)
                size += commit_size
        if held:
            yield ledger_pb2.CommitBatch(commits=held)

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
            if self.fault.commit_delay_ms and batch.commits:
                await asyncio.sleep(self.fault.commit_delay_ms / 1000)
            yield result
