"""Run folders pushed to real results databases: both protocols, exact counts, no duplicates."""
from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.testing import results_servers
from tests.conftest import REPO, harness

KV = str(REPO / "workloads" / "modules" / "kv.py")
DASHBOARDS = REPO / "grafana" / "dashboards"


@pytest.fixture
def run_dir(tmp_path: Path, sink_factory) -> Path:
    bench = tmp_path / "bench.yaml"
    bench.write_text(yaml.safe_dump({"test": {"name": "push", "workers": {"number": 2}, "rounds": [
        {"label": "r0", "txNumber": 400, "rateControl": {"type": "fixed-rate", "opts": {"tps": 400}},
         "workload": {"module": KV}, "cos": {"fast-confirmation": 1, "best-effort": 1}},
        {"label": "r1", "txNumber": 200, "rateControl": {"type": "fixed-rate", "opts": {"tps": 400}},
         "workload": {"module": KV}}]}}))
    result = harness("run", str(bench), "--endpoint", sink_factory(), "--results-dir", str(tmp_path / "results"))
    assert result.returncode == 0, result.stderr
    (folder,) = (tmp_path / "results").iterdir()
    return folder


def influxql(url: str, database: str, query: str) -> dict:
    params = urllib.parse.urlencode({"db": database, "q": query})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=10) as response:
        return json.loads(response.read())


# One always-present field per measurement: counting it counts the measurement's points.
COUNTED = {"vdlt_transactions": "lag_ms", "vdlt_rounds": "submitted", "cpu": "usage_idle", "system": "load1",
           "mem": "total", "disk": "total", "diskio": "reads", "vdlt_trust": "score", "vdlt_selection": "outstanding",
           "vdlt_audit": "confirmed"}


def counts_v1(url: str, database: str = "vdlt") -> dict[str, int]:
    """Points per measurement, for the measurements that have any."""
    query = "; ".join(f'SELECT count("{field}") FROM "{m}"' for m, field in COUNTED.items())
    answer = influxql(url, database, query)
    return {r["series"][0]["name"]: r["series"][0]["values"][0][1] for r in answer["results"] if r.get("series")}


def tag_keys(url: str, database: str, measurement: str) -> set[str]:
    answer = influxql(url, database, f'SHOW TAG KEYS FROM "{measurement}"')["results"][0]
    return {row[0] for series in answer.get("series", []) for row in series["values"]}


def tag_values(url: str, database: str, measurement: str, key: str) -> list[str]:
    answer = influxql(url, database, f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}"')["results"][0]
    return sorted(row[1] for series in answer.get("series", []) for row in series["values"])


def write_lines(url: str, database: str, lines: list[str]) -> None:
    """Line protocol straight to InfluxDB 1.x's /write, for points no run folder of a test makes."""
    request = urllib.request.Request(f"{url}/write?db={database}", data="\n".join(lines).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204


def expanded_queries(dashboard_path: Path, values: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Each variable's and panel's query of a dashboard as Grafana would send it, with ``values``
    for its variables; a ``$name`` left over is a variable the test did not know."""
    dashboard = json.loads(dashboard_path.read_text())

    def expand(query: str) -> str:
        for name in sorted(values, key=len, reverse=True):
            query = query.replace(name, values[name])
        assert "$" not in query.replace("$/", "/"), f"{dashboard_path.name}: a variable is left in {query}"
        return query

    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable {variable['name']}", expand(variable["query"])
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], expand(target["query"])


def counts_vm(url: str, expected: dict[str, int], timeout_s: float = 20.0) -> dict[str, int]:
    """VictoriaMetrics names series `measurement_field` and shows new data after up to ~2.5 s: poll."""
    names = {f"{m}_{field}": m for m, field in COUNTED.items()}
    query = urllib.parse.urlencode({"match[]": "{__name__=~\"" + "|".join(names) + "\"}"})
    deadline = time.monotonic() + timeout_s
    while True:
        counts: Counter[str] = Counter()
        with urllib.request.urlopen(f"{url}/api/v1/export?{query}", timeout=10) as response:
            for line in response.read().decode().splitlines():
                series = json.loads(line)
                counts[names[series["metric"]["__name__"]]] += len(series["values"])
        if dict(counts) == expected or time.monotonic() > deadline:
            return dict(counts)
        time.sleep(0.5)


def produced(run_dir: Path) -> dict[str, int]:
    return json.loads((run_dir / "export.json").read_text())["produced"]


def test_push_to_influxdb_1x_uses_v1_and_is_idempotent(run_dir: Path, influxdb_v1: str) -> None:
    results_servers.create_database(influxdb_v1, "vdlt")
    for _ in range(2):
        result = harness("results", "push", str(run_dir), "--url", influxdb_v1, "--bucket", "vdlt")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "(v1)" in result.stdout
    assert produced(run_dir) == {"vdlt_transactions": 600, "vdlt_rounds": 5}
    assert counts_v1(influxdb_v1) == produced(run_dir)


def test_v2_against_influxdb_1_6_is_explained(run_dir: Path, influxdb_v1: str) -> None:
    result = harness("results", "push", str(run_dir), "--url", influxdb_v1, "--bucket", "vdlt", "--protocol", "v2")
    assert result.returncode == 1
    assert "has no /api/v2/write (added in 1.8): use --protocol v1" in result.stderr


def test_push_to_victoria_metrics_through_influxdb_client(run_dir: Path, victoria_metrics: str) -> None:
    for _ in range(2):
        result = harness("results", "push", str(run_dir), "--url", victoria_metrics, "--bucket", "vdlt")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "(v2)" in result.stdout
    assert counts_vm(victoria_metrics, produced(run_dir)) == produced(run_dir)


def test_refused_batches_are_spooled_and_a_later_push_completes(run_dir: Path, influxdb_v1: str) -> None:
    refused = harness("results", "push", str(run_dir), "--url", influxdb_v1, "--bucket", "vdlt")  # no database yet
    assert refused.returncode == 1 and "database not found" in refused.stderr
    assert list((run_dir / "spool").glob("*.lp"))
    export = json.loads((run_dir / "export.json").read_text())
    assert export["acknowledged"] == {} and export["spooled"] == export["produced"]
    results_servers.create_database(influxdb_v1, "vdlt")
    again = harness("results", "push", str(run_dir), "--url", influxdb_v1, "--bucket", "vdlt")
    assert again.returncode == 0, again.stderr
    assert not (run_dir / "spool").exists()
    assert counts_v1(influxdb_v1) == produced(run_dir)


def test_settings_precedence_and_errors(run_dir: Path, tmp_path: Path, influxdb_v1: str) -> None:
    config = tmp_path / "results.yaml"
    config.write_text("influx:\n  url: http://127.0.0.1:1\n  bucket: vdlt\n")
    unreachable = harness("results", "push", str(run_dir), "--config", str(config))
    assert unreachable.returncode == 1 and "cannot reach the results database at http://127.0.0.1:1" in unreachable.stderr
    results_servers.create_database(influxdb_v1, "vdlt")
    # The flag wins over the file.
    ok = harness("results", "push", str(run_dir), "--config", str(config), "--url", influxdb_v1)
    assert ok.returncode == 0, ok.stderr
    config.write_text("influx:\n  url: http://127.0.0.1:1\n  bukket: vdlt\n")
    bad = harness("results", "push", str(run_dir), "--config", str(config))
    assert bad.returncode == 2 and f"{config}:3: influx.bukket: unknown key" in bad.stderr


def small_benchmark(directory: Path) -> Path:
    """One round of 50 transactions: 52 points (50 transactions, the class and the total)."""
    path = directory / "b.yaml"
    path.write_text(yaml.safe_dump({"test": {"name": "small", "rounds": [
        {"label": "r", "txNumber": 50, "rateControl": {"type": "fixed-rate", "opts": {"tps": 100}},
         "workload": {"module": KV}}]}}))
    return path


def test_run_checks_the_database_first_and_pushes_after(tmp_path: Path, sink_factory, influxdb_v1: str) -> None:
    bench = small_benchmark(tmp_path)
    endpoint = sink_factory()
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("influx:\n  url: http://127.0.0.1:1\n  bucket: vdlt\n")
    refused = harness("run", str(bench), "--endpoint", endpoint, "--results-dir", str(tmp_path / "a"),
                      "--results-config", str(wrong))
    assert refused.returncode == 2 and "cannot reach the results database" in refused.stderr  # a setting is wrong
    assert not (tmp_path / "a").exists()  # nothing was started
    optional = harness("run", str(bench), "--endpoint", endpoint, "--results-dir", str(tmp_path / "b"),
                       "--results-config", str(wrong), "--results-optional")
    assert optional.returncode == 0 and "results stay in the local store only" in optional.stderr
    assert len(list((tmp_path / "b").iterdir())) == 1
    results_servers.create_database(influxdb_v1, "vdlt")
    right = tmp_path / "right.yaml"
    right.write_text(f"influx:\n  url: {influxdb_v1}\n  bucket: vdlt\n")
    pushed = harness("run", str(bench), "--endpoint", endpoint, "--results-dir", str(tmp_path / "c"),
                     "--results-config", str(right))
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "results database: 52 of 52 points acknowledged" in pushed.stdout
    assert counts_v1(influxdb_v1) == {"vdlt_transactions": 50, "vdlt_rounds": 2}


def test_wrong_token_or_missing_database_stops_the_run_before_it_starts(tmp_path: Path, sink_factory) -> None:
    bench = small_benchmark(tmp_path)
    endpoint = sink_factory()
    with results_servers.influxdb_v1_server(tmp_path / "influxdb", auth=True) as server:
        influxql(server.url, "", "CREATE USER admin WITH PASSWORD 'secret' WITH ALL PRIVILEGES")

        def run(token: str, results: str) -> subprocess.CompletedProcess[str]:
            config = tmp_path / f"{results}.yaml"
            config.write_text(f"influx:\n  url: {server.url}\n  bucket: vdlt\n  token: '{token}'\n")
            return harness("run", str(bench), "--endpoint", endpoint, "--results-dir", str(tmp_path / results),
                           "--results-config", str(config))

        wrong = run("admin:wrong", "wrong")
        assert wrong.returncode == 2 and "refused the token (HTTP 401" in wrong.stderr, wrong.stderr
        assert "nothing was started" in wrong.stderr and not (tmp_path / "wrong").exists()
        missing = run("admin:secret", "missing")
        assert missing.returncode == 2 and "has no database 'vdlt'" in missing.stderr, missing.stderr
        assert not (tmp_path / "missing").exists()
        results_servers.create_database(server.url, "vdlt", "admin", "secret")
        right = run("admin:secret", "right")
        assert right.returncode == 0, right.stdout + right.stderr
        assert "results database: 52 of 52 points acknowledged" in right.stdout


def test_a_multi_line_reason_is_exported_as_one_point(run_dir: Path, influxdb_v1: str) -> None:
    records = min((run_dir / "transactions").glob("*.csv.gz"))
    with gzip.open(records, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    reason = rows[0].index("reason")
    rows[1][reason] = 'control node error: Traceback\n  File "x.py", line 1'
    with gzip.open(records, "wt", newline="") as handle:
        csv.writer(handle).writerows(rows)
    results_servers.create_database(influxdb_v1, "vdlt")
    result = harness("results", "push", str(run_dir), "--url", influxdb_v1, "--bucket", "vdlt")
    assert result.returncode == 0, result.stdout + result.stderr
    assert counts_v1(influxdb_v1) == produced(run_dir) == {"vdlt_transactions": 600, "vdlt_rounds": 5}
    answer = influxql(influxdb_v1, "vdlt", "SELECT reason FROM vdlt_transactions WHERE reason =~ /Traceback/")
    (row,) = answer["results"][0]["series"][0]["values"]
    assert row[1] == 'control node error: Traceback\\n  File "x.py", line 1'


def test_results_db_script_serves_a_database_and_says_what_to_export(tmp_path: Path) -> None:
    import signal
    import sys
    import urllib.request

    from harness.provision.local_copy import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "harness.testing.results_servers", "influxdb", "--port", str(port),
                               "--data", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        lines = [server.stdout.readline() for _ in range(3)]
        if "not installed" in "".join(lines):
            pytest.skip("influxdb is not installed")
        assert lines[1:] == [f"export HARNESS_INFLUX_URL=http://127.0.0.1:{port}\n", "export HARNESS_INFLUX_BUCKET=vdlt\n"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as answer:
            assert answer.status == 204
        assert "vdlt" in json.dumps(influxql(f"http://127.0.0.1:{port}", "", "SHOW DATABASES"))
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0


def rewrite_manifest(run_dir: Path, **changes: object) -> dict:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest.update(changes)
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def test_points_are_tagged_with_benchmark_and_campaign_and_cell_only_inside_a_campaign(
        run_dir: Path, influxdb_v1: str) -> None:
    measurements = ("vdlt_transactions", "vdlt_rounds")
    for database in ("alone", "campaign"):
        results_servers.create_database(influxdb_v1, database)

    # A run of its own: the benchmark's name, and no campaign or cell tag (line protocol has no empty value).
    alone = harness("results", "push", str(run_dir), "--url", influxdb_v1, "--bucket", "alone")
    assert alone.returncode == 0, alone.stdout + alone.stderr
    for measurement in measurements:
        keys = tag_keys(influxdb_v1, "alone", measurement)
        assert "benchmark" in keys and not {"campaign", "cell"} & keys, (measurement, keys)
        assert tag_values(influxdb_v1, "alone", measurement, "benchmark") == ["push"]
    # As the schema says: an absent tag is matched by the empty string.
    outside = influxql(influxdb_v1, "alone", """SELECT count("submitted") FROM "vdlt_rounds" WHERE "campaign" = ''""")
    assert outside["results"][0]["series"][0]["values"][0][1] == 5
    offered = influxql(influxdb_v1, "alone", 'SELECT "offered_tps" FROM "vdlt_rounds"')["results"][0]["series"][0]
    assert {row[1] for row in offered["values"]} == {400.0}  # the fixed rate asked for, a float on every point

    # A campaign's trial: every point also carries the campaign's and the cell's ids.
    rewrite_manifest(run_dir, campaign={"id": "hw-compare", "cell": "hw-compare/small/default", "repetition": 1})
    inside = harness("results", "push", str(run_dir), "--url", influxdb_v1, "--bucket", "campaign")
    assert inside.returncode == 0, inside.stdout + inside.stderr
    for measurement in measurements:
        assert tag_values(influxdb_v1, "campaign", measurement, "benchmark") == ["push"]
        assert tag_values(influxdb_v1, "campaign", measurement, "campaign") == ["hw-compare"]
        assert tag_values(influxdb_v1, "campaign", measurement, "cell") == ["hw-compare/small/default"]
    assert counts_v1(influxdb_v1, "campaign") == produced(run_dir) == {"vdlt_transactions": 600, "vdlt_rounds": 5}


def test_a_run_folder_from_before_campaigns_is_pushed_with_the_new_tags(run_dir: Path, influxdb_v1: str) -> None:
    """Its manifest's ``campaign`` is the benchmark's name (a string) and it has no ``benchmark_name``."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    del manifest["benchmark_name"]
    manifest["campaign"] = "push"
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    results_servers.create_database(influxdb_v1, "vdlt")
    result = harness("results", "push", str(run_dir), "--url", influxdb_v1, "--bucket", "vdlt")
    assert result.returncode == 0, result.stdout + result.stderr
    assert counts_v1(influxdb_v1) == produced(run_dir) == {"vdlt_transactions": 600, "vdlt_rounds": 5}
    assert tag_values(influxdb_v1, "vdlt", "vdlt_rounds", "benchmark") == ["push"]
    assert not {"campaign", "cell"} & tag_keys(influxdb_v1, "vdlt", "vdlt_rounds")

    # A point as the harness wrote it before (campaign = the benchmark's name): the README's query finds both.
    write_lines(influxdb_v1, "vdlt", ["vdlt_rounds,campaign=push,run_id=old,round=r0,class=all submitted=7i 1000000000"])
    both = influxql(influxdb_v1, "vdlt", """SELECT sum("submitted") FROM "vdlt_rounds" WHERE "class" = 'all' AND """
                                         """("benchmark" = 'push' OR ("benchmark" = '' AND "campaign" = 'push'))""")
    assert both["results"][0]["series"][0]["values"][0][1] == 400 + 200 + 7


def saturation_lines(run_id: str) -> list[str]:
    """vdlt_saturation points as the schema describes them: two profiles, two classes."""
    lines = []
    for n, (profile, factor) in enumerate((("small", 1.0), ("large", 2.5))):
        for slug, share in (("fast-confirmation", 0.4), ("best-effort", 0.6)):
            tags = (f"benchmark=push,campaign=hw-compare,cell=hw-compare/{profile}/default,run_id={run_id},round=sat,"
                    f"class={slug},hardware_profile={profile},policy=default")
            rate = 400.0 * factor
            lines.append(f"vdlt_saturation,{tags} saturation_tps={rate!r},class_tps={rate * share!r},"
                         f"latency_p50_ms=2.5,latency_p99_ms=9.5,steps=6i {1_000_000_000 + n}")
    return lines


def test_every_dashboard_follows_the_conventions() -> None:
    """Both dashboards read one InfluxQL data source picked by the `datasource` variable."""
    paths = sorted(DASHBOARDS.glob("*.json"))
    assert {p.name for p in paths} >= {"vdlt-run.json", "vdlt-campaign.json"}
    dashboards = [json.loads(p.read_text()) for p in paths]
    assert len({d["uid"] for d in dashboards}) == len(dashboards)
    for path, dashboard in zip(paths, dashboards):
        variables = dashboard["templating"]["list"]
        assert variables[0] == {**variables[0], "type": "datasource", "name": "datasource", "query": "influxdb"}
        names = {v["name"] for v in variables}
        panels = dashboard["panels"]
        assert len({p["id"] for p in panels}) == len(panels), path.name
        for item in [*variables[1:], *(t for p in panels for t in p.get("targets", []))]:
            assert item["datasource"] == {"type": "influxdb", "uid": "${datasource}"}, (path.name, item)
            used = set(re.findall(r"\$(\w+)", item["query"])) - {"timeFilter", "__interval"}
            assert used <= names, (path.name, item["query"])
        for panel in panels:
            if panel["type"] != "row":
                assert panel["targets"] and all(t["rawQuery"] for t in panel["targets"]), (path.name, panel["title"])


def test_campaign_dashboard_shows_a_campaign(run_dir: Path, influxdb_v1: str) -> None:
    """Every variable and panel of vdlt-campaign.json answers with data for a campaign's run."""
    manifest = rewrite_manifest(run_dir, campaign={"id": "hw-compare", "cell": "hw-compare/small/default",
                                                   "repetition": 1})
    results_servers.create_database(influxdb_v1, "vdlt")
    result = harness("results", "push", str(run_dir), "--url", influxdb_v1, "--bucket", "vdlt")
    assert result.returncode == 0, result.stdout + result.stderr
    write_lines(influxdb_v1, "vdlt", saturation_lines(manifest["run_id"]))
    values = {"$campaign": re.escape("hw-compare"), "$class": ".*", "$hardware_profile": ".*", "$policy": ".*"}
    for title, query in expanded_queries(DASHBOARDS / "vdlt-campaign.json", values):
        answer = influxql(influxdb_v1, "vdlt", query)["results"][0]
        assert "error" not in answer, (title, answer["error"])
        found = [v for series in answer.get("series", []) for row in series["values"] for v in row[1:]]
        assert any(v is not None for v in found), f"panel {title!r} shows no data: {query}"
    profiles = influxql(influxdb_v1, "vdlt", 'SHOW TAG VALUES FROM "vdlt_saturation" WITH KEY = "hardware_profile" '
                                             'WHERE "campaign" =~ /^hw-compare$/')["results"][0]["series"][0]["values"]
    assert sorted(row[1] for row in profiles) == ["large", "small"]
