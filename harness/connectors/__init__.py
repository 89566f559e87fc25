"""Connectors let the load generator drive a system under test (Caliper calls them adapters)."""
from harness.connectors.base import Connector, Outcome, Request

__all__ = ["Connector", "Outcome", "Request"]
