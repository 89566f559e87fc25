"""Bringing a testbed up and down through the playbooks, and asking its nodes how they are."""
from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness.ansible import PlaybookResult, TaskCallback, run_playbook
from harness.errors import HarnessError
from harness.inventory import DEFAULT_INVENTORY, Inventory, Node
from node_agent.proto import node_agent_pb2, node_agent_pb2_grpc


class TestbedError(HarnessError):
    pass


@dataclass
class NodeHealth:
    node: Node
    serving: bool
    detail: str = ""
    state: node_agent_pb2.NodeState | None = None


def check_node(node: Node, timeout_s: float = 2.0, with_state: bool = False) -> NodeHealth:
    try:
        with grpc.insecure_channel(node.endpoint) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
            state = None
            if with_state and reply.status == health_pb2.HealthCheckResponse.SERVING:
                state = node_agent_pb2_grpc.NodeAgentStub(channel).GetState(
                    node_agent_pb2.GetStateRequest(), timeout=timeout_s)
    except grpc.RpcError as error:
        return NodeHealth(node, False, f"{error.code().name.lower()}: {error.details()}")  # type: ignore[attr-defined]
    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    return NodeHealth(node, serving, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status).lower(), state)


def check_all(inventory: Inventory, with_state: bool = False) -> list[NodeHealth]:
    with ThreadPoolExecutor(max_workers=max(len(inventory.nodes), 1)) as pool:
        return list(pool.map(lambda n: check_node(n, with_state=with_state), inventory.nodes))


def is_up(inventory: Inventory) -> bool:
    return all(h.serving for h in check_all(inventory))


def up(inventory: Inventory, on_task: TaskCallback | None = None) -> PlaybookResult:
    result = run_playbook("up.yml", inventory, on_task=on_task)
    _raise_for_failures(result, "up")
    not_serving = [h for h in check_all(inventory) if not h.serving and h.node.role in ("control", "execution")]
    if not_serving:
        names = ", ".join(f"{h.node.name} ({h.detail})" for h in not_serving)
        raise TestbedError(f"after `up`, these nodes do not serve: {names}")
    return result


def down(inventory: Inventory, on_task: TaskCallback | None = None) -> PlaybookResult:
    result = run_playbook("down.yml", inventory, on_task=on_task)
    _raise_for_failures(result, "down")
    return result


def _raise_for_failures(result: PlaybookResult, action: str) -> None:
    failed = result.failed_hosts
    if failed:
        lines = [f"  {h.host}: {h.state}: {'; '.join(h.messages) or 'see ansible output'}" for h in failed]
        raise TestbedError(f"`{action}` failed on {len(failed)} host(s):\n" + "\n".join(lines))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_local_inventory(directory: Path, source: Path = DEFAULT_INVENTORY) -> Path:
    """A copy of a local inventory with free ports and node files under ``directory``.

    Tests and benchmarks use it to run a testbed of their own beside any other.
    """
    inventory = yaml.safe_load((source / "hosts.yml").read_text())
    all_group = inventory["all"]
    all_group["vars"]["vdlt_node_root"] = str(directory / "nodes")
    for group in all_group["children"].values():
        for host_vars in (group.get("hosts") or {}).values():
            host_vars["agent_port"] = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    return directory
