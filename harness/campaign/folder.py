"""A campaign folder: its manifest, its index of trials and their states, one run folder per trial.

    CAMPAIGN_DIR/
      campaign.yaml         the campaign file as it was run
      campaign.json         id, seed, order, cells, the trials in the order they run
      index.json            every trial's state (pending, running, complete, failed, interrupted)
                            and its run folder; rewritten atomically at every change
      testbeds/NAME/        each testbed's inventory as the campaign runs it (profiles, policy)
      cells/CELL/RUN_ID/    the run folder of each trial
      abandoned/            run folders of trials a killed campaign left half done (rerun on resume)
      comparison.csv, comparison.json, report.html

The index is the source of truth for ``--resume``: a trial is done when the index says
``complete``; anything else runs (again), and a run folder it left is moved to ``abandoned/``.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import __version__
from harness.campaign.config import Campaign
from harness.config.benchmark import Benchmark
from harness.store.folder import iso_time, write_atomic
from harness.store.manifest import git_revision
from protocol.errors import HarnessError

MANIFEST, INDEX, COPY, LOCK = "campaign.json", "index.json", "campaign.yaml", ".lock"
PENDING, RUNNING, COMPLETE, FAILED, INTERRUPTED = "pending", "running", "complete", "failed", "interrupted"
DEFAULT_CAMPAIGNS_DIR = Path("results") / "campaigns"


@dataclass
class Trial:
    cell: str
    repetition: int
    state: str = PENDING
    run: str | None = None
    """The run folder, relative to the campaign folder."""
    started_at: str | None = None
    ended_at: str | None = None
    duration_s: float | None = None
    exit_code: int | None = None
    detail: str | None = None

    @property
    def key(self) -> str:
        return f"{self.cell}#{self.repetition}"

    def reset(self) -> None:
        """To run again: nothing of an attempt before stays (its state, run, exit code, why)."""
        self.state, self.run, self.started_at, self.ended_at = PENDING, None, None, None
        self.duration_s, self.exit_code, self.detail = None, None, None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trial:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


def searched_shares(benchmark: Benchmark) -> dict[str, float]:
    """Each class's share of the mix of the benchmark's saturation searches (for the placement)."""
    shares = {}
    for spec in benchmark.rounds:
        if spec.saturation is not None:
            shares.update(spec.shares)
    return shares


class CampaignFolder:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, parent: Path, campaign: Campaign, seed: int, trials: list[Trial]) -> CampaignFolder:
        """Made whole under a temporary name and renamed into place: a campaign folder that
        exists has its manifest and its index."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        parent.mkdir(parents=True, exist_ok=True)
        name = f"{stamp}-{campaign.name}"
        if (parent / name).exists():
            name = f"{name}-{secrets.token_hex(2)}"
        staging = parent / f".{name}.partial"
        staging.mkdir()
        shutil.copyfile(campaign.path, staging / COPY)
        manifest = {
            "id": name, "name": campaign.name, "description": campaign.description,
            "source": str(campaign.path.resolve()), "created_at": iso_time(time.time_ns()),
            "harness": {"version": __version__, **git_revision()}, "repetitions": campaign.repetitions,
            "order": campaign.order, "seed": seed,
            "benchmarks": {name: {"file": str(b.path.resolve()), "searched_shares": searched_shares(b)}
                           for name, b in campaign.benchmarks.items()},
            "cells": [{"id": c.id, "benchmark": c.benchmark, "testbed": c.testbed, "policy": c.policy}
                      for c in campaign.cells],
            "testbeds": {name: {"inventory": str(t.inventory.path) if t.inventory is not None else None,
                                "network": str(t.network.path) if t.network is not None else None,
                                "execution_profile": t.execution_profile,
                                "execution_nodes": t.execution_count(), "cost_per_hour": t.node_cost(),
                                "emulated": bool(t.profiles),
                                "profiles": {g: {"name": p.name, "limits": p.to_limits(), "source": p.source}
                                             for g, p in t.profiles.items()}}
                         for name, t in campaign.testbeds.items()},
            "policies": {name: p.overrides for name, p in campaign.policies.items()},
            "replicas": {name: p.replicas for name, p in campaign.policies.items()},
            "placement": ({"targets": campaign.placement.targets, "max_nodes": campaign.placement.max_nodes}
                          if campaign.placement else None),
        }
        write_atomic(staging / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        cls(staging).write_index(trials)
        os.replace(staging, parent / name)
        return cls(parent / name)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def campaign_file(self) -> Path:
        return self.path / COPY

    @property
    def source_dir(self) -> Path:
        """Where the campaign file was: its relative paths are relative to that folder."""
        return Path(self.manifest()["source"]).parent

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held while a harness works on the folder: a second one (a `--resume` typed twice) is
        refused instead of taking the first one's trials for leftovers."""
        with (self.path / LOCK).open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise HarnessError(f"{self.path}: another harness works on this campaign "
                                   f"(pid {handle.read().strip() or '?'})") from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / MANIFEST).read_text())

    def read_index(self) -> list[Trial]:
        return [Trial.from_json(t) for t in json.loads((self.path / INDEX).read_text())["trials"]]

    def write_index(self, trials: list[Trial]) -> None:
        # Rewritten whole and renamed into place: a kill at any instant leaves the old or the new one.
        write_atomic(self.path / INDEX, json.dumps({"trials": [t.to_json() for t in trials]}, indent=1) + "\n")

    def testbed_dir(self, name: str) -> Path:
        return self.path / "testbeds" / name

    def cell_dir(self, cell: str) -> Path:
        return self.path / "cells" / cell

    def abandon_leftovers(self, trials: list[Trial]) -> list[str]:
        """After a kill: a run folder that finished whole before its trial's index entry was
        written is adopted by that trial; every other run folder no complete trial claims (a half
        trial) is moved to ``abandoned/``, since a trial's figures come from one whole run.
        Returns what it moved."""
        claimed = {t.run for t in trials if t.state == COMPLETE and t.run}
        for trial in trials:
            if trial.state == RUNNING:
                adopted = self._finished_run_of(trial, claimed)
                if adopted is not None:
                    trial.state, trial.run, trial.detail = COMPLETE, adopted, "adopted at resume"
                    claimed.add(adopted)
        moved = []
        for cell_dir in sorted((self.path / "cells").glob("*")):
            for run_dir in sorted(p for p in cell_dir.iterdir() if p.is_dir()):
                relative = str(run_dir.relative_to(self.path))
                if relative not in claimed:
                    target = self.path / "abandoned" / cell_dir.name / run_dir.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(run_dir, target)
                    moved.append(relative)
        return moved

    def _finished_run_of(self, trial: Trial, claimed: set[str]) -> str | None:
        for run_dir in sorted((self.cell_dir(trial.cell)).glob("*/summary.json")):
            relative = str(run_dir.parent.relative_to(self.path))
            if relative in claimed:
                continue
            summary = json.loads(run_dir.read_text())
            manifest_path = run_dir.parent / "manifest.json"
            mark = json.loads(manifest_path.read_text()).get("campaign") if manifest_path.is_file() else None
            audit = summary.get("audit") or {}
            if (summary.get("status") == "complete" and isinstance(mark, dict)
                    and mark.get("repetition") == trial.repetition and audit.get("ok", True) is not False):
                return relative
        return None
