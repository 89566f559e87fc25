"""Campaigns: a malformed file is refused before anything starts; a campaign killed mid-trial
resumes to the same result as one that ran through; the report compares the testbeds."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from harness.campaign.config import load_campaign
from harness.campaign.folder import CampaignFolder
from harness.campaign.placement import _cheapest
from harness.campaign.report import CellClass, comparisons
from harness.campaign.runner import trial_order
from harness.config.benchmark import SaturationSpec
from harness.run.saturation import BISECT, UP, SaturationSearch
from harness.store.saturation import BELOW_START, GENERATOR, NOT_REACHED, REACHED
from tests.conftest import harness

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "workloads" / "campaigns" / "profiles-quickstart.yaml"
SEARCH = REPO / "workloads" / "benchmarks" / "saturation.yaml"


# -- the search alone, against a system whose capacities are known --------------------------------

def _search(capacity: dict[str, float], spec: SaturationSpec, generator_limit: float = float("inf")
            ) -> tuple[SaturationSearch, dict[str, tuple]]:
    search = SaturationSearch(spec, list(capacity))
    while (step := search.next_step()) is not None:
        rate, phase = step
        search.record(rate, phase, {slug: rate <= cap for slug, cap in capacity.items()}, rate <= generator_limit,
                      len(search.steps))
    return search, search.outcome()


def test_search_steps_up_then_bisects_each_class_to_its_own_bracket() -> None:
    search, outcome = _search({"fast-confirmation": 500, "best-effort": 1300},
                              SaturationSpec(start_tps=100, step_factor=2, max_tps=10_000, bisections=3))
    ups = [s.offered_tps for s in search.steps if s.phase == UP]
    assert ups == [100, 200, 400, 800, 1600]  # up until every class missed
    fast, best = outcome["fast-confirmation"], outcome["best-effort"]
    assert fast[1] == best[1] == REACHED
    # Each saturation is a rate measured meeting the SLO, within an eighth of its first bracket.
    assert 400 <= fast[0] <= 500 < fast[2] <= 800 and fast[2] - fast[0] <= 400 / 8 + 1
    assert 800 <= best[0] <= 1300 < best[2] <= 1600 and best[2] - best[0] <= 800 / 8 + 1
    assert sum(s.phase == BISECT for s in search.steps) == 6


def test_search_reports_classes_beyond_the_range_and_below_the_start() -> None:
    _, outcome = _search({"best-effort": 10_000, "fast-confirmation": 50},
                         SaturationSpec(start_tps=100, step_factor=2, max_tps=800, bisections=2))
    assert outcome["best-effort"][:2] == (800, NOT_REACHED)
    assert outcome["fast-confirmation"][:2] == (None, BELOW_START)


def test_a_generator_that_falls_behind_bounds_the_search_and_says_so() -> None:
    search, outcome = _search({"best-effort": 10_000}, SaturationSpec(start_tps=100, step_factor=2, max_tps=6400),
                              generator_limit=500)
    assert max(s.offered_tps for s in search.steps) == 800  # no step above the first the generator missed
    saturation, bound, limit, _ = outcome["best-effort"]
    assert bound == GENERATOR and saturation is not None and 400 <= saturation < limit <= 800


# -- the placement alone -------------------------------------------------------------------------

def test_the_placement_buys_the_cheapest_set_that_serves_every_class() -> None:
    per_node = {"small": {"best-effort": 100.0, "fast-confirmation": 30.0},
                "big": {"best-effort": 300.0, "fast-confirmation": 100.0}}
    cost = {"small": 0.02, "big": 0.10}
    answer = _cheapest("b", "p", {"best-effort": 450, "fast-confirmation": 150}, per_node, cost, 8, 2)
    # 5 small (0.10/h) beats 2 big (0.20/h) and 1 big + 2 small (0.14/h), and just serves fast confirmation.
    assert answer.nodes == {"big": 0, "small": 5} and answer.cost_per_hour == pytest.approx(0.10)
    assert answer.margin == pytest.approx(0.0) and answer.served["best-effort"] == pytest.approx(500)
    # Two replicas asked: one node is never enough, however fast.
    assert _cheapest("b", "p", {"best-effort": 50}, per_node, cost, 8, 2).nodes == {"big": 0, "small": 2}
    beyond = _cheapest("b", "p", {"fast-confirmation": 1000}, per_node, cost, 8, 2)
    assert beyond.nodes is None and "at most 800 tx/s with 8 nodes" in beyond.unserved["fast-confirmation"]


# -- the comparison of two testbeds' searches -----------------------------------------------------

def _searched(testbed: str, met: list[float], missed: list[float]) -> CellClass:
    cell = CellClass("b", "p", testbed, testbed, 2, True, 0.04, "best-effort")
    cell.saturation, cell.reached = list(met), list(met)
    cell.resolution = [m - s for s, m in zip(met, missed)]
    cell.bounds = [REACHED] * len(met)
    return cell


def test_repetitions_that_agree_exactly_are_read_through_the_searches_brackets() -> None:
    found = {("capped", "best-effort"): _searched("capped", [600.0] * 3, [750.0] * 3),
             ("uncapped", "best-effort"): _searched("uncapped", [1200.0] * 3, [1500.0] * 3)}
    (row,) = comparisons(found)
    # The t interval has no width: what the user is told is where the brackets put the ratio.
    assert row["brackets"] == {"low": pytest.approx(0.4), "high": pytest.approx(0.625)}
    assert ("every repetition found the same saturations, so the run-to-run noise is below the search's "
            "resolution: the searches' brackets put the ratio between 0.40 and 0.62, so uncapped is better "
            "whatever lies inside the brackets") in row["verdict"]
    note = found[("capped", "best-effort")].row()["note"]
    assert note.endswith("every repetition met 600 and missed 750: the run-to-run noise is below the search's "
                         "resolution")
    # Brackets that overlap 1 decide nothing, and noisy repetitions keep their t interval's verdict.
    close = {("a", "best-effort"): _searched("a", [600.0, 630.0, 570.0], [750.0, 780.0, 720.0]),
             ("b", "best-effort"): _searched("b", [650.0, 600.0, 700.0], [800.0, 750.0, 850.0])}
    (row,) = comparisons(close)
    assert "no difference beyond run-to-run noise" in row["verdict"]
    assert row["verdict"].endswith("; the searches' brackets put the ratio between 0.75 and 1.15")


# -- malformed campaign files: exit 2, file, line and field, nothing started -----------------------

def _campaign_text(tmp_path: Path, edit: str, replacement: str) -> Path:
    text = QUICKSTART.read_text().replace("../benchmarks/", f"{SEARCH.parent}/").replace(
        "../../inventories/local", str(REPO / "inventories" / "local"))
    assert edit in text
    path = tmp_path / "campaign.yaml"
    path.write_text(text.replace(edit, replacement))
    return path


@pytest.mark.parametrize(("edit", "replacement", "field", "words"), [
    ("    policies:\n", "    hardware:\n", "campaign.matrix.hardware", "unknown key 'hardware'"),
    ("profiles: {execution: server}", "profiles: {execution: pi5-like}",
     "campaign.matrix.testbeds.uncapped.profiles.execution", "unknown profile 'pi5-like'"),
    ("repetitions: 3", "repetitions: 0", "campaign.repetitions", "must be an integer"),
    ("targets: {fast-confirmation: 150", "targets: {low-cost: 150", "campaign.placement.targets.low-cost",
     "no saturation search"),
])
def test_a_malformed_campaign_is_refused_naming_file_line_and_field(tmp_path: Path, edit: str, replacement: str,
                                                                    field: str, words: str) -> None:
    path = _campaign_text(tmp_path, edit, replacement)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if replacement.strip() in text)
    result = harness("campaign", "run", str(path), "--results-dir", str(tmp_path / "campaigns"))
    assert result.returncode == 2, result.stderr
    assert f"{path}:{line}: {field}: " in result.stderr and words in result.stderr, result.stderr
    assert not (tmp_path / "campaigns").exists()  # nothing started, no folder


def test_a_profile_needing_a_controller_the_machine_lacks_is_refused(tmp_path: Path) -> None:
    path = _campaign_text(tmp_path, "profiles: {execution: server}", "profiles: {execution: pi4-like}")
    bare = tmp_path / "cgroup"
    (bare / "cpu").mkdir(parents=True)  # cpu as this process's own place in it; no memory, no blkio
    (bare / "cpu" / "cgroup.procs").write_text("")
    env_root = {"VDLT_CGROUP_ROOT": str(bare)}
    result = subprocess.run([sys.executable, "-m", "harness", "campaign", "run", str(path), "--results-dir",
                             str(tmp_path / "campaigns")], capture_output=True, text=True, timeout=120,
                            env={**os.environ, **env_root})
    assert result.returncode == 2, result.stderr
    assert "campaign.matrix.testbeds.uncapped.profiles.execution" in result.stderr
    assert "memory" in result.stderr and "uncapped" in result.stderr
    assert not (tmp_path / "campaigns").exists()


def test_a_campaign_folder_is_made_whole_and_reads_its_copy_against_the_original_folder(tmp_path: Path) -> None:
    campaign = load_campaign(QUICKSTART)  # relative paths: ../benchmarks, ../../inventories
    folder = CampaignFolder.create(tmp_path / "campaigns", campaign, 7, trial_order(campaign, 7))
    assert [p.name for p in (tmp_path / "campaigns").iterdir()] == [folder.path.name]  # no staging folder left
    again = load_campaign(folder.campaign_file, folder.source_dir)  # what --resume reads
    assert [c.id for c in again.cells] == [c.id for c in campaign.cells]
    trials = folder.read_index()
    # order: random interleaves: each repetition visits every cell once, in a drawn order.
    assert [t.repetition for t in trials] == [1, 1, 2, 2, 3, 3]
    assert {t.cell for t in trials[:2]} == {c.id for c in campaign.cells}
    assert trial_order(campaign, 7) == trial_order(campaign, 7) and any(
        [t.cell for t in trial_order(campaign, seed)] != [t.cell for t in trials] for seed in range(8))


# -- a small campaign on real local testbeds: killed, resumed, compared -----------------------------

def small_campaign(tmp_path: Path, repetitions: int = 2) -> Path:
    """The shipped quickstart with one-second steps, a short range and ``repetitions``."""
    bench = yaml.safe_load(SEARCH.read_text())
    search = bench["test"]["rounds"][0]
    search.update({"txDuration": 1.5, "timeout": 3})
    search["saturation"] = {"startTps": 100, "stepFactor": 3, "maxTps": 900, "bisections": 1, "warmUp": 0.5}
    search["workload"]["module"] = str(REPO / "workloads" / "modules" / "kv.py")
    (tmp_path / "search.yaml").write_text(yaml.safe_dump(bench))
    campaign = yaml.safe_load(QUICKSTART.read_text())
    campaign["campaign"]["repetitions"] = repetitions
    campaign["campaign"]["seed"] = 11
    campaign["campaign"]["matrix"]["benchmarks"] = {"saturation": str(tmp_path / "search.yaml")}
    for testbed in campaign["campaign"]["matrix"]["testbeds"].values():
        testbed["inventory"] = str(REPO / "inventories" / "local")
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(campaign, sort_keys=False))
    return path


@pytest.fixture
def stops_agents(tmp_path: Path) -> Iterator[None]:
    yield
    for config in tmp_path.glob("**/testbeds/*/nodes/*/node.yaml"):
        subprocess.run([sys.executable, "-m", "node_agent", "stop", "--config", str(config)], capture_output=True,
                       timeout=60)


def _only_folder(parent: Path) -> Path:
    (folder,) = [p for p in parent.iterdir() if p.is_dir()]
    return folder


def _completed(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in CampaignFolder(folder).read_index():
        if trial.state == "complete":
            counts[trial.cell] = counts.get(trial.cell, 0) + 1
    return counts


def test_a_campaign_killed_mid_trial_resumes_to_what_an_uninterrupted_one_holds(tmp_path: Path,
                                                                                  stops_agents: None) -> None:
    path = small_campaign(tmp_path)
    whole = harness("campaign", "run", str(path), "--results-dir", str(tmp_path / "whole"), timeout=600)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    reference = _only_folder(tmp_path / "whole")

    killed_dir = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "harness", "campaign", "run", str(path), "--results-dir",
                                str(killed_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    folder = None
    # Killed once a trial is complete and the next one is in its rounds: finished work and a half trial.
    while time.monotonic() < deadline and process.poll() is None:
        if killed_dir.exists() and any(killed_dir.iterdir()):
            folder = _only_folder(killed_dir)
            trials = CampaignFolder(folder).read_index()
            running = [t for t in trials if t.state == "running"]
            claimed = {t.run for t in trials if t.run}
            if sum(t.state == "complete" for t in trials) >= 1 and running and any(
                    str(p.parent.parent.relative_to(folder)) not in claimed
                    for p in (folder / "cells" / running[0].cell).glob("*/histograms/round-1.json")):
                break  # the running trial has measured its first step (round 0 is its warm-up)
        time.sleep(0.2)
    assert process.poll() is None and folder is not None, "the campaign ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    before = {t.key: t for t in CampaignFolder(folder).read_index()}
    finished_runs = {key: t.run for key, t in before.items() if t.state == "complete"}

    resumed = harness("campaign", "run", "--resume", str(folder), timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = {t.key: t for t in CampaignFolder(folder).read_index()}
    # Finished trials were not run again: the same run folders, untouched.
    assert {key: after[key].run for key in finished_runs} == finished_runs
    assert "moved to abandoned/" in resumed.stdout and any((folder / "abandoned").glob("*/*"))
    assert _completed(folder) == _completed(reference) == {"saturation.third-core.cbwfq": 2,
                                                           "saturation.uncapped.cbwfq": 2}
    # A search's steps miss their SLOs by design: its run exits 0, not "an objective was missed".
    assert {t.exit_code for t in CampaignFolder(folder).read_index()} == {0}

    # The comparison: a row per testbed and class, the capped testbed saturating lower.
    with (folder / "comparison.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {"profile", "class", "saturation_tps", "saturation_ci_low", "saturation_ci_high"} <= set(rows[0])
    by = {(r["testbed"], r["class"]): r for r in rows}
    assert set(by) == {(t, c) for t in ("third-core", "uncapped") for c in ("fast-confirmation", "best-effort")}
    assert by[("third-core", "best-effort")]["profile"] == "third-core"
    capped, uncapped = (float(by[(t, "best-effort")]["saturation_tps"]) for t in ("third-core", "uncapped"))
    assert capped < uncapped
    assert by[("uncapped", "best-effort")]["note"]  # two repetitions: no interval, and the note says why
    comparison = json.loads((folder / "comparison.json").read_text())
    assert comparison["placement"] and comparison["comparisons"]
    report = (folder / "report.html").read_text()
    assert "latency against offered load" in report and "Placement" in report
    status = harness("campaign", "status", str(folder), columns=80)
    assert status.returncode == 0 and "4/4 complete" in status.stdout

    # Killed after a trial's run folder was whole but before the index said so: the run is adopted.
    index = json.loads((reference / "index.json").read_text())
    last = index["trials"][-1]
    kept_run = last["run"]
    last.update(state="running", run=None)
    (reference / "index.json").write_text(json.dumps(index))
    adopted = harness("campaign", "run", "--resume", str(reference), timeout=300)
    assert adopted.returncode == 0, adopted.stdout + adopted.stderr
    (trial,) = [t for t in CampaignFolder(reference).read_index() if t.key == f"{last['cell']}#{last['repetition']}"]
    assert (trial.state, trial.run) == ("complete", kept_run) and not (reference / "abandoned").exists()
