"""Caps on a node's CPU, memory and disk bandwidth, so one machine can stand in for a smaller one.

The agent applies its node's ``limits:`` (node.yaml) to its own process when it starts, before it
loads gRPC or opens the ledger: one cgroup v1 group per controller the limits need, named
``vdlt-<node_id>-<digest of its data_dir>`` (two testbeds on one machine, each with an
``exec-0``, are capped apart), below the agent's own place in that hierarchy (``node_agent/cgroups.py``).
Writing the pid into a group's ``cgroup.procs`` moves every thread of the process, and the
processes it starts inherit the group. A limit that cannot be applied stops the agent with a
message naming the controller and the node: a node that runs uncapped while the inventory says
it is capped would make a benchmark compare two unlike things without saying so.

Under systemd the unit's own settings (``CPUQuota=``, ``MemoryMax=`` ...) hold the same limits
and node.yaml says ``limits_applied_by: systemd``: the agent then creates no groups.

The groups the agent made are listed in ``<data_dir>/limits.cgroups``, so ``stop`` (another
process, perhaps in other groups of its own) removes exactly those once the agent is gone.
"""
from __future__ import annotations

import hashlib
import math
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from node_agent import cgroups
from protocol.documents import Document, FieldPath
from protocol.errors import HarnessError

LIMIT_KEYS = ("cpu_cores", "cpuset", "memory_mb", "read_mbps", "write_mbps")
# Which v1 controller holds each limit.
CONTROLLER_OF = {"cpu_cores": "cpu", "cpuset": "cpuset", "memory_mb": "memory", "read_mbps": "blkio",
                 "write_mbps": "blkio"}
MB = 1_000_000  # disk bandwidth in MB/s, as disk makers and fio's "MB/s" count it
MIB = 2**20     # memory in MiB, as systemd's MemoryMax=...M and `free -m` count it
# The kernel refuses a CFS quota under 1 ms (of a period of at most 1 s).
MIN_CPU_CORES = 0.01
MIN_QUOTA_US = 1_000
# A short period spreads a node's share of a core evenly: a third of a core runs 3.3 ms of every
# 10 ms instead of 33 ms of every 100 ms (the v1 default), so its stalls stay under 7 ms rather
# than 67 ms - nearer a uniformly slower core, which is what a profile stands for.
EMULATION_PERIOD_US = 10_000


def cfs_period_us(cpu_cores: float) -> int:
    """The CFS period for a cap: the short one, or as long as the kernel's 1 ms quota needs."""
    return max(EMULATION_PERIOD_US, math.ceil(MIN_QUOTA_US / cpu_cores))
GROUPS_FILE = "limits.cgroups"
_CPU_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


class LimitsError(HarnessError):
    """A node's limits cannot be applied here; the node does not start uncapped."""


@dataclass(frozen=True)
class Limits:
    """What a node may use; None is not capped."""

    cpu_cores: float | None = None
    cpuset: str | None = None
    memory_mb: int | None = None
    read_mbps: float | None = None
    write_mbps: float | None = None

    @property
    def capped(self) -> bool:
        return any(value is not None for value in asdict(self).values())

    def controllers_needed(self) -> tuple[str, ...]:
        """The cgroup v1 controllers these limits need, each once, in a fixed order."""
        return tuple(dict.fromkeys(CONTROLLER_OF[key] for key, value in asdict(self).items() if value is not None))

    def to_mapping(self) -> dict[str, Any]:
        """The set limits as node.yaml's ``limits:`` and the host variable ``vdlt_limits`` hold them."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def describe(self) -> str:
        """One line: "0.33 core, 512 MiB, 20 MB/s writes"; "uncapped" when nothing is set."""
        parts = []
        if self.cpu_cores is not None:
            parts.append(f"{self.cpu_cores:g} core{'s' if self.cpu_cores > 1 else ''}")
        if self.cpuset is not None:
            parts.append(f"CPUs {self.cpuset}")
        if self.memory_mb is not None:
            parts.append(f"{self.memory_mb} MiB")
        if self.read_mbps is not None:
            parts.append(f"{self.read_mbps:g} MB/s reads")
        if self.write_mbps is not None:
            parts.append(f"{self.write_mbps:g} MB/s writes")
        return ", ".join(parts) or "uncapped"


def check_limits(doc: Document, where: FieldPath, body: Any, also_allowed: tuple[str, ...] = ()) -> Limits:
    """Limits from a mapping of a checked document (node.yaml's ``limits``, an inventory's
    ``vdlt_limits``, a profile's definition), each field named with its line when it is wrong."""
    body = doc.mapping(where, body, (*LIMIT_KEYS, *also_allowed))

    def optional_number(key: str) -> float | None:
        value = body.get(key)
        return None if value is None else doc.number((*where, key), value, above=0)

    cpu_cores = optional_number("cpu_cores")
    if cpu_cores is not None and cpu_cores < MIN_CPU_CORES:
        raise doc.error((*where, "cpu_cores"), f"must be >= {MIN_CPU_CORES} (the kernel's smallest CPU quota), "
                                               f"got {cpu_cores:g}")
    cpuset = body.get("cpuset")
    if cpuset is not None:
        cpuset = str(cpuset).replace(" ", "")  # YAML reads `cpuset: 1` as a number
        if not _CPU_LIST.match(cpuset):
            raise doc.error((*where, "cpuset"), f"must be a CPU list such as 0, 0-1 or 0,2, got {body['cpuset']!r}")
    memory_mb = body.get("memory_mb")
    if memory_mb is not None:
        memory_mb = doc.integer((*where, "memory_mb"), memory_mb, minimum=1)
    return Limits(cpu_cores=cpu_cores, cpuset=cpuset, memory_mb=memory_mb, read_mbps=optional_number("read_mbps"),
                  write_mbps=optional_number("write_mbps"))


def block_device(path: Path) -> str:
    """``MAJ:MIN`` of the whole disk that holds ``path`` (blkio throttles a disk; a partition's
    number would be refused); LimitsError when the filesystem is on no block device."""
    device = os.stat(path).st_dev
    number = f"{os.major(device)}:{os.minor(device)}"
    sys_dir = Path("/sys/dev/block") / number
    if not sys_dir.exists():
        raise LimitsError(f"{path} is on no block device (device {number}: tmpfs, overlay, btrfs or a network "
                          f"filesystem): its disk bandwidth cannot be capped; put the node's data_dir on a disk "
                          f"or drop read_mbps/write_mbps")
    if (sys_dir / "partition").exists():
        number = (sys_dir.resolve().parent / "dev").read_text().strip()
    return number


def _write(node_id: str, file: Path, value: str) -> None:
    try:
        with open(file, "w") as handle:
            handle.write(value)
    except OSError as error:
        raise LimitsError(f"node {node_id}: cannot write {value!r} to {file}: {error.strerror or error}") from error


def _live_pids(group: Path) -> list[int]:
    try:
        listed = [int(pid) for pid in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []
    return [pid for pid in listed if Path(f"/proc/{pid}").exists()]


def group_name(node_id: str, data_dir: Path) -> str:
    """``vdlt-exec-0-1a2b3c4d``: the node, and which of the nodes of that name on this machine."""
    return f"vdlt-{node_id}-{hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:8]}"


def apply_limits(limits: Limits, node_id: str, data_dir: Path, pid: int | None = None,
                 root: Path | None = None) -> list[Path]:
    """Moves process ``pid`` (this one by default) into groups of its own that hold ``limits``;
    returns the groups. Nothing is left half applied: on an error the groups made are removed."""
    if not limits.capped:
        return []
    pid = os.getpid() if pid is None else pid
    needed = limits.controllers_needed()
    missing = cgroups.missing_controllers(needed, root)
    if missing:
        raise LimitsError(
            f"node {node_id}: its limits ({limits.describe()}) need the cgroup v1 controller(s) "
            f"{', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not mounted writable for this "
            f"process under {cgroups.root_dir(root)}; refusing to run uncapped (mount the hierarchy, run the agent "
            f"as root, or drop the limit from vdlt_limits)")
    data_dir.mkdir(parents=True, exist_ok=True)
    device = block_device(data_dir) if limits.read_mbps is not None or limits.write_mbps is not None else ""
    groups: dict[str, Path] = {}
    for controller in needed:
        group = cgroups.place(controller, root) / group_name(node_id, data_dir)  # type: ignore[operator]
        others = [other for other in _live_pids(group) if other != pid]
        if others:
            raise LimitsError(f"node {node_id}: {group} already holds process(es) {', '.join(map(str, others))}: "
                              f"another agent of this node ({data_dir}) runs capped on this machine")
        groups[controller] = group
    # Listed before they exist, so a `stop` after a failure half way removes what was made.
    (data_dir / GROUPS_FILE).write_text("".join(f"{group}\n" for group in groups.values()))
    try:
        for controller, group in groups.items():
            group.mkdir(exist_ok=True)
            if controller == "cpu":
                period = cfs_period_us(limits.cpu_cores)
                _write(node_id, group / "cpu.cfs_period_us", str(period))
                _write(node_id, group / "cpu.cfs_quota_us", str(round(limits.cpu_cores * period)))
            elif controller == "cpuset":
                # A cpuset group starts with no CPUs and no memory nodes, and takes no task until
                # it has both: the memory nodes are the parent's.
                _write(node_id, group / "cpuset.cpus", str(limits.cpuset))
                _write(node_id, group / "cpuset.mems", (group.parent / "cpuset.mems").read_text().strip())
            elif controller == "memory":
                # Memory the process already holds stays charged to its old group (v1 moves no
                # charges by default): what counts is what it allocates from now on.
                _write(node_id, group / "memory.limit_in_bytes", str(limits.memory_mb * MIB))  # type: ignore[operator]
            elif controller == "blkio":
                if limits.read_mbps is not None:
                    _write(node_id, group / "blkio.throttle.read_bps_device", f"{device} {round(limits.read_mbps * MB)}")
                if limits.write_mbps is not None:
                    _write(node_id, group / "blkio.throttle.write_bps_device",
                           f"{device} {round(limits.write_mbps * MB)}")
        for group in groups.values():
            _write(node_id, group / "cgroup.procs", str(pid))
    except BaseException:
        remove_groups(data_dir, root, timeout_s=0)
        raise
    return list(groups.values())


def remove_groups(data_dir: Path, root: Path | None = None, timeout_s: float = 5.0) -> list[str]:
    """Removes the groups the agent of ``data_dir`` made, once the processes in them are gone;
    returns what could not be removed (a group with a live process stays)."""
    listing = data_dir / GROUPS_FILE
    try:
        groups = [Path(line) for line in listing.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []
    deadline = time.monotonic() + timeout_s
    problems = []
    for group in groups:
        if not group.is_dir():
            continue
        while _live_pids(group) and time.monotonic() < deadline:
            time.sleep(0.05)  # a stopped agent's threads leave their group a moment after it exits
        if cgroups.is_prepared_root(root):
            # A prepared folder is no cgroupfs: the control files the kernel drops with a group
            # are plain files here (on cgroupfs, unlinking them is refused, so this is skipped).
            for file in group.iterdir():
                if file.is_file():
                    file.unlink()
        try:
            group.rmdir()
        except OSError as error:
            held = _live_pids(group)
            problems.append(f"{group}: {error.strerror or error}" + (f" (holds {held})" if held else ""))
    if not problems:
        listing.unlink(missing_ok=True)
    return problems


def check_enforced(limits: Limits, node_id: str, machine_memory_bytes: int, root: Path | None = None) -> None:
    """Under systemd: that the kernel holds the agent to the CPU and memory limits its unit was
    meant to set (a unit without them, or a setting this systemd ignores, as AllowedCPUs= on the
    legacy hierarchy, would leave the node uncapped). Disk caps are not read back."""
    wanted_cores = [float(v) for v in (limits.cpu_cores, cgroups.cpu_count(limits.cpuset) if limits.cpuset else None)
                    if v]
    if wanted_cores:
        enforced = cgroups.cpu_limit_cores(root)
        if not enforced or abs(enforced - min(wanted_cores)) > 0.01 * min(wanted_cores):
            raise LimitsError(f"node {node_id}: its unit should hold it to {min(wanted_cores):g} core(s), but the "
                              f"kernel {'caps it at ' + format(enforced, 'g') if enforced else 'does not cap it'}; "
                              f"refusing to run uncapped (is the unit the playbooks wrote installed and reloaded?)")
    if limits.memory_mb is not None and limits.memory_mb * MIB < machine_memory_bytes:
        enforced_bytes = cgroups.memory_limit_bytes(machine_memory_bytes, root)
        if enforced_bytes != limits.memory_mb * MIB:
            raise LimitsError(f"node {node_id}: its unit should hold it to {limits.memory_mb} MiB, but the kernel "
                              f"{'caps it at ' + str(enforced_bytes // MIB) + ' MiB' if enforced_bytes else 'does not cap it'}"
                              f"; refusing to run uncapped")
