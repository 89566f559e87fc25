"""Runs that stop cleanly and keep what they measured: SIGTERM, SIGINT, a second signal, SIGKILL.

Each test runs the CLI in its own process as a user would and signals it as `kill` would. The
bounds are generous (a loaded CI machine); what is asserted is what a user sees: the exit code,
a run folder whose figures match its records, and no process of ours left behind.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import psutil
import pytest
import yaml

from harness.store.records import RecordWriter, iter_rows, round_files, round_records
from harness.testing import results_servers
from tests.conftest import REPO, harness

KV = str(REPO / "workloads" / "modules" / "kv.py")


def bench(tmp_path: Path, rounds: list[dict], workers: int = 2) -> Path:
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump({"test": {"name": "stop", "workers": {"number": workers}, "rounds": rounds}}))
    return path


def kv_round(label: str, seconds: float, tps: float = 200) -> dict:
    return {"label": label, "txDuration": seconds, "rateControl": {"type": "fixed-rate", "opts": {"tps": tps}},
            "workload": {"module": KV}, "cos": {"fast-confirmation": 1, "best-effort": 1}}


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def the_run(results: Path) -> Path | None:
    runs = list(results.iterdir()) if results.exists() else []
    return runs[0] if runs else None


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def running_round(results: Path, index: int) -> bool:
    """The round is running and its first records are on disk already (written while it runs)."""
    run_dir = the_run(results)
    if run_dir is None or not (run_dir / "summary.json").exists():
        return False
    if summary_of(run_dir).get("running_round", {}).get("index") != index:
        return False
    return any(sum(1 for _ in iter_rows(path)) > 0 for path in round_files(run_dir, index))


def descendants(process: subprocess.Popen[str]) -> list[psutil.Process]:
    return psutil.Process(process.pid).children(recursive=True)


def assert_all_gone(processes: list[psutil.Process], within_s: float = 10) -> None:
    _, alive = psutil.wait_procs(processes, timeout=within_s)
    assert not alive, [" ".join(_cmdline(p)) for p in alive]


def assert_partial_round_matches_its_records(run_dir: Path, index: int) -> None:
    summary = summary_of(run_dir)
    (partial,) = [r for r in summary["rounds"] if r["index"] == index]
    assert partial["partial"] is True
    records = [r for r in round_records(run_dir, index) if not r.trimmed]
    assert records, "the interrupted round's transactions were lost"
    assert partial["total"]["submitted"] == len(records)
    assert partial["total"]["succeeded"] == sum(1 for r in records if r.status == "confirmed") > 0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_load_and_keeps_the_round(tmp_path: Path, sink_factory, signum: int, code: int) -> None:
    results = tmp_path / "results"
    run = start("run", str(bench(tmp_path, [kv_round("long", 60)])), "--endpoint", sink_factory(),
                "--results-dir", str(results))
    wait_until(lambda: running_round(results, 0), 30, "records of the running round on disk")
    children = descendants(run)
    assert len(children) >= 2  # the load workers (and multiprocessing's helper)
    signalled = time.monotonic()
    run.send_signal(signum)
    stdout, stderr = run.communicate(timeout=30)
    assert run.returncode == code, stdout + stderr
    assert time.monotonic() - signalled < 10
    run_dir = the_run(results)
    assert summary_of(run_dir)["status"] == "interrupted"
    assert summary_of(run_dir)["stopped_by"] == signal.Signals(signum).name
    assert_partial_round_matches_its_records(run_dir, 0)
    assert (run_dir / "report.html").is_file()
    assert str(run_dir) in stdout  # the run folder is named however the run ends
    assert_all_gone(children)


def test_kill_leaves_a_folder_that_report_and_push_make_whole(tmp_path: Path, sink_factory, influxdb_v1: str) -> None:
    results = tmp_path / "results"
    run = start("run", str(bench(tmp_path, [kv_round("first", 1), kv_round("second", 60)])),
                "--endpoint", sink_factory(), "--results-dir", str(results))
    wait_until(lambda: running_round(results, 1), 40, "records of round 2 on disk")
    time.sleep(1.2)  # another second of records reaches disk
    children = descendants(run)
    run.kill()
    run.communicate(timeout=30)
    # Its load workers notice that the harness is gone and stop sending by themselves.
    assert_all_gone(children, within_s=15)
    run_dir = the_run(results)
    assert summary_of(run_dir)["status"] == "running"  # as the killed harness left it
    rebuilt = harness("report", str(run_dir))
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "incomplete" in rebuilt.stderr
    summary = summary_of(run_dir)
    assert summary["status"] == "incomplete"
    assert [r["label"] for r in summary["rounds"]] == ["first", "second"]
    assert summary["rounds"][0]["partial"] is False
    assert_partial_round_matches_its_records(run_dir, 1)
    assert "Round 1: second" in (run_dir / "report.html").read_text()
    results_servers.create_database(influxdb_v1, "vdlt")
    pushed = harness("results", "push", str(run_dir), "--url", influxdb_v1, "--bucket", "vdlt")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    transactions = sum(r["total"]["submitted"] for r in summary["rounds"])
    assert f"vdlt_transactions: {transactions} produced, {transactions} acknowledged" in pushed.stdout


def test_sigterm_during_round_two_on_the_local_testbed(local_inventory: Path, tmp_path: Path) -> None:
    """The issue's own case: round 1 whole, round 2 partial, the testbed the run brought up
    taken down, no process of ours left."""
    results = tmp_path / "results"
    run = start("run", str(bench(tmp_path, [kv_round("one", 1.5, 150), kv_round("two", 60, 150)])),
                "-i", str(local_inventory), "--results-dir", str(results))
    wait_until(lambda: running_round(results, 1), 90, "round 2 running with records on disk")
    agents = [p for p in psutil.process_iter(["cmdline"])
              if "node_agent" in (p.info["cmdline"] or []) and str(local_inventory) in " ".join(p.info["cmdline"])]
    assert len(agents) == 4
    children = descendants(run)
    run.send_signal(signal.SIGTERM)
    # Within 2 s of the signal (generously: 6) the folder is whole, before the testbed goes down.
    wait_until(lambda: summary_of(the_run(results))["status"] == "interrupted", 6, "the folder written")
    run_dir = the_run(results)
    summary = summary_of(run_dir)
    assert [r["partial"] for r in summary["rounds"]] == [False, True]
    assert summary["rounds"][0]["total"]["submitted"] == 225
    assert_partial_round_matches_its_records(run_dir, 1)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 143, stdout + stderr
    assert "down:" in stdout  # the run took down what it had brought up
    assert_all_gone(children + agents)


def test_a_second_signal_skips_the_teardown(local_inventory: Path, tmp_path: Path) -> None:
    assert harness("up", "-i", str(local_inventory)).returncode == 0
    # exec-2 is down: this run brings up exec-2 only, so only exec-2 is its to take down.
    subprocess.run([sys.executable, "-m", "node_agent", "stop", "--config",
                    str(local_inventory / "nodes" / "exec-2" / "node.yaml")], check=True, capture_output=True)
    results = tmp_path / "results"
    run = start("run", str(bench(tmp_path, [kv_round("long", 60, 100)], workers=1)), "-i", str(local_inventory),
                "--results-dir", str(results))
    wait_until(lambda: running_round(results, 0), 90, "the round running")
    run.send_signal(signal.SIGTERM)
    wait_until(lambda: summary_of(the_run(results))["status"] == "interrupted", 6, "the folder written")
    run.send_signal(signal.SIGTERM)
    stdout, stderr = run.communicate(timeout=10)
    assert run.returncode == 143, stdout + stderr
    status = harness("status", "-i", str(local_inventory))
    assert status.returncode == 0, stdout + stderr + status.stdout  # nothing was taken down: exec-2 serves too


def test_sigterm_during_up_stops_ansible(local_inventory: Path) -> None:
    up = start("up", "-i", str(local_inventory))
    time.sleep(2.5)  # Ansible is under way
    ansible = [c for c in descendants(up) if "ansible-playbook" in " ".join(_cmdline(c))]
    assert ansible, "Ansible was not running"
    up.send_signal(signal.SIGTERM)
    stdout, stderr = up.communicate(timeout=30)
    assert up.returncode == 143, stdout + stderr
    assert "stopped by SIGTERM" in stderr
    assert_all_gone(ansible)


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def test_records_survive_a_torn_last_chunk(tmp_path: Path) -> None:
    """What a power cut leaves: complete chunks read back, the torn one's complete lines too."""
    path = tmp_path / "round-0-worker-0.csv.gz"
    writer = RecordWriter(path)
    rows = [(f"t.0.0.{i}", 0, 32, "best-effort", 32, "best-effort", i, i, i + 5, "confirmed", "exec-0", "", 0)
            for i in range(3000)]
    for chunk in (rows[:1000], rows[1000:2000], rows[2000:]):
        writer.add("".join(",".join(map(str, row)) + "\n" for row in chunk))
        writer.end_member()
    whole = path.read_bytes()
    assert [row["tx_id"] for row in iter_rows(path)] == [row[0] for row in rows]
    for cut in (len(whole) - 5, len(whole) * 2 // 3 + 7, 30):
        path.write_bytes(whole[:cut])
        ids = [row["tx_id"] for row in iter_rows(path)]
        assert ids == [row[0] for row in rows[:len(ids)]]  # a prefix, nothing garbled
        if cut > len(whole) * 2 // 3:
            assert len(ids) >= 2000
    path.write_bytes(whole[:len(whole) // 2] + b"garbage" * 10)
    assert 1000 <= sum(1 for _ in iter_rows(path)) < 3000


def test_a_remote_worker_stops_on_sigterm_and_writes_its_records(tmp_path: Path, sink_factory) -> None:
    """How the controller stops a worker on a client node: SIGTERM, then it fetches the records."""
    import dataclasses
    import pickle

    from harness.config.benchmark import load_benchmark
    from harness.loadgen.worker import WorkerJob

    spec = load_benchmark(bench(tmp_path, [kv_round("long", 60)])).rounds[0]
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    job = WorkerJob("remote", dataclasses.replace(spec, workload_module=Path(KV)), 0, 1, sink_factory(), "vdlt",
                    time.time_ns() + 500_000_000, job_dir / "records.csv.gz")
    (job_dir / "job.pickle").write_bytes(pickle.dumps(job))
    worker = subprocess.Popen([sys.executable, "-m", "harness.loadgen.remote_worker", str(job_dir)],
                              stdout=subprocess.PIPE, text=True)
    wait_until(lambda: (job_dir / "records.csv.gz").exists(), 20, "records written while it runs")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    records = list(iter_rows(job_dir / "records.csv.gz"))
    assert len(records) > 100 and {r["status"] for r in records} <= {"confirmed", ""}
    assert os.path.getsize(job_dir / "records.csv.gz") > 0


def test_sigterm_while_the_last_receipts_are_awaited_stops_within_seconds(tmp_path: Path, ledger_bed) -> None:
    """A round that sent everything and waits for slow receipts (its timeout a minute) stops as
    promptly as one that is still sending."""
    from tests.conftest import wait_for_selection

    ledger_bed.add_execution("exec-0", fault={"delay_ms": 200})
    ledger_bed.add_control("control-0", policy={"max_in_flight": 1})
    ledger_bed.start()
    control = ledger_bed.endpoints["control-0"]
    wait_for_selection(control)
    slow = {**kv_round("slow", 1, tps=100), "timeout": 60, "cos": {"best-effort": 1}}
    results = tmp_path / "results"
    run = start("run", str(bench(tmp_path, [slow], workers=1)), "--endpoint", control, "--results-dir", str(results))
    # Sent within a second; at 5 executions a second its receipts would take 20 s.
    time.sleep(3)
    assert run.poll() is None, run.communicate()
    run.send_signal(signal.SIGTERM)
    started = time.monotonic()
    stdout, stderr = run.communicate(timeout=30)
    assert run.returncode == 143, stdout + stderr
    assert time.monotonic() - started < 5, "the stop waited for the round's timeout"
    summary = summary_of(the_run(results))  # type: ignore[arg-type]
    assert summary["status"] == "interrupted" and summary["rounds"][0]["partial"]
