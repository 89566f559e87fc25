"""The schedulers alone: weighted shares under saturation, strict priority within its cap, full queues."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.documents import Document
from vdlt.cos import ServiceClass
from vdlt.policy import Policy, load_policy, policy_from_document
from vdlt.scheduler import CbwfqCore, FifoCore, QueueFull

WEIGHTED = [c for c in ServiceClass if c != ServiceClass.MANAGEMENT_CONTROL]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def policy_with(weights: dict[ServiceClass, int], limit: int = 100_000, **extra: object) -> Policy:
    classes = {c.slug: {"weight": w, "limit": limit} for c, w in weights.items()}
    classes["management-control"] = {"priority": "strict", "rate_cap_tps": 100, "burst": 10, "limit": limit,
                                     **extra}
    return policy_from_document(Document(Path("<test>"), {"classes": classes}))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(WEIGHTED), st.integers(min_value=1, max_value=50), min_size=2, max_size=7))
def test_saturated_classes_share_service_by_weight(weights: dict[ServiceClass, int]) -> None:
    core: CbwfqCore[int] = CbwfqCore(policy_with(weights), FakeClock())
    backlog = 4000
    for service_class in weights:  # every class saturated: more waiting than will be served
        for i in range(backlog):
            core.offer(i, service_class)
    served = Counter(core.take()[1] for _ in range(backlog))  # type: ignore[index]
    total = sum(weights.values())
    for service_class, weight in weights.items():
        expected = backlog * weight / total
        assert abs(served[service_class] - expected) <= 0.10 * expected + 1, (service_class, served, weights)


def test_an_idle_class_leaves_its_share_to_the_others() -> None:
    weights = {ServiceClass.FAST_CONFIRMATION: 40, ServiceClass.BEST_EFFORT: 8, ServiceClass.SCAVENGER: 2}
    core: CbwfqCore[int] = CbwfqCore(policy_with(weights), FakeClock())
    for i in range(1000):
        core.offer(i, ServiceClass.BEST_EFFORT)
        core.offer(i, ServiceClass.SCAVENGER)
    served = Counter(core.take()[1] for _ in range(1000))  # type: ignore[index]
    assert served[ServiceClass.BEST_EFFORT] == pytest.approx(800, rel=0.02)


def test_a_newly_active_class_does_not_jump_ahead_of_a_waiting_class_of_equal_weight() -> None:
    """Serving a light class's item must not take virtual time back to when it was queued: a class
    that becomes active right after would be served about 20 times in a row (weight 40 against 2)."""
    weights = {ServiceClass.FAST_CONFIRMATION: 40, ServiceClass.COMPUTATION_INTENSIVE: 40, ServiceClass.SCAVENGER: 2}
    core: CbwfqCore[int] = CbwfqCore(policy_with(weights), FakeClock())
    for i in range(1000):
        core.offer(i, ServiceClass.FAST_CONFIRMATION)
    core.offer(0, ServiceClass.SCAVENGER)
    while core.take()[1] != ServiceClass.SCAVENGER:  # type: ignore[index]
        pass
    for i in range(1000):
        core.offer(i, ServiceClass.COMPUTATION_INTENSIVE)
    served = [core.take()[1] for _ in range(40)]  # type: ignore[index]
    longest = run = 0
    for previous, current in zip([None, *served], served):
        run = run + 1 if current == previous else 1
        longest = max(longest, run)
    assert longest <= 2, served
    assert Counter(served)[ServiceClass.FAST_CONFIRMATION] == pytest.approx(20, abs=2)


def test_strict_class_goes_first_but_only_within_its_rate_cap() -> None:
    clock = FakeClock()
    weights = {ServiceClass.FAST_CONFIRMATION: 40, ServiceClass.BEST_EFFORT: 8}
    core: CbwfqCore[str] = CbwfqCore(policy_with(weights), clock)  # cap 100/s, burst 10
    for i in range(2000):
        core.offer(f"m{i}", ServiceClass.MANAGEMENT_CONTROL)
        core.offer(f"f{i}", ServiceClass.FAST_CONFIRMATION)
    first = [core.take()[1] for _ in range(10)]  # type: ignore[index]
    assert first == [ServiceClass.MANAGEMENT_CONTROL] * 10  # the burst, ahead of everything
    assert core.take()[1] == ServiceClass.FAST_CONFIRMATION  # type: ignore[index]  # cap reached
    # One simulated second, served at 1,000 transactions per second: about 100 management ones.
    served = Counter()
    for _ in range(1000):
        clock.now += 0.001
        served[core.take()[1]] += 1  # type: ignore[index]
    assert 95 <= served[ServiceClass.MANAGEMENT_CONTROL] <= 101
    assert served[ServiceClass.FAST_CONFIRMATION] >= 899


def test_strict_class_alone_waits_for_tokens() -> None:
    clock = FakeClock()
    core: CbwfqCore[int] = CbwfqCore(policy_with({ServiceClass.BEST_EFFORT: 1}), clock)
    for i in range(20):
        core.offer(i, ServiceClass.MANAGEMENT_CONTROL)
    assert len([core.take() for _ in range(10)]) == 10
    assert core.take() is None
    assert core.wait_hint() == pytest.approx(0.01)
    clock.now = 0.01
    assert core.take() is not None


def test_full_queue_refuses_and_names_the_class() -> None:
    core: CbwfqCore[int] = CbwfqCore(policy_with({ServiceClass.SCAVENGER: 1, ServiceClass.BEST_EFFORT: 1}, limit=3),
                                     FakeClock())
    for i in range(3):
        core.offer(i, ServiceClass.SCAVENGER)
    with pytest.raises(QueueFull, match="scavenger queue is full"):
        core.offer(3, ServiceClass.SCAVENGER)
    core.offer(0, ServiceClass.BEST_EFFORT)  # other classes have their own room


def test_fifo_serves_in_arrival_order_whatever_the_class() -> None:
    core: FifoCore[int] = FifoCore(load_policy())
    for i, service_class in enumerate([ServiceClass.SCAVENGER, ServiceClass.FAST_CONFIRMATION, ServiceClass.BEST_EFFORT]):
        core.offer(i, service_class)
    assert [core.take()[0] for _ in range(3)] == [0, 1, 2]  # type: ignore[index]
