"""Benchmark files in Hyperledger Caliper's shape, validated strictly, plus CoS mixes.

    test:
      name: quickstart
      workers: {number: 2}
      rounds:
        - label: put
          txNumber: 1000            # or txDuration: 30 (seconds), never both
          rateControl: {type: fixed-rate, opts: {tps: 200}}
          workload: {module: ../modules/kv.py, arguments: {operation: put}}
          cos: {fast-confirmation: 1, best-effort: 2, "001": 1}

Workload module paths are looked up relative to the benchmark file, then relative to the working
directory (Caliper's workspace). A Caliper module path ending in ``.js`` finds the Python port
beside it (``init.js`` -> ``init.py``), so a Caliper file runs with only ``cos`` lines added.
A CoS key is a class name, its three bits ("111"), or a whole CoS byte of eight bits
("11100101") to set the reserved bits too. Caliper's ``monitors`` and ``observer`` sections are
accepted and not needed: node state comes from the agents' WatchState streams.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.connectors import CONNECTORS
from harness.loadgen.rate_control import CONTROLLERS, OptionSpec
from protocol.documents import Document, FieldPath, is_int, is_number, load_yaml
from protocol.errors import did_you_mean
from vdlt.cos import CLASS_SLUGS, CosByte, ServiceClass

TOP_KEYS = ("test", "monitors", "observer")
TEST_KEYS = ("name", "description", "workers", "rounds", "connector")
WORKER_KEYS = ("type", "number", "sendWindowMs")
ROUND_KEYS = ("label", "description", "txNumber", "txDuration", "rateControl", "workload", "cos", "timeout",
              "trim", "slo", "saturation")
SATURATION_KEYS = ("startTps", "stepFactor", "maxTps", "bisections", "maxSteps", "maxLagMs", "warmUp", "keepUp")
SLO_KEYS = ("latency_ms", "success_ratio")
SLO_PERCENTILES = ("mean", "p50", "p90", "p95", "p99", "p99.9", "max")
RATE_CONTROL_KEYS = ("type", "opts")
WORKLOAD_KEYS = ("module", "arguments")
DEFAULT_TIMEOUT_S = 30.0
# By default each transaction leaves when it is due (to within the event loop's 1 ms timers, as
# Caliper's Node.js workers): one worker then holds 20,000 tx/s with lag p99 near 2 ms
# (benchmarks/worker_ceiling.py); a window adds itself to that.
DEFAULT_SEND_WINDOW_MS = 0.0
MAX_SEND_WINDOW_MS = 100.0


@dataclass(frozen=True)
class CosShare:
    cos: CosByte
    weight: float

    @property
    def slug(self) -> str:
        return self.cos.service_class.slug


@dataclass(frozen=True)
class Slo:
    """A class's service-level objective for one round; ``scope`` None is for the round's total."""

    scope: ServiceClass | None
    latency_ms: dict[str, float]
    success_ratio: float | None


@dataclass(frozen=True)
class SaturationSpec:
    """A saturation search (see :mod:`harness.run.saturation`): fixed-rate steps of the round's
    ``txDuration`` each, from ``start_tps`` up by ``step_factor`` until every class misses its
    SLO or ``max_tps`` is passed, then ``bisections`` halvings of each class's last bracket."""

    start_tps: float
    step_factor: float = 1.5
    max_tps: float = 100_000.0
    bisections: int = 2
    max_steps: int = 30
    max_lag_ms: float = 50.0
    """A step whose generator lagged more than this at p99, or sent under 95 % of the rate, did
    not offer the rate: the search goes no higher (scheduling noise on a shared machine stays below)."""
    warm_up_s: float = 3.0
    """Seconds at ``start_tps`` before the first step, not judged: connections, caches and the
    nodes' first batches would otherwise count against the first step."""
    keep_up: float = 0.9
    """A class meets its objective at a step only while its confirmed rate is at least this
    share of the rate offered to it: a system confirming half of what it is sent is saturated,
    however patient its SLO's latency bound is over a short step."""


@dataclass(frozen=True)
class RoundSpec:
    index: int
    label: str
    description: str
    tx_number: int | None
    tx_duration_s: float | None
    rate_type: str
    rate_opts: dict[str, Any]
    workload_module: Path
    workload_arguments: dict[str, Any]
    cos_mix: tuple[CosShare, ...]
    timeout_s: float
    base_dir: Path = Path(".")
    """The benchmark file's directory: relative paths in options are resolved against it."""
    trim: float = 0
    """Left out of the statistics: the first `trim` transactions (txNumber rounds) or seconds (txDuration)."""
    slos: tuple[Slo, ...] = ()
    saturation: SaturationSpec | None = None
    """A saturation search round: the rate controller is the search's, one fixed rate per step."""

    @property
    def shares(self) -> dict[str, float]:
        """Each class's share of the round's CoS mix (its weight over the weights' sum)."""
        total = sum(share.weight for share in self.cos_mix)
        return {share.slug: share.weight / total for share in self.cos_mix}


@dataclass(frozen=True)
class Benchmark:
    path: Path
    name: str
    description: str
    workers: int
    rounds: tuple[RoundSpec, ...]
    document: Document = field(repr=False, compare=False)
    connector: str = "vdlt"
    worker_type: str = "local"
    send_window_ms: float = DEFAULT_SEND_WINDOW_MS
    """A worker whose next transaction is due within this window waits for the whole window and
    sends everything due by then in one message: up to this much later than intended (counted in
    latency and lag), for a fraction of the per-message cost at high rates. 0 sends each
    transaction at its own instant."""


def load_benchmark(path: Path | str) -> Benchmark:
    doc = load_yaml(path, "benchmark file")
    # Caliper's files keep shared round arguments under top-level keys of their own (``simpleArgs:
    # &simple-args``); a key that only defines an anchor is taken, any other is a mistake.
    root = doc.mapping((), doc.data, (*TOP_KEYS, *(str(k) for k in (doc.data if isinstance(doc.data, dict) else {})
                                                 if (k,) in doc.anchored)))
    test = doc.mapping(("test",), doc.need((), root, "test"), TEST_KEYS)
    workers = doc.mapping(("test", "workers"), test.get("workers", {}), WORKER_KEYS)
    worker_type = workers.get("type", "local")
    if worker_type not in ("local", "remote"):
        raise doc.error(("test", "workers", "type"), f"must be local (processes here) or remote (the inventory's "
                                                     f"client nodes), got {worker_type!r}")
    number = workers.get("number", 1)
    if number == "auto":
        number = os.cpu_count() or 1
    elif not is_int(number) or number < 1:
        raise doc.error(("test", "workers", "number"), f"must be an integer >= 1 or 'auto', got {number!r}")
    send_window_ms = workers.get("sendWindowMs", DEFAULT_SEND_WINDOW_MS)
    if not is_number(send_window_ms) or not 0 <= send_window_ms <= MAX_SEND_WINDOW_MS:
        raise doc.error(("test", "workers", "sendWindowMs"),
                        f"must be a number of milliseconds from 0 to {MAX_SEND_WINDOW_MS:g}, got {send_window_ms!r}")
    rounds_raw = doc.need(("test",), test, "rounds")
    if not isinstance(rounds_raw, list) or not rounds_raw:
        raise doc.error(("test", "rounds"), "must be a non-empty list of rounds")
    rounds = tuple(_round(doc, index, raw) for index, raw in enumerate(rounds_raw))
    connector = test.get("connector", "vdlt")
    if connector not in CONNECTORS:
        raise doc.error(("test", "connector"), f"unknown connector {connector!r}{did_you_mean(str(connector), CONNECTORS)}; "
                                               f"known: {', '.join(CONNECTORS)}")
    labels = [r.label for r in rounds]
    for index, label in enumerate(labels):
        if labels.index(label) != index:
            raise doc.error(("test", "rounds", index, "label"), f"label {label!r} is used by an earlier round")
    return Benchmark(
        path=doc.path,
        name=str(test.get("name") or doc.path.stem),
        description=str(test.get("description") or ""),
        workers=number,
        rounds=rounds,
        document=doc,
        connector=connector,
        worker_type=worker_type,
        send_window_ms=float(send_window_ms),
    )


def _round(doc: Document, index: int, raw: Any) -> RoundSpec:
    where: FieldPath = ("test", "rounds", index)
    body = doc.mapping(where, raw, ROUND_KEYS)
    label = doc.need(where, body, "label")
    if not isinstance(label, str) or not label.strip():
        raise doc.error((*where, "label"), "must be a non-empty string")

    has_number, has_duration = "txNumber" in body, "txDuration" in body
    if has_number and has_duration:
        raise doc.error((*where, "txDuration"), "a round has txNumber or txDuration, not both")
    if not (has_number or has_duration):
        raise doc.error(where, "a round needs txNumber (transactions) or txDuration (seconds)")
    tx_number = tx_duration = None
    if has_number:
        tx_number = body["txNumber"]
        if not is_int(tx_number) or tx_number < 1:
            raise doc.error((*where, "txNumber"), f"must be an integer >= 1, got {tx_number!r}")
    else:
        tx_duration = body["txDuration"]
        if not is_number(tx_duration) or tx_duration <= 0:
            raise doc.error((*where, "txDuration"), f"must be a number of seconds > 0, got {tx_duration!r}")

    saturation = _saturation(doc, (*where, "saturation"), body)
    if saturation is not None:
        if has_number:
            raise doc.error((*where, "txNumber"), "a saturation search steps for txDuration seconds each: use "
                                                  "txDuration, not txNumber")
        rate = {"type": "fixed-rate", "opts": {"tps": saturation.start_tps}}
    else:
        rate = doc.mapping((*where, "rateControl"), doc.need(where, body, "rateControl"), RATE_CONTROL_KEYS)
    rate_type = doc.need((*where, "rateControl"), rate, "type")
    if rate_type not in CONTROLLERS:
        raise doc.error((*where, "rateControl", "type"),
                        f"unknown rate controller {rate_type!r}{did_you_mean(rate_type, CONTROLLERS)}; "
                        f"known: {', '.join(CONTROLLERS)}")
    rate_opts = _rate_opts(doc, (*where, "rateControl", "opts"), rate_type, rate.get("opts") or {})
    if CONTROLLERS[rate_type].needs_duration and tx_number is not None:
        raise doc.error((*where, "rateControl", "type"), f"{rate_type} sends nothing: use it with txDuration")

    workload = doc.mapping((*where, "workload"), doc.need(where, body, "workload"), WORKLOAD_KEYS)
    module = doc.need((*where, "workload"), workload, "module")
    if not isinstance(module, str):
        raise doc.error((*where, "workload", "module"), "must be a path to a Python file")
    module_path = _find_module(doc.path.parent, module)
    if module_path is None:
        tried = ", ".join(str(p) for p in _module_candidates(doc.path.parent, module))
        raise doc.error((*where, "workload", "module"), f"no workload module found (tried {tried})")
    arguments = workload.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise doc.error((*where, "workload", "arguments"), "must be a mapping")

    timeout = body.get("timeout", DEFAULT_TIMEOUT_S)
    if not is_number(timeout) or timeout <= 0:
        raise doc.error((*where, "timeout"), f"must be a number of seconds > 0, got {timeout!r}")
    trim = body.get("trim", 0)
    if not is_number(trim) or trim < 0:
        raise doc.error((*where, "trim"), f"must be a number >= 0 (transactions for txNumber rounds, seconds for "
                                          f"txDuration rounds), got {trim!r}")
    if tx_number is not None and trim >= tx_number:
        raise doc.error((*where, "trim"), f"trims all {tx_number} transactions")
    if tx_duration is not None and trim >= tx_duration:
        raise doc.error((*where, "trim"), f"trims all {tx_duration} seconds")
    cos_mix = _cos_mix(doc, (*where, "cos"), body.get("cos"))
    slos = _slos(doc, (*where, "slo"), body.get("slo"), cos_mix)
    if saturation is not None:
        judged = {slo.scope for slo in slos}
        unjudged = [s.slug for s in cos_mix if s.cos.service_class not in judged]
        if unjudged:
            raise doc.error((*where, "slo"), f"a saturation search judges every class against its SLO: give "
                                             f"slo.{unjudged[0]} (latency_ms and/or success_ratio)")

    return RoundSpec(
        index=index, label=label, description=str(body.get("description") or ""),
        tx_number=tx_number, tx_duration_s=float(tx_duration) if tx_duration is not None else None,
        rate_type=rate_type, rate_opts=rate_opts,
        workload_module=module_path, workload_arguments=arguments,
        cos_mix=cos_mix, timeout_s=float(timeout), base_dir=doc.path.parent.resolve(), trim=trim,
        slos=slos, saturation=saturation,
    )


def _saturation(doc: Document, where: FieldPath, body: dict[str, Any]) -> SaturationSpec | None:
    if "saturation" not in body:
        return None
    if "rateControl" in body:
        raise doc.error((*where[:-1], "rateControl"), "a saturation search sets the rate itself: give rateControl "
                                                      "or saturation, not both")
    raw = doc.mapping(where, body["saturation"], SATURATION_KEYS)
    start = doc.number((*where, "startTps"), doc.need(where, raw, "startTps"), above=0)
    factor = doc.number((*where, "stepFactor"), raw.get("stepFactor", 1.5), above=1)
    maximum = doc.number((*where, "maxTps"), raw.get("maxTps", 100_000.0), minimum=start)
    bisections = doc.integer((*where, "bisections"), raw.get("bisections", 2), minimum=0, maximum=10)
    max_steps = doc.integer((*where, "maxSteps"), raw.get("maxSteps", 30), minimum=1, maximum=200)
    max_lag = doc.number((*where, "maxLagMs"), raw.get("maxLagMs", 50.0), above=0)
    warm_up = doc.number((*where, "warmUp"), raw.get("warmUp", 3.0), minimum=0)
    keep_up = doc.number((*where, "keepUp"), raw.get("keepUp", 0.9), minimum=0, maximum=1)
    return SaturationSpec(start, factor, maximum, bisections, max_steps, max_lag, warm_up, keep_up)


def _slos(doc: Document, where: FieldPath, raw: Any, cos_mix: tuple[CosShare, ...]) -> tuple[Slo, ...]:
    if raw is None:
        return ()
    scopes = (*(s.slug for s in cos_mix), "all")
    if isinstance(raw, dict):
        for scope in raw:
            if scope in CLASS_SLUGS and scope not in scopes:
                mix = ", ".join(s.slug for s in cos_mix)
                raise doc.error((*where, scope), f"class {scope} is not in this round's cos mix ({mix}); an "
                                                 f"objective is for a class the round sends, or for all")
    body = doc.mapping(where, raw, scopes)
    slos = []
    for scope, entry in body.items():
        entry = doc.mapping((*where, scope), entry, SLO_KEYS)
        latency = doc.mapping((*where, scope, "latency_ms"), entry.get("latency_ms", {}), SLO_PERCENTILES)
        for key, bound in latency.items():
            if not is_number(bound) or bound <= 0:
                raise doc.error((*where, scope, "latency_ms", key), f"must be a number of ms > 0, got {bound!r}")
        ratio = entry.get("success_ratio")
        if ratio is not None and (not is_number(ratio) or not 0 <= ratio <= 1):
            raise doc.error((*where, scope, "success_ratio"), f"must be a number 0..1, got {ratio!r}")
        slos.append(Slo(None if scope == "all" else ServiceClass.from_slug(scope),
                        {k: float(v) for k, v in latency.items()}, None if ratio is None else float(ratio)))
    return tuple(slos)


def _module_candidates(base: Path, module: str) -> list[Path]:
    relative = Path(os.path.expanduser(module))
    bases = [relative] if relative.is_absolute() else [base / relative, Path.cwd() / relative]
    candidates = []
    for path in bases:
        candidates.append(path.resolve())
        if path.suffix == ".js":
            candidates.append(path.with_suffix(".py").resolve())
    return list(dict.fromkeys(candidates))


def _find_module(base: Path, module: str) -> Path | None:
    return next((p for p in _module_candidates(base, module) if p.is_file() and p.suffix == ".py"), None)


def _rate_opts(doc: Document, where: FieldPath, rate_type: str, opts: Any) -> dict[str, Any]:
    spec = CONTROLLERS[rate_type]
    opts = doc.mapping(where, opts, tuple(o.name for o in spec.options))
    result = {}
    for option in spec.options:
        if option.name not in opts:
            if option.required:
                raise doc.error(where, f"{rate_type} needs option '{option.name}'")
            result[option.name] = option.default
            continue
        result[option.name] = _option(doc, (*where, option.name), option, opts[option.name])
    if rate_type == "composite-rate" and len(result["weights"]) != len(result["rateControllers"]):
        raise doc.error((*where, "weights"), f"{len(result['weights'])} weights for "
                                             f"{len(result['rateControllers'])} rate controllers")
    return result


def _option(doc: Document, where: FieldPath, option: OptionSpec, value: Any) -> Any:
    if option.kind in ("number", "integer"):
        valid = is_int(value) if option.kind == "integer" else is_number(value)
        if not valid:
            raise doc.error(where, f"must be {'an integer' if option.kind == 'integer' else 'a number'}, got {value!r}")
        if option.minimum is not None and value < option.minimum:
            raise doc.error(where, f"must be >= {option.minimum:g}, got {value!r}")
        if option.minimum_exclusive is not None and value <= option.minimum_exclusive:
            raise doc.error(where, f"must be > {option.minimum_exclusive:g}, got {value!r}")
        return value
    if option.kind == "bool":
        if not isinstance(value, bool):
            raise doc.error(where, f"must be true or false, got {value!r}")
        return value
    if option.kind == "string":
        if not isinstance(value, str) or not value:
            raise doc.error(where, f"must be a non-empty string, got {value!r}")
        if option.choices and value not in option.choices:
            raise doc.error(where, f"must be one of {', '.join(option.choices)}, got {value!r}"
                                   f"{did_you_mean(value, option.choices)}")
        return value
    if option.kind == "list":
        if not isinstance(value, list) or not value or not all(is_number(v) and v > 0 for v in value):
            raise doc.error(where, f"must be a non-empty list of numbers > 0, got {value!r}")
        return value
    if option.kind == "controller":
        return _nested_controller(doc, where, value)
    if not isinstance(value, list) or not value:
        raise doc.error(where, "must be a non-empty list of {type, opts} rate controllers")
    return [_nested_controller(doc, (*where, i), item) for i, item in enumerate(value)]


def _nested_controller(doc: Document, where: FieldPath, value: Any) -> dict[str, Any]:
    body = doc.mapping(where, value, RATE_CONTROL_KEYS)
    type_name = doc.need(where, body, "type")
    if type_name not in CONTROLLERS:
        raise doc.error((*where, "type"), f"unknown rate controller {type_name!r}{did_you_mean(type_name, CONTROLLERS)}; "
                                          f"known: {', '.join(CONTROLLERS)}")
    return {"type": type_name, "opts": _rate_opts(doc, (*where, "opts"), type_name, body.get("opts") or {})}


def _cos_mix(doc: Document, where: FieldPath, raw: Any) -> tuple[CosShare, ...]:
    if raw is None:
        return (CosShare(CosByte(ServiceClass.BEST_EFFORT), 1.0),)
    if not isinstance(raw, dict) or not raw:
        raise doc.error(where, "a CoS mix maps class names (or bits) to weights, e.g. {fast-confirmation: 1, best-effort: 3}")
    shares = []
    for key, weight in raw.items():
        cos = _parse_cos_key(doc.key_texts.get((*where, key), str(key)))
        if cos is None:
            raise doc.error((*where, key), f"unknown class of service {key!r}{did_you_mean(str(key), CLASS_SLUGS)}; "
                            f"use one of {', '.join(CLASS_SLUGS)}, three bits like '111' or eight bits like '11100000'")
        if not is_number(weight) or weight <= 0:
            raise doc.error((*where, key), f"weight must be a number > 0, got {weight!r}")
        if any(s.cos == cos for s in shares):
            raise doc.error((*where, key), f"class {cos.service_class.slug} appears twice in the mix")
        shares.append(CosShare(cos, float(weight)))
    return tuple(shares)


def _parse_cos_key(text: str) -> CosByte | None:
    text = text.strip()
    if text in CLASS_SLUGS:
        return CosByte(ServiceClass.from_slug(text))
    if text.startswith("0b"):
        text = text[2:]
    if set(text) <= {"0", "1"}:
        if len(text) == 3:
            return CosByte(ServiceClass(int(text, 2)))
        if len(text) == 8:
            return CosByte.parse(int(text, 2))
    return None
