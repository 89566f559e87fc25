"""Hash-chained block log on disk, and the committed state it produces.

One JSON document per line in ``blocks.jsonl``. A block's hash covers its header (height,
previous hash, transaction root, state digest, time); the transaction root is a Merkle root
over the transactions' digests, and each transaction carries its commit sequence number and
write set, so a restarted node rebuilds its state by replaying the writes and resumes the chain
where it stopped. Every key's version is the sequence number of the commit that last wrote it.

A chain holds one history: its commits' sequences run 1, 2, 3, ... without a gap, and a
transaction id appears once. :func:`verify_chain` checks that and everything that chains the
blocks; :func:`compare_chains` names the first sequence at which two nodes' chains differ.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import os
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

from protocol.errors import HarnessError

GENESIS_HASH = "0" * 64
FsyncPolicy = Literal["always", "never"]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def merkle_root(leaves: list[str]) -> str:
    """Binary Merkle root over hex digests; the last leaf of an odd level is paired with itself.

    As in Bitcoin, a block whose last transaction is repeated has the same root (CVE-2012-2459):
    :func:`verify_chain` refuses a transaction id that appears twice, which such a block holds."""
    if not leaves:
        return sha256_hex("")
    level = leaves
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, level[-1]]
        level = [sha256_hex(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


@dataclass
class BlockTransaction:
    id: str
    sequence: int
    cos: int
    contract: str
    operation: str
    arguments_json: str
    accepted: bool
    result_digest: str
    writes: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        return sha256_hex(canonical_json(self.__dict__))


@dataclass
class Block:
    height: int
    previous_hash: str
    transaction_root: str
    state_digest: str
    time_ns: int
    transactions: list[BlockTransaction]
    hash: str = ""

    def header_hash(self) -> str:
        header = [self.height, self.previous_hash, self.transaction_root, self.state_digest, self.time_ns]
        return sha256_hex(canonical_json(header))

    def to_json(self) -> str:
        body = dict(self.__dict__)
        body["transactions"] = [t.__dict__ for t in self.transactions]
        return canonical_json(body)

    @classmethod
    def from_json(cls, line: str) -> Block:
        body = json.loads(line)
        body["transactions"] = [BlockTransaction(**t) for t in body["transactions"]]
        return cls(**body)


def commit_key(tx_id: str, accepted: bool, result_digest: str) -> int:
    """A 64-bit digest of what a commit is (which transaction, and the result agreed)."""
    digest = hashlib.sha256(f"{tx_id}\0{int(accepted)}\0{result_digest}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def next_state_digest(previous: str, transactions: list[BlockTransaction]) -> str:
    """The state digest after a block: it follows from the one before and the block's writes."""
    return sha256_hex(previous + canonical_json([[t.id, t.writes] for t in transactions]))


def _torn(line: bytes) -> bool:
    """A line that is no JSON document at all: a write cut short (JSON of the wrong shape is not)."""
    if not line.endswith(b"\n"):
        return True
    try:
        json.loads(line)
    except ValueError:
        return True
    return False


class LedgerError(HarnessError):
    pass


@dataclass
class VerifyReport:
    path: Path
    blocks: int
    first_bad_height: int | None = None
    problem: str = ""
    last_sequence: int = 0

    @property
    def ok(self) -> bool:
        return self.first_bad_height is None


class BlockLog:
    """Appends blocks and keeps the contract state they produce in memory."""

    def __init__(self, directory: Path, fsync: FsyncPolicy = "always") -> None:
        self.path = Path(directory) / "blocks.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.height = 0
        self.head_hash = GENESIS_HASH
        self.state_digest = sha256_hex("")
        self.last_sequence = 0
        # "<contract>/<key>" -> value, and -> sequence of the commit that wrote it
        self.values: dict[str, Any] = {}
        self.versions: dict[str, int] = {}
        # Per block: the last commit sequence in it and where it starts in the file, so the
        # commits after a sequence are read from there, not from the start of a long chain.
        self._block_last_sequence = array("q")
        self._block_offset = array("q")
        # A short digest of each commit, by sequence (commit s at [s - 1]): a commit sent again
        # is told from a different one at the same sequence without reading the chain back.
        self._commit_keys = array("q")
        self._size = 0
        self._resume()
        self._file = open(self.path, "ab")

    def _resume(self) -> None:
        if not self.path.exists():
            return
        good_bytes = 0
        with open(self.path, "rb") as handle:
            lines = handle.readlines()
        for line_number, raw in enumerate(lines, start=1):
            last = line_number == len(lines)
            if last and _torn(raw):
                break  # a write a crash cut short (whatever its last byte): the block never completed
            try:
                block = Block.from_json(raw.decode())
            except (ValueError, TypeError, KeyError) as error:
                raise LedgerError(
                    f"{self.path}: line {line_number}: not a block this version can read ({error}); a chain "
                    "written by another version of vdlt-harness cannot be resumed: move it away to start anew"
                ) from error
            problem = _check_block(block, self.height + 1, self.head_hash) or self._check_sequences(block)
            if problem:
                raise LedgerError(f"{self.path}: block {block.height}: {problem}")
            self._apply(block)
            self._index(good_bytes)
            good_bytes += len(raw)
        if good_bytes != self.path.stat().st_size:
            with open(self.path, "r+b") as handle:
                handle.truncate(good_bytes)
        self._size = good_bytes

    def _index(self, offset: int) -> None:
        self._block_last_sequence.append(self.last_sequence)
        self._block_offset.append(offset)

    def _apply(self, block: Block) -> None:
        self._apply_writes(block.transactions)
        self.height = block.height
        self.head_hash = block.hash
        self.state_digest = block.state_digest

    def _check_sequences(self, block: Block) -> str:
        expected = self.last_sequence + 1
        for tx in block.transactions:
            if tx.sequence != expected:
                return f"transaction {tx.id} has sequence {tx.sequence}, expected {expected} (a gap or a repeat)"
            expected += 1
        return ""

    def _apply_writes(self, transactions: list[BlockTransaction]) -> None:
        for tx in transactions:
            for key, value in tx.writes.items():
                self.values[key] = value
                self.versions[key] = tx.sequence
            self.last_sequence = max(self.last_sequence, tx.sequence)
            self._commit_keys.append(commit_key(tx.id, tx.accepted, tx.result_digest))

    def commit_key_at(self, sequence: int) -> int | None:
        """The short digest of the commit at ``sequence`` in this chain, None beyond its end."""
        return self._commit_keys[sequence - 1] if 0 < sequence <= len(self._commit_keys) else None

    def append(self, transactions: list[BlockTransaction]) -> Block:
        """Appends a block of commits that follow the chain's last in sequence."""
        state_digest = next_state_digest(self.state_digest, transactions)
        block = Block(
            height=self.height + 1,
            previous_hash=self.head_hash,
            transaction_root=merkle_root([t.digest() for t in transactions]),
            state_digest=state_digest,
            time_ns=time.time_ns(),
            transactions=transactions,
        )
        block.hash = block.header_hash()
        line = (block.to_json() + "\n").encode()
        self._file.write(line)
        self._file.flush()
        if self.fsync == "always":
            os.fsync(self._file.fileno())
        self._apply_writes(transactions)
        self.height = block.height
        self.head_hash = block.hash
        self.state_digest = state_digest
        self._index(self._size)
        self._size += len(line)
        return block

    def committed_between(self, after_sequence: int, through_sequence: int) -> Iterator[BlockTransaction]:
        """The committed transactions with after < sequence <= through, read back from disk
        from the first block that holds any of them."""
        first = bisect.bisect_right(self._block_last_sequence, after_sequence)
        if first == len(self._block_offset):
            return
        for block in iter_blocks(self.path, self._block_offset[first]):
            for tx in block.transactions:
                if tx.sequence > through_sequence:
                    return
                if tx.sequence > after_sequence:
                    yield tx

    def close(self) -> None:
        self._file.close()


def _check_block(block: Block, expected_height: int, expected_previous: str) -> str:
    if block.height != expected_height:
        return f"height is {block.height}, expected {expected_height}"
    if block.previous_hash != expected_previous:
        return "previous hash does not match the block before it"
    if block.transaction_root != merkle_root([t.digest() for t in block.transactions]):
        return "transaction root does not match its transactions"
    if block.hash != block.header_hash():
        return "block hash does not match its header"
    return ""


def iter_blocks(path: Path, offset: int = 0) -> Iterator[Block]:
    """The complete blocks of a log, from the block that starts at byte ``offset``."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        for line in handle:
            if line.endswith(b"\n"):
                yield Block.from_json(line.decode())


def find_chain(path: Path) -> Path | None:
    """A node's blocks.jsonl, given it, its ledger directory or its data directory."""
    for candidate in (path / "ledger" / "blocks.jsonl", path / "blocks.jsonl", path):
        if candidate.is_file():
            return candidate
    return None


def verify_chain(path: Path) -> VerifyReport:
    """Checks every block of a log and names the first bad one: heights and hashes chained,
    transaction roots and state digests that follow from the transactions, sequences 1, 2, 3, ...
    with no gap or repeat, no transaction id twice, and no block cut short at the end."""
    path = Path(path)
    if path.is_dir():
        path = path / "blocks.jsonl"
    report = VerifyReport(path=path, blocks=0)
    previous, state, sequence = GENESIS_HASH, sha256_hex(""), 0
    seen: set[str] = set()

    def bad(problem: str) -> VerifyReport:
        report.first_bad_height, report.problem = report.blocks + 1, problem
        return report

    with open(path, "rb") as handle:
        lines = handle.readlines()
    for number, raw in enumerate(lines, start=1):
        if _torn(raw):
            return bad(f"line {number} is cut short ({len(raw)} bytes of a block that was never completed)"
                       if number == len(lines) else f"line {number} is not a block")
        try:
            block = Block.from_json(raw.decode())
        except (ValueError, TypeError, KeyError) as error:
            return bad(f"unreadable block: {error}")
        problem = _check_block(block, report.blocks + 1, previous)
        if problem:
            return bad(problem)
        state = next_state_digest(state, block.transactions)
        if block.state_digest != state:
            return bad("state digest does not follow from the writes of this block and those before it")
        for tx in block.transactions:
            if tx.sequence != sequence + 1:
                return bad(f"transaction {tx.id} has sequence {tx.sequence}, expected {sequence + 1} "
                           f"({'a gap' if tx.sequence > sequence + 1 else 'not increasing'})")
            if tx.id in seen:
                return bad(f"transaction {tx.id} appears twice in the chain")
            seen.add(tx.id)
            sequence = tx.sequence
        report.blocks += 1
        report.last_sequence = sequence
        previous = block.hash
    return report


@dataclass
class Comparison:
    paths: list[Path]
    common_through: int
    """Every chain has commits through this sequence, and they are the same in all."""
    lengths: dict[Path, int]
    divergence: str = ""
    """The first sequence at which the chains hold different commits, and what each holds."""

    @property
    def ok(self) -> bool:
        return not self.divergence


def chain_commits(path: Path) -> Iterator[BlockTransaction]:
    """A chain's committed transactions in order, read from its blocks."""
    for block in iter_blocks(path):
        yield from block.transactions


def compare_chains(paths: list[Path]) -> Comparison:
    """Whether the chains agree at every sequence they all hold (they are prefixes of one history)."""
    paths = [p / "blocks.jsonl" if p.is_dir() else p for p in (Path(p) for p in paths)]
    readers = [chain_commits(p) for p in paths]
    through = 0
    while True:
        row = [next(reader, None) for reader in readers]
        if any(tx is None for tx in row):
            return Comparison(paths, through, {p: _last_sequence(p) for p in paths})
        if len({(tx.sequence, tx.id, tx.accepted, tx.result_digest) for tx in row}) > 1:
            held = "; ".join(f"{_node_of(path)} holds {tx.id} at {tx.sequence}" for path, tx in zip(paths, row))
            return Comparison(paths, through, {p: _last_sequence(p) for p in paths},
                              f"the chains differ at sequence {through + 1}: {held}")
        through += 1


def _node_of(path: Path) -> str:
    """A chain's node, as its path names it (<node>/ledger/blocks.jsonl)."""
    return path.parent.parent.name if path.parent.name == "ledger" else str(path)


def _last_sequence(path: Path) -> int:
    last = 0
    for tx in chain_commits(path):
        last = tx.sequence
    return last


def replay_state(path: Path) -> dict[str, Any]:
    """The committed state a chain produces, independent of how its blocks were cut."""
    path = Path(path)
    if path.is_dir():
        path = path / "blocks.jsonl"
    values: dict[str, Any] = {}
    for block in iter_blocks(path):
        for tx in block.transactions:
            values.update(tx.writes)
    return values
