"""Python port of get-best-match.js: seed 004's getBestMatch, a read (eth_call), the same requests."""
from harness.connectors.base import Request
from harness.loadgen.workload import WorkloadModule


class GetBestMatch(WorkloadModule):
    def submit_transaction(self) -> Request:
        counter = getattr(self, "counter", 0)
        self.counter = counter + 1
        n = counter * self.total_workers + self.worker_index
        return Request("broker", "getBestMatch", [n % 4, 1 + n % 7, n % 5, 1 + n % 3])


def create_workload_module() -> WorkloadModule:
    return GetBestMatch()
