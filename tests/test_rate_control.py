"""Each rate controller's schedule, as the transactions actually left, against a real gRPC sink.

Tolerances: total counts within 3 % of the schedule; per-second counts within 10 % (the first
and last second excepted where a rate ramps).
"""
from __future__ import annotations

from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from harness.store.records import TxRecord, read_records
from harness.store.summary import LAG_VERDICT_MS
from tests.conftest import REPO, run_benchmark

KV = str(REPO / "workloads" / "modules" / "kv.py")


def round_(rate: dict[str, Any], **length: Any) -> dict[str, Any]:
    return {"label": f"r-{rate['type']}", "rateControl": rate, "workload": {"module": KV}, **length}


def per_second(records: list[TxRecord]) -> list[int]:
    start = min(r.intended_ns for r in records)
    counts = Counter((r.sent_ns - start) // 1_000_000_000 for r in records)
    return [counts[s] for s in range(max(counts) + 1)]


def run(tmp_path: Path, endpoint: str, rate: dict[str, Any], workers: int = 2, send_window_ms: float = 0,
        **length: Any) -> list[TxRecord]:
    (result,) = run_benchmark(tmp_path, endpoint, [round_(rate, **length)], workers=workers, sendWindowMs=send_window_ms)
    records = read_records(result.records)
    assert {r.status for r in records} <= {"confirmed"}
    return records


def test_fixed_rate_total_across_workers(tmp_path: Path, sink_factory) -> None:
    records = run(tmp_path, sink_factory(), {"type": "fixed-rate", "opts": {"tps": 800}}, txDuration=3)
    assert len(records) == pytest.approx(2400, rel=0.03)
    for count in per_second(records)[:3]:
        assert count == pytest.approx(800, rel=0.10)
    assert {r.worker for r in records} == {0, 1}


def test_linear_rate_above_200_tps_by_time(tmp_path: Path, sink_factory) -> None:
    # 100 -> 1,300 tx/s over 4 s: 2,800 in all; second k carries 100 + 300 (2k + 1) / 2 ... per the integral.
    records = run(tmp_path, sink_factory(), {"type": "linear-rate", "opts": {"startingTps": 100, "finishingTps": 1300}},
                  txDuration=4)
    assert len(records) == pytest.approx(2800, rel=0.03)
    seconds = per_second(records)
    for k, expected in enumerate([250, 550, 850, 1150]):
        assert seconds[k] == pytest.approx(expected, rel=0.10), seconds


def test_linear_rate_by_count(tmp_path: Path, sink_factory) -> None:
    records = run(tmp_path, sink_factory(), {"type": "linear-rate", "opts": {"startingTps": 200, "finishingTps": 1000}},
                  txNumber=1500)
    assert len(records) == 1500
    start = min(r.intended_ns for r in records)
    elapsed = (max(r.intended_ns for r in records) - start) / 1e9
    # t(N) = N / (f - s) * ln(f / s) = 1500 / 800 * ln 5
    assert elapsed == pytest.approx(1500 / 800 * 1.6094, rel=0.03)


def test_fixed_load_keeps_the_backlog(tmp_path: Path, sink_factory) -> None:
    records = run(tmp_path, sink_factory("--stall-after", "1", "--stall-for", "0.5"),
                  {"type": "fixed-load", "opts": {"transactionLoad": 20}}, txDuration=2)
    events = sorted([(r.sent_ns, 1) for r in records] + [(r.decided_ns, -1) for r in records])
    in_flight = peak = 0
    for _, change in events:
        in_flight += change
        peak = max(peak, in_flight)
    assert peak <= 20
    # During the stall nothing new can go out: the backlog is full.
    start = min(r.sent_ns for r in records)
    stalled = [r for r in records if 1.1e9 < r.sent_ns - start < 1.45e9]
    assert stalled == []


def test_fixed_feedback_rate_holds_back_and_shows_it_as_lag(tmp_path: Path, sink_factory) -> None:
    records = run(tmp_path, sink_factory("--stall-after", "1", "--stall-for", "0.5"),
                  {"type": "fixed-feedback-rate", "opts": {"tps": 400, "transactionLoad": 10}}, txDuration=3)
    lags = sorted((r.sent_ns - r.intended_ns) / 1e6 for r in records)
    assert lags[-1] > 300  # held back during the stall, and the report knows by how much
    assert len(records) == pytest.approx(1200, rel=0.05)  # caught up afterwards


def test_send_window_groups_transactions_and_bounds_their_lag(tmp_path: Path, sink_factory) -> None:
    endpoint = sink_factory()
    rate = {"type": "fixed-rate", "opts": {"tps": 1000}}  # one due every millisecond

    def sends_and_lags(window_ms: float) -> tuple[int, list[float], int]:
        records = run(tmp_path, endpoint, rate, workers=1, send_window_ms=window_ms, txDuration=2)
        sent = sorted(r.sent_ns for r in records)
        # Transactions sent in one go leave microseconds apart; separate sends, about a millisecond.
        sends = 1 + sum(1 for a, b in pairwise(sent) if b - a > 300_000)
        return sends, sorted((r.sent_ns - r.intended_ns) / 1e6 for r in records), len(records)

    alone, lags, count = sends_and_lags(0)
    assert count == pytest.approx(2000, rel=0.03)
    # Each at its own instant, but for the event loop's millisecond timer resolution.
    assert alone > 0.6 * count
    assert lags[len(lags) // 2] < 1.0

    grouped, lags, count = sends_and_lags(5)
    assert count == pytest.approx(2000, rel=0.03)  # the same rate, in fewer sends
    assert grouped < alone / 2, (grouped, alone)
    assert 1.0 < lags[len(lags) // 2] < 4.0  # held back on purpose, and the lag says so
    # Held about the window, not more. The 95th percentile, not the 99th: on a loaded 2-core CI
    # machine the event loop stalls for ~10 ms now and then, and the 1 % of transactions due during
    # such a stall measure the machine (p99 was 8.4 and 13.6 ms there, against ~5 ms here).
    assert lags[int(len(lags) * 0.95)] <= 5 + LAG_VERDICT_MS


def test_maximum_rate_climbs_while_throughput_grows(tmp_path: Path, sink_factory) -> None:
    records = run(tmp_path, sink_factory(),
                  {"type": "maximum-rate", "opts": {"tps": 100, "step": 200, "sampleInterval": 0.5}}, txDuration=3)
    seconds = per_second(records)
    assert seconds[2] > seconds[0] + 300


def test_composite_rate_switches_controllers(tmp_path: Path, sink_factory) -> None:
    records = run(tmp_path, sink_factory(), {"type": "composite-rate", "opts": {
        "weights": [1, 1],
        "rateControllers": [{"type": "fixed-rate", "opts": {"tps": 200}}, {"type": "fixed-rate", "opts": {"tps": 600}}],
    }}, txDuration=4)
    seconds = per_second(records)
    assert seconds[0] == pytest.approx(200, rel=0.1) and seconds[1] == pytest.approx(200, rel=0.1)
    assert seconds[2] == pytest.approx(600, rel=0.1) and seconds[3] == pytest.approx(600, rel=0.1)


def test_zero_rate_sends_nothing_and_ends_on_time(tmp_path: Path, sink_factory) -> None:
    (result,) = run_benchmark(tmp_path, sink_factory(), [round_({"type": "zero-rate"}, txDuration=1.5)])
    assert result.total.submitted == 0
    assert 1.4 < result.summary.duration_s < 4.0


def test_record_then_replay_gives_the_same_schedule(tmp_path: Path, sink_factory) -> None:
    endpoint = sink_factory()
    template = str(tmp_path / "times-<R>-<C>.txt")
    recorded = run(tmp_path, endpoint, {"type": "record-rate", "opts": {
        "rateController": {"type": "linear-rate", "opts": {"startingTps": 100, "finishingTps": 500}},
        "pathTemplate": template}}, workers=1, txNumber=600)
    assert (tmp_path / "times-0-0.txt").is_file()
    (tmp_path / "times-0-0.txt").rename(tmp_path / "replay.txt")
    replayed = run(tmp_path, endpoint, {"type": "replay-rate", "opts": {"pathTemplate": str(tmp_path / "replay.txt")}},
                   workers=1, txNumber=600)

    def offsets(records: list[TxRecord]) -> list[float]:
        start = min(r.intended_ns for r in records)
        return sorted((r.intended_ns - start) / 1e9 for r in records)

    for a, b in zip(offsets(recorded), offsets(replayed)):
        assert b == pytest.approx(a, abs=0.002)


def test_coordinated_omission_is_not_hidden(tmp_path: Path, sink_factory) -> None:
    """A sink that stalls for 1 s: with the generator held back (a backlog limit), timing from
    the actual send would report the stall as a blip; timing from the intended send shows it."""
    endpoint = sink_factory("--stall-after", "1", "--stall-for", "1")
    (result,) = run_benchmark(tmp_path, endpoint, [round_(
        {"type": "fixed-feedback-rate", "opts": {"tps": 200, "transactionLoad": 5}}, txDuration=4)])
    records = read_records(result.records)
    from_send = sorted((r.decided_ns - r.sent_ns) / 1e6 for r in records)
    p99_from_send = from_send[int(0.99 * len(from_send))]
    p99 = result.total.latency_ms["p99"]
    assert p99 > 600, "the stall must show in the reported p99"
    assert p99_from_send < p99 / 2, "send-time measurement would have hidden most of it"
