"""What a saturation search found, as ``summary.json`` keeps it (``saturation``, one per search round).

The search itself is :mod:`harness.run.saturation`; these are its figures, typed, so the store,
the reports, the export and campaigns read them without importing the run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REACHED, NOT_REACHED, BELOW_START, GENERATOR = "reached", "not reached", "below start", "generator"
"""How a class's saturation is bounded: it met its SLO at ``saturation_tps`` and missed it at
``limit_tps``; it met it up to the search's maxTps (saturation is higher); it missed it at the
first step already; the generator fell behind before the class missed its SLO (the figure is the
generator's, not the system's)."""


@dataclass(frozen=True)
class SearchStep:
    round_index: int
    """The sub-round (``rounds[]`` entry with this index) that measured the step."""
    offered_tps: float
    phase: str
    """``up`` (stepping up) or ``bisect``."""
    met: dict[str, bool]
    """Per class: met its SLO at this rate."""
    generator_kept_up: bool

    def to_json(self) -> dict[str, Any]:
        return {"round_index": self.round_index, "offered_tps": self.offered_tps, "phase": self.phase,
                "met": dict(self.met), "generator_kept_up": self.generator_kept_up}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchStep:
        return cls(data["round_index"], data["offered_tps"], data["phase"], dict(data["met"]),
                   data["generator_kept_up"])


@dataclass(frozen=True)
class ClassSaturation:
    saturation_tps: float | None
    """The highest total offered rate (the round's whole mix) at which the class met its SLO."""
    bound: str
    limit_tps: float | None
    """The lowest offered rate above it at which the class missed its SLO (None: none did)."""
    round_index: int | None
    """The step at ``saturation_tps``."""
    class_tps: float | None
    """The class's own confirmed rate at that step."""
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    success_ratio: float | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClassSaturation:
        return cls(**{key: data.get(key) for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class SaturationResult:
    round_label: str
    classes: dict[str, ClassSaturation]
    steps: tuple[SearchStep, ...]

    def to_json(self) -> dict[str, Any]:
        return {"round": self.round_label, "classes": {slug: c.to_json() for slug, c in self.classes.items()},
                "steps": [step.to_json() for step in self.steps]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SaturationResult:
        return cls(data["round"], {slug: ClassSaturation.from_json(c) for slug, c in data["classes"].items()},
                   tuple(SearchStep.from_json(s) for s in data["steps"]))
