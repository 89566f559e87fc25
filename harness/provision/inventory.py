"""Ansible YAML inventories as the harness reads them: nodes, roles, ports, hardware profiles.

The harness reads only what it needs to reach and describe nodes; Ansible itself resolves
the rest when the playbooks run. Variables merge as Ansible merges them: the `all` group,
then other groups, then the host; `group_vars/` and `host_vars/` files next to the inventory
file override variables written inline.

Values that are templates (``"{{ inventory_dir }}/known_hosts"``) are rendered here, once, for
every consumer (``harness exec``, remote workers, the TLS and key-file checks) with what a
play would know of the host: its variables, ``inventory_dir``, ``inventory_file``,
``inventory_hostname``, ``group_names``, ``groups`` and the harness's own ``harness_python``.
A template that needs more than that (a lookup, an Ansible filter) is kept as written; Ansible
renders it in the playbooks. The inventory's path is made absolute, as Ansible makes
``inventory_dir``, so relative paths mean the same to the harness and to Ansible.
"""
from __future__ import annotations

import ast
import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from node_agent.limits import Limits, check_limits
from protocol.documents import Document, FieldPath, load_yaml
from protocol.errors import ConfigError
from vdlt.policy import Policy, load_policy

ROLES = ("control", "execution", "client")
INVENTORY_FILE_NAMES = ("hosts.yml", "hosts.yaml")
DEFAULT_INVENTORY = Path(__file__).resolve().parents[2] / "inventories" / "local"
# The node_agent role's default vdlt_node_root.
DEFAULT_NODE_ROOT = "/var/lib/vdlt"


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    address: str
    port: int
    hardware_profile: str
    cost_per_hour: float = 0.0
    private_capable: bool = False
    # `vdlt_limits`: caps that make the node look like a smaller machine (harness/provision/profiles.py).
    limits: Limits = field(default_factory=Limits)
    variables: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def endpoint(self) -> str:
        return join_host_port(self.address, self.port)

    @property
    def node_dir(self) -> str:
        """The node_agent role's directory for this node, on the node (its data lives here)."""
        return f"{self.variables.get('vdlt_node_root', DEFAULT_NODE_ROOT)}/{self.name}"

    @property
    def on_controller(self) -> bool:
        """Whether the node is a process on the controller's machine (its files are ours to read)."""
        return self.variables.get("ansible_connection") == "local"


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

    def matching(self, pattern: str | None) -> list[Node]:
        """The nodes whose name matches ``pattern`` (shell wildcards) or whose role it names; all for None."""
        return [n for n in self.nodes if pattern is None or fnmatch.fnmatch(n.name, pattern) or n.role == pattern]

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
    path = Path(path).absolute()
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
        variables = _render(_host_variables(hosts_file.parent, host, groups, doc),
                            _magic_variables(hosts_file, host, groups))
        nodes.append(_node(doc, host, roles[0], variables, groups[roles[0]].hosts[host]))
    controls = [n for n in nodes if n.role == "control"]
    if not controls:
        raise doc.error(("all",), "no host in group 'control': a testbed needs a control node")
    if len(controls) > 1:
        # Each control node numbers its own commits: the chains could not hold one history
        # (ARCHITECTURE.md, I2) until the control nodes agree on one log among themselves.
        raise doc.error(groups["control"].hosts[controls[1].name],
                        f"{len(controls)} hosts in group 'control' ({', '.join(n.name for n in controls)}): a "
                        f"testbed has one control node until control nodes share one log; move the others to "
                        f"'execution' or 'client', or out of the inventory")
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
        _check_key_file(doc, groups[node.role].hosts[node.name], node)
    return Inventory(path=path, hosts_file=hosts_file, nodes=tuple(nodes))


def check_policy_file(inventory_dir: Path, value: object) -> Policy:
    """Validates a control node's `vdlt_policy_file` (absolute, or relative to the inventory)."""
    return load_policy(inventory_dir / str(value))


KEY_FILE_VARIABLES = ("ansible_ssh_private_key_file", "ansible_private_key_file")


def ssh_key_file(node: Node) -> tuple[str, Path] | None:
    """The variable naming the private key the node is reached with, and the key's path."""
    for name in KEY_FILE_VARIABLES:
        if node.variables.get(name):
            return name, Path(str(node.variables[name])).expanduser()
    return None


def _check_key_file(doc: Document, where: FieldPath, node: Node) -> None:
    """A key file that is not there fails every SSH step later, under a task's name: say so now."""
    key = ssh_key_file(node)
    if key is not None and node.variables.get("ansible_connection") != "local" and not key[1].is_file():
        raise doc.error((*where, key[0]), f"host {node.name!r}: no such private key file: {key[1]}")


def _magic_variables(hosts_file: Path, host: str, groups: dict[str, _Group]) -> dict[str, Any]:
    members = {g.name for g in _member_groups(host, groups)}
    all_hosts = sorted({h for g in groups.values() for h in g.hosts})
    return {
        "inventory_hostname": host, "inventory_hostname_short": host.split(".")[0],
        "inventory_dir": str(hosts_file.parent), "inventory_file": str(hosts_file),
        "group_names": sorted(members - {"all", "ungrouped"}),
        "groups": {"all": all_hosts, **{name: sorted(_hosts_in(name, groups)) for name in groups if name != "all"}},
        "harness_python": sys.executable,
    }


def _hosts_in(name: str, groups: dict[str, _Group]) -> set[str]:
    hosts = set(groups[name].hosts)
    for child in groups.values():
        if name in child.parents:
            hosts |= _hosts_in(child.name, groups)
    return hosts


_TEMPLATES = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)


def _render(variables: dict[str, Any], magic: dict[str, Any]) -> dict[str, Any]:
    """The host's variables with their templates rendered where that needs nothing but the
    host's variables and ``magic`` (templates may refer to each other, a few levels deep)."""
    rendered = dict(variables)
    for _ in range(5):
        context = {**rendered, **magic}
        changed = False
        for name, value in rendered.items():
            new = _render_value(value, context)
            if new != value:
                rendered[name] = new
                changed = True
        if not changed:
            break
    return rendered


def _render_value(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        try:
            text = _TEMPLATES.from_string(value).render(context)
        except jinja2.TemplateError:
            return value  # Ansible will render it (a lookup, an Ansible filter, a fact)
        # As Ansible does, a template that renders a number or a boolean gives that type.
        try:
            literal = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return text
        return literal if isinstance(literal, (bool, int, float)) else text
    if isinstance(value, list):
        return [_render_value(item, context) for item in value]
    if isinstance(value, dict):
        return {key: _render_value(item, context) for key, item in value.items()}
    return value


@dataclass
class _Group:
    name: str
    parents: list[str]
    depth: int
    variables: dict[str, Any]
    hosts: dict[str, FieldPath]  # host -> where it is declared, for error messages
    host_variables: dict[str, dict[str, Any]]


def _walk_group(doc: Document, name: str, body: Any, where: FieldPath, parent: str | None,
                groups: dict[str, _Group]) -> None:
    doc.mapping(where, body, ("hosts", "vars", "children"))
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


def _host_variables(directory: Path, host: str, groups: dict[str, _Group], doc: Document) -> dict[str, Any]:
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


def _node(doc: Document, host: str, role: str, variables: dict[str, Any], where: FieldPath) -> Node:
    if variables.get("agent_port") is None:
        raise doc.error((*where, "agent_port"), f"host {host!r} has no agent_port (the node agent's gRPC port)")
    return Node(
        name=host, role=role,
        address=str(variables.get("agent_address") or variables.get("ansible_host") or host),
        port=doc.integer((*where, "agent_port"), variables["agent_port"], 1, 65535),
        hardware_profile=str(variables.get("hardware_profile", "unknown")),
        cost_per_hour=doc.number((*where, "cost_per_hour"), variables.get("cost_per_hour", 0.0), minimum=0),
        private_capable=doc.boolean((*where, "private_capable"), variables.get("private_capable", False)),
        limits=check_limits(doc, (*where, "vdlt_limits"), variables["vdlt_limits"])
        if variables.get("vdlt_limits") is not None else Limits(),
        variables=variables,
    )
