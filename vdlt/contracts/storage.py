"""Storage-intensive contract: writes N bytes that end up durably in every node's block log.

Operations:
  write(key, size)  -> {"key", "size", "digest"}: stores ``size`` (1..1,048,576) bytes of
                       deterministic content under ``key``;
  read(key)         -> {"key", "size", "digest"} of what is stored (size 0 when absent).
"""
from __future__ import annotations

import hashlib
from typing import Any

from vdlt.contracts.base import ContractError, ContractState

NAME = "storage"
MAX_SIZE = 1 << 20


def execute(state: ContractState, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
    key = arguments.get("key")
    if not isinstance(key, str) or not key:
        raise ContractError("argument 'key' must be a non-empty string")
    if operation == "write":
        size = arguments.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_SIZE:
            raise ContractError(f"argument 'size' must be an integer 1..{MAX_SIZE}")
        data = _content(key, size)
        state.put(f"blob/{key}", data)
        return {"key": key, "size": size, "digest": hashlib.sha256(data.encode()).hexdigest()}
    if operation == "read":
        data = state.get(f"blob/{key}", "")
        return {"key": key, "size": len(data), "digest": hashlib.sha256(data.encode()).hexdigest()}
    raise ContractError(f"{NAME} has no operation {operation!r}; it has write, read")


def _content(key: str, size: int) -> str:
    """Hex text derived from the key: deterministic on every node, and not compressible to nothing."""
    chunks, block = [], hashlib.sha256(key.encode()).digest()
    length = 0
    while length < size:
        block = hashlib.sha256(block).digest()
        chunks.append(block.hex())
        length += 64
    return "".join(chunks)[:size]
