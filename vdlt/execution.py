"""Execution plane: runs contracts on batches forwarded by control nodes, one block per batch."""
from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator

import grpc

from vdlt.contracts import REGISTRY, ContractError, ContractState
from vdlt.ledger import BlockLog, BlockTransaction, canonical_json, sha256_hex
from vdlt.proto import ledger_pb2, ledger_pb2_grpc

def result_digest(transaction_id: str, accepted: bool, result_json: str, writes: dict) -> str:
    return sha256_hex(canonical_json([transaction_id, accepted, result_json, writes]))


class ExecutionService(ledger_pb2_grpc.ExecutionServicer):
    def __init__(self, node_id: str, block_log: BlockLog) -> None:
        self.node_id = node_id
        self.block_log = block_log
        # One batch at a time: blocks are appended in the order batches are executed.
        self._lock = asyncio.Lock()

    def execute_batch(self, batch: ledger_pb2.ExecuteBatch) -> ledger_pb2.ExecuteBatchResult:
        results: list[ledger_pb2.ExecutionResult] = []
        block_transactions: list[BlockTransaction] = []
        for tx in batch.transactions:
            accepted, reason, result_json, writes = self._run(tx)
            digest = result_digest(tx.id, accepted, result_json, writes)
            results.append(
                ledger_pb2.ExecutionResult(
                    transaction_id=tx.id, accepted=accepted, reason=reason,
                    result_json=result_json, result_digest=digest,
                )
            )
            block_transactions.append(
                BlockTransaction(
                    id=tx.id, cos=tx.cos, contract=tx.contract, operation=tx.operation,
                    arguments_json=tx.arguments_json, accepted=accepted,
                    result_digest=digest, writes=writes,
                )
            )
        block = self.block_log.append(block_transactions)
        return ledger_pb2.ExecuteBatchResult(
            batch_id=batch.batch_id, node_id=self.node_id,
            block_height=block.height, block_hash=block.hash, results=results,
        )

    def _run(self, tx: ledger_pb2.Transaction) -> tuple[bool, str, str, dict]:
        contract = REGISTRY.get(tx.contract)
        if contract is None:
            return False, f"no contract named {tx.contract!r}", "", {}
        try:
            arguments = json.loads(tx.arguments_json or "{}")
        except json.JSONDecodeError as error:
            return False, f"arguments are not JSON: {error}", "", {}
        state = ContractState(self.block_log.contract_state(tx.contract))
        try:
            result = contract.execute(state, tx.operation, arguments)
        except ContractError as error:
            return False, str(error), "", {}
        state.commit()
        return True, "", canonical_json(result), state.writes

    async def ExecuteStream(
        self, request_iterator: AsyncIterator[ledger_pb2.ExecuteBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ledger_pb2.ExecuteBatchResult]:
        async for batch in request_iterator:
            async with self._lock:
                result = await asyncio.to_thread(self.execute_batch, batch)
            yield result
