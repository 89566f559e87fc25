"""The control node's view of its execution nodes, from their `WatchState` streams."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from protocol import node_agent_pb2
from protocol.state_stream import follow_state
from protocol.tls import TlsFiles
from vdlt.peers import ExecutionPeer

log = logging.getLogger(__name__)
RETRY_DELAY_S = 0.5


@dataclass
class NodeView:
    peer: ExecutionPeer
    state: node_agent_pb2.NodeState | None = None
    last_report: float = 0.0  # monotonic
    connected: bool = False
    error: str = "no state report yet"


class StateWatcher:
    def __init__(self, peers: list[ExecutionPeer], interval_s: float, tls: TlsFiles | None = None) -> None:
        self.interval_s = interval_s
        self.tls = tls
        self.views = {p.node_id: NodeView(p) for p in peers}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._follow(v), name=f"watch-{n}") for n, v in self.views.items()]

    async def _follow(self, view: NodeView) -> None:
        def on_state(state: node_agent_pb2.NodeState) -> None:
            view.state = state
            view.last_report = time.monotonic()
            view.connected = True
            view.error = ""

        def on_error(error: str) -> None:
            view.error = error
            view.connected = False

        await follow_state(view.peer.address, self.tls, self.interval_s, on_state, on_error, RETRY_DELAY_S)

    def is_fresh(self, view: NodeView, stale_after_intervals: float) -> bool:
        return view.state is not None and time.monotonic() - view.last_report <= stale_after_intervals * self.interval_s

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
