"""The recorder, the results folder and the summary, on a small synthetic run (no engine, no
chain) whose numbers are worked out by hand below."""
from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

from lpsim import metric_names as M
from lpsim.results import FILES, METRIC_COLUMNS, Recorder, load_results, to_dataframe
from lpsim.summary import format_summary, percentile, summarize, winners_range, write_summary
from node.core.job import Event, Job

# (job, gateway, orchestrator, workload, pipeline, submitted, finished, status, reason, attempts,
#  swaps, tickets_sent, fee_wei). Completed latencies: 1, 2, 3, 4 s.
JOBS = [
    ("j0", "gw-0", "orch-0", M.TRANSCODING, "transcoding", 0.0, 1.0, M.COMPLETED, "", 1, 0, 2, 100),
    ("j1", "gw-0", "orch-0", M.TRANSCODING, "transcoding", 1.0, 3.0, M.COMPLETED, "", 2, 0, 3, 150),
    ("j2", "gw-1", "orch-1", M.BATCH_AI, "text-to-image", 2.0, 5.0, M.COMPLETED, "", 1, 0, 1, 2.5e3),
    ("j3", "gw-1", "orch-1", M.BATCH_AI, "text-to-image", 2.0, 6.0, M.COMPLETED, "", 1, 0, 1, 2.5e3),
    ("j4", "gw-0", "", M.TRANSCODING, "transcoding", 3.0, 3.5, M.FAILED, "no_orchestrator", 0, 0, 0, 0),
    ("j5", "gw-1", "orch-2", M.BATCH_AI, "text-to-image", 4.0, 9.0, M.FAILED, "compute_failed", 3, 1, 4, 0),
]

# entity -> metric -> [(time, round, value)]; rounds are 100 s long, sampled at 50, 75 and 100 s
SAMPLES = {
    "orch-0": {M.STAKE_SHARE: [(50, 1, 0.5), (100, 2, 0.6)],
               M.TICKETS_WON: [(50, 1, 1), (100, 2, 3)],
               M.TICKETS_REDEEMED: [(50, 1, 0), (100, 2, 2)],
               M.TICKETS_PENDING: [(50, 1, 1), (100, 2, 1)],
               M.FEES_EXPECTED: [(50, 1, 1000), (100, 2, 3000)],
               M.FEES_REALISED: [(50, 1, 0), (100, 2, 4000)],
               M.REWARD: [(50, 1, 10.0), (75, 1, 10.0), (100, 2, 12.0)]},  # round 1 sampled twice
    "orch-1": {M.STAKE_SHARE: [(50, 1, 0.3), (100, 2, 0.3)],
               M.TICKETS_WON: [(50, 1, 0), (100, 2, 2)],
               M.TICKETS_REDEEMED: [(50, 1, 0), (100, 2, 1)],
               M.TICKETS_EXPIRED: [(50, 1, 0), (100, 2, 1)],
               M.TICKETS_PENDING: [(50, 1, 0), (100, 2, 0)],
               M.FEES_EXPECTED: [(50, 1, 500), (100, 2, 2000)],
               M.FEES_REALISED: [(50, 1, 0), (100, 2, 0)],
               M.REWARD: [(50, 1, 5.0), (100, 2, 6.0)]},
    "orch-2": {M.STAKE_SHARE: [(50, 1, 0.2), (100, 2, np.float64(0.1))]},
    "gw-0": {M.TICKETS_SENT: [(50, 1, 10), (100, 2, 25)],
             M.JOBS_COMPLETED: [(50, 1, 1), (100, 2, 2)], M.JOBS_FAILED: [(50, 1, 0), (100, 2, 1)]},
    "gw-1": {M.TICKETS_SENT: [(50, 1, 5), (100, 2, 7)],
             M.JOBS_COMPLETED: [(50, 1, 0), (100, 2, 2)], M.JOBS_FAILED: [(50, 1, 1), (100, 2, 1)]},
    M.NETWORK: {M.INFLATION: [(50, 1, 1_000_000), (75, 1, 1_000_000), (100, 2, 999_500)],
                M.BONDING_RATE: [(50, 1, 0.4), (100, 2, 0.1 + 0.35)],
                M.TOTAL_SUPPLY: [(50, 1, 1e6), (100, 2, 1e6 + 22.0)],
                M.TOTAL_BONDED: [(50, 1, 4e5), (100, 2, 4.5e5)],
                M.MINTED: [(50, 1, 15.0), (75, 1, 15.0), (100, 2, 18.0)],  # 33 in all
                M.ACTIVE_ORCHESTRATORS: [(50, 1, 3), (100, 2, 3)]},
}


def synthetic_recorder(jobs: bool = True, transitions: bool = True) -> Recorder:
    rec = Recorder(run="r0", seed=7, jobs=jobs, transitions=transitions)
    rows = sorted((t, rnd, entity, metric, value) for entity, metrics in SAMPLES.items()
                  for metric, samples in metrics.items() for t, rnd, value in samples)
    for row in rows:  # time order, as an engine records them
        rec.metric(*row)
    for job in JOBS:
        rec.job(*job)
    # two real state-machine runs: one straight through, one with a retry
    for name, events in (("j0", [Event.INGEST, Event.DISCOVER, Event.SESSION_READY, Event.DISPATCH]),
                         ("j1", [Event.INGEST, Event.DISCOVER, Event.SESSION_READY, Event.DISPATCH,
                                 Event.COMPUTE_FAILED, Event.REDISPATCH])):
        job = Job(record=False)
        for i, event in enumerate(events):
            t = job.fire(event, float(i))
            rec.transition(t.time, name, t.state, t.event, t.next)
    return rec


@pytest.fixture
def results_dir(tmp_path):
    synthetic_recorder().write(tmp_path)
    return tmp_path


def test_round_trip(results_dir):
    tables = load_results(results_dir)
    metrics = tables["metrics"]
    assert list(metrics[0]) == list(METRIC_COLUMNS)
    assert len(metrics) == sum(len(s) for m in SAMPLES.values() for s in m.values())
    assert {(r["run"], r["seed"]) for r in metrics} == {("r0", 7)}
    bonding = [r for r in metrics if r["metric"] == M.BONDING_RATE]
    assert bonding[-1]["value"] == 0.1 + 0.35  # the float's exact value, not a rounded one
    assert isinstance(bonding[-1]["round"], int) and bonding[-1]["time"] == 100.0
    assert [r["value"] for r in metrics if r["metric"] == M.FEES_EXPECTED] == [1000, 500, 3000, 2000]
    assert all(type(r["value"]) is int for r in metrics if r["metric"] == M.FEES_EXPECTED)

    jobs = tables["jobs"]
    assert [j["job"] for j in jobs] == [j[0] for j in JOBS]
    assert [j["latency"] for j in jobs] == [1.0, 2.0, 3.0, 4.0, 0.5, 5.0]
    assert jobs[4]["orchestrator"] == "" and jobs[4]["reason"] == "no_orchestrator"
    assert jobs[2]["fee_wei"] == 2500.0 and jobs[0]["fee_wei"] == 100

    assert [t["state"] for t in tables["transitions"][:2]] == ["IDLE", "INGESTING"]
    counts = {(c["state"], c["event"], c["next_state"]): c["count"] for c in tables["transition_counts"]}
    assert counts[("IDLE", "INGEST", "INGESTING")] == 2
    assert counts[("SEGMENT_DISPATCH", "COMPUTE_FAILED", "RETRY")] == 1
    assert sum(counts.values()) == len(tables["transitions"]) == 10
    # in the state machine's order
    assert [c["state"] for c in tables["transition_counts"]][:2] == ["IDLE", "INGESTING"]


def test_rewrite_is_byte_identical(tmp_path):
    synthetic_recorder().write(tmp_path / "a")
    synthetic_recorder().write(tmp_path / "b")
    for name in FILES.values():
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    first = (tmp_path / "a" / "metrics.csv").read_text()
    assert "np.float64" not in first and "r0,7,100.0,2,orch-2,stake_share,0.1\n" in first


def test_disabled_tables_are_not_written(tmp_path):
    synthetic_recorder().write(tmp_path)  # an earlier run left jobs.csv and transitions.csv
    rec = synthetic_recorder(jobs=False, transitions=False)
    assert rec.job_rows is None and rec.transition_rows is None
    written = rec.write(tmp_path)
    assert set(written) == {"metrics", "transition_counts"}
    tables = load_results(tmp_path)
    assert tables["jobs"] is None and tables["transitions"] is None
    assert sum(c["count"] for c in tables["transition_counts"]) == 10


def test_load_results_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_results(tmp_path / "nope")


def test_to_dataframe_without_pandas(results_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import fails as if pandas were absent
    with pytest.raises(ImportError, match="pip install pandas"):
        to_dataframe(results_dir, "jobs")


def test_to_dataframe(results_dir):
    pytest.importorskip("pandas")
    jobs = to_dataframe(results_dir, "jobs")
    assert list(jobs["job"]) == [j[0] for j in JOBS]
    assert jobs["reason"].iloc[0] == "" and jobs["latency"].sum() == 15.5
    assert to_dataframe(results_dir)["value"].dtype.kind == "f"


def test_percentile_matches_numpy():
    values = sorted([0.3, 1.7, 0.2, 5.0, 2.2, 0.9, 0.4])
    for q in (0, 10, 50, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([], 50) is None and percentile([2.0], 99) == 2.0


def test_summary_by_hand(results_dir):
    s = summarize(results_dir, {"scenario": "synthetic"})
    assert s["run"] == "r0" and s["seed"] == 7 and s["extra"] == {"scenario": "synthetic"}

    jobs = s["jobs"]
    assert (jobs["total"], jobs["completed"], jobs["failed"]) == (6, 4, 2)
    assert jobs["success_rate"] == pytest.approx(4 / 6)
    assert jobs["failure_reasons"] == {"compute_failed": 1, "no_orchestrator": 1}
    assert (jobs["attempts"], jobs["swaps"]) == (8, 1)
    ai = jobs["by_workload"][M.BATCH_AI]
    assert (ai["total"], ai["completed"], ai["success_rate"]) == (3, 2, pytest.approx(2 / 3))
    assert ai["latency"]["p50"] == 3.5  # latencies 3 and 4

    # completed latencies 1, 2, 3, 4: rank (n-1)q/100 interpolated
    lat = s["latency"]
    assert lat["count"] == 4 and lat["mean"] == 2.5 and lat["p50"] == 2.5
    assert lat["p95"] == pytest.approx(3.85) and lat["p99"] == pytest.approx(3.97)

    # each entity's last sample, summed
    assert s["tickets"] == {"sent": 32, "received": None, "won": 5, "redeemed": 3, "expired": 1, "pending": 1,
                            "won_expected": None, "won_variance": None}
    fees = s["fees"]
    assert (fees["expected_wei"], fees["realised_wei"], fees["realised_ratio"]) == (5000, 4000, 0.8)
    assert fees["by_orchestrator"]["orch-0"]["realised_ratio"] == pytest.approx(4 / 3)

    # per-round values: the last sample of each round, never every sample
    assert s["rewards"]["by_orchestrator"] == {"orch-0": 22.0, "orch-1": 11.0}
    assert s["rewards"]["total_lpt"] == 33.0
    econ = s["economics"]
    assert econ[M.MINTED] == {"first": 15.0, "last": 18.0, "total": 33.0}
    assert econ[M.INFLATION] == {"first": 1_000_000, "last": 999_500}
    assert econ[M.BONDING_RATE]["last"] == 0.1 + 0.35 and econ["rounds"] == {"first": 1, "last": 2}

    sel = s["selection"]["orchestrators"]
    assert {o: v["job_share"] for o, v in sel.items()} == {"orch-0": 0.5, "orch-1": 0.5, "orch-2": 0.0}
    assert {o: v["stake_share"] for o, v in sel.items()} == {"orch-0": 0.6, "orch-1": 0.3, "orch-2": 0.1}
    # (|0.5 - 0.6| + |0.5 - 0.3| + |0 - 0.1|) / 2
    assert s["selection"]["total_variation"] == pytest.approx(0.2)

    assert {"state": "IDLE", "event": "INGEST", "next_state": "INGESTING", "count": 2} in s["transitions"]


def test_summary_without_jobs_uses_gateway_counters(tmp_path):
    synthetic_recorder(jobs=False).write(tmp_path)
    s = summarize(tmp_path)
    assert s["jobs"]["source"] == "metrics"
    # gw-0 2 + gw-1 2 completed, 1 + 1 failed (the orchestrators' jobs_completed not counted twice)
    assert (s["jobs"]["total"], s["jobs"]["completed"], s["jobs"]["failed"]) == (6, 4, 2)
    assert s["latency"]["count"] == 0 and s["latency"]["p50"] is None


def test_summary_of_nothing(tmp_path):
    s = summarize(tmp_path)
    assert s["jobs"]["total"] is None and s["tickets"]["sent"] is None
    assert s["selection"]["total_variation"] is None
    assert format_summary(s) == "(nothing recorded)"


def test_write_summary_is_stable_json(results_dir):
    s = summarize(results_dir, {"scenario": "synthetic", "wall_time_s": float("nan")})
    path = write_summary(results_dir, s)
    text = path.read_text()
    assert write_summary(results_dir, summarize(results_dir, {"scenario": "synthetic",
                                                              "wall_time_s": float("nan")})).read_text() == text
    loaded = json.loads(text)
    assert loaded["extra"]["wall_time_s"] is None  # NaN is not JSON
    assert loaded["latency"] == s["latency"] and loaded["selection"] == s["selection"]
    assert list(loaded) == sorted(loaded)


def test_format_summary(results_dir):
    text = format_summary(summarize(results_dir))
    lines = text.splitlines()
    for section in ("jobs", "latency (completed jobs)", "payments", "economics"):
        assert section in lines
    assert "4 (66.67 %)" in text and "2.50 s" not in text  # latencies below 10 s keep three decimals
    assert "2.500 s / 3.850 s / 3.970 s" in text
    assert "80.00 % of expected" in text and "40.00 % → 45.00 %" in text
    assert "tickets sent / received    32 / —" in text and "inflation per round" in text
    # every value starts in one column
    starts = {re.match(r"\s+\S.*?\s{2,}", line).end() for line in lines if line.startswith("  ")}
    assert len(starts) == 1, text


def _many_jobs(rec: Recorder, n: int = 2000) -> None:
    for i in range(n):
        rec.job(f"j{i}", "gw-0", "orch-0", M.TRANSCODING, "transcoding", float(i), i + 0.5, M.COMPLETED, "", 1, 0,
                1, 10.0)


def test_job_sample_is_a_reproducible_fraction_drawn_from_the_seed(tmp_path):
    from lpsim.scenario import JobRows

    kept = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        rec = Recorder(run="r0", seed=seed, jobs=JobRows(sample=0.25))
        _many_jobs(rec)
        rec.write(tmp_path / name)
        kept[name] = [j["job"] for j in load_results(tmp_path / name)["jobs"]]
    assert (tmp_path / "a" / "jobs.csv").read_bytes() == (tmp_path / "b" / "jobs.csv").read_bytes()
    assert 400 < len(kept["a"]) < 600 and kept["a"] != kept["c"]
    full = Recorder(run="r0", seed=7, jobs=JobRows(sample=1))
    _many_jobs(full)
    assert len(full.job_rows) == 2000


def test_jobs_as_parquet_read_back_as_the_csv_rows(tmp_path):
    pytest.importorskip("pyarrow")
    from lpsim.scenario import JobRows

    synthetic_recorder().write(tmp_path / "csv")
    for name in ("a", "b"):
        rec = Recorder(run="r0", seed=7, jobs=JobRows(format="parquet"))
        for job in JOBS:
            rec.job(*job)
        assert set(rec.write(tmp_path / name)) == {"metrics", "jobs", "transition_counts"}
    assert not (tmp_path / "a" / "jobs.csv").exists()
    assert (tmp_path / "a" / "jobs.parquet").read_bytes() == (tmp_path / "b" / "jobs.parquet").read_bytes()
    assert load_results(tmp_path / "a")["jobs"] == load_results(tmp_path / "csv")["jobs"]
    synthetic_recorder().write(tmp_path / "a")  # a csv run in the same folder removes the parquet file
    assert not (tmp_path / "a" / "jobs.parquet").exists()


def test_metrics_jobs_takes_a_bool_or_a_mapping():
    from lpsim.scenario import ScenarioError, parse_scenario

    base = "duration: 1 h\norchestrators: [{count: 1}]\nmetrics: {jobs: %s}\n"
    assert parse_scenario(base % "false").metrics.jobs is False
    jobs = parse_scenario(base % "{sample: 10%, format: parquet}").metrics.jobs
    assert (jobs.sample, jobs.format) == (0.1, "parquet")
    assert parse_scenario(parse_scenario(base % "{sample: 10%}").to_yaml()).metrics.jobs.sample == 0.1
    for bad in ("{sample: 0}", "{sample: 2}", "{format: xlsx}"):
        with pytest.raises((ScenarioError, ValueError)):
            parse_scenario(base % bad)


@pytest.mark.parametrize("mean, variance, expected", [
    (0.0, 0.0, (0, 0)),
    # Poisson(0.4): P(0) = 0.670 >= 2.5 %; P(<= 1) = 0.938, P(<= 2) = 0.992 (the first >= 97.5 %)
    (0.4, 0.4 * (1 - 1e-9), (0, 2)),
    # Poisson(10): P(<= 3) = 0.0103, P(<= 4) = 0.0293; P(<= 16) = 0.9730, P(<= 17) = 0.9857
    (10.0, 10.0, (4, 17)),
    (50.0, 0.0, (50, 50)),  # every ticket wins: no spread at all
    (1000.0, 1000.0, (938, 1062)),  # normal: 1000 ± 1.96 × 31.62
])
def test_winners_range(mean, variance, expected):
    assert winners_range(mean, variance) == expected


def test_format_summary_says_how_many_winners_were_expected(results_dir):
    # a fees ratio from one winner reads as what it is: next to how many winners the odds gave
    summary = summarize(results_dir)
    assert "winning tickets expected" not in format_summary(summary)  # not recorded: no row
    summary["tickets"].update(won_expected=0.4, won_variance=0.4 * (1 - 1e-9))
    assert re.search(r"\n  winning tickets expected\s+0\.40 \(95 % range 0–2\)\n", format_summary(summary))


def test_summary_folds_job_rows_without_holding_them(tmp_path):
    """A folder's job rows are folded into the summary as they are read, CSV or Parquet: 50,000
    rows add a few MB at most (held as row dicts, as before, they took ~50 MB: at a 10x network
    day's 1.7 M rows that was most of the run's peak memory)."""
    import tracemalloc

    for fmt in ("csv", "parquet"):
        rec = Recorder(run="r", seed=1, jobs=type("Jobs", (), {"format": fmt})())
        for i in range(50_000):
            failed = i % 10 == 0
            rec.job(f"gw-0/{i}", "gw-0", f"orch-{i % 7}", M.TRANSCODING, "transcoding", float(i), i + 1.5 + i % 3,
                    M.FAILED if failed else M.COMPLETED, "compute_failed" if failed else "", 1, 0, 1, 10)
        rec.write(tmp_path / fmt)
        tracemalloc.start()
        s = summarize(tmp_path / fmt)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert s["jobs"]["total"] == 50_000 and s["jobs"]["failed"] == 5_000
        assert s["jobs"]["failure_reasons"] == {"compute_failed": 5_000}
        assert s["latency"]["count"] == 45_000 and s["latency"]["p50"] == 2.5
        assert peak < 12e6, (fmt, peak)


def test_the_summary_of_compacted_metric_rows_is_the_summary_of_all(tmp_path, monkeypatch):
    """summarize keeps of each entity's metric in each round only its first, last, earliest and
    latest rows: on a real run sampled several times a round (quickstart, 5-minute samples,
    20-minute rounds) the summary is the same as from every row, and rows were dropped."""
    from pathlib import Path

    import lpsim.summary as summary_module
    from lpsim.engine import run_scenario
    from lpsim.results import read_table
    from lpsim.scenario import load_scenario

    root = Path(__file__).resolve().parents[2]
    scenario = load_scenario(root / "scenarios" / "quickstart.yaml").with_overrides({"duration": "70 min"})
    run_scenario(scenario, tmp_path)
    compacted = summarize(tmp_path)
    rows = read_table(tmp_path / FILES["metrics"])
    assert len(summary_module.compact_metrics(rows)) < 0.7 * len(rows)
    monkeypatch.setattr(summary_module, "compact_metrics", list)
    assert summarize(tmp_path) == compacted


def test_compact_metrics_keeps_each_rounds_ends():
    from lpsim.summary import compact_metrics

    def row(t, value, entity="o", rnd=1):
        return {"time": t, "round": rnd, "entity": entity, "metric": M.STAKE, "value": value}

    rows = [row(5, "first"), row(1, "earliest"), row(9, "dropped: latest but not the last of the tie"),
            row(2, "dropped: between"), row(9, "latest"), row(3, "last"), row(4, "other round", rnd=2),
            row(0, "other entity", entity="p")]
    assert [r["value"] for r in compact_metrics(rows)] == \
        ["first", "earliest", "latest", "last", "other round", "other entity"]


def test_summary_of_tables_without_some_of_them():
    """summarize on a dict of tables that lacks some (no folder to read them from) names the run
    from the first table it has."""
    s = summarize({"transition_counts": [{"run": "r9", "seed": 3, "state": "IDLE", "event": "INGEST",
                                           "next_state": "INGESTING", "count": 1}]})
    assert (s["run"], s["seed"]) == ("r9", 3) and s["jobs"]["total"] is None
