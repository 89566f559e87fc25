"""Re-classing at the control node (seed 001, III.A): the rules and the reserved bits."""
from __future__ import annotations

import dataclasses

import pytest

from vdlt.classify import classify
from vdlt.cos import CosByte, ServiceClass
from vdlt.policy import load_policy

POLICY = load_policy()  # the shipped default: allow-list [operator], untrusted below 0.2 -> best effort


@pytest.mark.parametrize("service_class", list(ServiceClass))
def test_trusted_sources_keep_their_class_and_bits(service_class: ServiceClass) -> None:
    byte = (int(service_class) << 5) | 0b01011
    result = classify(byte, "operator", 0.9, POLICY, authenticated=True)
    assert result.given.to_int() == byte and not result.reclassed


def test_management_control_only_from_allowed_sources() -> None:
    result = classify(0b011_00111, "loadgen/worker-0", 0.9, POLICY, authenticated=True)
    assert result.given == CosByte(ServiceClass.SCAVENGER, 0b00111)
    assert "may not use management-control" in result.reason
    assert classify(0b011_00111, "operator", 0.9, POLICY, authenticated=True).given.service_class == \
        ServiceClass.MANAGEMENT_CONTROL


def test_a_claimed_source_is_not_believed_for_management_control() -> None:
    """Any client can write "operator" into a transaction: without mutual TLS it gets no priority."""
    claimed = classify(0b011_00111, "operator", 0.9, POLICY, authenticated=False)
    assert claimed.given == CosByte(ServiceClass.SCAVENGER, 0b00111)
    assert "claimed, not authenticated" in claimed.reason
    believing = dataclasses.replace(POLICY, trust_claimed_sources=True)
    assert classify(0b011_00111, "operator", 0.9, believing, authenticated=False).given.service_class == \
        ServiceClass.MANAGEMENT_CONTROL


@pytest.mark.parametrize("service_class", [ServiceClass.FAST_CONFIRMATION, ServiceClass.COMPUTATION_INTENSIVE,
                                           ServiceClass.STORAGE_INTENSIVE, ServiceClass.PRIVATE, ServiceClass.LOW_COST])
def test_untrusted_sources_are_moved_to_best_effort_keeping_reserved_bits(service_class: ServiceClass) -> None:
    byte = (int(service_class) << 5) | 0b10001
    result = classify(byte, "mallory", 0.1, POLICY, authenticated=True)
    assert result.given == CosByte(ServiceClass.BEST_EFFORT, 0b10001)
    assert result.asked.to_int() == byte
    assert "below" in result.reason


def test_untrusted_sources_are_never_upgraded() -> None:
    assert classify(0b000_00001, "mallory", 0.0, POLICY, authenticated=True).given.service_class == ServiceClass.SCAVENGER
    assert classify(0b001_00001, "mallory", 0.0, POLICY, authenticated=True).given.service_class == ServiceClass.BEST_EFFORT


def test_threshold_is_strict() -> None:
    assert not classify(0xE0, "s", 0.2, POLICY, authenticated=True).reclassed
    assert classify(0xE0, "s", 0.1999, POLICY, authenticated=True).reclassed
