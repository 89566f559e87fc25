"""The one follower of a node agent's ``WatchState`` stream.

A control node follows its execution nodes' streams to choose among them, and the controller
follows every node's to record the run: both through :func:`follow_state`, which reconnects
after ``retry_s`` whenever the stream breaks or cannot be opened, for as long as its task runs.
"""
from __future__ import annotations

import asyncio
from typing import Callable

import grpc

from protocol import node_agent_pb2, node_agent_pb2_grpc
from protocol.tls import TlsFiles, aio_channel


async def follow_state(address: str, tls: TlsFiles | None, interval_s: float,
                       on_state: Callable[[node_agent_pb2.NodeState], None], on_error: Callable[[str], None],
                       retry_s: float) -> None:
    """Calls ``on_state`` with each report the agent at ``address`` sends every ``interval_s``,
    and ``on_error`` with why, each time the stream is lost; until cancelled."""
    request = node_agent_pb2.WatchStateRequest(interval_ms=int(interval_s * 1000))
    while True:
        try:
            async with aio_channel(address, tls) as channel:
                async for state in node_agent_pb2_grpc.NodeAgentStub(channel).WatchState(request):
                    on_state(state)
            on_error("the node ended its state stream")
        except grpc.aio.AioRpcError as error:
            on_error(f"{error.code().name}: {error.details()}")
        await asyncio.sleep(retry_s)
