"""What every contract sees: a key-value state scoped to the contract, and one error type."""
from __future__ import annotations

from typing import Any

_ABSENT = object()


class ContractError(Exception):
    """The operation is refused: the transaction is REJECTED and writes nothing."""


class ContractState:
    """One call's view of a contract's state; writes are buffered until :meth:`commit`."""

    def __init__(self, committed: dict[str, Any]) -> None:
        self._committed = committed
        self.writes: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        value = self.writes.get(key, _ABSENT)
        if value is _ABSENT:
            value = self._committed.get(key, default)
        return value

    def put(self, key: str, value: Any) -> None:
        self.writes[key] = value

    def commit(self) -> None:
        self._committed.update(self.writes)
