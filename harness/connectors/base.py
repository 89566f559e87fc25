"""The interface a system's connector implements.

The engine owns timing: it calls :meth:`Connector.submit` at each transaction's intended send
time, and the connector reports every transaction's end through the ``on_outcome`` callback it
was started with. ``submit`` must not block: a connector queues and sends asynchronously, so a
slow system shows up as latency, never as a generator that silently sends late.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable

from protocol.tls import TlsFiles

# Outcome statuses; "timeout" is decided by the engine, not by connectors. "unknown" is what the
# system said when it could not tell yet (vdlt: committed to the log, not yet in enough chains):
# not confirmed, but not a failure that happened either; the run's audit tells which it became.
CONFIRMED = "confirmed"
REJECTED = "rejected"
DROPPED = "dropped"
ERROR = "error"
TIMEOUT = "timeout"
UNKNOWN = "unknown"
FAILURE_REASONS = (REJECTED, DROPPED, TIMEOUT, ERROR, UNKNOWN)


@dataclass(frozen=True)
class Request:
    """What a workload module asks to send; the engine adds the id, the CoS byte and the timing."""

    contract: str
    operation: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    tx_id: str
    status: str
    cos_given: int = -1
    execution_nodes: tuple[str, ...] = ()
    reason: str = ""
    block_height: int = 0


OutcomeCallback = Callable[[Outcome], None]


class Connector(abc.ABC):
    """One connection from one worker to the system under test. ``timeout_s`` is how long the
    engine waits for each transaction's outcome (the round's ``timeout``): a system that can be
    told may stop working on what its sender gave up on."""

    def __init__(self, endpoint: str, tls: TlsFiles | None = None, timeout_s: float | None = None) -> None:
        self.endpoint = endpoint
        self.tls = tls
        self.timeout_s = timeout_s

    @abc.abstractmethod
    async def start(self, on_outcome: OutcomeCallback) -> None:
        """Connect; afterwards every submitted transaction ends in exactly one on_outcome call,
        unless the engine gives up on it first (a timeout)."""

    lookahead: int = 0
    """How many transactions ahead of their send time the engine hands to :meth:`prepare`."""

    def prepare(self, tx_id: str, cos: int, source: str, request: Request) -> None:
        """Called before ``tx_id`` is due, in send order, while the worker would otherwise wait:
        work done here (signing) is off the hot path. :meth:`submit` follows at its time."""

    @abc.abstractmethod
    def submit(self, tx_id: str, cos: int, source: str, request: Request) -> None:
        """Queue one transaction for sending; never blocks."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Close the connection; outcomes that have not arrived are abandoned."""
