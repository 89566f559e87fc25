"""Key-value workload for the vdlt contracts, sending each class of service its kind of work.

Arguments (all optional):
  operation: put | get | transfer | hash   (default put); hash: every class runs the compute
                                       contract (`iterations` SHA-256 rounds), execution work a
                                       node's CPU bounds, as a contract doing real work
  keys: number of distinct keys        (default 1000)
  accounts: accounts for transfers     (default 100; each gets a balance at the round's start)
  class_work: true | false             (default true) computation-intensive transactions run the
                                       compute contract and storage-intensive ones the storage
                                       contract (a write for put and transfer, a read for get);
                                       every other class, and all with false, use the kv contract
  iterations: SHA-256 rounds of a computation-intensive transaction   (default 5000)
  size: bytes a storage-intensive write stores                         (default 4096)
"""
from __future__ import annotations

import random
from typing import Any

from harness.connectors.base import Connector, Request
from harness.loadgen.workload import ArgumentError, TransactionContext, WorkloadModule, did_you_mean
from vdlt.cos import ServiceClass

OPERATIONS = ("put", "get", "transfer", "hash")
ARGUMENTS = ("operation", "keys", "accounts", "class_work", "iterations", "size")
# Bounds of the contracts themselves (vdlt/contracts/compute.py, storage.py).
MAX_ITERATIONS = 10_000_000
MAX_SIZE = 1 << 20


class KvWorkload(WorkloadModule):
    def check_arguments(self, arguments: dict[str, Any]) -> None:
        for name in arguments:
            if name not in ARGUMENTS:
                raise ArgumentError(name, f"unknown argument{did_you_mean(name, ARGUMENTS)}; "
                                          f"kv.py takes {', '.join(ARGUMENTS)}")
        operation = arguments.get("operation", "put")
        if operation not in OPERATIONS:
            raise ArgumentError("operation", f"must be one of {', '.join(OPERATIONS)}, got {operation!r}"
                                             f"{did_you_mean(str(operation), OPERATIONS)}")
        for name, low, high in (("keys", 1, None), ("accounts", 2, None), ("iterations", 1, MAX_ITERATIONS),
                                ("size", 1, MAX_SIZE)):
            value = arguments.get(name, low)
            if not isinstance(value, int) or isinstance(value, bool) or value < low or (high and value > high):
                bound = f"from {low} to {high}" if high else f">= {low}"
                raise ArgumentError(name, f"must be an integer {bound}, got {value!r}")
        if not isinstance(arguments.get("class_work", True), bool):
            raise ArgumentError("class_work", f"must be true or false, got {arguments['class_work']!r}")

    def initialize_workload_module(self, worker_index: int, total_workers: int, round_index: int,
                                   round_arguments: dict[str, Any], connector: Connector,
                                   context: dict[str, Any]) -> None:
        super().initialize_workload_module(worker_index, total_workers, round_index, round_arguments,
                                           connector, context)
        self.check_arguments(round_arguments)
        self.operation = round_arguments.get("operation", "put")
        self.keys = int(round_arguments.get("keys", 1000))
        self.accounts = int(round_arguments.get("accounts", 100))
        self.class_work = bool(round_arguments.get("class_work", True))
        self.iterations = int(round_arguments.get("iterations", 5_000))
        self.size = int(round_arguments.get("size", 4096))
        self.random = random.Random(f"{round_index}/{worker_index}")
        self.sequence = 0
        # Transfers need funded accounts: the first transactions of each worker mint them.
        self.to_mint = [f"w{worker_index}-a{i}" for i in range(self.accounts)] if self.operation == "transfer" else []

    def submit_transaction(self, context: TransactionContext) -> Request:
        self.sequence += 1
        key = f"key-{self.random.randrange(self.keys)}"
        if self.operation == "hash" or (self.class_work and context.service_class == ServiceClass.COMPUTATION_INTENSIVE):
            return Request("compute", "hash", {"seed": f"{key}/{self.sequence}", "iterations": self.iterations})
        if self.class_work and context.service_class == ServiceClass.STORAGE_INTENSIVE:
            if self.operation == "get":
                return Request("storage", "read", {"key": key})
            return Request("storage", "write", {"key": key, "size": self.size})
        if self.to_mint:
            return Request("kv", "mint", {"account": self.to_mint.pop(), "amount": 1_000_000})
        if self.operation == "transfer":
            source, target = self.random.sample(range(self.accounts), 2)
            return Request("kv", "transfer", {"from": f"w{self.worker_index}-a{source}",
                                              "to": f"w{self.worker_index}-a{target}", "amount": 1})
        if self.operation == "get":
            return Request("kv", "get", {"key": key})
        return Request("kv", "put", {"key": key, "value": f"{self.worker_index}-{self.sequence}"})


def create_workload_module() -> WorkloadModule:
    return KvWorkload()
