"""Transaction schedulers at the control node: class-based weighted fair queuing, and FIFO.

CBWFQ keeps one bounded queue per class and serves them by start-time fair queuing: each
transaction gets a virtual finish tag ``max(V, last finish of its class) + 1/weight`` and the
smallest tag goes next, so under saturation each class gets service in proportion to its
weight. A strict-priority class (management/control) is served before all others as long as
its token bucket (rate cap, burst) allows; beyond the cap it waits for tokens, so it can never
starve the rest. A full queue refuses the transaction, and the caller drops it with the reason.

The core is synchronous with an injectable clock so its shares can be tested exactly;
:class:`AsyncScheduler` puts the waiting around it.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from vdlt.cos import ServiceClass
from vdlt.policy import Policy

T = TypeVar("T")
Clock = Callable[[], float]


class QueueFull(Exception):
    pass


@dataclass
class _TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def seconds_until_token(self) -> float:
        return max(0.0, (1.0 - self.tokens) / self.rate)


class CbwfqCore(Generic[T]):
    def __init__(self, policy: Policy, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.queues: dict[ServiceClass, deque[tuple[float, T]]] = {c: deque() for c in ServiceClass}
        self.limits = {c: policy.classes[c].limit for c in ServiceClass}
        self.weights = {c: policy.classes[c].weight for c in ServiceClass}
        self.strict = [c for c in ServiceClass if policy.classes[c].strict]
        now = clock()
        self.buckets = {
            c: _TokenBucket(policy.classes[c].rate_cap_tps, policy.classes[c].burst, policy.classes[c].burst, now)
            for c in self.strict
        }
        self.virtual_time = 0.0
        self.last_finish = {c: 0.0 for c in ServiceClass}

    def offer(self, item: T, service_class: ServiceClass) -> None:
        queue = self.queues[service_class]
        if len(queue) >= self.limits[service_class]:
            raise QueueFull(f"{service_class.slug} queue is full ({self.limits[service_class]} waiting)")
        finish = max(self.virtual_time, self.last_finish[service_class]) + 1.0 / self.weights[service_class]
        self.last_finish[service_class] = finish
        queue.append((finish, item))

    def take(self) -> tuple[T, ServiceClass] | None:
        """The next transaction to serve, or None when nothing may be served now."""
        now = self.clock()
        for service_class in self.strict:
            bucket = self.buckets[service_class]
            bucket.refill(now)
            if self.queues[service_class] and bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                _, item = self.queues[service_class].popleft()
                return item, service_class
        best: ServiceClass | None = None
        for service_class, queue in self.queues.items():
            if queue and service_class not in self.buckets:
                if best is None or queue[0][0] < self.queues[best][0][0]:
                    best = service_class
        if best is None:
            return None
        finish, item = self.queues[best].popleft()
        # Virtual time is the start tag of what is served, and never goes back: a light class's
        # item starts earlier than a heavy class's served before it, and going back to its start
        # would let a class that becomes active then jump ahead of every class already waiting.
        self.virtual_time = max(self.virtual_time, finish - 1.0 / self.weights[best])
        return item, best

    def wait_hint(self) -> float | None:
        """Seconds until a strict class's token arrives, when only such transactions wait."""
        waits = [self.buckets[c].seconds_until_token() for c in self.strict if self.queues[c]]
        return min(waits) if waits else None

    def depth(self) -> dict[str, int]:
        return {c.slug: len(q) for c, q in self.queues.items() if q}


class FifoCore(Generic[T]):
    def __init__(self, policy: Policy, clock: Clock = time.monotonic) -> None:
        self.queue: deque[tuple[T, ServiceClass]] = deque()
        self.limit = policy.fifo_limit

    def offer(self, item: T, service_class: ServiceClass) -> None:
        if len(self.queue) >= self.limit:
            raise QueueFull(f"queue is full ({self.limit} waiting)")
        self.queue.append((item, service_class))

    def take(self) -> tuple[T, ServiceClass] | None:
        return self.queue.popleft() if self.queue else None

    def wait_hint(self) -> float | None:
        return None

    def depth(self) -> dict[str, int]:
        return {"all": len(self.queue)} if self.queue else {}


def make_core(policy: Policy, clock: Clock = time.monotonic) -> CbwfqCore | FifoCore:
    return CbwfqCore(policy, clock) if policy.scheduler == "cbwfq" else FifoCore(policy, clock)


class AsyncScheduler(Generic[T]):
    def __init__(self, policy: Policy) -> None:
        self.core = make_core(policy)
        self._arrived = asyncio.Event()

    def offer(self, item: T, service_class: ServiceClass) -> None:
        self.core.offer(item, service_class)
        self._arrived.set()

    async def take(self) -> tuple[T, ServiceClass]:
        while True:
            taken = self.core.take()
            if taken is not None:
                return taken
            self._arrived.clear()
            hint = self.core.wait_hint()
            try:
                await asyncio.wait_for(self._arrived.wait(), hint)
            except TimeoutError:
                pass
