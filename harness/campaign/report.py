"""The campaign's comparison: ``comparison.csv``, ``comparison.json`` and ``report.html``, from the folder alone.

One row per cell (benchmark × testbed × policy) and class: the saturation the searches found
over the repetitions, with a confidence interval (:mod:`harness.campaign.statistics`), the
class's own confirmed rate and latency there, the execution nodes' CPU and memory during that
step, and confirmed transactions per cost-hour. Every two testbeds measured on the same benchmark
and policy are compared per class as a ratio with its interval (Kalibera and Jones) and a
verdict. The placement (:mod:`harness.campaign.placement`) answers which machines to buy.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import statistics
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from harness.campaign.folder import COMPLETE, CampaignFolder, Trial
from harness.campaign.placement import MODEL, PlacementAnswer, additivity, place
from harness.campaign.statistics import Interval, compare, mean_interval
from harness.report.charts import PAGE, Line, bar_chart, line_chart, style_of
from harness.run.saturation import WARM_UP
from harness.store.folder import RunFolder, iso_to_ns, write_atomic
from harness.store.samples import read_samples
from harness.store.saturation import REACHED
from harness.store.summary import RoundSummary
from vdlt.cos import ServiceClass

CSV_COLUMNS = ("benchmark", "policy", "testbed", "profile", "execution_nodes", "emulated", "class", "repetitions",
               "saturation_tps", "saturation_ci_low", "saturation_ci_high", "resolution_tps", "class_tps",
               "class_tps_ci_low", "class_tps_ci_high", "latency_p50_ms", "latency_p99_ms", "success_ratio",
               "execution_cpu_percent", "execution_memory_mb", "testbed_cost_per_hour", "confirmed_per_cost_hour",
               "bounds", "ci_method", "note")
CONFIDENCE = 0.95


@dataclass
class CellClass:
    """One class of one cell, over the cell's complete repetitions."""

    benchmark: str
    policy: str
    testbed: str
    profile: str
    execution_nodes: int
    emulated: bool
    cost_per_hour: float
    slug: str
    label: str = ""
    """The cell's name in figures and tables: its testbed, with policy and benchmark where they vary."""
    saturation: list[float] = field(default_factory=list)
    """Per repetition, as measured (a bound where the search did not bracket it): for the placement."""
    reached: list[float] = field(default_factory=list)
    """The repetitions whose search bracketed the saturation: the interval and comparisons use these."""
    resolution: list[float] = field(default_factory=list)
    """Per bracketed repetition, how far the first rate the class missed was above its saturation."""
    class_tps: list[float] = field(default_factory=list)
    total_tps: list[float] = field(default_factory=list)
    """Every class's confirmed rate together at the class's saturation step (what the cost buys)."""
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    success: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    memory_mb: list[float] = field(default_factory=list)
    bounds: list[str] = field(default_factory=list)
    curve: list[tuple[float, float | None, float | None, float | None]] = field(default_factory=list)
    """(offered rate, class throughput, p50, p99) of every step of every repetition."""
    fixed: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """Per fixed-rate round label: p50 and p99 over the repetitions."""

    def limits_over(self, other: CellClass) -> tuple[float, float]:
        """The lowest and highest ratio of this cell's mean saturation to ``other``'s that their
        searches' brackets allow: each repetition's saturation lies between the rate it met and
        the rate it missed."""
        def missed(entry: CellClass) -> float:
            return statistics.fmean(s + r for s, r in zip(entry.reached, entry.resolution))

        return statistics.fmean(self.reached) / missed(other), missed(self) / statistics.fmean(other.reached)

    @property
    def bracketed(self) -> bool:
        """Every repetition's search found where the class stops meeting its SLO."""
        return bool(self.saturation) and len(self.reached) == len(self.saturation)

    def saturation_interval(self) -> Interval:
        if self.bracketed:
            interval = mean_interval(self.reached, CONFIDENCE)
            if interval.has_interval and interval.low == interval.high:
                missed = {s + r for s, r in zip(self.reached, self.resolution)}
                interval = dataclasses.replace(interval, note=(
                    f"{interval.note}; every repetition met {self.reached[0]:g} and missed "
                    f"{' or '.join(f'{m:g}' for m in sorted(missed))}: the run-to-run noise is below the search's "
                    f"resolution"))
            return interval
        unbracketed = sorted({b for b in self.bounds if b != REACHED})
        estimate = mean_interval(self.saturation, CONFIDENCE).estimate if self.saturation else None
        return Interval(estimate if estimate is not None else float("nan"), None, None, "none", len(self.saturation),
                        f"{len(self.saturation) - len(self.reached)} of {len(self.saturation)} searches did not "
                        f"bracket "
                        f"the saturation ({', '.join(unbracketed)}): the figure is a bound, so no interval")

    def row(self) -> dict[str, Any]:
        saturation, rate = self.saturation_interval(), mean_interval(self.class_tps, CONFIDENCE)
        cost, total = self.cost_per_hour, _mean(self.total_tps)
        return {
            "label": self.label,
            "benchmark": self.benchmark, "policy": self.policy, "testbed": self.testbed, "profile": self.profile,
            "execution_nodes": self.execution_nodes, "emulated": self.emulated, "class": self.slug,
            "repetitions": len(self.saturation),
            "saturation_tps": _finite(saturation.estimate), "saturation_ci_low": saturation.low,
            "saturation_ci_high": saturation.high, "resolution_tps": _mean(self.resolution),
            "class_tps": _finite(rate.estimate), "class_tps_ci_low": rate.low, "class_tps_ci_high": rate.high,
            "latency_p50_ms": _mean(self.p50), "latency_p99_ms": _mean(self.p99), "success_ratio": _mean(self.success),
            "execution_cpu_percent": _mean(self.cpu), "execution_memory_mb": _mean(self.memory_mb),
            "testbed_cost_per_hour": cost,
            "confirmed_per_cost_hour": total * 3600 / cost if cost and total is not None else None,
            "bounds": ";".join(sorted(set(self.bounds))), "ci_method": saturation.method, "note": saturation.note,
        }


def _finite(value: float | None) -> float | None:
    return None if value is None or value != value else value


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def collect(folder: CampaignFolder) -> tuple[dict[str, Any], list[Trial], dict[tuple[str, str], CellClass]]:
    """Every complete trial's figures, per cell and class."""
    manifest = folder.manifest()
    trials = folder.read_index()
    cells = {cell["id"]: cell for cell in manifest["cells"]}
    found: dict[tuple[str, str], CellClass] = {}
    for trial in trials:
        if trial.state != COMPLETE or not trial.run:
            continue
        cell = cells[trial.cell]
        testbed = manifest["testbeds"][cell["testbed"]]
        run = RunFolder.open(folder.path / trial.run)
        summary = run.read_summary()
        samples = _execution_samples(run)
        for result in summary.saturation:
            for slug, figures in result.classes.items():
                entry = found.setdefault((trial.cell, slug), CellClass(
                    cell["benchmark"], cell["policy"], cell["testbed"], testbed["execution_profile"],
                    testbed["execution_nodes"], testbed["emulated"],
                    testbed["cost_per_hour"] * testbed["execution_nodes"], slug))
                # A search that did not bracket the saturation gives a bound: "below start" is under
                # the first rate (0 counts it conservatively), "not reached" and "generator" over what it says.
                entry.saturation.append(figures.saturation_tps or 0.0)
                if figures.bound == REACHED and figures.saturation_tps is not None:
                    entry.reached.append(figures.saturation_tps)
                    if figures.limit_tps is not None:
                        entry.resolution.append(figures.limit_tps - figures.saturation_tps)
                if figures.class_tps is not None:
                    entry.class_tps.append(figures.class_tps)
                entry.bounds.append(figures.bound)
                for target, value in ((entry.p50, figures.latency_p50_ms), (entry.p99, figures.latency_p99_ms),
                                      (entry.success, figures.success_ratio)):
                    if value is not None:
                        target.append(value)
                step = next((r for r in summary.rounds if r.index == figures.round_index), None)
                if step is not None and step.total.throughput_tps is not None:
                    entry.total_tps.append(step.total.throughput_tps)
                if step is not None:
                    cpu, memory = _usage_during(samples, step)
                    if cpu is not None:
                        entry.cpu.append(cpu)
                    if memory is not None:
                        entry.memory_mb.append(memory)
                for step_round in summary.rounds:
                    search = step_round.header.search or {}
                    if search.get("round") == result.round_label and search.get("phase") != WARM_UP:
                        entry.curve.append(_curve_point(step_round, slug))
        for round_summary in summary.rounds:
            if round_summary.header.search is None and round_summary.header.offered_tps is not None:
                _fixed(found, trial, round_summary)
    # Named by testbed alone unless the campaign varies policies or benchmarks too.
    varies = [axis for axis in ("benchmark", "policy") if len({c[axis] for c in cells.values()}) > 1]
    for entry in found.values():
        entry.label = "/".join([entry.testbed, *(getattr(entry, axis) for axis in varies)])
    return manifest, trials, found


def _fixed(found: dict[tuple[str, str], CellClass], trial: Trial, round_summary: RoundSummary) -> None:
    for service_class, figures in round_summary.classes.items():
        entry = found.get((trial.cell, service_class.slug))
        if entry is None:
            continue
        slot = entry.fixed.setdefault(round_summary.label, {"p50": [], "p99": []})
        for key in ("p50", "p99"):
            if figures.latency_ms.get(key) is not None:
                slot[key].append(figures.latency_ms[key])


def _curve_point(step: RoundSummary, slug: str) -> tuple[float, float | None, float | None, float | None]:
    figures = step.classes.get(ServiceClass.from_slug(slug))
    offered = step.header.offered_tps or 0.0
    if figures is None:
        return offered, None, None, None
    return offered, figures.throughput_tps, figures.latency_ms.get("p50"), figures.latency_ms.get("p99")


def _execution_samples(run: RunFolder) -> list[dict[str, Any]]:
    return [s for path in run.node_sample_files() for s in read_samples(path) if s["role"] == "execution"]


def _usage_during(samples: list[dict[str, Any]], step: RoundSummary) -> tuple[float | None, float | None]:
    """Execution nodes' mean CPU (percent of what each may use) and resident memory (the agent's
    own, which hosts the node's role; the machine's from agents before it was reported) during a step."""
    start = iso_to_ns(step.started_at)
    end = start + int(step.duration_s * 1e9)
    inside = [s for s in samples if start <= s["time_ns"] <= end]
    if not inside:
        return None, None
    cpu = statistics.fmean(s["cpu"]["usage_active"] for s in inside)
    return cpu, statistics.fmean(s["mem"].get("agent_rss") or s["mem"]["used"] for s in inside) / 2**20


def comparisons(found: dict[tuple[str, str], CellClass]) -> list[dict[str, Any]]:
    """Every two testbeds of the same benchmark and policy, per class: the ratio of their saturations."""
    result = []
    groups: dict[tuple[str, str, str], list[CellClass]] = {}
    for entry in found.values():
        groups.setdefault((entry.benchmark, entry.policy, entry.slug), []).append(entry)
    for (benchmark, policy, slug), entries in sorted(groups.items()):
        for a, b in itertools.combinations(sorted(entries, key=lambda e: e.testbed), 2):
            if not (a.bracketed and b.bracketed):
                result.append({"benchmark": benchmark, "policy": policy, "class": slug, "a": a.testbed, "b": b.testbed,
                               "ratio": {"estimate": None, "low": None, "high": None}, "significant": False,
                               "better": None, "verdict": "not compared: a search did not bracket the saturation of "
                                                          "this class (the figures are bounds)"})
                continue
            verdict = compare(a.testbed, a.reached, b.testbed, b.reached, higher_is_better=True,
                              confidence=CONFIDENCE).to_json()
            low, high = a.limits_over(b)
            verdict["brackets"] = {"low": low, "high": high}
            verdict["verdict"] += _bracket_note(a, b, low, high, verdict["ratio"])
            result.append({"benchmark": benchmark, "policy": policy, "class": slug, "a": a.testbed, "b": b.testbed,
                           **verdict})
    return result


def _bracket_note(a: CellClass, b: CellClass, low: float, high: float, ratio: dict[str, Any]) -> str:
    """What the searches' brackets say of the ratio: a bound that holds whatever the noise, and
    all there is to say where every repetition found the same saturation (an interval of width 0)."""
    bound = f"the searches' brackets put the ratio between {low:.2f} and {high:.2f}"
    if ratio["low"] is not None and ratio["low"] == ratio["high"]:
        side = ("" if low <= 1.0 <= high else
                f", so {a.testbed if low > 1.0 else b.testbed} is better whatever lies inside the brackets")
        return (f"; every repetition found the same saturations, so the run-to-run noise is below the search's "
                f"resolution: {bound}{side} (more bisections narrow it)")
    return f"; {bound}"


def build_campaign_report(folder: CampaignFolder) -> Path:
    manifest, trials, found = collect(folder)
    rows = [entry.row() for _, entry in sorted(found.items(), key=lambda item: (item[1].benchmark, item[1].policy,
                                                                                  item[1].testbed, item[1].slug))]
    compared = comparisons(found)
    placements = place(manifest, found) if manifest.get("placement") else []
    scaling = additivity(found)
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    write_atomic(folder.path / "comparison.csv", out.getvalue())
    document = {"campaign": manifest["id"], "confidence": CONFIDENCE, "rows": rows, "comparisons": compared,
                "fixed_loads": {f"{e.label}/{e.slug}": {label: {k: mean_interval(v, CONFIDENCE).to_json()
                                                                  for k, v in slot.items()}
                                                          for label, slot in e.fixed.items()}
                                for e in found.values() if e.fixed},
                "curves": {f"{e.label}/{e.slug}": [{"offered_tps": x, "class_tps": tps, "latency_p50_ms": p50,
                                                     "latency_p99_ms": p99} for x, tps, p50, p99 in _by_rate(e.curve)]
                           for e in found.values()},
                "placement": [p.to_json() for p in placements], "additivity": scaling,
                "trials": {"total": len(trials), "complete": sum(t.state == COMPLETE for t in trials)}}
    write_atomic(folder.path / "comparison.json", json.dumps(document, indent=2) + "\n")
    path = folder.path / "report.html"
    write_atomic(path, _html(manifest, trials, found, rows, compared, placements, scaling))
    return path


# -- report.html ---------------------------------------------------------------------------------

def _num(value: Any, digits: int = 0) -> str:
    if value is None or value == "":
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else escape(str(value))


def compact(value: float | None) -> str:
    """A large count as people read it: 36.5M, 12.0k, 950."""
    if value is None:
        return "–"
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.1f}{suffix}"
    return f"{value:,.0f}"


def _interval_text(estimate: Any, low: Any, high: Any, digits: int = 0) -> str:
    if low is None or high is None:
        return _num(estimate, digits)
    return f"{_num(estimate, digits)} <small>({_num(low, digits)}–{_num(high, digits)})</small>"


def _html(manifest: dict[str, Any], trials: list[Trial], found: dict[tuple[str, str], CellClass],
          rows: list[dict[str, Any]], compared: list[dict[str, Any]], placements: list[PlacementAnswer],
          scaling: list[dict[str, Any]]) -> str:
    complete = sum(t.state == COMPLETE for t in trials)
    methods = sorted({r["ci_method"] for r in rows})
    # A row's note is its method, then what was seen of that cell ("; "): the head names the methods.
    notes = sorted({r["note"].split("; ")[0] for r in rows if r["note"]})
    head = (f"<h1>Campaign {escape(manifest['name'])}</h1><p>{escape(manifest.get('description') or '')}</p>"
            f"<p>{complete} of {len(trials)} trials complete · {manifest['repetitions']} repetition(s) per cell · "
            f"order {escape(manifest['order'])} (seed {manifest['seed']}) · folder {escape(manifest['id'])}</p>"
            f"<p>Intervals: {CONFIDENCE:.0%} confidence over the repetitions, method "
            f"{escape(', '.join(methods) or 'none')}. {escape(' '.join(notes))}</p>")
    testbeds = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(t['execution_profile'])}</td><td>{t['execution_nodes']}</td>"
        f"<td class='text'>{escape(_caps(t['profiles']))}</td><td>{_num(t['cost_per_hour'], 2)}</td></tr>"
        for name, t in manifest["testbeds"].items())
    parts = [head, "<h2>Testbeds</h2><table><tr><th>testbed</th><th>execution profile</th><th>nodes</th>"
                   "<th>emulated caps</th><th>cost/h per node</th></tr>" + testbeds + "</table>",
             _placement_html(placements, scaling), _saturation_html(rows), _curves_html(found),
             _comparisons_html(compared)]
    return PAGE.format(title=escape(f"vdlt-harness campaign {manifest['name']}"), body="\n".join(parts))


def _caps(profiles: dict[str, Any]) -> str:
    capped = {group: p for group, p in profiles.items() if p["limits"]}
    if not capped:
        return "none (uncapped)"
    return "; ".join(f"{group}: {p['name']} ({', '.join(f'{k} {v}' for k, v in p['limits'].items())})"
                     for group, p in capped.items())


def _saturation_html(rows: list[dict[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{escape(r['label'])}</td><td>{escape(r['profile'])}</td><td>{escape(r['policy'])}</td>"
        f"<td>{escape(r['class'])}</td><td>{r['repetitions']}</td>"
        f"<td>{_interval_text(r['saturation_tps'], r['saturation_ci_low'], r['saturation_ci_high'])}</td>"
        f"<td>{_interval_text(r['class_tps'], r['class_tps_ci_low'], r['class_tps_ci_high'])}</td>"
        f"<td>{_num(r['latency_p50_ms'], 1)}</td><td>{_num(r['latency_p99_ms'], 1)}</td>"
        f"<td>{_num(r['success_ratio'], 3)}</td><td>{_num(r['execution_cpu_percent'])}</td>"
        f"<td>{_num(r['execution_memory_mb'])}</td><td>{compact(r['confirmed_per_cost_hour'])}</td>"
        f"<td class='text'>{escape(r['bounds'])}</td></tr>" for r in rows)
    bars = bar_chart("Saturation per class (offered tx/s, whole mix)",
                     [(r["label"], r["class"], r["saturation_tps"] or 0.0, r["saturation_ci_low"],
                       r["saturation_ci_high"]) for r in rows], "offered tx/s at the mix")
    own = bar_chart("The class's own confirmed tx/s there",
                    [(r["label"], r["class"], r["class_tps"] or 0.0, r["class_tps_ci_low"], r["class_tps_ci_high"])
                     for r in rows], "confirmed tx/s of the class")
    return ("<h2>Saturation per class</h2><div class='charts'>" + bars + own + "</div><div class='scroll'><table><tr>"
            "<th>testbed</th><th>profile</th><th>policy</th><th>class</th><th>reps</th><th>saturation tx/s (CI)</th>"
            "<th>class's own tx/s (CI)</th><th>p50 ms</th><th>p99 ms</th><th>success</th><th>exec CPU %</th>"
            "<th>exec MiB</th><th>tx per cost-hour</th><th>bounds</th></tr>" + body + "</table></div>"
            "<p><small>Saturation: the highest total offered rate, at the benchmark's mix, at which the class met its "
            "SLO and confirmed at least the search's keepUp share of what it was offered (mean over the repetitions; "
            "the interval is over the repetitions; a search measures rates on a grid, so the repetitions may agree "
            "exactly: resolution_tps in comparison.csv says how wide each bracket was). p50, p99 and success are "
            "the class's at that step; exec CPU % is of what each execution node may use (its cap, or the whole "
            "machine, which the nodes of a local testbed share); exec MiB is the node agent's own resident memory; "
            "tx per cost-hour is every class's confirmed transactions at that step per hour of the execution "
            "nodes' cost; bounds say how each search bracketed it.</small></p>")


def _curves_html(found: dict[tuple[str, str], CellClass]) -> str:
    charts = []
    for slug in sorted({e.slug for e in found.values()}, key=lambda s: -int(ServiceClass.from_slug(s))):
        entries = sorted((e for e in found.values() if e.slug == slug), key=lambda e: e.label)
        latency, throughput = [], []
        for index, entry in enumerate(entries):
            style = style_of(entry.label, index + 1)
            points = _by_rate(entry.curve)
            latency.append(Line(f"{entry.label} p99", [(x, p99) for x, _, _, p99 in points if p99 is not None], style))
            latency.append(Line(f"{entry.label} p50", [(x, p50) for x, _, p50, _ in points if p50 is not None], style,
                                dashed=True))
            throughput.append(Line(entry.label, [(x, tps) for x, tps, _, _ in points if tps is not None], style))
        charts.append(line_chart(f"{slug}: latency against offered load", latency, "offered tx/s (all classes)",
                                 "latency ms"))
        charts.append(line_chart(f"{slug}: confirmed throughput against offered load", throughput,
                                 "offered tx/s (all classes)", f"{slug} confirmed tx/s"))
    return "<h2>Curves (every step of every repetition)</h2><div class='charts'>" + "".join(charts) + "</div>"


def _by_rate(curve: list[tuple[float, float | None, float | None, float | None]]
             ) -> list[tuple[float, float | None, float | None, float | None]]:
    """The steps' figures averaged per offered rate, in rate order."""
    rates: dict[float, list[tuple[float | None, float | None, float | None]]] = {}
    for offered, tps, p50, p99 in curve:
        rates.setdefault(offered, []).append((tps, p50, p99))
    result = []
    for offered in sorted(rates):
        columns = list(zip(*rates[offered]))
        result.append((offered, *(_mean([v for v in column if v is not None]) for column in columns)))
    return result  # type: ignore[return-value]


def _comparisons_html(compared: list[dict[str, Any]]) -> str:
    if not compared:
        return "<h2>Comparisons</h2><p>One testbed only: nothing to compare.</p>"
    body = "".join(
        f"<tr><td>{escape(c['class'])}</td><td>{escape(c['policy'])}</td><td>{escape(c['a'])} / {escape(c['b'])}</td>"
        f"<td>{_interval_text(c['ratio']['estimate'], c['ratio']['low'], c['ratio']['high'], 2)}</td>"
        f"<td class='{'met' if c['significant'] else ''} text'>{escape(c['verdict'])}</td></tr>" for c in compared)
    return ("<h2>Comparisons (ratio of saturations, Kalibera and Jones)</h2><table><tr><th>class</th><th>policy</th>"
            "<th>a / b</th><th>ratio (CI)</th><th>verdict</th></tr>" + body + "</table>")


def _placement_html(placements: list[PlacementAnswer], scaling: list[dict[str, Any]]) -> str:
    if not placements:
        return ""
    parts = ["<h2>Placement: the cheapest set of machines that serves the targets</h2>", f"<p>{escape(MODEL)}</p>"]
    for answer in placements:
        parts.append(answer.html())
    if not scaling:
        parts.append("<p>How far the model holds was not measured in this campaign: it needs a profile measured "
                     "with one and with two execution nodes (workloads/campaigns/additivity.yaml does that).</p>")
    else:
        body = "".join(f"<tr><td>{escape(s['profile'])}</td><td>{escape(s['class'])}</td><td>{_num(s['one'])}</td>"
                       f"<td>{_num(s['two'])}</td><td>{_num(s['factor'], 2)}</td><td>{s['bounded']}</td></tr>"
                       for s in scaling)
        parts.append("<p>How far saturation adds up across execution nodes, measured: a factor of 1.00 means two "
                     "nodes serve twice what one does.</p><table><tr><th>profile</th><th>class</th><th>1 node tx/s"
                     "</th><th>2 nodes tx/s</th><th>2 ÷ (2 × 1)</th><th>searches left out (not bracketed)</th>"
                     "</tr>" + body + "</table>")
    return "".join(parts)
