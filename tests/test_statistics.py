"""The figures a run reports are those of its transactions, however they were split up.

Workers compute their own statistics and the controller merges them (per class, across workers,
into a round's total, across the process boundary in wire form); histograms stored per round
merge across rounds. Whatever the split, the merged figures must be those of the union.
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import yaml
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.loadgen.metrics import ClassStats, add_histogram, class_stats, new_histogram, total_of
from harness.store.records import round_records
from tests.conftest import REPO, harness

CLASSES = ("fast-confirmation", "best-effort", "scavenger")
STATUSES = ("confirmed", "confirmed", "confirmed", "timeout", "dropped", "error", "")
KV = str(REPO / "workloads" / "modules" / "kv.py")

record = st.tuples(
    st.sampled_from(CLASSES),
    st.integers(0, 10**10),                 # intended, ns after an epoch
    st.integers(0, 5 * 10**7),              # lag, ns
    st.integers(1000, 2 * 10**9),           # latency, ns
    st.sampled_from(STATUSES),
    st.sampled_from(("", "queue full", "no answer within 10 s", "commit 17 not yet in the chain")),
)


def rows_of(records: list[tuple]) -> list[tuple]:
    start = 1_700_000_000 * 10**9
    return [(slug, start + t, start + t + lag, start + t + latency if status else 0, status,
             reason if status not in ("confirmed", "") else "")
            for slug, t, lag, latency, status, reason in records]


def merged(parts: list[list[tuple]], classes: tuple[str, ...]) -> dict[str, ClassStats]:
    """What the engine does: each part (a worker) computes its own per-class statistics, which
    cross a process boundary in wire form and are merged."""
    per_class: dict[str, ClassStats] = {}
    for part in parts:
        for slug, stats in class_stats(part, classes).items():
            per_class.setdefault(slug, ClassStats()).merge(ClassStats.from_wire(stats.to_wire()))
    return per_class


@settings(max_examples=150, deadline=None)
@given(st.lists(record, min_size=1, max_size=120), st.integers(1, 5), st.randoms(use_true_random=False))
def test_merged_statistics_are_those_of_the_union(records: list[tuple], workers: int, rnd: random.Random) -> None:
    rows = rows_of(records)
    # Any split across workers, including workers that sent nothing of a class (or nothing).
    parts: list[list[tuple]] = [[] for _ in range(workers)]
    for row in rows:
        parts[rnd.randrange(workers)].append(row)
    rnd.shuffle(parts)
    union = class_stats(rows, CLASSES)
    per_class = merged(parts, CLASSES)
    assert {slug: s.figures() for slug, s in per_class.items()} == {slug: s.figures() for slug, s in union.items()}

    # The round's total merges the classes: the same as one class holding every transaction.
    total = total_of(per_class.values())
    everything = class_stats([("all", *row[1:]) for row in rows])["all"]
    assert total.figures() == everything.figures()

    # And the figures are the transactions' own, within HDR's three significant digits.
    latencies = [(row[3] - row[1]) / 1e6 for row in rows if row[4] == "confirmed"]
    figures = total.figures()
    if latencies:
        assert abs(figures.latency_ms["min"] - max(min(latencies), 0.001)) <= 0.001 * max(latencies) + 0.001
        assert figures.latency_ms["min"] > 0
        assert abs(figures.latency_ms["max"] - max(latencies)) <= 0.001 * max(latencies) + 0.001
        assert abs(figures.latency_ms["mean"] - sum(latencies) / len(latencies)) <= 0.001 * max(latencies) + 0.001
    else:
        assert figures.latency_ms["min"] is None
    confirmed = [row for row in rows if row[4] == "confirmed"]
    if confirmed:
        span = (max(row[3] for row in confirmed) - min(row[1] for row in rows)) / 1e9
        if span > 0:
            assert figures.throughput_tps == len(confirmed) / span
    failed = [row for row in rows if row[4] not in ("confirmed", "")]
    assert sum(count for _, _, count in total.reasons.values()) == len(failed)
    assert figures.undecided == sum(1 for row in rows if row[4] == "")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(1, 3_600_000_000), max_size=40), min_size=1, max_size=6))
def test_histograms_merge_across_rounds_as_stored(rounds: list[list[int]]) -> None:
    """A run's histograms/round-R.json are HdrHistogram's encoding: decoded and added in any
    order, they give the histogram of all the rounds' values (empty rounds included)."""
    union = new_histogram()
    merged_histogram = new_histogram()
    for values in rounds:
        histogram = new_histogram()
        for value in values:
            histogram.record_value(value)
            union.record_value(value)
        add_histogram(merged_histogram, HdrHistogram.decode(histogram.encode()))
    assert merged_histogram.get_total_count() == union.get_total_count()
    for read in ("get_min_value", "get_max_value", "get_mean_value"):
        assert getattr(merged_histogram, read)() == getattr(union, read)()
    for percentile in (50, 90, 99, 99.9):
        assert merged_histogram.get_value_at_percentile(percentile) == union.get_value_at_percentile(percentile)


def test_two_workers_two_classes_report_the_true_minimum(tmp_path: Path, sink_factory) -> None:
    """With this mix each class goes to one worker only; the other worker's empty entry used to
    turn every minimum into 0.00 ms."""
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump({"test": {"name": "min", "workers": {"number": 2}, "rounds": [{
        "label": "r", "txDuration": 2, "rateControl": {"type": "fixed-rate", "opts": {"tps": 200}},
        "workload": {"module": KV}, "cos": {"fast-confirmation": 1, "best-effort": 1}}]}}))
    result = harness("run", str(path), "--endpoint", sink_factory(), "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (tmp_path / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())["rounds"][0]
    records = round_records(run_dir, 0)
    for slug in ("fast-confirmation", "best-effort"):  # each class from one worker only
        assert len({r.worker for r in records if r.class_asked == slug}) == 1
    for slug in ("fast-confirmation", "best-effort"):
        true_min = min(r.latency_ms for r in records if r.class_asked == slug)
        assert summary["classes"][slug]["latency_ms"]["min"] == pytest_approx(true_min)
    assert summary["total"]["latency_ms"]["min"] == pytest_approx(min(r.latency_ms for r in records))
    rows = list(csv.DictReader((run_dir / "rounds.csv").open()))
    assert {row["class"] for row in rows} == {"fast-confirmation", "best-effort", "all"}
    assert all(float(row["latency_min_ms"]) > 0 for row in rows)


def pytest_approx(expected: float):  # noqa: ANN201 - HDR keeps three significant digits
    import pytest

    return pytest.approx(expected, rel=2e-3, abs=2e-3)
