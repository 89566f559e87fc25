"""A run's per-transaction records: ``transactions/round-R-worker-W.csv.gz``, written and read.

A worker writes its records while the round runs: at most every second, the transactions
decided since the last write become one gzip member appended to the file and synced to disk
(concatenated members are one valid gzip file). A SIGKILL of the harness or a power cut loses
at most the member being written, and the reader stops at a member cut short, keeping every
complete line before it. Rows are in the order transactions were decided; those still undecided
when the worker ended come last, with an empty status.

Plain Python and zlib only: client nodes write these files too, and they have no histogram
library.
"""
from __future__ import annotations

import csv
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

RECORD_COLUMNS = ("tx_id", "worker", "cos_asked", "class_asked", "cos_given", "class_given",
                  "intended_ns", "sent_ns", "decided_ns", "status", "execution_nodes", "reason", "trimmed",
                  "block_height", "ref")
TRANSACTIONS_DIR = "transactions"
_GZIP = 31  # zlib's window bits for the gzip container
_COMPRESS_LEVEL = 3
_READ_BLOCK = 1 << 20


def worker_file(records_dir: Path, round_index: int, worker_index: int) -> Path:
    return records_dir / f"round-{round_index}-worker-{worker_index}.csv.gz"


def round_files(run_dir: Path, round_index: int) -> list[Path]:
    return sorted((run_dir / TRANSACTIONS_DIR).glob(f"round-{round_index}-worker-*.csv.gz"))


class RecordWriter:
    """Writes a new records file one gzip member at a time: :meth:`add` compresses rows into
    the member being made (call it in slices, so no slice holds the caller long), and
    :meth:`end_member` appends the member to the file and syncs it to disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)  # the file is this writer's from the start
        self._compressor: zlib._Compress | None = None
        self._pending: list[bytes] = []
        self._header_written = False

    def add(self, lines: str) -> None:
        """``lines``: CSV rows of :data:`RECORD_COLUMNS`, each ending in a newline."""
        if self._compressor is None:
            self._compressor = zlib.compressobj(_COMPRESS_LEVEL, zlib.DEFLATED, _GZIP)
        if not self._header_written:
            self._pending.append(self._compressor.compress((",".join(RECORD_COLUMNS) + "\n").encode()))
            self._header_written = True
        self._pending.append(self._compressor.compress(lines.encode()))

    def end_member(self) -> None:
        if self._compressor is None:
            return
        self._pending.append(self._compressor.flush())
        data, self._pending, self._compressor = b"".join(self._pending), [], None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())


def csv_text(text: str) -> str:
    """A free-text field (a reason) as one CSV field on one line: quoted where it holds a comma
    or a quote, its line breaks made spaces (the records hold one transaction per line)."""
    if "\n" in text or "\r" in text:
        text = text.replace("\r", "").replace("\n", " ")
    if "," in text or '"' in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _lines(path: Path) -> Iterator[str]:
    """The complete lines of a records file, member after member, up to a member cut short or
    damaged (a crash while it was written)."""
    decompressor = zlib.decompressobj(_GZIP)
    partial = b""
    with open(path, "rb") as handle:
        while block := handle.read(_READ_BLOCK):
            data = block
            while data:
                try:
                    partial += decompressor.decompress(data)
                except zlib.error:
                    return
                *lines, partial = partial.split(b"\n")
                for line in lines:
                    yield line.decode() + "\n"  # kept: a quoted field of an older file may span lines
                if decompressor.eof:
                    data = decompressor.unused_data
                    decompressor = zlib.decompressobj(_GZIP)
                else:
                    data = b""


def iter_rows(path: Path) -> Iterator[dict[str, str]]:
    """A records file's rows by column name (a file with no complete header yields nothing)."""
    return _until_torn(csv.DictReader(_lines(path)))


def _until_torn(rows: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from rows
    except csv.Error:  # a quoted field cut off by the end of what was written
        return


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
    block_height: int = 0
    """The block its receipt named (0: none, or a folder from before it was recorded)."""
    ref: str = ""
    """The system's own name for it (an Ethereum transaction hash); empty for vdlt."""

    @property
    def latency_ms(self) -> float:
        return (self.decided_ns - self.intended_ns) / 1e6


def read_records(paths: Iterable[Path]) -> list[TxRecord]:
    return list(iter_records(paths))


def iter_records(paths: Iterable[Path]) -> Iterator[TxRecord]:
    """The records one at a time, so a long round's need not all be in memory at once."""
    for path in paths:
        for row in iter_rows(path):
            yield TxRecord(
                tx_id=row["tx_id"], worker=int(row["worker"]), class_asked=row["class_asked"],
                class_given=row["class_given"], cos_asked=int(row["cos_asked"]), cos_given=int(row["cos_given"]),
                intended_ns=int(row["intended_ns"]), sent_ns=int(row["sent_ns"]),
                decided_ns=int(row["decided_ns"]), status=row["status"],
                execution_nodes=row["execution_nodes"], reason=row["reason"],
                trimmed=row.get("trimmed", "0") == "1",
                block_height=int(row.get("block_height") or 0), ref=row.get("ref") or "",
            )


def round_records(run_dir: Path, round_index: int) -> list[TxRecord]:
    return read_records(round_files(run_dir, round_index))


def iter_table(path: Path) -> tuple[dict[str, int], Iterator[list[str]]]:
    """A records file as its columns (name -> index) and its rows as lists: the fast path for
    readers that touch every row (an export)."""
    reader = _until_torn(csv.reader(_lines(path)))
    header = next(reader, None)
    return {name: i for i, name in enumerate(header or ())}, reader
