"""Choosing execution nodes per class of service from their reported state (seed 001, IV.E).

- fast confirmation: the most trusted, least loaded nodes;
- computation-intensive: the most free CPU capacity (cores × idle share × frequency);
- storage-intensive: the most free storage on the data mount, then the best recent disk throughput;
- low cost: the cheapest hardware profile whose recent execution latency meets the class deadline;
- private: only private-capable nodes;
- best effort, scavenger, management/control: round robin over the eligible nodes.

A node is eligible when it reported state recently, its stream is up, it is not catching up on
commits it missed, its trust is at least the class's minimum and (for private) it is
private-capable. When fewer nodes are eligible than the class's quorum (a majority of its
replicas by default), the selection is empty and says why, and the control node drops the
transaction with that reason: the quorum never shrinks to the nodes there are (ARCHITECTURE.md, I1).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Iterable

from vdlt.cos import ServiceClass
from vdlt.policy import ClassPolicy, Policy
from vdlt.state_watch import NodeView, StateWatcher
from vdlt.trust import TrustBook

# Trust scores this close count as equal, so load decides among nodes that behave alike.
TRUST_BAND = 0.05
# A node with less evidence than this (agreements and failures, decayed) ranks as the most
# trusted for fast confirmation: it is asked until its behaviour is known. Trust is earned only by
# agreeing with others, so a node never asked would otherwise never be asked (and a node once
# distrusted is asked again when its evidence has faded).
PROBATION_EVIDENCE = 3.0


@dataclass(frozen=True)
class Selection:
    nodes: list[str]
    reason: str = ""


class Selector:
    def __init__(self, policy: Policy, watcher: StateWatcher, trust: TrustBook,
                 outstanding: Callable[[str], int], latency_s: Callable[[str], float | None],
                 catching_up: Callable[[str], bool] = lambda node_id: False) -> None:
        self.policy = policy
        self.watcher = watcher
        self.trust = trust
        self.outstanding = outstanding
        self.latency_s = latency_s
        self.catching_up = catching_up
        # One turn counter per class: a shared one aliases when classes interleave regularly.
        self._turns = {c: itertools.count() for c in ServiceClass}

    def _ranking_trust(self, node_id: str) -> float:
        entry = self.trust.entries.get(node_id)
        if entry is None:
            return 1.0
        score = entry.score  # decays the evidence to now
        return 1.0 if entry.success + entry.failure < PROBATION_EVIDENCE else score

    def eligible(self, class_policy: ClassPolicy, exclude: Iterable[str] = ()) -> tuple[list[NodeView], str]:
        excluded = set(exclude)
        chosen = [view for node_id, view in self.watcher.views.items()
                  if node_id not in excluded and not self._unfit(view, class_policy)]
        if chosen:
            return chosen, ""
        # Only an empty choice needs explaining.
        why = [f"{node_id}: {self._unfit(view, class_policy)}" for node_id, view in self.watcher.views.items()
               if node_id not in excluded]
        return [], "; ".join(why)

    def unavailable(self, view: NodeView) -> str:
        """Why no class can choose this node now (stale, unreachable, catching up); empty when it is
        available, though a class may still ask for more trust or a private-capable node."""
        if not view.connected or not self.watcher.is_fresh(view, self.policy.stale_after_intervals):
            return f"stale or unreachable ({view.error or 'no recent state report'})"
        if self.catching_up(view.peer.node_id):
            return "catching up on commits it missed while away"
        return ""

    def _unfit(self, view: NodeView, class_policy: ClassPolicy) -> str:
        unavailable = self.unavailable(view)
        if unavailable:
            return unavailable
        if class_policy.min_trust > 0:
            score = self.trust.score(view.peer.node_id)
            if score < class_policy.min_trust:
                return f"trust {score:.2f} < {class_policy.min_trust:g}"
        if class_policy.service_class == ServiceClass.PRIVATE and not view.peer.private_capable:
            return "not private-capable"
        return ""

    def choose(self, service_class: ServiceClass, count: int | None = None, exclude: Iterable[str] = ()) -> Selection:
        """The nodes to execute on: ``count`` more (an extra replica), or the class's replicas,
        none when fewer than its quorum can be chosen (they could not confirm anything)."""
        class_policy = self.policy.classes[service_class]
        candidates, why = self.eligible(class_policy, exclude)
        if not candidates:
            return Selection([], f"no execution node can serve {service_class.slug}: {why or 'none configured'}")
        needed = class_policy.quorum_of(class_policy.replicas)
        if count is None and len(candidates) < needed:
            chosen = {v.peer.node_id for v in candidates}
            others = [f"{node_id}: {self._unfit(view, class_policy)}" for node_id, view in self.watcher.views.items()
                      if node_id not in chosen]
            return Selection([], f"{service_class.slug} needs {needed} agreeing replicas and only {len(candidates)} "
                                 f"execution node(s) can be chosen" + (f" ({'; '.join(others)})" if others else ""))
        count = count or class_policy.replicas
        ranked = self._rank(service_class, class_policy, candidates)
        return Selection([v.peer.node_id for v in ranked[:count]])

    def _rank(self, service_class: ServiceClass, class_policy: ClassPolicy, nodes: list[NodeView]) -> list[NodeView]:
        if service_class == ServiceClass.FAST_CONFIRMATION:
            return sorted(nodes, key=lambda v: (-round(self._ranking_trust(v.peer.node_id) / TRUST_BAND),
                                                self.outstanding(v.peer.node_id), _cpu_busy(v)))
        if service_class == ServiceClass.COMPUTATION_INTENSIVE:
            return sorted(nodes, key=lambda v: (-_cpu_capacity(v), self.outstanding(v.peer.node_id)))
        if service_class == ServiceClass.STORAGE_INTENSIVE:
            best_free = max((_data_free_bytes(v) for v in nodes), default=0) or 1
            best_rate = max((_disk_write_rate(v) for v in nodes), default=0.0) or 1.0
            # Free space first (weighted double), recent write throughput second.
            return sorted(nodes, key=lambda v: (-(2 * _data_free_bytes(v) / best_free + _disk_write_rate(v) / best_rate),
                                                self.outstanding(v.peer.node_id)))
        if service_class == ServiceClass.LOW_COST:
            deadline = class_policy.deadline_ms
            meeting = [v for v in nodes if deadline is None or (self.latency_s(v.peer.node_id) or 0.0) * 1000 <= deadline]
            pool = meeting or nodes  # when none meets the deadline, cost still decides
            return sorted(pool, key=lambda v: (v.peer.cost_per_hour, self.outstanding(v.peer.node_id)))
        return self._round_robin(service_class, nodes)

    def _round_robin(self, service_class: ServiceClass, nodes: list[NodeView]) -> list[NodeView]:
        start = next(self._turns[service_class]) % len(nodes)
        return nodes[start:] + nodes[:start]


def _cpu_busy(view: NodeView) -> float:
    return view.state.cpu.utilization_percent if view.state else 100.0


def _cpu_capacity(view: NodeView) -> float:
    if view.state is None:
        return 0.0
    cpu = view.state.cpu
    return cpu.logical_count * (1.0 - cpu.utilization_percent / 100.0) * (cpu.frequency_current_mhz or 1000.0)


def _data_free_bytes(view: NodeView) -> int:
    if view.state is None:
        return 0
    for mount in view.state.storage.mounts:
        if mount.mountpoint == view.state.storage.data_mount:
            return mount.free_bytes
    return 0


def _disk_write_rate(view: NodeView) -> float:
    if view.state is None:
        return 0.0
    return sum(d.write_bytes_per_second for d in view.state.storage.disks)
