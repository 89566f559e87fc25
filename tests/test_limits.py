"""Emulated hardware profiles: a node capped to look like a smaller machine is capped, says so, and
leaves no cgroup behind; one that cannot be capped does not start."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
import yaml

from harness.provision.hardware import profile_record
from harness.provision.inventory import load_inventory
from harness.provision.profiles import SHIPPED, missing_controllers, profile_from_mapping
from harness.testing.netns import NetnsError, emulated_hosts
from node_agent import cgroups
from node_agent.config import NodeConfig
from node_agent.limits import GROUPS_FILE, Limits, LimitsError, apply_limits, group_name, remove_groups
from protocol import node_agent_pb2, node_agent_pb2_grpc
from protocol.documents import load_yaml
from protocol.errors import ConfigError
from tests.conftest import free_port, harness, node_config, processes_mentioning


def prepared_root(root: Path, combined_cpu: bool = False) -> dict[str, Path]:
    """A folder laid out as cgroupfs is for this process: each controller's hierarchy with this
    process's own place in it (memory nested, as here), and the parent files a group copies."""
    paths = cgroups.own_paths()
    places = {}
    for controller, mount in (("cpu", "cpu,cpuacct" if combined_cpu else "cpu"), ("cpuset", "cpuset"),
                              ("memory", "memory"), ("blkio", "blkio")):
        (root / mount).mkdir(parents=True)
        (root / mount / "cgroup.procs").write_text("")
        place = root / mount / paths.get(controller, "/").lstrip("/")
        place.mkdir(parents=True, exist_ok=True)
        (place / "cgroup.procs").write_text("")
        places[controller] = place
    (places["cpuset"] / "cpuset.mems").write_text("0\n")
    return places


def test_limits_are_written_into_groups_of_the_nodes_own_and_removed(tmp_path: Path, monkeypatch) -> None:
    places = prepared_root(tmp_path / "cgroup", combined_cpu=True)
    monkeypatch.setenv(cgroups.ROOT_ENV, str(tmp_path / "cgroup"))
    data_dir = tmp_path / "exec-9"
    data_dir.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        limits = Limits(cpu_cores=0.25, cpuset="0", memory_mb=256, read_mbps=40, write_mbps=20)
        groups = apply_limits(limits, "exec-9", data_dir, pid=sleeper.pid)
        assert groups == [places[c] / group_name("exec-9", data_dir) for c in ("cpu", "cpuset", "memory", "blkio")]
        cpu, cpuset, memory, blkio = groups
        assert "cpu,cpuacct" in cpu.parts  # the combined hierarchy of other machines
        assert (cpu / "cpu.cfs_period_us").read_text() == "10000"
        assert (cpu / "cpu.cfs_quota_us").read_text() == "2500"
        assert (cpuset / "cpuset.cpus").read_text() == "0"
        assert (cpuset / "cpuset.mems").read_text() == "0"  # the parent's: a cpuset takes no task without
        assert (memory / "memory.limit_in_bytes").read_text() == str(256 * 2**20)
        # The whole disk that holds the data dir, in bytes per second.
        device, read_bps = (blkio / "blkio.throttle.read_bps_device").read_text().split()
        assert read_bps == "40000000" and (blkio / "blkio.throttle.write_bps_device").read_text() == f"{device} 20000000"
        assert not (Path("/sys/dev/block") / device / "partition").exists()
        assert all((group / "cgroup.procs").read_text() == str(sleeper.pid) for group in groups)

        # Another agent of this node, capped on this machine, is not joined.
        with pytest.raises(LimitsError, match="already holds process"):
            apply_limits(limits, "exec-9", data_dir, pid=os.getpid())
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_groups(data_dir) == []
    assert not any(group.exists() for group in groups) and not (data_dir / GROUPS_FILE).exists()


def test_a_missing_controller_or_a_disk_that_is_none_is_refused(tmp_path: Path, monkeypatch) -> None:
    places = prepared_root(tmp_path / "cgroup")
    monkeypatch.setenv(cgroups.ROOT_ENV, str(tmp_path / "cgroup"))
    (places["blkio"] / "cgroup.procs").unlink()  # blkio is not mounted here
    assert missing_controllers(["cpu", "blkio", "memory"]) == ["blkio"]
    with pytest.raises(LimitsError) as refused:
        apply_limits(Limits(cpu_cores=0.5, write_mbps=20), "exec-3", tmp_path / "exec-3", pid=os.getpid())
    assert "exec-3" in str(refused.value) and "blkio" in str(refused.value) and "uncapped" in str(refused.value)
    assert not (places["cpu"] / group_name("exec-3", tmp_path / "exec-3")).exists()  # nothing half applied

    if Path("/dev/shm").is_dir():  # tmpfs: no disk to throttle
        (places["blkio"] / "cgroup.procs").write_text("")
        with pytest.raises(LimitsError, match="no block device"):
            apply_limits(Limits(write_mbps=20), "exec-3", Path("/dev/shm"), pid=os.getpid())


def test_an_agent_that_cannot_be_capped_does_not_start(tmp_path: Path) -> None:
    config = node_config(tmp_path, "exec-4", "execution", free_port(), limits={"cpu_cores": 0.5, "memory_mb": 512})
    (tmp_path / "no-cgroups").mkdir()
    started = subprocess.run([sys.executable, "-m", "node_agent", "start", "--config", str(config)],
                             capture_output=True, text=True, timeout=60, check=False,
                             env={**os.environ, cgroups.ROOT_ENV: str(tmp_path / "no-cgroups")})
    assert started.returncode == 1
    assert "node exec-4" in started.stderr and "cpu, memory" in started.stderr and "uncapped" in started.stderr
    assert not processes_mentioning(str(tmp_path))


def test_limits_are_checked_with_file_line_and_field(tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text("node_id: e\nrole: execution\nlisten: 127.0.0.1:1\ndata_dir: /tmp/e\n"
                      "limits:\n  cpu_cores: 0.25\n  memory_mib: 512\n")
    with pytest.raises(ConfigError, match=r"node.yaml:7: limits.memory_mib: unknown key .*did you mean 'memory_mb'"):
        NodeConfig.load(config)
    config.write_text(config.read_text().replace("memory_mib: 512", "cpuset: 0-1"))
    assert NodeConfig.load(config).limits == Limits(cpu_cores=0.25, cpuset="0-1")

    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {
        "control": {"hosts": {"c": {"agent_port": 1}}},
        "execution": {"hosts": {"e": {"agent_port": 2, "vdlt_limits": {"cpu_cores": 0}}}}}}}))
    with pytest.raises(ConfigError, match=r"hosts.yml:\d+: .*vdlt_limits.cpu_cores: must be > 0"):
        load_inventory(inventory)

    doc = load_yaml(config)
    profile = profile_from_mapping(doc, ("limits",), "quarter", {"cpu_cores": 0.25, "source": "a quarter core"})
    assert profile.describe() == "0.25 core" and profile.controllers_needed() == ("cpu",)
    with pytest.raises(ConfigError, match="'source' is missing"):
        profile_from_mapping(doc, ("limits",), "quarter", {"cpu_cores": 0.25})


def test_shipped_profiles_and_their_records() -> None:
    pi4 = SHIPPED["pi4-like"]
    assert pi4.controllers_needed() == ("cpu", "memory", "blkio")
    assert pi4.describe() == "0.35 core, 1024 MiB, 45 MB/s reads, 20 MB/s writes"
    assert SHIPPED["server"].to_limits() == {} and all(p.source for p in SHIPPED.values())
    facts = {"ansible_processor_vcpus": 2, "ansible_processor_cores": 2, "ansible_memtotal_mb": 24105}
    real = profile_record("exec-0", "pi4-like", facts)
    assert "emulated" not in real and profile_record("exec-0", "pi4-like", facts, SHIPPED["server"].limits) == real
    capped = profile_record("exec-0", "pi4-like", facts, pi4.limits)
    assert {k: capped[k] for k in ("emulated", "limits", "cpu_limit_cores", "memory_limit_mb")} == {
        "emulated": True, "limits": pi4.to_limits(), "cpu_limit_cores": 0.35, "memory_limit_mb": 1024}
    assert {k: v for k, v in capped.items() if k in real} == real

    roles = ["control", "execution", "execution"]
    assert emulated_hosts(["exec-1=pi4-like", "2=minipc-like"], roles) == {1: pi4, 2: SHIPPED["minipc-like"]}
    with pytest.raises(NetnsError, match="no host 'exec-0'; the hosts are cont-0, exec-1, exec-2"):
        emulated_hosts(["exec-0=pi4-like"], roles)
    with pytest.raises(NetnsError, match="did you mean 'pi4-like'"):
        emulated_hosts(["exec-1=pi4-lke"], roles)


needs_cpu_cgroup = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing_controllers(["cpu"])),
    reason="needs root and the cgroup v1 cpu controller mounted writable (TESTBED-NOTES.md, cgroups)")


@needs_cpu_cgroup
def test_a_capped_local_node_is_capped_reports_it_and_leaves_no_group(tmp_path: Path, local_inventory: Path) -> None:
    hosts_file = local_inventory / "hosts.yml"
    inventory = yaml.safe_load(hosts_file.read_text())
    execution = inventory["all"]["children"]["execution"]["hosts"]
    for name in ("exec-1", "exec-2"):  # one control and one execution node are enough
        del execution[name]
    execution["exec-0"]["vdlt_limits"] = {"cpu_cores": 0.25}
    execution["exec-0"]["hardware_profile"] = "quarter-core"
    hosts_file.write_text(yaml.safe_dump(inventory, sort_keys=False))

    up = harness("up", "-i", str(local_inventory))
    assert up.returncode == 0, up.stdout + up.stderr
    node_dir = local_inventory / "nodes" / "exec-0"
    pid = int((node_dir / "agent.pid").read_text())
    cpu_path = next(line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                    if "cpu" in line.split(":")[1].split(","))
    group = cgroups.mount_dir("cpu") / cpu_path.lstrip("/")  # type: ignore[operator]
    assert group.name == group_name("exec-0", node_dir)
    assert (group / "cpu.cfs_quota_us").read_text().strip() == "2500"

    endpoint = next(n.endpoint for n in load_inventory(local_inventory).nodes if n.name == "exec-0")
    with grpc.insecure_channel(endpoint) as channel:
        stub = node_agent_pb2_grpc.NodeAgentStub(channel)
        state = stub.GetState(node_agent_pb2.GetStateRequest(), timeout=5)
        assert state.cpu.limit_cores == pytest.approx(0.25)
        # Busy for 1.5 CPU-s in the node's group (a child of the test's, moved there): under a
        # quarter core it takes four times as long, or more, since the agent shares the quota.
        burn = "import time\nend = time.process_time() + 1.5\nwhile time.process_time() < end: pass"
        busy = subprocess.Popen([sys.executable, "-c", burn])
        (group / "cgroup.procs").write_text(str(busy.pid))
        started = time.monotonic()
        busy.wait(timeout=20)
        elapsed = time.monotonic() - started
    assert elapsed > 4, f"1.5 CPU-s took {elapsed:.1f} s of wall time under a quarter core"

    status = harness("status", "-i", str(local_inventory))
    assert status.returncode == 0, status.stdout + status.stderr
    row = next(line for line in status.stdout.splitlines() if "exec-0" in line)
    assert "0.25 of 2" in row or f"0.25 of {os.cpu_count()}" in row

    down = harness("down", "-i", str(local_inventory))
    assert down.returncode == 0, down.stdout + down.stderr
    assert not group.exists() and not (node_dir / GROUPS_FILE).exists()
    assert not processes_mentioning(str(local_inventory))
