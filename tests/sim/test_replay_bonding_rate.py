"""The recorded bonding rate as a path to hold (hold_bonding_rate with target: recorded)."""
from __future__ import annotations

import pytest

from lpsim import data
from lpsim import policies as pol
from lpsim.network_start import recorded_bonding_rate

DAY = 86400.0


def _rows():
    return {r["date"]: r["bonding_rate_ppb"] / 1e9 for r in data.inflation_daily()}


def test_recorded_path_follows_the_dates_of_the_rounds():
    rows = _rows()
    path = recorded_bonding_rate("2024-06-01", 3, 100, DAY)  # one round a day: 4 values, 4 days
    assert path == [rows["2024-06-01"], rows["2024-06-02"], rows["2024-06-03"], rows["2024-06-04"]]
    assert len(set(path)) > 1  # the recorded rate moves day to day: not a constant target
    half = recorded_bonding_rate("2024-06-01", 3, 100, DAY / 2)  # two rounds a day
    assert half == [rows["2024-06-01"]] * 2 + [rows["2024-06-02"]] * 2


def test_recorded_path_errors_past_the_data_and_before_it():
    last = max(_rows())
    with pytest.raises(ValueError, match=f"past the recorded bonding rate .last date {last}"):
        recorded_bonding_rate(last, 1, 0, DAY)
    with pytest.raises(ValueError, match="outside the recorded network data"):
        recorded_bonding_rate("2019-01-01", 1, 0, DAY)


def _obs(rate, series, bonded=200.0, balance=0.0):
    infos = (pol.OrchestratorInfo("o0", 1000.0, 0.1, 0.5, True, 0.1),)
    net = pol.Network(5, 4383.0, rate, 0.5, 0.0006, 1e6, infos, series, series)
    return pol.DelegatorObservation("d", net, bonded, 0.0, "o0", balance, 0.0, None)


def test_hold_bonding_rate_takes_its_target_from_the_recorded_series():
    p = {"target": "recorded", "band": 0.01, "step": 0.5}
    # at 0.50: under a recorded 0.60 it bonds, over a recorded 0.40 it unbonds (a constant would do one)
    [bond] = pol.hold_bonding_rate(_obs(0.50, {"bonding_rate": 0.60}, balance=300.0), p)
    assert bond == pol.Bond("o0", pytest.approx(0.5 * 100_000 * 300 / 500_000))
    [unbond] = pol.hold_bonding_rate(_obs(0.50, {"bonding_rate": 0.40}), p)
    assert unbond.amount == pytest.approx(0.5 * 100_000 * 200 / 500_000)
    with pytest.raises(ValueError, match="target: recorded needs the run's `bonding_rate` series"):
        pol.hold_bonding_rate(_obs(0.50, {}), p)


RUN = """
name: replay-bonding-rate
seed: 4
duration: 6 rounds
start: {from_network: "2024-06-01"}
chain: {round_length: 7200}
orchestrators:
  - {name: o, count: 3, stake: {dist: pareto, scale: 50000 LPT, shape: 1.5}}
delegators:
  - {name: d, count: 4, stake: 1000 LPT, claim_every: null,
     policy: {name: hold_bonding_rate, params: {target: recorded, band: 0.002}}}
metrics: {sample_every: 1 rounds, jobs: false}
"""


def test_a_run_from_a_recorded_date_holds_the_recorded_path():
    from lpsim import metric_names as m
    from lpsim.engine import Simulation
    from lpsim.network_start import date_of_round
    from lpsim.scenario import parse_scenario

    sim = Simulation(parse_scenario(RUN, "replay.yaml"))
    sim.run()
    rows = _rows()
    got = {(r, n): v for (_, r, e, n, v) in sim.rec.metric_rows if e == m.NETWORK}
    rounds = sorted(r for (r, n) in got if n == m.RECORDED_BONDING_RATE)
    assert len(rounds) >= 5
    for r in rounds:  # the target each round is the chain's rate on that round's date
        date = date_of_round("2024-06-01", r, sim.first_round, sim.scenario.chain.round_seconds)
        assert got[r, m.RECORDED_BONDING_RATE] == rows[date]
        assert abs(got[r, m.BONDING_RATE] - rows[date]) < 0.002 + 0.001  # the band and one round's rewards
    assert len({got[r, m.RECORDED_BONDING_RATE] for r in rounds}) > 1


def test_target_recorded_needs_a_start_date_named_with_its_line():
    from lpsim.scenario import ScenarioError, parse_scenario

    with pytest.raises(ScenarioError) as err:
        parse_scenario(RUN.replace('start: {from_network: "2024-06-01"}\n', ""), "replay.yaml")
    [problem] = err.value.problems
    assert problem.line == 10 and problem.path == "delegators[0].policy.params.target"  # the policy's line
    assert "recorded needs start.from_network: <date>" in problem.message
