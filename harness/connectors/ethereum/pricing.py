"""Classes of service on Ethereum: what each class pays per unit of gas.

A chain has no CoS byte, but under congestion its miners fill blocks with the transactions that
pay most per gas first (ganache: highest gas price first, one sender's transactions in nonce
order; geth and Quorum alike). So a class's place in the queue is its gas price: each class pays
the base price (the network file's ``gasPrice``, or the node's ``eth_gasPrice``) times its factor.

The default factors follow seed 001's order of the classes (Table II): what must confirm fast
or is the system's own traffic pays most, best effort pays the going price, scavenger traffic
pays the same (a chain that takes nothing below its going price would drop it otherwise; raise
the base price to price it under the rest). A network file's ``gasPriceFactors`` replaces any
of them: ``{"fast-confirmation": 8, "best-effort": 1}``.

Each class of a worker also sends from its own account (:func:`harness.connectors.ethereum.keys.class_key`):
a chain orders one sender's transactions by nonce, whatever they pay.
"""
from __future__ import annotations

from vdlt.cos import ServiceClass

DEFAULT_FACTORS: dict[str, float] = {
    ServiceClass.FAST_CONFIRMATION.slug: 4.0,
    ServiceClass.MANAGEMENT_CONTROL.slug: 4.0,
    ServiceClass.COMPUTATION_INTENSIVE.slug: 2.0,
    ServiceClass.STORAGE_INTENSIVE.slug: 2.0,
    ServiceClass.PRIVATE.slug: 2.0,
    ServiceClass.LOW_COST.slug: 1.0,
    ServiceClass.BEST_EFFORT.slug: 1.0,
    ServiceClass.SCAVENGER.slug: 1.0,
}


def gas_prices(base_wei: int, factors: dict[str, float] | None = None) -> dict[str, int]:
    """Each class's gas price in wei: ``base_wei`` times the class's factor."""
    table = {**DEFAULT_FACTORS, **(factors or {})}
    return {slug: int(base_wei * factor) for slug, factor in table.items()}
