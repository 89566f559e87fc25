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
    arguments: dict[str, Any] | list[Any] = field(default_factory=dict)
    """The operation's arguments: by name, or (an Ethereum contract function's) in order."""
    read_only: bool | None = None
    """Caliper's ``readOnly``: an Ethereum ``view`` function is asked with ``eth_call`` unless this is
    False (then it is a transaction, which waits its turn in a block); None: as its ABI says."""


@dataclass(slots=True)
class Outcome:
    tx_id: str
    status: str
    cos_given: int = -1
    execution_nodes: tuple[str, ...] = ()
    reason: str = ""
    block_height: int = 0
    ref: str = ""
    """The system's own name for the transaction where it has one (an Ethereum transaction's
    hash): the records keep it, so the audit can find the transaction on the chain."""


OutcomeCallback = Callable[[Outcome], None]


class Connector(abc.ABC):
    """One connection from one worker to the system under test. ``timeout_s`` is how long the
    engine waits for each transaction's outcome (the round's ``timeout``): a system that can be
    told may stop working on what its sender gave up on."""

    def __init__(self, endpoint: str, tls: TlsFiles | None = None, timeout_s: float | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self.endpoint = endpoint
        self.tls = tls
        self.timeout_s = timeout_s
        self.options = options or {}
        """What :meth:`prepare_run` gave every worker, with ``worker_index`` and the round's ``mix``
        (its CoS bytes, in the benchmark's order)."""

    @classmethod
    def prepare_run(cls, endpoints: list[str], config: Any, mixes: list[list[int]], workers: int,
                    note: Callable[[str], None]) -> dict[str, Any]:
        """Once per run, on the controller, before the first round (Caliper's init and install):
        readies the system for the workers (deploys contracts) from ``config`` (what the user
        gave besides the benchmark: an Ethereum network file) and returns what every worker's
        connector is given as ``options`` (plain data); ``mixes`` are the rounds' CoS mixes.
        ``note`` tells the user what it does."""
        return {}

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

    def ref_of(self, tx_id: str) -> str:
        """The system's own name for a transaction the engine gives up on (a timeout), where the
        connector knows one (an Ethereum hash, known from signing): the audit looks for it."""
        return ""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Close the connection; outcomes that have not arrived are abandoned."""
