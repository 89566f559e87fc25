"""Three SSH hosts in network namespaces, provisioned by the real playbooks over SSH.

Runs in file order on one testbed of four hosts (control, two execution, one client): deploy
(twice: the second changes nothing), up, status and facts, a benchmark across the hosts with its
load workers on the client host, exec, down, teardown; then a host that is unreachable, one
whose key is unknown, one of another platform, and the whole testbed again with mutual TLS.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import psutil
import pytest
import yaml

from harness.provision import wheelhouse
from harness.testing import netns
from tests.conftest import REPO, harness, health

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path(netns.SSHD).exists(),
                                reason="needs root and openssh-server (scripts/install-system-packages)")


@pytest.fixture(scope="module")
def testbed() -> Iterator[netns.NetnsTestbed]:
    created = netns.create(4, roles=["control", "execution", "execution", "client"],
                           profiles=["netns-large", "netns-small", "netns-small", "netns-small"])
    yield created
    netns.destroy(created.run_id)
    assert created.run_id not in netns.list_testbeds()


def inv(testbed: netns.NetnsTestbed) -> str:
    return str(testbed.inventory)


def agents(testbed: netns.NetnsTestbed) -> list[psutil.Process]:
    names = [h.name for h in testbed.hosts]
    return [p for p in psutil.process_iter(["cmdline"])
            if any(f"/var/lib/vdlt/{name}/node.yaml" in " ".join(p.info["cmdline"] or []) for name in names)]


def summary_line(output: str, action: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"{action}: "))


def test_deploy_is_idempotent(testbed: netns.NetnsTestbed) -> None:
    first = harness("deploy", "-i", inv(testbed))
    assert first.returncode == 0, first.stdout + first.stderr
    assert summary_line(first.stdout, "deploy") == "deploy: 4 host(s): 0 ok, 4 changed, 0 failed, 0 unreachable"
    second = harness("deploy", "-i", inv(testbed))
    assert summary_line(second.stdout, "deploy") == "deploy: 4 host(s): 4 ok, 0 changed, 0 failed, 0 unreachable"


def test_up_status_and_facts(testbed: netns.NetnsTestbed) -> None:
    up = harness("up", "-i", inv(testbed))
    assert up.returncode == 0, up.stdout + up.stderr
    assert len(agents(testbed)) == 4
    # The agents imported the bytecode the controller compiled into the bundle: a node (a
    # Raspberry Pi, say) compiles nothing on its first start.
    venv = Path(testbed.hosts[0].directory) / "opt" / "venv"
    (marker,) = venv.glob(".installed-*")
    compiled = list(venv.rglob("vdlt/__pycache__/*.pyc"))
    assert compiled and all(p.stat().st_mtime <= marker.stat().st_mtime for p in compiled)
    status = harness("status", "-i", inv(testbed))
    assert status.returncode == 0 and status.stdout.count("serving") == 4
    facts = harness("facts", "-i", inv(testbed), "--json")
    assert facts.returncode == 0, facts.stderr
    records = json.loads(facts.stdout[facts.stdout.index("["):])
    assert {r["node"] for r in records} == {h.name for h in testbed.hosts}
    assert {r["hardware_profile"] for r in records} == {"netns-large", "netns-small"}
    for record in records:
        assert record["architecture"] and record["cpu_threads"] == os.cpu_count() and record["memory_mb"] > 0
        assert "eth0" in record["interfaces"]


def test_benchmark_across_the_hosts(testbed: netns.NetnsTestbed, tmp_path: Path) -> None:
    result = harness("run", str(REPO / "workloads" / "benchmarks" / "quickstart.yaml"), "-i", inv(testbed),
                     "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["rounds"][0]["total"]["succeeded"] == 600
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {r["node"] for r in manifest["hardware"]} == {h.name for h in testbed.hosts}
    # Every host's state was recorded through the run, over its own address.
    assert {p.stem for p in (run_dir / "nodes").glob("*.jsonl")} == {h.name for h in testbed.hosts}
    # The run's receipts were checked against the execution hosts' chains, read through their agents.
    assert summary["audit"]["ok"] and summary["audit"]["classes"]["fast-confirmation"]["confirmed_present"] > 0
    # With an execution host's agent down, its chain is read over SSH.
    away = next(h.name for h in testbed.hosts if h.role == "execution")
    assert harness("down", "-i", inv(testbed), "--limit", away).returncode == 0
    audit = harness("audit", str(run_dir))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "could not be read" not in audit.stdout and "every receipt is borne out" in audit.stdout, audit.stdout
    assert harness("up", "-i", inv(testbed), "--limit", away).returncode == 0


def remote_benchmark(directory: Path, length: str) -> Path:
    """One round of 100 tx/s from two load workers on the client host; ``length`` as in Caliper."""
    path = directory / "remote.yaml"
    path.write_text(f"""
test:
  name: remote-workers
  workers: {{type: remote, number: 2}}
  rounds:
    - label: remote
      {length}
      rateControl: {{type: fixed-rate, opts: {{tps: 100}}}}
      workload: {{module: {REPO / "workloads" / "modules" / "kv.py"}}}
      cos: {{fast-confirmation: 1, best-effort: 1}}
""")
    return path


def test_load_workers_run_on_the_client_host(testbed: netns.NetnsTestbed, tmp_path: Path) -> None:
    client = testbed.hosts[3]
    benchmark = remote_benchmark(tmp_path, "txNumber: 200")
    result = harness("run", str(benchmark), "-i", inv(testbed), "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (tmp_path / "results").iterdir()
    from harness.store.records import round_records

    records = round_records(run_dir, 0)
    assert len(records) == 200 and {r.status for r in records} == {"confirmed"}
    assert {r.worker for r in records} == {0, 1}
    # The workers ran on the client host and cleaned up after themselves.
    assert list((Path(client.directory) / "var").rglob("records.csv.gz")) == []
    # The controller's figures are those of the records it fetched: a client node needs no
    # histogram library (which a Raspberry Pi could not get as a binary wheel).
    classes = json.loads((run_dir / "summary.json").read_text())["rounds"][0]["classes"]
    for slug in ("fast-confirmation", "best-effort"):
        mine = sorted(r.latency_ms for r in records if r.class_asked == slug)
        assert classes[slug]["succeeded"] == len(mine) == 100
        assert classes[slug]["latency_ms"]["max"] == pytest.approx(mine[-1], rel=0.01)
    assert not list((Path(client.directory) / "opt").rglob("hdrh"))


def test_remote_workers_report_progress_while_the_round_runs(testbed: netns.NetnsTestbed, tmp_path: Path) -> None:
    from harness.config.benchmark import load_benchmark
    from harness.loadgen.engine import Engine
    from harness.loadgen.remote import RemoteWorkers
    from harness.provision.inventory import load_inventory

    benchmark = load_benchmark(remote_benchmark(tmp_path, "txDuration: 3"))
    inventory = load_inventory(testbed.inventory)
    seen: list[int] = []
    endpoints = [node.endpoint for node in inventory.by_role("control")]
    with Engine(benchmark, endpoints, "progress", tmp_path / "records",
                RemoteWorkers(inventory.by_role("client"))) as engine:
        result = engine.run_round(benchmark.rounds[0],
                                  lambda _, counts: seen.append(sum(c[0] for c in counts.values())))
    submitted = result.total.figures().submitted
    assert submitted >= 250
    # Counts from the client host arrived while the round was still sending, and only grew.
    assert any(0 < count < submitted for count in seen), seen
    assert seen == sorted(seen) and seen[-1] <= submitted


def test_remote_workers_on_the_client_host_drive_a_chain(testbed: netns.NetnsTestbed, tmp_path: Path) -> None:
    """The node bundle holds what the Ethereum connector needs: a client node drives a chain."""
    from harness.provision.ganache import Ganache, ganache_missing
    from tests.test_ethereum import CONTRACTS, WORKER_0, WORKSPACE, network_file, records

    if ganache_missing():
        pytest.skip(ganache_missing())
    workspace = tmp_path / "workloads" / "caliper" / "broker"
    shutil.copytree(WORKSPACE, workspace)
    shutil.copytree(CONTRACTS, tmp_path / "workloads" / "contracts")
    # On the bridge's address, where the namespace hosts reach this machine.
    with Ganache(tmp_path / "ganache", host=testbed.gateway, accounts=[(WORKER_0[1], 10**24)]) as chain:
        network_file(workspace, chain.ws_url)
        bench = workspace / "benchmarks" / "remote.yaml"
        bench.write_text(yaml.safe_dump({"test": {"name": "remote-chain", "workers": {"type": "remote", "number": 1},
                                                  "rounds": [{"label": "add", "txNumber": 40,
                                                              "rateControl": {"type": "fixed-rate",
                                                                              "opts": {"tps": 20}},
                                                              "workload": {"module": "benchmarks/add-provider.py",
                                                                           "arguments": {"unitsPerProvider": 10}}}]}}))
        result = harness("run", str(bench), "--network", "networks/ganache.json", "-i", inv(testbed),
                         "--results-dir", str(tmp_path / "results"), cwd=workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (tmp_path / "results").iterdir()
    rows = records(run_dir)
    assert len(rows) == 40 and {r["status"] for r in rows} == {"confirmed"} and all(r["ref"] for r in rows)
    assert json.loads((run_dir / "summary.json").read_text())["audit"]["ok"]


def test_exec_runs_on_every_host(testbed: netns.NetnsTestbed) -> None:
    result = harness("exec", "-i", inv(testbed), "--", "hostname")
    assert result.returncode == 0, result.stdout + result.stderr
    for host in testbed.hosts:
        assert f"{host.name} (exit 0)" in result.stdout and f"  {host.name}" in result.stdout
    # As ssh does, the words make one command line for the node's shell (quotes and pipes included),
    # and the inventory's known_hosts is found through its {{ inventory_dir }} template.
    piped = harness("exec", "-i", inv(testbed), "--", 'printf "%s\\n" "a b" c | wc -l')
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert piped.stdout.splitlines().count("  2") == len(testbed.hosts), piped.stdout


def test_logs_are_fetched_per_host(testbed: netns.NetnsTestbed, tmp_path: Path) -> None:
    result = harness("logs", "-i", inv(testbed), "--to", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    for host in testbed.hosts:
        assert "serving on" in (tmp_path / host.name / "agent.log").read_text()


def test_down_and_teardown_leave_nothing(testbed: netns.NetnsTestbed) -> None:
    down = harness("down", "-i", inv(testbed))
    assert down.returncode == 0, down.stdout + down.stderr
    assert agents(testbed) == []
    teardown = harness("teardown", "-i", inv(testbed))
    assert teardown.returncode == 0, teardown.stdout + teardown.stderr
    for host in testbed.hosts:
        leftovers = [p for sub in ("opt", "var", "home") for p in (Path(host.directory) / sub).rglob("*")]
        assert leftovers == [], leftovers


def test_unreachable_host_is_reported_and_the_rest_goes_on(testbed: netns.NetnsTestbed) -> None:
    dead = testbed.hosts[2]
    subprocess.run(["ip", "-n", dead.namespace, "link", "set", "eth0", "down"], check=True)
    try:
        up = harness("up", "-i", inv(testbed))
        assert up.returncode == 0, up.stdout + up.stderr
        assert "1 unreachable" in summary_line(up.stdout, "up")
        assert f"degraded, going on without: {dead.name}" in up.stdout
        strict = harness("up", "-i", inv(testbed), "--max-fail", "0")
        assert strict.returncode != 0 and "more than --max-fail 0" in strict.stderr
        status = harness("status", "-i", inv(testbed))
        assert status.returncode == 3 and status.stdout.count("serving") == 3, status.stdout
        assert f"{dead.name}: host unreachable: " in status.stdout
    finally:
        subprocess.run(["ip", "-n", dead.namespace, "link", "set", "eth0", "up"], check=True)
        harness("teardown", "-i", inv(testbed))


def test_unknown_host_key_is_refused(testbed: netns.NetnsTestbed) -> None:
    stranger = testbed.hosts[1]
    original = testbed.known_hosts.read_text()
    without = "".join(line for line in original.splitlines(keepends=True) if not line.startswith(stranger.address + " "))
    testbed.known_hosts.write_text(without)
    try:
        ansible = harness("deploy", "-i", inv(testbed))
        assert ansible.returncode == 0, ansible.stdout + ansible.stderr
        assert "1 unreachable" in summary_line(ansible.stdout, "deploy")
        assert f"{stranger.name}: unreachable: " in ansible.stdout
        assert "Host key verification failed" in ansible.stdout
        assert testbed.known_hosts.read_text() == without  # nothing was added behind our back
        fabric = harness("exec", "-i", inv(testbed), "--limit", stranger.name, "--", "true")
        assert fabric.returncode == 1 and "unreachable" in fabric.stdout and "not found in known_hosts" in fabric.stdout
    finally:
        testbed.known_hosts.write_text(original)


def test_a_node_of_another_platform_gets_a_bundle_built_for_it(testbed: netns.NetnsTestbed,
                                                                tmp_path: Path) -> None:
    """A bundle holds compiled extensions for one machine and Python. An ARM board is refused
    up front, naming both platforms and what to set; once its inventory says what it is, it gets
    a bundle of wheels for its platform."""
    other = testbed.hosts[2]
    assert harness("teardown", "-i", inv(testbed), "--limit", other.name).returncode == 0
    # Stands in for a Raspberry Pi's interpreter, which this machine cannot run: it answers the
    # probe's platform question as that one would, and runs this machine's Python for the rest.
    foreign_python = tmp_path / "python3"
    foreign_python.write_text("#!/bin/sh\ncase \"$2\" in *platform.machine*) echo 'aarch64 cpython-3.13'; exit 0;; esac\n"
                              "exec /usr/bin/python3 \"$@\"\n")
    foreign_python.chmod(0o755)
    hosts = testbed.inventory / "hosts.yml"
    original = hosts.read_text()
    inventory = yaml.safe_load(original)
    host_vars = inventory["all"]["children"]["execution"]["hosts"][other.name]
    host_vars["vdlt_base_python"] = str(foreign_python)
    hosts.write_text(yaml.safe_dump(inventory, sort_keys=False))
    try:
        refused = harness("provision", "-i", inv(testbed), "--limit", other.name)
        assert refused.returncode != 0
        assert (f"{other.name}: failed: Check that the bundle fits the node and whether it is installed: "
                f"this node is aarch64 cpython-3.13, and the bundle is built for {wheelhouse.controller_platform()} "
                "(the controller's machine and Python): set vdlt_node_platform: 'aarch64 cpython-3.13' for it"
                ) in refused.stderr.replace("\n", " ")
        assert list((Path(other.directory) / "opt").rglob("*")) == []

        host_vars["vdlt_node_platform"] = "aarch64 cpython-3.13"
        hosts.write_text(yaml.safe_dump(inventory, sort_keys=False))
        provisioned = harness("provision", "-i", inv(testbed), "--limit", other.name, timeout=600)
        assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
        installed = {p.name for p in (Path(other.directory) / "opt").rglob("*.so")}
        assert "cygrpc.cpython-313-aarch64-linux-gnu.so" in installed, sorted(installed)
        assert not any("x86_64" in name for name in installed), sorted(installed)
    finally:
        hosts.write_text(original)
        harness("teardown", "-i", inv(testbed), "--limit", other.name)


def test_a_tls_testbed_across_the_hosts(testbed: netns.NetnsTestbed, tmp_path: Path) -> None:
    """With vdlt_tls, every call between the hosts is mutual TLS: the controller's, the control
    node's to its execution nodes and the client host's load workers' (with its own certificate)."""
    import grpc
    from grpc_health.v1 import health_pb2

    from harness.provision import tls
    from harness.provision.inventory import load_inventory

    hosts = testbed.inventory / "hosts.yml"
    original = hosts.read_text()
    inventory = yaml.safe_load(original)
    inventory["all"]["vars"]["vdlt_tls"] = True
    # This one binds every interface of its host, as a cloud VM behind a public address does: its
    # certificate still names the address the others call it at.
    wildcard = testbed.hosts[1]
    inventory["all"]["children"]["execution"]["hosts"][wildcard.name]["agent_listen"] = "0.0.0.0:50051"
    hosts.write_text(yaml.safe_dump(inventory, sort_keys=False))
    try:
        up = harness("up", "-i", inv(testbed))
        assert up.returncode == 0, up.stdout + up.stderr
        status = harness("status", "-i", inv(testbed))
        assert status.returncode == 0 and status.stdout.count("serving") == 4, status.stdout
        result = harness("run", str(remote_benchmark(tmp_path, "txNumber: 200")), "-i", inv(testbed),
                         "--results-dir", str(tmp_path / "results"))
        assert result.returncode == 0, result.stdout + result.stderr
        (run_dir,) = (tmp_path / "results").iterdir()
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["rounds"][0]["total"]["succeeded"] == 200
        loaded = load_inventory(testbed.inventory)
        controller = tls.controller_files(loaded)
        for node in loaded.nodes:
            assert health(node.endpoint, controller) == health_pb2.HealthCheckResponse.SERVING
            assert health(node.endpoint, None) == grpc.StatusCode.UNAVAILABLE
        listening = subprocess.run(["ip", "netns", "exec", wildcard.namespace, "ss", "-Hltn", "sport", "= :50051"],
                                   capture_output=True, text=True, check=True).stdout
        assert ":50051" in listening and wildcard.address not in listening, listening  # bound to every interface
    finally:
        hosts.write_text(original)
        harness("teardown", "-i", inv(testbed))
