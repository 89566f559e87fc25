"""Samples this machine's CPU, memory, storage and the agent's trust state with psutil.

A node capped to look like a smaller machine (node_agent/limits.py, or its systemd unit) reports
the limits the kernel holds it to, read from its own cgroups every window, and its CPU
utilisation as a share of its CPU limit.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import psutil

from node_agent import cgroups
from protocol import node_agent_pb2 as pb
from protocol.ledger_pb2 import TrustReport

_ROLE = {
    "control": pb.NODE_ROLE_CONTROL,
    "execution": pb.NODE_ROLE_EXECUTION,
    "client": pb.NODE_ROLE_CLIENT,
}
# Pseudo and container-plumbing filesystems say nothing about a node's storage.
_IGNORED_FSTYPES = {"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "nsfs", "autofs"}


def code_digest() -> str:
    """SHA-256 over the agent's and the ledger's source files: a changed binary shows here."""
    digest = hashlib.sha256()
    for package in ("node_agent", "vdlt", "protocol"):
        root = Path(__import__(package).__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


class StateSampler:
    """Keeps rate-based figures (CPU busy share, disk throughput) over a sliding window.

    A background thread closes one window every ``interval_s``; :meth:`snapshot` combines the
    last closed window with instantaneous figures read now.
    """

    def __init__(self, node_id: str, role: str, hardware_profile: str, data_dir: Path, interval_s: float = 0.5) -> None:
        self.node_id = node_id
        self.role = _ROLE[role]
        self.hardware_profile = hardware_profile
        self.data_dir = data_dir
        self.interval_s = interval_s
        self.started = time.monotonic()
        self.code_digest = code_digest()
        self.trust = TrustReport(score=0.5)
        self._sequence = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
        self._physical = psutil.cpu_count(logical=False) or self._logical
        # The first cpu_percent() call only starts a window (it returns 0.0): close a short
        # one now so the very first report is already meaningful.
        psutil.cpu_percent(interval=None, percpu=True)
        self._times = psutil.cpu_times_percent(interval=None)  # shares since boot until a window closes
        self._disk_prev = (time.monotonic(), _disk_counters())
        self._process = psutil.Process()
        self._process_prev = (time.monotonic(), _cpu_seconds(self._process))
        self._memory_total = psutil.virtual_memory().total
        time.sleep(0.1)
        self._close_window()
        self._thread = threading.Thread(target=self._loop, name="state-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._close_window()

    def _close_window(self) -> None:
        per_core = psutil.cpu_percent(interval=None, percpu=True)
        times = psutil.cpu_times_percent(interval=None)
        now, disks = time.monotonic(), _disk_counters()
        previous_time, previous = self._disk_prev
        elapsed = max(now - previous_time, 1e-6)
        limit_cores, limit_bytes = _limits(self._memory_total)
        cpu_seconds = _cpu_seconds(self._process)
        busy_since, busy_before = self._process_prev
        # A capped node is a smaller machine: how busy it is is its own CPU time against its
        # limit, not how busy the whole machine (its neighbours too) is.
        own_percent = 100.0 * (cpu_seconds - busy_before) / max(now - busy_since, 1e-6) / limit_cores \
            if limit_cores else None
        disk_states = []
        for device, counters in sorted(disks.items()):
            before = previous.get(device, counters)
            disk_states.append(
                pb.DiskIoState(
                    device=device,
                    read_bytes=counters.read_bytes, write_bytes=counters.write_bytes,
                    read_count=counters.read_count, write_count=counters.write_count,
                    read_bytes_per_second=max(counters.read_bytes - before.read_bytes, 0) / elapsed,
                    write_bytes_per_second=max(counters.write_bytes - before.write_bytes, 0) / elapsed,
                )
            )
        with self._lock:
            self._per_core = per_core
            # A window too short for the kernel's tick counters to move reads as all zeros;
            # keep the previous window's shares rather than report a CPU that is neither busy nor idle.
            if sum(times) > 0:
                self._times = times
            self._disks = disk_states
            self._disk_prev = (now, disks)
            self._process_prev = (now, cpu_seconds)
            self._limit_cores, self._limit_bytes = limit_cores, limit_bytes
            self._own_percent = min(own_percent, 100.0) if own_percent is not None else None

    def update_trust(self, reported: TrustReport) -> None:
        """The control plane's reputation of this node, as its control node last sent it."""
        with self._lock:
            self.trust = reported

    def snapshot(self) -> pb.NodeState:
        with self._lock:
            per_core = list(self._per_core)
            times = self._times
            disks = list(self._disks)
            self._sequence += 1
            sequence = self._sequence
            trust = self.trust
            limit_cores, limit_bytes, own_percent = self._limit_cores, self._limit_bytes, self._own_percent
        machine_percent = sum(per_core) / len(per_core) if per_core else 0.0
        state = pb.NodeState(
            node_id=self.node_id, role=self.role, hardware_profile=self.hardware_profile,
            sequence=sequence, trust=trust, code_digest=self.code_digest,
            uptime_seconds=time.monotonic() - self.started,
        )
        state.timestamp.GetCurrentTime()
        load1, load5, load15 = os.getloadavg()
        frequency = psutil.cpu_freq()
        state.cpu.CopyFrom(
            pb.CpuState(
                logical_count=self._logical, physical_count=self._physical,
                utilization_percent=own_percent if own_percent is not None else machine_percent,
                limit_cores=limit_cores,
                per_core_utilization_percent=per_core,
                load_average_1m=load1, load_average_5m=load5, load_average_15m=load15,
                frequency_current_mhz=frequency.current if frequency else 0.0,
                frequency_max_mhz=frequency.max if frequency else 0.0,
                user_percent=times.user, system_percent=times.system, idle_percent=times.idle,
                iowait_percent=getattr(times, "iowait", 0.0), steal_percent=getattr(times, "steal", 0.0),
                nice_percent=getattr(times, "nice", 0.0), irq_percent=getattr(times, "irq", 0.0),
                softirq_percent=getattr(times, "softirq", 0.0),
            )
        )
        memory = psutil.virtual_memory()
        state.memory.CopyFrom(
            pb.MemoryState(
                total_bytes=memory.total, available_bytes=memory.available,
                used_bytes=memory.used, used_percent=memory.percent, limit_bytes=limit_bytes,
                agent_rss_bytes=self._process.memory_info().rss,
            )
        )
        state.storage.mounts.extend(_mounts(self.data_dir))
        state.storage.disks.extend(disks)
        state.storage.data_mount = _mount_of(self.data_dir)
        return state

    def close(self) -> None:
        self._stop.set()


def _cpu_seconds(process: psutil.Process) -> float:
    """CPU time of the agent and of the children it waited for (its vdlt role runs in-process)."""
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def _limits(memory_total: int) -> tuple[float, int]:
    """The CPU limit in cores and the memory limit in bytes the kernel holds the agent to (0: none)."""
    try:
        return cgroups.cpu_limit_cores(), cgroups.memory_limit_bytes(memory_total)
    except (OSError, ValueError):
        return 0.0, 0  # no /proc/self/cgroup (not Linux) or a hierarchy it cannot read: none known


def _disk_counters() -> dict[str, psutil._common.sdiskio]:
    try:
        return psutil.disk_io_counters(perdisk=True) or {}
    except (RuntimeError, OSError):
        return {}


def _mount_of(path: Path) -> str:
    path = Path(path).resolve()
    while not os.path.ismount(path):
        path = path.parent
    return str(path)


def _mounts(data_dir: Path) -> list[pb.MountState]:
    data_mount = _mount_of(data_dir)
    seen: set[str] = set()
    mounts = []
    for partition in psutil.disk_partitions(all=True):
        relevant = partition.mountpoint == data_mount or (
            partition.fstype not in _IGNORED_FSTYPES and partition.device.startswith("/dev/")
        )
        if not relevant or partition.mountpoint in seen:
            continue
        try:
            usage = psutil.disk_usage(partition.mountpoint)
        except OSError:
            continue
        seen.add(partition.mountpoint)
        mounts.append(
            pb.MountState(
                mountpoint=partition.mountpoint, device=partition.device, fstype=partition.fstype,
                total_bytes=usage.total, free_bytes=usage.free,
            )
        )
    if data_mount not in seen:
        usage = psutil.disk_usage(data_mount)
        mounts.append(pb.MountState(mountpoint=data_mount, total_bytes=usage.total, free_bytes=usage.free))
    return mounts
