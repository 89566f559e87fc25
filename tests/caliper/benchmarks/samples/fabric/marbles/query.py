"""Python port of a Caliper marbles query workload."""
from harness.connectors.base import Request
from harness.loadgen.workload import WorkloadModule


class QueryMarbles(WorkloadModule):
    def submit_transaction(self) -> Request:
        self.count = getattr(self, "count", 0) + 1
        index = self.count % int(self.round_arguments.get("marblesPerWorker", 10)) + 1
        return Request("kv", "get", {"key": f"marble_{self.worker_index}_{index}"})


def create_workload_module() -> WorkloadModule:
    return QueryMarbles()
