"""Node state samples as a run folder keeps them: ``nodes/<node>.jsonl``, one JSON object a line.

A sample record (fields named as Telegraf names them, so exporting stays a renaming-free copy):
``time_ns``, ``node``, ``role``, ``hardware_profile``, ``sequence``,
``cpu`` {usage_user, usage_system, usage_idle, usage_iowait, usage_steal, usage_nice, usage_irq,
usage_softirq, usage_active, n_cpus, load1, load5, load15, frequency_mhz},
``mem`` {total, available, used, used_percent, limit, agent_rss (the agent's own resident memory)},
``disk`` [{path, device, fstype, total, free, used, used_percent}],
``diskio`` [{name, read_bytes, write_bytes, reads, writes, read_bytes_per_second, write_bytes_per_second}],
``trust`` {score, success_evidence, failure_evidence, agreements, dissents, timeouts, uptime_seconds, code_digest},
``execution_nodes`` [{execution_node, selectable, reason, trust_score, outstanding}] (a control node's
view of each execution node it may choose; empty on other roles).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from protocol import node_agent_pb2 as pb


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
            # An emulated smaller machine's cap (0: none); usage_active is then of the cap.
            "limit_cores": cpu.limit_cores,
        },
        "mem": {"total": memory.total_bytes, "available": memory.available_bytes, "used": memory.used_bytes,
                "used_percent": memory.used_percent, "limit": memory.limit_bytes,
                "agent_rss": memory.agent_rss_bytes},
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
            "timeouts": trust.timeouts, "uptime_seconds": state.uptime_seconds, "code_digest": state.code_digest,
        },
        "execution_nodes": [{
            "execution_node": v.node_id, "selectable": v.selectable, "reason": v.reason, "trust_score": v.trust.score,
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


def append_sample(out: IO[str], record: dict[str, Any]) -> None:
    """One sample, flushed at once: an interrupted run keeps every sample it received."""
    out.write(json.dumps(record, separators=(",", ":")) + "\n")
    out.flush()
