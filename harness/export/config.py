"""Where results go: URL, token, org, bucket (or database), protocol.

Precedence, lowest first: a config file (YAML with an ``influx:`` mapping), the environment
(``HARNESS_INFLUX_URL``, ``_TOKEN``, ``_ORG``, ``_BUCKET``, ``_PROTOCOL``), command-line flags.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from protocol.documents import load_yaml
from protocol.errors import ConfigError

KEYS = ("url", "token", "org", "bucket", "protocol")
PROTOCOLS = ("auto", "v1", "v2")


@dataclass(frozen=True)
class InfluxConfig:
    url: str
    bucket: str
    token: str = ""
    org: str = ""
    protocol: str = "auto"


def resolve(config_file: Path | None, flags: dict[str, str | None]) -> InfluxConfig:
    values: dict[str, str] = {"protocol": "auto", "token": "", "org": ""}
    if config_file is not None:
        doc = load_yaml(config_file, "results config file")
        section = (doc.data or {}).get("influx") if isinstance(doc.data, dict) else None
        if not isinstance(section, dict):
            raise doc.error(("influx",), "expected a mapping 'influx' with url, token, org, bucket, protocol")
        for key, value in section.items():
            if key not in KEYS:
                raise doc.error(("influx", key), f"unknown key; allowed: {', '.join(KEYS)}")
            values[key] = str(value)
    for key in KEYS:
        if os.environ.get(f"HARNESS_INFLUX_{key.upper()}"):
            values[key] = os.environ[f"HARNESS_INFLUX_{key.upper()}"]
    values.update({k: v for k, v in flags.items() if v})
    for key in ("url", "bucket"):
        if not values.get(key):
            raise ConfigError(config_file or "<command line>", f"influx.{key}",
                              f"missing: set it in the config file, HARNESS_INFLUX_{key.upper()} or --{key}")
    if values["protocol"] not in PROTOCOLS:
        raise ConfigError(config_file or "<command line>", "influx.protocol", f"must be one of {', '.join(PROTOCOLS)}")
    return InfluxConfig(values["url"].rstrip("/"), values["bucket"], values["token"], values["org"], values["protocol"])
