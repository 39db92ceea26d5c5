"""lpsim.calls makes the same calls as the bindings: the same answers, the same state changes,
the same revert reasons."""
from __future__ import annotations

import pytest

from lpsim.engine import Simulation
from lpsim.scenario import parse_scenario
from node.eth import TransactionFailed

from .test_policies import BASE


@pytest.fixture(scope="module")
def sim():
    s = Simulation(parse_scenario(BASE.replace("{orch_extra}", "").replace("{del_extra}", "")))
    s.run(3 * 3600)
    return s


def test_views_answer_as_the_bindings(sim):
    bm, token, calls = sim.world.protocol.BondingManager, sim.world.protocol.LivepeerToken, sim.world.calls
    round_ = sim.world.current_round()
    for a in (*sim.orchestrators, *sim.delegators):
        assert calls.uint(bm.transcoderTotalStake, a.address) == bm.transcoderTotalStake(a.address)
        assert calls.uint(bm.isActiveTranscoder, a.address) == int(bm.isActiveTranscoder(a.address))
        assert calls.uint(bm.pendingStake, a.address, round_) == bm.pendingStake(a.address, round_)
        assert calls.uint(token.balanceOf, a.address) == token.balanceOf(a.address)
        words, decoded = calls.words(bm.getDelegator, a.address), bm.getDelegator(a.address)
        assert words[2] == int(decoded[2], 16) and [w for i, w in enumerate(words) if i != 2] == \
            [v for i, v in enumerate(decoded) if i != 2]


def test_transactions_change_the_state_and_revert_with_the_reason(sim):
    bm, calls, d = sim.world.protocol.BondingManager, sim.world.calls, sim.delegators[0]
    sim.world.sync()
    before = bm.pendingStake(d.address, sim.world.current_round())  # unbond claims the rewards first
    calls.send(bm.unbond, 10**18, sender=d.account)
    assert bm.getDelegator(d.address)[0] == before - 10**18
    with pytest.raises(TransactionFailed) as via_calls:
        calls.send(bm.unbond, 10**30, sender=d.account)
    with pytest.raises(TransactionFailed) as via_bindings:
        bm.unbond(10**30, sender=d.account)
    assert via_calls.value.reason == via_bindings.value.reason and via_calls.value.reason


def test_a_transaction_for_its_events_decodes_those_alone(sim):
    bm, calls, chain = sim.world.protocol.BondingManager, sim.world.calls, sim.world.chain
    token = chain.snapshot()
    sim.world.protocol.next_round()  # a round in which it has not called reward yet
    with chain.reverting():
        via_bindings = bm.reward(sender=sim.orchestrators[1].account).events
    events = calls.send_for(bm.reward, sender=sim.orchestrators[1].account, events=("Reward",))
    chain.revert(token)
    assert [e.name for e in via_bindings].count("Reward") == 1 and len(via_bindings) > 1
    assert events == [e for e in via_bindings if e.name == "Reward"]
