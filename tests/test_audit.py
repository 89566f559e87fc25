"""The audit's checks on histories made to order: each broken promise is found and named, and
what is no fault (a node behind, an uncertain outcome) is not reported as one."""
from __future__ import annotations

from harness.audit.check import ChainCommit, NodeChain, ReceiptBook, audit

TOKEN = "0a0b0c0d"


def tx(i: int) -> str:
    return f"{TOKEN}.0.0.{i}"


def chain(node: str, ids: list[str], after: int = 0, accepted: bool = True) -> NodeChain:
    return NodeChain(node, after, [ChainCommit(after + n + 1, tx_id, accepted, f"d-{tx_id}")
                                   for n, tx_id in enumerate(ids)])


def book(statuses: dict[int, str], slug: str = "best-effort") -> ReceiptBook:
    receipts = ReceiptBook(TOKEN, [])
    for i, status in statuses.items():
        receipts.add(tx(i), status, slug, slug)
    return receipts


def test_receipts_the_chains_bear_out_pass_and_a_node_only_behind_is_no_fault() -> None:
    receipts = book({0: "confirmed", 1: "confirmed", 2: "confirmed"})
    report = audit(receipts, [chain("a", [tx(0), tx(1), tx(2)]), chain("b", [tx(0), tx(1)])], lambda _: 1)
    assert report.ok, report.violations()
    assert report.classes["best-effort"].confirmed_present == 3
    assert [(n.node, n.behind) for n in report.nodes] == [("a", 0), ("b", 1)]


def test_a_confirmed_transaction_on_fewer_chains_than_the_quorum_is_found() -> None:
    receipts = book({0: "confirmed", 1: "confirmed"}, slug="fast-confirmation")
    report = audit(receipts, [chain("a", [tx(0), tx(1)]), chain("b", [tx(0)]), chain("c", [tx(0)])], lambda _: 2)
    figures = report.classes["fast-confirmation"]
    assert (figures.confirmed_present, figures.under_quorum, figures.lost) == (1, 1, 0)
    assert report.violations() == ["fast-confirmation: 1 confirmed transaction(s) are in fewer chains than the "
                                   "class's quorum (0 in none)"]


def test_a_chain_read_fails_leaves_room_for_the_quorum_rather_than_blame() -> None:
    receipts = book({0: "confirmed"})
    down = NodeChain("b", 0, error="UNAVAILABLE: connection refused")
    assert audit(receipts, [chain("a", [tx(0)]), down], lambda _: 2).ok
    assert not audit(receipts, [chain("a", []), down], lambda _: 2).ok


def test_a_hole_a_repeat_a_failure_that_happened_and_a_divergence_are_each_named() -> None:
    receipts = book({0: "confirmed", 1: "confirmed", 2: "dropped", 3: "confirmed", 4: "rejected"})
    a = chain("a", [tx(0), tx(1), tx(2), tx(3), tx(3), tx(4)])
    b = chain("b", [tx(0), "other-client", tx(2), tx(3), tx(3), tx(4)])
    report = audit(receipts, [a, b], lambda _: 1)
    figures = report.classes["best-effort"]
    assert figures.missing == {"b": 1}  # b's chain goes past tx 1 without it
    assert figures.applied_twice == 1  # tx 3 twice in each chain: one transaction
    assert figures.reported_failed_present == 2  # dropped, and rejected yet held accepted
    assert report.divergence == f"at sequence 2: a holds {tx(1)}; b holds other-client"
    assert not report.ok and len(report.violations()) == 4


def test_a_gap_in_a_chain_is_a_divergence() -> None:
    gapped = NodeChain("a", 0, [ChainCommit(1, tx(0), True, "d"), ChainCommit(3, tx(1), True, "d")])
    report = audit(book({0: "confirmed", 1: "confirmed"}), [gapped], lambda _: 1)
    assert report.divergence == "a's chain holds commit 3 after 1: a gap"


def test_uncertain_outcomes_are_counted_as_held_or_not_and_are_no_fault() -> None:
    receipts = book({0: "unknown", 1: "timeout", 2: "", 3: "confirmed"})
    report = audit(receipts, [chain("a", [tx(0), tx(3), tx(2)])], lambda _: 1)
    figures = report.classes["best-effort"]
    assert (figures.uncertain_committed, figures.uncertain_absent) == (2, 1)
    assert report.ok


def test_a_confirmed_transaction_the_chains_hold_refused_is_a_contradiction() -> None:
    report = audit(book({0: "confirmed"}), [chain("a", [tx(0)], accepted=False)], lambda _: 1)
    assert report.classes["best-effort"].contradicted == 1 and not report.ok


def test_only_this_runs_transactions_are_judged() -> None:
    receipts = book({0: "confirmed"})
    report = audit(receipts, [chain("a", ["probe", tx(0), f"{TOKEN}.0.3.9"])], lambda _: 1)
    assert report.ok
    assert (report.other_transactions, report.unrecorded) == (1, 1)
