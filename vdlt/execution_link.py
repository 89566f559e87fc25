"""A control node's connection to one execution node.

Transactions are forwarded over one long-lived bidirectional stream. While up to ``window``
batches are in flight, new transactions accumulate and leave together as the next batch, so
batches grow with load and a lightly loaded link still forwards each transaction at once.
"""
from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

import grpc

from vdlt.proto import ledger_pb2, ledger_pb2_grpc


class ExecutionUnavailable(Exception):
    """The execution node could not be reached or its stream broke."""


@dataclass(frozen=True)
class ExecutionOutcome:
    node_id: str
    block_height: int
    result: ledger_pb2.ExecutionResult


class ExecutionLink:
    def __init__(self, node_id: str, address: str, max_batch: int = 256, window: int = 4) -> None:
        self.node_id = node_id
        self.address = address
        self.max_batch = max_batch
        self._window_size = window
        self._window = asyncio.Semaphore(window)
        self._pending: list[tuple[ledger_pb2.Transaction, asyncio.Future[ExecutionOutcome]]] = []
        self._wakeup = asyncio.Event()
        self._in_flight: dict[int, list[asyncio.Future[ExecutionOutcome]]] = {}
        self._batch_ids = itertools.count(1)
        self._channel: grpc.aio.Channel | None = None
        self._task: asyncio.Task[None] | None = None

    def submit(self, tx: ledger_pb2.Transaction) -> asyncio.Future[ExecutionOutcome]:
        future: asyncio.Future[ExecutionOutcome] = asyncio.get_running_loop().create_future()
        self._pending.append((tx, future))
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"link-{self.node_id}")
        return future

    async def _batches(self):  # type: ignore[no-untyped-def]
        while True:
            await self._window.acquire()
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            taken, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            batch_id = next(self._batch_ids)
            self._in_flight[batch_id] = [future for _, future in taken]
            yield ledger_pb2.ExecuteBatch(batch_id=batch_id, transactions=[tx for tx, _ in taken])

    async def _run(self) -> None:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address)
        stub = ledger_pb2_grpc.ExecutionStub(self._channel)
        try:
            async for reply in stub.ExecuteStream(self._batches()):
                futures = self._in_flight.pop(reply.batch_id, [])
                self._window.release()
                for future, result in zip(futures, reply.results):
                    if not future.done():
                        future.set_result(ExecutionOutcome(self.node_id, reply.block_height, result))
            raise ExecutionUnavailable(f"execution node {self.node_id} closed its stream")
        except (grpc.aio.AioRpcError, ExecutionUnavailable) as error:
            self._fail_all(error)

    def _fail_all(self, error: Exception) -> None:
        reason = ExecutionUnavailable(f"execution node {self.node_id} at {self.address}: {_describe(error)}")
        for futures in self._in_flight.values():
            for future in futures:
                if not future.done():
                    future.set_exception(reason)
        self._in_flight.clear()
        # The window starts fresh with the next stream.
        self._window = asyncio.Semaphore(self._window_size)
        pending, self._pending = self._pending, []
        for _, future in pending:
            if not future.done():
                future.set_exception(reason)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._channel is not None:
            await self._channel.close()


def _describe(error: Exception) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    return str(error)
