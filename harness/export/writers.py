"""Writing line protocol: InfluxDB's v2 API through influxdb-client, or the v1 /write endpoint.

influxdb-client traps avoided: its batching mode only logs failed writes (data silently lost)
and needs the write API closed to flush; here every batch goes through the synchronous API, so
a failure raises and the caller keeps the batch.
"""
from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import urllib3
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from harness.errors import HarnessError
from harness.export.config import InfluxConfig

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
        query = urllib.parse.urlencode({"db": self.config.bucket, "precision": "ns"})
        request = urllib.request.Request(f"{self.config.url}/write?{query}", data="\n".join(lines).encode(),
                                         method="POST")
        if self.config.token:
            request.add_header("Authorization", f"Token {self.config.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                if response.status not in (200, 204):
                    raise ExportError(f"{self.config.url}/write answered HTTP {response.status}")
        except urllib.error.HTTPError as error:
            raise ExportError(f"{self.config.url}/write refused a batch: HTTP {error.code}: "
                              f"{error.read()[:300].decode(errors='replace')}") from error
        except (urllib.error.URLError, OSError) as error:
            raise ExportError(f"writing to {self.config.url} failed: {error}") from error

    def close(self) -> None:
        if self._client is not None:
            self._api.close()
            self._client.close()
