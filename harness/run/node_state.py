"""Node state during a run: every node's ``WatchState`` stream, recorded in the run folder.

Each report is appended to ``RUN_DIR/nodes/<node>.jsonl`` (:mod:`harness.store.samples`) at once,
so an interrupted run keeps every sample it received. A node that is down or restarts mid-run is
asked again every second; the gap in its samples is the truth about it.
"""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import IO, Any, Callable

from harness.provision.inventory import Node
from harness.store.samples import append_sample, sample_record
from protocol import node_agent_pb2 as pb
from protocol.state_stream import follow_state
from protocol.tls import TlsFiles

RETRY_S = 1.0
SampleCallback = Callable[[dict[str, Any]], None]

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    """The event loop every recorder of this process follows its nodes on, on a thread of its own.
    It is never closed: a stream given up on at a run's end may still hear from gRPC after it,
    and gRPC hands that to the loop the call was made on (a closed one turns it into a
    traceback); a campaign's runs follow one another on it."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="node-state", daemon=True).start()
        return _loop


class NodeStateRecorder:
    """Follows every node's state on the process's node-state thread from :meth:`start` to :meth:`stop`."""

    def __init__(self, nodes: list[Node], directory: Path, interval_s: float = 1.0,
                 on_sample: SampleCallback | None = None, tls: TlsFiles | None = None) -> None:
        self.nodes = nodes
        self.tls = tls
        self.directory = directory
        self.interval_s = max(0.1, interval_s)
        self.on_sample = on_sample
        self.samples: dict[str, int] = {n.name: 0 for n in nodes}
        self.last_error: dict[str, str] = {}
        self._loop = _background_loop()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            future = asyncio.run_coroutine_threadsafe(self._spawn(node), self._loop)
            self._tasks.append(future.result())

    async def _spawn(self, node: Node) -> asyncio.Task[None]:
        return asyncio.create_task(self._follow(node), name=f"watch-{node.name}")

    async def _follow(self, node: Node) -> None:
        with (self.directory / f"{node.name}.jsonl").open("a") as out:
            await follow_state(node.endpoint, self.tls, self.interval_s, lambda state: self._record(node, state, out),
                               lambda error: self.last_error.__setitem__(node.name, error), RETRY_S)

    def _record(self, node: Node, state: pb.NodeState, out: IO[str]) -> None:
        record = sample_record(state)
        record["node"] = node.name  # the inventory's name is the one every other record uses
        append_sample(out, record)
        self.samples[node.name] += 1
        if self.on_sample is not None:
            self.on_sample(record)

    def stop(self) -> None:
        async def cancel() -> None:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        if self._tasks:
            asyncio.run_coroutine_threadsafe(cancel(), self._loop).result(timeout=10)
            self._tasks = []
