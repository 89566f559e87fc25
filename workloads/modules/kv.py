"""Key-value workload for the vdlt `kv` contract.

Arguments (all optional):
  operation: put | get | transfer     (default put)
  keys: number of distinct keys        (default 1000)
  accounts: accounts for transfers     (default 100; each gets a balance at the round's start)
"""
from __future__ import annotations

import random
from typing import Any

from harness.connectors.base import Connector, Request
from harness.loadgen.workload import WorkloadModule


class KvWorkload(WorkloadModule):
    def initialize_workload_module(self, worker_index: int, total_workers: int, round_index: int,
                                   round_arguments: dict[str, Any], connector: Connector,
                                   context: dict[str, Any]) -> None:
        super().initialize_workload_module(worker_index, total_workers, round_index, round_arguments,
                                           connector, context)
        self.operation = round_arguments.get("operation", "put")
        if self.operation not in ("put", "get", "transfer"):
            raise ValueError(f"kv workload: operation must be put, get or transfer, got {self.operation!r}")
        self.keys = int(round_arguments.get("keys", 1000))
        self.accounts = int(round_arguments.get("accounts", 100))
        self.random = random.Random(f"{round_index}/{worker_index}")
        self.sequence = 0
        # Transfers need funded accounts: the first transactions of each worker mint them.
        self.to_mint = [f"w{worker_index}-a{i}" for i in range(self.accounts)] if self.operation == "transfer" else []

    def submit_transaction(self) -> Request:
        self.sequence += 1
        if self.to_mint:
            return Request("kv", "mint", {"account": self.to_mint.pop(), "amount": 1_000_000})
        if self.operation == "transfer":
            source, target = self.random.sample(range(self.accounts), 2)
            return Request("kv", "transfer", {"from": f"w{self.worker_index}-a{source}",
                                              "to": f"w{self.worker_index}-a{target}", "amount": 1})
        key = f"key-{self.random.randrange(self.keys)}"
        if self.operation == "get":
            return Request("kv", "get", {"key": key})
        return Request("kv", "put", {"key": key, "value": f"{self.worker_index}-{self.sequence}"})


def create_workload_module() -> WorkloadModule:
    return KvWorkload()
