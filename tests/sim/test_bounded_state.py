"""Memory stays bounded over long runs: what the agents keep per offer, session, sender and winning
ticket, and the revm chain's journal, is flat from a short run to a four times longer one while
the jobs served grow with the run (benchmarks/bench_sim_memory.py measures the process's RSS)."""
import node.eth.revm as revm_module
from lpsim.engine import Simulation
from lpsim.scenario import parse_scenario
from node.core.redemption import Outcome, Redeemer, SignedTicket
from node.core.sender_monitor import SenderMonitor
from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash

from ..core.stubs import StubBroker, StubChain

# EV 2,000 gwei on a 20,000 gwei face value: one ticket in ten wins, so redemptions (and their
# transactions) happen all through the run.
SCENARIO = """
name: bounded
seed: 3
duration: 8 h
chain: {round_length: 50}
orchestrators:
  - count: 2
    stake: 1000 LPT
    ticket_ev: 2000 gwei
    max_face_value: 20000 gwei
    pipelines: {transcoding: {}, text-to-image: {compute: 0.5 s}}
    ai_prices: {text-to-image: 50000}
gateways:
  - count: 1
    demand:
      - {type: transcoding, arrival: {process: constant, interval: 10 min}, stream_duration: 2 min}
      - {type: batch_ai, pipeline: text-to-image, arrival: {process: constant, interval: 20 s},
         request: {width: 512, height: 512}}
metrics: {sample_every: 1 h, jobs: false}
"""


def kept(sim: Simulation) -> dict[str, int]:
    """How many entries each per-offer, per-session, per-sender or per-ticket structure holds."""
    orchs, gws = sim.orchestrators, sim.gateways
    return {
        "recipient nonces": sum(len(o.recipient._nonces) for o in orchs),
        "offered rands": sum(len(o.recipient._offered) for o in orchs),
        "orchestrator balances": sum(len(o.receiver.balances._entries) for o in orchs),
        "monitored senders": sum(len(o.monitor._senders) for o in orchs),
        "winning ticket hashes": sum(len(o.redeemer._known) for o in orchs),
        "stored winners": sum(len(o.redeemer.store.load()) for o in orchs),
        "gateway PM sessions": sum(len(g.sender._sessions) for g in gws),
        "gateway balances": sum(len(g.balances._entries) for g in gws),
        "revm journal frames": sim.world.chain.evm.journal_len,
    }


def test_what_agents_keep_is_flat_over_a_four_times_longer_run(monkeypatch):
    monkeypatch.setattr(revm_module, "_COMPACT_FRAMES", 400)  # compact often enough to be seen
    sim = Simulation(parse_scenario(SCENARIO))
    sim.run(2 * 3600)
    jobs, won, short = sim.gateways[0].jobs_submitted, sum(o.tickets_won for o in sim.orchestrators), kept(sim)
    sim.run()
    long = kept(sim)
    assert sim.gateways[0].jobs_submitted > 3.5 * jobs
    assert sum(o.tickets_won for o in sim.orchestrators) > 3 * won > 0
    assert sim.world.chain.compactions >= 2
    for name, count in long.items():
        bound = 2 * max(short[name], 10) if name != "revm journal frames" else 2 * 400 + 2 * short[name]
        assert count <= bound, f"{name}: {short[name]} after 2 h, {count} after 8 h"


def _winner(nonce: int, creation_round: int) -> SignedTicket:
    ticket = Ticket("0x" + "11" * 20, "0x" + "22" * 20, 10**15, MAX_WIN_PROB, nonce, recipient_rand_hash(5),
                    creation_round, b"\x0a" * 32)
    return SignedTicket(ticket, b"\x01" * 65, 5, 1040)


def test_a_winner_is_forgotten_once_past_the_validity_period_and_never_redeemed_twice():
    chain = StubChain(block=1000, round=10, pool_size=1, price=10**9)
    chain.active.add("0x" + "11" * 20)
    chain.fund("0x" + "22" * 20, deposit=10**17, reserve=10**17)
    broker = StubBroker()
    redeemer = Redeemer(chain, SenderMonitor("0x" + "11" * 20, chain), broker, redeem_gas=100_000,
                        ticket_validity_period=2)
    signed = _winner(1, creation_round=10)
    assert redeemer.queue(signed)
    [result] = redeemer.on_block(1040)
    assert result.outcome is Outcome.REDEEMED
    chain.round = 12  # round 10 is still redeemable: a replay is refused
    redeemer.on_block(1100)
    assert not redeemer.queue(signed) and len(redeemer._known) == 1
    chain.round = 13  # round 10 is past the validity period: forgotten
    redeemer.on_block(1200)
    assert len(redeemer._known) == 0
    assert redeemer.queue(signed)  # a replay now can only expire
    [result] = redeemer.on_block(1300)
    assert result.outcome is Outcome.EXPIRED and broker.redeemed == [signed.ticket]
