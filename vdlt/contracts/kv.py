"""Key-value and transfer contract: the simplest useful workload.

Operations:
  put(key, value)            -> {"key", "value"}
  get(key)                   -> {"key", "value"} (value is null when absent)
  mint(account, amount)      -> {"account", "balance"}
  transfer(from, to, amount) -> {"from", "to", "amount"}; REJECTED when the balance is short
"""
from __future__ import annotations

from typing import Any

from vdlt.contracts.base import ContractError, ContractState

NAME = "kv"


def execute(state: ContractState, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
    try:
        handler = _OPERATIONS[operation]
    except KeyError:
        raise ContractError(f"kv has no operation {operation!r}") from None
    return handler(state, arguments)


def _put(state: ContractState, arguments: dict[str, Any]) -> dict[str, Any]:
    key = _required(arguments, "key", str)
    value = arguments.get("value")
    state.put(f"k/{key}", value)
    return {"key": key, "value": value}


def _get(state: ContractState, arguments: dict[str, Any]) -> dict[str, Any]:
    key = _required(arguments, "key", str)
    return {"key": key, "value": state.get(f"k/{key}")}


def _mint(state: ContractState, arguments: dict[str, Any]) -> dict[str, Any]:
    account = _required(arguments, "account", str)
    amount = _amount(arguments)
    balance = state.get(f"b/{account}", 0) + amount
    state.put(f"b/{account}", balance)
    return {"account": account, "balance": balance}


def _transfer(state: ContractState, arguments: dict[str, Any]) -> dict[str, Any]:
    source = _required(arguments, "from", str)
    target = _required(arguments, "to", str)
    amount = _amount(arguments)
    available = state.get(f"b/{source}", 0)
    if available < amount:
        raise ContractError(f"balance of {source!r} is {available}, transfer needs {amount}")
    state.put(f"b/{source}", available - amount)
    state.put(f"b/{target}", state.get(f"b/{target}", 0) + amount)
    return {"from": source, "to": target, "amount": amount}


def _required(arguments: dict[str, Any], name: str, kind: type) -> Any:
    value = arguments.get(name)
    if not isinstance(value, kind):
        raise ContractError(f"argument {name!r} must be a {kind.__name__}")
    return value


def _amount(arguments: dict[str, Any]) -> int:
    amount = arguments.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ContractError("argument 'amount' must be a positive integer")
    return amount


_OPERATIONS = {"put": _put, "get": _get, "mint": _mint, "transfer": _transfer}
