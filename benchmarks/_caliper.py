"""Hyperledger Caliper 0.6.0 (ethereum connector, web3 1.3.0) for benchmark scripts that compare it
with the harness: installing it, and running one benchmark of a Caliper workspace while measuring
what Caliper itself costs.

What a run measures, per round: Caliper's own table (succ, fail, send rate, min/avg/max latency,
throughput: its throughput counts failed transactions too, its latencies successful ones
only), latency percentiles from the
per-transaction lines of Caliper's ``logging`` transaction monitor (the table has none), and for
the whole run the CPU seconds (user + system) and peak RSS of the manager and of its worker
processes, sampled with psutil.

    from _caliper import install_caliper, run_caliper
    folder = install_caliper()
    result = run_caliper(folder, WORKSPACE, WORKSPACE / "networks" / "ganache.json",
                         WORKSPACE / "benchmarks" / "config.yaml", url=chain.ws_url, tps=20, tx_duration_s=10)
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import psutil
import yaml

from _meter import SAMPLE_S, ProcessMeter
from protocol.errors import HarnessError

REPO = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = REPO / ".cache" / "caliper"   # git-ignored (.cache/)
BROKER_WORKSPACE = REPO / "workloads" / "caliper" / "broker"

CALIPER_CLI = "@hyperledger/caliper-cli@0.6.0"
BIND_SUT = "ethereum:1.3"      # caliper bind → npm install web3@1.3.0
WEB3_VERSION = "1.3.0"
STAMP = ".vdlt-caliper-installed"


class CaliperError(HarnessError):
    pass


class CaliperMissing(CaliperError):
    """A tool Caliper needs (node, npm) is not installed."""


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise CaliperMissing(f"{tool} is not installed: Caliper 0.6 needs Node.js >= 18.19 with npm"
                             f" (e.g. apt-get install nodejs npm)")
    return path


def _progress(message: str, started: float) -> None:
    print(f"[caliper {time.monotonic() - started:6.1f} s] {message}", flush=True)


def caliper_cli(folder: Path) -> Path:
    """The CLI script that ``npx caliper`` runs (node_modules/.bin/caliper links to it)."""
    return folder / "node_modules" / "@hyperledger" / "caliper-cli" / "caliper.js"


def install_caliper(folder: Path = DEFAULT_FOLDER) -> Path:
    """Caliper CLI 0.6.0 bound to web3 1.3.0 in ``folder`` (its own package.json and node_modules,
    about 150 MB); the folder. A stamp file makes a second call a no-op; delete the folder to
    reinstall."""
    folder = Path(folder).resolve()
    npm = _need("npm")
    node = _need("node")
    _need("npx")
    wanted = {"cli": CALIPER_CLI, "bind": BIND_SUT}
    stamp = folder / STAMP
    try:
        if json.loads(stamp.read_text()) == wanted and caliper_cli(folder).exists():
            return folder
    except (OSError, ValueError):
        pass                                        # no stamp, or a broken one: install again
    started = time.monotonic()
    folder.mkdir(parents=True, exist_ok=True)
    package = folder / "package.json"
    if not package.exists():
        # Our own minimal package.json rather than `npm init -y`, which would name the package
        # after the folder ("caliper") and could clash with a dependency's name.
        package.write_text(json.dumps({"name": "vdlt-caliper", "private": True,
                                       "description": "Caliper 0.6 for benchmarks/ (made by _caliper.py)"},
                                      indent=2) + "\n")
    _progress(f"npm install {CALIPER_CLI} in {folder} (about a minute, ~150 MB)", started)
    _run([npm, "install", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error", CALIPER_CLI], folder)
    _progress(f"npx caliper bind --caliper-bind-sut {BIND_SUT} (web3 {WEB3_VERSION})", started)
    _run(["npx", "--no-install", "caliper", "bind", "--caliper-bind-sut", BIND_SUT], folder)
    # web3-eea (a caliper-ethereum dependency) pulls web3 1.2.6: the bind must have put 1.3.0 at
    # the top level, which is what caliper-ethereum's require('web3') finds.
    version = _run([node, "-p", "require('web3/package.json').version"], folder).strip()
    if version != WEB3_VERSION:
        raise CaliperError(f"after the bind, require('web3') in {folder} is web3 {version}, not {WEB3_VERSION}")
    stamp.write_text(json.dumps(wanted) + "\n")
    _progress(f"installed: caliper-cli 0.6.0, web3 {version}", started)
    return folder


def _run(command: list[str], cwd: Path, timeout_s: float = 1200) -> str:
    """The command's stdout; CaliperError with the tail of its output when it fails."""
    done = subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout_s)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise CaliperError(f"{' '.join(command)} failed with exit code {done.returncode} in {cwd}:\n{tail}")
    return done.stdout


# ---------------------------------------------------------------------------------------------
# Running a benchmark

TX_MONITOR = {"module": "logging", "options": {"loggerModuleName": "txinfo", "messageLevel": "info"}}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STARTED = re.compile(r"Started round (\d+) \((.*)\)\s*$")
ENDED = re.compile(r"(Finished|Failed) round (\d+) \(")
# The table's columns, by the start of their header, lower case.
COLUMNS = {"name": "name", "succ": "succ", "fail": "fail", "send rate": "send_rate_tps",
           "max latency": "max_latency_s", "min latency": "min_latency_s", "avg latency": "avg_latency_s",
           "throughput": "throughput_tps"}


@dataclass(frozen=True)
class CaliperRound:
    """One round: Caliper's table row, percentiles from its per-transaction log, and what the
    Caliper processes spent from "Started round" to "Finished round" (the workers' preparation,
    two getContext calls, included)."""
    index: int                          # 0-based, in the order the rounds ran
    name: str
    succ: int = 0
    fail: int = 0
    send_rate_tps: float | None = None
    min_latency_s: float | None = None   # of successful transactions only (Caliper's definition)
    avg_latency_s: float | None = None
    max_latency_s: float | None = None
    throughput_tps: float | None = None  # Caliper counts failed transactions in it too
    p50_latency_s: float | None = None   # from the transaction log, successful ones only
    p99_latency_s: float | None = None
    logged: int = 0                      # transaction log lines of the round
    wall_s: float | None = None
    cpu_s: float | None = None           # manager + workers, user + system
    worker_cpu_s: float | None = None
    failed_round: bool = False           # "Failed round N" (an error in the round, not failed txs)

    @property
    def cpu_s_per_tx(self) -> float | None:
        done = self.succ + self.fail
        return self.cpu_s / done if self.cpu_s is not None and done else None


@dataclass(frozen=True)
class CaliperResult:
    rounds: list[CaliperRound]
    exit_code: int | None                # None: killed after the timeout
    wall_s: float
    cpu_s: float                         # the whole run: manager + workers, user + system
    worker_cpu_s: float
    peak_rss_bytes: int                  # the highest sum of all Caliper processes' RSS at one sample
    worker_peak_rss_bytes: int           # the same, workers only
    workers: int                         # worker processes seen
    log_path: Path                       # Caliper's console output (manager and workers)
    run_dir: Path                        # the copies of the configs, the report, the log
    timed_out: bool = False

    def round(self, name: str) -> CaliperRound:
        for one in self.rounds:
            if one.name == name:
                return one
        raise KeyError(f"no round {name!r} in {[one.name for one in self.rounds]}")


def edit_bench(bench: dict[str, Any], *, labels: Sequence[str] | None = None,
               tps: float | Mapping[str, float] | None = None, tx_duration_s: float | None = None,
               workers: int | None = None, tx_log: bool = True) -> dict[str, Any]:
    """A copy of a parsed benchmark configuration with only the rounds ``labels`` (in the file's
    order), fixed-rate ``tps`` (one for all rounds, or by label), ``txDuration`` instead of any
    txNumber, ``workers``, and the ``logging`` transaction monitor on or off."""
    bench = copy.deepcopy(bench)
    rounds = bench["test"]["rounds"]
    names = [one["label"] for one in rounds]
    if len(set(names)) != len(names):
        # Rounds are matched to their table row by label.
        raise CaliperError(f"round labels repeat: {names}")
    if labels is not None:
        unknown = set(labels) - set(names)
        if unknown:
            raise CaliperError(f"no rounds {sorted(unknown)} in the benchmark (it has {names})")
        rounds[:] = [one for one in rounds if one["label"] in labels]
    for one in rounds:
        rate = tps.get(one["label"]) if isinstance(tps, Mapping) else tps
        if rate is not None:
            one["rateControl"] = {"type": "fixed-rate", "opts": {"tps": rate}}
        if tx_duration_s is not None:
            one.pop("txNumber", None)
            one["txDuration"] = tx_duration_s
    if workers is not None:
        bench["test"].setdefault("workers", {})["number"] = workers
    monitors = bench.setdefault("monitors", {})
    observers = [one for one in monitors.get("transaction") or [] if one.get("module") != "logging"]
    monitors["transaction"] = observers + ([TX_MONITOR] if tx_log else [])
    return bench


def _expected_s(bench: dict[str, Any]) -> float:
    """How long the rounds should take: their durations (txNumber at a fixed rate counts as
    txNumber / tps; otherwise a minute), plus Caliper's 5 s between rounds."""
    total = 0.0
    for one in bench["test"]["rounds"]:
        if "txDuration" in one:
            total += float(one["txDuration"])
        else:
            tps = (one.get("rateControl") or {}).get("opts", {}).get("tps")
            total += float(one["txNumber"]) / float(tps) if tps else 60.0
        total += 5
    return total


def run_caliper(folder: Path, workspace: Path, network: Path, bench: Path, *, url: str | None = None,
                addresses: Mapping[str, str] | None = None, labels: Sequence[str] | None = None,
                tps: float | Mapping[str, float] | None = None, tx_duration_s: float | None = None,
                workers: int | None = None, tx_log: bool = True, timeout_s: float | None = None,
                run_dir: Path | None = None, check: bool = True, echo: bool = False) -> CaliperResult:
    """One ``caliper launch manager`` of the benchmark ``bench`` on the network ``network`` with
    the Caliper installed in ``folder`` (:func:`install_caliper`) and the workspace ``workspace``
    (the contract's path in the network file and the workload modules' paths in the benchmark are
    relative to it), measured.

    Both files are copied into ``run_dir`` (a new temporary folder by default, kept: the log is
    there) with the changes asked: the network's ``url``; ``addresses`` (contract id → address of
    a contract already deployed: Caliper then skips its install step, and the copy gets each
    contract's ``address`` and ``abi``, as Caliper needs them); the benchmark's edits of
    :func:`edit_bench`. Without ``addresses`` Caliper deploys every contract itself (its install
    step), as a Caliper user's run does. The chain is ours: the network file's start/end commands,
    if any, are skipped.

    After ``timeout_s`` (default: the rounds' expected time plus 2 minutes) the process tree is
    killed. With ``check``, CaliperError unless Caliper exited with 0 (a failed round does not
    change its exit code: look at the rounds)."""
    folder, workspace = Path(folder).resolve(), Path(workspace).resolve()
    node = _need("node")
    cli = caliper_cli(folder)
    if not cli.exists():
        raise CaliperMissing(f"Caliper is not installed in {folder}: call install_caliper() first")
    run_dir = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="caliper-run-"))
    run_dir.mkdir(parents=True, exist_ok=True)

    network_config = json.loads(Path(network).read_text())
    ethereum = network_config["ethereum"]
    if url is not None:
        ethereum["url"] = url
    for contract_id, address in (addresses or {}).items():
        contract = ethereum["contracts"][contract_id]
        # Caliper resolves the path against the workspace, and so do we.
        contract["abi"] = json.loads((workspace / contract["path"]).read_text())["abi"]
        contract["address"] = address
    network_copy = run_dir / "network.json"      # .json: Caliper's connector require()s it
    network_copy.write_text(json.dumps(network_config, indent=2) + "\n")

    bench_config = edit_bench(yaml.safe_load(Path(bench).read_text()), labels=labels, tps=tps,
                              tx_duration_s=tx_duration_s, workers=workers, tx_log=tx_log)
    bench_copy = run_dir / "benchmark.yaml"
    bench_copy.write_text(yaml.safe_dump(bench_config, sort_keys=False))
    if timeout_s is None:
        timeout_s = _expected_s(bench_config) + 120

    # `npx caliper` runs this same script, but through npm exec and a shell, whose CPU and memory
    # would count with Caliper's; node itself keeps the process tree to the manager and workers.
    command = [node, str(cli), "launch", "manager",
               "--caliper-workspace", str(workspace),
               "--caliper-networkconfig", str(network_copy),
               "--caliper-benchconfig", str(bench_copy),
               "--caliper-report-path", str(run_dir / "report.html"),   # not in the workspace
               "--caliper-flow-skip-start", "--caliper-flow-skip-end"]
    if addresses:
        command.append("--caliper-flow-skip-install")
    env = dict(os.environ)
    # The workspace's workload modules require('@hyperledger/caliper-core'): Node looks for it up
    # from their own folder, where there is none, then in NODE_PATH.
    env["NODE_PATH"] = os.pathsep.join(filter(None, [str(folder / "node_modules"), env.get("NODE_PATH")]))
    log_path = run_dir / "caliper.log"
    (run_dir / "command.txt").write_text(" ".join(command) + "\n")
    return _launch(command, folder, env, log_path, run_dir, bench_config, timeout_s, check, echo)


def _launch(command: list[str], cwd: Path, env: dict[str, str], log_path: Path, run_dir: Path,
            bench_config: dict[str, Any], timeout_s: float, check: bool, echo: bool) -> CaliperResult:
    labels = [one["label"] for one in bench_config["test"]["rounds"]]
    marks: dict[int, dict[str, Any]] = {}     # round index → its start/end samples
    started = time.monotonic()
    timed_out = False
    # O_APPEND: the manager and the workers all write to this one file.
    with open(log_path, "ab") as log, open(log_path, "rb") as reader:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        meter = ProcessMeter(process.pid, _is_worker)
        pending = b""
        try:
            while True:
                meter.sample()
                chunk = reader.read()
                if chunk:
                    lines = (pending + chunk).split(b"\n")
                    pending = lines.pop()
                    for raw in lines:
                        _mark(ANSI.sub("", raw.decode(errors="replace")), marks, meter, started, echo)
                # A zombie, not yet reaped, so that the sample above had its final CPU times.
                if _exited(process.pid):
                    meter.sample()
                    break
                if time.monotonic() - started > timeout_s:
                    timed_out = True
                    break
                time.sleep(SAMPLE_S)
        finally:
            _kill_tree(process, meter)
        wall_s = time.monotonic() - started
    exit_code = None if timed_out else process.returncode
    text = ANSI.sub("", log_path.read_text(errors="replace"))
    cpu_s, worker_cpu_s = meter.cpu()
    result = CaliperResult(
        rounds=_rounds(text, labels, marks), exit_code=exit_code, wall_s=wall_s, cpu_s=cpu_s,
        worker_cpu_s=worker_cpu_s, peak_rss_bytes=meter.peak_rss, worker_peak_rss_bytes=meter.worker_peak_rss,
        workers=meter.workers, log_path=log_path, run_dir=run_dir, timed_out=timed_out)
    if check and exit_code != 0:
        tail = "\n".join(line for line in text.splitlines() if "{\"status\"" not in line)[-3000:]
        why = f"timed out after {timeout_s:g} s" if timed_out else f"exited with {exit_code}"
        raise CaliperError(f"Caliper {why} (log: {log_path}):\n{tail}")
    return result


def _is_worker(command: list[str]) -> bool:
    # Workers are `caliper.js launch worker ...` forked by the manager.
    return "worker" in command[:5]


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (WNOWAIT)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_tree(process: subprocess.Popen[bytes], meter: ProcessMeter) -> None:
    """The manager and every process seen under it: SIGTERM, then SIGKILL. Only those: the
    group is the manager's own session (start_new_session), and each pid is one we measured."""
    victims = [entry.process for entry in meter.processes.values() if not entry.gone]
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # Workers normally leave with the manager; one that lingers (or left the group) goes now.
    for victim in victims:
        try:
            if victim.is_running() and victim.status() != psutil.STATUS_ZOMBIE:
                victim.kill()
        except psutil.NoSuchProcess:
            pass


def _mark(line: str, marks: dict[int, dict[str, Any]], meter: ProcessMeter, started: float, echo: bool) -> None:
    """Notes the CPU and time at the manager's "Started/Finished/Failed round N" lines."""
    if echo and '{"status"' not in line:
        print(line, flush=True)
    found = STARTED.search(line)
    if found:
        marks[int(found.group(1)) - 1] = {"start": (time.monotonic() - started, *meter.cpu())}
        return
    found = ENDED.search(line)
    if found:
        mark = marks.setdefault(int(found.group(2)) - 1, {})
        mark["end"] = (time.monotonic() - started, *meter.cpu())
        mark["failed"] = found.group(1) == "Failed"


def parse_tables(text: str) -> dict[str, dict[str, Any]]:
    """Caliper's result rows by round label, from every `|`-separated table in its output (the
    final "All test results" table comes last, so it wins). Cells "-" (no successes) are None."""
    rows: dict[str, dict[str, Any]] = {}
    header: list[str | None] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            header = None if not line.startswith("+") else header
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells and cells[0].lower() == "name":
            header = [next((field for prefix, field in COLUMNS.items() if cell.lower().startswith(prefix)), None)
                      for cell in cells]
            continue
        if header is None or all(set(cell) <= {"-"} for cell in cells):
            continue                                 # the |----|----| rule under the header
        row: dict[str, Any] = {}
        for field_name, cell in zip(header, cells):
            if field_name is None:
                continue
            if field_name == "name":
                row[field_name] = cell
            elif field_name in ("succ", "fail"):
                row[field_name] = int(cell) if cell.isdigit() else 0
            else:
                row[field_name] = _number(cell)
        if "name" in row:
            rows[row["name"]] = row
    return rows


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def tx_latencies(text: str) -> dict[int, tuple[list[float], int]]:
    """By round index: the latencies (s) of the successful transactions of the ``logging``
    transaction monitor's lines, and how many lines (successful or not) the round had.

    Caliper 0.6.0 never sets the observer's roundIndex, so the lines carry none: a line belongs
    to the round of the last "Started round N" before it. That holds because a worker reports a
    round done only after all its transactions have finished (and been logged)."""
    found: dict[int, tuple[list[float], int]] = {}
    index = -1
    for line in text.splitlines():
        at = line.find('{"status"')
        if at < 0:
            started = STARTED.search(line)
            if started:
                index = int(started.group(1)) - 1
            continue
        try:
            record = json.loads(line[at:])
            status = record["status"]
        except (ValueError, KeyError, TypeError):
            continue                                  # a line cut by another process's output
        latencies, count = found.get(index, ([], 0))
        if status.get("status") == "success" and status.get("time_final"):
            latencies.append((status["time_final"] - status["time_create"]) / 1000)
        found[index] = (latencies, count + 1)
    return found


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """Nearest-rank percentile (the value below which ``fraction`` of the values fall)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _rounds(text: str, labels: list[str], marks: dict[int, dict[str, Any]]) -> list[CaliperRound]:
    table = parse_tables(text)
    logged = tx_latencies(text)
    rounds = []
    for index, label in enumerate(labels):
        row = table.get(label, {})
        latencies, count = logged.get(index, ([], 0))
        mark = marks.get(index, {})
        start, end = mark.get("start"), mark.get("end")
        spans = [b - a for a, b in zip(start, end)] if start and end else [None, None, None]
        rounds.append(CaliperRound(
            index=index, name=label, succ=row.get("succ", 0), fail=row.get("fail", 0),
            send_rate_tps=row.get("send_rate_tps"), min_latency_s=row.get("min_latency_s"),
            avg_latency_s=row.get("avg_latency_s"), max_latency_s=row.get("max_latency_s"),
            throughput_tps=row.get("throughput_tps"), p50_latency_s=percentile(latencies, 0.50),
            p99_latency_s=percentile(latencies, 0.99), logged=count, wall_s=spans[0], cpu_s=spans[1],
            worker_cpu_s=spans[2], failed_round=bool(mark.get("failed")) or not row))
    return rounds
