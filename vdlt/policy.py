"""The control plane's policy: scheduler, per-class queues and replicas, re-classing, trust.

A policy file overrides the shipped default (``policies/default.yaml``) key by key: a file
that only says ``scheduler: fifo`` keeps every other default, and a class entry that only sets
``replicas`` keeps that class's weight and limit.

Validation reports through an ``error(path, message)`` callback, so the controller can name the
file and line while a node, which only ever loads files the controller checked, keeps it simple.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NoReturn

import yaml

from vdlt.cos import CLASS_SLUGS, ServiceClass

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "policies" / "default.yaml"
ErrorFn = Callable[[tuple[str | int, ...], str], NoReturn]

TOP_KEYS = ("scheduler", "fifo_limit", "max_in_flight", "commit_backlog_limit", "classes", "reclassing", "selection",
            "trust")
CLASS_KEYS = ("weight", "limit", "priority", "rate_cap_tps", "burst", "replicas", "quorum", "min_trust", "deadline_ms")
RECLASSING_KEYS = ("untrusted_below", "untrusted_class", "management_sources")
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
    stale_after_intervals: float
    trust_half_life_s: float
    commit_backlog_limit: int
    source: str = field(default="", compare=False)


def load_policy(path: Path | None = None) -> Policy:
    """Loads a policy file a node was given (already validated by the controller)."""
    path = Path(path or DEFAULT_POLICY_FILE)
    data = yaml.safe_load(path.read_text())

    def error(where: tuple[str | int, ...], message: str) -> NoReturn:
        raise ValueError(f"{path}: {'.'.join(map(str, where))}: {message}")

    return policy_from_dict(data, error, str(path))


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


def policy_from_dict(data: Any, error: ErrorFn, source: str = "") -> Policy:
    """Validates ``data`` (a policy file's content) laid over the shipped default."""
    _keys(data, (), TOP_KEYS, error)
    if isinstance(data.get("classes"), dict):
        _keys(data["classes"], ("classes",), CLASS_SLUGS, error)
        for name, entry in data["classes"].items():
            _keys(entry if entry is not None else {}, ("classes", name), CLASS_KEYS, error)
    data = _overlay(_default_data(), data)
    scheduler = data.get("scheduler", "cbwfq")
    if scheduler not in ("cbwfq", "fifo"):
        error(("scheduler",), f"must be cbwfq or fifo, got {scheduler!r}")
    fifo_limit = _int(data, ("fifo_limit",), 8192, 1, error)
    max_in_flight = _int(data, ("max_in_flight",), 64, 1, error)
    commit_backlog_limit = _int(data, ("commit_backlog_limit",), 20_000, 1, error)

    classes_raw = data.get("classes") or {}
    _keys(classes_raw, ("classes",), CLASS_SLUGS, error)
    classes = {}
    for service_class in ServiceClass:
        where = ("classes", service_class.slug)
        raw = classes_raw.get(service_class.slug) or {}
        _keys(raw, where, CLASS_KEYS, error)
        strict = raw.get("priority", "weighted")
        if strict not in ("strict", "weighted"):
            error((*where, "priority"), f"must be strict or weighted, got {strict!r}")
        quorum = raw.get("quorum", "majority")
        if quorum not in ("majority", "all") and not (isinstance(quorum, int) and quorum >= 1):
            error((*where, "quorum"), f"must be majority, all or a count >= 1, got {quorum!r}")
        deadline = raw.get("deadline_ms")
        classes[service_class] = ClassPolicy(
            service_class=service_class,
            weight=_number(raw, (*where, "weight"), 1.0, error, minimum_exclusive=0),
            limit=_int(raw, (*where, "limit"), 1024, 1, error),
            strict=strict == "strict",
            rate_cap_tps=_number(raw, (*where, "rate_cap_tps"), 0.0, error, minimum=0),
            burst=_int(raw, (*where, "burst"), 1, 1, error),
            replicas=_int(raw, (*where, "replicas"), 1, 1, error),
            quorum=quorum,
            min_trust=_number(raw, (*where, "min_trust"), 0.0, error, minimum=0, maximum=1),
            deadline_ms=None if deadline is None else _number(raw, (*where, "deadline_ms"), 0, error, minimum_exclusive=0),
        )
        if classes[service_class].strict and classes[service_class].rate_cap_tps <= 0:
            error((*where, "rate_cap_tps"), "a strict-priority class needs a rate cap > 0, or it could starve the others")

    reclassing = data.get("reclassing") or {}
    _keys(reclassing, ("reclassing",), RECLASSING_KEYS, error)
    untrusted_class = reclassing.get("untrusted_class", "best-effort")
    if untrusted_class not in CLASS_SLUGS:
        error(("reclassing", "untrusted_class"), f"unknown class {untrusted_class!r}")
    sources = reclassing.get("management_sources") or []
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        error(("reclassing", "management_sources"), "must be a list of source names")

    selection = data.get("selection") or {}
    _keys(selection, ("selection",), SELECTION_KEYS, error)
    trust = data.get("trust") or {}
    _keys(trust, ("trust",), TRUST_KEYS, error)
    return Policy(
        scheduler=scheduler,
        fifo_limit=fifo_limit,
        max_in_flight=max_in_flight,
        classes=classes,
        untrusted_below=_number(reclassing, ("reclassing", "untrusted_below"), 0.2, error, minimum=0, maximum=1),
        untrusted_class=ServiceClass.from_slug(untrusted_class),
        management_sources=frozenset(sources),
        stale_after_intervals=_number(selection, ("selection", "stale_after_intervals"), 3, error, minimum_exclusive=0),
        trust_half_life_s=_number(trust, ("trust", "half_life_s"), 300, error, minimum_exclusive=0),
        commit_backlog_limit=commit_backlog_limit,
        source=source,
    )


def _keys(value: Any, where: tuple[str | int, ...], allowed: tuple[str, ...], error: ErrorFn) -> None:
    if not isinstance(value, dict):
        error(where, f"must be a mapping with keys from: {', '.join(allowed)}")
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            error((*where, key), f"unknown key {key!r}{hint}; allowed: {', '.join(allowed)}")


def _int(body: dict, where: tuple[str | int, ...], default: int, minimum: int, error: ErrorFn) -> int:
    value = body.get(where[-1], default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        error(where, f"must be an integer >= {minimum}, got {value!r}")
    return value


def _number(body: dict, where: tuple[str | int, ...], default: float, error: ErrorFn, minimum: float | None = None,
            maximum: float | None = None, minimum_exclusive: float | None = None) -> float:
    value = body.get(where[-1], default)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        error(where, f"must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        error(where, f"must be >= {minimum:g}, got {value!r}")
    if maximum is not None and value > maximum:
        error(where, f"must be <= {maximum:g}, got {value!r}")
    if minimum_exclusive is not None and value <= minimum_exclusive:
        error(where, f"must be > {minimum_exclusive:g}, got {value!r}")
    return float(value)
