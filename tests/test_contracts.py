"""The shipped contracts: seed 004's resource broker, compute, storage — alone and through the ledger."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import grpc
import pytest

from protocol import ledger_pb2, ledger_pb2_grpc
from vdlt.contracts import REGISTRY, ContractError, ContractState
from vdlt.ledger import iter_blocks


class Chain:
    """Committed state with each call's writes applied, as an agreed commit would."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.versions: dict[str, int] = {}

    def call(self, contract: str, operation: str, **arguments: Any) -> dict[str, Any]:
        state = ContractState(contract, self.values, self.versions)
        result = REGISTRY[contract].execute(state, operation, arguments)
        self.values.update(state.writes)
        return result


def providers() -> Chain:
    chain = Chain()
    chain.call("resource-broker", "addNetworkProvider", name="np-a", resources={"vcpu": 10, "mbps": 100},
               cost={"vcpu": 5, "mbps": 1}, region="eu", sla="gold", balance=100)
    chain.call("resource-broker", "addNetworkProvider", name="np-b", resources={"vcpu": 4},
               cost={"vcpu": 3}, region="eu", sla="silver", balance=50)
    chain.call("resource-broker", "addNetworkProvider", name="np-c", resources={"vcpu": 20},
               cost={"vcpu": 4}, region="us", sla="gold", balance=0)
    return chain


def test_best_match_is_the_cheapest_provider_that_can_serve() -> None:
    chain = providers()
    assert chain.call("resource-broker", "getBestMatch", type="vcpu", units=3) == {"provider": "np-b", "total_cost": 9}
    # np-b has only 4 vCPUs: for 6 the cheapest able is np-c.
    assert chain.call("resource-broker", "getBestMatch", type="vcpu", units=6)["provider"] == "np-c"
    assert chain.call("resource-broker", "getBestMatch", type="vcpu", units=6, region="eu")["provider"] == "np-a"
    assert chain.call("resource-broker", "getBestMatch", type="vcpu", units=2, sla="gold")["provider"] == "np-c"
    assert chain.call("resource-broker", "getBestMatch", type="vcpu", units=50)["provider"] is None


def test_reserve_pays_the_provider_and_moves_the_resources() -> None:
    chain = providers()
    paid = chain.call("resource-broker", "reserve", requester="np-a", provider="np-b", type="vcpu", units=4)
    assert paid["paid"] == 12
    assert chain.values["resource-broker/np/np-b"]["balance"] == 62
    assert chain.values["resource-broker/np/np-b"]["resources"]["vcpu"] == 0
    assert chain.values["resource-broker/np/np-a"]["balance"] == 88
    assert chain.values["resource-broker/np/np-a"]["resources"]["vcpu"] == 14
    # The provider has nothing left; a buyer with no money cannot pay.
    with pytest.raises(ContractError, match="offers 0 vcpu"):
        chain.call("resource-broker", "reserve", requester="np-a", provider="np-b", type="vcpu", units=1)
    with pytest.raises(ContractError, match="balance 0"):
        chain.call("resource-broker", "ResourceReservationTransaction", requester="np-c", provider="np-a",
                   type="vcpu", units=1)


def test_registering_twice_is_refused() -> None:
    with pytest.raises(ContractError, match="already registered"):
        providers().call("resource-broker", "addNetworkProvider", name="np-a", resources={"x": 1}, cost={"x": 1})


def test_compute_is_iterated_sha256() -> None:
    expected = hashlib.sha256(b"s").digest()
    for _ in range(999):
        expected = hashlib.sha256(expected).digest()
    assert Chain().call("compute", "hash", seed="s", iterations=1000)["digest"] == expected.hex()


def test_storage_writes_exactly_n_bytes() -> None:
    chain = Chain()
    written = chain.call("storage", "write", key="blob", size=5000)
    assert written["size"] == 5000 and len(chain.values["storage/blob/blob"]) == 5000
    assert chain.call("storage", "read", key="blob")["digest"] == written["digest"]


def submit(stub: ledger_pb2_grpc.ControlStub, tx_id: str, cos: int, contract: str, operation: str,
           **arguments: Any) -> ledger_pb2.Receipt:
    return stub.Submit(ledger_pb2.Transaction(id=tx_id, cos=cos, source="operator", contract=contract,
                                              operation=operation, arguments_json=json.dumps(arguments)), timeout=20)


def test_contracts_through_the_ledger(ledger_pair: dict) -> None:
    with grpc.insecure_channel(ledger_pair["control"]) as channel:
        stub = ledger_pb2_grpc.ControlStub(channel)
        for i, (name, vcpu, cost) in enumerate([("np-a", 10, 5), ("np-b", 4, 3)]):
            receipt = submit(stub, f"add-{i}", 0x20, "resource-broker", "addNetworkProvider", name=name,
                             resources={"vcpu": vcpu}, cost={"vcpu": cost}, balance=100)
            assert receipt.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED, receipt.reason
        best = submit(stub, "best", 0x20, "resource-broker", "getBestMatch", type="vcpu", units=3)
        assert json.loads(best.result_json)["provider"] == "np-b"
        reserve = submit(stub, "res", 0x20, "resource-broker", "reserve", requester="np-a", provider="np-b",
                         type="vcpu", units=3)
        assert json.loads(reserve.result_json)["paid"] == 9
        compute = submit(stub, "cpu", 0b110_00000, "compute", "hash", seed="x", iterations=20_000)
        assert compute.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED and compute.cos_given >> 5 == 0b110
        stored = submit(stub, "disk", 0b101_00000, "storage", "write", key="k", size=100_000)
        assert stored.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED
        refused = submit(stub, "bad", 0x20, "compute", "hash", iterations=0)
        assert refused.status == ledger_pb2.RECEIPT_STATUS_REJECTED and "iterations" in refused.reason
    blocks = list(iter_blocks(ledger_pair["exec_dir"] / "ledger" / "blocks.jsonl"))
    written = [t for b in blocks for t in b.transactions if t.id == "disk"]
    assert len(written) == 1 and len(written[0].writes["storage/blob/k"]) == 100_000
