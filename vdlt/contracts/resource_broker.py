"""The resource-broker contract of seed 004: network providers trade processing and networking resources.

Operations:
  addNetworkProvider(name, resources: {type: units}, cost: {type: price per unit},
                     region?, sla?, balance?)
      registers a provider (its offered resources, unit costs, region, the SLA it supports and
      the balance of its wallet); a name can be registered once.
  getBestMatch(type, units, region?, sla?)
      read-only: the provider that can offer ``units`` of ``type`` (in ``region`` and with
      ``sla`` when given) at the lowest total cost; ties go to the name first in order.
  reserve(requester, provider, type, units)   (also as ResourceReservationTransaction)
      the requester pays units × the provider's unit cost to the provider; the provider's
      offered units of that type decrease and the requester's increase. REJECTED when the
      provider has too few units or the requester too small a balance.
"""
from __future__ import annotations

from typing import Any

from vdlt.contracts.base import ContractError, ContractState

NAME = "resource-broker"
_INDEX = "providers"


def execute(state: ContractState, operation: str, arguments: dict[str, Any]) -> dict[str, Any]:
    handler = _OPERATIONS.get(operation)
    if handler is None:
        raise ContractError(f"{NAME} has no operation {operation!r}; it has {', '.join(sorted(_OPERATIONS))}")
    return handler(state, arguments)


def _add_network_provider(state: ContractState, arguments: dict[str, Any]) -> dict[str, Any]:
    name = _text(arguments, "name")
    if state.get(f"np/{name}") is not None:
        raise ContractError(f"provider {name!r} is already registered")
    resources = _units_map(arguments, "resources")
    cost = arguments.get("cost")
    if not isinstance(cost, dict) or set(cost) != set(resources) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in cost.values()):
        raise ContractError("argument 'cost' must give a unit price >= 0 for every offered resource type")
    provider = {
        "resources": resources, "cost": cost,
        "region": str(arguments.get("region", "")), "sla": str(arguments.get("sla", "")),
        "balance": _non_negative(arguments.get("balance", 0), "balance"),
    }
    state.put(f"np/{name}", provider)
    state.put(_INDEX, sorted([*state.get(_INDEX, []), name]))
    return {"provider": name, "registered": True}


def _get_best_match(state: ContractState, arguments: dict[str, Any]) -> dict[str, Any]:
    kind = _text(arguments, "type")
    units = _positive(arguments.get("units"), "units")
    region, sla = arguments.get("region"), arguments.get("sla")
    best: tuple[float, str] | None = None
    for name in state.get(_INDEX, []):
        provider = state.get(f"np/{name}")
        if provider["resources"].get(kind, 0) < units:
            continue
        if region is not None and provider["region"] != region:
            continue
        if sla is not None and provider["sla"] != sla:
            continue
        total = provider["cost"][kind] * units
        if best is None or total < best[0]:
            best = (total, name)
    if best is None:
        return {"provider": None, "reason": f"no provider offers {units} {kind}"}
    return {"provider": best[1], "total_cost": best[0]}


def _reserve(state: ContractState, arguments: dict[str, Any]) -> dict[str, Any]:
    requester, provider_name = _text(arguments, "requester"), _text(arguments, "provider")
    kind = _text(arguments, "type")
    units = _positive(arguments.get("units"), "units")
    provider, buyer = state.get(f"np/{provider_name}"), state.get(f"np/{requester}")
    if provider is None or buyer is None:
        raise ContractError(f"unknown provider {provider_name if provider is None else requester!r}")
    if provider_name == requester:
        raise ContractError("a provider cannot reserve its own resources")
    offered = provider["resources"].get(kind, 0)
    if offered < units:
        raise ContractError(f"{provider_name} offers {offered} {kind}, {units} asked")
    price = provider["cost"][kind] * units
    if buyer["balance"] < price:
        raise ContractError(f"{requester} has balance {buyer['balance']}, the reservation costs {price}")
    provider = {**provider, "balance": provider["balance"] + price,
                "resources": {**provider["resources"], kind: offered - units}}
    buyer = {**buyer, "balance": buyer["balance"] - price,
             "resources": {**buyer["resources"], kind: buyer["resources"].get(kind, 0) + units}}
    buyer["cost"] = {**buyer["cost"], kind: buyer["cost"].get(kind, provider["cost"][kind])}
    state.put(f"np/{provider_name}", provider)
    state.put(f"np/{requester}", buyer)
    return {"requester": requester, "provider": provider_name, "type": kind, "units": units, "paid": price}


def _text(arguments: dict[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value:
        raise ContractError(f"argument {name!r} must be a non-empty string")
    return value


def _positive(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ContractError(f"argument {name!r} must be a positive integer")
    return value


def _non_negative(value: Any, name: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ContractError(f"argument {name!r} must be a number >= 0")
    return value


def _units_map(arguments: dict[str, Any], name: str) -> dict[str, int]:
    value = arguments.get(name)
    if not isinstance(value, dict) or not value or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in value.items()):
        raise ContractError(f"argument {name!r} must map resource types to whole units >= 0")
    return value


_OPERATIONS = {
    "addNetworkProvider": _add_network_provider,
    "getBestMatch": _get_best_match,
    "reserve": _reserve,
    "ResourceReservationTransaction": _reserve,
}
