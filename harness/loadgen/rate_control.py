"""Rate controllers under Hyperledger Caliper's names.

A controller is open loop: it says *when* each of a worker's transactions is meant to be sent,
as an offset in seconds from the round's start. Latency is measured from that intended instant,
so a generator that falls behind shows as lag and latency instead of silently sending later.

Rates in a benchmark are totals across all workers (as in Caliper); each worker gets its share,
and worker ``w`` of ``W`` sends the transactions ``w, w+W, w+2W, ...`` of the total schedule, so
the workers together follow the asked schedule exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol


class RateController(Protocol):
    def intended_offset(self, index: int) -> float:
        """Seconds from round start at which this worker's ``index``-th transaction is due."""


@dataclass(frozen=True)
class OptionSpec:
    name: str
    kind: type | tuple[type, ...]
    required: bool = True
    minimum_exclusive: float | None = None
    default: Any = None


@dataclass(frozen=True)
class ControllerSpec:
    name: str
    options: tuple[OptionSpec, ...]
    build: Callable[[dict[str, Any], int, int], RateController]


class FixedRate:
    def __init__(self, tps: float, worker_index: int, worker_count: int) -> None:
        self.interval = 1.0 / tps
        self.worker_index = worker_index
        self.worker_count = worker_count

    def intended_offset(self, index: int) -> float:
        return (index * self.worker_count + self.worker_index) * self.interval


CONTROLLERS: dict[str, ControllerSpec] = {
    "fixed-rate": ControllerSpec(
        "fixed-rate",
        (OptionSpec("tps", (int, float), minimum_exclusive=0),),
        lambda opts, w, n: FixedRate(float(opts["tps"]), w, n),
    ),
}


def build_controller(type_name: str, opts: dict[str, Any], worker_index: int, worker_count: int) -> RateController:
    return CONTROLLERS[type_name].build(opts, worker_index, worker_count)
