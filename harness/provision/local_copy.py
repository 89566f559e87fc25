"""Local testbeds of their own: free loopback ports, and a copy of a local inventory on them with
its node files under a directory of the caller's (a campaign's testbeds, tests, benchmarks); the
end of a server process started for one (a chain, a stub)."""
from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import yaml

from harness.provision.inventory import DEFAULT_INVENTORY


def free_port() -> int:
    return free_ports(1)[0]


def stop_process(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM (a server shuts down cleanly), then SIGKILL if it takes longer than ``grace_s``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def free_ports(count: int) -> list[int]:
    """Ports free on loopback now, all different (each socket is held until all are chosen:
    ports chosen one after the other may repeat)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def scratch_local_inventory(directory: Path, source: Path = DEFAULT_INVENTORY, use_tls: bool = False) -> Path:
    """A copy of a local inventory with free ports and node files under ``directory``, with
    mutual TLS (``vdlt_tls``) when ``use_tls``.

    Campaigns, tests and benchmarks use it to run a testbed of their own beside any other.
    """
    inventory = yaml.safe_load((source / "hosts.yml").read_text())
    all_group = inventory["all"]
    all_group["vars"]["vdlt_node_root"] = str(directory / "nodes")
    if use_tls:
        all_group["vars"]["vdlt_tls"] = True
    hosts = [host_vars for group in all_group["children"].values() for host_vars in (group.get("hosts") or {}).values()]
    for host_vars, port in zip(hosts, free_ports(len(hosts))):
        host_vars["agent_port"] = port
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    return directory
