"""Bringing a testbed up and down through the playbooks, and asking its nodes how they are."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness.provision import tls, wheelhouse
from harness.provision.ansible import PlaybookResult, TaskCallback, run_playbook
from harness.provision.inventory import Inventory, Node
from protocol import node_agent_pb2, node_agent_pb2_grpc
from protocol.errors import HarnessError
from protocol.tls import TlsFiles, channel


class TestbedError(HarnessError):
    pass


@dataclass
class NodeHealth:
    node: Node
    serving: bool
    detail: str = ""
    state: node_agent_pb2.NodeState | None = None


def check_node(node: Node, timeout_s: float = 2.0, with_state: bool = False,
               tls_files: TlsFiles | None = None) -> NodeHealth:
    try:
        with channel(node.endpoint, tls_files) as grpc_channel:
            reply = health_pb2_grpc.HealthStub(grpc_channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
            state = None
            if with_state and reply.status == health_pb2.HealthCheckResponse.SERVING:
                state = node_agent_pb2_grpc.NodeAgentStub(grpc_channel).GetState(
                    node_agent_pb2.GetStateRequest(), timeout=timeout_s)
    except grpc.RpcError as error:
        return NodeHealth(node, False, f"{error.code().name.lower()}: {error.details()}")  # type: ignore[attr-defined]
    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
    return NodeHealth(node, serving, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status).lower(), state)


def check_all(inventory: Inventory, with_state: bool = False) -> list[NodeHealth]:
    tls_files = tls.controller_files(inventory)
    with ThreadPoolExecutor(max_workers=max(len(inventory.nodes), 1)) as pool:
        return list(pool.map(lambda n: check_node(n, with_state=with_state, tls_files=tls_files), inventory.nodes))


def diagnose(inventory: Inventory, names: list[str]) -> dict[str, str]:
    """Why each of these nodes does not serve, as the node itself sees it (the status playbook)."""
    if not names:
        return {}
    result = run_playbook(ACTIONS["status"], inventory, limit=",".join(names))
    reasons = {}
    for name in names:
        outcome = result.hosts.get(name)
        report = result.facts.get(name, {}).get("node_agent_report")
        if outcome is not None and outcome.state in ("failed", "unreachable"):
            reasons[name] = f"host {outcome.state}: {'; '.join(outcome.messages) or 'see the ansible output'}"
        elif not isinstance(report, dict):
            reasons[name] = "the node did not say"
        elif report.get("deployed") is False:
            reasons[name] = "not deployed on the node (`harness up` deploys and starts it)"
        elif not report.get("pid"):
            reasons[name] = "no agent process on the node (`harness up` starts it; `harness logs` shows how it ended)"
        elif not report.get("serving"):
            reasons[name] = f"agent process {report['pid']} runs but does not serve yet (`harness logs` shows why)"
        else:
            reasons[name] = (f"agent process {report['pid']} serves on the node, but not for the controller: "
                             f"check the node's address and the network between them")
    return reasons


def is_up(inventory: Inventory) -> bool:
    return all(h.serving for h in check_all(inventory))


# How long `up` and `run` wait for control nodes to hear from their execution nodes: a state
# report arrives within a sample interval of a node starting.
SELECTION_WAIT_S = 10.0


def unselectable(health: NodeHealth) -> list[str]:
    """The execution nodes this control node cannot choose now, each with why."""
    if health.state is None:
        return []
    return [f"{view.node_id}: {view.reason}" for view in health.state.execution_nodes if not view.selectable]


def wait_for_selection(inventory: Inventory, timeout_s: float = SELECTION_WAIT_S,
                       should_stop: Callable[[], bool] = lambda: False) -> list[NodeHealth]:
    """Every node's health and state, once each serving control node can choose every serving
    execution node (or after ``timeout_s``, or when ``should_stop`` says so). Asking adds no
    trust evidence: no transaction is sent."""
    deadline = time.monotonic() + timeout_s
    while True:
        health = check_all(inventory, with_state=True)
        serving = {h.node.name for h in health if h.serving}
        waiting = [view for h in health if h.state is not None for view in h.state.execution_nodes
                   if not view.selectable and view.node_id in serving]
        if not waiting or time.monotonic() >= deadline or should_stop():
            return health
        time.sleep(0.2)


ACTIONS = {
    "provision": "provision.yml", "deploy": "deploy.yml", "up": "up.yml", "down": "down.yml",
    "status": "status.yml", "logs": "logs.yml", "teardown": "teardown.yml", "facts": "facts.yml",
}


def needs_wheelhouse(inventory: Inventory) -> bool:
    return any(n.variables.get("vdlt_install_mode", "wheel") == "wheel" for n in inventory.nodes)


def _extravars(action: str, inventory: Inventory, extra: dict[str, Any] | None) -> dict[str, Any]:
    extravars = dict(extra or {})
    if action in ("deploy", "up") and tls.enabled(inventory):
        extravars["harness_tls_dir"] = str(tls.ensure(inventory))
    if action in ("provision", "deploy", "up") and needs_wheelhouse(inventory):
        bundles = {}
        for node_platform in node_platforms(inventory):
            path, digest = wheelhouse.bundle(node_platform=node_platform)
            bundles[node_platform] = {"path": str(path), "digest": digest}
        extravars.update(harness_bundles=bundles, harness_controller_platform=wheelhouse.controller_platform())
    return extravars


def node_platforms(inventory: Inventory) -> list[str]:
    """Every platform a bundle is needed for: the controller's, and each ``vdlt_node_platform``."""
    platforms = [wheelhouse.controller_platform()]
    for node in inventory.nodes:
        value = node.variables.get("vdlt_node_platform")
        if value is None or node.variables.get("vdlt_install_mode", "wheel") != "wheel":
            continue
        try:
            wheelhouse.check_platform(str(value))
        except ValueError as error:
            raise HarnessError(f"{inventory.hosts_file}: host {node.name}: vdlt_node_platform: {error}") from error
        if value not in platforms:
            platforms.append(str(value))
    return platforms


def act(action: str, inventory: Inventory, limit: str | None = None, max_fail: int | None = None,
        on_task: TaskCallback | None = None, extravars: dict[str, Any] | None = None,
        timeout_s: float | None = None, cancel: Callable[[], bool] | None = None) -> PlaybookResult:
    """Runs one testbed action's playbook. A host that fails or is unreachable is reported and
    left degraded, unless a testbed role would be left without a working node or more than
    ``max_fail`` hosts failed. ``timeout_s`` and ``cancel`` are :func:`run_playbook`'s."""
    options: dict[str, Any] = {"timeout_s": timeout_s}
    if cancel is not None:
        options["cancel"] = cancel
    result = run_playbook(ACTIONS[action], inventory, _extravars(action, inventory, extravars), limit=limit,
                          on_task=on_task, **options)
    failed = {h.host for h in result.failed_hosts}
    if not failed:
        return result
    lines = "\n".join(f"  {h.host}: {h.state}: {'; '.join(h.messages) or 'see the ansible output'}"
                      for h in result.failed_hosts)
    if max_fail is not None and len(failed) > max_fail:
        raise TestbedError(f"`{action}` failed on {len(failed)} host(s), more than --max-fail {max_fail}:\n{lines}")
    if action in ("up", "deploy", "provision"):
        targeted = {h for h in result.hosts if result.hosts[h].ok or h in failed}
        for role in ("control", "execution"):
            members = {n.name for n in inventory.by_role(role)} & targeted
            if members and members <= failed:
                raise TestbedError(f"`{action}` left no working {role} node:\n{lines}")
    result.degraded = sorted(failed)
    return result


def up(inventory: Inventory, on_task: TaskCallback | None = None, limit: str | None = None,
       max_fail: int | None = None) -> PlaybookResult:
    result = act("up", inventory, limit, max_fail, on_task)
    not_serving = [h for h in check_all(inventory) if not h.serving
                   and h.node.name not in result.degraded and _selected(h.node, result)]
    if not_serving:
        names = ", ".join(f"{h.node.name} ({h.detail})" for h in not_serving)
        raise TestbedError(f"after `up`, these nodes do not serve: {names}")
    return result


def _selected(node: Node, result: PlaybookResult) -> bool:
    outcome = result.hosts.get(node.name)
    return outcome is not None and (outcome.ok > 0 or outcome.failed > 0 or outcome.unreachable)


def down(inventory: Inventory, on_task: TaskCallback | None = None, limit: str | None = None,
         timeout_s: float | None = None, cancel: Callable[[], bool] | None = None) -> PlaybookResult:
    return act("down", inventory, limit, None, on_task, timeout_s=timeout_s, cancel=cancel)
