"""Bringing a testbed up and down through the playbooks, and asking its nodes how they are."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness.ansible import PlaybookResult, TaskCallback, run_playbook
from harness.errors import HarnessError
from harness.inventory import Inventory, Node
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
