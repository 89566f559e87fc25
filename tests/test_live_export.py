"""`harness run` on the local testbed writing live to real results databases: node state under
Telegraf's names, the run manifest, a database killed mid-run, and the Grafana dashboard's
queries against what a run wrote."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from hdrh.histogram import HdrHistogram

from harness.store.samples import read_samples
from harness.testing import results_servers
from harness.provision.local_copy import scratch_local_inventory
from tests.conftest import REPO, harness
from tests.test_results_push import COUNTED, counts_v1, counts_vm, expanded_queries, influxql, tag_keys, tag_values

KV = str(REPO / "workloads" / "modules" / "kv.py")
DASHBOARD = REPO / "grafana" / "dashboards" / "vdlt-run.json"


@pytest.fixture(scope="module")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One local testbed for the module; `harness run` leaves a testbed it did not start up."""
    inventory = scratch_local_inventory(tmp_path_factory.mktemp("live") / "inventory")
    up = harness("up", "-i", str(inventory))
    assert up.returncode == 0, up.stdout + up.stderr
    yield inventory
    harness("down", "-i", str(inventory))


def benchmark(directory: Path, rounds: int, seconds: float) -> Path:
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump({"test": {"name": "live-export", "workers": {"number": 2}, "rounds": [
        {"label": f"r{i}", "txDuration": seconds, "rateControl": {"type": "fixed-rate", "opts": {"tps": 150}},
         "workload": {"module": KV, "arguments": {"operation": "put", "keys": 500}},
         "cos": {"fast-confirmation": 1, "best-effort": 1}} for i in range(rounds)]}}))
    return path


def settings(directory: Path, url: str) -> Path:
    path = directory / "results.yaml"
    path.write_text(f"influx:\n  url: {url}\n  bucket: vdlt\n")
    return path


def only_run(results: Path) -> Path:
    (run_dir,) = results.iterdir()
    return run_dir


def samples_by_node(run_dir: Path) -> dict[str, list[dict]]:
    return {path.stem: read_samples(path) for path in sorted((run_dir / "nodes").glob("*.jsonl"))}


def test_run_records_node_state_and_manifest_and_writes_them_live(testbed: Path, tmp_path: Path) -> None:
    with results_servers.influxdb_v1_server(tmp_path / "influxdb") as server:
        results_servers.create_database(server.url, "vdlt")
        result = harness("run", str(benchmark(tmp_path, 2, 3)), "-i", str(testbed), "--results-dir",
                         str(tmp_path / "results"), "--results-config", str(settings(tmp_path, server.url)))
        assert result.returncode == 0, result.stdout + result.stderr
        run_dir = only_run(tmp_path / "results")
        export = json.loads((run_dir / "export.json").read_text())
        assert export["mode"] == "live" and export["acknowledged"] == export["produced"] and not export["pending"]
        assert f"results database: {sum(export['produced'].values())} of" in result.stdout
        assert counts_v1(server.url) == export["produced"]
        assert json.loads((run_dir / "summary.json").read_text())["export"]["produced"] == export["produced"]

        # Node state: every node, sampled through the run, as the points that were written.
        samples = samples_by_node(run_dir)
        assert set(samples) == {"control-0", "exec-0", "exec-1", "exec-2"}
        for node, records in samples.items():
            assert len(records) >= 5, node
            for record in records:
                # Shares of CPU time; on a tickless kernel they can sum to less than 100 over a short window.
                shares = [v for k, v in record["cpu"].items() if k.startswith("usage_") and k != "usage_active"]
                assert all(0 <= v <= 100 for v in shares) and sum(shares) <= 101, (node, record["cpu"])
                assert record["mem"]["total"] > record["mem"]["used"] > 0
            assert max(r["cpu"]["usage_user"] + r["cpu"]["usage_system"] for r in records) > 0, node
        assert export["produced"]["cpu"] == sum(len(r) for r in samples.values())
        assert samples["exec-0"][-1]["trust"]["agreements"] > 0  # fast confirmation asks two nodes to agree
        assert samples["exec-0"][-1]["trust"]["code_digest"]
        # The control node's view of its execution nodes, through the run: all three could be chosen.
        assert all(not r["execution_nodes"] for node in ("exec-0", "exec-1", "exec-2") for r in samples[node])
        views = [view for r in samples["control-0"] for view in r["execution_nodes"]]
        assert {v["execution_node"] for v in views} == {"exec-0", "exec-1", "exec-2"}
        assert all(v["selectable"] and not v["reason"] for v in views)
        assert export["produced"]["vdlt_selection"] == len(views)

        # The histograms the round's percentiles come from are kept, in HdrHistogram's encoding.
        first_round = json.loads((run_dir / "summary.json").read_text())["rounds"][0]
        stored = json.loads((run_dir / "histograms" / "round-0.json").read_text())
        latency = HdrHistogram.decode(stored["classes"]["all"]["latency_us"])
        assert latency.get_total_count() == first_round["total"]["succeeded"] > 0
        assert latency.get_value_at_percentile(99) / 1000 == pytest.approx(first_round["total"]["latency_ms"]["p99"])

        # The manifest names what ran.
        manifest = json.loads((run_dir / "manifest.json").read_text())
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True)
        assert manifest["harness"]["git_commit"] == commit.stdout.strip()
        assert manifest["packages"]["grpcio"] == grpc.__version__
        assert manifest["python"] == ".".join(map(str, sys.version_info[:3]))
        assert re.fullmatch(r"[0-9a-f]{64}", manifest["inventory"]["sha256"])
        assert {n["name"]: n["role"] for n in manifest["nodes"]} == {
            "control-0": "control", "exec-0": "execution", "exec-1": "execution", "exec-2": "execution"}
        assert {r["node"] for r in manifest["hardware"]} == {n["name"] for n in manifest["nodes"]}
        assert all(r["architecture"] for r in manifest["hardware"])

        # A run of its own: tagged with its benchmark, and with no campaign or cell tag (no empty tag values).
        assert manifest["benchmark_name"] == "live-export" and manifest["campaign"] is None
        for measurement in ("vdlt_transactions", "vdlt_rounds", "cpu", "vdlt_trust", "vdlt_selection"):
            keys = tag_keys(server.url, "vdlt", measurement)
            assert "benchmark" in keys and not {"campaign", "cell"} & keys, (measurement, keys)
            assert tag_values(server.url, "vdlt", measurement, "benchmark") == ["live-export"], measurement
        offered = influxql(server.url, "vdlt", 'SELECT "offered_tps" FROM "vdlt_rounds"')["results"][0]["series"][0]
        assert {row[1] for row in offered["values"]} == {150.0}  # the fixed rate asked for, on every round's point

        # Every panel of the Grafana dashboard shows data for this run.
        span = [int(r["time_ns"]) for rs in samples.values() for r in rs]
        failed = sum(r["total"]["failed"] for r in json.loads((run_dir / "summary.json").read_text())["rounds"])
        for title, query in dashboard_queries(manifest, min(span), max(span)):
            answer = influxql(server.url, "vdlt", query)["results"][0]
            assert "error" not in answer, (title, answer["error"])
            values = [v for series in answer.get("series", []) for row in series["values"] for v in row[1:]]
            if title.startswith("Not confirmed") and not failed:
                assert not values  # nothing failed: the panel is rightly empty
                continue
            assert any(v is not None for v in values), f"panel {title!r} shows no data: {query}"


def dashboard_queries(manifest: dict, start_ns: int, end_ns: int) -> Iterator[tuple[str, str]]:
    """Each panel's and variable's query as Grafana would send it for this run."""
    return expanded_queries(DASHBOARD, {
        "$benchmark": manifest["benchmark_name"], "$run_id": re.escape(manifest["run_id"]), "$class": ".*",
        "$host": ".*", "$__interval": "1s", "$timeFilter": f"time >= {start_ns - 10**10} AND time <= {end_ns + 10**10}"})


@pytest.mark.parametrize("kind", ["influxdb", "victoria-metrics"])
def test_database_killed_mid_run_loses_nothing(kind: str, testbed: Path, tmp_path: Path) -> None:
    make = results_servers.influxdb_v1_server if kind == "influxdb" else results_servers.victoria_metrics_server
    server = make(tmp_path / "db")
    server.start()
    try:
        if kind == "influxdb":
            results_servers.create_database(server.url, "vdlt")
        run = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", str(benchmark(tmp_path, 3, 3)), "-i", str(testbed),
             "--results-dir", str(tmp_path / "results"), "--results-config", str(settings(tmp_path, server.url))],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not list((tmp_path / "results").glob("*/nodes/*.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # some points reach the database first
        server.kill()
        time.sleep(3.5)  # long enough for batches to fail and be spooled
        server.start()
        stdout, stderr = run.communicate(timeout=180)
        assert run.returncode == 0, stdout + stderr
        run_dir = only_run(tmp_path / "results")
        export = json.loads((run_dir / "export.json").read_text())
        assert sum(export["spooled"].values()) > 0, "the outage was not noticed"
        assert not export["pending"] and export["acknowledged"] == export["produced"]

        pushed = harness("results", "push", str(run_dir), "--config", str(settings(tmp_path, server.url)))
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        produced = json.loads((run_dir / "export.json").read_text())["produced"]
        assert produced == export["produced"]  # the live copy and the push are the same points
        assert set(produced) == set(COUNTED)
        counts = counts_v1(server.url) if kind == "influxdb" else counts_vm(server.url, produced)
        assert counts == produced
    finally:
        server.stop()
