"""Workload modules: Python files, loaded by path, with Caliper's lifecycle.

A module defines ``create_workload_module()`` returning a :class:`WorkloadModule`. For each
round, each worker calls ``initialize_workload_module`` once, ``submit_transaction`` for every
transaction the rate controller schedules, and ``cleanup_workload_module`` at the end.

Unlike Caliper's JavaScript modules, ``submit_transaction`` returns the request instead of
sending it: the engine sends it at its intended time and times it, so a workload cannot skew
the measurement. A module whose ``submit_transaction`` takes an argument is given the
transaction's :class:`TransactionContext` (its class of service, worker and index), so it can
send each class the kind of work the class is for; one that takes none (a Caliper port) is
called without it.

Before anything starts, the controller calls ``check_arguments`` on a fresh instance with each
round's ``workload.arguments``: raise :class:`ArgumentError` there, and the benchmark is
refused with the file, line and argument, as for any other mistake in it (:func:`did_you_mean`
suggests the nearest valid name).
"""
from __future__ import annotations

import importlib.util
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.connectors.base import Connector, Request
from protocol.errors import HarnessError, did_you_mean
from vdlt.cos import ServiceClass

__all__ = ["ArgumentError", "TransactionContext", "WorkloadFailure", "WorkloadModule", "did_you_mean",
           "load_workload_module", "wants_context"]


@dataclass(frozen=True, slots=True)
class TransactionContext:
    service_class: ServiceClass
    cos: int
    """The whole CoS byte the transaction carries."""
    worker_index: int
    index: int
    """This worker's count of transactions before this one in the round."""
    round_index: int


class ArgumentError(ValueError):
    """A workload argument is wrong: ``argument`` names it (a key of ``workload.arguments``)."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(argument, message)
        self.argument = argument
        self.message = message

    def __str__(self) -> str:
        return f"{self.argument}: {self.message}"


class WorkloadModule:
    def check_arguments(self, arguments: dict[str, Any]) -> None:
        """Raise :class:`ArgumentError` for a round's arguments this module cannot run."""

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

    def submit_transaction(self, context: TransactionContext) -> Request:
        raise NotImplementedError

    def cleanup_workload_module(self) -> None:
        pass


class WorkloadLoadError(HarnessError):
    pass


class WorkloadFailure(Exception):
    """A workload module raised while a round ran: one line for the user, the traceback apart."""

    def __init__(self, message: str, traceback_text: str = "") -> None:
        super().__init__(message, traceback_text)
        self.message = message
        self.traceback_text = traceback_text

    def __str__(self) -> str:
        return self.message


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


def wants_context(workload: WorkloadModule) -> bool:
    """Whether ``workload.submit_transaction`` takes the transaction's context (a Caliper-style
    module's takes nothing)."""
    try:
        parameters = inspect.signature(workload.submit_transaction).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters)
