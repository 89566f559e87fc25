"""The run's report, built from the run folder alone: report.html and rounds.csv."""
from __future__ import annotations

import csv
import json
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

from harness.records import TxRecord, round_records
from harness.svg_chart import line_chart

PERCENTILE_COLUMNS = ("min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max")
CDF_POINTS = 400


def write_rounds_csv(run_dir: Path, summary: dict[str, Any]) -> Path:
    path = run_dir / "rounds.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["round", "label", "class", "submitted", "succeeded", "failed", "rejected", "dropped",
                         "timeout", "error", "send_rate_tps", "throughput_tps",
                         *(f"latency_{c}_ms" for c in PERCENTILE_COLUMNS), "lag_p50_ms", "lag_p99_ms", "lag_max_ms"])
        for round_summary in summary["rounds"]:
            rows = [*round_summary["classes"].items(), ("all", round_summary["total"])]
            for slug, stats in rows:
                writer.writerow([
                    round_summary["index"], round_summary["label"], slug, stats["submitted"], stats["succeeded"],
                    stats["failed"], *(stats["failed_by_reason"][r] for r in ("rejected", "dropped", "timeout", "error")),
                    _num(stats["send_rate_tps"]), _num(stats["throughput_tps"]),
                    *(_num(stats["latency_ms"][c]) for c in PERCENTILE_COLUMNS),
                    *(_num(stats["lag_ms"][c]) for c in ("p50", "p99", "max")),
                ])
    return path


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def build_report(run_dir: Path) -> Path:
    """Writes report.html (and rounds.csv) from summary.json and the transaction records."""
    summary = json.loads((run_dir / "summary.json").read_text())
    write_rounds_csv(run_dir, summary)
    body = [_header(summary)]
    for round_summary in summary["rounds"]:
        records = [r for r in round_records(run_dir, round_summary["index"]) if not r.trimmed]
        body.append(_round_section(round_summary, records))
    html = _PAGE.format(title=escape(f"vdlt-harness run {summary['run_id']}"), body="\n".join(body))
    path = run_dir / "report.html"
    partial = path.with_suffix(".html.partial")
    partial.write_text(html)
    partial.replace(path)
    return path


def _header(summary: dict[str, Any]) -> str:
    nodes = "".join(f"<tr><td>{escape(n['name'])}</td><td>{n['role']}</td><td>{escape(n['hardware_profile'])}</td>"
                    f"<td>{escape(n['endpoint'])}</td></tr>" for n in summary["inventory"]["nodes"])
    definitions = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in summary["definitions"].items())
    return (f"<h1>Run {escape(summary['run_id'])}</h1>"
            f"<p>benchmark <b>{escape(summary['benchmark']['name'])}</b> ({escape(summary['benchmark']['source'])}), "
            f"{summary['benchmark']['workers']} worker(s); status <b>{escape(summary['status'])}</b>; "
            f"{escape(summary['started_at'])} → {escape(summary['ended_at'])}</p>"
            + (f"<details><summary>testbed ({len(summary['inventory']['nodes'])} nodes)</summary><table>"
               f"<tr><th>node</th><th>role</th><th>profile</th><th>endpoint</th></tr>{nodes}</table></details>"
               if summary["inventory"]["nodes"] else
               f"<p>sent to {escape(', '.join(summary.get('endpoints', [])))} (no inventory)</p>")
            + 
            f"<details><summary>definitions</summary><ul>{definitions}</ul></details>")


def _round_section(round_summary: dict[str, Any], records: list[TxRecord]) -> str:
    rows = [*round_summary["classes"].items()]
    if len(rows) > 1:
        rows.append(("all", round_summary["total"]))
    table = ["<table><tr><th>class</th><th>submitted</th><th>succeeded</th><th>failed</th><th>send/s</th>"
             "<th>throughput/s</th>" + "".join(f"<th>{c} ms</th>" for c in PERCENTILE_COLUMNS) + "<th>lag p99 ms</th></tr>"]
    for slug, stats in rows:
        reasons = ", ".join(f"{k} {v}" for k, v in stats["failed_by_reason"].items() if v)
        table.append(
            f"<tr><td>{escape(slug)}</td><td>{stats['submitted']}</td><td>{stats['succeeded']}</td>"
            f"<td title='{escape(reasons)}'>{stats['failed']}{f' ({escape(reasons)})' if reasons else ''}</td>"
            f"<td>{_fmt(stats['send_rate_tps'], 1)}</td><td>{_fmt(stats['throughput_tps'], 1)}</td>"
            + "".join(f"<td>{_fmt(stats['latency_ms'][c], 2)}</td>" for c in PERCENTILE_COLUMNS)
            + f"<td>{_fmt(stats['lag_ms']['p99'], 2)}</td></tr>")
    table.append("</table>")
    generator = round_summary.get("generator", {})
    slo_rows = "".join(
        f"<tr class='{'met' if v['met'] else 'missed'}'><td>{escape(v['scope'])}</td><td>{escape(v['objective'])}</td>"
        f"<td>{v['limit']:g}</td><td>{_fmt(v['measured'], 3)}</td><td>{'met' if v['met'] else 'MISSED'}</td></tr>"
        for v in round_summary.get("slo_results", []))
    slos = (f"<table><tr><th>scope</th><th>objective</th><th>limit</th><th>measured</th><th></th></tr>{slo_rows}</table>"
            if slo_rows else "")
    rate = round_summary["rate_control"]
    length = (f"{round_summary['tx_number']} transactions" if round_summary["tx_number"] is not None
              else f"{round_summary['tx_duration_s']:g} s")
    return (f"<h2>Round {round_summary['index']}: {escape(round_summary['label'])}</h2>"
            f"<p>{escape(round_summary.get('description') or '')}</p>"
            f"<p>{escape(rate['type'])} {escape(json.dumps(rate['opts']))}, {length}"
            f"{', trim ' + str(round_summary['trim']) if round_summary.get('trim') else ''}; "
            f"generator <span class='{'met' if generator.get('kept_up', True) else 'missed'}'>"
            f"{escape(generator.get('verdict', ''))}</span></p>"
            + "".join(table) + slos + _charts(records))


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _charts(records: list[TxRecord]) -> str:
    confirmed = [r for r in records if r.status == "confirmed"]
    if not confirmed:
        return "<p>No confirmed transactions to plot.</p>"
    start = min(r.intended_ns for r in records)
    by_class: dict[str, list[TxRecord]] = defaultdict(list)
    for record in confirmed:
        by_class[record.class_asked].append(record)
    span_s = (max(r.decided_ns for r in confirmed) - start) / 1e9
    # About 60 points across a long round; never under a second, where counts per bucket alias.
    bucket_s = max(1.0, round(span_s / 60))

    latency_series: dict[str, list[tuple[float, float]]] = {}
    throughput_series: dict[str, list[tuple[float, float]]] = {}
    cdf_series: dict[str, list[tuple[float, float]]] = {}
    for slug, items in by_class.items():
        buckets: dict[int, list[float]] = defaultdict(list)
        done: dict[int, int] = defaultdict(int)
        for record in items:
            buckets[int((record.intended_ns - start) / 1e9 / bucket_s)].append(record.latency_ms)
            done[int((record.decided_ns - start) / 1e9 / bucket_s)] += 1
        latency_series[f"{slug} p99"] = [((b + 0.5) * bucket_s, _percentile(sorted(v), 99)) for b, v in sorted(buckets.items())]
        latency_series[f"{slug} p50"] = [((b + 0.5) * bucket_s, _percentile(sorted(v), 50)) for b, v in sorted(buckets.items())]
        last = max(done)
        throughput_series[slug] = [((b + 0.5) * bucket_s, done.get(b, 0) / bucket_s) for b in range(last + 1)]
        latencies = sorted(r.latency_ms for r in items)
        step = max(1, len(latencies) // CDF_POINTS)
        cdf_series[slug] = [(latencies[i], (i + 1) / len(latencies)) for i in range(0, len(latencies), step)]
        cdf_series[slug].append((latencies[-1], 1.0))
    dashed = [name for name in latency_series if name.endswith("p50")]
    return ("<div class='charts'>"
            + line_chart("Latency over time (p99 solid, p50 dashed)", latency_series, "seconds into the round (by intended send)",
                         "latency ms", dashed=dashed)
            + line_chart(f"Throughput over time (confirmed per second, {bucket_s:g} s buckets)", throughput_series,
                         "seconds into the round", "confirmed/s")
            + line_chart("Latency CDF", cdf_series, "latency ms (log scale)", "fraction confirmed within", log_x=True,
                         y_max=1.0)
            + "</div>")


def _percentile(sorted_values: list[float], percentile: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(percentile / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; max-width: 1200px; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }}
th, td {{ border: 1px solid #ddd; padding: 3px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
.met {{ color: #1a7f37; }} .missed {{ color: #c62828; font-weight: bold; }}
.charts svg {{ display: block; margin: 8px 0; }}
h2 {{ border-top: 1px solid #ccc; padding-top: 12px; }}
</style></head><body>
{body}
</body></html>
"""
