"""Contracts an execution node can run.

A contract is a module exposing ``NAME`` and ``execute(state, operation, arguments)``.
``state`` is a :class:`~vdlt.contracts.base.ContractState`; ``execute`` must be deterministic:
the same state and call give the same result and the same writes on every node.
"""
from __future__ import annotations

from types import ModuleType

from vdlt.contracts import kv
from vdlt.contracts.base import ContractError, ContractState

REGISTRY: dict[str, ModuleType] = {kv.NAME: kv}

__all__ = ["REGISTRY", "ContractError", "ContractState"]
