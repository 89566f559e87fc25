"""The playbooks' systemd path, on a namespace host that boots systemd as lab machines do.

One plain host (control) and one that boots systemd (execution): `up` installs and starts the
agent as a systemd unit there, a changed configuration restarts it, `down` stops it, and
`teardown` removes the unit and its enablement as well as the files.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from harness.testing import netns
from tests.conftest import harness

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path(netns.SSHD).exists() or not Path(netns.NSPAWN).exists(),
    reason="needs root, openssh-server and systemd-container (scripts/install-system-packages)")


@pytest.fixture(scope="module")
def testbed() -> Iterator[netns.NetnsTestbed]:
    created = netns.create(2, systemd={1})
    yield created
    netns.destroy(created.run_id)
    assert created.run_id not in netns.list_testbeds()
    # The container's processes and cgroups went with it.
    left = [group for root in netns._cgroup_roots() for group in Path(root, netns.CGROUP_PARENT).glob(f"vh-{created.run_id}-*")]
    assert left == []


def on_host(testbed: netns.NetnsTestbed, host: netns.NetnsHost, command: str) -> str:
    result = subprocess.run(
        ["ssh", "-i", str(testbed.key_file), "-o", f"UserKnownHostsFile={testbed.known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{host.address}", command],
        capture_output=True, text=True, timeout=30, check=False)
    return result.stdout.strip()


def test_the_agent_runs_as_a_systemd_unit(testbed: netns.NetnsTestbed) -> None:
    inventory = str(testbed.inventory)
    host = testbed.hosts[1]
    unit = f"vdlt-node-agent@{host.name}"
    assert host.init == "systemd" and on_host(testbed, host, "systemctl is-system-running") == "running"

    up = harness("up", "-i", inventory)
    assert up.returncode == 0, up.stdout + up.stderr
    assert up.stdout.count("serving") == 2
    assert on_host(testbed, host, f"systemctl is-active {unit}; systemctl is-enabled {unit}") == "active\nenabled"
    first_pid = on_host(testbed, host, f"systemctl show -p MainPID --value {unit}")
    assert int(first_pid) > 0

    again = harness("up", "-i", inventory)
    assert "up: 2 host(s): 2 ok, 0 changed" in again.stdout, again.stdout
    assert on_host(testbed, host, f"systemctl show -p MainPID --value {unit}") == first_pid

    # A changed configuration restarts the unit (the role's handler), and the new one serves.
    hosts_file = testbed.inventory / "hosts.yml"
    original = hosts_file.read_text()
    changed = yaml.safe_load(original)
    changed["all"]["vars"]["vdlt_sample_interval_s"] = 0.25
    hosts_file.write_text(yaml.safe_dump(changed, sort_keys=False))
    try:
        restarted = harness("up", "-i", inventory)
        assert restarted.returncode == 0 and restarted.stdout.count("serving") == 2, restarted.stdout
        new_pid = on_host(testbed, host, f"systemctl show -p MainPID --value {unit}")
        assert int(new_pid) > 0 and new_pid != first_pid
    finally:
        hosts_file.write_text(original)

    down = harness("down", "-i", inventory)
    assert down.returncode == 0, down.stdout + down.stderr
    assert on_host(testbed, host, f"systemctl is-active {unit}; pgrep -f '[n]ode_agent serve' || true") == "inactive"

    teardown = harness("teardown", "-i", inventory)
    assert teardown.returncode == 0, teardown.stdout + teardown.stderr
    # Only the testbed's own sshd unit is left: no unit file, no enablement symlink.
    units = Path(host.directory) / "units"
    assert sorted(str(p.relative_to(units)) for p in units.rglob("*")) == [
        "multi-user.target.wants", "multi-user.target.wants/testbed-sshd.service", "testbed-sshd.service"]
    assert [p for sub in ("opt", "var") for p in (Path(host.directory) / sub).rglob("*")] == []
    assert on_host(testbed, host, f"systemctl list-unit-files '{unit}' --no-legend") == ""
