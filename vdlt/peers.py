"""The execution nodes a control node knows from its configuration.

Plain data, apart from the modules that call the nodes, so reading a node's configuration does
not import gRPC (see protocol/tls_files.py).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExecutionPeer:
    node_id: str
    address: str
    hardware_profile: str = "unknown"
    cost_per_hour: float = 0.0
    private_capable: bool = False
