"""The checked-in generated modules are exactly what `scripts/generate-protos` makes now."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

GENERATED = [
    "protocol/node_agent_pb2.py", "protocol/node_agent_pb2.pyi", "protocol/node_agent_pb2_grpc.py",
    "protocol/ledger_pb2.py", "protocol/ledger_pb2.pyi", "protocol/ledger_pb2_grpc.py",
]


def test_generated_code_has_not_drifted(tmp_path: Path) -> None:
    subprocess.run([str(REPO / "scripts" / "generate-protos"), str(tmp_path)], check=True,
                   env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"})
    drifted = [name for name in GENERATED if (tmp_path / name).read_bytes() != (REPO / name).read_bytes()]
    assert drifted == [], f"run scripts/generate-protos and commit: {drifted}"
