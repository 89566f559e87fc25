"""Trust as reputation earned by behaviour: beta reputation with forgetting.

Evidence of success (agreeing with the quorum, answering in time) and of failure (dissenting,
timing out, being unreachable) decays exponentially with a configurable half-life, and the
score is the expected value of the beta distribution: E = (s + 1) / (s + f + 2), 0.5 with no
evidence.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

Clock = Callable[[], float]


@dataclass
class Reputation:
    half_life_s: float
    clock: Clock = time.monotonic
    success: float = 0.0
    failure: float = 0.0
    agreements: int = 0
    dissents: int = 0
    timeouts: int = 0
    updated: float = field(default=-1.0)

    def _decay(self) -> None:
        now = self.clock()
        if self.updated >= 0:
            factor = 0.5 ** ((now - self.updated) / self.half_life_s)
            self.success *= factor
            self.failure *= factor
        self.updated = now

    def record_success(self, weight: float = 1.0) -> None:
        self._decay()
        self.success += weight

    def record_failure(self, weight: float = 1.0) -> None:
        self._decay()
        self.failure += weight

    def agreed(self) -> None:
        self.agreements += 1
        self.record_success()

    def dissented(self) -> None:
        self.dissents += 1
        self.record_failure()

    def timed_out(self) -> None:
        self.timeouts += 1
        self.record_failure()

    @property
    def score(self) -> float:
        self._decay()
        return (self.success + 1.0) / (self.success + self.failure + 2.0)


class TrustBook:
    """Reputations by name (execution nodes, or transaction sources)."""

    def __init__(self, half_life_s: float, clock: Clock = time.monotonic) -> None:
        self.half_life_s = half_life_s
        self.clock = clock
        self.entries: dict[str, Reputation] = {}

    def __getitem__(self, name: str) -> Reputation:
        entry = self.entries.get(name)
        if entry is None:
            entry = self.entries[name] = Reputation(self.half_life_s, self.clock)
        return entry

    def score(self, name: str) -> float:
        entry = self.entries.get(name)
        return entry.score if entry is not None else 0.5
