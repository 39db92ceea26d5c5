"""compete_for_stake: an orchestrator that adapts its reward cut and fee share to the competition."""
from __future__ import annotations

from lpsim import policies as pol
from lpsim.engine import Simulation
from lpsim.scenario import parse_scenario


def _obs(me, others):
    net = pol.Network(5, 4383.0, 0.5, 0.5, 0.0006, 1e6, (me, *others), {}, {})
    return pol.OrchestratorObservation(me.name, net, me, 100.0, 1.0, pol.REWARD_GAS, None)


def test_the_cut_moves_the_right_way_by_hand():
    p = {"step": 0.02, "min_cut": 0.05, "max_cut": 0.3}
    others = [pol.OrchestratorInfo(f"o{i}", 1000.0, 0.1, 0.5, True, 0.2) for i in range(3)]
    low = pol.OrchestratorInfo("me", 1000.0, 0.2, 0.5, True, 0.1)  # yields below the median: cheaper
    assert pol.compete_for_stake(_obs(low, others), p) == [pol.CallReward(), pol.SetTerms(0.18, 0.52)]
    floor = pol.OrchestratorInfo("me", 1000.0, 0.05, 1.0, True, 0.1)  # at its bounds: nothing to set
    assert pol.compete_for_stake(_obs(floor, others), p) == [pol.CallReward()]
    big = pol.OrchestratorInfo("me", 5000.0, 0.2, 0.5, True, 0.3)  # over-subscribed: dearer
    assert pol.compete_for_stake(_obs(big, others), p) == [pol.CallReward(), pol.SetTerms(0.22, 0.48)]
    fair = pol.OrchestratorInfo("me", 1000.0, 0.1, 0.5, True, 0.2)
    assert pol.compete_for_stake(_obs(fair, others), {**p, "reward": False}) == []


RUN = """
name: compete
seed: 3
duration: 5 rounds
chain:
  round_length: 600
  params: {inflation: 613500, inflation_change: 500, target_bonding_rate: 50%, unbonding_period: 2}
  initial_supply: 10000 LPT
orchestrators:
  - {name: cheap, count: 2, stake: 3000 LPT, reward_cut: 10%, policy: always_reward}
  - {name: dear, count: 1, stake: 3000 LPT, reward_cut: 50%,
     policy: {name: compete_for_stake, params: {step: 0.05, min_cut: 0.2}}}
delegators:
  - count: 4
    stake: 500 LPT
    policy: {name: yield_seeking, params: {required_return: 0.0, inertia: 0.0}}
metrics: {jobs: false}
"""


def test_on_chain_the_dear_orchestrator_lowers_its_cut_and_delegators_see_it():
    sim = Simulation(parse_scenario(RUN, "compete.yaml"))
    seen = []
    decide = pol.decide

    def spy(policy, obs, params, allowed):  # what yield_seeking delegators see of "dear"
        if policy is pol.yield_seeking:
            seen.append(obs.network.orchestrator("dear-0").reward_cut)
        return decide(policy, obs, params, allowed)

    pol.decide = spy
    try:
        sim.run()
    finally:
        pol.decide = decide
    dear = next(o for o in sim.orchestrators if o.name == "dear-0")
    bm = sim.world.protocol.BondingManager
    on_chain = bm.getTranscoder(dear.address)
    assert 0.2 <= dear.reward_cut < 0.5 and on_chain[1] == round(dear.reward_cut * 1e6)
    assert on_chain[2] > 0 and on_chain[2] == round(dear.fee_share * 1e6)
    assert seen[0] == 0.5 and min(seen) < 0.5  # the delegators' observation carries the new cut
