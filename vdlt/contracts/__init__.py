"""Contracts an execution node can run.

A contract is a module exposing ``NAME`` and ``execute(state, operation, arguments)``, where
``state`` is a :class:`~vdlt.contracts.base.ContractState`. ``execute`` must be deterministic:
the same committed state and call give the same result, reads and writes on every node. It
raises :class:`~vdlt.contracts.base.ContractError` to refuse a call (REJECTED, nothing written).
"""
from __future__ import annotations

from types import ModuleType

from vdlt.contracts import compute, kv, resource_broker, storage
from vdlt.contracts.base import ContractError, ContractState

REGISTRY: dict[str, ModuleType] = {module.NAME: module for module in (kv, resource_broker, compute, storage)}

__all__ = ["REGISTRY", "ContractError", "ContractState"]
