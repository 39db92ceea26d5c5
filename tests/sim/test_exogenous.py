"""Exogenous series: the processes' moments, file-driven and bootstrapped series, seeding, the
rows a run records, the demand multiplier, and bad entries reported at their field and line."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lpsim import exogenous as ex
from lpsim import metric_names as m
from lpsim.engine import Arrival, Simulation
from lpsim.scenario import ScenarioError, parse_scenario
from lpsim.seeds import SeedTree


def log_returns(path):
    return np.diff(np.log(path))


def test_gbm_moments():
    dt, mu, sigma, n = 1 / 365, 0.3, 0.9, 200_000
    r = log_returns(ex.gbm(5.0, mu, sigma, dt, n, np.random.default_rng(1)))
    se = sigma * math.sqrt(dt / n)  # standard error of the mean
    assert abs(r.mean() - (mu - sigma ** 2 / 2) * dt) < 4 * se
    assert r.var() == pytest.approx(sigma ** 2 * dt, rel=0.02)


def test_merton_moments():
    # mu offsets the drift and the jumps' mean so a long path neither under- nor overflows
    dt, mu, sigma, lam, jm, js, n = 1 / 365, 1.125, 0.5, 20.0, -0.05, 0.1, 400_000
    r = log_returns(ex.merton(5.0, mu, sigma, lam, jm, js, dt, n, np.random.default_rng(2)))
    var = sigma ** 2 * dt + lam * dt * (jm ** 2 + js ** 2)
    assert abs(r.mean() - ((mu - sigma ** 2 / 2) * dt + lam * dt * jm)) < 4 * math.sqrt(var / n)
    assert r.var() == pytest.approx(var, rel=0.03)
    # fat tails: excess kurtosis well above a normal's 0
    assert ((r - r.mean()) ** 4).mean() / r.var() ** 2 - 3 > 1


def test_bootstrap_draws_only_recorded_returns():
    recorded = np.array([-0.1, 0.0, 0.05])
    path = ex.bootstrap(2.0, recorded, 3000, np.random.default_rng(3))
    r = log_returns(path)
    assert np.isclose(r[:, None], recorded[None, :], atol=1e-12).any(axis=1).all()
    counts = [np.isclose(r, x).sum() for x in recorded]
    assert all(abs(c - 1000) < 120 for c in counts)


def test_file_series_holds_each_value_until_the_next_row(tmp_path):
    f = tmp_path / "prices.csv"
    f.write_text("day,lpt\n0,5\n2,6\n3.5,4\n")
    # rounds of half a day: rounds 0..3 -> days 0, 0.5, 1, 1.5 -> 5; 4..6 -> days 2..3 -> 6; 7.. -> 4
    assert ex.from_file(f, "lpt", 8, 0.5).tolist() == [5, 5, 5, 5, 6, 6, 6, 4, 4]
    g = tmp_path / "by_round.csv"
    g.write_text("round,gas\n2,1.5\n0,0.5\n")
    assert ex.from_file(g, "gas", 3, 1.0).tolist() == [0.5, 0.5, 1.5, 1.5]


SCENARIO = """
seed: 5
duration: 1 d
chain: {round_length: 600}
orchestrators: [{count: 2, stake: 1000 LPT}]
metrics: {jobs: false}
series:
  lpt_usd: {process: merton, start: 5, sigma: 0.8, jump_rate: 12, jump_mean: -0.1, jump_sd: 0.1}
  eth_usd: {process: gbm, start: 3000, sigma: 0.6, mu: 0.1}
  gas_price_gwei: {process: constant, value: 0.02}
"""


def series_rows(sim, metric):
    return [v for (_, _, e, name, v) in sim.rec.metric_rows if e == m.NETWORK and name == metric]


def test_series_are_recorded_each_round_and_seeded(tmp_path):
    runs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        sim = Simulation(parse_scenario(SCENARIO, seed=seed))
        sim.run()
        sim.finish(tmp_path / name)
        runs.append(sim)
    a, _, c = runs
    lpt = series_rows(a, m.LPT_USD)
    assert len(lpt) == 12 and lpt[0] == 5.0 and len(set(lpt)) > 1
    assert series_rows(a, m.GAS_PRICE_GWEI) == [0.02] * 12
    assert series_rows(a, m.ETH_USD)[0] == 3000.0
    assert (tmp_path / "a" / "metrics.csv").read_bytes() == (tmp_path / "b" / "metrics.csv").read_bytes()
    assert series_rows(c, m.LPT_USD) != lpt
    # each series has its own stream: dropping eth_usd leaves lpt_usd's path as it was
    alone = Simulation(parse_scenario(SCENARIO.replace("  eth_usd: {process: gbm, start: 3000, sigma: 0.6, mu: 0.1}\n",
                                                       ""), seed=5))
    alone.run()
    assert series_rows(alone, m.LPT_USD) == lpt


def test_demand_multiplier_scales_the_arrival_rate():
    class Spec:
        interarrival = type("D", (), {"sample": staticmethod(lambda rng: 6.0)})

    assert Arrival(Spec).next_interval(None) == 6.0
    assert Arrival(Spec, lambda: 3.0).next_interval(None) == 2.0
    assert Arrival(Spec, lambda: 0.0).next_interval(None) == math.inf


def test_series_draws_come_from_the_seed_tree():
    specs = {"lpt_usd": {"process": "gbm", "start": 5.0, "sigma": 0.5, "mu": 0.0}}
    one = ex.Series(specs, 10, 7200, SeedTree(9)).values["lpt_usd"]
    two = ex.Series(specs, 10, 7200, SeedTree(9)).values["lpt_usd"]
    assert one.tolist() == two.tolist()
    assert ex.Series(specs, 10, 7200, SeedTree(10)).values["lpt_usd"].tolist() != one.tolist()


@pytest.mark.parametrize("entry, where, message", [
    ("lpt_usd: {process: gbm, start: 5}", "series.lpt_usd.sigma", "required by process gbm"),
    ("lpt_usd: {process: brownian, start: 5}", "series.lpt_usd.process", "brownian"),
    ("lpt_usd: {process: gbm, start: -1, sigma: 1}", "series.lpt_usd.start", "greater than 0"),
    ("btc_usd: {process: constant, value: 1}", "series", "btc_usd"),
    ("gas_price_gwei: {process: file, path: /nonexistent.csv, column: gas}", "series.gas_price_gwei.path",
     "nonexistent"),
    ("demand: {process: bootstrap, start: 1}", "series.demand.returns", "returns, or path and column"),
])
def test_bad_series_entries_name_field_and_line(entry, where, message):
    text = SCENARIO.split("series:")[0] + "series:\n  " + entry + "\n"
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text)
    s = str(err.value)
    assert "line 8" in s and where in s and message in s, s


def test_a_file_missing_its_column_is_refused(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("day,lpt\n0,5\n")
    text = SCENARIO.split("series:")[0] + f"series:\n  lpt_usd: {{process: file, path: {f}, column: price}}\n"
    with pytest.raises(ScenarioError, match="no column 'price'"):
        parse_scenario(text)
