"""The engine's observations read the chain only when a policy looks, and then give what the
contracts say (a delegator that sits the round out costs no contract call)."""
from __future__ import annotations

from lpsim import policies as pol
from lpsim.behaviour import ChainDelegatorObservation
from lpsim.engine import Simulation
from lpsim.scenario import parse_scenario

from .test_policies import BASE

LPT = 1e18  # as the engine divides


def sim_of(policy: str) -> Simulation:
    return Simulation(parse_scenario(BASE.replace("{orch_extra}", "").replace(
        "{del_extra}", f"    policy: {policy}")))


def test_an_observation_read_is_the_chain_state():
    sim = sim_of("{name: yield_seeking, params: {required_return: 100, inertia: 0.5, unbond_fraction: 0.5}}")
    sim.run(86400)
    bm, token = sim.world.protocol.BondingManager, sim.world.protocol.LivepeerToken
    round_ = sim.world.current_round()
    for d in sim.delegators:
        obs = ChainDelegatorObservation(sim.behaviour, d, round_, None)
        bonded, _, delegate, *_ = bm.getDelegator(d.address)
        assert obs.bonded == bm.pendingStake(d.address, round_) / LPT if bonded else obs.bonded == 0
        assert obs.balance == token.balanceOf(d.address) / LPT
        assert obs.delegate == (sim.behaviour.names[delegate] if obs.bonded else None)
        assert obs.unbonding == sum(bm.getDelegatorUnbondingLock(d.address, i)[0]
                                    for i in range(bm.getDelegator(d.address)[-1])) / LPT
    assert any(ChainDelegatorObservation(sim.behaviour, d, round_, None).unbonding for d in sim.delegators)


def test_a_policy_that_does_not_look_costs_no_read(monkeypatch):
    sim = sim_of("passive")
    reads = []
    original = sim.behaviour.delegator_state
    monkeypatch.setattr(sim.behaviour, "delegator_state", lambda d, r: reads.append(d.name) or original(d, r))
    sim.run(6 * 3600)
    assert reads == []
    sim = sim_of("tests.sim.test_policies:leave_everything")  # looks at obs.bonded every round
    original2 = sim.behaviour.delegator_state
    monkeypatch.setattr(sim.behaviour, "delegator_state", lambda d, r: reads.append(d.name) or original2(d, r))
    sim.run(6 * 3600)
    assert len(reads) >= 8 * 3
    assert pol.passive(None, {}) == []
