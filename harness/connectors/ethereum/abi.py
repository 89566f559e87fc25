"""A contract's functions by name: call data from a request's arguments, results decoded.

The Solidity ABI's head-and-tail encoding for the types contract functions take in practice:
``uint<M>``, ``int<M>``, ``address``, ``bool``, ``bytes<M>``, ``bytes``, ``string`` and arrays
of them (``T[]``, ``T[k]``); a function with another type (a tuple) is refused when the network
file is read. Written here rather than taken from ``eth_abi``: that library brings pydantic and
half a dozen other packages to every client node, for a few microseconds less per transaction
than this (``benchmarks/ethereum_client_cost.py``). Arguments are a list in the ABI's order (as
Caliper's ``args``) or a mapping by parameter name; each function's 4-byte selector is computed
once per contract.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.connectors.ethereum.keys import keccak256

_ELEMENTARY = re.compile(r"^(uint|int)(\d*)$|^address$|^bool$|^bytes(\d+)$|^bytes$|^string$")
_ARRAY = re.compile(r"^(.*)\[(\d*)\]$")


def check_type(kind: str) -> None:
    """Raises ValueError for a type this codec does not encode."""
    array = _ARRAY.match(kind)
    if array:
        check_type(array.group(1))
        return
    match = _ELEMENTARY.match(kind)
    if not match:
        raise ValueError(f"type {kind} is not supported (tuples are not)")
    bits, size = match.group(2), match.group(3)
    if bits and not (0 < int(bits) <= 256 and int(bits) % 8 == 0):
        raise ValueError(f"type {kind}: no such integer size")
    if size and not 0 < int(size) <= 32:
        raise ValueError(f"type {kind}: no such bytes size")


def _dynamic(kind: str) -> bool:
    array = _ARRAY.match(kind)
    if array:
        return array.group(2) == "" or _dynamic(array.group(1))
    return kind in ("bytes", "string")


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big", signed=value < 0) if value < 0 else value.to_bytes(32, "big")


def _padded(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 32)


def _bytes_of(value: Any, kind: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and value[:2].lower() == "0x":
        return bytes.fromhex(value[2:])
    raise TypeError(f"{kind} takes bytes or a 0x hex string, got {value!r}")


def _encode_one(kind: str, value: Any) -> bytes:
    array = _ARRAY.match(kind)
    if array:
        inner, size = array.group(1), array.group(2)
        items = list(value)
        if size and len(items) != int(size):
            raise ValueError(f"{kind} takes {size} items, got {len(items)}")
        body = encode([inner] * len(items), items)
        return body if size else _word(len(items)) + body
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"bool takes true or false, got {value!r}")
        return _word(int(value))
    if kind == "address":
        data = _bytes_of(value, kind)
        if len(data) != 20:
            raise ValueError(f"an address has 20 bytes, got {len(data)}")
        return b"\x00" * 12 + data
    if kind == "string":
        if not isinstance(value, str):
            raise TypeError(f"string takes text, got {value!r}")
        data = value.encode()
        return _word(len(data)) + _padded(data)
    if kind == "bytes":
        data = _bytes_of(value, kind)
        return _word(len(data)) + _padded(data)
    if kind.startswith("bytes"):
        data = _bytes_of(value, kind)
        if len(data) != int(kind[5:]):
            raise ValueError(f"{kind} takes {kind[5:]} bytes, got {len(data)}")
        return _padded(data)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{kind} takes an integer, got {value!r}")
    bits = int(kind.lstrip("uint") or 256)
    signed = kind.startswith("int")
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= value <= high:
        raise OverflowError(f"{value} does not fit in {kind}")
    return _word(value)


def encode(kinds: list[str], values: list[Any]) -> bytes:
    """The ABI encoding of ``values`` as ``kinds`` (a function's arguments, after its selector)."""
    parts = [(_dynamic(kind), _encode_one(kind, value)) for kind, value in zip(kinds, values)]
    # A dynamic value's head is the offset of its tail; a static one is its head (k words for T[k]).
    offset = sum(32 if dynamic else len(encoded) for dynamic, encoded in parts)
    heads, tails = [], []
    for dynamic, encoded in parts:
        if dynamic:
            heads.append(_word(offset))
            tails.append(encoded)
            offset += len(encoded)
        else:
            heads.append(encoded)
    return b"".join(heads) + b"".join(tails)


def _head_size(kind: str) -> int:
    """Bytes a value takes in its enclosing head: an offset for a dynamic one, k items for a static T[k]."""
    array = _ARRAY.match(kind)
    if array and not _dynamic(kind):
        return int(array.group(2)) * _head_size(array.group(1))
    return 32


def _decode_one(kind: str, data: bytes, at: int) -> Any:
    array = _ARRAY.match(kind)
    if array:
        inner, size = array.group(1), array.group(2)
        if not _dynamic(kind):
            return list(decode([inner] * int(size), data[at:]))
        start = int.from_bytes(data[at:at + 32], "big")
        if size:
            return list(decode([inner] * int(size), data[start:]))
        count = int.from_bytes(data[start:start + 32], "big")
        return list(decode([inner] * count, data[start + 32:]))
    if kind in ("string", "bytes"):
        start = int.from_bytes(data[at:at + 32], "big")
        length = int.from_bytes(data[start:start + 32], "big")
        raw = data[start + 32:start + 32 + length]
        return raw.decode(errors="replace") if kind == "string" else raw
    word = data[at:at + 32]
    if len(word) < 32:
        raise ValueError("the result is shorter than its types")
    if kind == "bool":
        return word[-1] == 1
    if kind == "address":
        return "0x" + word[12:].hex()
    if kind.startswith("bytes"):
        return word[:int(kind[5:])]
    return int.from_bytes(word, "big", signed=kind.startswith("int"))


def decode(kinds: list[str], data: bytes) -> tuple[Any, ...]:
    values, at = [], 0
    for kind in kinds:
        values.append(_decode_one(kind, data, at))
        at += _head_size(kind)
    return tuple(values)


@dataclass(frozen=True)
class Function:
    name: str
    inputs: tuple[str, ...]
    input_names: tuple[str, ...]
    outputs: tuple[str, ...]
    selector: bytes
    read_only: bool
    """``view`` or ``pure``: asked with ``eth_call``, never sent as a transaction."""

    def call_data(self, arguments: list[Any] | tuple[Any, ...] | dict[str, Any]) -> bytes:
        if isinstance(arguments, dict):
            missing = [n for n in self.input_names if n not in arguments]
            unknown = [k for k in arguments if k not in self.input_names]
            if missing or unknown:
                raise ValueError(f"{self.name}({', '.join(self.input_names)}): "
                                 + (f"missing {', '.join(missing)}" if missing else f"no parameter {unknown[0]!r}"))
            values = [arguments[n] for n in self.input_names]
        else:
            values = list(arguments)
            if len(values) != len(self.inputs):
                raise ValueError(f"{self.name} takes {len(self.inputs)} arguments ({', '.join(self.inputs)}), "
                                 f"got {len(values)}")
        return self.selector + encode(list(self.inputs), values)

    def decode(self, data: bytes) -> tuple[Any, ...]:
        return decode(list(self.outputs), data)


class ContractAbi:
    """A contract's functions; one taking a type :func:`check_type` refuses is left out, and
    :meth:`function` says why when a request names it."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self.functions: dict[str, Function] = {}
        self.unsupported: dict[str, str] = {}
        for entry in abi:
            if entry.get("type", "function") != "function" or "name" not in entry:
                continue
            inputs = tuple(str(p["type"]) for p in entry.get("inputs", []))
            outputs = tuple(str(p["type"]) for p in entry.get("outputs", []))
            try:
                for kind in inputs + outputs:
                    check_type(kind)
            except ValueError as error:
                self.unsupported[entry["name"]] = str(error)
                continue
            signature = f"{entry['name']}({','.join(inputs)})"
            mutability = entry.get("stateMutability") or ("view" if entry.get("constant") else "nonpayable")
            function = Function(entry["name"], inputs, tuple(p.get("name", "") for p in entry.get("inputs", [])),
                                outputs, keccak256(signature.encode())[:4], mutability in ("view", "pure"))
            # An overloaded name keeps its first definition; the others are reached by signature.
            self.functions.setdefault(entry["name"], function)
            self.functions[signature] = function

    def function(self, name: str) -> Function:
        function = self.functions.get(name)
        if function is None:
            if name in self.unsupported:
                raise ValueError(f"function {name}: {self.unsupported[name]}")
            known = sorted(n for n in self.functions if "(" not in n)
            raise ValueError(f"the contract has no function {name!r}; it has {', '.join(known)}")
        return function
