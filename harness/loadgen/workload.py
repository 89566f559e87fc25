"""Workload modules: Python files, loaded by path, with Caliper's lifecycle.

A module defines ``create_workload_module()`` returning a :class:`WorkloadModule`. For each
round, each worker calls ``initialize_workload_module`` once, ``submit_transaction`` for every
transaction the rate controller schedules, and ``cleanup_workload_module`` at the end.

Unlike Caliper's JavaScript modules, ``submit_transaction`` returns the request instead of
sending it: the engine sends it at its intended time and times it, so a workload cannot skew
the measurement.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from harness.connectors.base import Connector, Request


class WorkloadModule:
    def initialize_workload_module(
        self,
        worker_index: int,
        total_workers: int,
        round_index: int,
        round_arguments: dict[str, Any],
        connector: Connector,
        context: dict[str, Any],
    ) -> None:
        self.worker_index = worker_index
        self.total_workers = total_workers
        self.round_index = round_index
        self.round_arguments = round_arguments
        self.connector = connector
        self.context = context

    def submit_transaction(self) -> Request:
        raise NotImplementedError

    def cleanup_workload_module(self) -> None:
        pass


class WorkloadLoadError(Exception):
    pass


def load_workload_module(path: Path) -> WorkloadModule:
    spec = importlib.util.spec_from_file_location(f"workload_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise WorkloadLoadError(f"{path}: cannot load as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    factory = getattr(module, "create_workload_module", None)
    if factory is None:
        raise WorkloadLoadError(f"{path}: defines no create_workload_module()")
    workload = factory()
    if not isinstance(workload, WorkloadModule):
        raise WorkloadLoadError(f"{path}: create_workload_module() must return a harness.loadgen.workload.WorkloadModule")
    return workload
