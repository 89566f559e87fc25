"""Which machines to buy: the cheapest set of measured profiles that serves every class's target.

The model, stated in the report as here: a class's saturation (the total offered rate, at the
benchmark's mix, at which it still met its SLO) adds up across execution nodes, so one node of a
profile serves ``saturation ÷ nodes`` of the testbed that measured it, and a set of nodes serves
class ``c`` at ``target_c`` when the sum over its nodes reaches ``target_c ÷ share_c`` (the mix's
share of the class). Where a profile was measured with one node and with two, the report shows how
far this held (:func:`additivity`); the per-node figure is taken from the testbed with the most
nodes (less than linear scaling then costs the answer margin, not correctness at that size).
A set needs at least as many execution nodes as the class asking most replicas (the policy's).
Sets of up to ``max_nodes`` nodes are tried, all of them: a campaign compares a few profiles.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from vdlt.policy import load_policy

if TYPE_CHECKING:
    from harness.campaign.report import CellClass


MODEL = ("The model: a class's saturation (the total offered rate at the benchmark's mix at which it met its SLO) "
         "adds up across execution nodes, so one node of a profile serves the saturation its testbed measured divided "
         "by the testbed's execution nodes (the testbed with the most nodes of the profile), and a set of nodes "
         "serves a class when the sum reaches the class's target divided by its share of the mix; a set has at "
         "least as many nodes as the class asking most replicas. Searches that did not bracket a saturation count "
         "with the bound they found (below the first rate counts as 0).")


@dataclass(frozen=True)
class PlacementAnswer:
    benchmark: str
    policy: str
    targets: dict[str, float]
    nodes: dict[str, int] | None
    """Profile → how many nodes (None: no set of at most max_nodes serves every class)."""
    cost_per_hour: float | None
    served: dict[str, float]
    """Per class: the rate (tx/s) the set serves by the model."""
    margin: float | None
    """The smallest served ÷ target − 1 over the classes."""
    unserved: dict[str, str]
    """Per class no set can serve: why, with the most any set of max_nodes serves."""
    per_node: dict[str, dict[str, float]]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def html(self) -> str:
        title = f"<h3>{escape(self.benchmark)}, policy {escape(self.policy)}</h3>"
        targets = ", ".join(f"{slug} {rate:g} tx/s" for slug, rate in self.targets.items())
        if self.nodes is None:
            reasons = "".join(f"<li><b>{escape(slug)}</b>: {escape(why)}</li>" for slug, why in self.unserved.items())
            return (f"{title}<p>Targets: {escape(targets)}.</p><p class='missed'>No measured profile serves:</p>"
                    f"<ul>{reasons}</ul>")
        bought = ", ".join(f"{count} × {escape(profile)}" for profile, count in self.nodes.items() if count)
        rows = "".join(f"<tr><td>{escape(slug)}</td><td>{self.targets[slug]:,.0f}</td><td>{self.served[slug]:,.0f}</td>"
                       f"<td>{self.served[slug] / self.targets[slug] - 1:+.0%}</td></tr>" for slug in self.targets)
        cost = f"{self.cost_per_hour:.2f}" if self.cost_per_hour is not None else "–"
        return (f"{title}<p class='met'><b>Buy {bought}</b>: {cost} per hour, margin {self.margin:+.0%}.</p>"
                f"<table><tr><th>class</th><th>target tx/s</th><th>served tx/s (model)</th><th>margin</th></tr>"
                f"{rows}</table>")


def place(manifest: dict[str, Any], found: dict[tuple[str, str], "CellClass"]) -> list[PlacementAnswer]:
    placement = manifest["placement"]
    targets: dict[str, float] = placement["targets"]
    max_nodes: int = placement["max_nodes"]
    shares = _shares(manifest)
    answers = []
    for benchmark, policy in sorted({(e.benchmark, e.policy) for e in found.values()}):
        entries = [e for e in found.values() if e.benchmark == benchmark and e.policy == policy]
        per_node: dict[str, dict[str, float]] = {}
        node_cost: dict[str, float] = {}
        for profile in sorted({e.profile for e in entries}):
            widest = max(e.execution_nodes for e in entries if e.profile == profile)
            for entry in entries:
                if entry.profile == profile and entry.execution_nodes == widest and entry.saturation:
                    share = shares.get((benchmark, entry.slug), 1.0)
                    per_node.setdefault(profile, {})[entry.slug] = (
                        sum(entry.saturation) / len(entry.saturation) * share / widest)
                    node_cost[profile] = entry.cost_per_hour / widest
        replicas = manifest.get("replicas", {}).get(policy) or _shipped_replicas()
        minimum = max(replicas.get(slug, 1) for slug in targets)
        answers.append(_cheapest(benchmark, policy, targets, per_node, node_cost, max_nodes, minimum))
    return answers


def _shares(manifest: dict[str, Any]) -> dict[tuple[str, str], float]:
    return {(name, slug): share for name, entry in manifest["benchmarks"].items()
            for slug, share in entry["searched_shares"].items()}


def _cheapest(benchmark: str, policy: str, targets: dict[str, float], per_node: dict[str, dict[str, float]],
              node_cost: dict[str, float], max_nodes: int, minimum: int) -> PlacementAnswer:
    profiles = sorted(per_node)
    best: tuple[float, int, float, dict[str, int], dict[str, float]] | None = None
    most: dict[str, float] = {slug: 0.0 for slug in targets}
    for counts in _sets(len(profiles), max_nodes):
        total = sum(counts)
        if total < max(minimum, 1):
            continue
        served = {slug: sum(n * per_node[p].get(slug, 0.0) for n, p in zip(counts, profiles)) for slug in targets}
        for slug in targets:
            most[slug] = max(most[slug], served[slug])
        if any(served[slug] < rate for slug, rate in targets.items()):
            continue
        cost = sum(n * node_cost.get(p, 0.0) for n, p in zip(counts, profiles))
        margin = min(served[slug] / rate - 1 for slug, rate in targets.items())
        key = (round(cost, 6), total, -margin)
        if best is None or key < (best[0], best[1], -best[2]):
            best = (round(cost, 6), total, margin, dict(zip(profiles, counts)), served)
    if best is None:
        unserved = {slug: f"at most {most[slug]:,.0f} tx/s with {max_nodes} nodes of the measured profiles, "
                          f"{rate:,.0f} asked" for slug, rate in targets.items() if most[slug] < rate}
        return PlacementAnswer(benchmark, policy, targets, None, None, most, None, unserved, per_node)
    cost, _, margin, nodes, served = best
    return PlacementAnswer(benchmark, policy, targets, nodes, cost, served, margin, {}, per_node)


def _shipped_replicas() -> dict[str, int]:
    """For a campaign folder from before the manifest named its policies' replicas."""
    return {service_class.slug: entry.replicas for service_class, entry in load_policy().classes.items()}


def _sets(profiles: int, max_nodes: int) -> Iterator[tuple[int, ...]]:
    """Every count of nodes per profile with at most ``max_nodes`` in all (C(max_nodes + profiles,
    profiles) sets: 45 for two profiles and 8 nodes, 9,000-odd for four and 20)."""
    if profiles == 0:
        yield ()
        return
    for first in range(max_nodes + 1):
        for rest in _sets(profiles - 1, max_nodes - first):
            yield (first, *rest)


def additivity(found: dict[tuple[str, str], CellClass]) -> list[dict[str, Any]]:
    """Per profile and class measured with one and with two execution nodes: how far saturation
    adds up, from the searches that bracketed it (``bounded`` counts those that did not)."""
    rows = []
    keys = sorted({(e.benchmark, e.policy, e.profile, e.slug) for e in found.values()})
    for benchmark, policy, profile, slug in keys:
        sizes = {e.execution_nodes: e for e in found.values()
                 if (e.benchmark, e.policy, e.profile, e.slug) == (benchmark, policy, profile, slug)}
        if 1 in sizes and 2 in sizes:
            one, two = (sum(sizes[n].reached) / len(sizes[n].reached) if sizes[n].reached else None for n in (1, 2))
            bounded = sum(len(sizes[n].saturation) - len(sizes[n].reached) for n in (1, 2))
            rows.append({"benchmark": benchmark, "policy": policy, "profile": profile, "class": slug, "one": one,
                         "two": two, "factor": two / (2 * one) if one and two is not None else None,
                         "bounded": bounded})
    return rows
