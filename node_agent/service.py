"""The NodeAgent gRPC service."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc

from node_agent.state import StateSampler
from protocol import node_agent_pb2 as pb
from protocol import node_agent_pb2_grpc

MIN_INTERVAL_MS = 100
MAX_INTERVAL_MS = 60_000


ExecutionViews = Callable[[], list[pb.ExecutionNodeView]]


class NodeAgentService(node_agent_pb2_grpc.NodeAgentServicer):
    def __init__(self, sampler: StateSampler, execution_views: ExecutionViews | None = None) -> None:
        self.sampler = sampler
        # A control node's view of its execution nodes, read on the event loop that changes it.
        self.execution_views = execution_views

    async def _state(self) -> pb.NodeState:
        state = await asyncio.to_thread(self.sampler.snapshot)
        if self.execution_views is not None:
            state.execution_nodes.extend(self.execution_views())
        return state

    async def GetState(self, request: pb.GetStateRequest, context: grpc.aio.ServicerContext) -> pb.NodeState:
        return await self._state()

    async def WatchState(
        self, request: pb.WatchStateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.NodeState]:
        interval_ms = min(max(request.interval_ms or 1000, MIN_INTERVAL_MS), MAX_INTERVAL_MS)
        while True:
            yield await self._state()
            await asyncio.sleep(interval_ms / 1000)
