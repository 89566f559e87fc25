"""The CoS byte: eight classes from the top three bits, reserved bits carried unchanged."""
from __future__ import annotations

import grpc
import pytest

from protocol import ledger_pb2, ledger_pb2_grpc
from vdlt.cos import CosByte, ServiceClass

TABLE_II = {
    0b111: "fast-confirmation",
    0b110: "computation-intensive",
    0b101: "storage-intensive",
    0b100: "low-cost",
    0b011: "management-control",
    0b010: "private",
    0b001: "best-effort",
    0b000: "scavenger",
}


@pytest.mark.parametrize("value", range(256))
def test_every_byte_decodes_to_its_class_and_round_trips(value: int) -> None:
    cos = CosByte.parse(value)
    assert cos.service_class.slug == TABLE_II[value >> 5]
    assert cos.reserved == value & 0b11111
    assert cos.to_int() == value


def test_reclassing_keeps_reserved_bits() -> None:
    cos = CosByte.parse(0b111_10110)
    assert cos.with_class(ServiceClass.BEST_EFFORT).to_int() == 0b001_10110


def test_values_outside_a_byte_are_refused() -> None:
    with pytest.raises(ValueError):
        CosByte.parse(256)


def test_control_node_decodes_all_classes_and_returns_reserved_bits(ledger_pair: dict) -> None:
    with grpc.insecure_channel(ledger_pair["control"]) as channel:
        stub = ledger_pb2_grpc.ControlStub(channel)
        for bits in range(8):
            cos = (bits << 5) | 0b10101
            receipt = stub.Submit(ledger_pb2.Transaction(
                id=f"cos-{bits}", cos=cos, source="operator", contract="kv", operation="put",
                arguments_json='{"key": "k", "value": 1}'), timeout=10)
            if bits == 0b111:  # fast-confirmation: two replicas must agree, and there is one execution node
                assert receipt.status == ledger_pb2.RECEIPT_STATUS_DROPPED, receipt
                assert "needs 2 agreeing replicas and only 1 execution node(s) can be chosen" in receipt.reason
                assert receipt.cos_given == cos
                continue
            assert receipt.status == ledger_pb2.RECEIPT_STATUS_CONFIRMED, receipt.reason
            assert receipt.cos_asked == cos
            if bits == 0b011:  # management-control from a claimed (not authenticated) source
                assert receipt.cos_given == 0b10101, "a claimed source got management-control"
            else:
                assert receipt.cos_given == cos
            assert receipt.execution_nodes == ["exec-0"]
            assert receipt.block_height >= 1
