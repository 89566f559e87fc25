"""Agreement among a transaction's replicas, and the trust their answers earn or cost them.

The chosen replicas execute the transaction. Each answer's digest is computed again here from
what the answer holds (its result, writes and versioned reads), so what is committed is what
was agreed (ARCHITECTURE.md, I5): an answer whose digest does not follow from its content is
forged. An answer that claims to have read a version its node cannot have read (newer than its
chain, or older than a commit its chain holds) is forged too. The others are grouped by digest;
as soon as one group reaches the class's quorum of its replicas (a majority of ``replicas`` by
default, however few nodes could be chosen), its result is the agreed one. When the replicas
have split so far that no group can reach the quorum, one more eligible node is asked. Without a
quorum within the execution timeout there is no agreement; a split that the replicas' read
versions explain (one had not applied the latest commit yet) is reported as such.

Trust is judged once every asked replica has answered or given up (:meth:`_Judgement.judge`),
against the majority of all the answers, not against the first quorum: a group of at least two
agreeing answers larger than any other. Its members earn trust; forged answers, and different
results over the same reads, cost it; no answer in time costs it as unavailability. An answer
alone agrees with nobody, so it earns nothing; a difference the read versions explain blames
nobody.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Callable

from protocol import ledger_pb2
from vdlt.cos import ServiceClass
from vdlt.execution import result_digest
from vdlt.execution_link import ExecutionLink, ExecutionOutcome
from vdlt.policy import ClassPolicy
from vdlt.selection import Selector
from vdlt.trust import TrustBook

log = logging.getLogger(__name__)
Versions = Callable[[str], "int | None"]


@dataclass
class Verdict:
    agreed: list[ExecutionOutcome] | None
    """The outcomes that agree, at least a quorum of them; None without a quorum."""
    split_by_reads: bool = False
    """No quorum, and the replicas read different committed versions: a read conflict."""
    failures: list[str] = field(default_factory=list)
    """What went wrong with the replicas that gave no (honest) answer."""


def recomputed_digest(result: ledger_pb2.ExecutionResult) -> str:
    """The digest an answer's own content gives."""
    writes = {w.key: json.loads(w.value_json) for w in result.writes}
    reads = {r.key: r.version for r in result.reads}
    return result_digest(result.transaction_id, result.accepted, result.result_json, writes, reads)


def forged(outcome: ExecutionOutcome, versions: Versions) -> str:
    """Why an answer cannot be honest, or ''."""
    result = outcome.result
    try:
        if recomputed_digest(result) != result.result_digest:
            return "its digest does not follow from its result"
    except ValueError:
        return "its writes are not JSON"
    for read in result.reads:
        if read.version > outcome.last_sequence:
            return f"it read {read.key} at version {read.version}, beyond its chain's commit {outcome.last_sequence}"
        latest = versions(read.key)
        if latest is not None and latest <= outcome.last_sequence and read.version != latest:
            return f"it read {read.key} at version {read.version}, but its chain holds version {latest}"
    return ""


class Agreement:
    def __init__(self, links: dict[str, ExecutionLink], selector: Selector, trust: TrustBook,
                 execution_timeout_s: float, observe: Callable[[ExecutionOutcome], None],
                 versions: Versions) -> None:
        self.links = links
        self.selector = selector
        self.trust = trust
        self.execution_timeout_s = execution_timeout_s
        self.observe = observe
        """Told of every answer (the control node keeps each node's recent latency)."""
        self.versions = versions
        """The sequence of the latest commit that wrote a key (None: not known here)."""

    async def reach(self, tx: ledger_pb2.Transaction, nodes: list[str], class_policy: ClassPolicy,
                    service_class: ServiceClass) -> Verdict:
        needed = class_policy.quorum_of(class_policy.replicas)
        judgement = _Judgement(self)
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
                node_id = futures[future]
                if future.exception() is not None:
                    failures.append(f"{node_id}: {future.exception()}")
                    continue
                outcome = future.result()
                why = judgement.forged[node_id] = forged(outcome, self.versions)
                if why:
                    failures.append(f"{node_id}: forged answer ({why})")
                    continue
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
        judgement.expect(futures)
        if agreed is None:
            failures.extend(f"{futures[f]}: no answer within {self.execution_timeout_s:g} s" for f in pending)
            if len(asked) < needed and not failures:
                failures.append(f"{service_class.slug} needs {needed} agreeing replicas and only {len(asked)} "
                                f"execution node(s) could be asked")
            return Verdict(None, len({_reads(g[0].result) for g in groups.values()}) > 1, failures)
        return Verdict(agreed, False, failures)


class _Judgement:
    """The trust evidence of one transaction, given once all its replicas answered or gave up."""

    def __init__(self, agreement: Agreement) -> None:
        self.agreement = agreement
        self.answers: dict[str, asyncio.Future[ExecutionOutcome]] = {}
        self.left = 0
        self.forged: dict[str, str] = {}
        """Why a node's answer was found forged ('' if not), for those already looked at."""

    def expect(self, futures: dict[asyncio.Future[ExecutionOutcome], str]) -> None:
        self.answers = {node_id: future for future, node_id in futures.items()}
        self.left = len(futures)
        for future in futures:
            future.add_done_callback(self._one_done)

    def _why_forged(self, node_id: str, outcome: ExecutionOutcome) -> str:
        if node_id not in self.forged:  # an answer that came after the quorum
            self.forged[node_id] = forged(outcome, self.agreement.versions)
        return self.forged[node_id]

    def _one_done(self, _: asyncio.Future[ExecutionOutcome]) -> None:
        self.left -= 1
        if self.left == 0:
            self.judge()

    def judge(self) -> None:
        self._judge()
        for node_id in self.answers:
            self.agreement.links[node_id].trust_changed()

    def _judge(self) -> None:
        agreement = self.agreement
        honest: dict[str, ExecutionOutcome] = {}
        for node_id, future in self.answers.items():
            if future.cancelled():
                continue
            if future.exception() is not None:
                agreement.trust[node_id].timed_out()
                continue
            outcome = future.result()
            agreement.observe(outcome)
            if outcome.elapsed_s > agreement.execution_timeout_s:
                agreement.trust[node_id].timed_out()
            elif self._why_forged(node_id, outcome):
                agreement.trust[node_id].dissented()
                log.warning("node %s gave a forged answer on %s", node_id, outcome.result.transaction_id)
            else:
                honest[node_id] = outcome
        groups: dict[str, list[str]] = {}
        for node_id, outcome in honest.items():
            groups.setdefault(outcome.result.result_digest, []).append(node_id)
        ranked = sorted(groups.values(), key=len, reverse=True)
        if not ranked or len(ranked[0]) < 2 or (len(ranked) > 1 and len(ranked[1]) == len(ranked[0])):
            return  # nobody to agree with, or no majority: no evidence either way
        majority = ranked[0]
        reference = _reads(honest[majority[0]].result)
        for node_id, outcome in honest.items():
            if node_id in majority:
                agreement.trust[node_id].agreed()
            elif _reads(outcome.result) == reference:
                agreement.trust[node_id].dissented()
                log.warning("node %s dissented on %s", node_id, outcome.result.transaction_id)


def _reads(result: ledger_pb2.ExecutionResult) -> tuple[tuple[str, int], ...]:
    return tuple((r.key, r.version) for r in result.reads)
