"""The Ethereum connector as a Caliper user drives it: their network and benchmark files, a real
ganache on loopback, classes of service priced in gas, the audit of every receipt against the chain.

Ganache comes from the project's npm lock file (``scripts/bootstrap``); without node the tests
that need it are skipped and say why.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest
import yaml

from harness.connectors.base import CONFIRMED, REJECTED
from harness.connectors.ethereum.abi import decode, encode
from harness.connectors.ethereum.keys import Signer, address_of, caliper_worker_key, class_key
from harness.store.records import RECORD_COLUMNS, RecordWriter, iter_rows
from harness.testing.ethereum_stub import EthereumStub
from harness.provision.ganache import Ganache, ganache_missing
from protocol.errors import EXIT_NOTHING_CONFIRMED
from tests.conftest import REPO, harness

WORKSPACE = REPO / "workloads" / "caliper" / "broker"
CONTRACTS = REPO / "workloads" / "contracts"
# caliper-benchmarks' besu seed: the prefunded accounts of its genesis are these workers'.
SEED = "0x3f841bf589fdf83a521e55d51afddc34fa65351161eead24f064855fc29c9580"
WORKER_0 = ("0xD1cf9D73a91DE6630c2bb068Ba5fDdF9F0DEac09",
            "0x797c13f7235c627f6bd013dc17fff4c12213ab49abcf091f77c83f16db10e90b")
WORKER_1 = ("0xd826E703658FA2CE8D1018D42E637C08d9846A17",
            "0x4be84b298ccb944e96befc4f03b943ec13709f6a8e5b5d8595c486dfa88fd254")

needs_ganache = pytest.mark.skipif(ganache_missing() is not None, reason=ganache_missing() or "")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of the shipped Caliper workspace, laid out as in the repository (its network file
    names the contract by a path relative to the workspace, as Caliper reads it)."""
    copy = tmp_path / "workloads" / "caliper" / "broker"
    shutil.copytree(WORKSPACE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(CONTRACTS, tmp_path / "workloads" / "contracts")
    return copy


def network_file(workspace: Path, url: str, **changes: object) -> Path:
    """The workspace's network file pointed at ``url`` (and ``changes`` to its ethereum section)."""
    path = workspace / "networks" / "ganache.json"
    network = json.loads(path.read_text())
    network["ethereum"].update(url=url, **changes)
    path.write_text(json.dumps(network, indent=2))
    return path


def bench(workspace: Path, rounds: list[dict], name: str = "bench.yaml") -> Path:
    path = workspace / "benchmarks" / name
    path.write_text(yaml.safe_dump({"test": {"name": "eth", "workers": {"number": 1}, "rounds": rounds}}))
    return path


def only_run(results: Path) -> Path:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def records(run_dir: Path) -> list[dict[str, str]]:
    return [row for path in sorted((run_dir / "transactions").glob("*.csv.gz")) for row in iter_rows(path)]


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Ganache]:
    with Ganache(tmp_path / "ganache", accounts=[(WORKER_0[1], 10**24)]) as ganache:
        yield ganache


# -- accounts, signatures and call data, as Caliper and Ethereum have them ------------------------

def test_worker_accounts_are_the_ones_caliper_derives_from_its_seed() -> None:
    for worker, (address, key) in enumerate((WORKER_0, WORKER_1)):
        assert "0x" + caliper_worker_key(SEED, worker).hex() == key
        assert address_of(caliper_worker_key(SEED, worker)) == address
    # Further classes of a worker send from accounts of their own, never another worker's.
    assert len({address_of(class_key(SEED, w, k)) for w in range(3) for k in range(3)}) == 9


def test_transactions_are_signed_byte_for_byte_as_eth_account_signs_them() -> None:
    from eth_account import Account

    key = bytes.fromhex(WORKER_1[1][2:])
    for nonce, data in ((0, b""), (7, bytes(range(200))), (2**40, b"\x00\x01")):
        to = WORKER_0[0]
        raw, tx_hash = Signer(key, 1337).sign(nonce, 8 * 10**9, 150_000, bytes.fromhex(to[2:]), 10**18, data)
        expected = Account.sign_transaction({"nonce": nonce, "gasPrice": 8 * 10**9, "gas": 150_000,
                                             "to": to, "value": 10**18, "data": data,
                                             "chainId": 1337}, key)
        assert (raw, tx_hash) == (bytes(expected.raw_transaction), bytes(expected.hash))
        assert Account.recover_transaction(raw) == WORKER_1[0]


@pytest.mark.parametrize(("kinds", "values"), [
    (["string", "uint8", "uint64", "uint128", "uint16", "uint8"], ["np-0-0000001", 3, 1000, 512, 2, 1]),
    (["int256", "bool", "address", "bytes32", "bytes"], [-5, True, "0x" + "ab" * 20, b"\x01" * 32, b"\x02" * 33]),
    (["string[]", "uint256[3]", "int8[]", "uint256[2][]", "string[2]"],
     [["a", "bc", ""], [1, 2, 3], [-1, 5], [[1, 2], [3, 4]], ["x" * 40, "é"]]),
])
def test_call_data_is_encoded_and_decoded_as_eth_abi_does(kinds: list[str], values: list) -> None:
    import eth_abi

    plain = [bytes.fromhex(v[2:]) if isinstance(v, str) and v.startswith("0x") else v for v in values]
    data = encode(kinds, values)
    assert data == eth_abi.encode(kinds, plain)
    as_lists = json.loads(json.dumps(eth_abi.decode(kinds, data), default=lambda b: b.hex()))
    assert json.loads(json.dumps(decode(kinds, data), default=lambda b: b.hex())) == as_lists


# -- Caliper's files, unchanged, against a real chain --------------------------------------------

@needs_ganache
def test_a_caliper_network_file_and_benchmark_run_unchanged_with_cos_lines(workspace: Path, chain: Ganache,
                                                                           tmp_path: Path) -> None:
    network = network_file(workspace, chain.ws_url)
    config = workspace / "benchmarks" / "config.yaml"
    # The shipped rounds, shorter: 3 s each instead of 10.
    config.write_text(config.read_text().replace("txDuration: 10", "txDuration: 3"))
    results = tmp_path / "results"
    run = harness("run", "benchmarks/config.yaml", "--network", "networks/ganache.json", "--results-dir",
                  str(results), cwd=workspace)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "deployed broker at 0x" in run.stdout
    run_dir = only_run(results)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [r["label"] for r in summary["rounds"]] == ["addNetworkProvider", "getBestMatch", "reserve"]
    for round_summary in summary["rounds"]:
        assert round_summary["total"]["succeeded"] == round_summary["total"]["submitted"] == 60, round_summary
    # Writes carry their hash and block; reads (eth_call) are no transactions and have neither.
    rows = records(run_dir)
    writes = [r for r in rows if r["tx_id"].split(".")[1] in ("0", "2")]
    assert all(r["ref"].startswith("0x") and len(r["ref"]) == 66 and int(r["block_height"]) > 1 for r in writes)
    assert all(not r["ref"] for r in rows if r["tx_id"].split(".")[1] == "1")
    audit = summary["audit"]
    assert audit["ok"] and audit["classes"]["best-effort"]["confirmed_present"] == 120, audit
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["ledger"]["setup"]["deployed"]["broker"]["gas_used"] > 500_000
    assert (run_dir / "network.json").read_text() == network.read_text()
    # The chain agrees: 60 providers registered by the first round.
    address = manifest["ledger"]["setup"]["contracts"]["broker"]
    count = chain.rpc("eth_call", [{"to": address, "data": "0x74c83268"}, "latest"])  # providerCount()
    assert int(count, 16) == 60


@needs_ganache
def test_a_reverted_transaction_is_a_rejection_with_its_reason_and_the_audit_agrees(workspace: Path, chain: Ganache,
                                                                                      tmp_path: Path) -> None:
    network_file(workspace, chain.http_url)  # over HTTP, which Caliper refuses: blocks are polled
    path = bench(workspace, [{"label": "reserve", "txNumber": 5, "rateControl": {"type": "fixed-rate",
                                                                                 "opts": {"tps": 10}},
                              "workload": {"module": "reserve.py", "arguments": {"providers": 3, "units": 1}},
                              "cos": {"best-effort": 1}}])
    results = tmp_path / "results"
    run = harness("run", str(path), "--network", "networks/ganache.json", "--results-dir", str(results),
                  cwd=workspace)
    assert run.returncode == EXIT_NOTHING_CONFIRMED, run.stdout + run.stderr  # no provider exists
    rows = records(only_run(results))
    assert {r["status"] for r in rows} == {REJECTED}
    assert all(r["reason"].startswith("reverted (status 0) in block ") and r["ref"] for r in rows)
    for row in rows:  # the chain holds each, reverted, where its receipt said
        receipt = chain.rpc("eth_getTransactionReceipt", [row["ref"]])
        assert receipt["status"] == "0x0" and int(receipt["blockNumber"], 16) == int(row["block_height"])
    summary = json.loads((only_run(results) / "summary.json").read_text())
    assert summary["audit"]["ok"], summary["audit"]


@needs_ganache
def test_the_audit_catches_receipts_the_chain_does_not_bear_out(workspace: Path, chain: Ganache,
                                                               tmp_path: Path) -> None:
    network_file(workspace, chain.ws_url)
    path = bench(workspace, [{"label": "add", "txNumber": 20, "rateControl": {"type": "fixed-rate",
                                                                              "opts": {"tps": 20}},
                              "workload": {"module": "add-provider.py", "arguments": {"unitsPerProvider": 10}},
                              "cos": {"best-effort": 1}}])
    results = tmp_path / "results"
    assert harness("run", str(path), "--network", "networks/ganache.json", "--results-dir", str(results),
                   cwd=workspace).returncode == 0
    run_dir = only_run(results)
    (records_file,) = (run_dir / "transactions").glob("*.csv.gz")
    rows = list(iter_rows(records_file))
    # What a lying connector would have written: one receipt names another block, one says a
    # transaction the chain holds failed, one confirms a transaction that was never sent.
    rows[0]["block_height"] = str(int(rows[0]["block_height"]) + 5)
    rows[1]["status"], rows[1]["reason"] = "error", "the node refused it"
    rows[2]["ref"] = "0x" + "11" * 32
    records_file.unlink()
    writer = RecordWriter(records_file)
    writer.add("".join(",".join(row[c] or "" for c in RECORD_COLUMNS) + "\n" for row in rows))
    writer.end_member()
    audit = harness("audit", str(run_dir))
    assert audit.returncode == 5, audit.stdout + audit.stderr
    text = " ".join(audit.stdout.split())
    assert "1 confirmed transaction(s) are in another block than their receipt named" in text
    assert "1 transaction(s) reported failed are on the chains" in text
    assert "1 confirmed transaction(s) are in fewer chains than the class's quorum (1 in none)" in text


# -- classes of service on a congested chain -------------------------------------------------------

@needs_ganache
def test_fast_confirmation_pays_its_way_past_best_effort_when_blocks_are_full(workspace: Path,
                                                                             tmp_path: Path) -> None:
    # One-second blocks that hold about 10 registrations (98,000 gas each), offered 16 a second.
    with Ganache(tmp_path / "ganache", block_time_s=1, block_gas_limit=1_000_000,
                 accounts=[(WORKER_0[1], 10**24)]) as congested:
        network_file(workspace, congested.ws_url)
        path = bench(workspace, [{"label": "congested", "txDuration": 10, "timeout": 60,
                                  "rateControl": {"type": "fixed-rate", "opts": {"tps": 16}},
                                  "workload": {"module": "add-provider.py", "arguments": {"unitsPerProvider": 10}},
                                  "cos": {"fast-confirmation": 1, "best-effort": 1}}])
        results = tmp_path / "results"
        run = harness("run", str(path), "--network", "networks/ganache.json", "--results-dir", str(results),
                      cwd=workspace, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "gave 1 sender account(s) 100 ether each for gas" in run.stdout  # best effort's own sender
    summary = json.loads((only_run(results) / "summary.json").read_text())
    (congested_round,) = summary["rounds"]
    fast, best = (congested_round["classes"][slug] for slug in ("fast-confirmation", "best-effort"))
    assert fast["succeeded"] == fast["submitted"] and best["succeeded"] == best["submitted"]
    # Fast confirmation pays four times the gas price: it is mined first, best effort waits.
    assert fast["latency_ms"]["p99"] < best["latency_ms"]["p99"] / 2, (fast["latency_ms"], best["latency_ms"])
    assert fast["latency_ms"]["p99"] < 3_000  # two or three blocks
    assert summary["audit"]["ok"]


# -- network files: mistakes named, nothing started ---------------------------------------------

@pytest.mark.parametrize(("change", "field", "words"), [
    ({"ethereum": {"url": "tcp://127.0.0.1:8545"}}, "ethereum.url", "must start with ws://, wss://, http://"),
    ({"ethereum": {"fromAdress": WORKER_0[0]}}, "ethereum.fromAdress", "did you mean 'fromAddress'"),
    ({"ethereum": {"contracts": {"broker": {"path": "missing.json"}}}}, "ethereum.contracts.broker.path",
     "no such file: missing.json"),
    ({"ethereum": {"contracts": {"broker": {"path": "../../contracts/resource-broker.json",
                                            "gas": {"reserv": 150000}}}}},
     "ethereum.contracts.broker.gas.reserv", "the contract has no function 'reserv'"),
    ({"caliper": {"blockchain": "fabric"}}, "caliper.blockchain", "must be 'ethereum'"),
])
def test_a_network_file_mistake_is_refused_naming_file_line_and_field(workspace: Path, tmp_path: Path, change: dict,
                                                                      field: str, words: str) -> None:
    path = workspace / "networks" / "ganache.json"
    network = json.loads(path.read_text())
    for section, values in change.items():
        network[section].update(values)
    path.write_text(json.dumps(network, indent=2))
    run = harness("run", "benchmarks/config.yaml", "--network", "networks/ganache.json", "--results-dir",
                  str(tmp_path / "results"), cwd=workspace)
    assert run.returncode == 2, run.stdout + run.stderr
    first = run.stderr.strip().splitlines()[0]
    assert first.startswith(f"error: {path.relative_to(workspace)}:") and field in first and words in first, first
    assert not (tmp_path / "results").exists()


def test_an_ethereum_benchmark_without_its_network_file_is_refused(workspace: Path, tmp_path: Path) -> None:
    path = bench(workspace, [{"label": "r", "txNumber": 1, "rateControl": {"type": "fixed-rate", "opts": {"tps": 1}},
                              "workload": {"module": "reserve.py", "arguments": {"providers": 1, "units": 1}}}])
    data = yaml.safe_load(path.read_text())
    data["test"]["connector"] = "ethereum"
    path.write_text(yaml.safe_dump(data))
    run = harness("run", str(path), "--results-dir", str(tmp_path / "results"), cwd=workspace)
    assert run.returncode == 2 and "test.connector: an ethereum benchmark needs the chain's network file" in run.stderr


# -- the instant stub, which both tools can drive -----------------------------------------------

def test_the_harness_drives_the_instant_stub_and_every_transaction_is_confirmed(workspace: Path,
                                                                                tmp_path: Path) -> None:
    with EthereumStub() as stub:
        network_file(workspace, stub.ws_url)
        path = bench(workspace, [{"label": "reserve", "txDuration": 2,
                                  "rateControl": {"type": "fixed-rate", "opts": {"tps": 1000}},
                                  "workload": {"module": "reserve.py", "arguments": {"providers": 48, "units": 1}},
                                  "cos": {"fast-confirmation": 1, "best-effort": 3}}])
        results = tmp_path / "results"
        run = harness("run", str(path), "--network", "networks/ganache.json", "--results-dir", str(results),
                      cwd=workspace)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = records(only_run(results))
    assert len(rows) == 2000 and {r["status"] for r in rows} == {CONFIRMED}
    assert len({r["ref"] for r in rows}) == 2000


# -- a campaign on a chain: seed 004's curves -----------------------------------------------------

@needs_ganache
def test_a_campaign_on_a_ganache_it_starts_draws_seed_004_s_curves(tmp_path: Path) -> None:
    campaign = yaml.safe_load((REPO / "workloads" / "campaigns" / "seed004-ganache.yaml").read_text())
    search = yaml.safe_load((REPO / "workloads" / "benchmarks" / "broker-reserve.yaml").read_text())
    # The shipped search, short: one-second steps up to 32 tx/s.
    search["test"]["rounds"][1].update(txDuration=1, saturation={"startTps": 4, "stepFactor": 2, "maxTps": 32,
                                                                 "bisections": 1, "warmUp": 0.5})
    search["test"]["rounds"][1]["workload"]["module"] = str(REPO / "workloads" / "modules" / "broker.py")
    search["test"]["rounds"][0]["workload"]["module"] = str(REPO / "workloads" / "modules" / "broker.py")
    (tmp_path / "reserve.yaml").write_text(yaml.safe_dump(search))
    campaign["campaign"]["matrix"]["benchmarks"] = {"reserve": str(tmp_path / "reserve.yaml")}
    campaign["campaign"]["matrix"]["testbeds"]["ganache"]["network"] = str(
        REPO / "workloads" / "campaigns" / "ganache-network.json")
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign))
    started = time.time()
    run = harness("campaign", "run", str(path), "--results-dir", str(tmp_path / "campaigns"), timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ganache: starting ganache" in run.stdout
    (folder,) = (tmp_path / "campaigns").iterdir()
    rows = json.loads((folder / "comparison.json").read_text())["rows"]
    (row,) = rows
    assert row["profile"] == "ganache (instant mining)" and row["saturation_tps"] >= 4, row
    report = (folder / "report.html").read_text()
    assert "best-effort: latency against offered load" in report
    # The ganache it started is gone with it.
    assert not [p for p in psutil.process_iter(["cmdline", "create_time"])
                if "ganache" in " ".join(p.info["cmdline"] or []) and p.info["create_time"] >= started]


@needs_ganache
def test_a_refused_transaction_s_nonce_is_filled_so_the_account_s_later_ones_are_mined(workspace: Path,
                                                                                      tmp_path: Path) -> None:
    # A registration allowed no more gas than a bare transfer is refused when it is sent: its call
    # data alone costs more (intrinsic gas too low).
    with Ganache(tmp_path / "ganache", accounts=[(WORKER_0[1], 10**24)]) as chain:
        network = json.loads((workspace / "networks" / "ganache.json").read_text())
        network["ethereum"]["contracts"]["broker"]["gas"]["addNetworkProvider"] = 21_000
        network_file(workspace, chain.ws_url, contracts=network["ethereum"]["contracts"])
        # One round, one sender: registrations (refused) and reservations (mined, and reverted:
        # there is no provider) in turn.
        (workspace / "benchmarks" / "turns.py").write_text(
            "from harness.connectors.base import Request\n"
            "from harness.loadgen.workload import WorkloadModule\n"
            "class Turns(WorkloadModule):\n"
            "    def submit_transaction(self, context):\n"
            "        if context.index % 2 == 0:\n"
            "            return Request('broker', 'addNetworkProvider', ['np', 0, 10, 100, 1, 1])\n"
            "        return Request('broker', 'reserve', [0, 1])\n"
            "def create_workload_module():\n"
            "    return Turns()\n")
        path = bench(workspace, [{"label": "turns", "txNumber": 10, "timeout": 10,
                                  "rateControl": {"type": "fixed-rate", "opts": {"tps": 20}},
                                  "workload": {"module": "turns.py"}}])
        results = tmp_path / "results"
        run = harness("run", str(path), "--network", "networks/ganache.json", "--results-dir", str(results),
                      cwd=workspace)
        assert results.exists(), run.stdout + run.stderr
        rows = records(only_run(results))
    refused = [r for r in rows if int(r["tx_id"].rsplit(".", 1)[1]) % 2 == 0]
    assert {r["status"] for r in refused} == {"error"}, refused
    assert all("the node refused it" in r["reason"] and "intrinsic gas" in r["reason"] and r["ref"] for r in refused)
    # Each refusal's nonce was taken by a transfer to itself: the reservations after it are mined
    # (and revert), none is held back behind a gap.
    after = [r for r in rows if int(r["tx_id"].rsplit(".", 1)[1]) % 2 == 1]
    assert {r["status"] for r in after} == {REJECTED}, {r["reason"] for r in after}


@needs_ganache
def test_confirmation_blocks_are_waited_for(workspace: Path, tmp_path: Path) -> None:
    with Ganache(tmp_path / "ganache", block_time_s=0.5, accounts=[(WORKER_0[1], 10**24)]) as chain:
        network_file(workspace, chain.ws_url, transactionConfirmationBlocks=3)
        path = bench(workspace, [{"label": "deep", "txNumber": 10, "timeout": 30,
                                  "rateControl": {"type": "fixed-rate", "opts": {"tps": 10}},
                                  "workload": {"module": "add-provider.py", "arguments": {"unitsPerProvider": 10}}}])
        results = tmp_path / "results"
        run = harness("run", str(path), "--network", "networks/ganache.json", "--results-dir", str(results),
                      cwd=workspace)
        assert run.returncode == 0, run.stdout + run.stderr
        head = int(chain.rpc("eth_blockNumber"), 16)
    rows = records(only_run(results))
    assert {r["status"] for r in rows} == {CONFIRMED}
    # Decided once two more blocks than its own held it: at least a second after it was sent.
    assert min(int(r["decided_ns"]) - int(r["sent_ns"]) for r in rows) >= 0.9e9
    assert all(int(r["block_height"]) + 2 <= head for r in rows)


def test_one_private_key_for_several_workers_is_refused(workspace: Path, tmp_path: Path) -> None:
    network_file(workspace, "ws://127.0.0.1:1", fromAddress=WORKER_1[0], fromAddressPrivateKey=WORKER_1[1],
                 fromAddressSeed=None)
    path = bench(workspace, [{"label": "r", "txNumber": 1, "rateControl": {"type": "fixed-rate", "opts": {"tps": 1}},
                              "workload": {"module": "reserve.py", "arguments": {"providers": 1, "units": 1}}}])
    data = yaml.safe_load(path.read_text())
    data["test"]["workers"]["number"] = 2
    path.write_text(yaml.safe_dump(data))
    run = harness("run", str(path), "--network", "networks/ganache.json", "--results-dir", str(tmp_path / "r"),
                  cwd=workspace)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "ethereum.fromAddressPrivateKey: one account for 2 workers" in run.stderr
    assert not (tmp_path / "r").exists()


def test_a_chain_that_goes_away_mid_round_confirms_nothing_it_did_not_see(workspace: Path, tmp_path: Path) -> None:
    stub = EthereumStub()
    stub.start()
    try:
        network_file(workspace, stub.ws_url)
        path = bench(workspace, [{"label": "r", "txDuration": 4, "timeout": 2,
                                  "rateControl": {"type": "fixed-rate", "opts": {"tps": 200}},
                                  "workload": {"module": "reserve.py", "arguments": {"providers": 4, "units": 1}}}])
        results = tmp_path / "results"
        run = subprocess.Popen([sys.executable, "-m", "harness", "run", str(path), "--network",
                                "networks/ganache.json", "--results-dir", str(results)], cwd=workspace,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(3.5)  # deployment, then about a second of the round
    finally:
        stub.stop()
    output, _ = run.communicate(timeout=60)
    assert run.returncode in (0, 1), output  # the audit cannot read a chain that is gone
    rows = records(only_run(results))
    confirmed = [r for r in rows if r["status"] == CONFIRMED]
    after = [r for r in rows if r["status"] != CONFIRMED]
    assert confirmed and after, {r["status"] for r in rows}
    # What the stub confirmed came before it went; what was sent as it went is unknown, what
    # could not leave any more is an error: none is a confirmation the chain never gave.
    assert max(int(r["decided_ns"]) for r in confirmed) <= min(int(r["sent_ns"]) for r in after) + 0.5e9
    assert {r["status"] for r in after} <= {"unknown", "error", "timeout"}
    assert all(r["ref"] for r in after), "every signed transaction keeps its hash for the audit"
