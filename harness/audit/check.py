"""What clients were told, checked against what the ledger holds (ARCHITECTURE.md, I1-I6).

Jepsen's method, after every run: the run folder records every receipt a worker got; the
audit reads every execution node's chain from where it stood when the run began, and checks
one against the other. Per class of service (the class the transaction asked for, as in the
rest of the report):

- **confirmed and present**: a confirmed transaction is in the chains of at least its class's
  quorum of execution nodes (I1); **under quorum** counts those that are not (on no chain at all
  is **lost**); a node whose chain goes past a confirmed transaction without holding it is
  **missing** it (a hole: another history), while a node whose chain simply ends earlier is
  **behind**, by so many commits, and that is no fault;
- **applied twice**: a transaction id more than once in one chain (I3);
- **reported failed, but present**: a receipt said dropped or error (nothing happened), or
  rejected while the chain holds it accepted, and yet the chain holds it (I6); a confirmed
  transaction the chain holds as refused is **contradicted**;
- **uncertain**: timed out, unknown or undecided when the run ended: not a fault either way,
  but the audit says how many were committed after all;
- **divergence**: the chains hold different commits at the same sequence, or skip one (I2, I4);
- **moved**: a confirmed transaction held in another block than its receipt named (where the
  chain says which block holds it: Ethereum's, whose blocks a reorganisation can replace).

The checking is a pure function of receipts and chains (:func:`audit`), so a test can hand it
any history; :mod:`harness.audit.run` gathers them for a run.
"""
from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

from harness.connectors.base import CONFIRMED, DROPPED, ERROR, REJECTED, TIMEOUT, UNKNOWN
from harness.store.audit import AuditReport, ClassAudit, NodeAudit
from vdlt.cos import ServiceClass

UNCERTAIN = (TIMEOUT, UNKNOWN, "")
_STATUSES = ("", CONFIRMED, REJECTED, DROPPED, ERROR, TIMEOUT, UNKNOWN)
_STATUS_CODE = {status: code for code, status in enumerate(_STATUSES)}


@dataclass(frozen=True, slots=True)
class ChainCommit:
    sequence: int
    tx_id: str
    accepted: bool
    result_digest: str
    block: int = 0
    """The block that holds it, where the chain says (0: not checked)."""


@dataclass
class NodeChain:
    """What one execution node's chain holds after sequence ``after``."""

    node: str
    after: int
    commits: list[ChainCommit] = field(default_factory=list)
    error: str = ""
    """Why the chain could not be read (the node is down): it is left out of every check."""

    @property
    def last_sequence(self) -> int:
        return self.commits[-1].sequence if self.commits else self.after


class ReceiptBook:
    """Every receipt of a run, compactly: transaction ids are ``<token>.<round>.<worker>.<index>``,
    so a receipt is three bytes in arrays per (round, worker) rather than a dictionary entry."""

    def __init__(self, token: str, classes: list[str]) -> None:
        self.prefix = f"{token}."
        self.classes = classes
        self._class_code = {slug: code for code, slug in enumerate(classes)}
        self._status: dict[tuple[int, int], array] = {}
        self._class: dict[tuple[int, int], array] = {}
        self._given: dict[tuple[int, int], array] = {}
        self._blocks: dict[tuple[int, int], array] = {}
        """The block each receipt named, where any did (a records column since Ethereum runs)."""

    def _key(self, tx_id: str) -> tuple[tuple[int, int], int] | None:
        if not tx_id.startswith(self.prefix):
            return None
        try:
            round_text, worker_text, index_text = tx_id[len(self.prefix):].split(".")
            return (int(round_text), int(worker_text)), int(index_text)
        except ValueError:
            return None

    def add(self, tx_id: str, status: str, class_asked: str, class_given: str, block: int = 0) -> None:
        key = self._key(tx_id)
        if key is None:
            return
        where, index = key
        if block:
            blocks = self._blocks.setdefault(where, array("q"))
            blocks.extend([0] * (index + 1 - len(blocks)))
            blocks[index] = block
        statuses = self._status.setdefault(where, array("b"))
        asked, given = self._class.setdefault(where, array("b")), self._given.setdefault(where, array("b"))
        while len(statuses) <= index:
            statuses.append(-1)
            asked.append(-1)
            given.append(-1)
        statuses[index] = _STATUS_CODE.get(status, 0)
        asked[index] = self._code(class_asked)
        given[index] = self._code(class_given or class_asked)

    def _code(self, slug: str) -> int:
        if slug not in self._class_code:
            self._class_code[slug] = len(self.classes)
            self.classes.append(slug)
        return self._class_code[slug]

    def lookup(self, tx_id: str) -> tuple[str, str, str] | None:
        """(status, class asked, class given) of a transaction of this run, None for another's."""
        key = self._key(tx_id)
        if key is None:
            return None
        where, index = key
        statuses = self._status.get(where)
        if statuses is None or index >= len(statuses) or statuses[index] < 0:
            return None
        return (_STATUSES[statuses[index]], self.classes[self._class[where][index]],
                self.classes[self._given[where][index]])

    def block_of(self, tx_id: str) -> int:
        """The block its receipt named (0: none)."""
        key = self._key(tx_id)
        if key is None:
            return 0
        blocks = self._blocks.get(key[0])
        return blocks[key[1]] if blocks is not None and key[1] < len(blocks) else 0

    def receipts(self) -> Iterable[tuple[str, str, str, str]]:
        """(tx id, status, class asked, class given) of every receipt."""
        for (round_index, worker), statuses in self._status.items():
            asked, given = self._class[(round_index, worker)], self._given[(round_index, worker)]
            for index, code in enumerate(statuses):
                if code >= 0:
                    yield (f"{self.prefix}{round_index}.{worker}.{index}", _STATUSES[code], self.classes[asked[index]],
                           self.classes[given[index]])


def audit(receipts: ReceiptBook, chains: list[NodeChain], quorum: Callable[[str], int]) -> AuditReport:
    """Checks the receipts against the chains; ``quorum(class given)`` is how many chains a
    confirmed transaction of that class must be in."""
    read = [chain for chain in chains if not chain.error]
    longest = max((chain.last_sequence for chain in read), default=0)
    nodes = [NodeAudit(c.node, c.after, c.last_sequence, longest - c.last_sequence if not c.error else 0, c.error)
             for c in chains]
    report = AuditReport(classes={}, nodes=nodes, divergence=_divergence(read))
    # Where each of this run's transactions is: node -> its commit, and in which sequence.
    held: dict[str, dict[str, ChainCommit]] = {}
    twice: set[str] = set()
    unrecorded: set[str] = set()
    for chain in read:
        seen: Counter[str] = Counter()
        for commit in chain.commits:
            found = receipts.lookup(commit.tx_id)
            if found is None:
                if commit.tx_id.startswith(receipts.prefix):
                    unrecorded.add(commit.tx_id)
                elif chain is read[0]:
                    report.other_transactions += 1
                continue
            seen[commit.tx_id] += 1
            held.setdefault(commit.tx_id, {})[chain.node] = commit
        twice.update(tx_id for tx_id, count in seen.items() if count > 1)
    report.unrecorded = len(unrecorded)
    for tx_id in twice:
        _, asked, _ = receipts.lookup(tx_id)  # type: ignore[misc]
        report.classes.setdefault(asked, ClassAudit()).applied_twice += 1
    unread = len(chains) - len(read)
    quorums: dict[str, int] = {}
    for tx_id, status, asked, given in receipts.receipts():
        figures = report.classes.setdefault(asked, ClassAudit())
        holders = held.get(tx_id, {})
        if status == CONFIRMED:
            figures.confirmed += 1
            needed = quorums[given] if given in quorums else quorums.setdefault(given, quorum(given))
            if len(holders) >= needed:
                figures.confirmed_present += 1
            elif len(holders) + unread < needed:
                figures.under_quorum += 1
                figures.lost += not holders
            if any(not commit.accepted for commit in holders.values()):
                figures.contradicted += 1
            named = receipts.block_of(tx_id)
            if named and any(commit.block and commit.block != named for commit in holders.values()):
                figures.moved += 1
            sequence = min((commit.sequence for commit in holders.values()), default=None)
            for chain in read:
                if chain.node not in holders and sequence is not None and chain.last_sequence >= sequence:
                    figures.missing[chain.node] = figures.missing.get(chain.node, 0) + 1
        elif status in (DROPPED, ERROR) and holders:
            figures.reported_failed_present += 1
        elif status == REJECTED and any(commit.accepted for commit in holders.values()):
            figures.reported_failed_present += 1
        elif status in UNCERTAIN:
            if holders:
                figures.uncertain_committed += 1
            else:
                figures.uncertain_absent += 1
    report.classes = dict(sorted(report.classes.items(), key=lambda item: _rank(item[0])))
    return report


def _rank(slug: str) -> int:
    """Classes in the order the rest of the report lists them (highest CoS value first)."""
    try:
        return -int(ServiceClass.from_slug(slug))
    except ValueError:
        return 1


def _divergence(chains: list[NodeChain]) -> str:
    """The first sequence where the chains differ, or where one skips a commit."""
    for chain in chains:
        for offset, commit in enumerate(chain.commits):
            if commit.sequence != chain.after + offset + 1:
                return f"{chain.node}'s chain holds commit {commit.sequence} after {chain.after + offset}: a gap"
    if not chains:
        return ""
    # Dense from here: the commit of sequence s in a chain is at s - after - 1.
    start = max(chain.after for chain in chains)
    through = min(chain.last_sequence for chain in chains)
    for sequence in range(start + 1, through + 1):
        row = [(chain.node, chain.commits[sequence - chain.after - 1]) for chain in chains]
        if len({(c.tx_id, c.accepted, c.result_digest) for _, c in row}) > 1:
            return f"at sequence {sequence}: " + "; ".join(f"{node} holds {commit.tx_id}" for node, commit in row)
    return ""
