"""The node configuration file the playbooks render for every node."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node_agent.limits import Limits, check_limits
from protocol.documents import Document, load_yaml
from protocol.tls_files import TlsFiles
from vdlt.faults import FaultMode
from vdlt.peers import ExecutionPeer

ROLES = ("control", "execution", "client")
KEYS = ("node_id", "role", "hardware_profile", "listen", "address", "data_dir", "sample_interval_s",
        "execution_nodes", "execution_timeout_s", "policy_file", "fsync", "fault", "tls", "limits",
        "limits_applied_by")
PEER_KEYS = ("node_id", "address", "hardware_profile", "cost_per_hour", "private_capable")
FAULT_KEYS = ("wrong_result_rate", "forged_writes_rate", "delay_ms", "commit_delay_ms")
TLS_KEYS = ("ca_file", "cert_file", "key_file")
# Who holds the node to its limits: the agent, with cgroups of its own (node_agent/limits.py), or
# the systemd unit the playbooks wrote (CPUQuota= and friends), when the agent then makes none.
LIMITS_APPLIED_BY = ("agent", "systemd")


@dataclass(frozen=True)
class NodeConfig:
    node_id: str
    role: str
    hardware_profile: str
    # Where the agent binds, and where the others call it (its certificate names the latter's
    # host); they differ on a cloud VM whose public address is not on its interfaces.
    listen: str
    data_dir: Path
    address: str = ""
    sample_interval_s: float = 0.5
    # control role
    execution_nodes: tuple[ExecutionPeer, ...] = field(default_factory=tuple)
    execution_timeout_s: float = 10.0
    policy_file: Path | None = None
    # execution role
    fsync: str = "always"
    fault: FaultMode = FaultMode()
    # Mutual TLS for this node's port and its own calls to other nodes; plaintext when None.
    tls: TlsFiles | None = None
    # Caps that make this machine stand in for a smaller one (emulated hardware profiles).
    limits: Limits = field(default_factory=Limits)
    limits_applied_by: str = "agent"

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        """The configuration the playbooks rendered for this node, checked field by field."""
        doc = load_yaml(path, "node configuration")
        raw = doc.mapping((), doc.data, KEYS)
        role = doc.choice(("role",), doc.need((), raw, "role"), ROLES)
        peers = []
        for index, peer in enumerate(raw.get("execution_nodes") or []):
            where = ("execution_nodes", index)
            peer = doc.mapping(where, peer, PEER_KEYS)
            peers.append(ExecutionPeer(
                str(doc.need(where, peer, "node_id")), str(doc.need(where, peer, "address")),
                str(peer.get("hardware_profile", "unknown")),
                doc.number((*where, "cost_per_hour"), peer.get("cost_per_hour") or 0.0, minimum=0),
                doc.boolean((*where, "private_capable"), peer.get("private_capable", False))))
        if role == "control" and not peers:
            raise doc.error(("execution_nodes",), "is empty: a control node needs execution nodes")
        fault = doc.mapping(("fault",), raw.get("fault") or {}, FAULT_KEYS)
        return cls(
            node_id=str(doc.need((), raw, "node_id")),
            role=role,
            hardware_profile=str(raw.get("hardware_profile", "unknown")),
            listen=str(doc.need((), raw, "listen")),
            address=str(raw.get("address") or raw["listen"]),
            data_dir=Path(doc.need((), raw, "data_dir")),
            sample_interval_s=doc.number(("sample_interval_s",), raw.get("sample_interval_s", 0.5), above=0),
            execution_nodes=tuple(peers),
            execution_timeout_s=doc.number(("execution_timeout_s",), raw.get("execution_timeout_s", 10.0), above=0),
            policy_file=Path(raw["policy_file"]) if raw.get("policy_file") else None,
            fsync=doc.choice(("fsync",), raw.get("fsync", "always"), ("always", "never")),
            fault=FaultMode(
                wrong_result_rate=doc.number(("fault", "wrong_result_rate"), fault.get("wrong_result_rate", 0.0),
                                             minimum=0, maximum=1),
                forged_writes_rate=doc.number(("fault", "forged_writes_rate"), fault.get("forged_writes_rate", 0.0),
                                              minimum=0, maximum=1),
                delay_ms=doc.number(("fault", "delay_ms"), fault.get("delay_ms", 0.0), minimum=0),
                commit_delay_ms=doc.number(("fault", "commit_delay_ms"), fault.get("commit_delay_ms", 0.0), minimum=0)),
            tls=_tls(doc, raw.get("tls")),
            limits=check_limits(doc, ("limits",), raw["limits"]) if raw.get("limits") is not None else Limits(),
            limits_applied_by=doc.choice(("limits_applied_by",), raw.get("limits_applied_by", "agent"),
                                         LIMITS_APPLIED_BY),
        )


def _tls(doc: Document, section: Any) -> TlsFiles | None:
    if section is None:
        return None
    section = doc.mapping(("tls",), section, TLS_KEYS)
    files = {}
    for name in TLS_KEYS:
        files[name] = Path(str(doc.need(("tls",), section, name)))
        if not files[name].is_file():
            raise doc.error(("tls", name), f"no such file: {files[name]}")
    return TlsFiles(files["ca_file"], files["cert_file"], files["key_file"])


WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}


def local_target(config: NodeConfig) -> str:
    """Where the node itself reaches its agent: the bound address, or loopback when the agent
    binds every interface (``0.0.0.0:PORT``), which is no address to connect to."""
    host, _, port = config.listen.rpartition(":")
    return f"{WILDCARD_HOSTS.get(host, host)}:{port}"


def certificate_host(config: NodeConfig) -> str:
    """The host name or address the node's certificate names: that of its advertised address."""
    host = config.address.rpartition(":")[0]
    return host.removeprefix("[").removesuffix("]")
