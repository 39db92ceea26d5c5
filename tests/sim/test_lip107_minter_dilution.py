"""A study figure computed independently: with the bonding rate above target every round, the
dilution over the window is the Minter's arithmetic (inflation falls by inflationChange at each
round's initialisation, each round mints supply × inflation / 1e9), and a larger inflationChange
dilutes less. From the recorded network of 2026-01-01, as scenarios/lip107.yaml starts."""
from __future__ import annotations

import math

import pytest

from lpsim import metric_names as m
from lpsim.engine import Simulation
from lpsim.network_start import network_day
from lpsim.scenario import parse_scenario

RUN = """
name: lip107-minter
seed: 107
duration: 8 rounds
start: {from_network: "2026-01-01"}
chain:
  round_length: 6377
  params: {target_bonding_rate: 10%, inflation_change: CHANGE}
orchestrators:
  - {name: o, count: 3, stake: 1000 LPT, reward_cut: 15%, policy: always_reward}
delegators:
  - {name: d, count: 2, stake: 1000 LPT, claim_every: null}
metrics: {sample_every: 1 rounds, jobs: false}
"""


def _run(change: int):
    sim = Simulation(parse_scenario(RUN.replace("CHANGE", str(change)), "lip107-minter.yaml"))
    sim.run()
    net = {}
    for (_, r, e, n, v) in sim.rec.metric_rows:
        if e == m.NETWORK:
            net.setdefault(n, {})[r] = v
    return net


def _dilution(net) -> tuple[float, list[int]]:
    supply = net[m.TOTAL_SUPPLY]
    rounds = sorted(supply)
    return supply[rounds[-1]] / supply[rounds[0]] - 1, rounds


def test_dilution_is_the_minters_arithmetic_and_falls_with_inflation_change():
    day = network_day("2026-01-01")
    figures = {}
    for change in (500, 5000):
        net = _run(change)
        dilution, rounds = _dilution(net)
        assert min(net[m.BONDING_RATE].values()) > 0.10  # above target all window: inflation falls
        # the Minter: from the recorded inflation, minus `change` a round, compounded
        inflation = {r: net[m.INFLATION][r] for r in rounds}
        first = rounds[0]
        for r in rounds[1:]:
            assert inflation[r] == max(0, day.inflation_ppb - change * (r - first + 1))
        expected = math.prod(1 + inflation[r] / 1e9 for r in rounds[1:]) - 1
        # tolerance: each rewarder's share of a round's mint is floored at percPoints' precision
        # (1e-9 of the mint, MathUtils), so at most (active set size, 100) × 1e-9 of it is lost;
        # one inflationChange step less (the Minter's rule off by one round) is ~1e-3 of it
        assert 0 <= expected - dilution <= 100e-9 * expected, (change, dilution, expected)
        figures[change] = dilution
    assert figures[5000] < figures[500]
    # the gap is the arithmetic's: round r mints (5000 - 500)·(r - first + 1) ppb less (to first
    # order; the compounding's cross terms are ~1e-3 of it)
    assert (figures[500] - figures[5000]) == \
        pytest.approx(4500e-9 * sum(r - rounds[0] + 1 for r in rounds[1:]), rel=0.01)
