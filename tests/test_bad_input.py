"""Bad input: a non-zero exit, a message naming the file, line and field, and nothing started."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, harness, processes_mentioning

GOOD = """\
test:
  name: bad-input
  workers:
    number: 1
  rounds:
    - label: r0
      txNumber: 10
      rateControl:
        type: fixed-rate
        opts:
          tps: 10
      workload:
        module: {module}
      cos:
        best-effort: 1
"""


def bench(tmp_path: Path, old: str, new: str) -> Path:
    text = GOOD.format(module=REPO / "workloads" / "modules" / "kv.py")
    assert old in text
    path = tmp_path / "bench.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("type: fixed-rate", "type: fixed-rte", 9, "test.rounds[0].rateControl.type", "did you mean 'fixed-rate'"),
        ("txNumber: 10", "txNumber: 10\n      txDuration: 5", 8, "test.rounds[0].txDuration", "not both"),
        ("best-effort: 1", "best-efort: 1", 15, "test.rounds[0].cos.best-efort", "did you mean 'best-effort'"),
        ("tps: 10", "tps: -5", 11, "test.rounds[0].rateControl.opts.tps", "must be > 0"),
        ("tps: 10", "tps: fast", 11, "test.rounds[0].rateControl.opts.tps", "must be a number"),
        ("opts:", "optz:", 10, "test.rounds[0].rateControl.optz", "did you mean 'opts'"),
        ("number: 1", "number: 0", 4, "test.workers.number", "integer >= 1"),
        ("number: 1", "number: 1\n    sendWindowMs: -1", 5, "test.workers.sendWindowMs", "from 0 to 100"),
    ],
)
def test_bad_benchmark_names_file_line_field(local_inventory: Path, tmp_path: Path, old: str, new: str,
                                             line: int, field: str, words: str) -> None:
    path = bench(tmp_path, old, new)
    result = harness("run", str(path), "-i", str(local_inventory), "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 2
    assert f"{path}:{line}: {field}:" in result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert processes_mentioning(str(local_inventory)) == []
    assert not (tmp_path / "results").exists()


def test_missing_inventory_names_the_path(tmp_path: Path) -> None:
    path = bench(tmp_path, "r0", "r0")
    missing = tmp_path / "no-such-inventory"
    result = harness("run", str(path), "-i", str(missing), "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 2
    assert f"{missing}: inventory not found" in result.stderr
    assert not (tmp_path / "results").exists()


def test_inventory_without_port_names_host_and_field(tmp_path: Path) -> None:
    inventory = tmp_path / "inv"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(
        "all:\n  children:\n    control:\n      hosts:\n        c0: {agent_port: 50999}\n"
        "    execution:\n      hosts:\n        e0: {}\n")
    result = harness("up", "-i", str(inventory))
    assert result.returncode == 2
    assert f"{inventory / 'hosts.yml'}:8: all.children.execution.hosts.e0.agent_port:" in result.stderr


def test_missing_benchmark_file(tmp_path: Path, local_inventory: Path) -> None:
    result = harness("run", str(tmp_path / "nope.yaml"), "-i", str(local_inventory))
    assert result.returncode == 2
    assert "nope.yaml: benchmark file not found" in result.stderr


def test_bad_policy_file_stops_up_before_anything_starts(local_inventory: Path) -> None:
    (local_inventory / "policy.yaml").write_text("scheduler: cbwfq\nclasses:\n  fast-confirmation: {wieght: 3}\n")
    (local_inventory / "group_vars").mkdir()
    (local_inventory / "group_vars" / "control.yml").write_text("vdlt_policy_file: policy.yaml\n")
    result = harness("up", "-i", str(local_inventory))
    assert result.returncode == 2
    assert (f"{local_inventory / 'policy.yaml'}:3: classes.fast-confirmation.wieght: unknown key 'wieght' "
            "(did you mean 'weight'?)") in result.stderr
    assert processes_mentioning(str(local_inventory)) == []


def test_a_node_platform_that_is_not_one_stops_provision_before_anything_runs(local_inventory: Path) -> None:
    (local_inventory / "host_vars").mkdir()
    (local_inventory / "host_vars" / "exec-0.yml").write_text(
        "vdlt_install_mode: wheel\nvdlt_node_platform: raspberry pi 4\n")
    result = harness("provision", "-i", str(local_inventory))
    assert result.returncode != 0
    assert (f"{local_inventory / 'hosts.yml'}: host exec-0: vdlt_node_platform: expected a machine and a CPython "
            "version as the probe prints them, like 'aarch64 cpython-3.11', got 'raspberry pi 4'"
            ) in result.stderr.replace("\n", "")
    assert not (local_inventory / "nodes").exists()


def test_a_workload_argument_mistake_stops_the_run_before_anything_starts(local_inventory: Path,
                                                                          tmp_path: Path) -> None:
    path = bench(tmp_path, "kv.py\n", "kv.py\n        arguments:\n          operation: puut\n")
    result = harness("run", str(path), "-i", str(local_inventory), "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert (f"{path}:15: test.rounds[0].workload.arguments.operation: must be one of put, get, transfer, hash, "
            "got 'puut' (did you mean 'put'?)") in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr
    assert processes_mentioning(str(local_inventory)) == []
    assert not (tmp_path / "results").exists()


def test_a_workload_that_raises_while_running_is_one_line_and_a_traceback_in_the_folder(
        tmp_path: Path, sink_factory) -> None:
    module = tmp_path / "broken.py"
    module.write_text(
        "from harness.connectors.base import Request\n"
        "from harness.loadgen.workload import WorkloadModule\n"
        "class Broken(WorkloadModule):\n"
        "    def submit_transaction(self):\n"
        "        self.n = getattr(self, 'n', 0) + 1\n"
        "        if self.n > 50:\n"
        "            raise KeyError('account-7')\n"
        "        return Request('kv', 'put', {'key': 'k', 'value': self.n})\n"
        "def create_workload_module():\n"
        "    return Broken()\n")
    path = tmp_path / "bench.yaml"
    path.write_text(GOOD.format(module=module).replace("txNumber: 10", "txDuration: 20").replace("tps: 10", "tps: 100"))
    for debug in ([], ["--debug"]):
        results = tmp_path / f"results{len(debug)}"
        result = harness("run", str(path), "--endpoint", sink_factory(), "--results-dir", str(results), *debug,
                         timeout=60)
        assert result.returncode == 1, result.stdout + result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert errors == [f"error: workload module broken.py failed in round 'r0' (submit_transaction, worker 0): "
                          f"KeyError: 'account-7' (traceback in {next(results.iterdir()) / 'errors.log'})"], result.stderr
        assert ("Traceback" in result.stderr) == bool(debug)
        (run_dir,) = results.iterdir()
        assert 'raise KeyError(\'account-7\')' in (run_dir / "errors.log").read_text()
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "failed" and summary["rounds"][0]["partial"] is True
        assert summary["rounds"][0]["total"]["succeeded"] == 50


def test_an_objective_for_a_class_the_round_does_not_send(local_inventory: Path, tmp_path: Path) -> None:
    path = bench(tmp_path, "      cos:\n        best-effort: 1\n",
                 "      slo:\n        fast-confirmation: {success_ratio: 0.9}\n")
    result = harness("run", str(path), "-i", str(local_inventory), "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 2
    assert (f"{path}:15: test.rounds[0].slo.fast-confirmation: class fast-confirmation is not in this round's cos "
            "mix (best-effort)") in result.stderr.replace("\n", "")


def test_a_missing_ssh_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    inventory = tmp_path / "inv"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(
        "all:\n  vars:\n    ansible_user: vdlt\n    ansible_ssh_private_key_file: \"{{ inventory_dir }}/id_lab\"\n"
        "  children:\n    control:\n      hosts:\n        c0: {ansible_host: 192.0.2.1, agent_port: 50051}\n"
        "    execution:\n      hosts:\n        e0: {ansible_host: 192.0.2.2, agent_port: 50051}\n")
    result = harness("up", "-i", str(inventory))
    assert result.returncode == 2, result.stdout + result.stderr
    assert (f"{inventory / 'hosts.yml'}:8: all.children.control.hosts.c0.ansible_ssh_private_key_file: host 'c0': "
            f"no such private key file: {inventory / 'id_lab'}") in result.stderr.replace("\n", "")
    assert "up.yml" not in result.stdout  # Ansible never started
