"""Load workers on client-role nodes, started and stopped by the controller for every round.

Unlike Caliper's MQTT workers, nothing is launched by hand on the client machines: for each
round the controller uploads the job and the workload module over SSH (fabric, host keys
checked), runs the worker, and fetches its transaction records into the run folder. The
worker's progress lines come back over the same SSH session while the round runs.
"""
from __future__ import annotations

import dataclasses
import json
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import paramiko

from harness.loadgen.metrics import ClassStats, stats_from_records
from harness.loadgen.remote_worker import WORKLOAD_FAILED_EXIT
from harness.loadgen.worker import WorkerJob, WorkerProgress
from harness.loadgen.workload import WorkloadFailure
from harness.provision import tls
from harness.provision.inventory import Node
from harness.provision.remote_exec import connection
from protocol.errors import HarnessError


ProgressSink = Callable[[WorkerProgress], None]


class _ProgressLines:
    """fabric's ``out_stream`` for a remote worker: each complete progress line it prints is
    handed on as it arrives (other output is ignored; the whole of it is still in the result)."""

    def __init__(self, job: WorkerJob, on_progress: ProgressSink) -> None:
        self.job = job
        self.on_progress = on_progress
        self.partial = ""

    def write(self, data: str) -> None:
        *lines, self.partial = (self.partial + data).split("\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and isinstance(message.get("progress"), dict):
                per_class = {slug: (int(c[0]), int(c[1]), int(c[2])) for slug, c in message["progress"].items()}
                self.on_progress(WorkerProgress(self.job.round.index, self.job.worker_index, per_class))

    def flush(self) -> None:
        pass


class RemoteWorkers:
    def __init__(self, clients: list[Node]) -> None:
        if not clients:
            raise HarnessError("workers of type remote need hosts in the inventory's 'client' group")
        self.clients = clients

    def _job_dir(self, node: Node, job: WorkerJob) -> str:
        return f"{node.node_dir}/jobs/{job.run_token}-{job.round.index}-{job.worker_index}"

    def run_one(self, job: WorkerJob, on_progress: ProgressSink) -> dict[str, ClassStats]:
        """Runs one worker job on its client node and fetches its records; returns its per-class
        statistics, which the controller computes from those records (a client node needs no
        histogram library, which PyPI has no binary wheel of for most non-x86 machines)."""
        node = self.clients[job.worker_index % len(self.clients)]
        job_dir = self._job_dir(node, job)
        python = node.variables.get("vdlt_python", "/opt/vdlt/venv/bin/python")
        remote_spec = dataclasses.replace(job.round, workload_module=Path(f"{job_dir}/workload.py"),
                                          base_dir=Path(job_dir))
        # A client node calls the control node with its own certificate, which the playbooks put there.
        remote_tls = tls.node_files_on_node(node.node_dir) if job.tls is not None else None
        remote_job = dataclasses.replace(job, round=remote_spec, records_path=Path(f"{job_dir}/records.csv.gz"),
                                         tls=remote_tls)
        with connection(node) as conn:
            try:
                conn.run(f"mkdir -p {job_dir}", hide=True)
                conn.put(str(job.round.workload_module), f"{job_dir}/workload.py")
                local_pickle = job.records_path.with_suffix(".job.pickle")
                local_pickle.parent.mkdir(parents=True, exist_ok=True)
                local_pickle.write_bytes(pickle.dumps(remote_job))
                conn.put(str(local_pickle), f"{job_dir}/job.pickle")
                local_pickle.unlink()
                result = conn.run(f"{python} -m harness.loadgen.remote_worker {job_dir}", hide=True, warn=True,
                                  timeout=_round_limit_s(job), out_stream=_ProgressLines(job, on_progress))
                if result.exited not in (0, WORKLOAD_FAILED_EXIT):
                    raise HarnessError(f"load worker {job.worker_index} on {node.name} failed: "
                                       f"{result.stderr.strip()[-1500:]}")
                conn.get(f"{job_dir}/records.csv.gz", str(job.records_path))
                if result.exited == WORKLOAD_FAILED_EXIT:
                    *trace, message = result.stderr.rstrip().splitlines() or [""]
                    raise WorkloadFailure(f"{message} (on {node.name})", "\n".join(trace))
            finally:
                # Stop a worker still running (an interrupted round) and leave nothing behind.
                # [r]: pkill -f would otherwise match (and kill) the shell running this very line.
                conn.run(f"pkill -f '[r]emote_worker {job_dir}'; rm -rf {job_dir}", hide=True, warn=True)
        return stats_from_records([job.records_path], [share.slug for share in job.round.cos_mix])


    def stop(self, jobs: list[WorkerJob]) -> None:
        """Tells these jobs' workers to stop (SIGTERM: a worker then writes its records and
        exits, and :meth:`run_one` fetches them as after a round that ended)."""
        def one(job: WorkerJob) -> None:
            node = self.clients[job.worker_index % len(self.clients)]
            try:
                with connection(node) as conn:
                    conn.run(f"pkill -TERM -f '[r]emote_worker {self._job_dir(node, job)}'", hide=True, warn=True,
                             timeout=10)
            except (OSError, paramiko.SSHException):
                pass  # a node that cannot be reached has no worker to stop: its session ends with ours

        with ThreadPoolExecutor(max_workers=max(len(jobs), 1)) as pool:
            list(pool.map(one, jobs))


def _round_limit_s(job: WorkerJob) -> float:
    spec = job.round
    if spec.tx_duration_s is not None:
        return spec.tx_duration_s + spec.timeout_s + 120
    return 3600 + spec.timeout_s
