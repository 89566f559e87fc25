"""`harness up` → `status` → `run` → `down` on a local inventory, as a user types it."""
from __future__ import annotations

import csv
import gzip
import json
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO, harness, processes_mentioning

BENCHMARK = """
test:
  name: e2e
  workers: {number: 2}
  rounds:
    - label: writes
      txNumber: 300
      rateControl: {type: fixed-rate, opts: {tps: 150}}
      workload: {module: %(module)s, arguments: {operation: put}}
      cos: {fast-confirmation: 1, best-effort: 1, scavenger: 1, "01110110": 1}
"""


def test_up_status_run_down(local_inventory: Path, tmp_path: Path) -> None:
    marker = str(local_inventory)
    up = harness("up", "-i", str(local_inventory))
    assert up.returncode == 0, up.stdout + up.stderr
    assert "up: 4 host(s): 0 ok, 4 changed, 0 failed" in up.stdout
    assert len(processes_mentioning(marker)) == 4

    again = harness("up", "-i", str(local_inventory))
    assert again.returncode == 0
    assert "up: 4 host(s): 4 ok, 0 changed, 0 failed" in again.stdout

    status = harness("status", "-i", str(local_inventory))
    assert status.returncode == 0, status.stdout
    for node in ("control-0", "exec-0", "exec-1", "exec-2"):
        assert node in status.stdout
    assert status.stdout.count("serving") == 4

    benchmark = tmp_path / "bench.yaml"
    benchmark.write_text(BENCHMARK % {"module": REPO / "workloads" / "modules" / "kv.py"})
    results = tmp_path / "results"
    run = harness("run", str(benchmark), "-i", str(local_inventory), "--results-dir", str(results))
    assert run.returncode == 0, run.stdout + run.stderr
    for slug in ("fast-confirmation", "best-effort", "scavenger", "management-control"):
        assert slug in run.stdout

    (run_dir,) = results.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete"
    classes = summary["rounds"][0]["classes"]
    assert sum(c["succeeded"] for c in classes.values()) == 300
    assert {name: c["submitted"] for name, c in classes.items()} == {
        "fast-confirmation": 75, "management-control": 75, "best-effort": 75, "scavenger": 75}
    assert (run_dir / "benchmark.yaml").read_text() == benchmark.read_text()
    assert (run_dir / "inventory" / "hosts.yml").is_file()

    rows = []
    for path in sorted((run_dir / "transactions").glob("*.csv.gz")):
        with gzip.open(path, "rt") as handle:
            rows.extend(csv.DictReader(handle))
    assert len(rows) == 300
    assert {r["status"] for r in rows} == {"confirmed"}
    # The load generator is no management source: re-classed to scavenger, reserved bits (10110) kept.
    assert {r["cos_given"] for r in rows if r["class_asked"] == "management-control"} == {str(0b00010110)}
    assert {r["class_given"] for r in rows if r["class_asked"] == "management-control"} == {"scavenger"}
    # Fast confirmation is replicated; best effort goes round robin over all three nodes.
    assert {len(r["execution_nodes"].split(";")) for r in rows if r["class_asked"] == "fast-confirmation"} == {2}
    assert {r["execution_nodes"] for r in rows if r["class_asked"] == "best-effort"} == {"exec-0", "exec-1", "exec-2"}

    # Every receipt was checked against the chains at the end of the run.
    assert "audit: every receipt is borne out by the chains, and the chains agree" in run.stdout
    audit = summary["audit"]
    assert audit["ok"] and sum(c["confirmed_present"] for c in audit["classes"].values()) == 300
    assert "Ledger audit" in (run_dir / "report.html").read_text()

    # The testbed was already up: run leaves it up.
    assert len(processes_mentioning(marker)) == 4
    down = harness("down", "-i", str(local_inventory))
    assert down.returncode == 0, down.stdout + down.stderr
    assert processes_mentioning(marker) == []

    # A confirmed transaction gone from every chain: the audit, run again on the chains the nodes
    # left on disk, fails and says which promise broke.
    lost = next(r["tx_id"] for r in rows if r["class_asked"] == "best-effort")
    for node in ("exec-0", "exec-1", "exec-2"):
        chain = local_inventory / "nodes" / node / "ledger" / "blocks.jsonl"
        chain.write_text(chain.read_text().replace(f'"{lost}"', '"someone-else"'))
    audited = harness("audit", str(run_dir))
    assert audited.returncode == 5, audited.stdout + audited.stderr
    assert ("audit FAILED: best-effort: 1 confirmed transaction(s) are in fewer chains than the class's quorum "
            "(1 in none)") in " ".join(audited.stdout.split())
    assert not json.loads((run_dir / "summary.json").read_text())["audit"]["ok"]


def agent_pids(marker: str) -> dict[str, int]:
    """node name -> pid of its serving agent."""
    pids = {}
    for process in processes_mentioning(marker):
        cmdline = process.info["cmdline"]
        if "serve" in cmdline:
            pids[Path(cmdline[cmdline.index("--config") + 1]).parent.name] = process.pid
    return pids


def test_up_restarts_exactly_the_agents_that_changed_or_died(local_inventory: Path) -> None:
    """`up` skips an unchanged node without asking it twice, so a changed configuration and a
    dead agent must still be noticed."""
    marker = str(local_inventory)
    assert harness("up", "-i", marker).returncode == 0
    before = agent_pids(marker)
    assert set(before) == {"control-0", "exec-0", "exec-1", "exec-2"}

    hosts = local_inventory / "hosts.yml"
    inventory = yaml.safe_load(hosts.read_text())
    inventory["all"]["children"]["execution"]["hosts"]["exec-1"]["vdlt_fsync"] = "never"
    hosts.write_text(yaml.safe_dump(inventory, sort_keys=False))
    reconfigured = harness("up", "-i", marker)
    assert reconfigured.returncode == 0, reconfigured.stdout + reconfigured.stderr
    assert "up: 4 host(s): 3 ok, 1 changed, 0 failed" in reconfigured.stdout
    after = agent_pids(marker)
    assert after["exec-1"] != before["exec-1"]
    assert {n: p for n, p in after.items() if n != "exec-1"} == {n: p for n, p in before.items() if n != "exec-1"}
    config = yaml.safe_load((local_inventory / "nodes" / "exec-1" / "node.yaml").read_text())
    assert config["fsync"] == "never"

    victim = next(p for p in processes_mentioning(marker) if p.pid == after["exec-0"])
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    status = harness("status", "-i", marker)
    assert status.returncode == 3 and status.stdout.count("serving") == 3, status.stdout
    assert "exec-0: no agent process on the node (`harness up` starts it;" in status.stdout
    assert "the controller got: unavailable: " in status.stdout  # gRPC's own words, on a line of their own
    revived = harness("up", "-i", marker)
    assert revived.returncode == 0, revived.stdout + revived.stderr
    assert "up: 4 host(s): 3 ok, 1 changed, 0 failed" in revived.stdout
    assert set(agent_pids(marker)) == {"control-0", "exec-0", "exec-1", "exec-2"}
    assert harness("status", "-i", marker).stdout.count("serving") == 4


def test_an_agent_that_cannot_start_is_reported_with_its_reason(local_inventory: Path) -> None:
    hosts = local_inventory / "hosts.yml"
    inventory = yaml.safe_load(hosts.read_text())
    inventory["all"]["children"]["execution"]["hosts"]["exec-1"]["vdlt_fsync"] = "sometimes"
    hosts.write_text(yaml.safe_dump(inventory, sort_keys=False))
    up = harness("up", "-i", str(local_inventory))
    assert "up: 4 host(s): 0 ok, 3 changed, 1 failed" in up.stdout
    assert "exec-1: failed: Start the node agent as a daemon: " in up.stdout
    assert "exec-1/node.yaml:9: fsync: must be one of always, never, got 'sometimes'" in up.stdout
    assert set(agent_pids(str(local_inventory))) == {"control-0", "exec-0", "exec-2"}


def test_down_on_a_testbed_never_up_changes_nothing(local_inventory: Path) -> None:
    down = harness("down", "-i", str(local_inventory))
    assert down.returncode == 0, down.stdout + down.stderr
    assert "down: 4 host(s): 4 ok, 0 changed, 0 failed" in down.stdout
    status = harness("status", "-i", str(local_inventory))
    assert status.returncode == 3
    for node in ("control-0", "exec-0", "exec-1", "exec-2"):
        assert f"{node}: not deployed on the node (`harness up` deploys and starts it)" in status.stdout
    assert not (local_inventory / "nodes").exists()


def test_run_brings_the_testbed_up_and_down_again(local_inventory: Path, tmp_path: Path) -> None:
    benchmark = tmp_path / "bench.yaml"
    benchmark.write_text(BENCHMARK.replace("txNumber: 300", "txNumber: 30") % {
        "module": REPO / "workloads" / "modules" / "kv.py"})
    run = harness("run", str(benchmark), "-i", str(local_inventory), "--results-dir", str(tmp_path / "r"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "up.yml" in run.stdout and "down.yml" in run.stdout
    assert processes_mentioning(str(local_inventory)) == []


def test_a_run_takes_down_only_what_it_started_and_names_the_absent(local_inventory: Path, tmp_path: Path) -> None:
    assert harness("up", "-i", str(local_inventory)).returncode == 0
    pids = agent_pids(str(local_inventory))
    # exec-2 is down (the run starts it); exec-1 is down and cannot start (its configuration is wrong).
    for node in ("exec-1", "exec-2"):
        subprocess.run([sys.executable, "-m", "node_agent", "stop", "--config",
                        str(local_inventory / "nodes" / node / "node.yaml")], check=True, capture_output=True)
    hosts = local_inventory / "hosts.yml"
    inventory = yaml.safe_load(hosts.read_text())
    inventory["all"]["children"]["execution"]["hosts"]["exec-1"]["vdlt_fsync"] = "sometimes"
    hosts.write_text(yaml.safe_dump(inventory, sort_keys=False))
    benchmark = tmp_path / "bench.yaml"
    benchmark.write_text(BENCHMARK.replace("txNumber: 300", "txNumber: 60") % {
        "module": REPO / "workloads" / "modules" / "kv.py"})
    run = harness("run", str(benchmark), "-i", str(local_inventory), "--results-dir", str(tmp_path / "r"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "exec-1 does not serve" in run.stderr
    assert "Task was destroyed" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    # What was up before the run is up after it, untouched; what the run started is down again.
    after = agent_pids(str(local_inventory))
    assert after == {name: pids[name] for name in ("control-0", "exec-0")}
    (run_dir,) = (tmp_path / "r").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    absent = {n["name"]: n["absent"] for n in manifest["nodes"] if n["absent"]}
    assert list(absent) == ["exec-1"] and "fsync: must be one of always, never" in absent["exec-1"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["rounds"][0]["total"]["succeeded"] == 60
    assert "Absent from this run: exec-1" in (run_dir / "report.html").read_text()
