"""The block log: chained on disk, resumed after a restart, tampering found and named."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc

from protocol import ledger_pb2, ledger_pb2_grpc
from tests.conftest import agent, free_port, node_config
from vdlt.ledger import BlockLog, BlockTransaction, verify_chain


def tx(i: int, writes: dict) -> BlockTransaction:
    return BlockTransaction(id=f"t{i}", sequence=i + 1, cos=0x20, contract="kv", operation="put",
                            arguments_json="{}", accepted=True, result_digest="d", writes=writes)


def test_restart_resumes_chain_and_state(tmp_path: Path) -> None:
    log = BlockLog(tmp_path)
    for i in range(5):
        log.append([tx(i, {f"k/{i}": i})])
    head = log.head_hash
    log.close()
    reopened = BlockLog(tmp_path)
    assert reopened.height == 5 and reopened.head_hash == head
    assert reopened.values["k/3"] == 3 and reopened.versions["k/3"] == 4
    block = reopened.append([tx(5, {"k/5": 5})])
    assert block.height == 6 and block.previous_hash == head
    assert verify_chain(tmp_path).ok


def test_commits_are_read_back_by_sequence_before_and_after_a_restart(tmp_path: Path) -> None:
    # What a node that missed commits is sent: blocks of 1 to 4 transactions, sequences 1..60.
    log = BlockLog(tmp_path)
    sequence = 0
    for size in [1, 2, 3, 4] * 6:
        log.append([tx(sequence + k, {f"k/{sequence + k}": sequence + k}) for k in range(size)])
        sequence += size

    def read(chain: BlockLog, after: int, through: int) -> list[int]:
        return [t.sequence for t in chain.committed_between(after, through)]

    for after, through in [(0, 60), (0, 1), (1, 2), (5, 17), (29, 30), (59, 60), (60, 60), (7, 7)]:
        assert read(log, after, through) == list(range(after + 1, through + 1)), (after, through)
    log.close()
    with open(tmp_path / "blocks.jsonl", "a") as handle:
        handle.write('{"height": 25, "prev')  # a torn write, dropped on resume
    reopened = BlockLog(tmp_path)
    assert read(reopened, 33, 41) == list(range(34, 42))
    reopened.append([tx(60, {"k/60": 60}), tx(61, {"k/61": 61})])
    assert read(reopened, 58, 62) == [59, 60, 61, 62]


def test_a_chain_of_another_format_stops_the_agent_with_the_file_and_line(tmp_path: Path) -> None:
    """A ledger from an older version (its transactions lack a field) is named, not a traceback."""
    config = node_config(tmp_path, "exec-old", "execution", free_port())
    log = BlockLog(tmp_path / "exec-old" / "ledger")
    log.append([tx(0, {"a": 1})])
    log.close()
    path = tmp_path / "exec-old" / "ledger" / "blocks.jsonl"
    block = json.loads(path.read_text())
    del block["transactions"][0]["sequence"]
    path.write_text(json.dumps(block) + "\n")
    result = subprocess.run([sys.executable, "-m", "node_agent", "start", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert f"node exec-old cannot resume its ledger: {path}: line 1: not a block this version can read" in result.stderr
    assert "move it away to start anew" in result.stderr and "Traceback" not in result.stderr


def test_torn_last_line_is_dropped_on_restart(tmp_path: Path) -> None:
    log = BlockLog(tmp_path)
    log.append([tx(0, {"a": 1})])
    log.close()
    with open(tmp_path / "blocks.jsonl", "a") as handle:
        handle.write('{"height": 2, "previous')  # a crash in the middle of a write
    assert BlockLog(tmp_path).height == 1


def test_verify_names_the_first_tampered_block(tmp_path: Path) -> None:
    log = BlockLog(tmp_path)
    for i in range(6):
        log.append([tx(i, {"k": i})])
    log.close()
    lines = (tmp_path / "blocks.jsonl").read_text().splitlines()
    block = json.loads(lines[3])
    block["transactions"][0]["writes"] = {"k": 1_000_000}
    lines[3] = json.dumps(block)
    (tmp_path / "blocks.jsonl").write_text("\n".join(lines) + "\n")
    report = verify_chain(tmp_path)
    assert not report.ok
    assert report.first_bad_height == 4 and report.blocks == 3
    assert "transaction root" in report.problem


def test_confirmed_transactions_are_in_the_execution_nodes_chain(ledger_pair: dict) -> None:
    with grpc.insecure_channel(ledger_pair["control"]) as channel:
        stub = ledger_pb2_grpc.ControlStub(channel)
        mint = stub.Submit(ledger_pb2.Transaction(id="m", cos=0x20, contract="kv", operation="mint",
                                                  arguments_json='{"account": "a", "amount": 5}'), timeout=10)
        short = stub.Submit(ledger_pb2.Transaction(id="x", cos=0x20, contract="kv", operation="transfer",
                                                   arguments_json='{"from": "a", "to": "b", "amount": 9}'), timeout=10)
    assert mint.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED
    assert json.loads(mint.result_json) == {"account": "a", "balance": 5}
    assert short.status == ledger_pb2.RECEIPT_STATUS_REJECTED
    assert "balance" in short.reason
    agent("stop", ledger_pair["exec_config"])
    agent("start", ledger_pair["exec_config"])
    report = verify_chain(ledger_pair["exec_dir"] / "ledger")
    # The fixture's probe, the mint and the refused transfer: refused calls are in the chain too.
    assert report.ok and report.blocks >= 2


def rewrite(path: Path, change, restate: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Each block of a chain as ``change(block)`` makes it, hashes (and, with ``restate``, state
    digests) made consistent again, as a forger would: only what the chain's content says can tell."""
    from vdlt.ledger import GENESIS_HASH, Block, merkle_root, next_state_digest, sha256_hex

    previous, state = GENESIS_HASH, sha256_hex("")
    lines = []
    for line in path.read_text().splitlines():
        block = Block.from_json(line)
        change(block)
        if restate:
            state = block.state_digest = next_state_digest(state, block.transactions)
        block.previous_hash = previous
        block.transaction_root = merkle_root([t.digest() for t in block.transactions])
        block.hash = block.header_hash()
        previous = block.hash
        lines.append(block.to_json())
    path.write_text("\n".join(lines) + "\n")


def chain(tmp_path: Path, blocks: list[list[int]]) -> Path:
    log = BlockLog(tmp_path)
    for block in blocks:
        log.append([tx(i, {f"k/{i}": i}) for i in block])
    log.close()
    return tmp_path / "blocks.jsonl"


def test_verify_finds_what_hashes_alone_do_not(tmp_path: Path) -> None:
    """Each of these chains hashes consistently; verify still names what is wrong with it."""
    import copy

    def gap(block):  # type: ignore[no-untyped-def]
        for t in block.transactions:
            t.sequence += 1 if block.height >= 3 else 0

    def repeat(block):  # type: ignore[no-untyped-def]
        if block.height == 4:
            block.transactions[0].sequence = 3

    def twice(block):  # type: ignore[no-untyped-def]
        if block.height == 4:
            block.transactions[0].id = "t1"

    def forged_state(block):  # type: ignore[no-untyped-def]
        if block.height == 2:
            block.transactions[0].writes = {"k/1": 999}

    def duplicated_last_leaf(block):  # type: ignore[no-untyped-def]
        # CVE-2012-2459: [a, b, c] and [a, b, c, c] have the same Merkle root.
        if block.height == 1:
            block.transactions.append(copy.deepcopy(block.transactions[-1]))

    cases = [(gap, 3, "expected 5 (a gap)"), (repeat, 4, "expected 6 (not increasing)"),
             (twice, 4, "transaction t1 appears twice"), (forged_state, 2, "state digest does not follow"),
             (duplicated_last_leaf, 1, "expected 4 (not increasing)")]
    for change, height, words in cases:
        path = chain(tmp_path / change.__name__, [[0, 1, 2], [3], [4], [5], [6]])
        rewrite(path, change, restate=change is not forged_state)
        report = verify_chain(path)
        assert not report.ok and report.first_bad_height == height and words in report.problem, (change, report)


def test_verify_reports_a_torn_last_line_and_the_node_resumes_past_it(tmp_path: Path) -> None:
    path = chain(tmp_path, [[0], [1]])
    with open(path, "a") as handle:
        handle.write('{"height": 3, "previous_hash": "ab\n')  # torn, and yet it ends in a newline
    report = verify_chain(path)
    assert not report.ok and report.first_bad_height == 3 and "cut short" in report.problem
    resumed = BlockLog(tmp_path)
    assert resumed.height == 2 and resumed.last_sequence == 2
    assert verify_chain(path).ok  # the torn line is gone


def test_compare_names_the_first_divergence(tmp_path: Path) -> None:
    from vdlt.ledger import compare_chains

    a = chain(tmp_path / "a" / "ledger", [[0, 1], [2], [3]])
    b = chain(tmp_path / "b" / "ledger", [[0], [1, 2]])  # a prefix of a, cut into other blocks
    assert compare_chains([a, b]).ok and compare_chains([a, b]).common_through == 3
    c = chain(tmp_path / "c" / "ledger", [[0, 1], [2]])
    rewrite(c, lambda block: block.transactions[-1].__setattr__("id", "other") if block.height == 2 else None)
    comparison = compare_chains([a, c])
    assert not comparison.ok and comparison.common_through == 2
    assert "differ at sequence 3: a holds t2 at 3; c holds other at 3" in comparison.divergence
