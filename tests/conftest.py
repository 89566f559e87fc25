"""Fixtures that start the project's real servers on free loopback ports under a temp dir."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil
import pytest
import yaml

from harness.store.folder import RunFolder
from harness.store.summary import ClassFigures, RoundSummary
from harness.testing import results_servers
from harness.provision.local_copy import free_port, scratch_local_inventory

REPO = Path(__file__).resolve().parent.parent


def processes_mentioning(marker: str) -> list[psutil.Process]:
    """Live processes whose command line mentions ``marker`` (a test's temp dir)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if marker in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def harness(*args: str, cwd: Path | None = None, timeout: float = 240,
            columns: int | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, in its own process; its output is piped, as into a file or
    CI log, so tables come whole unless ``columns`` sets a terminal's width (COLUMNS)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd or REPO, capture_output=True,
                          text=True, timeout=timeout, env=env)


def node_config(directory: Path, node_id: str, role: str, port: int, **extra: object) -> Path:
    config = {"node_id": node_id, "role": role, "hardware_profile": "test-profile",
              "listen": f"127.0.0.1:{port}", "data_dir": str(directory / node_id), **extra}
    path = directory / f"{node_id}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def agent(command: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node_agent", command, "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=True)


def health(endpoint: str, tls_files: object = None) -> object:
    """The health status a caller with ``tls_files`` (protocol.tls_files.TlsFiles) gets, or the gRPC status
    code it is refused with."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from protocol.tls import channel

    try:
        with channel(endpoint, tls_files) as grpc_channel:  # type: ignore[arg-type]
            return health_pb2_grpc.HealthStub(grpc_channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status
    except grpc.RpcError as error:
        return error.code()  # type: ignore[attr-defined]


def execution_views(control: str) -> list:
    """The control node's own report of each execution node: can it choose it now, and why not."""
    import grpc

    from protocol import node_agent_pb2, node_agent_pb2_grpc

    with grpc.insecure_channel(control) as channel:
        return list(node_agent_pb2_grpc.NodeAgentStub(channel).GetState(node_agent_pb2.GetStateRequest(),
                                                                          timeout=5).execution_nodes)


def wait_for_selection(control: str, timeout_s: float = 10.0) -> None:
    """Until the control node can choose each of its execution nodes (it has heard from them all).
    Asking its state report sends no transaction, so it adds no trust evidence."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        views = execution_views(control)
        if views and all(view.selectable for view in views):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"control node {control} cannot choose all its execution nodes within "
                               f"{timeout_s} s: {[(v.node_id, v.reason) for v in views]}")
        time.sleep(0.1)


@pytest.fixture
def local_inventory(tmp_path: Path) -> Iterator[Path]:
    """A local inventory of its own; whatever a test started from it is stopped afterwards."""
    directory = scratch_local_inventory(tmp_path / "inventory")
    yield directory
    for config in (tmp_path / "inventory" / "nodes").glob("*/node.yaml"):
        subprocess.run([sys.executable, "-m", "node_agent", "stop", "--config", str(config)],
                       capture_output=True, timeout=60)


@pytest.fixture
def ledger_pair(tmp_path: Path) -> Iterator[dict[str, object]]:
    """One control and one execution node, started by the agent's own daemon commands."""
    exec_port, control_port = free_port(), free_port()
    execution = node_config(tmp_path, "exec-0", "execution", exec_port)
    control = node_config(tmp_path, "control-0", "control", control_port,
                          execution_nodes=[{"node_id": "exec-0", "address": f"127.0.0.1:{exec_port}",
                                            "private_capable": True}])
    agent("start", execution)
    agent("start", control)
    wait_for_selection(f"127.0.0.1:{control_port}")
    yield {"control": f"127.0.0.1:{control_port}", "execution": f"127.0.0.1:{exec_port}",
           "exec_dir": tmp_path / "exec-0", "exec_config": execution, "control_config": control}
    agent("stop", control)
    agent("stop", execution)


@pytest.fixture
def sink_factory(tmp_path: Path) -> Iterator[object]:
    """Starts real gRPC sinks (harness.sink); each call returns its endpoint."""
    import time

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    started: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> str:
        port = free_port()
        started.append(subprocess.Popen([sys.executable, "-m", "harness.sink", "--port", str(port), *extra]))
        endpoint = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with grpc.insecure_channel(endpoint) as channel:
                    health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                return endpoint
            except grpc.RpcError:
                time.sleep(0.05)
        raise TimeoutError("sink did not start")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class RoundRun:
    """One round as a run through the harness's run library left it in its run folder."""

    summary: RoundSummary
    folder: RunFolder

    @property
    def total(self) -> ClassFigures:
        return self.summary.total

    @property
    def records(self) -> list[Path]:
        return [self.folder.path / relative for relative in self.summary.records]


def run_benchmark(tmp_path: Path, endpoint: str, rounds: list[dict], workers: int = 1,
                  tls_files: object = None, **worker_options: object) -> list[RoundRun]:
    """Runs rounds against ``endpoint`` through the run library, as `harness run --endpoint`
    does; returns them as their run folder holds them. ``worker_options`` go into
    ``test.workers`` beside the number (``sendWindowMs=0``)."""
    from harness.config.benchmark import load_benchmark
    from harness.run.runner import RunSettings
    from harness.run.runner import run_benchmark as run

    path = tmp_path / f"bench-{len(list(tmp_path.glob('bench-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump({"test": {"name": "t", "workers": {"number": workers, **worker_options},
                                             "rounds": rounds}}))
    outcome = run(load_benchmark(path), None, [endpoint], RunSettings(results_dir=tmp_path / "runs"),
                  tls=tls_files)  # type: ignore[arg-type]
    return [RoundRun(summary, outcome.folder) for summary in outcome.summary.rounds]


def _results_server(start, directory: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    try:
        with start(directory) as url:
            yield url
    except results_servers.MissingServer as missing:
        pytest.skip(str(missing))


@pytest.fixture
def influxdb_v1(tmp_path: Path) -> Iterator[str]:
    """Debian's influxdb 1.x on a free loopback port with temporary data; yields its URL."""
    yield from _results_server(results_servers.influxdb_v1, tmp_path / "influxdb")


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[str]:
    """Debian's victoria-metrics on a free loopback port with temporary data; yields its URL."""
    yield from _results_server(results_servers.victoria_metrics, tmp_path / "vm")


class LedgerBed:
    """Execution and control nodes started by the agent's own daemon commands, each with the
    policy and fault modes a test gives: for holding vdlt to its promises under what breaks them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.configs: dict[str, Path] = {}
        self.endpoints: dict[str, str] = {}

    def add_execution(self, name: str, **extra: object) -> str:
        port = free_port()
        self.configs[name] = node_config(self.directory, name, "execution", port, **extra)
        self.endpoints[name] = f"127.0.0.1:{port}"
        return name

    def add_control(self, name: str, policy: dict | None = None, execution: list[str] | None = None,
                    **extra: object) -> str:
        port = free_port()
        if policy is not None:
            policy_file = self.directory / f"{name}-policy.yaml"
            policy_file.write_text(yaml.safe_dump(policy))
            extra["policy_file"] = str(policy_file)
        peers = [{"node_id": n, "address": self.endpoints[n], "private_capable": True}
                 for n in execution or self.execution_nodes]
        self.configs[name] = node_config(self.directory, name, "control", port, execution_nodes=peers, **extra)
        self.endpoints[name] = f"127.0.0.1:{port}"
        return name

    @property
    def execution_nodes(self) -> list[str]:
        return [n for n, path in self.configs.items() if yaml.safe_load(path.read_text())["role"] == "execution"]

    def chain(self, name: str) -> Path:
        return self.directory / name / "ledger" / "blocks.jsonl"

    def start(self, *names: str) -> None:
        for name in names or tuple(self.configs):
            agent("start", self.configs[name])

    def stop(self, *names: str) -> None:
        for name in names or tuple(self.configs):
            agent("stop", self.configs[name])

    def kill(self, name: str) -> None:
        import signal

        os.kill(int((self.directory / name / "agent.pid").read_text()), signal.SIGKILL)
        (self.directory / name / "agent.pid").unlink()

    def log(self, name: str) -> str:
        return (self.directory / name / "agent.log").read_text()


@pytest.fixture
def ledger_bed(tmp_path: Path) -> Iterator[LedgerBed]:
    bed = LedgerBed(tmp_path / "bed")
    bed.directory.mkdir()
    yield bed
    for config in bed.configs.values():
        subprocess.run([sys.executable, "-m", "node_agent", "stop", "--config", str(config)],
                       capture_output=True, timeout=60)
