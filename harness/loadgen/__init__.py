"""The load generator: rate controllers, workload modules, worker processes, the round engine."""
