"""The control plane's policy: scheduler, per-class queues and replicas, re-classing, trust.

A policy file overrides the shipped default (``policies/default.yaml``) key by key: a file
that only says ``scheduler: fifo`` keeps every other default, and a class entry that only sets
``replicas`` keeps that class's weight and limit.

A mistake names the file, line and field (:mod:`protocol.documents`), whether the controller
checks the file before anything starts or a control node reads it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from protocol.documents import Document, load_yaml
from vdlt.cos import CLASS_SLUGS, ServiceClass

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "policies" / "default.yaml"

TOP_KEYS = ("scheduler", "fifo_limit", "max_in_flight", "commit_backlog_limit", "dedup_window", "max_transaction_bytes",
            "classes", "reclassing", "selection", "trust")
CLASS_KEYS = ("weight", "limit", "priority", "rate_cap_tps", "burst", "replicas", "quorum", "min_trust", "deadline_ms")
RECLASSING_KEYS = ("untrusted_below", "untrusted_class", "management_sources", "trust_claimed_sources")
# The most `max_transaction_bytes` may be: a commit holds its transaction and its writes, and
# one commit must fit a control-to-execution message (vdlt.execution_link.MAX_BATCH_BYTES, 1 MiB,
# well under gRPC's 4 MiB).
MAX_TRANSACTION_BYTES_LIMIT = 512 << 10
SELECTION_KEYS = ("stale_after_intervals",)
TRUST_KEYS = ("half_life_s",)


@dataclass(frozen=True)
class ClassPolicy:
    service_class: ServiceClass
    weight: float = 1.0
    limit: int = 1024
    strict: bool = False
    rate_cap_tps: float = 0.0
    burst: int = 1
    replicas: int = 1
    quorum: str | int = "majority"
    min_trust: float = 0.0
    deadline_ms: float | None = None

    def quorum_of(self, replicas: int) -> int:
        if self.quorum == "majority":
            return replicas // 2 + 1
        if self.quorum == "all":
            return replicas
        return min(int(self.quorum), replicas)


@dataclass(frozen=True)
class Policy:
    scheduler: str
    fifo_limit: int
    max_in_flight: int
    classes: dict[ServiceClass, ClassPolicy]
    untrusted_below: float
    untrusted_class: ServiceClass
    management_sources: frozenset[str]
    trust_claimed_sources: bool
    stale_after_intervals: float
    trust_half_life_s: float
    commit_backlog_limit: int
    dedup_window: int
    max_transaction_bytes: int
    source: str = field(default="", compare=False)


def load_policy(path: Path | None = None) -> Policy:
    """The policy a file holds (the shipped default without one), checked."""
    return policy_from_document(load_yaml(path or DEFAULT_POLICY_FILE, "policy file"))


def _default_data() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_POLICY_FILE.read_text())


def _overlay(base: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in data.items():
        if key == "classes" and isinstance(value, dict):
            classes = dict(base.get("classes") or {})
            for name, entry in value.items():
                old = classes.get(name)
                classes[name] = {**old, **entry} if isinstance(old, dict) and isinstance(entry, dict) else entry
            merged[key] = classes
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = {**base[key], **value}
        else:
            merged[key] = value
    return merged


def policy_from_document(doc: Document) -> Policy:
    """Checks a policy file's content, laid over the shipped default."""
    data = doc.data if doc.data is not None else {}
    doc.mapping((), data, TOP_KEYS)
    if isinstance(data.get("classes"), dict):
        doc.mapping(("classes",), data["classes"], CLASS_SLUGS)
        for name, entry in data["classes"].items():
            doc.mapping(("classes", name), entry if entry is not None else {}, CLASS_KEYS)
    data = _overlay(_default_data(), data)
    classes_raw = data.get("classes") or {}
    classes = {}
    for service_class in ServiceClass:
        where = ("classes", service_class.slug)
        raw = classes_raw.get(service_class.slug) or {}
        strict = doc.choice((*where, "priority"), raw.get("priority", "weighted"), ("strict", "weighted"))
        quorum = raw.get("quorum", "majority")
        if quorum not in ("majority", "all") and not (isinstance(quorum, int) and quorum >= 1):
            raise doc.error((*where, "quorum"), f"must be majority, all or a count >= 1, got {quorum!r}")
        deadline = raw.get("deadline_ms")
        classes[service_class] = ClassPolicy(
            service_class=service_class,
            weight=doc.number((*where, "weight"), raw.get("weight", 1.0), above=0),
            limit=doc.integer((*where, "limit"), raw.get("limit", 1024), 1),
            strict=strict == "strict",
            rate_cap_tps=doc.number((*where, "rate_cap_tps"), raw.get("rate_cap_tps", 0.0), minimum=0),
            burst=doc.integer((*where, "burst"), raw.get("burst", 1), 1),
            replicas=doc.integer((*where, "replicas"), raw.get("replicas", 1), 1),
            quorum=quorum,
            min_trust=doc.number((*where, "min_trust"), raw.get("min_trust", 0.0), minimum=0, maximum=1),
            deadline_ms=None if deadline is None else doc.number((*where, "deadline_ms"), deadline, above=0),
        )
        if classes[service_class].strict and classes[service_class].rate_cap_tps <= 0:
            raise doc.error((*where, "rate_cap_tps"), "a strict-priority class needs a rate cap > 0, or it could starve "
                                                      "the others")
    reclassing = doc.mapping(("reclassing",), data.get("reclassing") or {}, RECLASSING_KEYS)
    untrusted_class = doc.choice(("reclassing", "untrusted_class"), reclassing.get("untrusted_class", "best-effort"),
                                 CLASS_SLUGS)
    sources = reclassing.get("management_sources") or []
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise doc.error(("reclassing", "management_sources"), "must be a list of source names")
    selection = doc.mapping(("selection",), data.get("selection") or {}, SELECTION_KEYS)
    trust = doc.mapping(("trust",), data.get("trust") or {}, TRUST_KEYS)
    return Policy(
        scheduler=doc.choice(("scheduler",), data.get("scheduler", "cbwfq"), ("cbwfq", "fifo")),
        fifo_limit=doc.integer(("fifo_limit",), data.get("fifo_limit", 8192), 1),
        max_in_flight=doc.integer(("max_in_flight",), data.get("max_in_flight", 64), 1),
        classes=classes,
        untrusted_below=doc.number(("reclassing", "untrusted_below"), reclassing.get("untrusted_below", 0.2),
                                   minimum=0, maximum=1),
        untrusted_class=ServiceClass.from_slug(untrusted_class),
        management_sources=frozenset(sources),
        trust_claimed_sources=doc.boolean(("reclassing", "trust_claimed_sources"),
                                          reclassing.get("trust_claimed_sources", False)),
        stale_after_intervals=doc.number(("selection", "stale_after_intervals"),
                                         selection.get("stale_after_intervals", 3), above=0),
        trust_half_life_s=doc.number(("trust", "half_life_s"), trust.get("half_life_s", 300), above=0),
        commit_backlog_limit=doc.integer(("commit_backlog_limit",), data.get("commit_backlog_limit", 20_000), 1),
        dedup_window=doc.integer(("dedup_window",), data.get("dedup_window", 100_000), 1),
        max_transaction_bytes=doc.integer(("max_transaction_bytes",), data.get("max_transaction_bytes", 262_144), 1,
                                          MAX_TRANSACTION_BYTES_LIMIT),
        source=str(doc.path),
    )
