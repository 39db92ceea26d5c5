"""Large-run outputs end to end: sampled job rows (metrics.jobs.sample) and jobs.parquet, and the
revm chain compacting itself mid-run, all reproducible to the byte."""
import pytest

import node.eth.revm as revm_module
from lpsim.engine import Simulation, run_scenario
from lpsim.results import load_results
from lpsim.scenario import parse_scenario

SCENARIO = """
name: rows
seed: 5
duration: 20 min
chain: {round_length: 50}
orchestrators:
  - count: 3
    stake: 1000 LPT
    pipelines: {transcoding: {}, text-to-image: {compute: 0.5 s}}
    ai_prices: {text-to-image: 50000}
gateways:
  - count: 2
    demand:
      - {type: transcoding, arrival: {process: poisson, rate: 40/h}, stream_duration: 2 min}
      - {type: batch_ai, pipeline: text-to-image, arrival: {process: poisson, rate: 6/min},
         request: {width: 512, height: 512}}
metrics: {sample_every: 5 min, jobs: JOBS}
"""


def scenario(jobs: str):
    return parse_scenario(SCENARIO.replace("JOBS", jobs), "rows.yaml")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    return out, run_scenario(scenario("true"), out)


def test_a_sample_keeps_the_same_jobs_each_run_and_the_summary_counts_them_all(full, tmp_path):
    out, summary = full
    rows = {j["job"]: j for j in load_results(out)["jobs"]}
    for name in ("a", "b"):
        sampled = run_scenario(scenario("{sample: 30%}"), tmp_path / name)
    assert (tmp_path / "a" / "jobs.csv").read_bytes() == (tmp_path / "b" / "jobs.csv").read_bytes()
    kept = load_results(tmp_path / "a")["jobs"]
    assert 0.15 * len(rows) < len(kept) < 0.45 * len(rows)
    assert all(rows[j["job"]] == j for j in kept)  # a subset of the full run's rows, unchanged
    assert (tmp_path / "a" / "metrics.csv").read_bytes() == (out / "metrics.csv").read_bytes()
    assert {k: sampled["jobs"][k] for k in ("total", "completed", "failed")} == \
        {k: summary["jobs"][k] for k in ("total", "completed", "failed")}
    assert sampled["jobs"]["sample"] == 0.3 and sampled["jobs"]["sampled_rows"] == len(kept)
    assert sampled["latency"]["count"] == sum(j["status"] == "completed" for j in kept)


def test_jobs_parquet_holds_the_csv_rows(full, tmp_path):
    pytest.importorskip("pyarrow")
    out, summary = full
    assert run_scenario(scenario("{format: parquet}"), tmp_path) == summary
    assert not (tmp_path / "jobs.csv").exists()
    assert load_results(tmp_path)["jobs"] == load_results(out)["jobs"]


def test_a_run_that_compacts_the_revm_chain_is_reproducible(monkeypatch, tmp_path):
    monkeypatch.setattr(revm_module, "_COMPACT_FRAMES", 40)
    files = []
    for name in ("a", "b"):
        sim = Simulation(scenario("true"))
        sim.run()
        sim.finish(tmp_path / name)
        assert sim.world.chain.compactions >= 2
        files.append({f: (tmp_path / name / f).read_bytes() for f in ("metrics.csv", "jobs.csv", "summary.json")})
    assert files[0] == files[1]


def test_network_day_10x_is_the_network_day_ten_times_over():
    from pathlib import Path

    from lpsim.scenario import load_scenario

    root = Path(__file__).parents[2] / "scenarios"
    day = load_scenario(root / "network-day.yaml").with_overrides({
        "name": "network-day-10x", "description": "One day, 1,000 orchestrators, 200 gateways, transcoding and "
        "text-to-image.", "orchestrators[0].count": 1000, "gateways[0].count": 200,
        "chain.params.num_active_transcoders": 256, "metrics.jobs": {"sample": 0.1, "format": "parquet"}})
    assert load_scenario(root / "network-day-10x.yaml") == day
