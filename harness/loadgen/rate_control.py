"""Rate controllers under Hyperledger Caliper's names and options.

A controller tells a worker *when* each of its transactions is due, as an offset in seconds
from the round's start. Latency is measured from that intended instant, so a generator that
falls behind shows as lag and latency instead of silently sending later (no coordinated
omission).

Rates and loads in a benchmark are totals across workers, as in Caliper. Worker ``w`` of ``W``
takes the transactions ``w, w+W, w+2W, ...`` of the round's global schedule, so the workers
together follow the asked schedule exactly.

Writing your own: implement :class:`RateController` (``next_offset`` and, if it keeps state to
save, ``finish``), describe its options with :class:`OptionSpec`, and add a
:class:`ControllerSpec` to :data:`CONTROLLERS`. ``next_offset`` returns the intended offset of
the worker's ``index``-th transaction, ``None`` to wait until one of the worker's transactions
completes (closed loop), or ``math.inf`` when it will send nothing more.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol


@dataclass
class LoadState:
    """What a worker knows when it asks for the next send time."""

    elapsed_s: float
    outstanding: int
    completed: int
    succeeded: int


@dataclass(frozen=True)
class ControllerContext:
    worker_index: int
    worker_count: int
    round_index: int
    tx_number: int | None
    """Transactions in the whole round (all workers), or None for a txDuration round."""
    duration_s: float | None
    base_dir: Path
    """Directory relative paths (record/replay files) are resolved against: the benchmark's."""

    def global_index(self, index: int) -> int:
        return index * self.worker_count + self.worker_index

    def share(self, total: float) -> float:
        return total / self.worker_count


class RateController(Protocol):
    def next_offset(self, index: int, state: LoadState) -> float | None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class OptionSpec:
    name: str
    kind: str  # "number", "integer", "string", "bool", "list" (of numbers), "controller", "controller-list"
    required: bool = True
    default: Any = None
    minimum: float | None = None
    minimum_exclusive: float | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ControllerSpec:
    name: str
    options: tuple[OptionSpec, ...]
    build: Callable[[dict[str, Any], ControllerContext], RateController]
    needs_duration: bool = False


class _Base:
    def finish(self) -> None:
        pass


class FixedRate(_Base):
    def __init__(self, tps: float, context: ControllerContext) -> None:
        self.interval = 1.0 / tps
        self.context = context

    def next_offset(self, index: int, state: LoadState) -> float | None:
        return self.context.global_index(index) * self.interval


class LinearRate(_Base):
    """The rate moves linearly from startingTps to finishingTps over the round (time or count)."""

    def __init__(self, start: float, finish: float, context: ControllerContext) -> None:
        self.start, self.end, self.context = start, finish, context

    def next_offset(self, index: int, state: LoadState) -> float | None:
        n = self.context.global_index(index)
        s, f = self.start, self.end
        if self.context.tx_number is not None:
            # rate(n) = s + (f - s) n / N; time of the n-th = integral of dn / rate(n)
            total = self.context.tx_number
            if math.isclose(s, f):
                return n / s
            return total / (f - s) * math.log((s + (f - s) * n / total) / s)
        duration = self.context.duration_s or 1.0
        slope = (f - s) / duration  # rate(t) = s + slope t; the n-th is due when the integral reaches n
        if math.isclose(slope, 0.0):
            return n / s
        discriminant = s * s + 2 * slope * n
        if discriminant < 0:
            return math.inf  # the rate fell to zero before the n-th transaction
        return (-s + math.sqrt(discriminant)) / slope


class FixedLoad(_Base):
    """Keeps transactionLoad transactions unfinished (closed loop); startTps paces the ramp-up."""

    def __init__(self, load: float, start_tps: float, context: ControllerContext) -> None:
        self.load = max(1, round(context.share(load)))
        self.ramp = FixedRate(start_tps, context)
        self.reached = False

    def next_offset(self, index: int, state: LoadState) -> float | None:
        if state.outstanding >= self.load:
            self.reached = True
            return None
        if not self.reached:
            return max(self.ramp.next_offset(index, state), state.elapsed_s)  # type: ignore[type-var]
        return state.elapsed_s


class FixedFeedbackRate(_Base):
    """Fixed rate that holds back while more than transactionLoad transactions are unfinished;
    held-back transactions keep their scheduled instant, so the hold shows as lag."""

    def __init__(self, tps: float, load: float, context: ControllerContext) -> None:
        self.rate = FixedRate(tps, context)
        self.load = max(1, round(context.share(load)))

    def next_offset(self, index: int, state: LoadState) -> float | None:
        if state.outstanding >= self.load:
            return None
        return self.rate.next_offset(index, state)


class MaximumRate(_Base):
    """Raises the rate by ``step`` every ``sampleInterval`` seconds while throughput grows, and
    steps back when it falls."""

    def __init__(self, tps: float, step: float, interval: float, include_failed: bool, context: ControllerContext) -> None:
        self.rate = context.share(tps)
        self.step = context.share(step)
        self.interval = interval
        self.include_failed = include_failed
        self.offset = context.worker_index / tps
        self.sample_start = 0.0
        self.sample_done = 0
        self.last_throughput = 0.0

    def next_offset(self, index: int, state: LoadState) -> float | None:
        if state.elapsed_s - self.sample_start >= self.interval:
            done = state.completed if self.include_failed else state.succeeded
            throughput = (done - self.sample_done) / (state.elapsed_s - self.sample_start)
            if throughput >= self.last_throughput:
                self.rate += self.step
            else:
                self.rate = max(self.step, self.rate - self.step)
            self.last_throughput, self.sample_done, self.sample_start = throughput, done, state.elapsed_s
        if index > 0:
            self.offset += 1.0 / self.rate
        return self.offset


class ZeroRate(_Base):
    def next_offset(self, index: int, state: LoadState) -> float | None:
        return math.inf


class CompositeRate(_Base):
    """Runs several controllers one after another, each for its weight's share of the round."""

    def __init__(self, weights: list[float], specs: list[dict[str, Any]], context: ControllerContext) -> None:
        total = sum(weights)
        self.controllers: list[RateController] = []
        self.bounds: list[float] = []  # where each segment ends, as a fraction of the round
        fraction = 0.0
        for weight, spec in zip(weights, specs):
            share = weight / total
            sub_context = ControllerContext(
                context.worker_index, context.worker_count, context.round_index,
                None if context.tx_number is None else max(1, round(context.tx_number * share)),
                None if context.duration_s is None else context.duration_s * share,
                context.base_dir,
            )
            fraction += share
            self.bounds.append(fraction)
            self.controllers.append(build_controller(spec["type"], spec.get("opts") or {}, sub_context))
        self.context = context
        self.current = 0
        self.segment_first_index = 0
        self.segment_start_s = 0.0
        self.last_offset = 0.0

    def _segment_over(self, index: int, state: LoadState) -> bool:
        bound = self.bounds[self.current]
        if self.context.tx_number is not None:
            return self.context.global_index(index) >= bound * self.context.tx_number
        return state.elapsed_s >= bound * (self.context.duration_s or 0.0)

    def next_offset(self, index: int, state: LoadState) -> float | None:
        while self.current < len(self.controllers) - 1 and self._segment_over(index, state):
            self.current += 1
            self.segment_first_index = index
            self.segment_start_s = max(self.last_offset, state.elapsed_s) if self.context.tx_number is not None \
                else self.bounds[self.current - 1] * (self.context.duration_s or 0.0)
        controller = self.controllers[self.current]
        local = LoadState(state.elapsed_s - self.segment_start_s, state.outstanding, state.completed, state.succeeded)
        offset = controller.next_offset(index - self.segment_first_index, local)
        if offset is None:
            return None
        if math.isinf(offset):
            if self.context.duration_s is not None and self.current < len(self.controllers) - 1:
                return self.bounds[self.current] * self.context.duration_s  # idle until the next segment
            return offset
        self.last_offset = self.segment_start_s + offset
        return self.last_offset

    def finish(self) -> None:
        for controller in self.controllers:
            controller.finish()


def _resolve_template(template: str, context: ControllerContext) -> Path:
    path = Path(template.replace("<C>", str(context.worker_index)).replace("<R>", str(context.round_index)))
    return path if path.is_absolute() else context.base_dir / path


class RecordRate(_Base):
    """Runs another controller and records its send instants (ms from round start) to a file,
    one per worker and round (``<C>`` and ``<R>`` in the path), for replay-rate."""

    def __init__(self, inner: dict[str, Any], template: str, output_format: str, context: ControllerContext) -> None:
        self.inner = build_controller(inner["type"], inner.get("opts") or {}, context)
        self.path = _resolve_template(template, context)
        self.output_format = output_format
        self.offsets_ms: list[int] = []

    def next_offset(self, index: int, state: LoadState) -> float | None:
        offset = self.inner.next_offset(index, state)
        if offset is not None and not math.isinf(offset):
            self.offsets_ms.append(round(offset * 1000))
        return offset

    def finish(self) -> None:
        self.inner.finish()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.output_format == "TEXT":
            self.path.write_text(f"{len(self.offsets_ms)}\n" + "".join(f"{t}\n" for t in self.offsets_ms))
            return
        order = ">" if self.output_format == "BIN_BE" else "<"
        self.path.write_bytes(struct.pack(f"{order}I{len(self.offsets_ms)}I", len(self.offsets_ms), *self.offsets_ms))


class ReplayRate(_Base):
    """Replays send instants recorded by record-rate; past the end, one every defaultSleepTime ms."""

    def __init__(self, template: str, input_format: str, default_sleep_ms: float, context: ControllerContext) -> None:
        path = _resolve_template(template, context)
        if input_format == "TEXT":
            lines = path.read_text().split()
            self.offsets_ms = [int(v) for v in lines[1:1 + int(lines[0])]]
        else:
            order = ">" if input_format == "BIN_BE" else "<"
            data = path.read_bytes()
            (count,) = struct.unpack_from(f"{order}I", data)
            self.offsets_ms = list(struct.unpack_from(f"{order}{count}I", data, 4))
        self.default_sleep_s = default_sleep_ms / 1000

    def next_offset(self, index: int, state: LoadState) -> float | None:
        if index < len(self.offsets_ms):
            return self.offsets_ms[index] / 1000
        last = self.offsets_ms[-1] / 1000 if self.offsets_ms else 0.0
        return last + (index - len(self.offsets_ms) + 1) * self.default_sleep_s


_FORMATS = ("TEXT", "BIN_BE", "BIN_LE")
CONTROLLERS: dict[str, ControllerSpec] = {
    spec.name: spec
    for spec in (
        ControllerSpec("fixed-rate", (OptionSpec("tps", "number", minimum_exclusive=0),),
                       lambda o, c: FixedRate(o["tps"], c)),
        ControllerSpec("linear-rate", (OptionSpec("startingTps", "number", minimum_exclusive=0),
                                       OptionSpec("finishingTps", "number", minimum=0)),
                       lambda o, c: LinearRate(o["startingTps"], o["finishingTps"], c)),
        ControllerSpec("fixed-load", (OptionSpec("transactionLoad", "integer", minimum=1),
                                      OptionSpec("startTps", "number", required=False, default=1000, minimum_exclusive=0)),
                       lambda o, c: FixedLoad(o["transactionLoad"], o["startTps"], c)),
        ControllerSpec("fixed-feedback-rate", (OptionSpec("tps", "number", minimum_exclusive=0),
                                               OptionSpec("transactionLoad", "integer", minimum=1)),
                       lambda o, c: FixedFeedbackRate(o["tps"], o["transactionLoad"], c)),
        ControllerSpec("maximum-rate", (OptionSpec("tps", "number", minimum_exclusive=0),
                                        OptionSpec("step", "number", minimum_exclusive=0),
                                        OptionSpec("sampleInterval", "number", minimum_exclusive=0),
                                        OptionSpec("includeFailed", "bool", required=False, default=True)),
                       lambda o, c: MaximumRate(o["tps"], o["step"], o["sampleInterval"], o["includeFailed"], c)),
        ControllerSpec("composite-rate", (OptionSpec("weights", "list"),
                                          OptionSpec("rateControllers", "controller-list"),
                                          OptionSpec("logChange", "bool", required=False, default=False)),
                       lambda o, c: CompositeRate(o["weights"], o["rateControllers"], c)),
        ControllerSpec("zero-rate", (), lambda o, c: ZeroRate(), needs_duration=True),
        ControllerSpec("record-rate", (OptionSpec("rateController", "controller"),
                                       OptionSpec("pathTemplate", "string"),
                                       OptionSpec("outputFormat", "string", required=False, default="TEXT", choices=_FORMATS),
                                       OptionSpec("logEnd", "bool", required=False, default=False)),
                       lambda o, c: RecordRate(o["rateController"], o["pathTemplate"], o["outputFormat"], c)),
        ControllerSpec("replay-rate", (OptionSpec("pathTemplate", "string"),
                                       OptionSpec("inputFormat", "string", required=False, default="TEXT", choices=_FORMATS),
                                       OptionSpec("logWarnings", "bool", required=False, default=False),
                                       OptionSpec("defaultSleepTime", "number", required=False, default=20, minimum=0)),
                       lambda o, c: ReplayRate(o["pathTemplate"], o["inputFormat"], o["defaultSleepTime"], c)),
    )
}


def build_controller(type_name: str, opts: dict[str, Any], context: ControllerContext) -> RateController:
    spec = CONTROLLERS[type_name]
    values = {o.name: opts.get(o.name, o.default) for o in spec.options}
    return spec.build(values, context)
