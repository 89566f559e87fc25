"""What a person reads: tables that fit the terminal without cutting a number, JSON for scripts."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from harness.provision.inventory import Node
from harness.provision.testbed import NodeHealth
from harness.store.summary import RoundSummary
from harness.terminal.tables import round_table, show, status_table
from protocol import node_agent_pb2 as pb
from tests.conftest import REPO, harness

KV = str(REPO / "workloads" / "modules" / "kv.py")


def figures(p50: float, p99: float) -> dict:
    latency = {"min": 1.234, "mean": 4.5, "p50": p50, "p90": 8.0, "p95": 9.0, "p99": p99, "p99.9": 20.0, "max": 31.75}
    return {"submitted": 123456, "succeeded": 123000, "failed": 456,
            "failed_by_reason": {"rejected": 0, "dropped": 456, "timeout": 0, "error": 0},
            "failure_reasons": [{"status": "dropped", "reason": "scavenger queue is full (1024 waiting)", "count": 456}],
            "undecided": 0, "send_rate_tps": 4115.2, "throughput_tps": 4100.04, "latency_ms": latency,
            "lag_ms": {"p50": 0.1, "p99": 0.9, "max": 2.0}}


ROUND = RoundSummary.from_json({
    "index": 0, "label": "put-mixed", "rate_control": {"type": "fixed-rate", "opts": {"tps": 4115}},
    "started_at": "2026-12-01T00:00:00.000+00:00", "duration_s": 30.0,
    "classes": {"computation-intensive": figures(3.14159, 271.8281), "scavenger": figures(12.5, 1234.5678)},
    "total": figures(3.5, 1234.5678)})


def rendered(width: int, build, wide: bool = False) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    target = Console(file=out, width=width, force_terminal=True, color_system=None)
    show(target, build, wide)
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 120, 200])
def test_round_table_keeps_every_number_whole(width: int) -> None:
    text = rendered(width, lambda w: round_table(ROUND, w))
    assert "…" not in text
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    # What a reader needs at any width: class, succeeded, failed, throughput, p50, p99, whole.
    for number in ("123000", "456", "4100.0", "3.14", "271.83", "1234.57", "computation-intensive"):
        assert number in text, (number, text)
    assert "456× scavenger queue is full" in text.replace("\n", " ").replace("  ", " ") or "456×" in text
    if width == 80:
        assert "not shown at 80 columns: " in text and "--wide shows them" in text
    else:
        assert "not shown" not in text
        for number in ("4115.2", "1.23", "31.75"):  # send/s, min, max
            assert number in text


def test_round_table_wide_on_a_narrow_terminal_is_whole() -> None:
    text = rendered(80, lambda w: round_table(ROUND, w), wide=True)
    assert "not shown" not in text and "4115.2" in text and "…" not in text


def node_health(name: str, role: str, serving: bool) -> NodeHealth:
    node = Node(name, role, "192.0.2.100", 50051, "rpi4-with-a-long-profile-name")
    if not serving:
        return NodeHealth(node, False, "unavailable: failed to connect to all addresses")
    state = pb.NodeState(node_id=name)
    state.cpu.logical_count, state.cpu.physical_count = 4, 4
    state.cpu.utilization_percent, state.cpu.load_average_1m = 87.4, 3.21
    state.memory.used_percent = 41.6
    state.trust.score, state.uptime_seconds = 0.973, 86400
    state.storage.data_mount = "/"
    state.storage.mounts.add(mountpoint="/", free_bytes=12 * 2**30)
    return NodeHealth(node, True, "serving", state)


@pytest.mark.parametrize("width", [80, 120, 200])
def test_status_table_keeps_what_names_a_node_and_its_health(width: int) -> None:
    health = [node_health("lab-server-1", "control", True), node_health("rpi4-12", "execution", True),
              node_health("nuc-3", "execution", False)]
    text = rendered(width, lambda w: status_table(health, w))
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
    for cell in ("lab-server-1", "rpi4-12", "nuc-3", "control", "execution", "serving", "unavailable", "87", "42",
                 "0.97"):
        assert cell in text, (cell, text)
    if width < 200:
        assert "not shown at" in text
    else:
        assert "not shown" not in text and "192.0.2.100:50051" in text and "12.0 GiB" in text


def test_status_json_is_only_json_on_stdout(local_inventory: Path) -> None:
    result = harness("status", "-i", str(local_inventory), "--json")
    assert result.returncode == 3  # nothing is up
    nodes = json.loads(result.stdout)
    assert [n["node"] for n in nodes] == ["control-0", "exec-0", "exec-1", "exec-2"]
    assert all(n["serving"] is False and "not deployed" in n["diagnosis"] for n in nodes)
    assert "testbed" in result.stderr  # the table went to stderr


def test_run_json_is_the_summary_and_columns_is_honoured(tmp_path: Path, sink_factory) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump({"test": {"name": "json", "rounds": [{
        "label": "r", "txNumber": 50, "rateControl": {"type": "fixed-rate", "opts": {"tps": 100}},
        "workload": {"module": KV}, "cos": {"computation-intensive": 1, "storage-intensive": 1}}]}}))
    result = harness("run", str(path), "--endpoint", sink_factory(), "--results-dir", str(tmp_path / "r"), "--json",
                     columns=80)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "r").iterdir()
    assert json.loads(result.stdout) == json.loads((run_dir / "summary.json").read_text())
    table_lines = [line for line in result.stderr.splitlines() if re.match(r"^[┏┃┡│└]", line)]
    assert table_lines and max(len(line) for line in table_lines) <= 80
    assert "not shown at 80 columns" in result.stderr
