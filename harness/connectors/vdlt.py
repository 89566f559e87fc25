"""Connector for vDLT control nodes: one SubmitBatches stream per worker, receipts matched by id.

Transactions due at the same moment leave in one message, and the control node answers with
the receipts it decided together, so per-message costs do not cap the rate a worker can offer.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

import grpc

from harness.connectors.base import (CONFIRMED, DROPPED, ERROR, REJECTED, UNKNOWN, Connector, Outcome, OutcomeCallback,
                                     Request)
from protocol import ledger_pb2, ledger_pb2_grpc
from protocol.tls import TlsFiles, aio_channel

MAX_BATCH = 512
_STATUS = {
    ledger_pb2.RECEIPT_STATUS_CONFIRMED: CONFIRMED,
    ledger_pb2.RECEIPT_STATUS_REJECTED: REJECTED,
    ledger_pb2.RECEIPT_STATUS_DROPPED: DROPPED,
    ledger_pb2.RECEIPT_STATUS_ERROR: ERROR,
    ledger_pb2.RECEIPT_STATUS_UNKNOWN: UNKNOWN,
}


class VdltConnector(Connector):
    def __init__(self, endpoint: str, tls: TlsFiles | None = None, timeout_s: float | None = None,
                 options: dict[str, Any] | None = None) -> None:
        super().__init__(endpoint, tls, timeout_s, options)
        # The control node drops what is still queued when this worker stops waiting for it.
        self._timeout_ms = int(timeout_s * 1000) if timeout_s else 0
        self._channel: grpc.aio.Channel | None = None
        self._outbox: list[ledger_pb2.Transaction] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._outstanding: set[str] = set()
        self._reader: asyncio.Task[None] | None = None
        self._on_outcome: OutcomeCallback | None = None

    async def start(self, on_outcome: OutcomeCallback) -> None:
        self._on_outcome = on_outcome
        self._channel = aio_channel(self.endpoint, self.tls)

    def submit(self, tx_id: str, cos: int, source: str, request: Request) -> None:
        self._outstanding.add(tx_id)
        self._outbox.append(
            ledger_pb2.Transaction(
                id=tx_id, cos=cos, source=source, contract=request.contract,
                operation=request.operation, arguments_json=json.dumps(request.arguments, separators=(",", ":")),
            )
        )
        self._wakeup.set()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._stream())

    async def _requests(self) -> AsyncIterator[ledger_pb2.TransactionBatch]:
        while not self._closing:
            if not self._outbox:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, self._outbox = self._outbox[:MAX_BATCH], self._outbox[MAX_BATCH:]
            yield ledger_pb2.TransactionBatch(transactions=batch, timeout_ms=self._timeout_ms)

    async def _stream(self) -> None:
        assert self._channel is not None and self._on_outcome is not None
        stub = ledger_pb2_grpc.ControlStub(self._channel)
        try:
            async for batch in stub.SubmitBatches(self._requests()):
                for receipt in batch.receipts:
                    self._outstanding.discard(receipt.transaction_id)
                    self._on_outcome(
                        Outcome(
                            tx_id=receipt.transaction_id,
                            status=_STATUS.get(receipt.status, ERROR),
                            cos_given=receipt.cos_given,
                            execution_nodes=tuple(receipt.execution_nodes),
                            reason=receipt.reason,
                            block_height=receipt.block_height,
                        )
                    )
        except grpc.aio.AioRpcError as error:
            # The stream is gone: whatever it carried will not be answered. What was still waiting
            # here never left (an error); what was sent may have been committed (unknown, I6).
            reason = f"{self.endpoint}: {error.code().name}: {_cause(error)}"
            lost, self._outstanding = self._outstanding, set()
            unsent = {tx.id for tx in self._outbox}
            self._outbox = []
            # A stream that never reached the node carried nothing.
            reached = "failed to connect" not in (error.details() or "").lower()
            for tx_id in lost:
                sent = reached and tx_id not in unsent
                self._on_outcome(Outcome(tx_id=tx_id, status=UNKNOWN if sent else ERROR,
                                         reason=f"the stream broke after it was sent: {reason}" if sent else reason))

    async def stop(self) -> None:
        self._closing = True
        self._wakeup.set()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, grpc.aio.AioRpcError):
                pass
        if self._channel is not None:
            await self._channel.close()


def _cause(error: grpc.aio.AioRpcError) -> str:
    """What went wrong, short enough to count and read: a failed connection's details end in
    the operating system's words for it ("Connection refused"), after gRPC's own preamble."""
    details = error.details() or ""
    if error.code() == grpc.StatusCode.UNAVAILABLE and "last error:" in details:
        return details.rsplit(": ", 1)[-1]
    return details
