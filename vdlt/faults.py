"""Fault modes of an execution node, for experiments and for the tests that hold the control
node to its promises (off unless a node's configuration sets them, `vdlt_fault` in an inventory).

A module of its own, without gRPC: the node agent's `start` reads them from its configuration,
and gRPC's import would cost it most of a second on a small board.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaultMode:
    wrong_result_rate: float = 0.0
    """Answers a wrong result (and the digest of that wrong result) this often."""
    forged_writes_rate: float = 0.0
    """Answers the honest digest with forged writes this often: only recomputing the digest tells."""
    delay_ms: float = 0.0
    """Answers every batch this late."""
    commit_delay_ms: float = 0.0
    """Answers a batch that carries commits this late: its commits are in the chain, the control
    node hears of it late (a slow disk, a congested link)."""

    @property
    def active(self) -> bool:
        return any((self.wrong_result_rate, self.forged_writes_rate, self.delay_ms, self.commit_delay_ms))
