"""Emulated hardware profiles: named caps that make a node on this machine look like a smaller one.

A profile is what a campaign compares ("pi4-like" against "server"); its caps travel as the host
variable ``vdlt_limits`` to the node's ``limits:`` in node.yaml, and the node's agent (or its
systemd unit) holds it to them (``node_agent/limits.py``). The numbers below say where they come
from; cgroups cap CPU *time*, disk *bandwidth* and memory *size*, not the speed of one core, the
latency of one fsync or the width of a memory bus, so an emulated node is a smaller share of this
machine, not the other machine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Which controllers a machine lacks is asked where the agent asks it: one reader of /proc/self/cgroup.
from node_agent.cgroups import missing_controllers
from node_agent.limits import Limits, check_limits
from protocol.documents import Document, FieldPath
from protocol.errors import HarnessError, did_you_mean

__all__ = ["SHIPPED", "EmulatedProfile", "ProfileError", "missing_controllers", "profile_from_mapping",
           "shipped_profile"]


class ProfileError(HarnessError):
    pass


@dataclass(frozen=True)
class EmulatedProfile:
    name: str
    cpu_cores: float | None
    cpuset: str | None
    memory_mb: int | None
    read_mbps: float | None
    write_mbps: float | None
    source: str
    """Where the numbers come from, and how they were scaled to this machine."""

    @property
    def limits(self) -> Limits:
        return Limits(self.cpu_cores, self.cpuset, self.memory_mb, self.read_mbps, self.write_mbps)

    def controllers_needed(self) -> tuple[str, ...]:
        """The cgroup v1 controllers the caps need: cpu, cpuset, memory, blkio (those set)."""
        return self.limits.controllers_needed()

    def to_limits(self) -> dict[str, Any]:
        """The caps set, as node.yaml's ``limits:`` and the host variable ``vdlt_limits`` hold them."""
        return self.limits.to_mapping()

    def describe(self) -> str:
        """One line: "0.35 core, 1024 MiB, 45 MB/s reads, 20 MB/s writes" ("uncapped" for none)."""
        return self.limits.describe()


# This machine (the reference for the scaling below): 2 vCPUs of a cloud VM, i.e. two hardware
# threads of a server x86 core at about 2.5-3.5 GHz. The agent runs its vdlt role in one Python
# process, mostly on one thread at a time (the GIL), so what decides how a node keeps up is how
# fast one core is, and a CPU quota can only model that as a share of one of our cores. A
# board's extra cores help the agent little and cannot be had here anyway (2 cores for a whole
# testbed), so no profile gives more than one core.
SHIPPED: dict[str, EmulatedProfile] = {
    "pi4-like": EmulatedProfile(
        name="pi4-like", cpu_cores=0.35, cpuset=None, memory_mb=1024, read_mbps=45.0, write_mbps=20.0,
        source=(
            "Raspberry Pi 4 Model B (BCM2711: 4x Cortex-A72 at 1.5 GHz, 1-8 GB LPDDR4, microSD). CPU: one A72 "
            "core is roughly 0.3-0.4 of one of this machine's x86 vCPUs in single-thread benchmarks (Geekbench "
            "5 single-core about 250-300 against 700-900 for a server vCPU; Python's pyperformance runs 3-5x "
            "slower): 0.35 of a core, since the agent is mostly one thread; the Pi's other three cores are not "
            "modelled. Memory: 1024 MiB, the smallest Pi 4 and what a 4 GB board leaves a service beside its "
            "OS and page cache; a v1 limit counts the node's page cache too. Disk: a good A1/A2 microSD card "
            "on the Pi 4's SD interface (DDR50, at most about 50 MB/s) reads about 45 MB/s and writes about "
            "20 MB/s sequentially (pibenchmarks.com, Jeff Geerling's card tests); its far worse small-write "
            "and fsync latency is not modelled by a bandwidth cap."),
    ),
    "minipc-like": EmulatedProfile(
        name="minipc-like", cpu_cores=1.0, cpuset=None, memory_mb=4096, read_mbps=900.0, write_mbps=500.0,
        source=(
            "Intel N100 mini PC (Alder Lake-N: 4 Gracemont E-cores up to 3.4 GHz, no SMT, 6 W; 8-16 GB single-"
            "channel DDR4/DDR5; an M.2 SSD on PCIe 3.0 x1/x2). CPU: one Gracemont core is about as fast as one "
            "of this machine's vCPUs in single-thread benchmarks (Skylake-class; Geekbench 5 single-core about "
            "1000-1100): one whole core; its four cannot be had on this 2-core machine, and one keeps a "
            "minipc-like node off the core its neighbours need. Memory: 4096 MiB, what an 8 GB box leaves a "
            "service. Disk: the budget NVMe SSDs these ship with, behind a PCIe 3.0 x1 link: about 900 MB/s "
            "reads and 500 MB/s sustained writes."),
    ),
    "server": EmulatedProfile(
        name="server", cpu_cores=None, cpuset=None, memory_mb=None, read_mbps=None, write_mbps=None,
        source="This machine as it is, no caps: the baseline a capped node is compared with."),
}


def shipped_profile(name: str) -> EmulatedProfile:
    """A shipped profile by name; the error names the nearest one."""
    if name not in SHIPPED:
        raise ProfileError(f"no hardware profile {name!r}{did_you_mean(name, SHIPPED)}; shipped: {', '.join(SHIPPED)}")
    return SHIPPED[name]


def profile_from_mapping(doc: Document, where: FieldPath, name: str, body: Any) -> EmulatedProfile:
    """A profile defined inline in a checked document (keys cpu_cores, cpuset, memory_mb,
    read_mbps, write_mbps, source), each mistake named with its file, line and field."""
    limits = check_limits(doc, where, body, also_allowed=("source",))
    source = doc.text((*where, "source"), doc.need(where, body, "source"))
    if not name:
        raise doc.error(where, "a hardware profile needs a name")
    return EmulatedProfile(name, limits.cpu_cores, limits.cpuset, limits.memory_mb, limits.read_mbps,
                           limits.write_mbps, source)
