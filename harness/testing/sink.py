"""A stand-in control node that confirms every transaction at once: for measuring the load
generator itself (rate accuracy, lag, its own ceiling), without the ledger's costs.

    python -m harness.sink --port 50999 [--stall-after 2 --stall-for 1]

``--stall-after S --stall-for D`` makes it stop answering for D seconds, S seconds after the
first transaction arrives (to show what coordinated omission would hide).
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import time
from typing import AsyncIterator

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from protocol import ledger_pb2, ledger_pb2_grpc

CONFIRMED = ledger_pb2.RECEIPT_STATUS_CONFIRMED


class Sink(ledger_pb2_grpc.ControlServicer):
    def __init__(self, stall_after_s: float | None = None, stall_for_s: float = 0.0) -> None:
        self.stall_after_s = stall_after_s
        self.stall_for_s = stall_for_s
        self.first_seen: float | None = None

    async def _maybe_stall(self) -> None:
        now = time.monotonic()
        if self.first_seen is None:
            self.first_seen = now
        if self.stall_after_s is None:
            return
        start = self.first_seen + self.stall_after_s
        end = start + self.stall_for_s
        if start <= now < end:
            await asyncio.sleep(end - now)

    @staticmethod
    def _receipt(tx: ledger_pb2.Transaction) -> ledger_pb2.Receipt:
        return ledger_pb2.Receipt(transaction_id=tx.id, status=CONFIRMED, cos_asked=tx.cos, cos_given=tx.cos,
                                  execution_nodes=["sink"])

    async def Submit(self, request: ledger_pb2.Transaction, context: grpc.aio.ServicerContext) -> ledger_pb2.Receipt:
        await self._maybe_stall()
        return self._receipt(request)

    async def SubmitStream(self, request_iterator: AsyncIterator[ledger_pb2.Transaction],
                           context: grpc.aio.ServicerContext) -> AsyncIterator[ledger_pb2.Receipt]:
        async for tx in request_iterator:
            await self._maybe_stall()
            yield self._receipt(tx)

    async def SubmitBatches(self, request_iterator: AsyncIterator[ledger_pb2.TransactionBatch],
                            context: grpc.aio.ServicerContext) -> AsyncIterator[ledger_pb2.ReceiptBatch]:
        async for batch in request_iterator:
            await self._maybe_stall()
            yield ledger_pb2.ReceiptBatch(receipts=[self._receipt(tx) for tx in batch.transactions])


async def serve(port: int, stall_after_s: float | None, stall_for_s: float) -> None:
    server = grpc.aio.server()
    ledger_pb2_grpc.add_ControlServicer_to_server(Sink(stall_after_s, stall_for_s), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await server.stop(grace=1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.sink")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stall-after", type=float, default=None)
    parser.add_argument("--stall-for", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.stall_after, args.stall_for))


if __name__ == "__main__":
    main()
