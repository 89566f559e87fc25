"""A run's manifest: what ran, with what, on what - so a figure can be traced to its cause.

``manifest.json`` is written when the run folder is created, before any load: the project's
version and git commit, the versions of Python and of the packages the figures depend on, the
inventory's and benchmark's digests, the nodes with their hardware profile records, and how far
each execution node's chain went (the run's audit reads the chains from there).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

from harness import __version__
from harness.provision.inventory import Inventory

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ansible-core", "ansible-runner", "grpcio", "protobuf", "influxdb-client", "psutil", "paramiko",
            "fabric")


def build_manifest(run_id: str, benchmark_name: str, run_dir: Path, inventory: Inventory | None,
                   hardware: list[dict[str, Any]] | None, absent: dict[str, str] | None = None,
                   ledger: dict[str, Any] | None = None, campaign: dict[str, Any] | None = None) -> dict[str, Any]:
    """``run_dir`` already holds the copies of the benchmark and inventory the digests are taken of.
    ``absent`` names the nodes that did not serve when the run began, each with why; ``ledger``
    the connector and how far each execution node's chain went then (where the run's audit reads from);
    ``campaign`` the campaign, cell and repetition the run is one trial of (None for a run of its own).

    Before campaigns, the key ``campaign`` held the benchmark's name: :func:`run_labels` reads both."""
    by_node = {record["node"]: record for record in hardware or []}
    absent = absent or {}
    nodes = [{
        "name": n.name, "role": n.role, "endpoint": n.endpoint, "hardware_profile": n.hardware_profile,
        "cost_per_hour": n.cost_per_hour, "private_capable": n.private_capable,
        "architecture": by_node.get(n.name, {}).get("architecture"), "absent": absent.get(n.name),
    } for n in inventory.nodes] if inventory else []
    return {
        "run_id": run_id,
        "benchmark_name": benchmark_name,
        "campaign": campaign,
        "harness": {"version": __version__, **git_revision()},
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "controller": {"system": platform.system(), "machine": platform.machine(), "release": platform.release(),
                       "hostname": platform.node()},
        "benchmark": {"file": "benchmark.yaml", "sha256": _digest_file(run_dir / "benchmark.yaml")},
        "inventory": {"source": str(inventory.path) if inventory else None,
                      "sha256": _digest_tree(run_dir / "inventory") if inventory else None},
        "nodes": nodes,
        "hardware": hardware or [],
        "ledger": ledger,
    }


def run_labels(manifest: dict[str, Any]) -> dict[str, str]:
    """The benchmark, campaign and cell a run's points are tagged with (empty outside a campaign),
    from a manifest of today or of before campaigns (whose ``campaign`` was the benchmark's name)."""
    campaign = manifest.get("campaign")
    if isinstance(campaign, str):
        return {"benchmark": campaign, "campaign": "", "cell": ""}
    campaign = campaign or {}
    return {"benchmark": str(manifest.get("benchmark_name", "")), "campaign": str(campaign.get("id", "")),
            "cell": str(campaign.get("cell", ""))}


def git_revision(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The commit the harness runs from and whether its tracked files differ from it; None
    outside a git checkout (an installed wheel)."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": bool(dirty)}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _digest_file(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _digest_tree(directory: Path) -> str | None:
    """One digest over every file's relative path and content, in path order."""
    if not directory.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
