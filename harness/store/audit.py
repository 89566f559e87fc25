"""A run's audit as ``audit.json`` and ``summary.json`` keep it (:mod:`harness.audit` makes it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClassAudit:
    confirmed: int = 0
    confirmed_present: int = 0
    under_quorum: int = 0
    lost: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    """Per node: confirmed transactions its chain goes past without holding."""
    applied_twice: int = 0
    reported_failed_present: int = 0
    contradicted: int = 0
    moved: int = 0
    """Confirmed, but held in another block than the one its receipt named (a reorganised chain)."""
    uncertain_committed: int = 0
    uncertain_absent: int = 0

    @property
    def ok(self) -> bool:
        return not (self.under_quorum or self.missing or self.applied_twice or self.reported_failed_present
                    or self.contradicted or self.moved)

    def to_json(self) -> dict[str, Any]:
        return {"confirmed": self.confirmed, "confirmed_present": self.confirmed_present,
                "under_quorum": self.under_quorum, "lost": self.lost, "missing": dict(self.missing),
                "applied_twice": self.applied_twice, "reported_failed_present": self.reported_failed_present,
                "contradicted": self.contradicted, "moved": self.moved, "uncertain_committed": self.uncertain_committed,
                "uncertain_absent": self.uncertain_absent}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClassAudit:
        return cls(**{**data, "missing": dict(data.get("missing", {}))})


@dataclass
class NodeAudit:
    node: str
    read_after: int
    last_sequence: int
    behind: int
    """How many commits this chain ends before the longest one (no fault: it is catching up)."""
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "read_after": self.read_after, "last_sequence": self.last_sequence,
                "behind": self.behind, "error": self.error}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeAudit:
        return cls(**data)


@dataclass
class AuditReport:
    classes: dict[str, ClassAudit]
    nodes: list[NodeAudit]
    divergence: str = ""
    """The first sequence at which chains differ or one skips a commit, and what each holds."""
    unrecorded: int = 0
    """Transactions of this run on the chains with no receipt in the run folder (their records were lost)."""
    other_transactions: int = 0
    """Commits on the chains in the run's span that other clients sent."""
    elapsed_s: float = 0.0
    skipped: str = ""
    """Why there was no audit (no inventory, no node could be read); empty when there was one."""

    @property
    def ok(self) -> bool:
        return not self.skipped and not self.divergence and all(c.ok for c in self.classes.values())

    def violations(self) -> list[str]:
        """Each broken promise in a line a person reads."""
        lines = [f"the chains diverge: {self.divergence}"] if self.divergence else []
        for slug, figures in self.classes.items():
            if figures.under_quorum:
                lines.append(f"{slug}: {figures.under_quorum} confirmed transaction(s) are in fewer chains than the "
                             f"class's quorum ({figures.lost} in none)")
            for node, count in sorted(figures.missing.items()):
                lines.append(f"{slug}: {node}'s chain goes past {count} confirmed transaction(s) without holding them")
            if figures.applied_twice:
                lines.append(f"{slug}: {figures.applied_twice} transaction(s) applied twice in one chain")
            if figures.reported_failed_present:
                lines.append(f"{slug}: {figures.reported_failed_present} transaction(s) reported failed are on the chains")
            if figures.contradicted:
                lines.append(f"{slug}: {figures.contradicted} confirmed transaction(s) are on the chains as refused")
            if figures.moved:
                lines.append(f"{slug}: {figures.moved} confirmed transaction(s) are in another block than their "
                             f"receipt named")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "violations": self.violations(), "divergence": self.divergence,
                "classes": {slug: figures.to_json() for slug, figures in self.classes.items()},
                "nodes": [node.to_json() for node in self.nodes], "unrecorded": self.unrecorded,
                "other_transactions": self.other_transactions, "elapsed_s": self.elapsed_s, "skipped": self.skipped}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditReport:
        return cls(classes={slug: ClassAudit.from_json(f) for slug, f in data.get("classes", {}).items()},
                   nodes=[NodeAudit.from_json(n) for n in data.get("nodes", [])], divergence=data.get("divergence", ""),
                   unrecorded=data.get("unrecorded", 0), other_transactions=data.get("other_transactions", 0),
                   elapsed_s=data.get("elapsed_s", 0.0), skipped=data.get("skipped", ""))

    @classmethod
    def skipped_because(cls, reason: str) -> AuditReport:
        return cls(classes={}, nodes=[], skipped=reason)
