"""The control node's log of every commit it has sequenced: on disk before any execution node sees it.

The log is what the control node's promises rest on:

- sequence numbers are dense and never reused: the next is the log's last plus one, after a
  restart as before it (a node can tell a gap in its chain from the numbering);
- an execution node that is behind, for however long and across restarts of the control node,
  gets what it missed from here, never from another node's chain that may have the same hole;
- a transaction id is applied at most once: the ids of the log's recent commits are known again
  after a restart.

Records are appended to ``commits.log`` as a 4-byte length and a serialized ``Commit``, a batch at
a time, and synced to disk (``fsync``) before the batch is released to the execution nodes. A
record cut short by a crash is dropped at the next start, and it was never sent. A log that
starts anywhere but at sequence 1, or skips a sequence, is refused: it is not this control node's.
"""
from __future__ import annotations

import os
import struct
from array import array
from pathlib import Path
from typing import Iterator

from protocol import ledger_pb2
from protocol.errors import HarnessError

LOG_FILE = "commits.log"
_LENGTH = struct.Struct(">I")


class CommitLogError(HarnessError):
    pass


class CommitLog:
    def __init__(self, directory: Path, sync: bool = True) -> None:
        self.path = Path(directory) / LOG_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sync = sync
        # File offset of each record: the record of sequence s is at _offsets[s - 1].
        self._offsets = array("q")
        self._size = self._resume()
        self._file = open(self.path, "ab")
        if sync:
            _sync_directory(self.path.parent)  # the file itself exists for good once created

    @property
    def last_sequence(self) -> int:
        return len(self._offsets)

    def _resume(self) -> int:
        if not self.path.exists():
            return 0
        size = self.path.stat().st_size
        good = 0
        with open(self.path, "rb") as handle:
            while True:
                header = handle.read(_LENGTH.size)
                if len(header) < _LENGTH.size:
                    break
                (length,) = _LENGTH.unpack(header)
                body = handle.read(length)
                if len(body) < length:
                    break  # cut short by a crash: it was never released
                commit = ledger_pb2.Commit.FromString(body)
                if commit.sequence != self.last_sequence + 1:
                    raise CommitLogError(f"{self.path}: record at byte {good} holds sequence {commit.sequence}, "
                                         f"expected {self.last_sequence + 1}: not this control node's log")
                self._offsets.append(good)
                good += _LENGTH.size + length
        if good != size:
            with open(self.path, "r+b") as handle:
                handle.truncate(good)
        return good

    def append(self, commits: list[ledger_pb2.Commit]) -> None:
        """Appends commits that follow the log's last in sequence, durably when ``sync``."""
        chunks = []
        offset = self._size
        for commit in commits:
            if commit.sequence != self.last_sequence + 1 + len(chunks):
                raise CommitLogError(f"commit {commit.sequence} does not follow commit "
                                     f"{self.last_sequence + len(chunks)} in {self.path}")
            body = commit.SerializeToString()
            chunks.append(_LENGTH.pack(len(body)) + body)
        self._file.write(b"".join(chunks))
        self._file.flush()
        if self.sync:
            os.fsync(self._file.fileno())
        for chunk in chunks:
            self._offsets.append(offset)
            offset += len(chunk)
        self._size = offset

    def read(self, after: int, through: int | None = None) -> Iterator[ledger_pb2.Commit]:
        """The commits after sequence ``after`` through ``through`` (the last by default)."""
        through = self.last_sequence if through is None else min(through, self.last_sequence)
        if through <= after:
            return
        with open(self.path, "rb") as handle:
            handle.seek(self._offsets[after])
            for _ in range(through - after):
                (length,) = _LENGTH.unpack(handle.read(_LENGTH.size))
                yield ledger_pb2.Commit.FromString(handle.read(length))

    def close(self) -> None:
        self._file.close()


def _sync_directory(directory: Path) -> None:
    """A new file's name is durable only once its directory is synced."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
