"""What every contract sees: its own slice of the committed state, and one error type."""
from __future__ import annotations

import json
from typing import Any

from protocol.errors import HarnessError

_ABSENT = object()


class ContractError(HarnessError):
    """The operation is refused: the transaction is REJECTED and writes nothing."""


class ContractState:
    """One call's view of a contract's committed state.

    Reads are recorded with the version they saw, writes are buffered: the execution node
    reports both, and only an agreed commit changes the state.
    """

    def __init__(self, contract: str, values: dict[str, Any], versions: dict[str, int]) -> None:
        self._prefix = contract + "/"
        self._values = values
        self._versions = versions
        self.reads: dict[str, int] = {}
        self.writes: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        full = self._prefix + key
        value = self.writes.get(full, _ABSENT)
        if value is not _ABSENT:
            return value
        self.reads.setdefault(full, self._versions.get(full, 0))
        value = self._values.get(full, _ABSENT)
        return default if value is _ABSENT else value

    def put(self, key: str, value: Any) -> None:
        json.dumps(value)  # a value must survive the wire and the block log unchanged
        self.writes[self._prefix + key] = value
