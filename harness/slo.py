"""Service-level objectives per class and round, and whether the generator kept to its schedule.

Both work on a round as stored in summary.json, so `harness report` can judge a run again
from its folder alone.
"""
from __future__ import annotations

from typing import Any

from harness.benchmark import Slo

# Above this p99 lag beyond the send window (which holds transactions back by design), the
# generator, not the system under test, shaped the offered load.
LAG_VERDICT_MS = 5.0


def slo_to_json(slo: Slo) -> dict[str, Any]:
    return {"scope": slo.scope, "latency_ms": slo.latency_ms, "success_ratio": slo.success_ratio}


def evaluate(round_summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One verdict per objective: scope, objective, limit, measured, met."""
    verdicts = []
    for slo in round_summary.get("slo", []):
        scope = slo["scope"]
        stats = round_summary["total"] if scope == "all" else round_summary["classes"].get(scope)
        for percentile, limit in slo["latency_ms"].items():
            measured = stats["latency_ms"].get(percentile) if stats else None
            verdicts.append({"scope": scope, "objective": f"latency {percentile}", "limit": limit,
                             "measured": measured, "met": measured is not None and measured <= limit})
        if slo["success_ratio"] is not None:
            measured = stats["succeeded"] / stats["submitted"] if stats and stats["submitted"] else None
            verdicts.append({"scope": scope, "objective": "success ratio", "limit": slo["success_ratio"],
                             "measured": measured, "met": measured is not None and measured >= slo["success_ratio"]})
    return verdicts


def generator_verdict(total: dict[str, Any], send_window_ms: float) -> dict[str, Any]:
    lag = total["lag_ms"]["p99"]
    if lag is None:
        return {"lag_p99_ms": None, "kept_up": True, "verdict": "nothing was sent"}
    if lag <= send_window_ms + LAG_VERDICT_MS:
        return {"lag_p99_ms": lag, "kept_up": True, "verdict": f"kept to schedule (lag p99 {lag:.2f} ms)"}
    return {"lag_p99_ms": lag, "kept_up": False,
            "verdict": f"fell behind schedule: lag p99 {lag:.1f} ms. Latency still counts from the intended "
                       f"send time, but less load reached the system than asked; use more workers or a lower rate"}
