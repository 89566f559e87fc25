"""The run's report, built from the run folder alone: report.html and rounds.csv."""
from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from html import escape
from pathlib import Path

from harness.report.charts import PAGE, Line, Style, line_chart, style_of
from harness.store.folder import RunFolder, iso_to_ns, write_atomic
from harness.store.records import TxRecord
from harness.store.samples import read_samples
from harness.connectors.base import FAILURE_REASONS
from harness.store.summary import COMPLETE, LAG_FIGURES, PERCENTILES, ClassFigures, RoundSummary, RunSummary

CDF_POINTS = 400
# A node whose samples stop for this many of its usual intervals is marked as not reporting.
SILENT_INTERVALS = 3


def write_rounds_csv(folder: RunFolder, summary: RunSummary) -> Path:
    path = folder.rounds_csv_path
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["round", "label", "class", "submitted", "succeeded", "failed", *FAILURE_REASONS, "send_rate_tps", "throughput_tps",
                         *(f"latency_{c}_ms" for c in PERCENTILES), "lag_p50_ms", "lag_p99_ms", "lag_max_ms",
                         "partial"])
        for round_summary in summary.rounds:
            for slug, figures in _rows(round_summary, with_total=True):
                writer.writerow([
                    round_summary.index, round_summary.label, slug, figures.submitted, figures.succeeded,
                    figures.failed, *(figures.failed_by_reason.get(r, 0) for r in FAILURE_REASONS),
                    _num(figures.send_rate_tps), _num(figures.throughput_tps),
                    *(_num(figures.latency_ms[c]) for c in PERCENTILES),
                    *(_num(figures.lag_ms[c]) for c in LAG_FIGURES),
                    int(round_summary.partial),
                ])
    return path


def _rows(round_summary: RoundSummary, with_total: bool) -> list[tuple[str, ClassFigures]]:
    """(class name, figures) per class, and ``all`` (always, or where there is more than one class)."""
    rows = [(service_class.slug, figures) for service_class, figures in round_summary.classes.items()]
    if with_total or len(rows) > 1:
        rows.append(("all", round_summary.total))
    return rows


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def build_report(folder: RunFolder) -> Path:
    """Writes report.html (and rounds.csv) from the summary, the records and the node samples."""
    summary = folder.read_summary()
    write_rounds_csv(folder, summary)
    body = [_header(summary), _audit_section(summary)]
    for round_summary in summary.rounds:
        records = [r for r in folder.round_records(round_summary.index) if not r.trimmed]
        body.append(_round_section(round_summary, records))
    body.append(_nodes_section(folder, summary))
    html = PAGE.format(title=escape(f"vdlt-harness run {summary.run_id}"), body="\n".join(body))
    write_atomic(folder.report_path, html)
    return folder.report_path


def _header(summary: RunSummary) -> str:
    nodes = "".join(
        f"<tr><td>{escape(n.name)}</td><td>{n.role}</td><td>{escape(n.hardware_profile)}</td>"
        f"<td>{escape(n.endpoint)}</td><td class='{'missed' if n.absent else 'met'}'>"
        f"{escape('absent: ' + n.absent) if n.absent else 'present'}</td></tr>"
        for n in summary.nodes)
    absent = [n.name for n in summary.absent]
    definitions = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in summary.definitions.items())
    stopped = f" ({escape(summary.stopped_by)})" if summary.stopped_by else ""
    benchmark = summary.benchmark
    return (f"<h1>Run {escape(summary.run_id)}</h1>"
            f"<p>benchmark <b>{escape(benchmark.name)}</b> ({escape(benchmark.source)}), "
            f"{benchmark.workers} worker(s); status <b class='{'met' if summary.status == COMPLETE else 'missed'}'>"
            f"{escape(summary.status)}</b>{stopped}; {escape(summary.started_at)} → {escape(summary.ended_at)}</p>"
            + (f"<p class='missed'>Absent from this run: {escape(', '.join(absent))}</p>" if absent else "")
            + (f"<details><summary>testbed ({len(summary.nodes)} nodes)</summary><div class='scroll'>"
               f"<table><tr><th>node</th><th>role</th><th>profile</th><th>endpoint</th><th>in this run</th></tr>"
               f"{nodes}</table></div></details>"
               if summary.nodes else f"<p>sent to {escape(', '.join(summary.endpoints))} (no inventory)</p>")
            + f"<details><summary>definitions</summary><ul>{definitions}</ul></details>")


def _audit_section(summary: RunSummary) -> str:
    """What every receipt was checked against: the execution nodes' chains."""
    audit = summary.audit
    if audit is None:
        return ("<h2>Ledger audit</h2><p>Not audited (run with --no-audit, interrupted, or without an inventory); "
                "<code>harness audit RUN_DIR</code> audits it while its nodes' chains are there.</p>")
    if audit.skipped:
        return f"<h2>Ledger audit</h2><p class='missed'>Not audited: {escape(audit.skipped)}</p>"
    verdict = ("<p class='met'>Every receipt is borne out by the chains, and the chains agree.</p>" if audit.ok else
               "<ul class='missed'>" + "".join(f"<li>{escape(v)}</li>" for v in audit.violations()) + "</ul>")
    columns = ("class", "confirmed", "in chains", "short of quorum", "holes", "applied twice", "failed, yet held",
               "uncertain: held", "uncertain: not held")
    rows = "".join(
        "<tr>" + "".join(f"<td class='{'missed' if bad else ''}'>{escape(str(value))}</td>" for value, bad in (
            (slug, False), (f.confirmed, False), (f.confirmed_present, False), (f.under_quorum, f.under_quorum),
            (sum(f.missing.values()), f.missing), (f.applied_twice, f.applied_twice),
            (f.reported_failed_present + f.contradicted, f.reported_failed_present + f.contradicted),
            (f.uncertain_committed, False), (f.uncertain_absent, False))) + "</tr>"
        for slug, f in audit.classes.items())
    nodes = "".join(
        f"<li>{escape(n.node)}: " + (f"<span class='missed'>not read ({escape(n.error)})</span>" if n.error else
                                     f"commits {n.read_after + 1}..{n.last_sequence}"
                                     + (f", {n.behind} behind the longest chain (catching up)" if n.behind else ""))
        + "</li>" for n in audit.nodes)
    return ("<h2>Ledger audit</h2>" + verdict
            + "<div class='scroll'><table><tr>" + "".join(f"<th>{c}</th>" for c in columns) + f"</tr>{rows}</table></div>"
            + f"<p>Each receipt of the run against every execution node's chain from where it stood when the run "
              f"began, in {audit.elapsed_s:.2f} s. A confirmed transaction must be in its class's quorum of chains; "
              f"a chain that goes past one without holding it has a hole; a node only behind is catching up.</p>"
            + f"<ul>{nodes}</ul>"
            + (f"<p>{audit.other_transactions} commit(s) in the run's span came from other clients.</p>"
               if audit.other_transactions else ""))


def _round_section(round_summary: RoundSummary, records: list[TxRecord]) -> str:
    table = ["<div class='scroll'><table><tr><th>class</th><th>submitted</th><th>succeeded</th><th>failed</th>"
             "<th>send/s</th><th>throughput/s</th>" + "".join(f"<th>{c} ms</th>" for c in PERCENTILES)
             + "<th>lag p99 ms</th></tr>"]
    for slug, figures in _rows(round_summary, with_total=False):
        reasons = ", ".join(f"{k} {v}" for k, v in figures.failed_by_reason.items() if v)
        table.append(
            f"<tr><td>{escape(slug)}</td><td>{figures.submitted}</td><td>{figures.succeeded}</td>"
            f"<td title='{escape(reasons)}'>{figures.failed}{f' ({escape(reasons)})' if reasons else ''}</td>"
            f"<td>{_fmt(figures.send_rate_tps, 1)}</td><td>{_fmt(figures.throughput_tps, 1)}</td>"
            + "".join(f"<td>{_fmt(figures.latency_ms[c], 2)}</td>" for c in PERCENTILES)
            + f"<td>{_fmt(figures.lag_ms['p99'], 2)}</td></tr>")
    table.append("</table></div>")
    header, generator = round_summary.header, round_summary.generator
    length = f"{header.tx_number} transactions" if header.tx_number is not None else f"{header.tx_duration_s:g} s"
    partial = (" <span class='missed'>(partial: stopped before its end; figures of what was recorded)</span>"
               if round_summary.partial else "")
    return (f"<h2>Round {header.index}: {escape(header.label)}{partial}</h2>"
            f"<p>{escape(header.description)}</p>"
            f"<p>{escape(header.rate_type)} {escape(json.dumps(header.rate_opts))}, {length}"
            f"{', trim ' + str(header.trim) if header.trim else ''}; "
            f"generator <span class='{'met' if generator.kept_up else 'missed'}'>{escape(generator.verdict)}</span></p>"
            + "".join(table) + _failures(round_summary) + _slos(round_summary) + _round_charts(records))


def _failures(round_summary: RoundSummary) -> str:
    rows = "".join(
        f"<tr><td>{escape(service_class.slug)}</td><td>{escape(r.status)}</td><td>{r.count}</td>"
        f"<td class='text'>{escape(r.reason)}</td></tr>"
        for service_class, figures in round_summary.classes.items() for r in figures.failure_reasons)
    if not rows:
        return ""
    return ("<h3>Why transactions failed</h3><div class='scroll'><table><tr><th>class</th><th>status</th>"
            f"<th>count</th><th class='text'>reason (the most frequent)</th></tr>{rows}</table></div>")


def _slos(round_summary: RoundSummary) -> str:
    rows = "".join(
        f"<tr><td>{escape(v.scope_name)}</td><td>{escape(v.objective)}</td><td>{v.limit:g}</td>"
        f"<td>{_fmt(v.measured, 3)}</td><td class='{'met' if v.met else 'missed'}'>"
        f"{'met' if v.met else 'MISSED'}</td></tr>"
        for v in round_summary.slo_results)
    if not rows:
        return ""
    return ("<h3>Service-level objectives</h3><div class='scroll'><table><tr><th>scope</th><th>objective</th>"
            f"<th>limit</th><th>measured</th><th>verdict</th></tr>{rows}</table></div>")


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def bucket_seconds(records: list[TxRecord]) -> tuple[int, float, int]:
    """The round's start (ns), the width of its time buckets, and how many whole buckets fit
    between its start and its last confirmation: a last bucket that holds only the final late
    receipts would read as throughput falling, so it is not drawn."""
    start = min(r.intended_ns for r in records)
    span_s = (max(r.decided_ns for r in records if r.status == "confirmed") - start) / 1e9
    # About 60 points across a long round; never under a second, where counts per bucket alias.
    bucket_s = max(1.0, round(span_s / 60))
    return start, bucket_s, int(span_s // bucket_s)


def throughput_lines(records: list[TxRecord]) -> list[Line]:
    """Per class, confirmations per second and (dashed) transactions offered per second, over
    the round's whole buckets."""
    start, bucket_s, whole = bucket_seconds(records)
    lines = []
    for i, slug in enumerate(sorted({r.class_asked for r in records if r.status == "confirmed"})):
        done: dict[int, int] = defaultdict(int)
        offered: dict[int, int] = defaultdict(int)
        for record in records:
            if record.class_asked != slug:
                continue
            offered[int((record.intended_ns - start) / 1e9 / bucket_s)] += 1
            if record.status == "confirmed":
                done[int((record.decided_ns - start) / 1e9 / bucket_s)] += 1
        style = style_of(slug, i)
        lines.append(Line(f"{slug} confirmed", [((b + 0.5) * bucket_s, done.get(b, 0) / bucket_s)
                                                for b in range(whole)], style))
        lines.append(Line(f"{slug} offered", [((b + 0.5) * bucket_s, offered.get(b, 0) / bucket_s)
                                              for b in range(min(whole, max(offered) + 1))], style, dashed=True))
    return lines


def _round_charts(records: list[TxRecord]) -> str:
    confirmed = [r for r in records if r.status == "confirmed"]
    if not confirmed:
        return "<p>No confirmed transactions to plot.</p>"
    start, bucket_s, _ = bucket_seconds(records)
    by_class: dict[str, list[TxRecord]] = defaultdict(list)
    for record in confirmed:
        by_class[record.class_asked].append(record)
    latency: list[Line] = []
    cdf: list[Line] = []
    for i, slug in enumerate(sorted(by_class)):
        items, style = by_class[slug], style_of(slug, i)
        buckets: dict[int, list[float]] = defaultdict(list)
        for record in items:
            buckets[int((record.intended_ns - start) / 1e9 / bucket_s)].append(record.latency_ms)
        latency.append(Line(f"{slug} p99", [((b + 0.5) * bucket_s, _percentile(sorted(v), 99))
                                            for b, v in sorted(buckets.items())], style))
        latency.append(Line(f"{slug} p50", [((b + 0.5) * bucket_s, _percentile(sorted(v), 50))
                                            for b, v in sorted(buckets.items())], style, dashed=True))
        latencies = sorted(r.latency_ms for r in items)
        step = max(1, len(latencies) // CDF_POINTS)
        points = [(latencies[j], (j + 1) / len(latencies)) for j in range(0, len(latencies), step)]
        cdf.append(Line(slug, [*points, (latencies[-1], 1.0)], style))
    return ("<div class='charts'>"
            + line_chart("Latency over time (p99 solid, p50 dashed)", latency,
                         "seconds into the round (by intended send)", "latency (ms)")
            + line_chart(f"Throughput over time ({bucket_s:g} s buckets; offered dashed)", throughput_lines(records),
                         "seconds into the round", "transactions/s")
            + line_chart("Latency CDF", cdf, "latency (ms, log scale)", "fraction confirmed within", log_x=True,
                         y_max=1.0)
            + "</div>")


def _percentile(sorted_values: list[float], percentile: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(percentile / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def _nodes_section(folder: RunFolder, summary: RunSummary) -> str:
    """Each node's CPU, memory and trust over the run, the rounds shaded, and a cross where a
    node stopped reporting."""
    samples = {path.stem: read_samples(path) for path in folder.node_sample_files()}
    samples = {node: s for node, s in samples.items() if s}
    if not samples:
        return ""
    start = iso_to_ns(summary.started_at)
    spans = [((iso_to_ns(r.started_at) - start) / 1e9, (iso_to_ns(r.started_at) - start) / 1e9 + r.duration_s,
              r.label) for r in summary.rounds]
    cpu, memory, trust = [], [], []
    marks: list[tuple[float, float, str]] = []
    silent_notes = []
    for i, (node, node_samples) in enumerate(sorted(samples.items())):
        style = _node_style(i)
        times = [(s["time_ns"] - start) / 1e9 for s in node_samples]
        cpu.append(Line(node, list(zip(times, (s["cpu"]["usage_active"] for s in node_samples))), style))
        memory.append(Line(node, list(zip(times, (s["mem"]["used_percent"] for s in node_samples))), style))
        if node_samples[0]["role"] == "execution":
            trust.append(Line(node, list(zip(times, (s["trust"]["score"] for s in node_samples))), style))
        intervals = [b - a for a, b in zip(times, times[1:])]
        usual = statistics.median(intervals) if intervals else 0
        for (t0, t1), sample in zip(zip(times, times[1:]), node_samples):
            if usual and t1 - t0 > SILENT_INTERVALS * usual:
                marks.append((t0, sample["cpu"]["usage_active"], "stopped reporting"))
                silent_notes.append(f"{node}: no samples from {t0:.1f} s to {t1:.1f} s")
        end_s = (iso_to_ns(summary.ended_at) - start) / 1e9
        if usual and end_s - times[-1] > SILENT_INTERVALS * usual + 1:
            marks.append((times[-1], node_samples[-1]["cpu"]["usage_active"], "stopped reporting"))
            silent_notes.append(f"{node}: no samples after {times[-1]:.1f} s (the run ended at {end_s:.1f} s)")
    notes = ("<p class='missed'>" + "<br>".join(escape(n) for n in silent_notes) + "</p>") if silent_notes else ""
    return ("<h2>Nodes</h2><p>As each node's agent reported it (nodes/*.jsonl); rounds shaded.</p>" + notes
            + "<div class='charts'>"
            + line_chart("CPU busy (%)", cpu, "seconds into the run", "% of all cores", y_max=100, spans=spans,
                         marks=marks)
            + line_chart("Memory used (%)", memory, "seconds into the run", "% of memory", y_max=100, spans=spans)
            + (line_chart("Trust (execution nodes)", trust, "seconds into the run", "score", y_max=1.0, spans=spans)
               if trust else "")
            + "</div>")


# Nodes are not classes: they take the classes' styles in this order, each its own marker.
_NODE_STYLES = ("fast-confirmation", "best-effort", "low-cost", "computation-intensive", "private",
                "management-control", "storage-intensive", "scavenger")


def _node_style(index: int) -> Style:
    return style_of(_NODE_STYLES[index % len(_NODE_STYLES)])
