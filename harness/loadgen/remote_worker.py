"""Runs one worker job on a client node: `python -m harness.loadgen.remote_worker JOB_DIR`.

The controller puts ``job.pickle`` (a WorkerJob whose paths point into JOB_DIR) and the
workload module there, runs this, and fetches ``records.csv.gz`` back; the round's statistics
are computed from those records on the controller. The pickle comes from the controller that
installed this very build on the node. While the round runs, each progress update is one JSON
line on stdout, which the controller reads as it comes.
"""
from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

from harness.loadgen.worker import WorkerProgress, init_worker_process, run_worker


class StdoutProgress:
    """Where the worker reports progress on a client node: one JSON line per update."""

    def put(self, progress: WorkerProgress) -> None:
        print(json.dumps({"progress": progress.per_class}), flush=True)


def main(job_dir: Path) -> int:
    job = pickle.loads((job_dir / "job.pickle").read_bytes())
    init_worker_process(StdoutProgress())
    run_worker(job)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
