"""Node state during a run: every node's ``WatchState`` stream, recorded in the run folder.

Each report is appended to ``RUN_DIR/nodes/<node>.jsonl`` as one JSON object per line and
flushed at once, so an interrupted run keeps every sample it received. A node that is down or
restarts mid-run is asked again every second; the gap in its samples is the truth about it.

A sample record (the fields are named as Telegraf names them, so exporting stays a renaming-free
copy): ``time_ns``, ``node``, ``role``, ``hardware_profile``, ``sequence``,
``cpu`` {usage_user, usage_system, usage_idle, usage_iowait, usage_steal, usage_nice, usage_irq,
usage_softirq, usage_active, n_cpus, load1, load5, load15, frequency_mhz},
``mem`` {total, available, used, used_percent},
``disk`` [{path, device, fstype, total, free, used, used_percent}],
``diskio`` [{name, read_bytes, write_bytes, reads, writes, read_bytes_per_second, write_bytes_per_second}],
``trust`` {score, success_evidence, failure_evidence, agreements, dissents, timeouts, uptime_seconds, code_digest},
``execution_nodes`` [{execution_node, selectable, reason, trust_score, outstanding}] (a control node's
view of each execution node it may choose; empty on other roles).
"""
from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import IO, Any, Callable

import grpc

from harness.inventory import Node
from node_agent.proto import node_agent_pb2 as pb
from node_agent.proto import node_agent_pb2_grpc
from vdlt.tls import TlsFiles, aio_channel

RETRY_S = 1.0
SampleCallback = Callable[[dict[str, Any]], None]


def sample_record(state: pb.NodeState) -> dict[str, Any]:
    cpu, memory, trust = state.cpu, state.memory, state.trust
    return {
        "time_ns": state.timestamp.ToNanoseconds(),
        "node": state.node_id,
        "role": pb.NodeRole.Name(state.role).removeprefix("NODE_ROLE_").lower(),
        "hardware_profile": state.hardware_profile,
        "sequence": state.sequence,
        "cpu": {
            "usage_user": cpu.user_percent, "usage_system": cpu.system_percent, "usage_idle": cpu.idle_percent,
            "usage_iowait": cpu.iowait_percent, "usage_steal": cpu.steal_percent, "usage_nice": cpu.nice_percent,
            "usage_irq": cpu.irq_percent, "usage_softirq": cpu.softirq_percent,
            "usage_active": cpu.utilization_percent, "n_cpus": cpu.logical_count,
            "load1": cpu.load_average_1m, "load5": cpu.load_average_5m, "load15": cpu.load_average_15m,
            "frequency_mhz": cpu.frequency_current_mhz,
        },
        "mem": {"total": memory.total_bytes, "available": memory.available_bytes, "used": memory.used_bytes,
                "used_percent": memory.used_percent},
        "disk": [{
            "path": m.mountpoint, "device": m.device, "fstype": m.fstype, "total": m.total_bytes, "free": m.free_bytes,
            "used": m.total_bytes - m.free_bytes,
            "used_percent": 100.0 * (m.total_bytes - m.free_bytes) / m.total_bytes if m.total_bytes else 0.0,
        } for m in state.storage.mounts],
        "diskio": [{
            "name": d.device, "read_bytes": d.read_bytes, "write_bytes": d.write_bytes, "reads": d.read_count,
            "writes": d.write_count, "read_bytes_per_second": d.read_bytes_per_second,
            "write_bytes_per_second": d.write_bytes_per_second,
        } for d in state.storage.disks],
        "trust": {
            "score": trust.score, "success_evidence": trust.success_evidence,
            "failure_evidence": trust.failure_evidence, "agreements": trust.agreements, "dissents": trust.dissents,
            "timeouts": trust.timeouts, "uptime_seconds": trust.uptime_seconds, "code_digest": trust.code_digest,
        },
        "execution_nodes": [{
            "execution_node": v.node_id, "selectable": v.selectable, "reason": v.reason, "trust_score": v.trust_score,
            "outstanding": v.outstanding,
        } for v in state.execution_nodes],
    }


def read_samples(path: Path) -> list[dict[str, Any]]:
    """A node's samples; a last line cut short by a crash is left out."""
    samples = []
    with path.open() as handle:
        for line in handle:
            if line.endswith("\n"):
                samples.append(json.loads(line))
    return samples


class NodeStateRecorder:
    """Follows every node's state on a thread of its own from :meth:`start` to :meth:`stop`."""

    def __init__(self, nodes: list[Node], directory: Path, interval_s: float = 1.0,
                 on_sample: SampleCallback | None = None, tls: TlsFiles | None = None) -> None:
        self.nodes = nodes
        self.tls = tls
        self.directory = directory
        self.interval_ms = max(100, int(interval_s * 1000))
        self.on_sample = on_sample
        self.samples: dict[str, int] = {n.name: 0 for n in nodes}
        self.last_error: dict[str, str] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="node-state", daemon=True)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        for node in self.nodes:
            future = asyncio.run_coroutine_threadsafe(self._spawn(node), self._loop)
            self._tasks.append(future.result())

    async def _spawn(self, node: Node) -> asyncio.Task[None]:
        return asyncio.create_task(self._follow(node), name=f"watch-{node.name}")

    async def _follow(self, node: Node) -> None:
        with (self.directory / f"{node.name}.jsonl").open("a") as out:
            while True:
                try:
                    async with aio_channel(node.endpoint, self.tls) as channel:
                        stub = node_agent_pb2_grpc.NodeAgentStub(channel)
                        async for state in stub.WatchState(pb.WatchStateRequest(interval_ms=self.interval_ms)):
                            self._record(node, state, out)
                except grpc.aio.AioRpcError as error:
                    self.last_error[node.name] = f"{error.code().name}: {error.details()}"
                await asyncio.sleep(RETRY_S)

    def _record(self, node: Node, state: pb.NodeState, out: IO[str]) -> None:
        record = sample_record(state)
        record["node"] = node.name  # the inventory's name is the one every other record uses
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
        out.flush()
        self.samples[node.name] += 1
        if self.on_sample is not None:
            self.on_sample(record)

    def stop(self) -> None:
        async def cancel() -> None:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(cancel(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()
