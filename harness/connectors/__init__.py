"""Connectors let the load generator drive a system under test (Caliper calls them adapters).

To add a system: implement :class:`harness.connectors.base.Connector` in a module here and name
its class in :data:`CONNECTORS`; benchmarks choose it with ``test.connector`` (default ``vdlt``).
A connector's module is imported only when a run uses it, so the Ethereum connector's libraries
cost a vdlt run (and a client node that only drives vdlt) nothing.
"""
from __future__ import annotations

import importlib

from harness.connectors.base import Connector, Outcome, Request

CONNECTORS: dict[str, str] = {
    "vdlt": "harness.connectors.vdlt:VdltConnector",
    "ethereum": "harness.connectors.ethereum.connector:EthereumConnector",
}


def connector_class(name: str) -> type[Connector]:
    module, _, attribute = CONNECTORS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


__all__ = ["CONNECTORS", "Connector", "Outcome", "Request", "connector_class"]
