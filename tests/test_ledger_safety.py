"""vdlt keeps what it tells clients (ARCHITECTURE.md, I1-I6), against real nodes on loopback.

Each test reproduces one way the ledger once broke its promise: a receipt said CONFIRMED for a
commit on no chain, a restart lost commits owed to a node, forged writes got onto the chains,
a retry was applied twice. What the clients were told is checked against what the chains hold
with the harness's own audit (:mod:`harness.audit.check`), beside ``ledger verify`` and
``ledger compare``.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Iterable

import grpc
import pytest
import yaml

from harness.audit.check import ChainCommit, NodeChain, ReceiptBook, audit
from harness.connectors.vdlt import _STATUS
from protocol import ledger_pb2, ledger_pb2_grpc
from tests.conftest import LedgerBed, harness, wait_for_selection
from tests.test_replication import evidence, state_of, trust_of
from vdlt import control as control_module
from vdlt.control import ControlService, read_conflict
from vdlt.cos import ServiceClass
from vdlt.ledger import chain_commits, compare_chains, replay_state, verify_chain
from vdlt.peers import ExecutionPeer
from vdlt.policy import load_policy

TOKEN = "5afe7e57"
BEST_EFFORT = 0b001_00000
FAST = 0b111_00000


def tx_id(i: int, worker: int = 0) -> str:
    """An id in a run's shape (token.round.worker.index), so the audit takes it as the run's."""
    return f"{TOKEN}.0.{worker}.{i}"


def put(i: int, cos: int = BEST_EFFORT, size: int = 0, worker: int = 0) -> ledger_pb2.Transaction:
    value: object = "v" * size if size else i
    return ledger_pb2.Transaction(id=tx_id(i, worker), cos=cos, source="test", contract="kv", operation="put",
                                  arguments_json=json.dumps({"key": f"k{i}", "value": value}))


def submit_all(endpoint: str, transactions: list[ledger_pb2.Transaction], batch: int = 50,
               timeout: float = 120, timeout_ms: int = 0) -> list[ledger_pb2.Receipt]:
    """Submits on one SubmitBatches stream, as the load generator does (``timeout_ms``: how long
    the sender says it waits for each receipt); every receipt."""
    with grpc.insecure_channel(endpoint) as channel:
        stub = ledger_pb2_grpc.ControlStub(channel)
        batches = (ledger_pb2.TransactionBatch(transactions=transactions[i:i + batch], timeout_ms=timeout_ms)
                   for i in range(0, len(transactions), batch))
        return [r for reply in stub.SubmitBatches(batches, timeout=timeout) for r in reply.receipts]


def submit(endpoint: str, tx: ledger_pb2.Transaction, timeout: float = 20) -> ledger_pb2.Receipt:
    with grpc.insecure_channel(endpoint) as channel:
        return ledger_pb2_grpc.ControlStub(channel).Submit(tx, timeout=timeout)


def chains_of(bed: LedgerBed, nodes: Iterable[str]) -> list[NodeChain]:
    return [NodeChain(node, 0, [ChainCommit(t.sequence, t.id, t.accepted, t.result_digest)
                                for t in chain_commits(bed.chain(node))]) for node in nodes]


def assert_promises_kept(receipts: list[ledger_pb2.Receipt], bed: LedgerBed, nodes: list[str], quorum: int = 1,
                         classes: dict[str, str] | None = None) -> None:
    """Every confirmed receipt on ``quorum`` chains, nothing twice, nothing failed on a chain,
    every chain intact and all of them one history."""
    book = ReceiptBook(TOKEN, [])
    for receipt in receipts:
        book.add(receipt.transaction_id, _STATUS.get(receipt.status, ""), "c", "c")
    report = audit(book, chains_of(bed, nodes), lambda _: quorum)
    assert report.ok, report.violations()
    assert report.classes["c"].confirmed == sum(r.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED for r in receipts)
    for node in nodes:
        verdict = verify_chain(bed.chain(node))
        assert verdict.ok, (node, verdict.problem)
    comparison = compare_chains([bed.chain(node) for node in nodes])
    assert comparison.ok, comparison.divergence


def settled(bed: LedgerBed, nodes: list[str], commits: int, timeout_s: float = 20) -> None:
    """Until every chain holds ``commits`` commits (the last ones travel after their receipts)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lengths = {n: verify_chain(bed.chain(n)).last_sequence for n in nodes}
        if all(length >= commits for length in lengths.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"chains did not reach commit {commits} in {timeout_s} s: {lengths}")
        time.sleep(0.2)


def three_execution_nodes(bed: LedgerBed, faults: dict[str, dict] | None = None) -> list[str]:
    faults = faults or {}
    return [bed.add_execution(name, **({"fault": faults[name]} if name in faults else {}))
            for name in ("exec-0", "exec-1", "exec-2")]


# -- defect 1: several control nodes, several histories ----------------------------------------


def test_an_inventory_with_two_control_nodes_is_refused_before_anything_starts(local_inventory: Path) -> None:
    hosts = yaml.safe_load((local_inventory / "hosts.yml").read_text())
    hosts["all"]["children"]["control"]["hosts"]["control-1"] = {"agent_port": 1}
    (local_inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    for command in (("up",), ("run", "workloads/benchmarks/quickstart.yaml")):
        result = harness(*command, "-i", str(local_inventory))
        assert result.returncode == 2, result.stderr
        assert "2 hosts in group 'control' (control-0, control-1)" in " ".join(result.stderr.split())
    assert not (local_inventory / "nodes").exists(), "something was started"


def test_a_control_node_fails_stop_when_another_commits_to_its_execution_nodes(ledger_bed: LedgerBed) -> None:
    """Started by hand beside another (the harness refuses such an inventory), a control node
    takes the chains it finds into its log, and one that finds a chain gone further than its log
    commits nothing more: it does not number a second history over the first."""
    nodes = three_execution_nodes(ledger_bed)
    ledger_bed.add_control("control-0")
    ledger_bed.start(*nodes, "control-0")
    wait_for_selection(ledger_bed.endpoints["control-0"])
    receipts = submit_all(ledger_bed.endpoints["control-0"], [put(i) for i in range(50)])
    settled(ledger_bed, nodes, 50)
    ledger_bed.add_control("control-1")
    ledger_bed.start("control-1")
    wait_for_selection(ledger_bed.endpoints["control-1"])
    assert "taking commits 1..50 into the log" in ledger_bed.log("control-1")
    receipts += submit_all(ledger_bed.endpoints["control-1"], [put(i, worker=1) for i in range(100)])
    assert all(r.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED for r in receipts), {r.reason for r in receipts}
    settled(ledger_bed, nodes, 150)
    # control-0's log ends at 50; the chains go to 150: it refuses to number commit 51 again.
    late = submit_all(ledger_bed.endpoints["control-0"], [put(i, worker=2) for i in range(20)])
    assert all(r.status == ledger_pb2.RECEIPT_STATUS_ERROR for r in late), [r.reason for r in late]
    assert any("beyond this control node's log (50): another control node commits to it" in r.reason for r in late)
    assert_promises_kept(receipts + late, ledger_bed, nodes)


# -- defect 2: a restart of the control node loses what a lagging node is owed ------------------


def test_a_restarted_control_node_still_sends_a_lagging_node_what_it_missed(local_inventory: Path) -> None:
    assert harness("up", "-i", str(local_inventory)).returncode == 0
    control = state_endpoint(local_inventory, "control-0")
    assert harness("down", "-i", str(local_inventory), "--limit", "exec-1").returncode == 0
    receipts = submit_all(control, [put(i) for i in range(300)])
    assert all(r.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED for r in receipts), {r.reason for r in receipts}
    assert harness("down", "-i", str(local_inventory), "--limit", "control-0").returncode == 0
    assert harness("up", "-i", str(local_inventory), "--limit", "control-0").returncode == 0
    assert harness("up", "-i", str(local_inventory), "--limit", "exec-1").returncode == 0
    receipts += submit_all(control, [put(i) for i in range(300, 320)])
    nodes = ["exec-0", "exec-1", "exec-2"]
    bed = LedgerBed(local_inventory / "nodes")
    settled(bed, nodes, 320)
    assert_promises_kept(receipts, bed, nodes)
    states = [replay_state(bed.chain(n)) for n in nodes]
    assert states[0] == states[1] == states[2] and states[1]["kv/k/k150"] == 150


def state_endpoint(inventory: Path, name: str) -> str:
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())["all"]["children"]
    return next(f"127.0.0.1:{group['hosts'][name]['agent_port']}" for group in hosts.values()
                if name in (group.get("hosts") or {}))


def test_a_control_node_that_lost_its_log_takes_the_chains_into_it_and_numbers_on(ledger_bed: LedgerBed) -> None:
    nodes = [ledger_bed.add_execution("exec-0"), ledger_bed.add_execution("exec-1")]
    ledger_bed.add_control("control-0")
    ledger_bed.start()
    control = ledger_bed.endpoints["control-0"]
    wait_for_selection(control)
    receipts = submit_all(control, [put(i) for i in range(40)])
    ledger_bed.stop("control-0")
    (ledger_bed.directory / "control-0" / "commits.log").unlink()
    ledger_bed.start("control-0")
    wait_for_selection(control)
    receipts += submit_all(control, [put(i) for i in range(40, 80)])
    assert all(r.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED for r in receipts), {r.reason for r in receipts}
    assert "taking commits 1..40 into the log" in ledger_bed.log("control-0")
    settled(ledger_bed, nodes, 80)
    assert_promises_kept(receipts, ledger_bed, nodes)


# -- defects 3, 4, 5: what is committed is what was agreed; trust follows honesty ---------------


def test_forged_writes_behind_an_honest_digest_never_reach_the_chains(ledger_bed: LedgerBed) -> None:
    nodes = three_execution_nodes(ledger_bed, {"exec-1": {"forged_writes_rate": 1.0}})
    # exec-1 is asked every time: three replicas, any two of which must agree.
    ledger_bed.add_control("control-0", policy={"classes": {"fast-confirmation": {"replicas": 3, "min_trust": 0}}})
    ledger_bed.start()
    control = ledger_bed.endpoints["control-0"]
    wait_for_selection(control)
    receipts = submit_all(control, [put(i, cos=FAST) for i in range(60)])
    assert all(r.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED for r in receipts), {r.reason for r in receipts}
    assert all("exec-1" not in r.execution_nodes for r in receipts)
    settled(ledger_bed, nodes, 60)
    time.sleep(1)  # the last trust report reaches exec-1 with the last commits
    assert_promises_kept(receipts, ledger_bed, nodes, quorum=2)
    for node in nodes:
        assert "forged" not in ledger_bed.chain(node).read_text()
    assert replay_state(ledger_bed.chain("exec-1"))["kv/k/k7"] == 7
    forger = trust_of(ledger_bed.endpoints["exec-1"])
    assert forger.agreements == 0 and forger.dissents >= 50 and forger.score < 0.1


def test_a_class_that_needs_two_replicas_is_not_confirmed_by_one(ledger_pair: dict) -> None:
    receipt = submit(ledger_pair["control"], put(1, cos=FAST))
    assert receipt.status == ledger_pb2.RECEIPT_STATUS_DROPPED
    assert "fast-confirmation needs 2 agreeing replicas and only 1 execution node(s) can be chosen" in receipt.reason
    assert verify_chain(ledger_pair["exec_dir"] / "ledger").last_sequence <= 1  # the fixture's probe at most


def test_a_lone_replica_earns_no_trust_by_agreeing_with_itself(ledger_bed: LedgerBed) -> None:
    ledger_bed.add_execution("exec-0", fault={"wrong_result_rate": 1.0})
    ledger_bed.add_control("control-0")
    ledger_bed.start()
    wait_for_selection(ledger_bed.endpoints["control-0"])
    submit_all(ledger_bed.endpoints["control-0"], [put(i) for i in range(40)])
    time.sleep(1)  # the trust report reaches the node with its next batch
    trust = trust_of(ledger_bed.endpoints["exec-0"])
    assert trust.agreements == 0 and trust.dissents == 0
    assert trust.score == pytest.approx(0.5)


def test_a_fast_wrong_replica_is_charged_when_the_quorum_is_one(ledger_bed: LedgerBed) -> None:
    """The first answer confirms (quorum 1), but trust is judged on all three answers."""
    nodes = three_execution_nodes(ledger_bed, {"exec-0": {"wrong_result_rate": 1.0},
                                               "exec-1": {"delay_ms": 20}, "exec-2": {"delay_ms": 20}})
    ledger_bed.add_control("control-0", policy={"classes": {"best-effort": {"replicas": 3, "quorum": 1}}})
    ledger_bed.start()
    wait_for_selection(ledger_bed.endpoints["control-0"])
    for i in range(30):
        submit(ledger_bed.endpoints["control-0"], put(i))
    time.sleep(1)
    wrong = trust_of(ledger_bed.endpoints["exec-0"])
    honest = [trust_of(ledger_bed.endpoints[n]) for n in nodes[1:]]
    assert wrong.agreements == 0 and wrong.dissents >= 25 and wrong.score < 0.2
    assert all(t.dissents == 0 and t.agreements >= 25 and t.score > 0.8 for t in honest)
    assert all(evidence(t) <= 30 for t in honest)
    assert state_of(ledger_bed.endpoints["exec-0"]).last_sequence == 30


# -- defect 6: one id, one application; an uncertain outcome is reported as such ----------------


def test_a_retried_transaction_id_gets_its_first_outcome_and_is_applied_once(ledger_pair: dict) -> None:
    mint = ledger_pb2.Transaction(id=tx_id(1), cos=BEST_EFFORT, contract="kv", operation="mint",
                                  arguments_json='{"account": "a", "amount": 5}')
    first = submit(ledger_pair["control"], mint)
    again = submit(ledger_pair["control"], mint)
    # The same id twice in one stream, as a client that resends on a broken stream does.
    both = submit_all(ledger_pair["control"], [mint, mint])
    assert first.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED
    assert all(r.SerializeToString() == first.SerializeToString() for r in (again, *both))
    chain = ledger_pair["exec_dir"] / "ledger" / "blocks.jsonl"
    assert [t.id for t in chain_commits(chain)].count(tx_id(1)) == 1
    assert replay_state(chain)["kv/b/a"] == 5


def test_a_commit_not_in_the_chains_in_time_is_reported_unknown_and_later_confirmed(ledger_bed: LedgerBed) -> None:
    ledger_bed.add_execution("exec-0", fault={"commit_delay_ms": 1500})
    ledger_bed.add_control("control-0", execution_timeout_s=0.5)
    ledger_bed.start()
    control = ledger_bed.endpoints["control-0"]
    wait_for_selection(control)
    receipt = submit(control, put(1))
    assert receipt.status == ledger_pb2.RECEIPT_STATUS_UNKNOWN, receipt
    assert "is in the control node's log, but not in the chains of 1 execution node(s) within 0.5 s" in receipt.reason
    time.sleep(2.5)
    assert tx_id(1) in [t.id for t in chain_commits(ledger_bed.chain("exec-0"))]
    retried = submit(control, put(1))
    assert retried.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED and retried.block_height >= 1


def test_a_transaction_whose_sender_gave_up_is_dropped_unexecuted_and_a_retry_runs_it(ledger_bed: LedgerBed) -> None:
    # One at a time, 100 ms each: of 20 sent at once by a sender that waits 450 ms, the first few
    # are executed and the rest are still queued when their sender stops waiting.
    ledger_bed.add_execution("exec-0", fault={"delay_ms": 100})
    ledger_bed.add_control("control-0", policy={"max_in_flight": 1})
    ledger_bed.start()
    control = ledger_bed.endpoints["control-0"]
    wait_for_selection(control)
    started = time.monotonic()
    receipts = submit_all(control, [put(i) for i in range(20)], batch=20, timeout_ms=450)
    elapsed = time.monotonic() - started
    confirmed = [r for r in receipts if r.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED]
    dropped = [r for r in receipts if r.status == ledger_pb2.RECEIPT_STATUS_DROPPED]
    assert len(confirmed) + len(dropped) == 20, {r.reason for r in receipts}
    assert 2 <= len(confirmed) <= 8 and dropped, [r.status for r in receipts]
    assert all(r.reason.startswith("its sender's timeout of 450 ms passed while it waited in the queue (")
               and r.reason.endswith("ms); not executed") for r in dropped), dropped[0].reason
    # The queue was let go of, not worked through: 20 executions would take 2 s.
    assert elapsed < 1.5, elapsed
    settled(ledger_bed, ["exec-0"], len(confirmed))
    assert_promises_kept(receipts, ledger_bed, ["exec-0"])
    # Nothing of a dropped one was applied: sent again by a patient sender, it is executed once.
    retried = submit_all(control, [put(int(dropped[0].transaction_id.rsplit(".", 1)[1]))])[0]
    assert retried.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED, retried.reason
    settled(ledger_bed, ["exec-0"], len(confirmed) + 1)
    assert [t.id for t in chain_commits(ledger_bed.chain("exec-0"))].count(retried.transaction_id) == 1
    assert_promises_kept([r for r in receipts if r.transaction_id != retried.transaction_id] + [retried],
                         ledger_bed, ["exec-0"])


# -- defect 7: a refusal decided on a stale read -----------------------------------------------


def test_a_refusal_read_at_a_version_committed_over_since_is_a_read_conflict() -> None:
    refusal = ledger_pb2.ExecutionResult(transaction_id="t", accepted=False, reason="balance of a is 0",
                                         reads=[ledger_pb2.Read(key="kv/b/a", version=3)])
    assert read_conflict(refusal, {"kv/b/a": 7}) == \
        "read conflict on kv/b/a: read version 3, committed since at 7"
    assert read_conflict(refusal, {"kv/b/a": 3}) == ""
    read_only = ledger_pb2.ExecutionResult(transaction_id="t", accepted=True, reads=refusal.reads)
    assert read_conflict(read_only, {"kv/b/a": 7}) == ""


# -- defect 8: ledger compare names the first divergence --------------------------------------


def test_ledger_compare_names_the_first_sequence_where_two_chains_differ(ledger_bed: LedgerBed,
                                                                          tmp_path: Path) -> None:
    nodes = [ledger_bed.add_execution("exec-0"), ledger_bed.add_execution("exec-1")]
    ledger_bed.add_control("control-0")
    ledger_bed.start()
    wait_for_selection(ledger_bed.endpoints["control-0"])
    submit_all(ledger_bed.endpoints["control-0"], [put(i) for i in range(20)])
    settled(ledger_bed, nodes, 20)
    agreed = harness("ledger", "compare", str(ledger_bed.directory / "exec-0"), str(ledger_bed.directory / "exec-1"))
    assert agreed.returncode == 0 and "agree at every sequence they all hold (through 20)" in agreed.stdout
    ledger_bed.stop()
    # exec-1's chain with one transaction's id changed: another history from there on.
    other = tmp_path / "other"
    other.mkdir()
    text = ledger_bed.chain("exec-1").read_text()
    (other / "blocks.jsonl").write_text(text.replace(tx_id(4), tx_id(4, worker=9)))
    differ = harness("ledger", "compare", str(ledger_bed.chain("exec-0")), str(other / "blocks.jsonl"))
    assert differ.returncode == 1
    at = next(t.sequence for t in chain_commits(ledger_bed.chain("exec-0")) if t.id == tx_id(4))
    assert (f"the chains differ at sequence {at}: exec-0 holds {tx_id(4)} at {at}; {other / 'blocks.jsonl'} holds "
            f"{tx_id(4, worker=9)} at {at}") in " ".join(differ.stdout.split())


# -- defect 11: a burst of large transactions ---------------------------------------------------


def test_a_burst_of_large_transactions_does_not_stall_the_control_node(ledger_bed: LedgerBed) -> None:
    nodes = three_execution_nodes(ledger_bed)
    ledger_bed.add_control("control-0")
    ledger_bed.start()
    control = ledger_bed.endpoints["control-0"]
    wait_for_selection(control)
    # 1,000 puts of 70 KB: far more than one 4 MB gRPC message between the nodes.
    burst = submit_all(control, [put(i, size=70_000) for i in range(1000)], batch=20, timeout=300)
    assert len(burst) == 1000
    confirmed = [r for r in burst if r.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED]
    assert len(confirmed) >= 900, {r.reason for r in burst if r.status != ledger_pb2.RECEIPT_STATUS_CONFIRMED}
    started = time.monotonic()
    after = submit_all(control, [put(i) for i in range(1000, 1050)])
    assert all(r.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED for r in after), {r.reason for r in after}
    assert time.monotonic() - started < 10, "normal load was not served again within seconds"
    too_large = submit(control, put(2000, size=300_000))
    assert too_large.status == ledger_pb2.RECEIPT_STATUS_ERROR
    assert too_large.reason.startswith("RESOURCE_EXHAUSTED: the transaction is ")
    settled(ledger_bed, nodes, len(confirmed) + 50, timeout_s=60)
    assert_promises_kept(burst + after + [too_large], ledger_bed, nodes)


def test_an_undecodable_request_is_an_invalid_argument(ledger_pair: dict) -> None:
    with grpc.insecure_channel(ledger_pair["control"]) as channel:
        raw = channel.unary_unary("/vdlt.ledger.v1.Control/Submit", request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as refused:
            raw(b"\xff\xff\xff\xff not a transaction", timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert refused.value.details() == "the request is not a valid vdlt.ledger.v1.Transaction"  # type: ignore[attr-defined]


def test_what_the_control_node_remembers_stays_bounded(ledger_bed: LedgerBed, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """However many distinct ids and keys clients send, the control node keeps a window of each:
    the ids of its last `dedup_window` commits, and the versions a selectable replica can still
    read stale (it used to keep every one, for as long as it ran)."""
    monkeypatch.setattr(control_module, "PRUNE_EVERY", 50)
    ledger_bed.add_execution("exec-0")
    ledger_bed.start("exec-0")
    policy = dataclasses.replace(load_policy(), dedup_window=100)

    async def drive() -> tuple[list[int], int, int]:
        control = ControlService([ExecutionPeer("exec-0", ledger_bed.endpoints["exec-0"])], policy,
                                 tmp_path / "control", sync_log=False)
        control.links["exec-0"].catch_up_lag = 10
        control.start()
        try:
            deadline = time.monotonic() + 10
            while not control.selector.choose(ServiceClass.BEST_EFFORT).nodes and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            statuses = []
            for first in range(0, 1000, 50):
                receipts = await asyncio.gather(*(control.handle(put(i)) for i in range(first, first + 50)))
                statuses += [r.status for r in receipts]
            return statuses, len(control.known), len(control.versions)
        finally:
            await control.close()

    statuses, ids, versions = asyncio.run(drive())
    assert statuses == [ledger_pb2.RECEIPT_STATUS_CONFIRMED] * 1000
    assert ids <= 100
    assert versions <= 2 * 10 + 50


def test_concurrent_read_modify_writes_lose_no_update(ledger_bed: LedgerBed) -> None:
    """Mints to one account, many in flight at once: the balance on the chains is the sum of the
    confirmed mints. A result decided on a balance that a commit not yet on disk has changed is a
    read conflict, never a lost update."""
    nodes = three_execution_nodes(ledger_bed)
    ledger_bed.add_control("control-0")
    ledger_bed.start()
    wait_for_selection(ledger_bed.endpoints["control-0"])
    mints = [ledger_pb2.Transaction(id=tx_id(i), cos=BEST_EFFORT, source="test", contract="kv", operation="mint",
                                    arguments_json=json.dumps({"account": "a", "amount": 1})) for i in range(400)]
    receipts = submit_all(ledger_bed.endpoints["control-0"], mints, batch=100)
    confirmed = sum(r.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED for r in receipts)
    assert confirmed > 0
    settled(ledger_bed, nodes, max(r.sequence for r in receipts))  # the last commits travel after their receipts
    assert {replay_state(ledger_bed.chain(n)).get("kv/b/a") for n in nodes} == {confirmed}


def test_every_node_is_asked_to_agree_until_its_behaviour_is_known(ledger_bed: LedgerBed) -> None:
    """Trust is earned only by agreeing with others, so fast confirmation, which goes to the most
    trusted, must ask a node without evidence too: otherwise the first two nodes to agree keep
    every fast transaction and the third never earns any trust."""
    nodes = three_execution_nodes(ledger_bed)
    ledger_bed.add_control("control-0")
    ledger_bed.start()
    wait_for_selection(ledger_bed.endpoints["control-0"])
    for i in range(30):  # one at a time: load never decides
        assert submit(ledger_bed.endpoints["control-0"], put(i, cos=FAST)).status == ledger_pb2.RECEIPT_STATUS_CONFIRMED
    deadline = time.monotonic() + 5
    while any(trust_of(ledger_bed.endpoints[n]).agreements == 0 for n in nodes) and time.monotonic() < deadline:
        time.sleep(0.2)  # trust reaches an idle node's agent a moment later
    assert {n: trust_of(ledger_bed.endpoints[n]).agreements > 0 for n in nodes} == {n: True for n in nodes}
