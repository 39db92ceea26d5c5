"""Sweeps and Monte Carlo: expansion and seeds, failure isolation, resuming, and the same results
on every backend (in-process, a process pool, a local Ray)."""
import csv
import json

import pytest

from lpsim.backends import LocalBackend, ProcessBackend, RayBackend, make_backend
from lpsim.scenario import ScenarioError, parse_scenario
from lpsim.sweep import expand, run_sweep
from lpsim.sweep_report import write_sweep_report

BASE = """
name: sw
seed: 3
duration: 6 rounds
chain:
  round_length: 20
  params: {inflation: 10000000, inflation_change: 1000000, target_bonding_rate: 50%}
  initial_supply: 40000 LPT
orchestrators:
  - {name: o, count: 3, stake: {dist: uniform, low: 5000 LPT, high: 15000 LPT}}
metrics: {sample_every: 1 rounds, jobs: false}
"""


def sweep(body: str):
    return parse_scenario(BASE + body, "sw.yaml")


GRID = """
sweep:
  parameters:
    chain.params.target_bonding_rate: [40%, 60%]
    orchestrators[0].reward_cut: [0.1, 0.2, 0.3]
  runs: 2
"""


def test_grid_and_zip_expand_to_points_times_runs_with_distinct_seeds():
    units = expand(sweep(GRID))
    assert len(units) == 2 * 3 * 2
    assert len({u.seed for u in units}) == len(units)
    assert units[0].values == {"chain.params.target_bonding_rate": "40%", "orchestrators[0].reward_cut": 0.1}
    assert units[0].scenario["chain"]["params"]["target_bonding_rate"] == 400_000_000  # validated and resolved
    assert units[-1].scenario["orchestrators"][0]["reward_cut"] == 0.3
    zipped = expand(sweep(GRID.replace("[40%, 60%]", "[40%, 50%, 60%]") + "  mode: zip\n"))
    assert len(zipped) == 3 * 2
    assert [u.values["orchestrators[0].reward_cut"] for u in zipped[::2]] == [0.1, 0.2, 0.3]
    # the same scenario and seed always give the same seeds
    assert [u.seed for u in expand(sweep(GRID))] == [u.seed for u in units]


def test_common_seeds_share_a_seed_per_run_across_points():
    units = expand(sweep(GRID + "  common_seeds: true\n"))
    by_run = {}
    for u in units:
        by_run.setdefault(u.run, set()).add(u.seed)
    assert all(len(seeds) == 1 for seeds in by_run.values()) and len(by_run) == 2


def test_bad_sweeps_are_reported():
    with pytest.raises(ScenarioError, match="zip mode needs lists of one length"):
        sweep(GRID + "  mode: zip\n")
    with pytest.raises(ScenarioError, match="the scenario has no gateways"):
        expand(sweep("sweep:\n  parameters:\n    gateways[0].deposit: [1 ETH]\n"))
    with pytest.raises(ScenarioError, match="reward_cut"):
        expand(sweep("sweep:\n  parameters:\n    orchestrators[0].reward_cut: [2]\n"))


FAILING = """
sweep:
  parameters:
    chain.backend: [revm, embedded]
  runs: 2
"""


def test_a_failed_run_keeps_its_seed_and_error_and_the_others_finish(tmp_path):
    result = run_sweep(sweep(FAILING), tmp_path / "out")
    assert len(result.results) == 4
    assert [r["status"] for r in result.results] == ["ok", "ok", "failed", "failed"]
    failed = result.failed[0]
    assert "the simulator runs on" in failed["error"] and failed["seed"] == result.units[2].seed
    rows = list(csv.DictReader((tmp_path / "out" / "runs.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"]
    assert rows[2]["seed"] == str(failed["seed"]) and "the simulator runs on" in rows[2]["error"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["points"][0]["runs_ok"] == 2 and summary["points"][1]["runs_ok"] == 0
    assert summary["points"][1]["failed"][0]["seed"] == failed["seed"]


def test_results_form_one_tidy_table_and_a_resumed_sweep_reuses_finished_runs(tmp_path):
    out = tmp_path / "out"
    first = run_sweep(sweep(GRID.replace("runs: 2", "runs: 1")), out)
    assert not any(r["resumed"] for r in first.results)
    with (out / "metrics.csv").open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames[:5] == ["point", "run", "seed", "chain.params.target_bonding_rate",
                                         "orchestrators[0].reward_cut"]
        rows = list(reader)
    assert {r["point"] for r in rows} == {str(p) for p in range(6)}
    # the value as the simulator reads it (ppb), and as written
    assert {r["chain.params.target_bonding_rate"] for r in rows} == {"400000000", "600000000"}
    assert {r["chain.params.target_bonding_rate_label"] for r in rows} == {"40%", "60%"}
    runs_csv = (out / "runs.csv").read_bytes()
    again = run_sweep(sweep(GRID.replace("runs: 2", "runs: 1")), out)
    assert all(r["resumed"] for r in again.results)
    assert (out / "runs.csv").read_bytes() == runs_csv
    page = write_sweep_report(out).read_text()
    assert page.count("<img") >= 2


def _run_metrics(out, unit):
    return (out / unit.folder / "metrics.csv").read_bytes()


TWO = "sweep:\n  parameters:\n    orchestrators[0].reward_cut: [0.1, 0.2]\n"


def test_process_pool_gives_the_same_results_as_in_process(tmp_path):
    local = run_sweep(sweep(TWO), tmp_path / "local", backend=LocalBackend())
    pooled = run_sweep(sweep(TWO), tmp_path / "pool", backend=ProcessBackend(2))
    assert all(r["status"] == "ok" for r in pooled.results)
    for unit in local.units:
        assert _run_metrics(tmp_path / "local", unit) == _run_metrics(tmp_path / "pool", unit)


@pytest.mark.ray
def test_ray_backend_runs_the_sweep_on_a_local_ray(tmp_path):
    ray = pytest.importorskip("ray")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    except Exception as exc:  # noqa: BLE001 - an environment where Ray cannot start
        pytest.skip(f"Ray cannot start here: {exc}")
    try:
        local = run_sweep(sweep(TWO), tmp_path / "local")
        remote = run_sweep(sweep(TWO), tmp_path / "ray", backend=make_backend("ray"))
        assert isinstance(make_backend("ray"), RayBackend)
        assert [r["status"] for r in remote.results] == ["ok", "ok"]
        for unit in local.units:
            assert _run_metrics(tmp_path / "local", unit) == _run_metrics(tmp_path / "ray", unit)
    finally:
        ray.shutdown()
