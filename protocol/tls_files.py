"""Which PEM files a party of a testbed holds for mutual TLS (protocol/tls.py makes channels and
ports from them).

Apart from protocol/tls.py because a node's configuration names these files, and reading it must not
import gRPC: the agent's `start` command reads it and only waits for the agent (gRPC's import
costs it a tenth of a CPU-second here, most of a second on a Raspberry Pi).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA that signs every party, this party's certificate and its private key."""

    ca: Path
    cert: Path
    key: Path

    def read(self) -> tuple[bytes, bytes, bytes]:
        return self.ca.read_bytes(), self.cert.read_bytes(), self.key.read_bytes()
