"""A worker's per-transaction records, kept compactly while a round runs.

Fixed-width columns (``array``) instead of Python objects: about 40 bytes a transaction. The
transaction id is not stored (it is derived from the worker's index), execution-node lists are
interned, and reasons are kept only where there is one. HDR histograms are built from the
columns when the round ends (or, for a worker on a client node, by the controller from the
records it fetches), so the hot path only appends.
"""
from __future__ import annotations

import csv
import gzip
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from harness.connectors.base import CONFIRMED, DROPPED, ERROR, REJECTED, TIMEOUT
from vdlt.cos import CosByte

if TYPE_CHECKING:  # the statistics (HDR histograms) are the controller's: client nodes do not have them
    from harness.loadgen.metrics import StatsRow

STATUSES = ("", CONFIRMED, REJECTED, DROPPED, TIMEOUT, ERROR)
STATUS_CODE = {status: code for code, status in enumerate(STATUSES)}
RECORD_COLUMNS = ("tx_id", "worker", "cos_asked", "class_asked", "cos_given", "class_given",
                  "intended_ns", "sent_ns", "decided_ns", "status", "execution_nodes", "reason", "trimmed")
SLUGS = [CosByte.parse(value).service_class.slug for value in range(256)]


class TransactionLog:
    def __init__(self) -> None:
        self.cos_asked = array("B")
        self.cos_given = array("h")
        self.intended = array("q")
        self.sent = array("q")
        self.decided = array("q")
        self.status = array("b")
        self.trimmed = array("b")
        self.nodes: list[str] = []
        self.reasons: dict[int, str] = {}
        self._interned: dict[tuple[str, ...], str] = {(): ""}

    def __len__(self) -> int:
        return len(self.intended)

    def add(self, cos: int, intended_ns: int, sent_ns: int, trimmed: bool) -> int:
        self.cos_asked.append(cos)
        self.cos_given.append(-1)
        self.intended.append(intended_ns)
        self.sent.append(sent_ns)
        self.decided.append(0)
        self.status.append(0)
        self.trimmed.append(trimmed)
        self.nodes.append("")
        return len(self.intended) - 1

    def finish(self, index: int, status: str, decided_ns: int, cos_given: int, nodes: tuple[str, ...],
               reason: str) -> None:
        self.decided[index] = decided_ns
        self.status[index] = STATUS_CODE[status]
        self.cos_given[index] = cos_given
        joined = self._interned.get(nodes)
        if joined is None:
            joined = self._interned[nodes] = ";".join(nodes)
        self.nodes[index] = joined
        if reason:
            self.reasons[index] = reason

    def stats_rows(self) -> Iterator[StatsRow]:
        """The transactions that count (not trimmed), as the statistics read them."""
        for i in range(len(self.intended)):
            if not self.trimmed[i]:
                yield SLUGS[self.cos_asked[i]], self.intended[i], self.sent[i], self.decided[i], STATUSES[self.status[i]]

    def write_csv(self, path: Path, worker: int, tx_id: Callable[[int], str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", newline="", compresslevel=3) as handle:
            writer = csv.writer(handle)
            writer.writerow(RECORD_COLUMNS)
            for i in range(len(self.intended)):
                given = self.cos_given[i]
                writer.writerow((tx_id(i), worker, self.cos_asked[i], SLUGS[self.cos_asked[i]], given,
                                 SLUGS[given] if given >= 0 else "", self.intended[i], self.sent[i], self.decided[i],
                                 STATUSES[self.status[i]], self.nodes[i], self.reasons.get(i, ""), self.trimmed[i]))
