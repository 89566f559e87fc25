"""Seed 004's resource broker (workloads/contracts/resource-broker.json), one operation a round.

    workload:
      module: ../modules/broker.py
      arguments: {operation: reserve}        # addNetworkProvider | getBestMatch | reserve
                                             # transaction: true sends getBestMatch as a transaction

``addNetworkProvider`` registers offers that cycle through every resource type, region and SLA
level; ``getBestMatch`` asks for the cheapest offer that serves a request that some offer
serves (a read, ``eth_call``, unless ``transaction: true``: seed 004's latencies of up to 15 s
for it only make sense for a transaction that waits its turn in a block); ``reserve`` buys one
unit from the first ``providers`` offers in turn (a round of ``addNetworkProvider`` must have
added them on the same chain). The same requests as the Caliper workspace's modules
(workloads/caliper/broker/benchmarks/), for the harness's own benchmarks and campaigns.
"""
from __future__ import annotations

from typing import Any

from harness.connectors.base import Request
from harness.loadgen.workload import ArgumentError, TransactionContext, WorkloadModule, did_you_mean

OPERATIONS = ("addNetworkProvider", "getBestMatch", "reserve")
ARGUMENTS = ("operation", "transaction", "providers", "units", "unitsPerProvider")


class Broker(WorkloadModule):
    def check_arguments(self, arguments: dict[str, Any]) -> None:
        for key in arguments:
            if key not in ARGUMENTS:
                raise ArgumentError(key, f"unknown argument{did_you_mean(key, ARGUMENTS)}; known: {', '.join(ARGUMENTS)}")
        operation = arguments.get("operation")
        if operation not in OPERATIONS:
            raise ArgumentError("operation", f"must be one of {', '.join(OPERATIONS)}, got {operation!r}"
                                             f"{did_you_mean(str(operation), OPERATIONS)}")
        for key in ("providers", "units", "unitsPerProvider"):
            value = arguments.get(key, 1)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ArgumentError(key, f"must be an integer >= 1, got {value!r}")
        if not isinstance(arguments.get("transaction", False), bool):
            raise ArgumentError("transaction", f"must be true or false, got {arguments['transaction']!r}")

    def initialize_workload_module(self, worker_index: int, total_workers: int, round_index: int,
                                   round_arguments: dict[str, Any], connector: Any, context: dict[str, Any]) -> None:
        super().initialize_workload_module(worker_index, total_workers, round_index, round_arguments, connector,
                                           context)
        self.operation = round_arguments["operation"]
        self.as_transaction = round_arguments.get("transaction", False)
        self.providers = round_arguments.get("providers", 48)
        self.units = round_arguments.get("units", 1)
        self.units_per_provider = round_arguments.get("unitsPerProvider", 1_000_000)

    def submit_transaction(self, context: TransactionContext) -> Request:
        n = context.index * self.total_workers + self.worker_index
        if self.operation == "addNetworkProvider":
            return Request("broker", "addNetworkProvider", [f"np-{self.worker_index}-{context.index:07d}", n % 4,
                                                             self.units_per_provider, 100 + (n * 37) % 900,
                                                             1 + (n // 4) % 4, 1 + n % 3])
        if self.operation == "getBestMatch":
            return Request("broker", "getBestMatch", [n % 4, 1 + n % 7, n % 5, 1 + n % 3],
                           read_only=False if self.as_transaction else None)
        return Request("broker", "reserve", [n % self.providers, self.units])


def create_workload_module() -> WorkloadModule:
    return Broker()
