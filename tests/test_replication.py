"""Replicated execution on the local inventory: trust, agreement, catching up, dropping."""
from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import grpc
import yaml

from protocol import ledger_pb2, ledger_pb2_grpc, node_agent_pb2, node_agent_pb2_grpc
from tests.conftest import agent, execution_views, free_port, harness, node_config, wait_for_selection
from vdlt.ledger import canonical_json, replay_state, verify_chain

FAST = 0b111_00000
BEST_EFFORT = 0b001_00000


def endpoints(inventory: Path) -> dict[str, str]:
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())["all"]["children"]
    return {name: f"127.0.0.1:{v['agent_port']}" for group in ("control", "execution")
            for name, v in hosts[group]["hosts"].items()}


def use_policy(inventory: Path, tmp_path: Path, policy: dict) -> None:
    """The control node runs with this policy (laid over the shipped default)."""
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    (inventory / "group_vars").mkdir()
    (inventory / "group_vars" / "control.yml").write_text(yaml.safe_dump({"vdlt_policy_file": str(path)}))


def up_and_selecting(inventory: Path) -> dict[str, str]:
    """Brings the testbed up; its nodes' endpoints. `up` returns once the control node can choose
    every execution node: a test's first transaction has all three to go to."""
    up = harness("up", "-i", str(inventory))
    assert up.returncode == 0
    assert "selects" in up.stdout and "3/3" in up.stdout, up.stdout
    nodes = endpoints(inventory)
    assert [(v.node_id, v.selectable) for v in execution_views(nodes["control-0"])] == [
        ("exec-0", True), ("exec-1", True), ("exec-2", True)]
    return nodes


def make_faulty(inventory: Path, node: str, **fault: float) -> None:
    (inventory / "host_vars").mkdir(exist_ok=True)
    (inventory / "host_vars" / f"{node}.yml").write_text(yaml.safe_dump({"vdlt_fault": fault}))


def put(stub: ledger_pb2_grpc.ControlStub, i: int, cos: int = FAST) -> ledger_pb2.Receipt:
    return stub.Submit(ledger_pb2.Transaction(id=f"tx-{i}", cos=cos, source="operator", contract="kv",
                                              operation="put", arguments_json=json.dumps({"key": f"k{i}", "value": i})),
                       timeout=20)


def confirm_all(stub: ledger_pb2_grpc.ControlStub, indices: range) -> None:
    for i in indices:
        receipt = put(stub, i, cos=BEST_EFFORT)
        assert receipt.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED, receipt.reason


def kill_agent(node_dir: Path) -> None:
    os.kill(int((node_dir / "agent.pid").read_text()), signal.SIGKILL)


def settled_states(inventory: Path, names: tuple[str, ...], keys: int) -> dict[str, dict]:
    """The nodes' replayed states once all are equal and hold ``keys`` keys, or after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        states = {n: replay_state(inventory / "nodes" / n / "ledger") for n in names}
        first = states[names[0]]
        if (all(state == first for state in states.values()) and len(first) >= keys) or time.monotonic() > deadline:
            return states
        time.sleep(0.2)


def state_of(endpoint: str) -> node_agent_pb2.NodeState:
    with grpc.insecure_channel(endpoint) as channel:
        return node_agent_pb2_grpc.NodeAgentStub(channel).GetState(node_agent_pb2.GetStateRequest(), timeout=5)


def trust_of(endpoint: str) -> ledger_pb2.TrustReport:
    return state_of(endpoint).trust


def evidence(trust: ledger_pb2.TrustReport) -> int:
    return trust.agreements + trust.dissents + trust.timeouts


def test_faulty_node_loses_trust_and_stops_being_chosen(local_inventory: Path, tmp_path: Path) -> None:
    # Three replicas, so the faulty node takes part until its trust says otherwise.
    use_policy(local_inventory, tmp_path, {"classes": {"fast-confirmation": {
        "weight": 40, "replicas": 3, "quorum": "majority", "min_trust": 0.5}}})
    make_faulty(local_inventory, "exec-1", wrong_result_rate=0.5)
    nodes = up_and_selecting(local_inventory)
    receipts = []
    with grpc.insecure_channel(nodes["control-0"]) as channel:
        stub = ledger_pb2_grpc.ControlStub(channel)
        for i in range(100):
            receipts.append(put(stub, i))
        time.sleep(0.3)
        faulty, honest = trust_of(nodes["exec-1"]), trust_of(nodes["exec-0"])
        for i in range(100, 150):
            receipts.append(put(stub, i))
        time.sleep(0.3)
        later = trust_of(nodes["exec-1"])
    assert all(r.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED for r in receipts), {r.reason for r in receipts}
    # Every confirmed result is the correct one, whatever the faulty node answered.
    for i, receipt in enumerate(receipts):
        assert receipt.result_json == canonical_json({"key": f"k{i}", "value": i})
        assert len(receipt.execution_nodes) >= 2
    # It lost trust, within a bounded number of transactions it took part in ...
    assert faulty.dissents >= 1 and faulty.score < 0.5 < honest.score
    assert evidence(faulty) <= 30, f"exec-1 was asked {evidence(faulty)} times before being left out"
    # ... and is no longer chosen: no new evidence, never among the agreeing nodes.
    assert evidence(later) == evidence(faulty)
    assert all("exec-1" not in r.execution_nodes for r in receipts[100:])
    assert honest.agreements >= 90 and honest.score > 0.9
    # Its own agent reports what the control plane thinks of it; the code is the same.
    assert state_of(nodes["exec-1"]).code_digest == state_of(nodes["exec-0"]).code_digest


def test_killed_execution_node_resumes_its_chain_and_catches_up(local_inventory: Path, tmp_path: Path) -> None:
    nodes = up_and_selecting(local_inventory)
    node_dir = local_inventory / "nodes" / "exec-0"
    with grpc.insecure_channel(nodes["control-0"]) as channel:
        stub = ledger_pb2_grpc.ControlStub(channel)
        confirm_all(stub, range(30))
        height_before = verify_chain(node_dir / "ledger").blocks
        kill_agent(node_dir)
        # Best effort goes on with the other two nodes while exec-0 is down.
        for i in range(30, 60):
            receipt = put(stub, i, cos=BEST_EFFORT)
            assert receipt.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED, receipt.reason
            assert "exec-0" not in receipt.execution_nodes or i < 33
        # The control node says so, and `status` passes it on.
        status = harness("status", "-i", str(local_inventory))
        assert status.returncode == 3  # exec-0 does not serve
        assert "control-0 cannot choose execution node exec-0: stale or unreachable" in " ".join(status.stderr.split())
        assert harness("up", "-i", str(local_inventory)).returncode == 0  # the real path restarts it
        confirm_all(stub, range(60, 70))
    states = settled_states(local_inventory, ("exec-0", "exec-1", "exec-2"), 70)
    assert states["exec-0"] == states["exec-1"] == states["exec-2"], "exec-0 did not catch up"
    assert states["exec-0"]["kv/k/k45"] == 45  # written while exec-0 was down
    report = verify_chain(node_dir / "ledger")
    assert report.ok and report.blocks > height_before

    # Tampering with a copy of the chain is found, and the block is named.
    copy = tmp_path / "tampered"
    copy.mkdir()
    lines = (node_dir / "ledger" / "blocks.jsonl").read_text().splitlines()
    block = json.loads(lines[2])
    block["transactions"][0]["writes"] = {"kv/k0": "forged"}
    lines[2] = json.dumps(block)
    (copy / "blocks.jsonl").write_text("\n".join(lines) + "\n")
    verdict = harness("ledger", "verify", str(copy))
    assert verdict.returncode == 1
    assert "block 3 is bad" in verdict.stdout and "transaction root" in verdict.stdout
    assert harness("ledger", "verify", str(node_dir)).returncode == 0


def test_a_node_away_past_what_is_kept_in_memory_gets_the_rest_from_the_control_nodes_log(
        local_inventory: Path, tmp_path: Path) -> None:
    # The control node keeps 10 commits in memory; exec-0 misses 60, and gets them from its log.
    use_policy(local_inventory, tmp_path, {"commit_backlog_limit": 10})
    nodes = up_and_selecting(local_inventory)
    node_dir = local_inventory / "nodes" / "exec-0"
    control_log = local_inventory / "nodes" / "control-0" / "agent.log"
    with grpc.insecure_channel(nodes["control-0"]) as channel:
        stub = ledger_pb2_grpc.ControlStub(channel)
        confirm_all(stub, range(20))
        kill_agent(node_dir)
        confirm_all(stub, range(20, 80))
        assert harness("up", "-i", str(local_inventory)).returncode == 0
        confirm_all(stub, range(80, 90))
    states = settled_states(local_inventory, ("exec-0", "exec-1", "exec-2"), 90)
    assert states["exec-0"] == states["exec-1"] == states["exec-2"], "exec-0 did not catch up"
    assert verify_chain(node_dir / "ledger").ok
    text = control_log.read_text()
    behind = re.search(r"execution node exec-0 is (\d+) commits behind the log", text)
    assert behind and int(behind.group(1)) >= 60
    assert "execution node exec-0 caught up through commit" in text


def test_a_restarted_node_gets_the_first_commit_after_it_returns(local_inventory: Path) -> None:
    # Nothing is committed while exec-0 is down: the broken stream's request iterator is still
    # waiting for work when the next commit comes, and must not take it.
    nodes = up_and_selecting(local_inventory)
    node_dir = local_inventory / "nodes" / "exec-0"
    with grpc.insecure_channel(nodes["control-0"]) as channel:
        stub = ledger_pb2_grpc.ControlStub(channel)
        confirm_all(stub, range(5))
        kill_agent(node_dir)
        time.sleep(1)
        assert harness("up", "-i", str(local_inventory)).returncode == 0
        confirm_all(stub, range(5, 6))
    states = settled_states(local_inventory, ("exec-0", "exec-1"), 6)
    assert states["exec-0"] == states["exec-1"]


def test_a_node_whose_chain_lost_its_tail_gets_it_back(local_inventory: Path) -> None:
    # As after a crash with vdlt_fsync: never, or a disk restored from an older copy.
    nodes = up_and_selecting(local_inventory)
    node_dir = local_inventory / "nodes" / "exec-0"
    with grpc.insecure_channel(nodes["control-0"]) as channel:
        stub = ledger_pb2_grpc.ControlStub(channel)
        confirm_all(stub, range(40))
        kill_agent(node_dir)
        chain = node_dir / "ledger" / "blocks.jsonl"
        blocks = chain.read_text().splitlines(keepends=True)
        assert len(blocks) > 10
        chain.write_text("".join(blocks[:-10]))
        assert harness("up", "-i", str(local_inventory)).returncode == 0
        confirm_all(stub, range(40, 50))
    states = settled_states(local_inventory, ("exec-0", "exec-1"), 50)
    assert states["exec-0"] == states["exec-1"], "exec-0 did not get back what its chain lost"
    assert verify_chain(node_dir / "ledger").ok
    assert re.search(r"execution node exec-0's chain ends at commit \d+, before commit \d+ it held",
                     (local_inventory / "nodes" / "control-0" / "agent.log").read_text())


def test_full_queue_drops_with_reason(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"max_in_flight": 1, "classes": {"scavenger": {"limit": 5, "weight": 1}}}))
    exec_port, control_port = free_port(), free_port()
    execution = node_config(tmp_path, "exec-0", "execution", exec_port, fault={"delay_ms": 20})
    control = node_config(tmp_path, "control-0", "control", control_port, policy_file=str(policy),
                          execution_nodes=[{"node_id": "exec-0", "address": f"127.0.0.1:{exec_port}"}])
    agent("start", execution)
    agent("start", control)
    try:
        wait_for_selection(f"127.0.0.1:{control_port}")
        with grpc.insecure_channel(f"127.0.0.1:{control_port}") as channel:
            stub = ledger_pb2_grpc.ControlStub(channel)
            txs = [ledger_pb2.Transaction(id=f"s{i}", cos=0, source="x", contract="kv", operation="get",
                                          arguments_json='{"key": "a"}') for i in range(60)]
            receipts = list(stub.SubmitStream(iter(txs), timeout=60))
            # Nothing was applied for a dropped transaction: its retry is served, not dropped again.
            first_dropped = next(i for i, r in enumerate(receipts) if r.status == ledger_pb2.RECEIPT_STATUS_DROPPED)
            retry = stub.Submit(txs[first_dropped], timeout=30)
    finally:
        agent("stop", control)
        agent("stop", execution)
    statuses = [r.status for r in receipts]
    assert len(receipts) == 60
    assert statuses.count(ledger_pb2.RECEIPT_STATUS_DROPPED) >= 40
    assert statuses.count(ledger_pb2.RECEIPT_STATUS_CONFIRMED) >= 5
    dropped = next(r for r in receipts if r.status == ledger_pb2.RECEIPT_STATUS_DROPPED)
    assert dropped.reason == "scavenger queue is full (5 waiting)"
    assert retry.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED, retry
