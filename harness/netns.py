"""SSH hosts in network namespaces: a multi-host testbed on one machine, for tests and demos.

Each host is a network namespace on a bridge whose /24 exists only on this machine (no route
out), with its own sshd (own ed25519 host key, key-only root login, strict modes), its own
hostname (a UTS namespace) and private directories bind-mounted at /opt/vdlt, /var/lib/vdlt and
/root, since all hosts share this machine's filesystem (a private /root also keeps the
controller's shell start-up files out of every node session, as on a machine of its own).
Names derive from a run id so testbeds do not collide; :func:`destroy` removes everything
:func:`create` made.

    scripts/netns-testbed up --hosts 3      # prints the inventory path
    scripts/netns-testbed down RUN_ID
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

BASE_DIR = Path("/run/vdlt-netns")
# Mount point inside each host -> its directory under the host's own testbed directory.
PRIVATE_MOUNTS = {"/opt/vdlt": "opt", "/var/lib/vdlt": "var", "/root": "home"}
SSHD = "/usr/sbin/sshd"


class NetnsError(Exception):
    pass


@dataclass
class NetnsHost:
    name: str
    namespace: str
    address: str
    role: str
    directory: str


@dataclass
class NetnsTestbed:
    run_id: str
    bridge: str
    gateway: str
    directory: str
    hosts: list[NetnsHost]

    @property
    def inventory(self) -> Path:
        return Path(self.directory) / "inventory"

    @property
    def known_hosts(self) -> Path:
        return Path(self.directory) / "known_hosts"

    @property
    def key_file(self) -> Path:
        return Path(self.directory) / "id_ed25519"


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NetnsError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result


def _subnet(run_id: str) -> str:
    number = int(run_id, 16)
    return f"10.{240 + number % 14}.{(number // 14) % 256}"


def create(count: int, roles: list[str] | None = None, run_id: str | None = None,
           profiles: list[str] | None = None) -> NetnsTestbed:
    """Creates ``count`` hosts; ``roles`` gives each host's group (default: control, then execution)."""
    if not Path(SSHD).exists():
        raise NetnsError(f"{SSHD} not found: run scripts/install-system-packages")
    run_id = run_id or secrets.token_hex(4)
    roles = roles or ["control"] + ["execution"] * (count - 1)
    subnet = _subnet(run_id)
    directory = BASE_DIR / run_id
    directory.mkdir(parents=True, mode=0o755)
    testbed = NetnsTestbed(run_id, f"vhb-{run_id}", f"{subnet}.1", str(directory), [])
    try:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd refuses to start without it
        for mount_point in PRIVATE_MOUNTS:
            Path(mount_point).mkdir(parents=True, exist_ok=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"harness-{run_id}", "-f", str(testbed.key_file))
        authorized = directory / "authorized_keys"
        shutil.copyfile(testbed.key_file.with_suffix(".pub"), authorized)
        authorized.chmod(0o600)
        _run("ip", "link", "add", testbed.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{testbed.gateway}/24", "dev", testbed.bridge)
        _run("ip", "link", "set", testbed.bridge, "up")
        known_hosts = []
        for index in range(count):
            host = _create_host(testbed, index, roles[index], subnet, authorized)
            testbed.hosts.append(host)
            public = (Path(host.directory) / "ssh_host_ed25519_key.pub").read_text().split()[:2]
            known_hosts.append(f"{host.address} {' '.join(public)}\n")
        testbed.known_hosts.write_text("".join(known_hosts))
        _write_inventory(testbed, profiles or [])
        (directory / "testbed.json").write_text(json.dumps(asdict(testbed), indent=2))
        _wait_for_ssh(testbed)
    except BaseException:
        destroy(run_id)
        raise
    return testbed


def _create_host(testbed: NetnsTestbed, index: int, role: str, subnet: str, authorized: Path) -> NetnsHost:
    name = f"vh{testbed.run_id[:4]}-{role[:4]}-{index}"
    namespace = f"vh-{testbed.run_id}-{index}"
    address = f"{subnet}.{10 + index}"
    host_dir = Path(testbed.directory) / name
    for sub in PRIVATE_MOUNTS.values():
        (host_dir / sub).mkdir(parents=True, mode=0o700 if sub == "home" else 0o755)
    outer = f"vh{testbed.run_id}{index}"[:15]
    _run("ip", "netns", "add", namespace)
    _run("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", namespace)
    _run("ip", "link", "set", outer, "master", testbed.bridge, "up")
    _run("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
    _run("ip", "-n", namespace, "link", "set", "eth0", "up")
    _run("ip", "-n", namespace, "link", "set", "lo", "up")
    key = host_dir / "ssh_host_ed25519_key"
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
    config = host_dir / "sshd_config"
    config.write_text(
        f"ListenAddress {address}\nPort 22\nHostKey {key}\nPidFile {host_dir / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes yes\nSubsystem sftp internal-sftp\n"
        "MaxStartups 100:30:200\n"
    )
    _run(SSHD, "-t", "-f", str(config))
    # `ip netns exec` gives a private mount namespace (mounts do not leak back): the bind mounts
    # and the hostname hold for sshd and every session it starts.
    mounts = "; ".join(f"mount --bind {host_dir / sub} {mount_point}" for mount_point, sub in PRIVATE_MOUNTS.items())
    _run("ip", "netns", "exec", namespace, "unshare", "--uts", "sh", "-c",
         f"hostname {name}; {mounts}; exec {SSHD} -f {config}")
    return NetnsHost(name, namespace, address, role, str(host_dir))


def _write_inventory(testbed: NetnsTestbed, profiles: list[str]) -> None:
    groups: dict[str, dict] = {"control": {"hosts": {}}, "execution": {"hosts": {}}, "client": {"hosts": {}}}
    for index, host in enumerate(testbed.hosts):
        host_vars: dict[str, object] = {"ansible_host": host.address, "agent_port": 50051}
        if profiles:
            host_vars["hardware_profile"] = profiles[index % len(profiles)]
        groups[host.role]["hosts"][host.name] = host_vars
    inventory = {"all": {
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(testbed.key_file),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={testbed.known_hosts} -o StrictHostKeyChecking=yes "
                                       "-o IdentitiesOnly=yes",
            "ansible_python_interpreter": "/usr/bin/python3",
            "vdlt_known_hosts": str(testbed.known_hosts),
            "hardware_profile": "netns-host",
            "cost_per_hour": 0.1,
        },
        "children": {name: body for name, body in groups.items() if body["hosts"]},
    }}
    testbed.inventory.mkdir()
    (testbed.inventory / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))


def _wait_for_ssh(testbed: NetnsTestbed, timeout_s: float = 15.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    for host in testbed.hosts:
        while True:
            try:
                with socket.create_connection((host.address, 22), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise NetnsError(f"sshd on {host.name} ({host.address}) did not answer") from None
                time.sleep(0.05)


def load(run_id: str) -> NetnsTestbed:
    data = json.loads((BASE_DIR / run_id / "testbed.json").read_text())
    data["hosts"] = [NetnsHost(**h) for h in data["hosts"]]
    return NetnsTestbed(**data)


def destroy(run_id: str) -> None:
    """Stops every process in the testbed's namespaces and removes namespaces, links and files."""
    directory = BASE_DIR / run_id
    namespaces = [n.split()[0] for n in _run("ip", "netns", "list", check=False).stdout.splitlines()
                  if n.startswith(f"vh-{run_id}-")]
    for namespace in namespaces:
        pids = _run("ip", "netns", "pids", namespace, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _run("ip", "netns", "del", namespace, check=False)
    _run("ip", "link", "del", f"vhb-{run_id}", check=False)
    shutil.rmtree(directory, ignore_errors=True)


def list_testbeds() -> list[str]:
    return sorted(p.name for p in BASE_DIR.iterdir()) if BASE_DIR.exists() else []


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/netns-testbed")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="create hosts; prints the inventory directory")
    up.add_argument("--hosts", type=int, default=3)
    up.add_argument("--roles", help="comma-separated role per host (default: control, then execution)")
    down = commands.add_parser("down", help="remove a testbed (or all with --all)")
    down.add_argument("run_id", nargs="?")
    down.add_argument("--all", action="store_true")
    commands.add_parser("list")
    args = parser.parse_args(argv)
    if args.command == "up":
        testbed = create(args.hosts, args.roles.split(",") if args.roles else None)
        for host in testbed.hosts:
            print(f"{host.name:<20} {host.role:<10} {host.address}")
        print(f"run id {testbed.run_id}; inventory: {testbed.inventory}")
    elif args.command == "down":
        for run_id in (list_testbeds() if args.all else [args.run_id]):
            destroy(run_id)
    else:
        print("\n".join(list_testbeds()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
