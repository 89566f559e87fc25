"""Saturation search: the highest offered rate at which each class of service still meets its SLO.

The round's CoS mix stays fixed; only the total offered rate moves. After ``warmUp`` seconds at
``startTps`` that are not judged, each step is a fixed-rate
sub-round of the round's ``txDuration`` (recorded in the run folder like any round), judged per
class against the round's SLO, and against the generator: a step where the load generator fell
behind schedule says nothing about the system, so the search goes no higher.

1. **Up**: from ``startTps``, multiply the rate by ``stepFactor`` until every class has missed
   its SLO, the generator fell behind, or ``maxTps`` was measured.
2. **Bisect**: each class now has a bracket, the highest rate it met below the lowest rate it
   missed. The midpoint of a bracket is measured and every class whose bracket holds that rate
   narrows its own (so classes with the same bracket share steps), ``bisections`` times per class.

A class's saturation is the lower end of its bracket: a rate that was measured meeting the SLO,
never an interpolation. :class:`SaturationSearch` is the synchronous core (it says which rate to
measure next and takes each verdict); the run (:mod:`harness.run.runner`) measures.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.config.benchmark import SaturationSpec
from harness.store.saturation import BELOW_START, GENERATOR, NOT_REACHED, REACHED, SearchStep

UP, BISECT, WARM_UP = "up", "bisect", "warm-up"


@dataclass
class _Bracket:
    met_tps: float | None = None
    met_round: int | None = None
    missed_tps: float | None = None
    bisections: int = 0
    generator: bool = False
    """The generator fell behind at ``missed_tps``: the class did not miss, the generator did."""

    def holds(self, rate: float) -> bool:
        return (self.met_tps or 0.0) < rate < (self.missed_tps if self.missed_tps is not None else float("inf"))


@dataclass
class SaturationSearch:
    spec: SaturationSpec
    classes: list[str]
    steps: list[SearchStep] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._brackets = {slug: _Bracket() for slug in self.classes}
        self._climbing = True
        self._next_up: float | None = self.spec.start_tps

    def next_step(self) -> tuple[float, str] | None:
        """The next offered rate to measure and the phase it belongs to; None when done."""
        if len(self.steps) >= self.spec.max_steps:
            return None
        if self._climbing and self._next_up is not None:
            return self._next_up, UP
        for bracket in self._brackets.values():
            if (bracket.met_tps is not None and bracket.missed_tps is not None and not bracket.generator
                    and bracket.bisections < self.spec.bisections):
                middle = _midpoint(bracket.met_tps, bracket.missed_tps)
                if bracket.holds(middle):
                    return middle, BISECT
                bracket.bisections = self.spec.bisections  # narrower than the rates can tell apart
        return None

    def record(self, offered_tps: float, phase: str, met: dict[str, bool], generator_kept_up: bool,
               round_index: int) -> None:
        """The verdicts of the step at ``offered_tps`` (its sub-round is ``round_index``)."""
        self.steps.append(SearchStep(round_index, offered_tps, phase, dict(met), generator_kept_up))
        for slug, bracket in self._brackets.items():
            if phase == BISECT and not bracket.holds(offered_tps):
                continue
            if phase == BISECT:
                bracket.bisections += 1
            if not generator_kept_up:
                if bracket.missed_tps is None or offered_tps < bracket.missed_tps:
                    bracket.missed_tps, bracket.generator = offered_tps, True
            elif met.get(slug, False):
                if bracket.missed_tps is None or offered_tps < bracket.missed_tps:
                    if bracket.met_tps is None or offered_tps > bracket.met_tps:
                        bracket.met_tps, bracket.met_round = offered_tps, round_index
            elif bracket.missed_tps is None or offered_tps < bracket.missed_tps:
                bracket.missed_tps, bracket.generator = offered_tps, False
        if phase == UP:
            self._climb_from(offered_tps, generator_kept_up)

    def _climb_from(self, rate: float, generator_kept_up: bool) -> None:
        every_class_missed = all(b.missed_tps is not None for b in self._brackets.values())
        if not generator_kept_up or every_class_missed or rate >= self.spec.max_tps:
            self._climbing = False
            return
        self._next_up = min(rate * self.spec.step_factor, self.spec.max_tps)

    def outcome(self) -> dict[str, tuple[float | None, str, float | None, int | None]]:
        """Per class: (saturation_tps, bound, limit_tps, round_index of the saturation step)."""
        result = {}
        for slug, bracket in self._brackets.items():
            if bracket.met_tps is None:
                bound = GENERATOR if bracket.generator else BELOW_START
            elif bracket.missed_tps is None:
                bound = NOT_REACHED
            else:
                bound = GENERATOR if bracket.generator else REACHED
            result[slug] = (bracket.met_tps, bound, bracket.missed_tps, bracket.met_round)
        return result


def _midpoint(low: float, high: float) -> float:
    # Rates are offered in whole transactions per second: a bracket narrower than that is done.
    return round((low + high) / 2, 1)
