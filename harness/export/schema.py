"""Which points a run folder becomes, in InfluxDB line protocol.

Tags are of low cardinality only (benchmark, campaign, cell, run id, round, class, status,
worker); ids and values are fields. Points are derived from the folder deterministically - same
points, same timestamps - so pushing a run twice leaves the database as pushing it once.

Every point starts with the run's tags (:func:`run_tags`): ``benchmark`` (the benchmark's name),
``campaign`` (the campaign's id), ``cell`` (the campaign cell's id) and ``run_id``. A run outside
a campaign has no ``campaign`` and no ``cell`` tag at all: line protocol has no empty tag value,
and in InfluxQL ``"campaign" = ''`` matches a point without the tag. Before campaigns, the tag
``campaign`` held the benchmark's name and there was no ``benchmark`` tag; points written then
keep those tags (the manifest of such a run folder still says so, and :func:`run_labels` reads
it, so pushing one again tags it the new way - as new series beside the old ones).

- ``vdlt_transactions``: one point per transaction, at its intended send time (ns).
  tags: the run's, round, class, class_given, status, worker;
  fields: tx_id, lag_ms, latency_ms (decided ones), execution_nodes, reason, trimmed.
- ``vdlt_rounds``: one point per round and class (and ``all``), at the round's start.
  tags: the run's, round, class; fields: the figures of summary.json, and ``offered_tps`` (float)
  for a ``fixed-rate`` round: the total rate the generator was asked for (all workers, all
  classes; the same on every class's point of the round), to plot figures against offered load.
- Node state samples under Telegraf's names and fields, so existing dashboards read them:
  ``cpu`` (tag cpu=cpu-total; usage_user, usage_system, usage_idle, usage_iowait, usage_steal,
  usage_nice, usage_irq, usage_softirq, usage_active), ``system`` (load1, load5, load15, n_cpus),
  ``mem`` (total, available, used, used_percent), ``disk`` (tags path, device, fstype; total, free,
  used, used_percent),
  ``diskio`` (tag name; read_bytes, write_bytes, reads, writes and per-second rates), and
  ``vdlt_trust`` (score, evidence, agreements, dissents, timeouts, uptime, code digest); all with
  the run's tags and host, role, hardware_profile, arch, at the node's sample time.
- ``vdlt_audit``: the run's audit, one point per class (and ``all``) at the run's start.
  tags: the run's, class; fields: ok, confirmed, confirmed_present, under_quorum, lost,
  missing (summed over nodes), applied_twice, reported_failed_present, contradicted,
  uncertain_committed, uncertain_absent; on ``all`` also divergence and elapsed_s.
- ``vdlt_selection``: a control node's view of each execution node, per sample; the node tags
  plus execution_node; fields selectable (1 or 0, so it can be graphed), reason, trust_score,
  outstanding (transactions sent to it and not answered yet).
- ``vdlt_saturation``: one point per class per saturation-search round.
  tags: the run's, round, class, hardware_profile, policy; fields: saturation_tps (the highest
  total offered rate at which the class met its SLO), class_tps (that class's own confirmed rate
  there), latency_p50_ms, latency_p99_ms, steps (integer), bound (how the figure is bounded:
  reached, not reached, below start, generator); at the search's first step.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.store.folder import RunFolder, iso_to_ns
from harness.store.manifest import run_labels
from harness.store.records import iter_table
from harness.store.samples import read_samples
from harness.store.saturation import SaturationResult
from harness.store.summary import RoundSummary, RunSummary


def _tag(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ") or "none"


def _string(value: str) -> str:
    if "\\" not in value and '"' not in value and "\n" not in value:
        return f'"{value}"'
    # Line protocol has no newline inside a value: a multi-line reason keeps its lines as "\n".
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "\\n")
    return f'"{escaped}"'


def _fields(fields: dict[str, object]) -> str:
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            parts.append(f"{key}={'true' if value else 'false'}")
        elif isinstance(value, int):
            parts.append(f"{key}={value}i")
        elif isinstance(value, float):
            parts.append(f"{key}={value!r}")
        else:
            parts.append(f"{key}={_string(str(value))}")
    return ",".join(parts)


def run_points(folder: RunFolder) -> Iterator[tuple[str, str]]:
    """(measurement, line) for every point of the run."""
    summary = folder.read_summary()
    manifest = folder.read_manifest()
    # A folder without a manifest still knows its benchmark from the summary; it was no campaign's.
    labels = run_labels(manifest) if manifest is not None else {
        "benchmark": summary.benchmark.name, "campaign": "", "cell": ""}
    for round_summary in summary.rounds:
        yield from round_points(folder, summary, round_summary, labels)
    yield from audit_points(summary, labels)
    yield from saturation_points(summary, labels, manifest)
    if manifest is not None:
        tags = NodeTags(manifest)
        for path in folder.node_sample_files():
            for sample in read_samples(path):
                yield from tags.points(sample)


def run_tags(labels: Mapping[str, str], run_id: str) -> str:
    """The tags every point of a run begins with. ``labels`` is :func:`run_labels` of the run's
    manifest; ``campaign`` and ``cell`` are left out when empty (a run outside a campaign), as
    line protocol cannot carry an empty tag value."""
    tags = f"benchmark={_tag(labels['benchmark'])}"
    for key in ("campaign", "cell"):
        if labels.get(key):
            tags += f",{key}={_tag(labels[key])}"
    return f"{tags},run_id={_tag(run_id)}"


def offered_tps(round_summary: RoundSummary) -> float | None:
    """The total rate a ``fixed-rate`` round asked for; None for other controllers, whose rate
    is not one number. Always a float: a field that is an integer in one round and a float in
    the next is a type conflict the database refuses. A saturation search's warm-up has none:
    it is not a point of the search's curves."""
    if (round_summary.header.search or {}).get("phase") == "warm-up":
        return None
    return round_summary.header.offered_tps


def round_points(folder: RunFolder, summary: RunSummary, round_summary: RoundSummary,
                 labels: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """One round's transactions and figures; ``labels`` as for :func:`run_tags`."""
    base = run_tags(labels, summary.run_id)
    label = _tag(round_summary.label)
    for path in folder.round_record_files(round_summary.index):
        yield from _transaction_points(path, f"vdlt_transactions,{base},round={label}")
    started = iso_to_ns(round_summary.started_at)
    offered = offered_tps(round_summary)
    rows = [*((c.slug, f) for c, f in round_summary.classes.items()), ("all", round_summary.total)]
    for slug, figures in rows:
        fields = {"submitted": figures.submitted, "succeeded": figures.succeeded, "failed": figures.failed,
                  **{f"failed_{k}": v for k, v in figures.failed_by_reason.items()},
                  "send_rate_tps": figures.send_rate_tps, "throughput_tps": figures.throughput_tps,
                  **{f"latency_{k.replace('.', '_')}_ms": v for k, v in figures.latency_ms.items()},
                  **{f"lag_{k}_ms": v for k, v in figures.lag_ms.items()},
                  "offered_tps": offered, "partial": round_summary.partial}
        yield "vdlt_rounds", f"vdlt_rounds,{base},round={label},class={_tag(slug)} {_fields(fields)} {started}"


def audit_points(summary: RunSummary, labels: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """The run's audit, when there was one; ``labels`` as for :func:`run_tags`."""
    audit = summary.audit
    if audit is None or audit.skipped:
        return
    base = run_tags(labels, summary.run_id)
    at = iso_to_ns(summary.started_at)
    totals: dict[str, int] = {}
    for slug, figures in audit.classes.items():
        fields = {**{k: v for k, v in figures.to_json().items() if k != "missing"},
                  "missing": sum(figures.missing.values())}
        for key, value in fields.items():
            totals[key] = totals.get(key, 0) + value
        yield "vdlt_audit", f"vdlt_audit,{base},class={_tag(slug)} {_fields({'ok': figures.ok, **fields})} {at}"
    every = {"ok": audit.ok, **totals, "divergence": audit.divergence, "elapsed_s": audit.elapsed_s}
    yield "vdlt_audit", f"vdlt_audit,{base},class=all {_fields(every)} {at}"


def saturation_points(summary: RunSummary, labels: Mapping[str, str], manifest: dict[str, Any] | None,
                      results: Sequence[SaturationResult] | None = None) -> Iterator[tuple[str, str]]:
    """What each saturation search found per class (``results``, default all of the run's), at the
    search's start, tagged with the execution nodes' hardware profile and the campaign's policy
    (``inventory`` outside one)."""
    nodes = (manifest or {}).get("nodes") or []
    profile = "+".join(sorted({n["hardware_profile"] for n in nodes if n["role"] == "execution"})) or "unknown"
    policy = ((manifest or {}).get("campaign") or {}).get("policy") if isinstance(
        (manifest or {}).get("campaign"), dict) else None
    base = f"{run_tags(labels, summary.run_id)},hardware_profile={_tag(profile)},policy={_tag(policy or 'inventory')}"
    for result in summary.saturation if results is None else results:
        first = next((r for r in summary.rounds if r.index == result.steps[0].round_index), None) if result.steps \
            else None
        at = iso_to_ns(first.started_at if first else summary.started_at)
        for slug, found in result.classes.items():
            fields = {"saturation_tps": float(found.saturation_tps or 0.0), "class_tps": float(found.class_tps or 0.0),
                      "latency_p50_ms": found.latency_p50_ms, "latency_p99_ms": found.latency_p99_ms,
                      "steps": len(result.steps), "bound": found.bound}
            yield "vdlt_saturation", (f"vdlt_saturation,{base},round={_tag(result.round_label)},class={_tag(slug)} "
                                      f"{_fields({k: v for k, v in fields.items() if v is not None})} {at}")


class NodeTags:
    """Node state samples as points under Telegraf's names, tagged with the run and the node's
    role, hardware profile and architecture (from the manifest)."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        run = run_tags(run_labels(manifest), manifest["run_id"])
        self._by_node = {
            node["name"]: (f"{run},host={_tag(node['name'])},role={_tag(node['role'])},"
                           f"hardware_profile={_tag(node['hardware_profile'])},arch={_tag(node['architecture'] or '')}")
            for node in manifest["nodes"]
        }
        self._run = run

    def points(self, sample: dict[str, Any]) -> Iterator[tuple[str, str]]:
        tags = self._by_node.get(sample["node"]) or (
            f"{self._run},host={_tag(sample['node'])},role={_tag(sample['role'])},"
            f"hardware_profile={_tag(sample['hardware_profile'])},arch=none")
        at = sample["time_ns"]
        cpu = sample["cpu"]
        yield "cpu", f"cpu,{tags},cpu=cpu-total {_fields({k: cpu[k] for k in _CPU_FIELDS})} {at}"
        yield "system", (f"system,{tags} load1={cpu['load1']!r},load5={cpu['load5']!r},load15={cpu['load15']!r},"
                         f"n_cpus={cpu['n_cpus']}i {at}")
        yield "mem", f"mem,{tags} {_fields(sample['mem'])} {at}"
        for disk in sample["disk"]:
            fields = {k: disk[k] for k in ("total", "free", "used", "used_percent")}
            yield "disk", (f"disk,{tags},path={_tag(disk['path'])},device={_tag(disk['device'])},"
                           f"fstype={_tag(disk['fstype'])} {_fields(fields)} {at}")
        for io in sample["diskio"]:
            fields = {k: v for k, v in io.items() if k != "name"}
            yield "diskio", f"diskio,{tags},name={_tag(io['name'])} {_fields(fields)} {at}"
        yield "vdlt_trust", f"vdlt_trust,{tags} {_fields(sample['trust'])} {at}"
        for view in sample.get("execution_nodes", ()):  # absent from runs recorded before it existed
            fields = {"selectable": int(view["selectable"]), "reason": view["reason"],
                      "trust_score": view["trust_score"], "outstanding": view["outstanding"]}
            yield "vdlt_selection", (f"vdlt_selection,{tags},execution_node={_tag(view['execution_node'])} "
                                     f"{_fields(fields)} {at}")


_CPU_FIELDS = ("usage_user", "usage_system", "usage_idle", "usage_iowait", "usage_steal", "usage_nice", "usage_irq",
               "usage_softirq", "usage_active")


def _transaction_points(path: Path, prefix: str) -> Iterator[tuple[str, str]]:
    """The hot path of a push: one line per record, tag sets built once per combination."""
    tag_sets: dict[tuple[str, str, str, str], str] = {}
    column, rows = iter_table(path)
    if column:
        tx_id, worker, asked, given = column["tx_id"], column["worker"], column["class_asked"], column["class_given"]
        intended, sent, decided = column["intended_ns"], column["sent_ns"], column["decided_ns"]
        status, nodes, reason, trimmed = column["status"], column["execution_nodes"], column["reason"], column["trimmed"]
        for row in rows:
            key = (row[asked], row[given], row[status], row[worker])
            tags = tag_sets.get(key)
            if tags is None:
                tags = tag_sets[key] = (f"{prefix},class={_tag(key[0])},class_given={_tag(key[1])},"
                                        f"status={_tag(key[2])},worker={key[3]}")
            intended_ns = int(row[intended])
            line = f'{tags} tx_id={_string(row[tx_id])},lag_ms={(int(row[sent]) - intended_ns) / 1e6!r}'
            if row[decided] != "0":
                line += f",latency_ms={(int(row[decided]) - intended_ns) / 1e6!r}"
            if row[nodes]:
                line += f",execution_nodes={_string(row[nodes])}"
            if row[reason]:
                line += f",reason={_string(row[reason])}"
            line += f",trimmed={'true' if row[trimmed] == '1' else 'false'} {intended_ns}"
            yield "vdlt_transactions", line

