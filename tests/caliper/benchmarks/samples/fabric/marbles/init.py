"""Python port of a Caliper marbles init workload: creates marbles as key-value entries."""
from harness.connectors.base import Request
from harness.loadgen.workload import WorkloadModule


class InitMarbles(WorkloadModule):
    def submit_transaction(self) -> Request:
        self.count = getattr(self, "count", 0) + 1
        name = f"marble_{self.worker_index}_{self.count}"
        return Request("kv", "put", {"key": name, "value": {"color": "blue", "size": 50, "owner": "tom"}})


def create_workload_module() -> WorkloadModule:
    return InitMarbles()
