"""Agreement among a transaction's replicas, and the trust their answers earn or cost them.

The chosen replicas execute the transaction; their answers are grouped by result digest. As soon
as one group reaches the class's quorum, that group's result is the agreed one. When the
replicas have split so far that no group can reach the quorum any more, one more eligible node
is asked. Without a quorum within the execution timeout there is no agreement; a split that the
replicas' read versions explain (one had not applied the latest commit yet) is reported as such.

Every answer is judged once, in :meth:`Agreement._judge`, whether it came in time or after the
decision: agreeing with the agreed result earns trust; a different result over the *same*
versioned reads is dissent and costs trust; no answer within the timeout costs trust as
unavailability; a difference explained by read versions blames nobody.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Callable

from protocol import ledger_pb2
from vdlt.cos import ServiceClass
from vdlt.execution_link import ExecutionLink, ExecutionOutcome
from vdlt.policy import ClassPolicy
from vdlt.selection import Selector
from vdlt.trust import TrustBook

log = logging.getLogger(__name__)


@dataclass
class Verdict:
    agreed: list[ExecutionOutcome] | None
    """The outcomes that agree, at least a quorum of them; None without a quorum."""
    split_by_reads: bool = False
    """No quorum, and the replicas read different committed versions: a read conflict."""
    failures: list[str] = field(default_factory=list)
    """What went wrong with the replicas that gave no answer."""


class Agreement:
    def __init__(self, links: dict[str, ExecutionLink], selector: Selector, trust: TrustBook,
                 execution_timeout_s: float, observe: Callable[[ExecutionOutcome], None]) -> None:
        self.links = links
        self.selector = selector
        self.trust = trust
        self.execution_timeout_s = execution_timeout_s
        self.observe = observe
        """Told of every answer (the control node keeps each node's recent latency)."""

    async def reach(self, tx: ledger_pb2.Transaction, nodes: list[str], class_policy: ClassPolicy,
                    service_class: ServiceClass) -> Verdict:
        needed = class_policy.quorum_of(len(nodes))
        asked = list(nodes)
        futures: dict[asyncio.Future[ExecutionOutcome], str] = {self.links[n].execute(tx): n for n in nodes}
        pending = set(futures)
        groups: dict[str, list[ExecutionOutcome]] = {}
        failures: list[str] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.execution_timeout_s
        agreed: list[ExecutionOutcome] | None = None
        while pending:
            done, pending = await asyncio.wait(pending, timeout=max(deadline - loop.time(), 0),
                                               return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break
            for future in done:
                if future.exception() is not None:
                    failures.append(f"{futures[future]}: {future.exception()}")
                    continue
                outcome = future.result()
                groups.setdefault(outcome.result.result_digest, []).append(outcome)
            largest = max((len(g) for g in groups.values()), default=0)
            if largest >= needed:
                agreed = max(groups.values(), key=len)
                break
            if largest + len(pending) < needed:
                extra = self.selector.choose(service_class, count=1, exclude=asked).nodes
                if extra:
                    asked.extend(extra)
                    future = self.links[extra[0]].execute(tx)
                    futures[future] = extra[0]
                    pending.add(future)
        for future, node_id in futures.items():
            if future in pending:  # a straggler is judged when it answers, or gives up
                future.add_done_callback(lambda f, n=node_id: self._judge(n, f, agreed, late=True))
            else:
                self._judge(node_id, future, agreed, late=False)
        if agreed is None:
            failures.extend(f"{futures[f]}: no answer within {self.execution_timeout_s:g} s" for f in pending)
            return Verdict(None, len({_reads(g[0].result) for g in groups.values()}) > 1, failures)
        return Verdict(agreed, False, failures)

    def _judge(self, node_id: str, future: asyncio.Future[ExecutionOutcome], agreed: list[ExecutionOutcome] | None,
               late: bool) -> None:
        if future.cancelled():
            return
        if future.exception() is not None:
            self.trust[node_id].timed_out()
            return
        outcome = future.result()
        self.observe(outcome)
        if late and outcome.elapsed_s > self.execution_timeout_s:
            self.trust[node_id].timed_out()
            return
        if agreed is None:
            return
        reference = agreed[0].result
        if outcome.result.result_digest == reference.result_digest:
            self.trust[node_id].agreed()
        elif _reads(outcome.result) == _reads(reference):
            self.trust[node_id].dissented()
            log.warning("node %s dissented on %s", node_id, outcome.result.transaction_id)


def _reads(result: ledger_pb2.ExecutionResult) -> tuple[tuple[str, int], ...]:
    return tuple((r.key, r.version) for r in result.reads)
