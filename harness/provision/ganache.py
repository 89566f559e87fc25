"""A local Ethereum chain for campaigns, tests and benchmarks: ganache 7.9.2 from ``node_modules/``
(``scripts/bootstrap`` installs it with npm when node is present) on a free loopback port, with
its log in a given directory. One port serves JSON-RPC over HTTP and WebSocket.

Hardfork berlin by default, because from london on a rising base fee silently drops legacy
transactions priced under it (no receipt, ever); contracts are compiled for berlin to match
(``scripts/compile-contracts``)."""
from __future__ import annotations

import ctypes
import json
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

from harness.provision.local_copy import free_port, stop_process
from protocol.errors import HarnessError

ROOT = Path(__file__).resolve().parents[2]
GANACHE_BIN = ROOT / "node_modules" / ".bin" / "ganache"
PR_SET_PDEATHSIG = 1
GANACHE_CLI = ROOT / "node_modules" / "ganache" / "dist" / "node" / "cli.js"


def _die_with_parent() -> None:
    """In the child, before ganache starts: a SIGTERM when the thread that started it ends,
    however its process died (a campaign killed with SIGKILL leaves no chain behind); so start
    it from a thread that lives as long as the chain should (the main one). Linux only."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class MissingGanache(HarnessError):
    pass


class RpcError(HarnessError):
    """A JSON-RPC error answer: the node understood the request and refused it."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error.get('message', error)}")
        self.method = method
        self.code = error.get("code")
        self.data = error.get("data")


def ganache_missing() -> str | None:
    """Why ganache cannot run here (a pytest skip reason), or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed: install Node.js 18 or newer, then run scripts/bootstrap"
    if not GANACHE_BIN.exists():
        return "ganache is not installed: run scripts/bootstrap"
    return None


def rpc(url: str, method: str, params: list[Any] | None = None, timeout_s: float = 30.0) -> Any:
    """One JSON-RPC call over HTTP; the ``result``, or RpcError for an ``error`` answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        answer = json.load(response)
    if "error" in answer:
        raise RpcError(method, answer["error"])
    return answer["result"]


class Ganache:
    """A ganache process on 127.0.0.1, started by ``start()`` or ``with``, gone after ``stop()``.

    ``accounts`` are (private key hex, balance in wei); without them ganache makes its ten
    default accounts (1000 ether each, unlocked, so ``eth_sendTransaction`` works from them)."""

    def __init__(self, log_dir: Path, *, block_time_s: float = 0, block_gas_limit: int | None = None,
                 accounts: list[tuple[str, int]] | None = None, chain_id: int = 1337,
                 hardfork: str = "berlin", extra_args: list[str] | None = None, port: int | None = None,
                 start_timeout_s: float = 30.0, host: str = "127.0.0.1") -> None:
        self.port = port or free_port()
        # ``host``: another address of this machine where namespace hosts reach it (a bridge's).
        self.http_url = f"http://{host}:{self.port}"
        self.ws_url = f"ws://{host}:{self.port}"
        self.log_path = Path(log_dir) / f"ganache-{self.port}.log"
        self.start_timeout_s = start_timeout_s
        self.command = ["node", str(GANACHE_CLI),
                        "--server.host", host, "--server.port", str(self.port),
                        "--chain.chainId", str(chain_id), "--chain.hardfork", hardfork,
                        # With asynchronous processing a transaction queued behind a nonce gap
                        # was seen to hang forever on this project's machine; one at a time is
                        # slower but always answers.
                        "--chain.asyncRequestProcessing", "false",
                        # 0 is instamine: one transaction per block, mined before its hash returns.
                        "--miner.blockTime", f"{block_time_s:g}",
                        # Quiet drops the log of every request; the start banner remains.
                        "--logging.quiet"]
        if block_gas_limit is not None:
            self.command += ["--miner.blockGasLimit", str(block_gas_limit)]
        for key, balance in accounts or []:
            self.command += ["--wallet.accounts", f"{key},{balance}"]
        self.command += extra_args or []
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        reason = ganache_missing()
        if reason is not None:
            raise MissingGanache(reason)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=_die_with_parent)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        """Until eth_chainId answers; ganache takes a second or more to start on a small machine."""
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self.process.poll() is not None:
                raise HarnessError(f"ganache exited with {self.process.returncode} while starting:"
                                   f" {self._log_tail()}")
            try:
                rpc(self.http_url, "eth_chainId", timeout_s=1)
                return
            except (OSError, ValueError):
                # Not listening yet (refused, reset) or half-started (no JSON yet).
                if time.monotonic() > deadline:
                    raise TimeoutError(f"ganache did not answer on {self.http_url} within"
                                       f" {self.start_timeout_s:g} s (log: {self.log_path})") from None
                time.sleep(0.1)

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return f"(no log at {self.log_path})"
        return " | ".join(text[-lines:]) or f"(empty log at {self.log_path})"

    def rpc(self, method: str, params: list[Any] | None = None, timeout_s: float = 30.0) -> Any:
        return rpc(self.http_url, method, params, timeout_s)

    def stop(self) -> None:
        """SIGTERM (ganache shuts its server down cleanly), then SIGKILL if it takes too long."""
        if self.process is not None:
            stop_process(self.process, 5)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Ganache:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
