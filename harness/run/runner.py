"""One benchmark run, as a library call: checks, the testbed, the rounds, the run folder.

:func:`check_benchmark` and :func:`results_database` refuse what cannot run before anything
starts (:class:`protocol.errors.ConfigError`, exit 2). :func:`run_benchmark` then brings up what
of the testbed does not serve, runs the rounds, records everything in a run folder and takes
down again only the nodes it started. It reports through a :class:`RunEvents` (the CLI prints;
tests and benchmarks may listen or not) and ends in a :class:`RunOutcome`, or raises:

- :class:`harness.interrupt.Interrupted` after SIGINT or SIGTERM (when the CLI installed its
  handlers): the round that was running stops within a second, the folder is written whole
  (that round ``partial``), then the nodes the run started are taken down, within
  ``teardown_timeout_s``; a second signal skips that;
- :class:`WorkloadError` when a workload module raised: its round is kept as ``partial`` and the
  traceback is in the folder's ``errors.log``;
- :class:`protocol.errors.HarnessError` for anything else that stopped it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from harness import __version__, interrupt
from harness.audit.run import ChainSource, audit_run, chain_source
from harness.connectors import connector_class
from harness.connectors.ethereum.network import load_network
from harness.config.benchmark import Benchmark, RoundSpec
from harness.export import config as influx_config
from harness.export.config import InfluxConfig
from harness.export.live import LiveExport
from harness.export.tally import ExportTally
from harness.export.writers import ExportError, check_access, detect, protocol_for
from harness.loadgen.engine import Engine, RoundResult
from harness.loadgen.metrics import class_figures
from harness.loadgen.remote import RemoteWorkers
from harness.loadgen.workload import ArgumentError, load_workload_module
from harness.provision import testbed, tls
from harness.provision.ansible import PlaybookResult, TaskCallback
from harness.provision.hardware import hardware_records
from harness.provision.inventory import Inventory
from harness.report.run_report import build_report
from harness.run.node_state import NodeStateRecorder
from harness.run.saturation import WARM_UP, SaturationSearch
from harness.store.audit import AuditReport
from harness.store.folder import DEFAULT_RESULTS_DIR, RunFolder, iso_time
from harness.store.saturation import ClassSaturation, SaturationResult
from harness.store.summary import (COMPLETE, FAILED, INTERRUPTED, RUNNING, BenchmarkEntry, NodeEntry, RoundHeader,
                                   RoundSummary, RunSummary, SloVerdict)
from protocol.errors import (EXIT_AUDIT_FAILED, EXIT_FAILURE, EXIT_NOTHING_CONFIRMED, EXIT_OK, EXIT_SLO_MISSED, ConfigError,
                             HarnessError)
from protocol.tls_files import TlsFiles
from vdlt.cos import ServiceClass

Progress = dict[str, tuple[int, int, int]]


class NetworkConfig(Protocol):
    """What a run is given besides the benchmark to reach a system that is not a vdlt testbed
    (an Ethereum network file, :mod:`harness.connectors.ethereum.network`)."""

    path: Path


class WorkloadError(HarnessError):
    """A workload module raised while its round ran; ``traceback_text`` says where."""

    def __init__(self, message: str, traceback_text: str) -> None:
        super().__init__(message)
        self.traceback_text = traceback_text


class RunEvents:
    """What a run tells its caller as it goes; every method may be left as it is (silent)."""

    @contextlib.contextmanager
    def action(self, action: str) -> Iterator[TaskCallback | None]:
        """Around a testbed action (``up``, ``facts``, ``down``); yields a per-task callback."""
        yield None

    def action_finished(self, action: str, result: PlaybookResult, inventory: Inventory) -> None: ...

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        yield

    def selection(self, health: list[testbed.NodeHealth]) -> None:
        """The control nodes' view of their execution nodes, once the run waited for it."""

    def warning(self, message: str) -> None: ...

    def note(self, message: str) -> None:
        """What readying the system did (a contract deployed, senders funded)."""

    def run_started(self, folder: RunFolder, benchmark: Benchmark) -> None: ...

    @contextlib.contextmanager
    def round(self, spec: RoundSpec) -> Iterator[Callable[[RoundSpec, Progress], None]]:
        """Around one round; yields the callback its live counts go to."""
        yield lambda spec, counts: None

    def round_finished(self, round_summary: RoundSummary) -> None: ...

    def audit_finished(self, report: AuditReport) -> None:
        """The receipts checked against the chains (not called with ``RunSettings(audit=False)``)."""

    def run_finished(self, folder: RunFolder, summary: RunSummary, tally: ExportTally | None) -> None:
        """Always called once the folder exists, however the run ended."""


@dataclass(frozen=True)
class RunSettings:
    results_dir: Path = DEFAULT_RESULTS_DIR
    keep_up: bool = False
    """Leave nodes this run brought up running afterwards."""
    bring_up: bool = True
    """Bring up what does not serve; without, the run takes the testbed as it finds it, and what
    does not serve is absent (a benchmark of a node that is away)."""
    export: InfluxConfig | None = None
    export_optional: bool = False
    sample_interval_s: float = 1.0
    teardown_timeout_s: float = 30.0
    """After a signal, how long taking down what the run started may take."""
    audit: bool = True
    """Check every receipt against the execution nodes' chains at the end (harness.audit)."""
    campaign: dict[str, Any] | None = None
    """The campaign trial this run is (``{"id", "cell", "repetition"}``): in the manifest, and
    the ``campaign`` and ``cell`` tags of every point the run exports."""
    report: bool = True
    """Draw report.html at the end (``harness report RUN_DIR`` draws it later from the folder)."""


@dataclass(frozen=True)
class RunOutcome:
    folder: RunFolder
    summary: RunSummary
    tally: ExportTally | None = None
    export_optional: bool = False

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def export_pending(self) -> int:
        """Points the results database has not taken (the run folder has them all)."""
        return sum(self.tally.pending.values()) if self.tally is not None else 0

    @property
    def missed_slos(self) -> list[SloVerdict]:
        """Objectives missed by rounds run at a rate of their own: a saturation search's steps
        miss them by design, and its outcome is ``summary.saturation``."""
        return [v for r in self.summary.rounds if r.header.search is None for v in r.slo_results if not v.met]

    @property
    def nothing_confirmed(self) -> bool:
        totals = [r.total for r in self.summary.rounds]
        return sum(t.submitted for t in totals) > 0 and sum(t.succeeded for t in totals) == 0

    @property
    def audit_failed(self) -> bool:
        audit = self.summary.audit
        return audit is not None and not audit.skipped and not audit.ok

    @property
    def exit_code(self) -> int:
        if self.audit_failed:
            return EXIT_AUDIT_FAILED
        if self.nothing_confirmed:
            return EXIT_NOTHING_CONFIRMED
        if self.export_pending and not self.export_optional:
            return EXIT_FAILURE
        if self.missed_slos:
            return EXIT_SLO_MISSED
        return EXIT_OK


def check_benchmark(benchmark: Benchmark, inventory: Inventory | None = None) -> None:
    """What can be known wrong before anything starts: each round's workload module loads and
    accepts its arguments, and remote workers have client nodes."""
    for spec in benchmark.rounds:
        where = ("test", "rounds", spec.index, "workload")
        try:
            workload = load_workload_module(spec.workload_module)
        except Exception as error:  # noqa: BLE001 - user code may fail in any way; report it as config
            raise benchmark.document.error((*where, "module"), f"cannot load workload module: {error}") from error
        try:
            workload.check_arguments(dict(spec.workload_arguments))
        except ArgumentError as error:
            raise benchmark.document.error((*where, "arguments", error.argument), error.message) from error
        except Exception as error:  # noqa: BLE001 - a module's own check may fail in any way
            raise benchmark.document.error((*where, "arguments"), f"{type(error).__name__}: {error}") from error
    if inventory is not None and benchmark.worker_type == "remote" and not inventory.by_role("client"):
        raise benchmark.document.error(("test", "workers", "type"),
                                       f"remote workers need hosts in the 'client' group of {inventory.hosts_file}")


def network_for(benchmark: Benchmark, network_file: Path | None, endpoints: list[str]
                ) -> tuple[Benchmark, NetworkConfig | None, list[str]]:
    """The benchmark, the network file it runs with and where it sends: an Ethereum network file
    (Caliper's) makes a benchmark that names no connector an ``ethereum`` one, sending to the
    file's ``url``. Refused before anything starts where the two disagree."""
    named = "connector" in (benchmark.document.data.get("test") or {})
    if network_file is None:
        if benchmark.connector == "ethereum":
            raise benchmark.document.error(("test", "connector"), "an ethereum benchmark needs the chain's network "
                                                                  "file: harness run BENCH --network FILE")
        return benchmark, None, endpoints
    if named and benchmark.connector != "ethereum":
        raise benchmark.document.error(("test", "connector"), f"is {benchmark.connector!r}, but --network gives an "
                                                              f"Ethereum network file")
    if endpoints:
        raise ConfigError("--endpoint", "", "--network says where to send (its ethereum.url): give one or the other")
    network = load_network(network_file)
    return dataclasses.replace(benchmark, connector="ethereum"), network, [network.url]


def check_endpoints(endpoints: list[str]) -> None:
    for endpoint in endpoints:
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError("--endpoint", "", f"{endpoint!r}: expected HOST:PORT")


def results_database(config_file: Path | None, optional: bool,
                     warn: Callable[[str], None]) -> InfluxConfig | None:
    """The results database to write to, checked now: reachable, and taking the token and the
    database (bucket). None when none is configured or, with ``optional``, when it cannot be
    used (after a warning)."""
    if config_file is None and not os.environ.get("HARNESS_INFLUX_URL"):
        return None
    config = influx_config.resolve(config_file, {})
    try:
        check_access(config, protocol_for(config, detect(config.url)))
    except ExportError as error:
        if not optional:
            raise ConfigError(config_file or "HARNESS_INFLUX_URL", "",
                              f"{error} (nothing was started; --results-optional keeps the local store only)") from error
        warn(f"{error}; results stay in the local store only")
        return None
    return config


def run_benchmark(benchmark: Benchmark, inventory: Inventory | None, endpoints: list[str] | None = None,
                  settings: RunSettings = RunSettings(), events: RunEvents | None = None,
                  hardware: list[dict[str, Any]] | None = None, tls: TlsFiles | None = None,
                  network: NetworkConfig | None = None) -> RunOutcome:
    """Runs the benchmark on ``inventory`` (brought up where it does not serve) or, without one,
    against ``endpoints`` (with mutual TLS when ``tls`` names the files; an inventory says so
    itself), or against the system a ``network`` file describes (an Ethereum chain: its
    ``url``; an ``inventory`` then only names the client nodes of remote workers). ``hardware``
    is the nodes' hardware records when the caller has them (a testbed that serves several
    runs): the run gathers the facts otherwise. Signals are watched, not raised, while it runs
    (see the module)."""
    with interrupt.polled():
        return _Run(benchmark, inventory, endpoints or [], settings, events or RunEvents(), tls,
                    network).run(hardware)


def gather_hardware(inventory: Inventory, names: list[str] | None = None,
                    facts: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Each node's hardware profile record, from the facts Ansible gathers (of ``names`` only),
    or from ``facts`` already gathered on the same machines, with this inventory's labels and caps."""
    if facts is None:
        facts = gather_facts(inventory, names)
    return hardware_records(facts, {n.name: n.hardware_profile for n in inventory.nodes},
                            {n.name: n.limits for n in inventory.nodes})


def gather_facts(inventory: Inventory, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """What Ansible's setup module says of each node (of ``names`` only)."""
    return testbed.act("facts", inventory, ",".join(names) if names is not None else None).facts


def round_summary(result: RoundResult, send_window_ms: float, folder: RunFolder,
                  search: dict[str, Any] | None = None) -> RoundSummary:
    """A round's figures as the summary keeps them."""
    return RoundSummary.judged(
        RoundHeader.of(result.spec, search), class_figures(result.per_class), result.total.figures(), iso_time(result.started_ns), (result.ended_ns - result.started_ns) / 1e9,
        send_window_ms, [folder.relative(p) for p in result.records if p.exists()], result.partial)


class _Run:
    def __init__(self, benchmark: Benchmark, inventory: Inventory | None, endpoints: list[str],
                 settings: RunSettings, events: RunEvents, tls_files: TlsFiles | None,
                 network: NetworkConfig | None = None) -> None:
        self.tls_files = tls.controller_files(inventory) if inventory else tls_files
        self.network = network
        self.benchmark = benchmark
        self.inventory = inventory
        self.endpoints = endpoints
        self.settings = settings
        self.events = events
        self.started: list[str] = []
        self.absent: dict[str, str] = {}

    def run(self, hardware: list[dict[str, Any]] | None) -> RunOutcome:
        if self.inventory is None or self.network is not None:
            # Against a chain, an inventory only names the client nodes that run remote workers.
            return self._rounds(self.endpoints)
        try:
            self._bring_up(self.inventory)
            if hardware is None:
                with self.events.waiting("gathering hardware facts"):
                    hardware = gather_hardware(self.inventory, [n.name for n in self.inventory.nodes
                                                                if n.name not in self.absent])
            serving = [n for n in self.inventory.by_role("control") if n.name not in self.absent]
            return self._rounds([n.endpoint for n in serving], hardware)
        finally:
            self._take_down(self.inventory)

    # -- the testbed: only what does not serve is brought up, only that is taken down ------

    def _act(self, action: str, inventory: Inventory, run: Callable[[TaskCallback | None], PlaybookResult]
             ) -> PlaybookResult:
        with self.events.action(action) as on_task:
            result = run(on_task)
        self.events.action_finished(action, result, inventory)
        return result

    def _bring_up(self, inventory: Inventory) -> None:
        not_serving = {h.node.name: h.detail for h in testbed.check_all(inventory) if not h.serving}
        interrupt.check()
        if not self.settings.bring_up:
            self.absent.update((name, f"not serving ({detail})") for name, detail in not_serving.items())
        elif not_serving:
            # Counted as started from the first step: a signal during `up` takes down what it began.
            self.started = sorted(not_serving)
            limit = ",".join(self.started)
            result = self._act("up", inventory, lambda on_task: testbed.up(inventory, on_task=on_task, limit=limit))
            self.started = sorted(set(not_serving) - set(result.degraded))
            for name in result.degraded:
                outcome = result.hosts[name]
                self.absent[name] = f"{outcome.state}: {' '.join('; '.join(outcome.messages).split())}"
                self.events.warning(f"{name} does not serve ({self.absent[name]}); the run goes on without it")
        interrupt.check()
        # Transactions sent before a control node hears from its execution nodes would be dropped.
        with self.events.waiting("waiting for the control nodes to hear from their execution nodes"):
            health = testbed.wait_for_selection(inventory, should_stop=interrupt.requested)
        interrupt.check()
        self.events.selection(health)

    def _take_down(self, inventory: Inventory) -> None:
        if not self.started or self.settings.keep_up or interrupt.aborted():
            return
        limit = ",".join(self.started)
        if interrupt.requested():
            # Bounded, and given up on at a second signal.
            self._act("down", inventory, lambda on_task: testbed.down(
                inventory, on_task, limit, timeout_s=self.settings.teardown_timeout_s, cancel=interrupt.aborted))
        else:
            self._act("down", inventory, lambda on_task: testbed.down(inventory, on_task, limit))

    # -- the rounds, and the folder that records them ----------------------------------------

    def _summary(self, folder: RunFolder, started_ns: int, rounds: list[RoundSummary]) -> RunSummary:
        benchmark, inventory = self.benchmark, self.inventory
        return RunSummary(
            run_id=folder.run_id, status=RUNNING, harness_version=__version__,
            benchmark=BenchmarkEntry(benchmark.name, benchmark.description, str(benchmark.path), benchmark.workers,
                                     benchmark.send_window_ms),
            started_at=iso_time(started_ns), ended_at=iso_time(time.time_ns()),
            inventory_source=str(inventory.path) if inventory else None,
            nodes=tuple(NodeEntry(n.name, n.role, n.endpoint, n.hardware_profile, self.absent.get(n.name))
                        for n in inventory.nodes) if inventory else (),
            endpoints=tuple(self.endpoints), rounds=rounds,
            harness_process={"pid": os.getpid(), "host": platform.node()},
        )

    def _rounds(self, endpoints: list[str], hardware: list[dict[str, Any]] | None = None) -> RunOutcome:
        benchmark, inventory, settings = self.benchmark, self.inventory, self.settings
        if not endpoints:
            raise HarnessError("no control node serves: nothing to send the benchmark to")
        self.endpoints = endpoints
        # Before the folder: a system that cannot be readied (a contract that does not deploy) leaves nothing.
        readying = (self.events.waiting(f"readying the chain of {self.network.path.name} for the workers")
                    if self.network is not None else contextlib.nullcontext())
        with readying:
            options = connector_class(benchmark.connector).prepare_run(
                endpoints, self.network, [[share.cos.to_int() for share in spec.cos_mix] for spec in benchmark.rounds],
                benchmark.workers, self.events.note)
        source = (chain_source(benchmark.connector, inventory, self.tls_files, options.get("record"))
                  if settings.audit else None)
        marks = source.marks() if source is not None else None
        folder = RunFolder.create(settings.results_dir, benchmark, inventory,
                                  self.network.path if self.network is not None else None)
        manifest = folder.write_manifest(benchmark, inventory, hardware, self.absent,
                                         {"connector": benchmark.connector, "chains_at_start": marks,
                                          **({"setup": options["record"]} if "record" in options else {})},
                                         settings.campaign)
        live = self._live_export(folder, manifest)
        tls_files = self.tls_files
        recorder = NodeStateRecorder(list(inventory.nodes), folder.nodes_dir, settings.sample_interval_s,
                                     on_sample=live.add_sample if live else None,
                                     tls=tls_files) if inventory and self.network is None else None
        remote = RemoteWorkers(inventory.by_role("client")) if benchmark.worker_type == "remote" and inventory else None
        self.events.run_started(folder, benchmark)
        summary = self._summary(folder, time.time_ns(), [])
        try:
            if recorder is not None:
                recorder.start()
            with Engine(benchmark, endpoints, folder.token, folder.records_dir, remote, tls_files,
                        options) as engine:
                rounds = _RoundRunner(self, engine, folder, summary, live)
                for spec in benchmark.rounds:
                    if spec.saturation is not None:
                        summary.saturation.append(rounds.search(spec))
                        self._write(folder, summary)
                        if live is not None:
                            live.add_saturation(summary)
                    else:
                        rounds.run(spec)
            summary.status = COMPLETE
        except interrupt.Interrupted as stop:
            summary.status, summary.stopped_by = INTERRUPTED, stop.name
            raise
        except BaseException as error:
            summary.status, summary.stopped_by = FAILED, str(error)
            raise
        finally:
            if recorder is not None:
                recorder.stop()
            if source is not None and summary.status != INTERRUPTED:
                summary.audit = self._audit(folder, source, marks)
                if live is not None:
                    live.add_audit(summary)
            tally = live.close(wait_s=None if summary.status == COMPLETE else 1.0) if live is not None else None
            summary.running_round = None
            summary.export = tally.to_json() if tally else None
            self._write(folder, summary)
            if settings.report:
                build_report(folder)
            self.events.run_finished(folder, summary, tally)
        return RunOutcome(folder, summary, tally, settings.export_optional)

    def _audit(self, folder: RunFolder, source: ChainSource, marks: dict[str, int] | None) -> AuditReport:
        with self.events.waiting("auditing: every receipt against the execution nodes' chains"):
            try:
                report = audit_run(folder, source, marks)
            except HarnessError as error:
                report = AuditReport.skipped_because(str(error))
            except Exception as error:  # noqa: BLE001 - whatever the chains hold, the run folder is finished
                report = AuditReport.skipped_because(f"the audit failed: {type(error).__name__}: {error}")
        self.events.audit_finished(report)
        return report

    @staticmethod
    def _write(folder: RunFolder, summary: RunSummary) -> None:
        summary.ended_at = iso_time(time.time_ns())
        folder.write_summary(summary)

    def _live_export(self, folder: RunFolder, manifest: dict[str, Any]) -> LiveExport | None:
        if self.settings.export is None:
            return None
        try:
            return LiveExport(self.settings.export, folder, manifest)
        except ExportError as error:  # the database went away since it was checked
            if not self.settings.export_optional:
                folder.remove()
                raise HarnessError(f"{error} (nothing was started; --results-optional keeps the local store "
                                   f"only)") from error
            self.events.warning(f"{error}; results stay in the local store only")
            return None

    @staticmethod
    def _workload_error(folder: RunFolder, result: RoundResult) -> WorkloadError:
        for failure in result.failures:
            folder.append_error(f"{failure.message}\n{failure.traceback_text}")
        first = result.failures[0]
        return WorkloadError(f"{first.message} (traceback in {folder.errors_log})", first.traceback_text)


SENT_SHARE = 0.95
SETTLE_POLL_S = 0.05
SETTLE_QUIET_POLLS = 2
SETTLE_EXTRA_S = 10.0


def offered(step: RoundSummary, rate: float, max_lag_ms: float) -> bool:
    """Whether a step's generator offered the rate it was asked (its lag, and what it sent)."""
    lag, sent = step.total.lag_ms.get("p99"), step.total.send_rate_tps
    return lag is not None and lag <= max_lag_ms and sent is not None and sent >= SENT_SHARE * rate


def kept_up(step: RoundSummary, slug: str, offered_tps: float, share: float) -> bool:
    """Whether a class's confirmed rate in a step reached ``share`` of the rate offered to it."""
    figures = step.classes.get(ServiceClass.from_slug(slug))
    return figures is not None and (figures.throughput_tps or 0.0) >= share * offered_tps


class _RoundRunner:
    """Runs a benchmark's rounds on one engine, in the run's order: each round (a saturation
    search's every step) gets the next index, its histograms, its line in the summary, its points."""

    def __init__(self, run: _Run, engine: Engine, folder: RunFolder, summary: RunSummary,
                 live: LiveExport | None) -> None:
        self.run_, self.engine, self.folder, self.summary, self.live = run, engine, folder, summary, live

    def run(self, spec: RoundSpec, search: dict[str, Any] | None = None) -> RoundSummary:
        interrupt.check()
        spec = dataclasses.replace(spec, index=len(self.summary.rounds))
        summary, folder, events = self.summary, self.folder, self.run_.events
        summary.running_round = (RoundHeader.of(spec, search), iso_time(time.time_ns()))
        self.run_._write(folder, summary)
        with events.round(spec) as on_progress:
            result = self.engine.run_round(spec, on_progress, should_stop=interrupt.requested)
        folder.write_histograms(spec.index, spec.label, {
            slug: (stats.latency.encode(), stats.lag.encode())
            for slug, stats in [*result.per_class.items(), ("all", result.total)]})
        summary.rounds.append(round_summary(result, self.run_.benchmark.send_window_ms, folder, search))
        summary.running_round = None
        self.run_._write(folder, summary)
        if self.live is not None:
            self.live.add_round(summary, summary.rounds[-1])
        events.round_finished(summary.rounds[-1])
        if result.failures:
            raise self.run_._workload_error(folder, result)
        interrupt.check()  # a partial round was stopped by a signal
        return summary.rounds[-1]

    def _settle(self, max_s: float) -> float:
        """Waits until no serving control node has executions outstanding on any of its links
        (two polls in a row), at most ``max_s``; returns how long it waited."""
        run = self.run_
        controls = [n for n in run.inventory.by_role("control") if n.name not in run.absent] if run.inventory else []
        started, quiet = time.monotonic(), 0
        while controls and quiet < SETTLE_QUIET_POLLS and time.monotonic() - started < max_s:
            interrupt.check()
            states = [testbed.check_node(n, with_state=True, tls_files=run.tls_files).state for n in controls]
            busy = any(view.outstanding for state in states if state is not None for view in state.execution_nodes)
            quiet = 0 if busy else quiet + 1
            time.sleep(SETTLE_POLL_S)
        return time.monotonic() - started

    def search(self, spec: RoundSpec) -> SaturationResult:
        """A saturation search (harness.run.saturation): one fixed-rate sub-round per step."""
        assert spec.saturation is not None
        slugs = [share.slug for share in spec.cos_mix]
        shares = spec.shares
        search = SaturationSearch(spec.saturation, slugs)
        if spec.saturation.warm_up_s > 0:
            self.run(dataclasses.replace(spec, label=f"{spec.label} warm-up @{spec.saturation.start_tps:g}/s",
                                         rate_type="fixed-rate", rate_opts={"tps": spec.saturation.start_tps},
                                         tx_duration_s=spec.saturation.warm_up_s, trim=0, slos=(), saturation=None),
                     {"round": spec.label, "step": 0, "phase": WARM_UP, "max_lag_ms": spec.saturation.max_lag_ms})
        steps: dict[int, RoundSummary] = {}
        settled = 0.0
        while (step := search.next_step()) is not None:
            rate, phase = step
            number = len(search.steps) + 1
            if number > 1:
                # What an overloaded step left queued would be served during this one and count
                # against it: it starts once the control nodes have nothing outstanding.
                settled = self._settle(spec.timeout_s + SETTLE_EXTRA_S)
            sub = dataclasses.replace(spec, label=f"{spec.label} #{number} @{rate:g}/s", rate_type="fixed-rate",
                                      rate_opts={"tps": rate}, saturation=None)
            measured = self.run(sub, {"round": spec.label, "step": number, "phase": phase,
                                      "max_lag_ms": spec.saturation.max_lag_ms, "settled_s": round(settled, 2)})
            steps[measured.index] = measured
            met = {slug: all(v.met for v in measured.slo_results if v.scope_name == slug)
                   and kept_up(measured, slug, rate * shares[slug], spec.saturation.keep_up) for slug in slugs}
            search.record(rate, phase, met, offered(measured, rate, spec.saturation.max_lag_ms), measured.index)
        classes = {}
        for slug, (saturation, bound, limit, index) in search.outcome().items():
            figures = steps[index].classes.get(ServiceClass.from_slug(slug)) if index is not None else None
            classes[slug] = ClassSaturation(
                saturation, bound, limit, index,
                figures.throughput_tps if figures else None,
                figures.latency_ms.get("p50") if figures else None,
                figures.latency_ms.get("p99") if figures else None,
                figures.succeeded / figures.submitted if figures and figures.submitted else None)
        return SaturationResult(spec.label, classes, tuple(search.steps))
