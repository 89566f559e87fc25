"""Ansible YAML inventories as the harness reads them: nodes, roles, ports, hardware profiles.

The harness reads only what it needs to reach and describe nodes; Ansible itself resolves
the rest when the playbooks run. Variables merge as Ansible merges them: the `all` group,
then other groups, then the host; `group_vars/` and `host_vars/` files next to the inventory
file override variables written inline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.yaml_source import FieldPath, YamlDocument, load_yaml
from vdlt.policy import Policy, policy_from_dict

ROLES = ("control", "execution", "client")
INVENTORY_FILE_NAMES = ("hosts.yml", "hosts.yaml")
DEFAULT_INVENTORY = Path(__file__).resolve().parent.parent / "inventories" / "local"


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    address: str
    port: int
    hardware_profile: str
    cost_per_hour: float = 0.0
    private_capable: bool = False
    variables: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def endpoint(self) -> str:
        return join_host_port(self.address, self.port)


def join_host_port(address: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets (``[::1]:50051``) as gRPC reads it."""
    if ":" in address and not address.startswith("["):
        return f"[{address}]:{port}"
    return f"{address}:{port}"


@dataclass(frozen=True)
class Inventory:
    path: Path
    """The inventory as given: a directory or a hosts file."""
    hosts_file: Path
    nodes: tuple[Node, ...]

    def by_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    @property
    def directory(self) -> Path:
        return self.hosts_file.parent


def resolve_hosts_file(path: Path) -> Path:
    if path.is_dir():
        for name in INVENTORY_FILE_NAMES:
            if (path / name).is_file():
                return path / name
        raise ConfigError(path, "", f"inventory directory has no {' or '.join(INVENTORY_FILE_NAMES)}")
    if not path.exists():
        raise ConfigError(path, "", "inventory not found")
    return path


def load_inventory(path: Path | str) -> Inventory:
    path = Path(path)
    hosts_file = resolve_hosts_file(path)
    doc = load_yaml(hosts_file, "inventory file")
    if not isinstance(doc.data, dict) or "all" not in doc.data:
        raise doc.error((), "an Ansible YAML inventory starts with a top-level 'all' group")

    groups: dict[str, _Group] = {}
    _walk_group(doc, "all", doc.data["all"] or {}, ("all",), None, groups)

    host_names = sorted({h for g in groups.values() for h in g.hosts})
    nodes = []
    for host in host_names:
        roles = [r for r in ROLES if r in groups and host in groups[r].hosts]
        if not roles:
            continue  # a helper host (e.g. a jump box): not part of the testbed
        if len(roles) > 1:
            raise doc.error(groups[roles[1]].hosts[host], f"host {host!r} is in both {roles[0]!r} and {roles[1]!r}; a node has one role")
        variables = _host_variables(hosts_file.parent, host, groups, doc)
        nodes.append(_node(doc, host, roles[0], variables, groups[roles[0]].hosts[host]))
    if not any(n.role == "control" for n in nodes):
        raise doc.error(("all",), "no host in group 'control': a testbed needs a control node")
    if not any(n.role == "execution" for n in nodes):
        raise doc.error(("all",), "no host in group 'execution': a testbed needs execution nodes")
    endpoints: dict[str, str] = {}
    for node in nodes:
        if node.endpoint in endpoints:
            raise doc.error(groups[node.role].hosts[node.name],
                            f"{node.name} and {endpoints[node.endpoint]} both use {node.endpoint}")
        endpoints[node.endpoint] = node.name
    for node in nodes:
        if node.role == "control" and "vdlt_policy_file" in node.variables:
            check_policy_file(hosts_file.parent, node.variables["vdlt_policy_file"])
    return Inventory(path=path, hosts_file=hosts_file, nodes=tuple(nodes))


def check_policy_file(inventory_dir: Path, value: object) -> Policy:
    """Validates a control node's `vdlt_policy_file` (absolute, or relative to the inventory)."""
    path = inventory_dir / str(value)
    doc = load_yaml(path, "policy file")

    def error(where: tuple[str | int, ...], message: str):  # type: ignore[no-untyped-def]
        raise doc.error(where, message)

    return policy_from_dict(doc.data or {}, error, str(path))


@dataclass
class _Group:
    name: str
    parents: list[str]
    depth: int
    variables: dict[str, Any]
    hosts: dict[str, FieldPath]  # host -> where it is declared, for error messages
    host_variables: dict[str, dict[str, Any]]


def _walk_group(doc: YamlDocument, name: str, body: Any, where: FieldPath, parent: str | None,
                groups: dict[str, _Group]) -> None:
    if not isinstance(body, dict):
        raise doc.error(where, "a group is a mapping with 'hosts', 'vars' and/or 'children'")
    unknown = set(body) - {"hosts", "vars", "children"}
    if unknown:
        raise doc.error((*where, sorted(unknown)[0]), "unknown group key; expected hosts, vars or children")
    group = groups.setdefault(name, _Group(name, [], 0, {}, {}, {}))
    if parent:
        group.parents.append(parent)
        group.depth = max(group.depth, groups[parent].depth + 1)
    group.variables.update(body.get("vars") or {})
    for host, host_vars in (body.get("hosts") or {}).items():
        if host_vars is not None and not isinstance(host_vars, dict):
            raise doc.error((*where, "hosts", host), "host variables must be a mapping")
        group.hosts[str(host)] = (*where, "hosts", host)
        group.host_variables.setdefault(str(host), {}).update(host_vars or {})
    for child, child_body in (body.get("children") or {}).items():
        _walk_group(doc, str(child), child_body or {}, (*where, "children", child), name, groups)


def _member_groups(host: str, groups: dict[str, _Group]) -> list[_Group]:
    member = {g.name for g in groups.values() if host in g.hosts}
    changed = True
    while changed:  # a host is also in every ancestor of its groups
        changed = False
        for name in list(member):
            for parent in groups[name].parents:
                if parent not in member:
                    member.add(parent)
                    changed = True
    member.add("all")
    return sorted((groups[g] for g in member if g in groups), key=lambda g: (g.depth, g.name))


def _host_variables(directory: Path, host: str, groups: dict[str, _Group], doc: YamlDocument) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for group in _member_groups(host, groups):
        variables.update(group.variables)
        variables.update(_vars_files(directory / "group_vars", group.name))
    for group in _member_groups(host, groups):
        variables.update(group.host_variables.get(host, {}))
    variables.update(_vars_files(directory / "host_vars", host))
    return variables


def _vars_files(directory: Path, name: str) -> dict[str, Any]:
    candidates = [directory / f"{name}{suffix}" for suffix in ("", ".yml", ".yaml")]
    if (directory / name).is_dir():
        candidates = sorted((directory / name).glob("*.y*ml"))
    variables: dict[str, Any] = {}
    for candidate in candidates:
        if candidate.is_file():
            doc = load_yaml(candidate, "variables file")
            if doc.data is None:
                continue
            if not isinstance(doc.data, dict):
                raise doc.error((), "a variables file is a mapping of names to values")
            variables.update(doc.data)
    return variables


def _node(doc: YamlDocument, host: str, role: str, variables: dict[str, Any], where: FieldPath) -> Node:
    def error(name: str, message: str) -> ConfigError:
        return doc.error((*where, name), message)

    port = variables.get("agent_port")
    if port is None:
        raise error("agent_port", f"host {host!r} has no agent_port (the node agent's gRPC port)")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise error("agent_port", f"must be an integer port 1..65535, got {port!r}")
    address = variables.get("agent_address") or variables.get("ansible_host") or host
    cost = variables.get("cost_per_hour", 0.0)
    if not isinstance(cost, (int, float)) or isinstance(cost, bool) or cost < 0:
        raise error("cost_per_hour", f"must be a number >= 0, got {cost!r}")
    private = variables.get("private_capable", False)
    if not isinstance(private, bool):
        raise error("private_capable", f"must be true or false, got {private!r}")
    return Node(
        name=host, role=role, address=str(address), port=port,
        hardware_profile=str(variables.get("hardware_profile", "unknown")),
        cost_per_hour=float(cost), private_capable=private, variables=variables,
    )
