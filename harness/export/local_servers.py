"""Results databases from Debian's packages on free loopback ports with temporary data, for
tests and benchmarks: influxdb 1.x (v1 protocol) and victoria-metrics (the v2 write API)."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

from harness.testbed import free_port


class MissingServer(Exception):
    pass


def _wait_http(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer") from None
            time.sleep(0.05)


class LocalServer:
    """A results server process that a test can kill and start again on the same port and data."""

    def __init__(self, command: list[str], url: str, ready_path: str) -> None:
        self.command = command
        self.url = url
        self.ready_url = f"{url}{ready_path}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_http(self.ready_url)
        except TimeoutError:
            self.stop()
            raise

    def kill(self) -> None:
        """As a crash would: no chance to flush or shut down cleanly."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=20)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def influxdb_v1_server(directory: Path, auth: bool = False) -> LocalServer:
    """An influxd whose data lives in ``directory``, not started yet. With ``auth``, requests need
    a user; the first one (an admin) can be created without."""
    if shutil.which("influxd") is None:
        raise MissingServer("influxdb is not installed (scripts/install-system-packages)")
    http, rpc = free_port(), free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "influxdb.conf"
    config.write_text(f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{directory / 'meta'}"
[data]
  dir = "{directory / 'data'}"
  wal-dir = "{directory / 'wal'}"
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  auth-enabled = {'true' if auth else 'false'}
""")
    return LocalServer(["influxd", "run", "-config", str(config)], f"http://127.0.0.1:{http}", "/ping")


def create_database(url: str, name: str, user: str = "", password: str = "") -> None:
    """CREATE DATABASE on an influxd (with ``user``/``password`` when it has authentication)."""
    params = {"q": f'CREATE DATABASE "{name}"', **({"u": user, "p": password} if user else {})}
    request = urllib.request.Request(f"{url}/query?{urllib.parse.urlencode(params)}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def victoria_metrics_server(directory: Path) -> LocalServer:
    """A victoria-metrics with a long retention (replayed old timestamps are kept) and
    deduplication (a repeated push stays idempotent), not started yet."""
    if shutil.which("victoria-metrics") is None:
        raise MissingServer("victoria-metrics is not installed (scripts/install-system-packages)")
    port = free_port()
    return LocalServer(["victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={directory}",
                        "-retentionPeriod=100y", "-dedup.minScrapeInterval=1ms"], f"http://127.0.0.1:{port}", "/health")


@contextlib.contextmanager
def influxdb_v1(directory: Path) -> Iterator[str]:
    """Yields the URL of a running influxd whose data lives in ``directory``."""
    with influxdb_v1_server(directory) as server:
        yield server.url


@contextlib.contextmanager
def victoria_metrics(directory: Path) -> Iterator[str]:
    """Yields the URL of a running victoria-metrics whose data lives in ``directory``."""
    with victoria_metrics_server(directory) as server:
        yield server.url
