"""Where this process sits in the cgroup hierarchies, and the limits the kernel enforces on it.

The one reader of ``/proc/self/cgroup``: the agent applies a node's limits below its own places
(``node_agent/limits.py``), reports the limits it runs under (``node_agent/state.py``), and the
controller asks which controllers a machine lacks (``harness/provision/profiles.py``).

A cgroup v1 controller's place for a process is ``<root>/<mount>/<path>``: ``<mount>`` is the
directory the hierarchy is mounted on, named after its controllers (``cpu``, or ``cpu,cpuacct``
where they share one hierarchy), and ``<path>`` is the process's path in that hierarchy from
``/proc/self/cgroup`` (not always ``/``: here memory is at ``/process_api/...``). The root is
``/sys/fs/cgroup``, or ``VDLT_CGROUP_ROOT`` so tests can point at a prepared folder.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

ROOT_ENV = "VDLT_CGROUP_ROOT"
DEFAULT_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def root_dir(root: Path | None = None) -> Path:
    return Path(root if root is not None else os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def is_prepared_root(root: Path | None = None) -> bool:
    """Whether the root is a folder standing in for cgroupfs (tests), not the kernel's."""
    return root_dir(root) != DEFAULT_ROOT


def own_paths(proc_file: Path = PROC_CGROUP) -> dict[str, str]:
    """Controller -> this process's path in its hierarchy, from lines such as
    ``4:memory:/process_api/f940...``, ``2:cpu,cpuacct:/`` and ``0::/`` (the unified hierarchy,
    kept under the key "")."""
    paths: dict[str, str] = {}
    for line in proc_file.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def mount_dir(controller: str, root: Path | None = None) -> Path | None:
    """The directory a v1 controller's hierarchy is mounted on: ``cpu`` itself, or a combined
    one such as ``cpu,cpuacct`` (or the symlink ``cpu`` to it, as systemd makes). None when it
    is not there."""
    base = root_dir(root)
    if (base / controller / "cgroup.procs").exists():
        return base / controller
    if base.is_dir():
        for entry in sorted(base.iterdir()):
            if controller in entry.name.split(",") and (entry / "cgroup.procs").exists():
                return entry
    return None


def place(controller: str, root: Path | None = None, proc_file: Path = PROC_CGROUP) -> Path | None:
    """This process's own group in a v1 controller's hierarchy (where groups of its own go),
    or None when the controller is not mounted or the process has no path in it."""
    directory = mount_dir(controller, root)
    path = own_paths(proc_file).get(controller)
    if directory is None or path is None:
        return None
    return directory / path.lstrip("/")


def missing_controllers(needed: Iterable[str], cgroup_root: Path | None = None) -> list[str]:
    """The v1 controllers among ``needed`` that this process cannot create groups in: not
    mounted under the root, or its own place there is missing or not writable."""
    missing = []
    for controller in dict.fromkeys(needed):
        where = place(controller, cgroup_root)
        if where is None or not (where / "cgroup.procs").exists() or not os.access(where, os.W_OK):
            missing.append(controller)
    return missing


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _ancestors(directory: Path, top: Path) -> list[Path]:
    """``directory`` and each of its parents up to ``top``, the hierarchy's root: a limit on
    any of them holds for this process."""
    chain = [directory]
    while chain[-1] != top and top in chain[-1].parents:
        chain.append(chain[-1].parent)
    return chain


def cpu_count(cpus: str) -> int:
    """CPUs in a list such as ``0-1,4`` (cpuset.cpus)."""
    count = 0
    for part in cpus.split(","):
        if "-" in part:
            first, last = part.split("-")
            count += int(last) - int(first) + 1
        elif part.strip():
            count += 1
    return count


def cpu_limit_cores(root: Path | None = None, proc_file: Path = PROC_CGROUP) -> float:
    """The cores this process may use, as the kernel enforces it: the smallest CFS quota over
    its cpu group and that group's ancestors, or fewer CPUs in its cpuset than the machine has;
    0.0 when neither caps it. Reads cgroup v1, else the unified hierarchy (v2, systemd units)."""
    limits = []
    paths = own_paths(proc_file)
    machine = os.cpu_count() or 1
    cpu_dir = mount_dir("cpu", root)
    if cpu_dir is not None and "cpu" in paths:
        for group in _ancestors(cpu_dir / paths["cpu"].lstrip("/"), cpu_dir):
            quota, period = _read(group / "cpu.cfs_quota_us"), _read(group / "cpu.cfs_period_us")
            if quota and period and int(quota) > 0 and int(period) > 0:
                limits.append(int(quota) / int(period))
    cpuset_dir = mount_dir("cpuset", root)
    if cpuset_dir is not None and "cpuset" in paths:
        group = cpuset_dir / paths["cpuset"].lstrip("/")
        cpus = _read(group / "cpuset.effective_cpus") or _read(group / "cpuset.cpus")
        if cpus and cpu_count(cpus) < machine:
            limits.append(float(cpu_count(cpus)))
    unified = _unified_dir(root)
    if unified is not None and "" in paths:
        group = unified / paths[""].lstrip("/")
        for directory in _ancestors(group, unified):
            quota, _, period = (_read(directory / "cpu.max") or "max").partition(" ")
            if quota != "max" and period:
                limits.append(int(quota) / int(period))
        cpus = _read(group / "cpuset.cpus.effective")
        if cpus and cpu_count(cpus) < machine:
            limits.append(float(cpu_count(cpus)))
    return min(limits) if limits else 0.0


def memory_limit_bytes(machine_bytes: int, root: Path | None = None, proc_file: Path = PROC_CGROUP) -> int:
    """The memory this process's group may use, as the kernel enforces it (the smallest limit
    over the group and its ancestors); 0 when that is no less than the machine's ``machine_bytes``
    (v1 reports "no limit" as a huge number)."""
    limits = []
    paths = own_paths(proc_file)
    memory_dir = mount_dir("memory", root)
    if memory_dir is not None and "memory" in paths:
        for group in _ancestors(memory_dir / paths["memory"].lstrip("/"), memory_dir):
            value = _read(group / "memory.limit_in_bytes")
            if value and value.isdigit():
                limits.append(int(value))
    unified = _unified_dir(root)
    if unified is not None and "" in paths:
        for group in _ancestors(unified / paths[""].lstrip("/"), unified):
            value = _read(group / "memory.max")
            if value and value.isdigit():
                limits.append(int(value))
    limit = min(limits) if limits else 0
    return limit if 0 < limit < machine_bytes else 0


def _unified_dir(root: Path | None) -> Path | None:
    """The cgroup v2 hierarchy: the root itself (a v2-only machine) or its ``unified`` mount
    (systemd's hybrid layout); None when it has no controllers (as here), so it caps nothing."""
    base = root_dir(root)
    for directory in (base, base / "unified"):
        if _read(directory / "cgroup.controllers"):
            return directory
    return None
