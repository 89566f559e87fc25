"""A worker's per-transaction records, kept compactly while a round runs.

Fixed-width columns (``array``) instead of Python objects: about 40 bytes a transaction. The
transaction id is not stored (it is derived from the worker's index), execution-node lists are
interned, and reasons are kept only where there is one. HDR histograms are built from the
columns when the round ends (or, for a worker on a client node, by the controller from the
records it fetches), so the hot path only appends. The order in which transactions were decided
is kept too, so the worker can write each one to the run folder soon after its receipt
(:mod:`harness.records`).
"""
from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Iterable, Iterator

from harness.connectors.base import CONFIRMED, DROPPED, ERROR, REJECTED, TIMEOUT, UNKNOWN
from harness.store.records import csv_text
from vdlt.cos import CosByte

if TYPE_CHECKING:  # the statistics (HDR histograms) are the controller's: client nodes do not have them
    from harness.loadgen.metrics import StatsRow

STATUSES = ("", CONFIRMED, REJECTED, DROPPED, TIMEOUT, ERROR, UNKNOWN)
STATUS_CODE = {status: code for code, status in enumerate(STATUSES)}
SLUGS = [CosByte.parse(value).service_class.slug for value in range(256)]
# One records line; the id is the worker's prefix and the transaction's index.
_LINE = "%s%d,%d,%d,%s,%d,%s,%d,%d,%d,%s,%s,%s,%d,%d,%s\n"


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
        self.blocks = array("q")
        # The system's own names for transactions (Ethereum hashes), only where it gives one.
        self.refs: dict[int, str] = {}
        self._interned: dict[tuple[str, ...], str] = {(): ""}
        # Indices in the order they were decided, and how many of them were handed out as rows.
        self.decided_order = array("q")
        self._taken = 0

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
        self.blocks.append(0)
        return len(self.intended) - 1

    def finish(self, index: int, status: str, decided_ns: int, cos_given: int, nodes: tuple[str, ...],
               reason: str, block: int = 0, ref: str = "") -> None:
        self.decided[index] = decided_ns
        self.blocks[index] = block
        if ref:
            self.refs[index] = ref
        self.status[index] = STATUS_CODE[status]
        self.cos_given[index] = cos_given
        joined = self._interned.get(nodes)
        if joined is None:
            joined = self._interned[nodes] = ";".join(nodes)
        self.nodes[index] = joined
        if reason:
            self.reasons[index] = reason
        self.decided_order.append(index)

    def take_decided(self) -> array:
        """The indices decided since the last call."""
        taken, self._taken = self.decided_order[self._taken:], len(self.decided_order)
        return taken

    def undecided(self) -> list[int]:
        return [i for i in range(len(self.intended)) if self.status[i] == 0]

    def annotate(self, index: int, reason: str) -> None:
        """A reason for a transaction left undecided (the round was stopped)."""
        self.reasons[index] = reason

    def stats_rows(self) -> Iterator[StatsRow]:
        """The transactions that count (not trimmed), as the statistics read them."""
        for i in range(len(self.intended)):
            if not self.trimmed[i]:
                yield (SLUGS[self.cos_asked[i]], self.intended[i], self.sent[i], self.decided[i],
                       STATUSES[self.status[i]], self.reasons.get(i, ""))

    def lines(self, indices: Iterable[int], worker: int, tx_prefix: str) -> str:
        """These transactions as records lines (:data:`harness.records.RECORD_COLUMNS`): formatted
        by hand, at a quarter of the csv module's cost, since workers write them while sending."""
        reasons, refs = self.reasons, self.refs
        return "".join([
            _LINE % (tx_prefix, i, worker, self.cos_asked[i], SLUGS[self.cos_asked[i]], self.cos_given[i],
                     SLUGS[self.cos_given[i]] if self.cos_given[i] >= 0 else "", self.intended[i], self.sent[i],
                     self.decided[i], STATUSES[self.status[i]], self.nodes[i],
                     csv_text(reasons[i]) if i in reasons else "", self.trimmed[i], self.blocks[i], refs.get(i, ""))
            for i in indices])
