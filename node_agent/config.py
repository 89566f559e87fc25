"""The node configuration file the playbooks render for every node."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from protocol.tls_files import TlsFiles
from vdlt.peers import ExecutionPeer

ROLES = ("control", "execution", "client")


class NodeConfigError(Exception):
    pass


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
    fault_wrong_result_rate: float = 0.0
    fault_delay_ms: float = 0.0
    # Mutual TLS for this node's port and its own calls to other nodes; plaintext when None.
    tls: TlsFiles | None = None

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        try:
            raw: Any = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as error:
            raise NodeConfigError(f"{path}: cannot read node config: {error}") from error
        if not isinstance(raw, dict):
            raise NodeConfigError(f"{path}: expected a mapping")

        def need(name: str) -> Any:
            if name not in raw:
                raise NodeConfigError(f"{path}: field '{name}' is missing")
            return raw[name]

        role = need("role")
        if role not in ROLES:
            raise NodeConfigError(f"{path}: field 'role' must be one of {', '.join(ROLES)}, got {role!r}")
        peers = tuple(
            ExecutionPeer(str(p["node_id"]), str(p["address"]), str(p.get("hardware_profile", "unknown")),
                          float(p.get("cost_per_hour") or 0.0), bool(p.get("private_capable", False)))
            for p in raw.get("execution_nodes") or []
        )
        fault = raw.get("fault") or {}
        if role == "control" and not peers:
            raise NodeConfigError(f"{path}: field 'execution_nodes' is empty: a control node needs execution nodes")
        fsync = raw.get("fsync", "always")
        if fsync not in ("always", "never"):
            raise NodeConfigError(f"{path}: field 'fsync' must be 'always' or 'never', got {fsync!r}")
        return cls(
            node_id=str(need("node_id")),
            role=role,
            hardware_profile=str(raw.get("hardware_profile", "unknown")),
            listen=str(need("listen")),
            address=str(raw.get("address") or need("listen")),
            data_dir=Path(need("data_dir")),
            sample_interval_s=float(raw.get("sample_interval_s", 0.5)),
            execution_nodes=peers,
            execution_timeout_s=float(raw.get("execution_timeout_s", 10.0)),
            policy_file=Path(raw["policy_file"]) if raw.get("policy_file") else None,
            fsync=fsync,
            fault_wrong_result_rate=float(fault.get("wrong_result_rate", 0.0)),
            fault_delay_ms=float(fault.get("delay_ms", 0.0)),
            tls=_tls(path, raw.get("tls")),
        )


def _tls(path: Path, section: Any) -> TlsFiles | None:
    if section is None:
        return None
    if not isinstance(section, dict):
        raise NodeConfigError(f"{path}: field 'tls' must be a mapping of ca_file, cert_file and key_file")
    files = {}
    for name in ("ca_file", "cert_file", "key_file"):
        if name not in section:
            raise NodeConfigError(f"{path}: field 'tls.{name}' is missing")
        files[name] = Path(str(section[name]))
        if not files[name].is_file():
            raise NodeConfigError(f"{path}: field 'tls.{name}': no such file: {files[name]}")
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
