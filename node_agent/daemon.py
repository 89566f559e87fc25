"""Runs the agent in the foreground, or as a daemon supervised through a pid file.

The playbooks call `start`, `stop` and `status`; each prints one JSON line that Ansible reads
(`changed`, `pid`) so a second `start` reports nothing changed.

`start` learns that the agent serves from the agent itself: it passes the agent the write end of
a pipe (`serve --ready-fd N`, as s6's notification-fd), and the agent writes a line there once
its server has started. So `start` imports no gRPC and polls nothing: on a Raspberry Pi, gRPC's
import alone would cost it most of a second per node.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

from node_agent.config import NodeConfig, certificate_host, local_target
from node_agent.limits import LimitsError, apply_limits, check_enforced, remove_groups
from protocol.errors import ConfigError

START_TIMEOUT_S = 20.0
READY_LINE = b"serving\n"
STOP_TIMEOUT_S = 10.0


def _paths(config: NodeConfig) -> tuple[Path, Path]:
    return config.data_dir / "agent.pid", config.data_dir / "agent.log"


def _serves(pid: int, config_path: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"node_agent" in cmdline and b"serve" in cmdline and str(config_path).encode() in cmdline


def running_pid(pid_file: Path, config_path: Path) -> int | None:
    """Our agent for this configuration: from the pid file, or, when the file was lost, by
    looking for the process that serves this configuration."""
    try:
        pid = int(pid_file.read_text().strip())
        if _serves(pid, config_path):
            return pid
    except (OSError, ValueError):
        pass
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and _serves(int(entry.name), config_path):
            return int(entry.name)
    return None


def is_serving(config: NodeConfig, timeout_s: float = 1.0) -> bool:
    """Whether this node's agent answers health checks, asked from the node itself."""
    # Imported here, for `status` only (see the module's docstring).
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from protocol.tls import channel

    try:
        with channel(local_target(config), config.tls, certificate_host(config) if config.tls else None) as grpc_channel:
            reply = health_pb2_grpc.HealthStub(grpc_channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
    except grpc.RpcError:
        return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def start(config_path: Path, config: NodeConfig) -> dict:
    pid_file, log_file = _paths(config)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    pid = running_pid(pid_file, config_path)
    if pid is not None:
        return {"changed": False, "pid": pid, "node_id": config.node_id}
    ready_read, ready_write = os.pipe()
    try:
        with open(log_file, "ab") as log:
            started_at = log.tell()  # the log is kept across starts: report only this start's lines
            process = subprocess.Popen(
                [sys.executable, "-m", "node_agent", "serve", "--config", str(config_path),
                 "--ready-fd", str(ready_write)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=(ready_write,),
                start_new_session=True, close_fds=True, cwd=config.data_dir,
            )
    finally:
        os.close(ready_write)  # the agent holds the only write end: its exit ends the pipe
    pid_file.write_text(f"{process.pid}\n")
    with os.fdopen(ready_read, "rb", buffering=0) as ready:
        said = _wait_for_line(ready, START_TIMEOUT_S)
    if said == READY_LINE:
        return {"changed": True, "pid": process.pid, "node_id": config.node_id}
    pid_file.unlink(missing_ok=True)
    if said is None:
        _terminate(process.pid)
        _remove_groups(config)
        raise RuntimeError(f"agent {config.node_id} did not serve on {config.listen} within {START_TIMEOUT_S:g} s")
    # The pipe ended without the line: the agent exited (or closed it, and is stopped here).
    try:
        returncode = process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _terminate(process.pid)
        returncode = process.wait()
    _remove_groups(config)
    with open(log_file, "rb") as log:
        log.seek(started_at)
        tail = log.read().decode(errors="replace").splitlines()[-15:]
    raise RuntimeError(f"agent {config.node_id} exited with {returncode}:\n" + "\n".join(tail))


def _wait_for_line(pipe: BinaryIO, timeout_s: float) -> bytes | None:
    """What the agent wrote into the readiness pipe (b"" when it closed it without a line), or
    None when it said nothing within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    received = b""
    while not received.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([pipe], [], [], remaining)[0]:
            return None
        chunk = pipe.read(64)
        if not chunk:
            return b""
        received += chunk
    return received


def notify_ready(fd: int) -> None:
    """The agent's side: tells `start` it serves, and closes the pipe."""
    try:
        os.write(fd, READY_LINE)
    except BrokenPipeError:
        pass  # `start` was interrupted (a dropped connection, ^C): the agent serves all the same
    finally:
        os.close(fd)


def stop(config_path: Path, config: NodeConfig) -> dict:
    pid_file, _ = _paths(config)
    pid = running_pid(pid_file, config_path)
    pid_file.unlink(missing_ok=True)
    if pid is not None:
        _terminate(pid)
    # Also after an agent that died by itself: its groups outlive it until removed.
    _remove_groups(config)
    if pid is None:
        return {"changed": False, "node_id": config.node_id}
    return {"changed": True, "pid": pid, "node_id": config.node_id}


def _remove_groups(config: NodeConfig) -> None:
    """The cgroups the agent made for its limits, once it is gone. One that cannot go is said
    on stderr (stdout is the JSON line Ansible reads) and tried again at the next stop."""
    for problem in remove_groups(config.data_dir):
        print(f"node {config.node_id}: cgroup not removed: {problem}", file=sys.stderr)


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        # A zombie child of ours still has a pid; reap it if it is ours.
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished:
            return False
    except ChildProcessError:
        pass
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return status != "Z"


def status(config_path: Path, config: NodeConfig) -> dict:
    pid_file, _ = _paths(config)
    pid = running_pid(pid_file, config_path)
    return {"changed": False, "pid": pid, "node_id": config.node_id,
            "serving": pid is not None and is_serving(config)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node_agent")
    parser.add_argument("command", choices=["serve", "start", "stop", "status"])
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--ready-fd", type=int, help="serve: the pipe to write a line to once serving")
    args = parser.parse_args(argv)
    try:
        config = NodeConfig.load(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    if args.command == "serve":
        # Before gRPC is imported and the ledger read: all of the agent's work is capped.
        try:
            if config.limits_applied_by == "agent":
                apply_limits(config.limits, config.node_id, config.data_dir)
            elif config.limits.capped:
                check_enforced(config.limits, config.node_id, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except LimitsError as error:
            print(error, file=sys.stderr)  # the log's last line, which `start` reports
            return 1
        from node_agent.server import serve

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        on_serving = (lambda: notify_ready(args.ready_fd)) if args.ready_fd is not None else None
        asyncio.run(serve(config, on_serving))
        return 0
    try:
        config_path = args.config.resolve()
        outcome = {"start": lambda: start(config_path, config), "stop": lambda: stop(config_path, config),
                   "status": lambda: status(config_path, config)}[args.command]()
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(outcome))
    return 0
