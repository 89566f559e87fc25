"""Control plane: accepts transactions, classifies them, forwards them, answers with receipts."""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import AsyncIterator

import grpc

from vdlt.cos import CosByte
from vdlt.execution_link import ExecutionLink, ExecutionUnavailable
from vdlt.proto import ledger_pb2, ledger_pb2_grpc

Status = ledger_pb2.ReceiptStatus


@dataclass(frozen=True)
class ExecutionPeer:
    node_id: str
    address: str


class ControlService(ledger_pb2_grpc.ControlServicer):
    def __init__(self, peers: list[ExecutionPeer], execution_timeout_s: float = 10.0) -> None:
        if not peers:
            raise ValueError("a control node needs at least one execution node")
        self.links = [ExecutionLink(p.node_id, p.address) for p in peers]
        self._next_link = itertools.cycle(self.links)
        self.execution_timeout_s = execution_timeout_s

    async def handle(self, tx: ledger_pb2.Transaction) -> ledger_pb2.Receipt:
        received_ns = time.time_ns()
        receipt = ledger_pb2.Receipt(transaction_id=tx.id, cos_asked=tx.cos)
        receipt.timings.received_ns = received_ns
        try:
            cos = CosByte.parse(tx.cos)
        except ValueError as error:
            return _finish(receipt, Status.RECEIPT_STATUS_ERROR, f"bad CoS byte: {error}")
        receipt.cos_given = cos.to_int()
        link = next(self._next_link)
        receipt.execution_nodes.append(link.node_id)
        receipt.timings.dispatched_ns = time.time_ns()
        try:
            outcome = await asyncio.wait_for(link.submit(tx), self.execution_timeout_s)
        except TimeoutError:
            return _finish(receipt, Status.RECEIPT_STATUS_ERROR,
                           f"execution node {link.node_id} gave no result within {self.execution_timeout_s:g} s")
        except ExecutionUnavailable as error:
            return _finish(receipt, Status.RECEIPT_STATUS_ERROR, str(error))
        receipt.block_height = outcome.block_height
        receipt.result_digest = outcome.result.result_digest
        receipt.result_json = outcome.result.result_json
        if outcome.result.accepted:
            return _finish(receipt, Status.RECEIPT_STATUS_CONFIRMED, "")
        return _finish(receipt, Status.RECEIPT_STATUS_REJECTED, outcome.result.reason)

    async def Submit(self, request: ledger_pb2.Transaction, context: grpc.aio.ServicerContext) -> ledger_pb2.Receipt:
        return await self.handle(request)

    async def SubmitStream(
        self, request_iterator: AsyncIterator[ledger_pb2.Transaction], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ledger_pb2.Receipt]:
        receipts: asyncio.Queue[ledger_pb2.Receipt | None] = asyncio.Queue()
        handlers: set[asyncio.Task[ledger_pb2.Receipt]] = set()

        def deliver(task: asyncio.Task[ledger_pb2.Receipt]) -> None:
            handlers.discard(task)
            if not task.cancelled():
                receipts.put_nowait(task.result())

        async def read() -> None:
            async for tx in request_iterator:
                task = asyncio.create_task(self.handle(tx))
                handlers.add(task)
                task.add_done_callback(deliver)
            if handlers:
                await asyncio.gather(*handlers, return_exceptions=True)
            receipts.put_nowait(None)

        reader = asyncio.create_task(read())
        try:
            while (receipt := await receipts.get()) is not None:
                yield receipt
        finally:
            reader.cancel()
            for task in handlers:
                task.cancel()

    async def close(self) -> None:
        for link in self.links:
            await link.close()


def _finish(receipt: ledger_pb2.Receipt, status: int, reason: str) -> ledger_pb2.Receipt:
    receipt.status = status
    receipt.reason = reason
    receipt.timings.decided_ns = time.time_ns()
    return receipt
