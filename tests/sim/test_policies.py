"""Behaviour policies: the interface (a user's own callable), the shipped rules against hand-worked
cases, determinism, reverted actions recorded, and errors naming the field, line, entity and round."""
from __future__ import annotations

import csv

import pytest

from lpsim import metric_names as m
from lpsim import policies as pol
from lpsim.engine import Simulation
from lpsim.scenario import ScenarioError, parse_scenario

BASE = """
name: behaviour-test
seed: 11
duration: 2 d
chain:
  round_length: 600
  params: {inflation: 613500, inflation_change: 500, target_bonding_rate: 50%, unbonding_period: 2}
  initial_supply: 10000 LPT
orchestrators:
  - count: 3
    stake: 3000 LPT
    reward_cut: 20%
{orch_extra}
delegators:
  - count: 8
    stake: {dist: lognormal, median: 1000 LPT, sigma: 0.5}
{del_extra}
metrics: {jobs: false}
"""


def scenario(orch_extra: str = "", del_extra: str = "", seed: int = 11):
    return parse_scenario(BASE.replace("{orch_extra}", orch_extra).replace("{del_extra}", del_extra), seed=seed)


def run(sc, tmp_path, name="out"):
    sim = Simulation(sc)
    sim.run()
    sim.finish(tmp_path / name)
    return sim


def final(sim, metric):
    return [v for (_, _, entity, name, v) in _rows(sim) if entity == m.NETWORK and name == metric][-1]


def _rows(sim):
    return sim.rec.metric_rows


# a user's own policies, named in scenarios as tests.sim.test_policies:<name>
def leave_everything(obs, params):
    return [pol.Unbond()] if obs.bonded > 0 else []


def unbond_twice(obs, params):
    return [pol.Unbond(), pol.Unbond()] if obs.bonded > 0 else []


def broken(obs, params):
    if obs.network.round >= params["from_round"]:
        raise ZeroDivisionError("boom")
    return []


def never_reward(obs, params):
    return []


def unbond_half_then_rebond(obs, params):
    if obs.unbonding > 0:
        return [pol.Rebond()]  # the lock made last round goes back to the same orchestrator
    return [pol.Unbond(obs.bonded / 2)] if obs.network.round == params["at"] else []


# --------------------------------------------------------------------------- the interface

def test_a_user_policy_changes_the_outcome(tmp_path):
    base = run(scenario(), tmp_path, "base")
    left = run(scenario(del_extra="    policy: tests.sim.test_policies:leave_everything"), tmp_path, "left")
    assert final(base, m.BONDING_RATE) > 0.5
    assert final(left, m.TOTAL_BONDED) < final(base, m.TOTAL_BONDED) - 7000  # the delegators' ~8,000 LPT left
    rows = list(csv.DictReader((tmp_path / "left" / "policy_actions.csv").read_text().splitlines()))
    assert {r["entity"] for r in rows if r["action"] == "Unbond(amount=None)"} == {f"del0-{i}" for i in range(8)}


def test_a_rebond_returns_the_unbonding_lock_to_the_stake(tmp_path):
    base = run(scenario(), tmp_path, "base")
    at = base.first_round + 3
    sim = run(scenario(del_extra="    policy: {name: tests.sim.test_policies:unbond_half_then_rebond, params: "
                                 f"{{at: {at}}}}}"), tmp_path, "rebond")
    rows = list(csv.DictReader((tmp_path / "rebond" / "policy_actions.csv").read_text().splitlines()))
    assert [r["action"].split("(")[0] for r in rows if r["entity"] == "del0-0"] == ["Unbond", "Rebond"]
    assert len(rows) == 16 and all(r["ok"] == "True" for r in rows)

    def bonded(s, round_):
        return [v for (_, r, e, name, v) in _rows(s) if e == m.NETWORK and name == m.TOTAL_BONDED and r == round_][-1]
    # half of the delegators' ~8,000 LPT is out for a round, then every lock is back: the total
    # ends within the rewards that round's lower bonding rate changed (inflation moves with it)
    assert bonded(sim, at + 1) < bonded(base, at + 1) - 3000  # (a round's sample comes before its actions)
    assert final(sim, m.TOTAL_BONDED) == pytest.approx(final(base, m.TOTAL_BONDED), rel=1e-3)


def test_a_reverted_action_is_recorded_with_its_reason(tmp_path):
    run(scenario(del_extra="    policy: tests.sim.test_policies:unbond_twice"), tmp_path)
    rows = list(csv.DictReader((tmp_path / "out" / "policy_actions.csv").read_text().splitlines()))
    failed = [r for r in rows if r["ok"] == "False"]
    assert len(failed) == 8  # the second unbond of each delegator: nothing left to unbond
    assert all(r["revert_reason"] for r in failed)


def test_an_orchestrator_policy_replaces_the_reward_probability(tmp_path):
    sim = run(scenario(orch_extra="    policy: tests.sim.test_policies:never_reward"), tmp_path)
    assert sum(o.rewards_total for o in sim.orchestrators) == 0
    assert not (tmp_path / "out" / "policy_actions.csv").exists()  # no action, no file


def test_seeded_and_seed_dependent(tmp_path):
    extra = "    policy: {name: yield_seeking, params: {required_return: 100, inertia: 0.7, unbond_fraction: 0.3}}"
    a = run(scenario(del_extra=extra), tmp_path, "a")
    run(scenario(del_extra=extra), tmp_path, "b")
    run(scenario(del_extra=extra, seed=12), tmp_path, "c")
    assert (tmp_path / "a" / "metrics.csv").read_bytes() == (tmp_path / "b" / "metrics.csv").read_bytes()
    assert (tmp_path / "a" / "policy_actions.csv").read_bytes() == (tmp_path / "b" / "policy_actions.csv").read_bytes()
    assert (tmp_path / "a" / "policy_actions.csv").read_bytes() != (tmp_path / "c" / "policy_actions.csv").read_bytes()
    assert final(a, m.TOTAL_BONDED) < final(run(scenario(), tmp_path, "base"), m.TOTAL_BONDED)


def test_a_policy_that_raises_names_the_entity_and_round(tmp_path):
    sc = scenario(del_extra="    policy: {name: 'tests.sim.test_policies:broken', params: {from_round: 3}}")
    with pytest.raises(pol.PolicyError, match=r"del0-0 raised in round 3: ZeroDivisionError: boom"):
        run(sc, tmp_path)


@pytest.mark.parametrize("policy, message", [
    ("nosuch", "unknown policy 'nosuch'"),
    ("tests.sim.test_policies:nothing_here", "has no 'nothing_here'"),
    ("not_a_module_xyz:f", "cannot import 'not_a_module_xyz'"),
    ("{name: passive, params: [1]}", "expected a mapping"),
])
def test_bad_policy_is_reported_at_its_field_and_line(policy, message):
    with pytest.raises(ScenarioError) as err:
        scenario(del_extra=f"    policy: {policy}")
    text = str(err.value)
    assert "line 17, delegators[0].policy" in text and message in text


def test_held_bonding_rate_stays_in_band(tmp_path):
    sc = scenario(del_extra="    policy: {name: hold_bonding_rate, params: {target: 0.45, band: 0.01, step: 0.5}}")
    sim = run(sc, tmp_path)
    rates = [v for (_, _, e, name, v) in _rows(sim) if e == m.NETWORK and name == m.BONDING_RATE]
    assert rates[0] > 0.5
    assert all(abs(r - 0.45) < 0.012 for r in rates[-8:])  # the dead band (0.01) and one round of rewards


# --------------------------------------------------------------------------- shipped rules by hand

def network(yields=(0.10, 0.30), series=None, previous=None, bonding_rate=0.5):
    infos = tuple(pol.OrchestratorInfo(f"o{i}", 1000.0, 0.1, 0.5, True, y) for i, y in enumerate(yields))
    series = series or {}
    return pol.Network(5, 4383.0, bonding_rate, 0.5, 0.0006, 1e6, infos, series, previous or series)


class Draws:
    """A generator stand-in with set draws (random() for inertia, normal() for noise)."""

    def __init__(self, u=0.99, z=0.0):
        self.u, self.z = u, z

    def random(self):
        return self.u

    def normal(self, loc, sd):
        return loc + sd * self.z


def delegator(net, bonded=100.0, delegate="o0", balance=0.0, rng=None):
    return pol.DelegatorObservation("d", net, bonded, 0.0, delegate, balance, 0.0, rng or Draws())


def test_yield_seeking_by_hand():
    p = {"required_return": 0.2, "inertia": 0.5, "unbond_fraction": 0.25, "switch_margin": 0.05}
    # o0 yields 10 % < 20 %: unbond a quarter of 100 LPT
    assert pol.yield_seeking(delegator(network()), p) == [pol.Unbond(25.0)]
    # inertia: a draw under 0.5 does nothing
    assert pol.yield_seeking(delegator(network(), rng=Draws(u=0.3)), p) == []
    # o0 at 25 % clears 20 %, o1 at 31 % beats it by more than 5 points: move
    assert pol.yield_seeking(delegator(network((0.25, 0.31))), p) == [pol.Move("o1")]
    assert pol.yield_seeking(delegator(network((0.25, 0.29))), p) == []
    # partly unbonded, its orchestrator clears the requirement again: the withdrawn LPT goes back to it
    assert pol.yield_seeking(delegator(network((0.25, 0.29)), balance=40), p) == [pol.Bond("o0")]
    # unbonded with a balance: bond to the best when it clears the requirement
    assert pol.yield_seeking(delegator(network(), bonded=0, delegate=None, balance=50), p) == [pol.Bond("o1")]
    # noise: z = +1 with sd 0.15 raises the requirement to 35 %: o1's 30 % no longer clears it
    noisy = {**p, "noise": 0.15}
    assert pol.yield_seeking(delegator(network(), bonded=0, delegate=None, balance=50, rng=Draws(z=1)), noisy) == []
    # price: LPT fell 10 % (log -0.105); sensitivity 1 raises 20 % to 30.5 %, above o1's 30 %
    net = network(series={"lpt_usd": 9.0}, previous={"lpt_usd": 10.0})
    assert pol.yield_seeking(delegator(net, bonded=0, delegate=None, balance=50),
                             {**p, "price_sensitivity": 1.0}) == []


def test_hold_bonding_rate_by_hand():
    p = {"target": 0.52, "band": 0.01, "step": 0.5}
    # supply 1e6 LPT; 8 points over: half of 80,000 LPT × its 200 of the 600,000 bonded
    [unbond] = pol.hold_bonding_rate(delegator(network(bonding_rate=0.60), bonded=200), p)
    assert unbond.amount == pytest.approx(0.5 * 80_000 * 200 / 600_000)
    # 7 points under: half of 70,000 LPT × its 300 of the 550,000 unbonded
    [bond] = pol.hold_bonding_rate(delegator(network(bonding_rate=0.45), balance=300), p)
    assert bond == pol.Bond("o0", pytest.approx(0.5 * 70_000 * 300 / 550_000))
    assert pol.hold_bonding_rate(delegator(network(bonding_rate=0.525), bonded=200), p) == []


def test_reward_when_profitable_by_hand():
    me = pol.OrchestratorInfo("o", 10_000.0, 0.1, 0.5, True, 0.0)
    s = {"lpt_usd": 5.0, "eth_usd": 3000.0, "gas_price_gwei": 0.1}
    # keeps 2 LPT × (0.1 + 0.9 × 1000/10000) = 0.38 LPT = $1.90; gas 350,000 × 0.1 gwei × $3000 = $0.105
    obs = pol.OrchestratorObservation("o", network(series=s), me, 1000.0, 2.0, 350_000, Draws())
    assert pol.reward_when_profitable(obs, {}) == [pol.CallReward()]
    assert pol.reward_when_profitable(obs, {"margin": 19}) == []  # $1.90 < 19 × $0.105 = $1.995
    assert pol.reward_when_profitable(obs, {"margin": 18}) == [pol.CallReward()]  # $1.89 ≤ $1.90
    assert pol.reward_when_profitable(obs, {"reward_cut": 0.2}) == [pol.SetTerms(0.2, None), pol.CallReward()]
    dear = pol.OrchestratorObservation("o", network(series={**s, "gas_price_gwei": 5.0}), me, 1000.0, 2.0,
                                       350_000, Draws())
    assert pol.reward_when_profitable(dear, {}) == []  # gas $5.25 > $1.90


# --------------------------------------------------------------------------- timeline events

EVENTS = """
seed: 3
duration: 2 d
chain: {round_length: 600, params: {target_bonding_rate: 50%, inflation_change: 500}}
orchestrators: [{count: 2, stake: 1000 LPT}]
metrics: {jobs: false}
events:
  - at: 1 d
    set: {target_bonding_rate: 40%, inflation_change: 1000, unbonding_period: 3}
"""


def test_a_governance_event_changes_the_contracts_parameters_at_its_time():
    sim = Simulation(parse_scenario(EVENTS))
    p = sim.world.protocol
    sim.run(86400 - 1)
    assert (p.Minter.targetBondingRate(), p.Minter.inflationChange()) == (500_000_000, 500)
    sim.run()
    assert (p.Minter.targetBondingRate(), p.Minter.inflationChange(), p.BondingManager.unbondingPeriod()) == \
        (400_000_000, 1000, 3)
    assert [(a[2], a[3], a[4]) for a in sim.behaviour.actions] == [
        ("governance", "target_bonding_rate=400000000", True), ("governance", "inflation_change=1000", True),
        ("governance", "unbonding_period=3", True)]


def test_a_treasury_cut_and_lip100_ceiling_voted_mid_run_fill_the_treasury_then_stop():
    # the ceiling is an LPT amount: the setter gets wei, not the scenario's "1 LPT"
    sim = Simulation(parse_scenario(EVENTS.replace(
        "set: {target_bonding_rate: 40%, inflation_change: 1000, unbonding_period: 3}",
        "set: {treasury_reward_cut_rate: 10%, treasury_balance_ceiling: 1 LPT}").replace("duration: 2 d", "duration: 3 d")))
    p = sim.world.protocol
    treasury = lambda: p.LivepeerToken.balanceOf(p.treasury)  # noqa: E731
    sim.run(86400 - 1)
    assert treasury() == 0 and p.BondingManager.treasuryBalanceCeiling() == 750_000 * 10**18  # the default
    sim.run(2 * 86400)
    filled = treasury()
    # past the ceiling, the next reward call zeroes the cut from the round after (LIP-100)
    assert filled >= 10**18 and p.BondingManager.treasuryRewardCutRate() == 0
    assert p.BondingManager.treasuryBalanceCeiling() == 10**18
    sim.run()
    assert treasury() == filled
    assert [(a[2], a[3], a[4]) for a in sim.behaviour.actions] == [
        ("governance", f"treasury_reward_cut_rate={10**26}", True), ("governance", f"treasury_balance_ceiling={10**18}", True)]


@pytest.mark.parametrize("entry, where", [
    ("set: {inflation: 5}", "events[0].set.inflation"),  # not settable by governance in these contracts
    ("set: {target_bonding_rate: 140%}", "events[0].set.target_bonding_rate"),
    ("set: {}", "events[0].set"),
])
def test_bad_events_name_field_and_line(entry, where):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(EVENTS.replace("set: {target_bonding_rate: 40%, inflation_change: 1000, unbonding_period: 3}",
                                      entry))
    assert f"line 9, {where}" in str(err.value), str(err.value)
