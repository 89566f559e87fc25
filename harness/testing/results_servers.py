"""Results databases from Debian's packages on loopback: influxdb 1.x (v1 protocol) and
victoria-metrics (the v2 write API). Tests and benchmarks start them on free ports with
temporary data; ``scripts/results-db`` starts one for a user (``python -m
harness.testing.results_servers``) and prints what to export for ``harness run``."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

from harness.provision.local_copy import free_port, free_ports
from protocol.errors import HarnessError


class MissingServer(HarnessError):
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


def influxdb_v1_server(directory: Path, auth: bool = False, port: int | None = None) -> LocalServer:
    """An influxd whose data lives in ``directory``, not started yet. With ``auth``, requests need
    a user; the first one (an admin) can be created without."""
    if shutil.which("influxd") is None:
        raise MissingServer("influxdb is not installed (scripts/install-system-packages)")
    chosen = free_ports(2)
    http, rpc = port or chosen[0], chosen[1]
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


def victoria_metrics_server(directory: Path, port: int | None = None) -> LocalServer:
    """A victoria-metrics with a long retention (replayed old timestamps are kept) and
    deduplication (a repeated push stays idempotent), not started yet."""
    if shutil.which("victoria-metrics") is None:
        raise MissingServer("victoria-metrics is not installed (scripts/install-system-packages)")
    port = port or free_port()
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


DEFAULT_PORTS = {"influxdb": 8086, "victoria-metrics": 8428}


def main(argv: list[str] | None = None) -> int:
    """Serves a results database on loopback in the foreground until ^C or SIGTERM."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="scripts/results-db", description=main.__doc__)
    parser.add_argument("kind", nargs="?", choices=sorted(DEFAULT_PORTS), default="influxdb")
    parser.add_argument("--port", type=int, default=None, help="default: 8086 (influxdb), 8428 (victoria-metrics)")
    parser.add_argument("--data", type=Path, default=Path(".cache") / "results-db",
                        help="where the data is kept (default: %(default)s/KIND)")
    parser.add_argument("--bucket", default="vdlt", help="the database (bucket) to create (default: %(default)s)")
    args = parser.parse_args(argv)
    port = args.port or DEFAULT_PORTS[args.kind]
    directory = (args.data / args.kind).resolve()
    try:
        server = (influxdb_v1_server(directory, port=port) if args.kind == "influxdb"
                  else victoria_metrics_server(directory, port=port))
        server.start()
    except (MissingServer, TimeoutError) as error:
        print(f"results-db: {error}", file=sys.stderr)
        return 1
    if args.kind == "influxdb":
        create_database(server.url, args.bucket)
    print(f"# {args.kind} serves on {server.url}, data in {directory}; ^C stops it. For `harness run`:")
    print(f"export HARNESS_INFLUX_URL={server.url}")
    print(f"export HARNESS_INFLUX_BUCKET={args.bucket}", flush=True)
    stopping = [False]

    def stop(signum: int, frame: object) -> None:
        stopping[0] = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    assert server.process is not None
    while not stopping[0] and server.process.poll() is None:
        time.sleep(0.2)
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
