"""Classification at the control node: the class a transaction asks for, and the class it gets.

Seed 001 (III.A) lets the control plane ignore the class an untrusted source asked for. Two
rules, in this order:
1. management/control is only for sources on the policy's allow-list, and only for a source the
   control node authenticated (with mutual TLS, the caller's certificate names it); a source a
   transaction merely claims counts only where the policy says claims are believed
   (``reclassing.trust_claimed_sources``, for a testbed without TLS). Others get scavenger;
2. a source whose reputation is below the threshold gets the policy's untrusted class
   (never an upgrade: a source already asking for a lower class keeps it).
Reserved bits are carried unchanged either way.
"""
from __future__ import annotations

from dataclasses import dataclass

from vdlt.cos import CosByte, ServiceClass
from vdlt.policy import Policy

# Lower is less service; re-classing never moves a transaction up this order.
_RANK = {
    ServiceClass.SCAVENGER: 0,
    ServiceClass.BEST_EFFORT: 1,
    ServiceClass.LOW_COST: 2,
    ServiceClass.PRIVATE: 3,
    ServiceClass.STORAGE_INTENSIVE: 3,
    ServiceClass.COMPUTATION_INTENSIVE: 3,
    ServiceClass.FAST_CONFIRMATION: 4,
    ServiceClass.MANAGEMENT_CONTROL: 5,
}


@dataclass(frozen=True)
class Classification:
    asked: CosByte
    given: CosByte
    reason: str = ""

    @property
    def reclassed(self) -> bool:
        return self.asked.service_class != self.given.service_class


def classify(cos_byte: int, source: str, source_trust: float, policy: Policy, authenticated: bool) -> Classification:
    asked = CosByte.parse(cos_byte)
    if asked.service_class == ServiceClass.MANAGEMENT_CONTROL:
        if source not in policy.management_sources:
            return Classification(asked, asked.with_class(ServiceClass.SCAVENGER),
                                  f"source {source!r} may not use management-control")
        if not authenticated and not policy.trust_claimed_sources:
            return Classification(asked, asked.with_class(ServiceClass.SCAVENGER),
                                  f"source {source!r} is claimed, not authenticated: management-control needs "
                                  f"mutual TLS (or the policy's reclassing.trust_claimed_sources)")
    if source_trust < policy.untrusted_below and _RANK[asked.service_class] > _RANK[policy.untrusted_class]:
        return Classification(asked, asked.with_class(policy.untrusted_class),
                              f"source {source!r} trust {source_trust:.2f} is below {policy.untrusted_below:g}")
    return Classification(asked, asked)
