"""Computation-intensive contract: configurable CPU work with a verifiable result.

Operations:
  hash(seed, iterations)  -> {"digest"}: SHA-256 applied ``iterations`` times (1..10,000,000) to
                             ``seed``; nothing is written.
"""
from __future__ import annotations

import hashlib
from typing import Any

from vdlt.contracts.base import ContractError, ContractState

NAME = "compute"
MAX_ITERATIONS = 10_000_000


def execute(state: ContractState, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
    if operation != "hash":
        raise ContractError(f"{NAME} has no operation {operation!r}; it has hash")
    iterations = arguments.get("iterations")
    if not isinstance(iterations, int) or isinstance(iterations, bool) or not 1 <= iterations <= MAX_ITERATIONS:
        raise ContractError(f"argument 'iterations' must be an integer 1..{MAX_ITERATIONS}")
    digest = hashlib.sha256(str(arguments.get("seed", "")).encode()).digest()
    for _ in range(iterations - 1):
        digest = hashlib.sha256(digest).digest()
    return {"digest": digest.hex(), "iterations": iterations}
