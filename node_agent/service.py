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


RoleState = Callable[[pb.NodeState], None]
"""Fills in what the node's role adds to its state (a control node's view of its execution
nodes, an execution node's last commit), on the event loop that changes it."""


class NodeAgentService(node_agent_pb2_grpc.NodeAgentServicer):
    def __init__(self, sampler: StateSampler, role_state: RoleState | None = None) -> None:
        self.sampler = sampler
        self.role_state = role_state

    async def _state(self) -> pb.NodeState:
        state = await asyncio.to_thread(self.sampler.snapshot)
        if self.role_state is not None:
            self.role_state(state)
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
