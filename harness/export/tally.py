"""What an export did, per measurement: the figures `export.json` and the run's summary state."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ExportTally:
    url: str
    bucket: str
    protocol: str
    mode: str
    """"live" (written during the run) or "push" (`harness results push`)."""
    produced: Counter[str] = field(default_factory=Counter)
    acknowledged: Counter[str] = field(default_factory=Counter)
    spooled: Counter[str] = field(default_factory=Counter)
    """Points whose batch the database refused at first and that went to the spool."""
    pending: Counter[str] = field(default_factory=Counter)
    """Points still in the spool at the end."""
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "bucket": self.bucket, "protocol": self.protocol, "mode": self.mode,
                "produced": self.produced, "acknowledged": self.acknowledged, "spooled": self.spooled,
                "pending": self.pending, "first_error": self.errors[0] if self.errors else None}
