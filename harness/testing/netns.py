"""SSH hosts in network namespaces: a multi-host testbed on one machine, for tests and demos.

Each host is a network namespace on a bridge whose /24 exists only on this machine (no route
out), with its own sshd (own ed25519 host key, key-only root login, strict modes), its own
hostname (a UTS namespace) and private directories bind-mounted at /opt/vdlt, /var/lib/vdlt and
/root, since all hosts share this machine's filesystem (a private /root also keeps the
controller's shell start-up files out of every node session, as on a machine of its own).
Names derive from a run id so testbeds do not collide; :func:`destroy` removes everything
:func:`create` made.

A host can instead boot systemd, as lab machines do, so the playbooks' systemd path runs for
real: systemd-nspawn starts it as PID 1 of a container that joins the host's network namespace.
The container sees this machine's /usr and /etc read-only and has its own /tmp, /run and
/var, so its boot (tmpfiles, which empties /tmp) touches nothing outside it; its
/etc/systemd/system is a private directory holding only the unit of its sshd, and what the
playbooks install. All of its processes live in one cgroup of their own, which :func:`destroy`
empties and removes.

`ip netns exec` mounts a sysfs of the namespace's own on /sys, which hides this machine's
cgroup hierarchies below /sys/fs/cgroup: a plain host mounts them again (the same hierarchies,
so its processes stay where they are), and its agent can cap itself as on a machine of its own.

    scripts/netns-testbed up --hosts 3 [--systemd 1,2] [--profile exec-1=pi4-like]   # prints the inventory path
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

from harness.provision.profiles import EmulatedProfile, ProfileError, shipped_profile
from protocol.errors import HarnessError

BASE_DIR = Path("/run/vdlt-netns")
# Mount point inside each host -> its directory under the host's own testbed directory.
PRIVATE_MOUNTS = {"/opt/vdlt": "opt", "/var/lib/vdlt": "var", "/root": "home"}
SSHD = "/usr/sbin/sshd"
NSPAWN = "/usr/bin/systemd-nspawn"
# Inside a systemd host: its sshd's configuration, host key and authorized keys.
BOOT_DIR = "/vdlt-testbed"
# The cgroup hierarchies a container's processes are kept in, below a directory per host.
CGROUP_ROOTS = ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified")
CGROUP_PARENT = "vdlt-netns"


class NetnsError(HarnessError):
    pass


@dataclass
class NetnsHost:
    name: str
    namespace: str
    address: str
    role: str
    directory: str
    # "sshd": sshd runs in the namespace directly; "systemd": the host boots systemd, which starts sshd.
    init: str = "sshd"

    @property
    def host_key(self) -> Path:
        """The public half of this host's sshd key."""
        directory = Path(self.directory) / ("boot" if self.init == "systemd" else "")
        return directory / "ssh_host_ed25519_key.pub"


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
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetnsError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result


def _subnet(run_id: str) -> str:
    number = int(run_id, 16)
    return f"10.{240 + number % 14}.{(number // 14) % 256}"


def create(count: int, roles: list[str] | None = None, run_id: str | None = None,
           profiles: list[str] | None = None, systemd: set[int] | frozenset[int] = frozenset(),
           emulated: dict[int, EmulatedProfile] | None = None) -> NetnsTestbed:
    """Creates ``count`` hosts; ``roles`` gives each host's group (default: control, then
    execution); the hosts whose indexes are in ``systemd`` boot systemd; a host whose index is
    in ``emulated`` is capped to look like that profile's machine (its ``vdlt_limits``)."""
    if not Path(SSHD).exists():
        raise NetnsError(f"{SSHD} not found: run scripts/install-system-packages")
    if systemd and not Path(NSPAWN).exists():
        raise NetnsError(f"{NSPAWN} not found (Debian package systemd-container): run scripts/install-system-packages")
    if any(not 0 <= index < count for index in systemd):
        raise NetnsError(f"systemd hosts {sorted(systemd)}: indexes must be below the host count {count}")
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
            host = _create_host(testbed, index, roles[index], subnet, authorized, index in systemd)
            testbed.hosts.append(host)
            public = host.host_key.read_text().split()[:2]
            known_hosts.append(f"{host.address} {' '.join(public)}\n")
        testbed.known_hosts.write_text("".join(known_hosts))
        _write_inventory(testbed, profiles or [], emulated or {})
        (directory / "testbed.json").write_text(json.dumps(asdict(testbed), indent=2))
        _wait_for_ssh(testbed)
    except BaseException:
        destroy(run_id)
        raise
    return testbed


def _create_host(testbed: NetnsTestbed, index: int, role: str, subnet: str, authorized: Path,
                 boots_systemd: bool) -> NetnsHost:
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
    host = NetnsHost(name, namespace, address, role, str(host_dir), "systemd" if boots_systemd else "sshd")
    if boots_systemd:
        _boot_systemd(host, authorized)
        return host
    key = host_dir / "ssh_host_ed25519_key"
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
    config = host_dir / "sshd_config"
    config.write_text(_sshd_config(address, key, authorized, host_dir / "sshd.pid"))
    _run(SSHD, "-t", "-f", str(config))
    # `ip netns exec` gives a private mount namespace (mounts do not leak back): the bind mounts
    # and the hostname hold for sshd and every session it starts.
    mounts = "; ".join([*(f"mount --bind {host_dir / sub} {mount_point}" for mount_point, sub in PRIVATE_MOUNTS.items()),
                        *_cgroup_mounts()])
    _run("ip", "netns", "exec", namespace, "unshare", "--uts", "sh", "-c",
         f"hostname {name}; {mounts}; exec {SSHD} -f {config}")
    return host


def _cgroup_mounts() -> list[str]:
    """Commands that mount this machine's cgroup hierarchies again in a namespace host, where
    `ip netns exec`'s own /sys hides them (mounting a hierarchy again gives the same one)."""
    commands = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mount_point, fstype, options, *_ = line.split()
        if mount_point == "/sys/fs/cgroup" and fstype == "tmpfs":
            commands.append(f"mount -t tmpfs -o {options} cgroup_root /sys/fs/cgroup")
        elif mount_point.startswith("/sys/fs/cgroup") and fstype in ("cgroup", "cgroup2"):
            commands.append(f"mkdir -p {mount_point} && mount -t {fstype} -o {options} {fstype} {mount_point}")
    return commands


def _sshd_config(address: str, key: Path | str, authorized: Path | str, pid_file: Path | str) -> str:
    return (
        f"ListenAddress {address}\nPort 22\nHostKey {key}\nPidFile {pid_file}\n"
        f"AuthorizedKeysFile {authorized}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes yes\nSubsystem sftp internal-sftp\n"
        "MaxStartups 100:30:200\n"
    )


SSHD_UNIT = f"""[Unit]
Description=sshd of a namespace testbed host
After=network.target

[Service]
ExecStartPre=/bin/mkdir -p /run/sshd
ExecStart={SSHD} -D -f {BOOT_DIR}/sshd_config
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def _boot_systemd(host: NetnsHost, authorized: Path) -> None:
    """Boots systemd for ``host`` in a container in its network namespace; systemd starts sshd."""
    host_dir = Path(host.directory)
    boot, units, root = host_dir / "boot", host_dir / "units", host_dir / "root"
    boot.mkdir(mode=0o755)
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(boot / "ssh_host_ed25519_key"))
    shutil.copyfile(authorized, boot / "authorized_keys")
    (boot / "authorized_keys").chmod(0o600)
    (boot / "sshd_config").write_text(_sshd_config(
        host.address, f"{BOOT_DIR}/ssh_host_ed25519_key", f"{BOOT_DIR}/authorized_keys", "/run/sshd.pid"))
    (boot / "hostname").write_text(f"{host.name}\n")
    (units / "multi-user.target.wants").mkdir(parents=True)
    (units / "testbed-sshd.service").write_text(SSHD_UNIT)
    (units / "multi-user.target.wants" / "testbed-sshd.service").symlink_to("../testbed-sshd.service")
    # The container's root: mount points for this machine's /usr and /etc, the usual symlinks of
    # a merged-/usr system, and the os-release file nspawn looks for before it mounts anything.
    for directory in ("usr/lib", "etc", "tmp", "proc", "sys", "dev", "run", "root", BOOT_DIR.lstrip("/"),
                      *(mount_point.lstrip("/") for mount_point in PRIVATE_MOUNTS)):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "lib", "lib64", "sbin"):
        if Path(f"/{link}").is_symlink():
            (root / link).symlink_to(f"usr/{link}")
    shutil.copyfile("/usr/lib/os-release", root / "usr" / "lib" / "os-release")
    binds = ["--bind-ro=/usr", "--bind-ro=/etc", f"--bind={units}:/etc/systemd/system",
             f"--bind-ro={boot / 'hostname'}:/etc/hostname", f"--bind-ro={boot}:{BOOT_DIR}",
             *(f"--bind={host_dir / sub}:{mount_point}" for mount_point, sub in PRIVATE_MOUNTS.items())]
    # --keep-unit and --register=no: no D-Bus or machined on the controller; the shell first moves
    # itself into the host's own cgroup, so nspawn's payload and supervisor groups are below it.
    cgroups = " ".join(f"{parent}/{CGROUP_PARENT}/{host.namespace}" for parent in _cgroup_roots())
    script = (f'for group in {cgroups}; do mkdir -p "$group" && echo $$ > "$group/cgroup.procs"; done; '
              f'exec {NSPAWN} --quiet --boot --directory={root} --machine={host.name} --register=no --keep-unit '
              f'--link-journal=no --network-namespace-path=/run/netns/{host.namespace} {" ".join(binds)}')
    with open(host_dir / "console.log", "wb") as console:
        subprocess.Popen(["sh", "-c", script], stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                         start_new_session=True)


def _cgroup_roots() -> list[str]:
    roots = [root for root in CGROUP_ROOTS if Path(root, "cgroup.procs").exists()]
    return roots or ["/sys/fs/cgroup"]


def _remove_cgroups(run_id: str, timeout_s: float = 10.0) -> None:
    """Kills the processes of the testbed's systemd hosts (containers first: nspawn then ends by
    itself) and removes their cgroups."""
    groups = [group for parent in _cgroup_roots()
              for group in Path(parent, CGROUP_PARENT).glob(f"vh-{run_id}-*") if group.is_dir()]
    if not groups:
        return

    def pids(directory: Path, skip: str = "") -> list[int]:
        found = []
        for procs in directory.rglob("cgroup.procs"):
            if skip and skip in procs.parts:
                continue
            found.extend(int(pid) for pid in procs.read_text().split())
        return found

    deadline = time.monotonic() + timeout_s
    for skip in ("supervisor", ""):
        for group in groups:
            for pid in pids(group, skip):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        while any(pids(group) for group in groups) and time.monotonic() < deadline:
            time.sleep(0.05)
    for group in groups:
        for directory in sorted((d for d in group.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
            directory.rmdir()
        group.rmdir()
        try:
            group.parent.rmdir()  # the last testbed with systemd hosts
        except OSError:
            pass


def _write_inventory(testbed: NetnsTestbed, profiles: list[str], emulated: dict[int, EmulatedProfile]) -> None:
    groups: dict[str, dict] = {"control": {"hosts": {}}, "execution": {"hosts": {}}, "client": {"hosts": {}}}
    for index, host in enumerate(testbed.hosts):
        host_vars: dict[str, object] = {"ansible_host": host.address, "agent_port": 50051}
        if profiles:
            host_vars["hardware_profile"] = profiles[index % len(profiles)]
        if index in emulated:
            host_vars["hardware_profile"] = emulated[index].name
            if emulated[index].to_limits():
                host_vars["vdlt_limits"] = emulated[index].to_limits()
        groups[host.role]["hosts"][host.name] = host_vars
    # Paths as a lab's inventory writes them (inventories/lab.example): templates on inventory_dir,
    # which Ansible and the harness's own SSH (exec, remote workers) must read alike.
    beside = "{{ inventory_dir }}/.."
    inventory = {"all": {
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": f"{beside}/{testbed.key_file.name}",
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={beside}/{testbed.known_hosts.name} "
                                       "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes",
            "ansible_python_interpreter": "/usr/bin/python3",
            "vdlt_known_hosts": f"{beside}/{testbed.known_hosts.name}",
            "hardware_profile": "netns-host",
            "cost_per_hour": 0.1,
        },
        "children": {name: body for name, body in groups.items() if body["hosts"]},
    }}
    testbed.inventory.mkdir()
    (testbed.inventory / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))


def _wait_for_ssh(testbed: NetnsTestbed, timeout_s: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    for host in testbed.hosts:
        while True:
            try:
                with socket.create_connection((host.address, 22), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    booted = f" (its boot: {host.directory}/console.log)" if host.init == "systemd" else ""
                    raise NetnsError(f"sshd on {host.name} ({host.address}) did not answer{booted}") from None
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
    _remove_cgroups(run_id)
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


def host_key(role: str, index: int) -> str:
    """How `--profile` names a host: the end of its name, ``exec-1`` for ``vh1a2b-exec-1``."""
    return f"{role[:4]}-{index}"


def emulated_hosts(assignments: list[str], roles: list[str]) -> dict[int, EmulatedProfile]:
    """``--profile HOST=PROFILE`` options as host index -> shipped profile; HOST is the end of
    the host's name (``exec-1``) or its index (``1``)."""
    keys = {host_key(role, index): index for index, role in enumerate(roles)}
    chosen: dict[int, EmulatedProfile] = {}
    for assignment in assignments:
        host, equals, name = assignment.partition("=")
        if not equals or not host or not name:
            raise NetnsError(f"--profile {assignment!r}: expected HOST=PROFILE, e.g. exec-1=pi4-like")
        index = int(host) if host.isdigit() else keys.get(host)
        if index is None or not 0 <= index < len(roles):
            raise NetnsError(f"--profile {assignment!r}: no host {host!r}; the hosts are {', '.join(keys)} "
                             f"(or their indexes 0..{len(roles) - 1})")
        try:
            chosen[index] = shipped_profile(name)
        except ProfileError as error:
            raise NetnsError(f"--profile {assignment!r}: {error}") from None
    return chosen


def list_testbeds() -> list[str]:
    return sorted(p.name for p in BASE_DIR.iterdir()) if BASE_DIR.exists() else []


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/netns-testbed")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="create hosts; prints the inventory directory")
    up.add_argument("--hosts", type=int, default=3)
    up.add_argument("--roles", help="comma-separated role per host (default: control, then execution)")
    up.add_argument("--systemd", default="", help="comma-separated indexes of hosts that boot systemd (from 0)")
    up.add_argument("--profile", action="append", default=[], metavar="HOST=PROFILE",
                    help="cap a host to look like a shipped hardware profile (pi4-like, minipc-like, server), "
                         "HOST as the end of its name (exec-1) or its index; repeatable")
    down = commands.add_parser("down", help="remove a testbed (or all with --all)")
    down.add_argument("run_id", nargs="?")
    down.add_argument("--all", action="store_true")
    commands.add_parser("list")
    args = parser.parse_args(argv)
    if args.command == "up":
        systemd = {int(index) for index in args.systemd.split(",") if index}
        roles = args.roles.split(",") if args.roles else ["control"] + ["execution"] * (args.hosts - 1)
        try:
            emulated = emulated_hosts(args.profile, roles)
        except NetnsError as error:
            parser.error(str(error))
        testbed = create(args.hosts, roles, systemd=systemd, emulated=emulated)
        for index, host in enumerate(testbed.hosts):
            capped = f"  {emulated[index].name}: {emulated[index].describe()}" if index in emulated else ""
            print(f"{host.name:<20} {host.role:<10} {host.address:<14} {host.init}{capped}")
        print(f"run id {testbed.run_id}; inventory: {testbed.inventory}")
    elif args.command == "down":
        for run_id in (list_testbeds() if args.all else [args.run_id]):
            destroy(run_id)
    else:
        print("\n".join(list_testbeds()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
