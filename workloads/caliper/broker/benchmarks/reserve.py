"""Python port of reserve.js: seed 004's ResourceReservationTransaction, round-robin over the offers."""
from harness.connectors.base import Request
from harness.loadgen.workload import WorkloadModule


class Reserve(WorkloadModule):
    def submit_transaction(self) -> Request:
        counter = getattr(self, "counter", 0)
        self.counter = counter + 1
        n = counter * self.total_workers + self.worker_index
        return Request("broker", "reserve", [n % self.round_arguments["providers"], self.round_arguments["units"]])


def create_workload_module() -> WorkloadModule:
    return Reserve()
