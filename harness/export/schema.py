"""Which points a run folder becomes, in InfluxDB line protocol.

Tags are of low cardinality only (campaign, run id, round, class, status, worker); ids and
values are fields. Points are derived from the folder deterministically - same points, same
timestamps - so pushing a run twice leaves the database as pushing it once.

- ``vdlt_transactions``: one point per transaction, at its intended send time (ns).
  tags: campaign, run_id, round, class, class_given, status, worker;
  fields: tx_id, lag_ms, latency_ms (decided ones), execution_nodes, reason.
- ``vdlt_rounds``: one point per round and class (and ``all``), at the round's start.
  tags: campaign, run_id, round, class; fields: the figures of summary.json.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Iterator

from harness.records import round_records


def _tag(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ") or "none"


def _string(value: str) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fields(fields: dict[str, object]) -> str:
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            parts.append(f"{key}={'true' if value else 'false'}")
        elif isinstance(value, int):
            parts.append(f"{key}={value}i")
        elif isinstance(value, float):
            parts.append(f"{key}={value!r}")
        else:
            parts.append(f"{key}={_string(str(value))}")
    return ",".join(parts)


def run_points(run_dir: Path) -> Iterator[tuple[str, str]]:
    """(measurement, line) for every point of the run."""
    summary = json.loads((run_dir / "summary.json").read_text())
    run_id, campaign = summary["run_id"], summary["benchmark"]["name"]
    base = f"campaign={_tag(campaign)},run_id={_tag(run_id)}"
    for round_summary in summary["rounds"]:
        label = _tag(round_summary["label"])
        for record in round_records(run_dir, round_summary["index"]):
            tags = (f"vdlt_transactions,{base},round={label},class={_tag(record.class_asked)},"
                    f"class_given={_tag(record.class_given)},status={_tag(record.status)},worker={record.worker}")
            fields = _fields({
                "tx_id": record.tx_id,
                "lag_ms": (record.sent_ns - record.intended_ns) / 1e6,
                "latency_ms": record.latency_ms if record.decided_ns else None,
                "execution_nodes": record.execution_nodes or None,
                "reason": record.reason or None,
                "trimmed": record.trimmed,
            })
            yield "vdlt_transactions", f"{tags} {fields} {record.intended_ns}"
        started = _ns(round_summary["started_at"])
        rows = [*round_summary["classes"].items(), ("all", round_summary["total"])]
        for slug, stats in rows:
            fields = {"submitted": stats["submitted"], "succeeded": stats["succeeded"], "failed": stats["failed"],
                      **{f"failed_{k}": v for k, v in stats["failed_by_reason"].items()},
                      "send_rate_tps": stats["send_rate_tps"], "throughput_tps": stats["throughput_tps"],
                      **{f"latency_{k.replace('.', '_')}_ms": v for k, v in stats["latency_ms"].items()},
                      **{f"lag_{k}_ms": v for k, v in stats["lag_ms"].items()}}
            yield "vdlt_rounds", f"vdlt_rounds,{base},round={label},class={_tag(slug)} {_fields(fields)} {started}"


def _ns(iso: str) -> int:
    moment = datetime.fromisoformat(iso)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
