"""A run's ``summary.json``, typed: the run, its rounds, each class's figures, the SLO verdicts.

Every reader and writer of a summary goes through these classes and their one path to JSON and
back (``to_json``, ``from_json``). Classes of service stay :class:`ServiceClass` until written
out, where they become their names. A summary written by an older harness reads: what it lacks
takes the value it stood for then (no round was partial, no reasons were counted).

Service-level objectives and the generator's verdict are judged here, on a round's figures, so
a report judges a run again from its folder alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from harness.store.audit import AuditReport
from harness.store.saturation import SaturationResult
from harness.config.benchmark import RoundSpec, Slo
from vdlt.cos import ServiceClass

RUNNING, COMPLETE, INTERRUPTED, FAILED, INCOMPLETE = "running", "complete", "interrupted", "failed", "incomplete"
"""A run's status: its harness works on it; it ended; a signal stopped it; an error did; its
harness died without a word (SIGKILL, a power cut) and a reader made the folder whole."""
PERCENTILES = ("min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max")
LAG_FIGURES = ("p50", "p99", "max")
DEFINITIONS = {
    "latency": "intended send time to receipt, confirmed transactions only (no coordinated omission)",
    "lag": "actual send time minus intended send time; up to the workers' send window by design",
    "send_rate_tps": "submitted / (last send - first send)",
    "throughput_tps": "confirmed / (last confirmation - first intended send)",
}
# Above this p99 lag beyond the send window (which holds transactions back by design), the
# generator, not the system under test, shaped the offered load.
LAG_VERDICT_MS = 5.0


def _scope_name(scope: ServiceClass | None) -> str:
    return "all" if scope is None else scope.slug


def _scope(name: str) -> ServiceClass | None:
    return None if name == "all" else ServiceClass.from_slug(name)


@dataclass(frozen=True)
class FailureReason:
    status: str
    reason: str
    """An example of the reason's text (its varying numbers aside, they were all alike)."""
    count: int


@dataclass(frozen=True)
class ClassFigures:
    """One class's (or the round's total) figures, as the definitions above measure them."""

    submitted: int
    succeeded: int
    failed: int
    failed_by_reason: dict[str, int]
    latency_ms: dict[str, float | None]
    """Keyed by :data:`PERCENTILES`; None where nothing was confirmed."""
    lag_ms: dict[str, float | None]
    send_rate_tps: float | None = None
    throughput_tps: float | None = None
    failure_reasons: tuple[FailureReason, ...] = ()
    undecided: int = 0
    """Sent, and neither confirmed nor failed: the round stopped before their receipts."""

    def to_json(self) -> dict[str, Any]:
        return {
            "submitted": self.submitted, "succeeded": self.succeeded, "failed": self.failed,
            "failed_by_reason": dict(self.failed_by_reason),
            "failure_reasons": [{"status": r.status, "reason": r.reason, "count": r.count}
                                for r in self.failure_reasons],
            "undecided": self.undecided, "send_rate_tps": self.send_rate_tps, "throughput_tps": self.throughput_tps,
            "latency_ms": dict(self.latency_ms), "lag_ms": dict(self.lag_ms),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClassFigures:
        return cls(
            submitted=data["submitted"], succeeded=data["succeeded"], failed=data["failed"],
            failed_by_reason=dict(data["failed_by_reason"]), latency_ms=dict(data["latency_ms"]),
            lag_ms=dict(data["lag_ms"]), send_rate_tps=data.get("send_rate_tps"),
            throughput_tps=data.get("throughput_tps"),
            failure_reasons=tuple(FailureReason(r["status"], r["reason"], r["count"])
                                  for r in data.get("failure_reasons", [])),
            undecided=data.get("undecided", 0),
        )


@dataclass(frozen=True)
class SloVerdict:
    scope: ServiceClass | None
    """The class the objective is for; None for the round's total."""
    objective: str
    limit: float
    measured: float | None
    met: bool

    @property
    def scope_name(self) -> str:
        return _scope_name(self.scope)

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope_name, "objective": self.objective, "limit": self.limit, "measured": self.measured,
                "met": self.met}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SloVerdict:
        return cls(_scope(data["scope"]), data["objective"], data["limit"], data["measured"], data["met"])


@dataclass(frozen=True)
class GeneratorVerdict:
    lag_p99_ms: float | None
    kept_up: bool
    verdict: str

    @classmethod
    def judge(cls, total: ClassFigures, send_window_ms: float) -> GeneratorVerdict:
        lag = total.lag_ms["p99"]
        if lag is None:
            return cls(None, True, "nothing was sent")
        if lag <= send_window_ms + LAG_VERDICT_MS:
            return cls(lag, True, f"kept to schedule (lag p99 {lag:.2f} ms)")
        return cls(lag, False, f"fell behind schedule: lag p99 {lag:.1f} ms. Latency still counts from the intended "
                               f"send time, but less load reached the system than asked; use more workers or a lower rate")

    def to_json(self) -> dict[str, Any]:
        return {"lag_p99_ms": self.lag_p99_ms, "kept_up": self.kept_up, "verdict": self.verdict}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GeneratorVerdict:
        return cls(data.get("lag_p99_ms"), data.get("kept_up", True), data.get("verdict", ""))


def _slo_to_json(slo: Slo) -> dict[str, Any]:
    return {"scope": _scope_name(slo.scope), "latency_ms": dict(slo.latency_ms), "success_ratio": slo.success_ratio}


def _slo_from_json(data: dict[str, Any]) -> Slo:
    return Slo(_scope(data["scope"]), dict(data["latency_ms"]), data["success_ratio"])


@dataclass(frozen=True)
class RoundHeader:
    """What a round is, known before it runs."""

    index: int
    label: str
    description: str
    tx_number: int | None
    tx_duration_s: float | None
    rate_type: str
    rate_opts: dict[str, Any]
    cos_mix: tuple[tuple[ServiceClass, float], ...]
    trim: float
    slos: tuple[Slo, ...]
    search: dict[str, Any] | None = None
    """A step of a saturation search: ``{"round": the search round's label, "step": n, "phase":
    up|bisect|warm-up, "max_lag_ms", "settled_s": how long the step waited for the one before to drain}``."""

    @classmethod
    def of(cls, spec: RoundSpec, search: dict[str, Any] | None = None) -> RoundHeader:
        return cls(spec.index, spec.label, spec.description, spec.tx_number, spec.tx_duration_s, spec.rate_type,
                   spec.rate_opts, tuple((s.cos.service_class, s.weight) for s in spec.cos_mix), spec.trim, spec.slos,
                   search)

    @property
    def offered_tps(self) -> float | None:
        """The rate asked of the generator, for a fixed-rate round."""
        return float(self.rate_opts["tps"]) if self.rate_type == "fixed-rate" else None

    @property
    def classes(self) -> list[ServiceClass]:
        return [service_class for service_class, _ in self.cos_mix]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "label": self.label, "description": self.description, "tx_number": self.tx_number,
            "tx_duration_s": self.tx_duration_s, "rate_control": {"type": self.rate_type, "opts": self.rate_opts},
            "cos_mix": {service_class.slug: weight for service_class, weight in self.cos_mix}, "trim": self.trim,
            "slo": [_slo_to_json(slo) for slo in self.slos],
            **({"search": dict(self.search)} if self.search is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoundHeader:
        return cls(
            index=data["index"], label=data["label"], description=data.get("description") or "",
            tx_number=data.get("tx_number"), tx_duration_s=data.get("tx_duration_s"),
            rate_type=data["rate_control"]["type"], rate_opts=dict(data["rate_control"]["opts"]),
            cos_mix=tuple((ServiceClass.from_slug(slug), weight) for slug, weight in data.get("cos_mix", {}).items()),
            trim=data.get("trim", 0), slos=tuple(_slo_from_json(slo) for slo in data.get("slo", [])),
            search=data.get("search"),
        )


@dataclass(frozen=True)
class RoundSummary:
    header: RoundHeader
    started_at: str
    duration_s: float
    classes: dict[ServiceClass, ClassFigures]
    """In the order of the classes' bits, highest first."""
    total: ClassFigures
    generator: GeneratorVerdict
    slo_results: tuple[SloVerdict, ...]
    records: tuple[str, ...] = ()
    """The round's records files, relative to the run folder."""
    partial: bool = False
    """The round was stopped before its end: its figures are those of the records that reached disk."""

    @property
    def index(self) -> int:
        return self.header.index

    @property
    def label(self) -> str:
        return self.header.label

    @classmethod
    def judged(cls, header: RoundHeader, classes: dict[ServiceClass, ClassFigures], total: ClassFigures,
               started_at: str, duration_s: float, send_window_ms: float, records: Iterable[str] = (),
               partial: bool = False) -> RoundSummary:
        """A round with its figures, its SLOs judged on them and the generator's verdict."""
        ordered = dict(sorted(classes.items(), key=lambda item: -int(item[0])))
        return cls(header, started_at, duration_s, ordered, total, GeneratorVerdict.judge(total, send_window_ms),
                   evaluate(header.slos, ordered, total), tuple(records), partial)

    def figures(self, scope: ServiceClass | None) -> ClassFigures | None:
        return self.total if scope is None else self.classes.get(scope)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.header.to_json(),
            "started_at": self.started_at, "duration_s": self.duration_s, "partial": self.partial,
            "classes": {service_class.slug: figures.to_json() for service_class, figures in self.classes.items()},
            "total": self.total.to_json(), "generator": self.generator.to_json(), "records": list(self.records),
            "slo_results": [verdict.to_json() for verdict in self.slo_results],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoundSummary:
        return cls(
            header=RoundHeader.from_json(data), started_at=data["started_at"], duration_s=data["duration_s"],
            classes={ServiceClass.from_slug(slug): ClassFigures.from_json(figures)
                     for slug, figures in data["classes"].items()},
            total=ClassFigures.from_json(data["total"]), generator=GeneratorVerdict.from_json(data.get("generator", {})),
            slo_results=tuple(SloVerdict.from_json(v) for v in data.get("slo_results", [])),
            records=tuple(data.get("records", [])), partial=data.get("partial", False),
        )


def evaluate(slos: Iterable[Slo], classes: dict[ServiceClass, ClassFigures], total: ClassFigures
             ) -> tuple[SloVerdict, ...]:
    """One verdict per objective of each SLO: its limit, what was measured, whether it was met."""
    verdicts = []
    for slo in slos:
        figures = total if slo.scope is None else classes.get(slo.scope)
        for percentile, limit in slo.latency_ms.items():
            measured = figures.latency_ms.get(percentile) if figures else None
            verdicts.append(SloVerdict(slo.scope, f"latency {percentile}", limit, measured,
                                       measured is not None and measured <= limit))
        if slo.success_ratio is not None:
            ratio = figures.succeeded / figures.submitted if figures and figures.submitted else None
            verdicts.append(SloVerdict(slo.scope, "success ratio", slo.success_ratio, ratio,
                                       ratio is not None and ratio >= slo.success_ratio))
    return tuple(verdicts)


@dataclass(frozen=True)
class NodeEntry:
    name: str
    role: str
    endpoint: str
    hardware_profile: str
    absent: str | None = None
    """Why the node was left out of the run (it did not serve when the run began)."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "endpoint": self.endpoint,
                "hardware_profile": self.hardware_profile, "absent": self.absent}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeEntry:
        return cls(data["name"], data["role"], data["endpoint"], data["hardware_profile"], data.get("absent"))


@dataclass(frozen=True)
class BenchmarkEntry:
    name: str
    description: str
    source: str
    workers: int
    send_window_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "source": self.source, "workers": self.workers,
                "send_window_ms": self.send_window_ms}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchmarkEntry:
        return cls(data["name"], data.get("description", ""), data["source"], data["workers"],
                   data.get("send_window_ms", 0.0))


@dataclass
class RunSummary:
    run_id: str
    status: str
    harness_version: str
    benchmark: BenchmarkEntry
    started_at: str
    ended_at: str
    inventory_source: str | None = None
    nodes: tuple[NodeEntry, ...] = ()
    endpoints: tuple[str, ...] = ()
    rounds: list[RoundSummary] = field(default_factory=list)
    stopped_by: str | None = None
    """What stopped a run that is not complete: a signal's name, an error, or why it is incomplete."""
    harness_process: dict[str, Any] = field(default_factory=dict)
    """pid and host of the harness while the run is running: a reader tells a live run from a dead one."""
    running_round: tuple[RoundHeader, str] | None = None
    """The round that runs now, and when it started."""
    export: dict[str, Any] | None = None
    """What the live export to a results database did (see export.json)."""
    audit: AuditReport | None = None
    """What the receipts were checked against the chains and found (see audit.json)."""
    saturation: list[SaturationResult] = field(default_factory=list)
    """What each saturation search round found (its steps are in ``rounds``)."""
    definitions: dict[str, str] = field(default_factory=lambda: dict(DEFINITIONS))

    @property
    def absent(self) -> list[NodeEntry]:
        return [node for node in self.nodes if node.absent]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id, "status": self.status, "stopped_by": self.stopped_by,
            "harness_version": self.harness_version, "harness_process": self.harness_process,
            "benchmark": self.benchmark.to_json(),
            "inventory": {"source": self.inventory_source, "nodes": [node.to_json() for node in self.nodes]},
            "endpoints": list(self.endpoints), "started_at": self.started_at, "ended_at": self.ended_at,
            "definitions": self.definitions, "rounds": [r.to_json() for r in self.rounds],
        }
        if self.running_round is not None:
            header, started_at = self.running_round
            data["running_round"] = {**header.to_json(), "started_at": started_at}
        if self.export is not None:
            data["export"] = self.export
        if self.audit is not None:
            data["audit"] = self.audit.to_json()
        if self.saturation:
            data["saturation"] = [result.to_json() for result in self.saturation]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSummary:
        running = data.get("running_round")
        return cls(
            run_id=data["run_id"], status=data["status"], harness_version=data.get("harness_version", ""),
            benchmark=BenchmarkEntry.from_json(data["benchmark"]), started_at=data["started_at"],
            ended_at=data["ended_at"], inventory_source=data["inventory"].get("source"),
            nodes=tuple(NodeEntry.from_json(n) for n in data["inventory"].get("nodes", [])),
            endpoints=tuple(data.get("endpoints", [])), rounds=[RoundSummary.from_json(r) for r in data["rounds"]],
            stopped_by=data.get("stopped_by"), harness_process=data.get("harness_process", {}),
            running_round=(RoundHeader.from_json(running), running["started_at"]) if running else None,
            export=data.get("export"), audit=AuditReport.from_json(data["audit"]) if data.get("audit") else None,
            saturation=[SaturationResult.from_json(r) for r in data.get("saturation", [])],
            definitions=data.get("definitions", dict(DEFINITIONS)),
        )
