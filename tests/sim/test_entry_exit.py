"""Entry and exit: delegators entering and leaving (enter_and_exit), orchestrators joining and
leaving the active set (join_when_profitable, Join/Leave) under the contract's rules (pool size,
the smallest stake evicted), by hand and through the chain."""
from __future__ import annotations

import math

import pytest

from lpsim import metric_names as m
from lpsim import policies as pol
from lpsim.engine import Simulation
from lpsim.scenario import ScenarioError, parse_scenario

from .test_policies import Draws, network

LPT = 10**18
BASE = """
seed: 9
duration: {duration}
chain:
  round_length: 300
  params: {inflation: 613500, target_bonding_rate: 50%, unbonding_period: 2, num_active_transcoders: 3}
  initial_supply: 20000 LPT
orchestrators:
  - {name: a, count: 1, stake: 1000 LPT}
  - {name: b, count: 1, stake: 1500 LPT}
  - {name: c, count: 1, stake: 2500 LPT}
{more}
metrics: {jobs: false}
"""


def sim_of(more: str, duration: str = "12 h") -> Simulation:
    sim = Simulation(parse_scenario(BASE.replace("{more}", more).replace("{duration}", duration)))
    sim.run()
    return sim


def active(sim) -> set[str]:
    bm = sim.world.protocol.BondingManager
    return {o.name for o in sim.orchestrators if bm.isActiveTranscoder(o.address)}


def always_join(obs, params):
    return [pol.Join()] if not obs.me.active else []


def leave_at_once(obs, params):
    return [pol.Leave()] if obs.me.active else []


# --------------------------------------------------------------------------- by hand

def test_enter_and_exit_by_hand():
    p = {"entry_rate": 0.1, "exit_rate": 0.01, "required_return": 0.2, "sensitivity": 10, "choose": "best"}
    net = network((0.10, 0.30))  # o1 yields 30 %: 10 points over the requirement
    outside = {"name": "d", "network": net, "bonded": 0.0, "pending_fees": 0.0, "delegate": None, "balance": 50.0,
               "unbonding": 0.0}
    p_in = 0.1 * math.exp(10 * 0.10)  # 0.272
    assert pol.enter_and_exit(pol.DelegatorObservation(**outside, rng=Draws(u=p_in - 1e-9)), p) == [pol.Bond("o1")]
    assert pol.enter_and_exit(pol.DelegatorObservation(**outside, rng=Draws(u=p_in + 1e-9)), p) == []
    inside = {**outside, "bonded": 100.0, "delegate": "o0", "balance": 0.0}
    p_out = 0.01 * math.exp(-10 * (0.10 - 0.20))  # o0 yields 10 %: 10 points short
    assert pol.enter_and_exit(pol.DelegatorObservation(**inside, rng=Draws(u=p_out - 1e-9)), p) == [pol.Unbond()]
    assert pol.enter_and_exit(pol.DelegatorObservation(**inside, rng=Draws(u=p_out + 1e-9)), p) == []


def test_join_when_profitable_by_hand():
    # a full set of two (stakes 1000 each): an outsider with 900 LPT cannot make it, one with 1500 can
    infos = (pol.OrchestratorInfo("o0", 1000.0, 0.1, 0.5, True, 0.3), pol.OrchestratorInfo("o1", 1000.0, 0.1, 0.5, True, 0.3))
    s = {"lpt_usd": 5.0, "eth_usd": 3000.0, "gas_price_gwei": 0.1}
    net = pol.Network(5, 400.0, 0.5, 0.5, 0.0006, 1e6, infos + (pol.OrchestratorInfo("x", 0.0, 0.1, 0.5, False, 0.0),),
                      s, s, active_set_size=2)

    def obs(balance):
        return pol.OrchestratorObservation("x", net, net.orchestrator("x"), 0.0, 0.0, 350_000, Draws(), balance)

    assert pol.join_when_profitable(obs(900.0), {}) == []
    # with 1500: it evicts o0 and mints 1e6 × 0.0006 × 1500/2500 = 360 LPT a round, all kept: $1,800
    assert pol.join_when_profitable(obs(1500.0), {"cost_usd_per_month": 1000}) == [pol.Join()]
    # a month of 400/12 rounds costs $1,000: $30 a round, so margin 61 refuses ($1,830 > $1,800)
    assert pol.join_when_profitable(obs(1500.0), {"cost_usd_per_month": 1000, "margin": 61}) == []


# --------------------------------------------------------------------------- on the chain

def test_delegators_enter_then_exit_through_the_contracts():
    entrants = """delegators:
  - name: new
    count: 6
    stake: 500 LPT
    bonded_at_start: false
    policy: {name: enter_and_exit, params: {entry_rate: 1, exit_rate: 0, sensitivity: 0}}
"""
    sim = sim_of(entrants, "3 h")
    token, bm = sim.world.protocol.LivepeerToken, sim.world.protocol.BondingManager
    bonded0 = [v for (_, _, e, name, v) in sim.rec.metric_rows if e == m.NETWORK and name == m.TOTAL_BONDED]
    assert all(token.balanceOf(d.address) == 0 for d in sim.delegators)  # all entered in the first round
    assert bonded0[-1] >= 5000 + 3000
    leaving = entrants.replace("bonded_at_start: false", "bonded_at_start: true").replace(
        "entry_rate: 1, exit_rate: 0", "entry_rate: 0, exit_rate: 1")
    sim = sim_of(leaving, "12 h")  # unbonding period 2 rounds of an hour: withdrawn by the end
    token, bm = sim.world.protocol.LivepeerToken, sim.world.protocol.BondingManager
    assert all(bm.getDelegator(d.address)[0] == 0 for d in sim.delegators)
    assert all(token.balanceOf(d.address) >= 500 * LPT for d in sim.delegators)  # stake and rewards withdrawn
    assert not any(a[3] == "Unbond(amount=None)" and a[2] == "new-0" for a in sim.behaviour.actions[6:])  # once


def test_an_entrant_evicts_the_smallest_stake_and_a_small_one_stays_out():
    sim = sim_of("""  - name: big
    stake: 2000 LPT
    registered_at_start: false
    policy: tests.sim.test_entry_exit:always_join
  - name: small
    stake: 900 LPT
    registered_at_start: false
    policy: tests.sim.test_entry_exit:always_join
""", "3 h")
    assert active(sim) == {"b-0", "c-0", "big-0"}  # a-0 (1000 LPT) evicted; small-0 (900) cannot beat b-0 (1500)
    joins = [(a[2], a[4]) for a in sim.behaviour.actions if a[3] == "Join()"]
    assert ("big-0", True) in joins and ("small-0", True) in joins  # its transcoder() succeeds; the pool refuses it
    assert sim.world.protocol.BondingManager.getTranscoderPoolSize() == 3


def test_join_when_profitable_enters_a_set_with_room_and_calls_reward():
    sim = sim_of("""  - name: new
    stake: 800 LPT
    registered_at_start: false
    policy: join_when_profitable
""".replace("num_active_transcoders: 3", ""), "6 h")
    assert "new-0" not in active(sim)  # the set is full and 800 < 1000
    sim = Simulation(parse_scenario(BASE.replace("num_active_transcoders: 3", "num_active_transcoders: 4").replace(
        "{more}", "  - {name: new, stake: 800 LPT, registered_at_start: false, policy: join_when_profitable}").replace(
        "{duration}", "6 h")))
    sim.run()
    assert "new-0" in active(sim)
    assert sim.orchestrators[3].rewards_total > 0


def test_an_orchestrator_that_leaves_is_resigned_and_withdraws():
    sim = sim_of("  - {name: quit, stake: 3000 LPT, policy: 'tests.sim.test_entry_exit:leave_at_once'}", "12 h")
    quit_ = sim.orchestrators[3]
    assert "quit-0" not in active(sim)
    assert sim.world.protocol.LivepeerToken.balanceOf(quit_.address) >= 3000 * LPT
    assert [a[3] for a in sim.behaviour.actions if a[2] == "quit-0"] == ["Leave()", "withdraw"]


@pytest.mark.parametrize("more, where", [
    ("  - {name: x, registered_at_start: false}", "orchestrators[3].registered_at_start"),
    ("delegators: [{count: 2, bonded_at_start: false}]", "delegators[0].bonded_at_start"),
])
def test_entrants_without_a_policy_are_refused_at_their_field(more, where):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(BASE.replace("{more}", more).replace("{duration}", "1 h"))
    assert f"line 12, {where}" in str(err.value) and "needs a policy" in str(err.value), str(err.value)
