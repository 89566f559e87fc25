"""Per-class statistics of a round, mergeable across worker processes, and the figures they give.

Definitions used in every report (:data:`harness.store.summary.DEFINITIONS`):
- latency: from a transaction's *intended* send time to its receipt (no coordinated omission),
  over confirmed transactions only;
- lag: actual send time minus intended send time (how far the generator fell behind);
- send rate: submitted / (last send - first send);
- throughput: confirmed / (last confirmation - first intended send): successes only, over the
  span the class was actually under load.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from hdrh.histogram import HdrHistogram

from harness.connectors.base import CONFIRMED, FAILURE_REASONS
from harness.store.records import iter_records
from harness.store.summary import ClassFigures, FailureReason
from vdlt.cos import ServiceClass

# Microseconds, 1 µs .. 1 h, 3 significant digits.
_LOWEST_US, _HIGHEST_US, _DIGITS = 1, 3_600_000_000, 3
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def _clamp_us(nanoseconds: int) -> int:
    return min(max(nanoseconds // 1000, _LOWEST_US), _HIGHEST_US)


def add_histogram(into: HdrHistogram, other: HdrHistogram) -> None:
    """``into += other``. hdrh's own ``add`` takes the minimum of both histograms' minimums, and
    an empty histogram's minimum reads as 0: a worker that sent nothing of a class would turn
    that class's true minimum latency into 0.00 ms."""
    if other.get_total_count() == 0:
        return
    was_empty = into.get_total_count() == 0
    into.add(other)
    if was_empty:
        into.min_value = other.min_value


# Failure reasons are counted by their text with the numbers that vary between transactions
# (a sequence, a version, a count) taken out, so "commit 17 not yet in..." and "commit 18 not
# yet in..." are one reason. Numbers inside names and addresses (exec-1, 127.0.0.1) stay.
_VARYING_NUMBER = re.compile(r"(?<![\w.:-])\d+(?:\.\d+)?(?![\w.-])")
# Distinct reasons kept per class; past that they are counted together as one.
MAX_REASONS = 20
OTHER_REASONS = "other reasons"


def reason_key(status: str, reason: str) -> str:
    return f"{status}: {_VARYING_NUMBER.sub('#', reason)}"


@dataclass
class ClassStats:
    submitted: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    latency: HdrHistogram = field(default_factory=new_histogram)
    lag: HdrHistogram = field(default_factory=new_histogram)
    first_intended_ns: int = 0
    first_sent_ns: int = 0
    last_sent_ns: int = 0
    last_confirmed_ns: int = 0
    reasons: dict[str, list[Any]] = field(default_factory=dict)
    """reason_key -> [status, an example of the reason's text, count], for transactions that failed."""

    def record_sent(self, intended_ns: int, sent_ns: int) -> None:
        self.submitted += 1
        if not self.first_intended_ns or intended_ns < self.first_intended_ns:
            self.first_intended_ns = intended_ns
        if not self.first_sent_ns or sent_ns < self.first_sent_ns:
            self.first_sent_ns = sent_ns
        self.last_sent_ns = max(self.last_sent_ns, sent_ns)
        self.lag.record_value(_clamp_us(sent_ns - intended_ns))

    def record_outcome(self, status: str, intended_ns: int, decided_ns: int, reason: str = "") -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if status == CONFIRMED:
            self.latency.record_value(_clamp_us(decided_ns - intended_ns))
            self.last_confirmed_ns = max(self.last_confirmed_ns, decided_ns)
        else:
            self._count_reason(reason_key(status, reason), status, reason or "(no reason given)", 1)

    def _count_reason(self, key: str, status: str, text: str, count: int) -> None:
        entry = self.reasons.get(key)
        if entry is None:
            if len(self.reasons) >= MAX_REASONS and key != OTHER_REASONS:
                self._count_reason(OTHER_REASONS, "", OTHER_REASONS, count)
                return
            self.reasons[key] = [status, text, count]
        else:
            entry[2] += count
            entry[1] = min(entry[1], text)  # the same example whatever order the parts merged in

    def merge(self, other: ClassStats) -> None:
        self.submitted += other.submitted
        for status, count in other.counts.items():
            self.counts[status] = self.counts.get(status, 0) + count
        add_histogram(self.latency, other.latency)
        add_histogram(self.lag, other.lag)
        for key, (status, text, count) in other.reasons.items():
            self._count_reason(key, status, text, count)
        firsts = [t for t in (self.first_intended_ns, other.first_intended_ns) if t]
        self.first_intended_ns = min(firsts) if firsts else 0
        firsts = [t for t in (self.first_sent_ns, other.first_sent_ns) if t]
        self.first_sent_ns = min(firsts) if firsts else 0
        self.last_sent_ns = max(self.last_sent_ns, other.last_sent_ns)
        self.last_confirmed_ns = max(self.last_confirmed_ns, other.last_confirmed_ns)

    def to_wire(self) -> dict[str, Any]:
        """A picklable, compact form for crossing process boundaries."""
        return {
            "submitted": self.submitted, "counts": self.counts,
            "latency": self.latency.encode(), "lag": self.lag.encode(),
            "first_intended_ns": self.first_intended_ns, "first_sent_ns": self.first_sent_ns,
            "last_sent_ns": self.last_sent_ns, "last_confirmed_ns": self.last_confirmed_ns,
            "reasons": self.reasons,
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ClassStats:
        stats = cls(submitted=wire["submitted"], counts=dict(wire["counts"]),
                    first_intended_ns=wire["first_intended_ns"], first_sent_ns=wire["first_sent_ns"],
                    last_sent_ns=wire["last_sent_ns"], last_confirmed_ns=wire["last_confirmed_ns"],
                    reasons={key: list(entry) for key, entry in wire["reasons"].items()})
        stats.latency = HdrHistogram.decode(wire["latency"])
        stats.lag = HdrHistogram.decode(wire["lag"])
        return stats

    @property
    def succeeded(self) -> int:
        return self.counts.get(CONFIRMED, 0)

    @property
    def failed(self) -> int:
        return sum(self.counts.get(reason, 0) for reason in FAILURE_REASONS)

    @property
    def undecided(self) -> int:
        """Sent, and neither confirmed nor failed: the run stopped before their receipts came."""
        return self.submitted - self.succeeded - self.failed

    def top_reasons(self, count: int = 5) -> tuple[FailureReason, ...]:
        ranked = sorted(self.reasons.values(), key=lambda entry: (-entry[2], entry[0], entry[1]))
        return tuple(FailureReason(status, text, n) for status, text, n in ranked[:count])

    def figures(self) -> ClassFigures:
        """The figures a report gives, as :mod:`harness.store.summary` defines them."""
        send_span_s = (self.last_sent_ns - self.first_sent_ns) / 1e9
        confirm_span_s = (self.last_confirmed_ns - self.first_intended_ns) / 1e9
        latency, lag = self.latency, self.lag
        has_latency, has_lag = latency.get_total_count() > 0, lag.get_total_count() > 0
        latency_ms: dict[str, float | None] = {
            "min": latency.get_min_value() / 1000 if has_latency else None,
            "mean": latency.get_mean_value() / 1000 if has_latency else None,
        }
        for percentile in PERCENTILES:
            latency_ms[f"p{percentile:g}"] = latency.get_value_at_percentile(percentile) / 1000 if has_latency else None
        latency_ms["max"] = latency.get_max_value() / 1000 if has_latency else None
        return ClassFigures(
            submitted=self.submitted, succeeded=self.succeeded, failed=self.failed,
            failed_by_reason={reason: self.counts.get(reason, 0) for reason in FAILURE_REASONS},
            failure_reasons=self.top_reasons(), undecided=self.undecided,
            send_rate_tps=self.submitted / send_span_s if send_span_s > 0 else None,
            throughput_tps=self.succeeded / confirm_span_s if self.succeeded and confirm_span_s > 0 else None,
            latency_ms=latency_ms,
            lag_ms={"p50": lag.get_value_at_percentile(50) / 1000 if has_lag else None,
                    "p99": lag.get_value_at_percentile(99) / 1000 if has_lag else None,
                    "max": lag.get_max_value() / 1000 if has_lag else None},
        )


def class_figures(per_class: dict[str, ClassStats]) -> dict[ServiceClass, ClassFigures]:
    """Each class's figures, keyed by its class (the statistics are kept by its name)."""
    return {ServiceClass.from_slug(slug): stats.figures() for slug, stats in per_class.items()}


def total_of(parts: Iterable[ClassStats]) -> ClassStats:
    """The statistics of all these parts together (the classes of a round, say)."""
    total = ClassStats()
    for part in parts:
        total.merge(part)
    return total


# One transaction as the statistics see it: class asked, intended, sent and decided instants
# (ns), status ("" while undecided) and the reason given with it.
StatsRow = tuple[str, int, int, int, str, str]


def class_stats(rows: Iterable[StatsRow], classes: Iterable[str] = ()) -> dict[str, ClassStats]:
    """Per-class statistics of a worker's transactions; each of ``classes`` has an entry even
    when it sent nothing (all its transactions trimmed, say), so it still gets a report row."""
    stats = {slug: ClassStats() for slug in classes}
    for slug, intended_ns, sent_ns, decided_ns, status, reason in rows:
        entry = stats.get(slug)
        if entry is None:
            entry = stats[slug] = ClassStats()
        entry.record_sent(intended_ns, sent_ns)
        if status:
            entry.record_outcome(status, intended_ns, decided_ns, reason)
    return stats


def stats_from_records(paths: Iterable[Path], classes: Iterable[str] = ()) -> dict[str, ClassStats]:
    """Per-class statistics of the records in these files, as the workers that wrote them would
    have computed them: for workers on client nodes, and for rounds that did not end."""
    rows = ((r.class_asked, r.intended_ns, r.sent_ns, r.decided_ns, r.status, r.reason)
            for r in iter_records(paths) if not r.trimmed)
    return class_stats(rows, classes)
