"""The playbooks pass ansible-lint's strictest profile; every shipped inventory loads."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.provision.inventory import load_inventory
from tests.conftest import REPO


def test_ansible_lint_production_profile() -> None:
    lint = Path(sys.executable).parent / "ansible-lint"
    result = subprocess.run([str(lint), "--offline", "--nocolor", "--profile", "production", "."],
                            cwd=REPO / "playbooks", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["local", "lab.example", "cloud.example"])
def test_shipped_inventories_load(name: str) -> None:
    inventory = load_inventory(REPO / "inventories" / name)
    assert inventory.by_role("control") and inventory.by_role("execution")


def test_group_and_host_vars_set_profiles_costs_and_privacy() -> None:
    nodes = {n.name: n for n in load_inventory(REPO / "inventories" / "lab.example").nodes}
    assert (nodes["rpi4-1"].hardware_profile, nodes["rpi4-1"].cost_per_hour) == ("rpi4", 0.01)
    assert nodes["rpi4-2"].hardware_profile == "rpi4-ssd"  # host_vars over group_vars
    assert nodes["lab-server-2"].private_capable and not nodes["nuc-1"].private_capable
    assert nodes["loadgen-1"].role == "client"
