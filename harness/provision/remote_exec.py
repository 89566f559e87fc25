"""Ad-hoc commands on inventory hosts through fabric, with host keys checked strictly.

fabric accepts unknown host keys by default and ignores ``UserKnownHostsFile``: the known_hosts
file is loaded explicitly (``vdlt_known_hosts``, else ~/.ssh/known_hosts) and unknown keys are
rejected.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import paramiko
from fabric import Config, Connection

from harness.provision.inventory import Node, ssh_key_file


@dataclass
class ExecResult:
    node: str
    exit_code: int | None
    stdout: str
    stderr: str


def connection(node: Node) -> Connection:
    variables = node.variables
    key = ssh_key_file(node)
    conn = Connection(
        host=str(variables.get("ansible_host", node.name)),
        user=str(variables.get("ansible_user", "root")),
        port=int(variables.get("ansible_port", 22)),
        connect_kwargs={"key_filename": str(key[1]), "look_for_keys": False, "allow_agent": False}
        if key else {},
        connect_timeout=10,
        # No command the harness runs on a node reads the controller's terminal.
        config=Config(overrides={"run": {"in_stream": False}}),
    )
    known_hosts = Path(str(variables.get("vdlt_known_hosts", Path.home() / ".ssh" / "known_hosts")))
    if known_hosts.exists():
        conn.client.load_host_keys(str(known_hosts))
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return conn


def run_on(nodes: list[Node], command: str, timeout_s: float = 120) -> list[ExecResult]:
    def one(node: Node) -> ExecResult:
        try:
            with connection(node) as conn:
                result = conn.run(command, hide=True, warn=True, timeout=timeout_s)
            return ExecResult(node.name, result.exited, result.stdout, result.stderr)
        except (paramiko.SSHException, OSError) as error:
            return ExecResult(node.name, None, "", f"{type(error).__name__}: {error}")

    with ThreadPoolExecutor(max_workers=max(len(nodes), 1)) as pool:
        return list(pool.map(one, nodes))
