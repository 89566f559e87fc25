"""Writing line protocol: InfluxDB's v2 API through influxdb-client, or the v1 /write endpoint.

influxdb-client traps avoided: its batching mode only logs failed writes (data silently lost)
and needs the write API closed to flush; here every batch goes through the synchronous API, so
a failure raises and the caller keeps the batch.
"""
from __future__ import annotations

import base64
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import urllib3
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from harness.export.config import InfluxConfig
from protocol.errors import HarnessError

BATCH = 10_000


class ExportError(HarnessError):
    pass


@dataclass(frozen=True)
class Server:
    kind: str      # "influxdb" or "other" (VictoriaMetrics and others speaking the write APIs)
    version: str   # as the server reports it, or ""

    @property
    def has_v2_write(self) -> bool:
        if self.kind != "influxdb":
            return True
        parts = self.version.lstrip("v").split("~")[0].split(".")
        major, minor = (int(parts[0]), int(parts[1])) if len(parts) >= 2 and parts[1].isdigit() else (2, 0)
        return (major, minor) >= (1, 8)


def detect(url: str, timeout_s: float = 5.0) -> Server:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout_s) as response:
            version = response.headers.get("X-Influxdb-Version", "")
    except (urllib.error.URLError, OSError) as error:
        raise ExportError(f"cannot reach the results database at {url}: {getattr(error, 'reason', error)}") from error
    return Server("influxdb" if version else "other", version)


def protocol_for(config: InfluxConfig, server: Server) -> str:
    if config.protocol == "v2" and not server.has_v2_write:
        raise ExportError(f"{config.url} is InfluxDB {server.version}, which has no /api/v2/write (added in 1.8): "
                          "use --protocol v1 (or auto)")
    if config.protocol != "auto":
        return config.protocol
    return "v2" if server.has_v2_write else "v1"


class Writer:
    def __init__(self, config: InfluxConfig) -> None:
        self.config = config
        self.server = detect(config.url)
        self.protocol = protocol_for(config, self.server)
        self._client: InfluxDBClient | None = None
        if self.protocol == "v2":
            self._client = InfluxDBClient(url=config.url, token=config.token or "none", org=config.org or "-",
                                          timeout=30_000)
            self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, lines: list[str]) -> None:
        """Writes one batch; raises ExportError if the server did not take it."""
        if self.protocol == "v2":
            try:
                self._api.write(bucket=self.config.bucket, org=self.config.org or "-", record=lines,
                                write_precision="ns")
            except ApiException as error:
                raise ExportError(f"{self.config.url} refused a batch: HTTP {error.status} {error.reason}: "
                                  f"{(error.body or '')[:300]}") from error
            except (OSError, urllib3.exceptions.HTTPError) as error:  # urllib3's errors are not OSErrors
                raise ExportError(f"writing to {self.config.url} failed: {error}") from error
            return
        status, body = _post(_write_url(self.config, "v1"), "\n".join(lines).encode(), _auth(self.config, "v1"))
        if status not in (200, 204):
            raise ExportError(f"{self.config.url}/write refused a batch: HTTP {status}: {body}")

    def close(self) -> None:
        if self._client is not None:
            self._api.close()
            self._client.close()


def check_access(config: InfluxConfig, protocol: str) -> None:
    """An empty write, so the server says before any load whether the token and the database
    (bucket) are right. Only 401/403 and 404 count: what a server answers to an empty body
    otherwise differs between servers and says nothing about access."""
    status, body = _post(_write_url(config, protocol), b"", _auth(config, protocol))
    where = "database" if protocol == "v1" else "bucket"
    if status in (401, 403):
        raise ExportError(f"{config.url} refused the token (HTTP {status}: {body}); check `token` "
                          f"(HARNESS_INFLUX_TOKEN; user:password for InfluxDB 1.x with authentication)")
    if status == 404:
        raise ExportError(f"{config.url} has no {where} {config.bucket!r} (HTTP 404: {body}); create it or "
                          f"check `bucket` (HARNESS_INFLUX_BUCKET)")


def _write_url(config: InfluxConfig, protocol: str) -> str:
    if protocol == "v1":
        return f"{config.url}/write?" + urllib.parse.urlencode({"db": config.bucket, "precision": "ns"})
    return f"{config.url}/api/v2/write?" + urllib.parse.urlencode(
        {"org": config.org or "-", "bucket": config.bucket, "precision": "ns"})


def _auth(config: InfluxConfig, protocol: str) -> dict[str, str]:
    """InfluxDB 1.x before 1.8 knows only user and password (basic auth); later servers take a
    token, and 1.8's compatibility endpoints a token of the form user:password."""
    if not config.token:
        return {}
    if protocol == "v1" and ":" in config.token:
        return {"Authorization": "Basic " + base64.b64encode(config.token.encode()).decode()}
    return {"Authorization": f"Token {config.token}"}


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """(HTTP status, the start of the answer); ExportError when the server cannot be reached."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(300).decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read(300).decode(errors="replace").strip()
    except (urllib.error.URLError, OSError) as error:
        raise ExportError(f"writing to {url.split('?')[0]} failed: {getattr(error, 'reason', error)}") from error
