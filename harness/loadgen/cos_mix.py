"""Which CoS byte each transaction of a round carries.

Smooth weighted round robin over the mix gives every prefix of the sequence the mix's
proportions (within one transaction per class), deterministically. The sequence is global to
the round; worker ``w`` of ``W`` takes elements ``w, w+W, ...`` like the rate schedule.
"""
from __future__ import annotations

from typing import Iterator, Sequence


def global_sequence(weights: Sequence[float]) -> Iterator[int]:
    """Indices into ``weights``, forever."""
    total = sum(weights)
    current = [0.0] * len(weights)
    while True:
        for i, weight in enumerate(weights):
            current[i] += weight
        chosen = max(range(len(weights)), key=current.__getitem__)
        current[chosen] -= total
        yield chosen


def worker_sequence(weights: Sequence[float], worker_index: int, worker_count: int) -> Iterator[int]:
    for position, chosen in enumerate(global_sequence(weights)):
        if position % worker_count == worker_index:
            yield chosen
