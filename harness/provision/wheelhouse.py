"""What a node installs, built on the controller: the project and its runtime dependencies.

Nodes have no registry access (namespace hosts have no route out; lab machines often have none),
so the controller downloads the wheels, builds the project's, and installs them all once into a
staging directory (``pip install --target``). That directory, packed as one archive behind a
short installer script and named by its digest, is the bundle: a node unpacks it into its
virtual environment's site-packages, with no pip and no per-node unpacking of wheels
(installing with pip on every node was most of the CPU time of bringing up a testbed). Only
what the node agent and vdlt import is shipped, at the versions the controller runs. Everything
is cached under ``.cache/wheelhouse/``; the project's wheel is rebuilt when its sources change.
"""
from __future__ import annotations

import hashlib
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

from protocol.errors import HarnessError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CACHE = PROJECT_ROOT / ".cache" / "wheelhouse"
# What the node agent, vdlt and a client node's load worker import (the Ethereum connector's
# JSON-RPC client and signer too, so client nodes can drive a chain). Latency histograms are built
# on the controller from the records a worker sends back, so nodes need no hdrhistogram (PyPI has
# no binary wheel of it for most machines other than x86_64).
NODE_REQUIREMENTS = ("grpcio", "grpcio-health-checking", "protobuf", "psutil", "pyyaml", "aiohttp", "orjson",
                     "coincurve", "pycryptodome")
# The project's packages, as pyproject.toml lists them: a source change in any makes a new bundle.
PACKAGES = ("harness", "node_agent", "vdlt", "protocol")


def source_digest() -> str:
    digest = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
                digest.update(path.read_bytes())
    digest.update((PROJECT_ROOT / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:12]


def requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in NODE_REQUIREMENTS]


def controller_platform() -> str:
    """The controller's machine and Python (``x86_64 cpython-3.11``), in the form the bootstrap
    role's probe prints for a node and ``vdlt_node_platform`` names another one."""
    return f"{platform.machine()} {sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}"


PLATFORM = re.compile(r"^(?P<machine>[a-z0-9_]+) cpython-(?P<major>3)\.(?P<minor>[0-9]+)$")
# The glibc versions a manylinux wheel may ask for: 2.17 (manylinux2014) up to a current distribution's.
MANYLINUX_GLIBC_MINORS = range(17, 41)


def check_platform(text: str) -> str:
    if not PLATFORM.match(text):
        raise ValueError(f"expected a machine and a CPython version as the probe prints them, "
                         f"like 'aarch64 cpython-3.11', got {text!r}")
    return text


def _dependency_wheels(cache: Path, node_platform: str) -> Path:
    """Downloads the node's dependency wheels for ``node_platform`` into ``deps[-PLATFORM]/``,
    unless they are there already; returns that directory."""
    deps = cache / _deps_name(node_platform)
    stamp = deps / ".requirements"
    wanted = "\n".join(requirements())
    if not stamp.exists() or stamp.read_text() != wanted:
        shutil.rmtree(deps, ignore_errors=True)
        deps.mkdir(parents=True)
        if node_platform != controller_platform():
            _download_for(node_platform, deps)
        else:
            _pip("download", "--only-binary=:all:", "-d", str(deps), *requirements())
        stamp.write_text(wanted)
    return deps


def _project_wheel(cache: Path, source: str) -> Path:
    """Builds the project's own wheel into ``project/`` unless it is from these sources already."""
    project = cache / "project"
    if not (project / f".source-{source}").exists():
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir(parents=True)
        _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(project), str(PROJECT_ROOT))
        (project / f".source-{source}").touch()
    return project


def _slug(node_platform: str) -> str:
    """'aarch64 cpython-3.13' -> 'aarch64-cp313', for file names."""
    return node_platform.replace(" cpython-", "-cp").replace(".", "")


def _deps_name(node_platform: str) -> str:
    return "deps" if node_platform == controller_platform() else f"deps-{_slug(node_platform)}"


def _target_options(node_platform: str) -> list[str]:
    """pip's options for wheels of another machine or Python than its own."""
    match = PLATFORM.match(node_platform)
    assert match is not None
    machine, major, minor = match["machine"], match["major"], match["minor"]
    tags = [f"manylinux2014_{machine}", *(f"manylinux_2_{glibc}_{machine}" for glibc in MANYLINUX_GLIBC_MINORS)]
    return ["--only-binary=:all:", "--implementation", "cp", "--python-version", f"{major}.{minor}",
            "--abi", f"cp{major}{minor}", "--abi", "abi3", "--abi", "none", *(f"--platform={tag}" for tag in tags)]


def _download_for(node_platform: str, deps: Path) -> None:
    # The controller cannot compile for another machine, so only binary wheels serve it.
    try:
        _pip("download", *_target_options(node_platform), "-d", str(deps), *requirements())
    except HarnessError as error:
        raise HarnessError(f"no bundle for {node_platform}: {error}") from error


# The bundle is a shell script followed by the gzipped tar of site-packages, so one Ansible step
# (ansible.builtin.script) both transfers and installs it, with no Python module run on the node.
INSTALLER = """#!/bin/sh
# vdlt-harness node bundle {digest}, for {platform}: the node's site-packages as a gzipped tar
# from line {payload_line} on. The bootstrap role runs it with two arguments, BASE_PYTHON VENV,
# which makes the virtual environment VENV from BASE_PYTHON unless it exists, replaces its
# site-packages with the bundle (nothing stale stays) and marks VENV as holding this bundle.
set -e
base_python=$1
venv=$2
[ -x "$venv/bin/python" ] || "$base_python" -m venv --without-pip "$venv"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
rm -rf "$site"
mkdir -p "$site"
tail -n +{payload_line} "$0" | tar -xz -C "$site"
rm -f "$venv"/.installed-*
touch "$venv/.installed-{digest}"
exit 0
"""


def bundle(cache: Path = CACHE, node_platform: str | None = None) -> tuple[Path, str]:
    """The installer for nodes of ``node_platform`` (the controller's by default): a shell script
    carrying their site-packages, named by its contents' digest, so a node runs it only when the
    digest changed. Returns its path and digest."""
    node_platform = node_platform or controller_platform()
    source = source_digest()
    deps, project = _dependency_wheels(cache, node_platform), _project_wheel(cache, source)
    wheels = sorted([*deps.glob("*.whl"), *project.glob("*.whl")])
    compiled = _same_python(node_platform)
    digest = hashlib.sha256()
    digest.update(INSTALLER.encode())
    digest.update(b"bytecode" if compiled else b"sources")
    digest.update(node_platform.encode())
    digest.update("\n".join(wheel.name for wheel in wheels).encode())
    digest.update(source.encode())
    name = digest.hexdigest()[:16]
    prefix = f"node-site-{_slug(node_platform)}-"
    path = cache / f"{prefix}{name}.sh"
    if not path.exists():
        staging = cache / "site"
        shutil.rmtree(staging, ignore_errors=True)
        target = _target_options(node_platform) if node_platform != controller_platform() else []
        # Bytecode compiled here spares every node compiling each module on its first import
        # (measured: the agent's imports take 0.25 CPU-s then, 0.12 s from bytecode); tar keeps
        # the sources' times, so the nodes' Python finds it current. Only this interpreter's
        # version can be compiled for.
        compile_option = "--compile" if compiled else "--no-compile"
        _pip("install", "--no-index", "--no-deps", compile_option, *target, "--target", str(staging), *map(str, wheels))
        # Console scripts name the controller's interpreter; nodes run `python -m node_agent`.
        shutil.rmtree(staging / "bin", ignore_errors=True)
        for old in cache.glob(f"{prefix}*"):
            old.unlink()
        header = INSTALLER.format(digest=name, platform=node_platform, payload_line=INSTALLER.count("\n") + 1)
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as out:
            out.write(header.encode())
            with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
                for entry in sorted(staging.iterdir()):
                    tar.add(entry, arcname=entry.name)
        partial.chmod(0o755)
        partial.replace(path)
        shutil.rmtree(staging)
    return path, name


def _same_python(node_platform: str) -> bool:
    """Whether a node of ``node_platform`` runs the controller's Python version (bytecode does
    not depend on the machine)."""
    return node_platform.split()[-1] == controller_platform().split()[-1]


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise HarnessError(f"building the node wheelhouse failed: pip {args[0]}: {result.stderr.strip()[-2000:]}")
