"""Results databases from Debian's packages on free loopback ports with temporary data, for
tests and benchmarks: influxdb 1.x (v1 protocol) and victoria-metrics (the v2 write API)."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
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


@contextlib.contextmanager
def _running(command: list[str], ready_url: str) -> Iterator[None]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(ready_url)
        yield
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextlib.contextmanager
def influxdb_v1(directory: Path) -> Iterator[str]:
    """Yields the URL of an influxd whose data lives in ``directory``."""
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
""")
    url = f"http://127.0.0.1:{http}"
    with _running(["influxd", "run", "-config", str(config)], f"{url}/ping"):
        yield url


@contextlib.contextmanager
def victoria_metrics(directory: Path) -> Iterator[str]:
    """Yields the URL of a victoria-metrics with a long retention (replayed old timestamps are
    kept) and deduplication (a repeated push stays idempotent)."""
    if shutil.which("victoria-metrics") is None:
        raise MissingServer("victoria-metrics is not installed (scripts/install-system-packages)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with _running(["victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={directory}",
                   "-retentionPeriod=100y", "-dedup.minScrapeInterval=1ms"], f"{url}/health"):
        yield url
