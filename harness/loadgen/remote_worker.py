"""Runs one worker job on a client node: `python -m harness.loadgen.remote_worker JOB_DIR`.

The controller puts ``job.pickle`` (a WorkerJob whose paths point into JOB_DIR) and the
workload module there, runs this, and fetches ``records.csv.gz`` back; the round's statistics
are computed from those records on the controller. The pickle comes from the controller that
installed this very build on the node. While the round runs, each progress update is one JSON
line on stdout, which the controller reads as it comes.

The worker stops early, writing what it recorded, on SIGTERM (the controller stopping the run)
and when its progress line can no longer be written (the controller's SSH session is gone).
"""
from __future__ import annotations

import json
import pickle
import signal
import sys
import threading
from pathlib import Path

from harness.loadgen.worker import WorkerProgress, init_worker_process, run_worker
from harness.loadgen.workload import WorkloadFailure

# The worker's workload module raised: stderr ends with its traceback and a one-line message.
WORKLOAD_FAILED_EXIT = 3


class StdoutProgress:
    """Where the worker reports progress on a client node: one JSON line per update."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def put(self, progress: WorkerProgress) -> None:
        try:
            print(json.dumps({"progress": progress.per_class}), flush=True)
        except (BrokenPipeError, OSError):
            self.stop.set()


def main(job_dir: Path) -> int:
    job = pickle.loads((job_dir / "job.pickle").read_bytes())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    init_worker_process(StdoutProgress(stop), stop)
    try:
        run_worker(job)
    except WorkloadFailure as failure:
        print(failure.traceback_text, file=sys.stderr)
        print(failure.message, file=sys.stderr)
        return WORKLOAD_FAILED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
