"""The sweep's statistics (percentiles, bootstrap interval of the mean, paired differences under
common seeds) checked against numpy and normal theory; typed columns, Parquet, provenance, the data
dictionary and the report's parameter plots on one small sweep."""
import csv
import hashlib
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lpsim import sweep_stats
from lpsim.scenario import parse_scenario
from lpsim.seeds import SeedTree
from lpsim.sweep import FIGURES, data_dictionary, documented, run_sweep
from lpsim.sweep_report import write_sweep_report

ROOT = Path(__file__).resolve().parents[2]


def rng(seed=1):
    return SeedTree(seed).generator("test")


def test_describe_matches_numpy_and_drops_what_is_not_a_number():
    xs = [3.0, 1.0, 7.5, 2.25, 10.0, 4.0, 6.0]
    got = sweep_stats.describe(xs + [None, float("nan"), ""], rng())
    assert got["n"] == 7 and got["mean"] == pytest.approx(np.mean(xs))
    for q in (5, 50, 95):
        assert got[f"p{q}"] == pytest.approx(np.percentile(xs, q))
    assert (got["min"], got["max"]) == (1.0, 10.0)
    empty = sweep_stats.describe([None], rng())
    assert empty["n"] == 0 and empty["mean"] is None and empty["ci95"] is None
    assert sweep_stats.describe([4.0], rng())["ci95"] is None  # one run: no spread to resample


def test_bootstrap_of_two_runs_is_their_range():
    # resampled means of (a, b) are a, (a+b)/2, b with probabilities 1/4, 1/2, 1/4: with 2,000
    # resamples the 2.5 % and 97.5 % quantiles are a and b (P(fewer than 50 a's) is ~1e-100)
    assert sweep_stats.describe([2.0, 5.0], rng())["ci95"] == [2.0, 5.0]


def test_bootstrap_interval_agrees_with_normal_theory_for_many_runs():
    xs = SeedTree(9).generator("data").normal(10.0, 2.0, size=400)
    lo, hi = sweep_stats.describe(xs, rng())["ci95"]
    half = 1.96 * xs.std(ddof=1) / math.sqrt(len(xs))  # the CLT interval, ~0.196
    assert lo == pytest.approx(xs.mean() - half, abs=0.08 * half)
    assert hi == pytest.approx(xs.mean() + half, abs=0.08 * half)


def test_the_interval_of_a_count_stays_within_its_runs():
    counts = [0, 0, 0, 0, 0, 0, 0, 0, 0, 5]
    t_low = np.mean(counts) - 2.262 * np.std(counts, ddof=1) / math.sqrt(10)
    assert t_low < 0  # what Student's t said: a negative count
    lo, hi = sweep_stats.describe(counts, rng())["ci95"]
    assert 0 <= lo <= np.mean(counts) <= hi <= 5


def test_the_bootstrap_is_reproducible_from_its_stream():
    xs = SeedTree(2).generator("data").exponential(3.0, size=20)
    assert sweep_stats.describe(xs, rng(1)) == sweep_stats.describe(xs, rng(1))
    assert sweep_stats.describe(xs, rng(1))["ci95"] != sweep_stats.describe(xs, rng(2))["ci95"]


def test_paired_differences_are_run_by_run_and_narrower_than_unpaired():
    g = SeedTree(4).generator("data")
    common = g.normal(100.0, 20.0, size=30)  # what the common seed fixes: most of the variation
    base, point = common + g.normal(0, 0.5, 30), common + 1.0 + g.normal(0, 0.5, 30)
    got = sweep_stats.paired(list(zip(point, base)) + [(None, 3.0), (2.0, float("nan"))], rng())
    assert got["n"] == 30 and got["mean"] == pytest.approx(np.mean(point - base))
    lo, hi = got["ci95"]
    assert lo < 1.0 < hi
    unpaired = sweep_stats.describe(point, rng())["ci95"]
    assert hi - lo < (unpaired[1] - unpaired[0]) / 10


SCENARIO = """
name: st
seed: 5
duration: 5 rounds
chain:
  round_length: 20
  params: {inflation: 10000000, inflation_change: 1000000, target_bonding_rate: 50%}
  initial_supply: 40000 LPT
orchestrators:
  - {name: o, count: 3, stake: {dist: uniform, low: 5000 LPT, high: 15000 LPT}}
metrics: {sample_every: 1 rounds, jobs: false}
sweep:
  parameters:
    chain.params.target_bonding_rate: [40%, 60%]
    chain.params.inflation_change: [1000000, 3000000]
  runs: 3
  common_seeds: true
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    result = run_sweep(parse_scenario(SCENARIO, "st.yaml"), out)
    assert not result.failed
    return out, json.loads((out / "summary.json").read_text())


def _runs(out):
    return list(csv.DictReader((out / "runs.csv").open()))


def test_summary_statistics_match_the_runs_table(swept):
    out, summary = swept
    rows = _runs(out)
    for pt in summary["points"]:
        xs = [float(r["bonding_rate_last"]) for r in rows if int(r["point"]) == pt["point"]]
        fig = pt["figures"]["bonding_rate_last"]
        assert fig["n"] == 3 and fig["mean"] == pytest.approx(np.mean(xs))
        assert [fig["p5"], fig["p50"], fig["p95"]] == pytest.approx(np.percentile(xs, [5, 50, 95]))
        base = [float(r["bonding_rate_last"]) for r in rows if r["point"] == "0"]
        diff = pt["paired"]["bonding_rate_last"]
        assert diff["mean"] == pytest.approx(np.mean(np.subtract(xs, base)))
    assert all(v["mean"] in (0.0, None) for v in summary["points"][0]["paired"].values())
    assert summary["statistics"]["resamples"] == 2000


def test_typed_columns_and_parquet(swept):
    out, summary = swept
    rows = _runs(out)
    assert {r["chain.params.target_bonding_rate"] for r in rows} == {"400000000", "600000000"}
    assert {r["chain.params.target_bonding_rate_label"] for r in rows} == {"40%", "60%"}
    assert summary["points"][3]["parsed_values"] == {"chain.params.target_bonding_rate": 600_000_000,
                                                  "chain.params.inflation_change": 3_000_000}
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(out / "runs.parquet")
    assert str(table.schema.field("chain.params.target_bonding_rate").type) == "int64"
    assert str(table.schema.field("bonding_rate_last").type) == "double"
    assert table.column("seed").to_pylist() == [int(r["seed"]) for r in rows]
    assert table.column("bonding_rate_last").to_pylist() == [float(r["bonding_rate_last"]) for r in rows]
    metrics = pq.read_table(out / "metrics.parquet")
    with (out / "metrics.csv").open() as f:
        assert metrics.num_rows == sum(1 for _ in f) - 1


def test_provenance_in_the_run_and_sweep_summaries(swept):
    out, summary = swept
    prov = summary["provenance"]
    assert prov["seed"] == 5
    assert prov["scenario_sha256"] == hashlib.sha256((out / "scenario.yaml").read_bytes()).hexdigest()
    run = json.loads((out / "point-1" / "run-2" / "summary.json").read_text())["provenance"]
    assert run["seed"] == int(_runs(out)[5]["seed"])
    assert run["scenario_sha256"] == hashlib.sha256((out / "point-1/run-2/scenario.yaml").read_bytes()).hexdigest()
    assert run["lpsim_version"] and run["git_commit"] == prov["git_commit"]
    if (ROOT / ".git").exists() and prov["git_commit"] is not None:  # a commit of this checkout
        subprocess.run(["git", "cat-file", "-e", prov["git_commit"] + "^{commit}"], cwd=ROOT, check=True)


def test_every_written_column_is_in_the_data_dictionary(swept):
    out, summary = swept
    text = (ROOT / "docs" / "data-dictionary.md").read_text()
    assert text == data_dictionary(), (
        "regenerate it: python -c \"from lpsim.sweep import data_dictionary; "
        "open('docs/data-dictionary.md', 'w').write(data_dictionary())\"")
    for table in ("runs", "metrics"):
        header = next(csv.reader((out / f"{table}.csv").open()))
        for column in header:
            entry = documented(column, summary["parameters"])
            assert entry is not None and f"| `{entry}` |" in text, column
    assert all(f"| `{name}` |" in text for name in FIGURES)


def test_report_plots_figures_against_parameters_and_a_heat_map(swept):
    out, _ = swept
    page = write_sweep_report(out).read_text()
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert pngs == ["by-chain-params-inflation-change.png", "by-chain-params-target-bonding-rate.png",
                    "heatmap.png", "paired.png"]
    assert "Figures against chain.params.target_bonding_rate" in page and "Paired differences" in page
    assert page.count("<img") == 6  # paired differences, two parameter plots, the heat map, fans, boxes


def test_many_runs_are_resampled_in_blocks_with_the_same_result(monkeypatch):
    xs = SeedTree(3).generator("data").normal(size=50)
    whole = sweep_stats.describe(xs, rng())["ci95"]
    monkeypatch.setattr(sweep_stats, "_CHUNK", 50 * 7)  # blocks of 7 resamples, the last one short
    blocks = sweep_stats.describe(xs, rng())["ci95"]
    assert blocks == whole  # the same draws of the one stream, in the same order
