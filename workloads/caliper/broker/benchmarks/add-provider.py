"""Python port of add-provider.js: seed 004's addNetworkProvider, the same offers in the same order."""
from harness.connectors.base import Request
from harness.loadgen.workload import WorkloadModule


class AddProvider(WorkloadModule):
    def submit_transaction(self) -> Request:
        counter = getattr(self, "counter", 0)
        self.counter = counter + 1
        n = counter * self.total_workers + self.worker_index
        args = [f"np-{self.worker_index}-{counter:07d}", n % 4, self.round_arguments["unitsPerProvider"],
                100 + (n * 37) % 900, 1 + (n // 4) % 4, 1 + n % 3]
        return Request("broker", "addNetworkProvider", args)


def create_workload_module() -> WorkloadModule:
    return AddProvider()
