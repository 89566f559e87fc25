"""The NodeAgent gRPC service."""
from __future__ import annotations

import asyncio
from typing import AsyncIterator

import grpc

from node_agent.proto import node_agent_pb2 as pb
from node_agent.proto import node_agent_pb2_grpc
from node_agent.state import StateSampler

MIN_INTERVAL_MS = 100
MAX_INTERVAL_MS = 60_000


class NodeAgentService(node_agent_pb2_grpc.NodeAgentServicer):
    def __init__(self, sampler: StateSampler) -> None:
        self.sampler = sampler

    async def GetState(self, request: pb.GetStateRequest, context: grpc.aio.ServicerContext) -> pb.NodeState:
        return await asyncio.to_thread(self.sampler.snapshot)

    async def WatchState(
        self, request: pb.WatchStateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.NodeState]:
        interval_ms = min(max(request.interval_ms or 1000, MIN_INTERVAL_MS), MAX_INTERVAL_MS)
        while True:
            yield await asyncio.to_thread(self.sampler.snapshot)
            await asyncio.sleep(interval_ms / 1000)
