"""The load generator as a user drives it: Caliper files, SLOs for CI, dead targets, reports."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import yaml

from tests.conftest import REPO, free_port, harness

KV = str(REPO / "workloads" / "modules" / "kv.py")


def bench(tmp_path: Path, rounds: list[dict]) -> Path:
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump({"test": {"name": "cli", "workers": {"number": 1}, "rounds": rounds}}))
    return path


def only_run(results: Path) -> Path:
    (run_dir,) = results.iterdir()
    return run_dir


def test_caliper_documentation_example_runs_with_only_cos_added(tmp_path: Path, sink_factory) -> None:
    workspace = tmp_path / "caliper-workspace"
    shutil.copytree(REPO / "tests" / "caliper", workspace)
    results = tmp_path / "results"
    # Caliper resolves module paths against its workspace: run from there, as a Caliper user would.
    result = harness("run", "benchmarks/config.yaml", "--endpoint", sink_factory(), "--results-dir", str(results),
                     cwd=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((only_run(results) / "summary.json").read_text())
    assert [r["label"] for r in summary["rounds"]] == ["init", "query"]
    assert summary["rounds"][0]["total"]["succeeded"] == 200
    assert set(summary["rounds"][0]["classes"]) == {"fast-confirmation", "best-effort"}
    assert summary["rounds"][1]["total"]["succeeded"] > 50


def test_missed_slo_fails_the_run_for_ci(tmp_path: Path, sink_factory) -> None:
    endpoint = sink_factory("--stall-after", "0.5", "--stall-for", "0.6")
    path = bench(tmp_path, [{
        "label": "with-slo", "txDuration": 2, "rateControl": {"type": "fixed-rate", "opts": {"tps": 100}},
        "workload": {"module": KV}, "cos": {"fast-confirmation": 1},
        "slo": {"fast-confirmation": {"latency_ms": {"p99": 100}, "success_ratio": 0.99}},
    }])
    result = harness("run", str(path), "--endpoint", endpoint, "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 4, result.stdout + result.stderr
    assert "service-level objective(s) missed" in result.stderr
    assert "MISSED" in result.stdout
    summary = json.loads((only_run(tmp_path / "results") / "summary.json").read_text())
    verdicts = {v["objective"]: v["met"] for v in summary["rounds"][0]["slo_results"]}
    assert verdicts == {"latency p99": False, "success ratio": True}
    assert summary["status"] == "complete"


def test_met_slo_passes(tmp_path: Path, sink_factory) -> None:
    path = bench(tmp_path, [{
        "label": "easy", "txNumber": 100, "rateControl": {"type": "fixed-rate", "opts": {"tps": 200}},
        "workload": {"module": KV}, "slo": {"all": {"latency_ms": {"p99": 2000}, "success_ratio": 1.0}},
    }])
    result = harness("run", str(path), "--endpoint", sink_factory(), "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_round_against_a_dead_target_ends_in_timeouts_not_a_hang(tmp_path: Path, sink_factory) -> None:
    silent = sink_factory("--stall-after", "0", "--stall-for", "3600")  # accepts, never answers
    path = bench(tmp_path, [{
        "label": "silent", "txNumber": 40, "timeout": 1.5, "rateControl": {"type": "fixed-rate", "opts": {"tps": 100}},
        "workload": {"module": KV},
    }])
    started = time.monotonic()
    result = harness("run", str(path), "--endpoint", silent, "--results-dir", str(tmp_path / "results"), timeout=60)
    assert result.returncode == 6, result.stdout + result.stderr  # nothing was confirmed
    assert time.monotonic() - started < 30
    total = json.loads((only_run(tmp_path / "results") / "summary.json").read_text())["rounds"][0]["total"]
    assert total["submitted"] == 40 and total["failed_by_reason"]["timeout"] == 40


def test_refused_connection_ends_in_errors(tmp_path: Path) -> None:
    path = bench(tmp_path, [{
        "label": "refused", "txNumber": 20, "timeout": 2, "rateControl": {"type": "fixed-rate", "opts": {"tps": 100}},
        "workload": {"module": KV},
    }])
    result = harness("run", str(path), "--endpoint", f"127.0.0.1:{free_port()}", "--results-dir", str(tmp_path / "r"),
                     timeout=60)
    # A run that confirmed nothing has an exit code of its own, and says why with the count.
    assert result.returncode == 6, result.stdout + result.stderr
    assert "error: no transaction was confirmed" in result.stderr
    assert "20× " in result.stderr and "Connection refused" in result.stderr, result.stderr
    total = json.loads((only_run(tmp_path / "r") / "summary.json").read_text())["rounds"][0]["total"]
    assert total["failed"] == 20 and total["succeeded"] == 0
    (reason,) = total["failure_reasons"]
    assert reason["count"] == 20 and reason["status"] == "error" and "Connection refused" in reason["reason"]


def test_report_is_rebuilt_from_the_run_folder_alone(tmp_path: Path, sink_factory) -> None:
    path = bench(tmp_path, [{
        "label": "mix", "txDuration": 2, "trim": 0.5, "rateControl": {"type": "fixed-rate", "opts": {"tps": 300}},
        "workload": {"module": KV}, "cos": {"fast-confirmation": 1, "scavenger": 2},
    }])
    assert harness("run", str(path), "--endpoint", sink_factory(), "--results-dir", str(tmp_path / "results")).returncode == 0
    run_dir = only_run(tmp_path / "results")
    original_csv = (run_dir / "rounds.csv").read_text()
    html = (run_dir / "report.html").read_text()
    for chart in ("Latency over time", "Throughput over time", "Latency CDF"):
        assert chart in html
    assert html.count("<svg") == 3
    # trim: the first half second is left out of the statistics, not out of the records
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["rounds"][0]["total"]["submitted"] == pytest_approx(450, 0.05)
    (run_dir / "report.html").unlink()
    (run_dir / "rounds.csv").unlink()
    rebuilt = harness("report", str(run_dir))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (run_dir / "rounds.csv").read_text() == original_csv
    assert (run_dir / "report.html").read_text().count("<svg") == 3
    rows = list(csv.DictReader((run_dir / "rounds.csv").open()))
    assert {r["class"] for r in rows} == {"fast-confirmation", "scavenger", "all"}


def pytest_approx(expected: float, rel: float):  # noqa: ANN201 - local shorthand
    import pytest

    return pytest.approx(expected, rel=rel)


def test_transactions_sent_on_a_stream_that_broke_are_unknown_not_failed(tmp_path: Path, sink_factory) -> None:
    """The node may have committed what it received before its stream broke: the run records
    those as unknown (an uncertain outcome), and only what never left as an error."""
    endpoint = sink_factory("--stall-after", "0.5", "--stall-for", "60")
    port = endpoint.rsplit(":", 1)[1]
    path = bench(tmp_path, [{
        "label": "broken", "txDuration": 6, "timeout": 30, "rateControl": {"type": "fixed-rate", "opts": {"tps": 100}},
        "workload": {"module": KV},
    }])
    run = subprocess.Popen([str(REPO / ".venv" / "bin" / "harness"), "run", str(path), "--endpoint", endpoint,
                            "--results-dir", str(tmp_path / "r")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not list((tmp_path / "r").glob("*/transactions/*")) and time.monotonic() < deadline:
        time.sleep(0.1)  # until the round runs
    time.sleep(1.5)  # the sink has stopped answering what it receives
    (sink,) = [p for p in psutil.process_iter(["cmdline"]) if f"--port {port}" in " ".join(p.info["cmdline"] or [])]
    sink.kill()
    run.communicate(timeout=60)
    total = json.loads((only_run(tmp_path / "r") / "summary.json").read_text())["rounds"][0]["total"]
    reasons = {r["status"]: r for r in total["failure_reasons"]}
    assert reasons["unknown"]["count"] > 0 and "the stream broke after it was sent" in reasons["unknown"]["reason"]
    assert total["failed_by_reason"].get("error", 0) + reasons["unknown"]["count"] + total["succeeded"] <= 600


def test_what_a_round_gave_up_on_is_not_served_after_it(tmp_path: Path, ledger_bed) -> None:
    """An overloaded round leaves nothing queued behind it: the control node drops what its
    workers stopped waiting for instead of executing it during the next round."""
    from protocol import ledger_pb2
    from tests.conftest import execution_views, run_benchmark, wait_for_selection
    from tests.test_ledger_safety import put, submit

    # One execution at a time, 20 ms each: about 50 tx/s, offered 300 tx/s for 2 s.
    ledger_bed.add_execution("exec-0", fault={"delay_ms": 20})
    ledger_bed.add_control("control-0", policy={"max_in_flight": 1})
    ledger_bed.start()
    control = ledger_bed.endpoints["control-0"]
    wait_for_selection(control)
    (overloaded,) = run_benchmark(tmp_path, control, [{
        "label": "over", "txDuration": 2, "timeout": 0.5, "rateControl": {"type": "fixed-rate", "opts": {"tps": 300}},
        "workload": {"module": KV, "arguments": {"operation": "put"}}, "cos": {"best-effort": 1}}])
    total = overloaded.total
    assert total.succeeded < 0.5 * total.submitted, total
    # Without the drop, the control node would work through about 10 s of backlog now, and what
    # is sent next would wait behind it.
    time.sleep(0.2)
    assert execution_views(control)[0].outstanding == 0
    started = time.monotonic()
    receipt = submit(control, put(1))
    assert receipt.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED, receipt.reason
    assert time.monotonic() - started < 0.5
