"""A real agent's reported state is sane and its stream advances."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protocol import node_agent_pb2, node_agent_pb2_grpc
from tests.conftest import agent, free_port, health, node_config, processes_mentioning

SERVING = health_pb2.HealthCheckResponse.SERVING


def test_state_matches_this_machine(tmp_path: Path) -> None:
    config = node_config(tmp_path, "exec-7", "execution", port := free_port())
    agent("start", config)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            state = node_agent_pb2_grpc.NodeAgentStub(channel).GetState(node_agent_pb2.GetStateRequest(), timeout=5)
    finally:
        agent("stop", config)
    assert state.node_id == "exec-7"
    assert state.role == node_agent_pb2.NODE_ROLE_EXECUTION
    assert state.hardware_profile == "test-profile"
    assert state.cpu.logical_count == os.cpu_count()
    assert len(state.cpu.per_core_utilization_percent) == os.cpu_count()
    assert 0.0 <= state.cpu.utilization_percent <= 100.0
    assert state.memory.total_bytes > state.memory.available_bytes > 0
    data = [m for m in state.storage.mounts if m.mountpoint == state.storage.data_mount]
    assert data and data[0].total_bytes > 0 and data[0].free_bytes > 0
    assert state.trust.score == 0.5  # no evidence yet: the prior
    assert len(state.code_digest) == 64
    assert not processes_mentioning(str(tmp_path))


def test_watch_state_timestamps_advance(tmp_path: Path) -> None:
    config = node_config(tmp_path, "control-7", "control", port := free_port(),
                         execution_nodes=[{"node_id": "e", "address": "127.0.0.1:1"}])
    agent("start", config)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stream = node_agent_pb2_grpc.NodeAgentStub(channel).WatchState(
                node_agent_pb2.WatchStateRequest(interval_ms=200), timeout=10)
            states = [next(stream) for _ in range(4)]
            stream.cancel()
    finally:
        agent("stop", config)
    stamps = [s.timestamp.ToNanoseconds() for s in states]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert stamps[-1] - stamps[0] >= 3 * 180_000_000  # about three 200 ms intervals apart
    assert [s.sequence for s in states] == sorted(s.sequence for s in states)
    assert all(s.role == node_agent_pb2.NODE_ROLE_CONTROL for s in states)


def test_second_start_changes_nothing_and_stop_leaves_no_process(tmp_path: Path) -> None:
    port = free_port()
    config = node_config(tmp_path, "exec-8", "execution", port)
    first = agent("start", config)
    # `start` returns once the agent serves (the agent says so through a pipe): no waiting here.
    assert health(f"127.0.0.1:{port}") == SERVING
    second = agent("start", config)
    assert '"changed": true' in first.stdout
    assert '"changed": false' in second.stdout
    agent("stop", config)
    assert not processes_mentioning(str(tmp_path))


def test_start_reads_its_configuration_without_loading_grpc() -> None:
    """`start` runs once per node and `up`: gRPC's import would cost it most of a second of CPU
    on a Raspberry Pi, and it needs none to learn that the agent serves."""
    code = "import sys, node_agent.daemon, node_agent.config; print(sorted(m for m in sys.modules if 'grpc' in m))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_an_agent_whose_start_was_interrupted_serves_all_the_same(tmp_path: Path) -> None:
    """`start` gone before the agent could tell it (a dropped connection, ^C): the agent serves."""
    port = free_port()
    config = node_config(tmp_path, "exec-9", "execution", port)
    ready_read, ready_write = os.pipe()
    os.close(ready_read)  # nobody will read the agent's line
    process = subprocess.Popen([sys.executable, "-m", "node_agent", "serve", "--config", str(config),
                                "--ready-fd", str(ready_write)], pass_fds=(ready_write,),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(ready_write)
    try:
        deadline = time.monotonic() + 20
        while health(f"127.0.0.1:{port}") != SERVING and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # past the agent's line to the closed pipe
        assert process.poll() is None, "the agent exited"
        assert health(f"127.0.0.1:{port}") == SERVING
    finally:
        process.terminate()
        process.wait(timeout=10)
