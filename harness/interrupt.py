"""SIGINT and SIGTERM for the CLI: the first one stops the work cleanly, a second one at once.

:func:`install` makes both signals request a stop. Code that watches for the request itself
(a round waiting for its workers, an Ansible run through its cancel callback) runs inside
:func:`polled`; anywhere else the first signal raises :class:`Interrupted` in the main thread,
as Python's own ^C raises KeyboardInterrupt. Either way the caller's ``finally`` blocks get to
complete what they were writing and take down what they started. A second signal means "now":
inside :func:`polled` the pollers see :func:`aborted` and give up their cleanup; anywhere else
the process exits at once.

Without :func:`install` (the library used from a script) nothing changes: requests are never
made, and ^C is Python's KeyboardInterrupt.
"""
from __future__ import annotations

import contextlib
import os
import signal
from types import FrameType
from typing import Iterator

from protocol.errors import signal_exit_code


class Interrupted(BaseException):
    """The run was asked to stop by a signal. A BaseException, like KeyboardInterrupt, so that
    ``except Exception`` on the way out does not swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return signal_exit_code(self.signum)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    def __str__(self) -> str:
        return f"stopped by {self.name}"


# Only the main thread touches these: signal handlers run there, and so does the code that
# enters polled() (a lock would deadlock a handler that interrupts its holder).
_first: int | None = None
_second = False
_polled_depth = 0


def install() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _handle)


def _handle(signum: int, frame: FrameType | None) -> None:
    global _first, _second
    if _first is None:
        _first = signum
        if _polled_depth == 0:
            raise Interrupted(signum)
        return
    _second = True
    if _polled_depth == 0:
        os._exit(signal_exit_code(_first))


def requested() -> bool:
    """Whether a signal asked the work to stop."""
    return _first is not None


def aborted() -> bool:
    """Whether a second signal asked to skip whatever cleanup is left."""
    return _second


def check() -> None:
    """Raises :class:`Interrupted` when a stop was requested (for code that polls)."""
    if _first is not None:
        raise Interrupted(_first)


@contextlib.contextmanager
def polled() -> Iterator[None]:
    """Within this block, signals only set the flags: the code here watches them itself."""
    global _polled_depth
    _polled_depth += 1
    try:
        yield
    finally:
        _polled_depth -= 1


def reset() -> None:
    """Forgets a request (tests that run several commands in one process)."""
    global _first, _second
    _first, _second = None, False
