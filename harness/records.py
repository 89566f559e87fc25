"""Reading a run's per-transaction records back (transactions/round-R-worker-W.csv.gz)."""
from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator


@dataclass(slots=True)
class TxRecord:
    tx_id: str
    worker: int
    class_asked: str
    class_given: str
    cos_asked: int
    cos_given: int
    intended_ns: int
    sent_ns: int
    decided_ns: int
    status: str
    execution_nodes: str
    reason: str
    trimmed: bool

    @property
    def latency_ms(self) -> float:
        return (self.decided_ns - self.intended_ns) / 1e6


def read_records(paths: Iterable[Path]) -> list[TxRecord]:
    return list(iter_records(paths))


def iter_records(paths: Iterable[Path]) -> Iterator[TxRecord]:
    """The records one at a time, so a long round's need not all be in memory at once."""
    for path in paths:
        with gzip.open(path, "rt", newline="") as handle:
            for row in csv.DictReader(handle):
                yield TxRecord(
                    tx_id=row["tx_id"], worker=int(row["worker"]), class_asked=row["class_asked"],
                    class_given=row["class_given"], cos_asked=int(row["cos_asked"]), cos_given=int(row["cos_given"]),
                    intended_ns=int(row["intended_ns"]), sent_ns=int(row["sent_ns"]),
                    decided_ns=int(row["decided_ns"]), status=row["status"],
                    execution_nodes=row["execution_nodes"], reason=row["reason"],
                    trimmed=row.get("trimmed", "0") == "1",
                )


def round_records(run_dir: Path, round_index: int) -> list[TxRecord]:
    return read_records(sorted((run_dir / "transactions").glob(f"round-{round_index}-worker-*.csv.gz")))
