"""What a node installs, built on the controller: the project and its runtime dependencies.

Nodes have no registry access (namespace hosts have no route out; lab machines often have none),
so the controller downloads the wheels, builds the project's, and installs them all once into a
staging directory (``pip install --target``). That directory, packed as one archive named by its
digest, is the bundle: a node unpacks it into its virtual environment's site-packages, with no
pip and no per-node unpacking of wheels (installing with pip on every node was most of the CPU
time of bringing up a testbed). Only what the node agent and vdlt import is shipped, at the
versions the controller runs. Everything is cached under ``.cache/wheelhouse/``; the project's
wheel is rebuilt when its sources change.
"""
from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

from harness.errors import HarnessError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CACHE = PROJECT_ROOT / ".cache" / "wheelhouse"
# hdrhistogram is for client nodes, which run load workers.
NODE_REQUIREMENTS = ("grpcio", "grpcio-health-checking", "protobuf", "psutil", "pyyaml", "hdrhistogram")


def source_digest() -> str:
    digest = hashlib.sha256()
    for package in ("harness", "node_agent", "vdlt"):
        for path in sorted((PROJECT_ROOT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
                digest.update(path.read_bytes())
    digest.update((PROJECT_ROOT / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:12]


def requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in NODE_REQUIREMENTS]


def build(cache: Path = CACHE) -> Path:
    """The wheelhouse directory, (re)built as needed: ``project/`` holds our wheel, ``deps/`` the rest."""
    deps, project = cache / "deps", cache / "project"
    stamp = deps / ".requirements"
    wanted = "\n".join(requirements())
    if not stamp.exists() or stamp.read_text() != wanted:
        shutil.rmtree(deps, ignore_errors=True)
        deps.mkdir(parents=True)
        _pip("download", "--only-binary=:all:", "-d", str(deps), *requirements())
        stamp.write_text(wanted)
    digest = source_digest()
    if not (project / f".source-{digest}").exists():
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir(parents=True)
        _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(project), str(PROJECT_ROOT))
        (project / f".source-{digest}").touch()
    return cache


def bundle_platform() -> str:
    """What the bundle's compiled parts need on a node: the controller's machine and Python
    (``x86_64 cpython-3.11``), in the form the bootstrap role's probe prints for a node."""
    return f"{platform.machine()} {sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}"


def bundle(cache: Path = CACHE) -> tuple[Path, str]:
    """The node's site-packages as one gzipped tar file, named by its contents' digest: a node
    copies one file and unpacks it only when the digest changed."""
    build(cache)
    wheels = sorted([*(cache / "deps").glob("*.whl"), *(cache / "project").glob("*.whl")])
    digest = hashlib.sha256()
    digest.update("\n".join(requirements()).encode())
    digest.update(source_digest().encode())
    name = digest.hexdigest()[:16]
    path = cache / f"node-site-{name}.tar.gz"
    if not path.exists():
        staging = cache / "site"
        shutil.rmtree(staging, ignore_errors=True)
        _pip("install", "--no-index", "--no-deps", "--no-compile", "--target", str(staging), *map(str, wheels))
        # Console scripts name the controller's interpreter; nodes run `python -m node_agent`.
        shutil.rmtree(staging / "bin", ignore_errors=True)
        for old in [*cache.glob("node-site-*.tar.gz"), *cache.glob("node-bundle-*.tar")]:
            old.unlink()
        partial = path.with_suffix(".partial")
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            for entry in sorted(staging.iterdir()):
                tar.add(entry, arcname=entry.name)
        partial.replace(path)
        shutil.rmtree(staging)
    return path, name


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise HarnessError(f"building the node wheelhouse failed: pip {args[0]}: {result.stderr.strip()[-2000:]}")
