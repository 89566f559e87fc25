"""The run report a person reads: figures that do not mislead, and what the nodes did."""
from __future__ import annotations

import json
from pathlib import Path

from harness.report.run_report import throughput_lines
from harness.store.records import TxRecord
from tests.conftest import REPO, harness, run_benchmark

KV = str(REPO / "workloads" / "modules" / "kv.py")


def record(index: int, intended_s: float, latency_s: float, slug: str = "best-effort") -> TxRecord:
    intended = 1_700_000_000_000_000_000 + int(intended_s * 1e9)
    return TxRecord(f"t.{index}", 0, slug, slug, 32, 32, intended, intended, intended + int(latency_s * 1e9),
                    "confirmed", "exec-0", "", False)


def test_a_last_bucket_with_one_late_confirmation_is_not_drawn() -> None:
    # 100/s for 3 s, and one transaction whose receipt comes 0.05 s into the fourth second.
    records = [record(i, i / 100, 0.004) for i in range(300)] + [record(300, 2.995, 0.06)]
    confirmed, offered = throughput_lines(records)
    assert [x for x, _ in confirmed.points] == [0.5, 1.5, 2.5]
    assert [round(y) for _, y in confirmed.points] == [100, 100, 100]
    assert min(y for _, y in offered.points) >= 99


def test_report_shows_the_nodes_and_the_verdicts(local_inventory: Path, tmp_path: Path) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(json.dumps({"test": {"name": "report", "workers": {"number": 1}, "rounds": [{
        "label": "r", "txDuration": 3, "rateControl": {"type": "fixed-rate", "opts": {"tps": 100}},
        "workload": {"module": KV}, "cos": {"fast-confirmation": 1, "best-effort": 1},
        "slo": {"fast-confirmation": {"latency_ms": {"p99": 5000}}}}]}}))
    run = harness("run", str(bench), "-i", str(local_inventory), "--results-dir", str(tmp_path / "r"),
                  "--sample-interval", "0.5")
    assert run.returncode == 0, run.stdout + run.stderr
    (run_dir,) = (tmp_path / "r").iterdir()
    html = (run_dir / "report.html").read_text()
    assert "<h2>Nodes</h2>" in html
    for figure in ("CPU busy (%)", "Memory used (%)", "Trust (execution nodes)", "Latency CDF",
                   "offered dashed"):
        assert figure in html, figure
    assert html.count("<svg") == 6  # three for the round, three for the nodes
    assert "<th>verdict</th>" in html and "<td class='met'>met</td>" in html
    for node in ("control-0", "exec-0", "exec-1", "exec-2"):
        assert node in html


def test_workloads_send_each_class_its_kind_of_work(ledger_pair: dict, tmp_path: Path) -> None:
    (result,) = run_benchmark(tmp_path, ledger_pair["control"], [{
        "label": "classes", "txNumber": 60, "rateControl": {"type": "fixed-rate", "opts": {"tps": 100}},
        "workload": {"module": KV, "arguments": {"iterations": 100, "size": 64}},
        "cos": {"computation-intensive": 1, "storage-intensive": 1, "best-effort": 1},
    }])
    assert result.total.succeeded == 60
    contracts: dict[int, set[str]] = {}
    for line in (ledger_pair["exec_dir"] / "ledger" / "blocks.jsonl").read_text().splitlines():
        for tx in json.loads(line)["transactions"]:
            contracts.setdefault(tx["cos"] >> 5, set()).add(tx["contract"])
    assert contracts == {0b110: {"compute"}, 0b101: {"storage"}, 0b001: {"kv"}}
