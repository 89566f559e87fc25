"""Connectors let the load generator drive a system under test (Caliper calls them adapters).

To add a system: implement :class:`harness.connectors.base.Connector` in a module here and
register its class under a name in :data:`CONNECTORS`; benchmarks choose it with
``test.connector`` (default ``vdlt``).
"""
from harness.connectors.base import Connector, Outcome, Request
from harness.connectors.vdlt import VdltConnector

CONNECTORS: dict[str, type[Connector]] = {"vdlt": VdltConnector}

__all__ = ["CONNECTORS", "Connector", "Outcome", "Request"]
