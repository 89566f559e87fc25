"""Mutual TLS on a local testbed: every call goes over TLS, and nobody without the testbed's
certificates gets an answer."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2

from harness.provision import testbed, tls
from harness.provision.inventory import load_inventory
from harness.provision.local_copy import scratch_local_inventory
from protocol import ledger_pb2, ledger_pb2_grpc
from protocol.errors import HarnessError
from protocol.tls import TlsFiles, channel
from tests.conftest import harness, health, node_config, run_benchmark
from vdlt.cos import CosByte, ServiceClass


def test_a_tls_testbed_serves_only_holders_of_its_certificates(local_inventory: Path, tmp_path: Path) -> None:
    scratch_local_inventory(local_inventory, use_tls=True)
    # Only the controller's certificate may use management/control.
    (local_inventory / "policy.yaml").write_text("reclassing: {management_sources: [harness-controller]}\n")
    (local_inventory / "group_vars").mkdir(exist_ok=True)
    (local_inventory / "group_vars" / "control.yml").write_text("vdlt_policy_file: policy.yaml\n")
    # Given by a relative path, the inventory's TLS files are found by Ansible too.
    up = harness("up", "-i", local_inventory.name, cwd=local_inventory.parent)
    assert up.returncode == 0, up.stdout + up.stderr
    inventory = load_inventory(local_inventory)
    assert all(h.serving for h in testbed.check_all(inventory))
    controller = tls.controller_files(inventory)
    assert controller is not None
    control = inventory.by_role("control")[0].endpoint
    # The controller's load workers reach the control node over TLS, and it reaches its
    # execution nodes over TLS: transactions are confirmed.
    (result,) = run_benchmark(tmp_path, control, [{
        "label": "tls", "txNumber": 100, "rateControl": {"type": "fixed-rate", "opts": {"tps": 100}},
        "workload": {"module": str(Path(__file__).parent.parent / "workloads" / "modules" / "kv.py")},
        "cos": {"fast-confirmation": 1},
    }], tls_files=controller)
    assert result.total.succeeded == 100
    # The source is the caller's certificate, whatever the transaction claims.
    management = CosByte(ServiceClass.MANAGEMENT_CONTROL).to_int()
    with channel(control, controller) as secure:
        receipt = ledger_pb2_grpc.ControlStub(secure).Submit(ledger_pb2.Transaction(
            id="claims-nobody", cos=management, source="nobody", contract="kv", operation="put",
            arguments_json='{"key": "k", "value": 1}'), timeout=10)
    assert receipt.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED, receipt
    assert receipt.cos_given == management, f"re-classed to {receipt.cos_given:#04x}"
    # A plaintext caller, and a caller whose certificate another CA signed, get nothing.
    stranger_inventory = scratch_local_inventory(tmp_path / "stranger", use_tls=True)
    tls.ensure(load_inventory(stranger_inventory))
    stranger = tls.directory(load_inventory(stranger_inventory))
    for node in inventory.nodes:
        assert health(node.endpoint, controller) == health_pb2.HealthCheckResponse.SERVING
        assert health(node.endpoint, None) == grpc.StatusCode.UNAVAILABLE
        assert health(node.endpoint, TlsFiles(controller.ca, stranger / "controller.pem",
                                              stranger / "controller.key")) == grpc.StatusCode.UNAVAILABLE
    # Nothing changes on a second `up`; the agents keep their certificates.
    again = harness("up", "-i", str(local_inventory))
    assert "0 changed" in again.stdout, again.stdout
    keys = sorted((local_inventory / "nodes").glob("*/tls/node.key"))
    assert len(keys) == len(inventory.nodes) and all(k.stat().st_mode & 0o077 == 0 for k in keys)


def test_certificates_are_kept_until_a_node_moves(tmp_path: Path) -> None:
    directory = scratch_local_inventory(tmp_path / "inventory", use_tls=True)
    folder = tls.ensure(load_inventory(directory))
    before = {p.name: p.read_bytes() for p in folder.rglob("*.pem")}
    assert (folder / "ca.key").stat().st_mode & 0o777 == 0o600
    tls.ensure(load_inventory(directory))
    assert {p.name: p.read_bytes() for p in folder.rglob("*.pem")} == before
    hosts = directory / "hosts.yml"
    doc = yaml.safe_load(hosts.read_text())
    doc["all"]["children"]["execution"]["hosts"]["exec-0"]["agent_address"] = "127.0.0.2"
    hosts.write_text(yaml.safe_dump(doc))
    tls.ensure(load_inventory(directory))
    after = {p.name: p.read_bytes() for p in folder.rglob("*.pem")}
    assert [name for name in before if after[name] != before[name]] == ["exec-0.pem"]


def test_status_before_the_tls_material_exists_says_what_to_do(tmp_path: Path) -> None:
    directory = scratch_local_inventory(tmp_path / "inventory", use_tls=True)
    status = harness("status", "-i", str(directory))
    assert status.returncode != 0
    assert (f"{directory / 'hosts.yml'}: vdlt_tls is on, but the controller's TLS files are missing "
            f"({directory / 'tls' / 'ca.pem'}" in status.stderr.replace("\n", "")), status.stderr
    assert "`harness deploy` or `harness up` makes the testbed's TLS material" in status.stderr.replace("\n", "")


def test_tls_on_for_some_nodes_only_is_refused(tmp_path: Path) -> None:
    directory = scratch_local_inventory(tmp_path / "inventory")
    hosts = directory / "hosts.yml"
    doc = yaml.safe_load(hosts.read_text())
    doc["all"]["children"]["execution"]["hosts"]["exec-0"]["vdlt_tls"] = True
    hosts.write_text(yaml.safe_dump(doc))
    with pytest.raises(HarnessError, match=r"hosts.yml: vdlt_tls must be the same for every node; "
                                           r"it is true only for exec-0"):
        tls.enabled(load_inventory(directory))


@pytest.mark.parametrize(("value", "on"), [("false", False), ("no", False), ("yes", True), ("True", True)])
def test_vdlt_tls_as_a_string_reads_as_ansible_reads_it(tmp_path: Path, value: str, on: bool) -> None:
    directory = scratch_local_inventory(tmp_path / "inventory")
    hosts = directory / "hosts.yml"
    doc = yaml.safe_load(hosts.read_text())
    doc["all"]["vars"]["vdlt_tls"] = value
    hosts.write_text(yaml.safe_dump(doc))
    assert tls.enabled(load_inventory(directory)) is on


def test_a_node_config_naming_a_missing_key_file_is_refused(tmp_path: Path) -> None:
    config = node_config(tmp_path, "exec-9", "execution", 1, tls={
        "ca_file": str(tmp_path / "ca.pem"), "cert_file": str(tmp_path / "node.pem"),
        "key_file": str(tmp_path / "node.key")})
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "node.pem").write_text("x")
    result = subprocess.run([sys.executable, "-m", "node_agent", "start", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    line = config.read_text().splitlines().index(f"  key_file: {tmp_path / 'node.key'}") + 1
    assert result.stderr.strip() == f"{config}:{line}: tls.key_file: no such file: {tmp_path / 'node.key'}"


def test_an_ipv6_testbed_with_tls(local_inventory: Path, tmp_path: Path) -> None:
    """Nodes at an IPv6 address (here ::1): endpoints in brackets everywhere, certificates naming
    the address, transactions confirmed."""
    scratch_local_inventory(local_inventory, use_tls=True)
    hosts = local_inventory / "hosts.yml"
    inventory_yaml = yaml.safe_load(hosts.read_text())
    inventory_yaml["all"]["vars"]["agent_address"] = "::1"
    hosts.write_text(yaml.safe_dump(inventory_yaml, sort_keys=False))
    up = harness("up", "-i", str(local_inventory))
    assert up.returncode == 0, up.stdout + up.stderr
    inventory = load_inventory(local_inventory)
    assert all(node.endpoint.startswith("[::1]:") for node in inventory.nodes)
    assert all(h.serving for h in testbed.check_all(inventory))
    (result,) = run_benchmark(tmp_path, inventory.by_role("control")[0].endpoint, [{
        "label": "ipv6", "txNumber": 50, "rateControl": {"type": "fixed-rate", "opts": {"tps": 100}},
        "workload": {"module": str(Path(__file__).parent.parent / "workloads" / "modules" / "kv.py")},
        "cos": {"best-effort": 1},
    }], tls_files=tls.controller_files(inventory))
    assert result.total.succeeded == 50
