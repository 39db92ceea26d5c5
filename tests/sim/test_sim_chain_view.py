"""The simulation's chain view reads the hot views (active set membership, claimed reserve)
through lpsim.calls' fast path: the answers must be the bindings' (ProtocolChainView's)."""
from pathlib import Path

from lpsim.engine import Simulation
from lpsim.scenario import load_scenario
from node.eth.payments import ProtocolChainView

SCENARIOS = Path(__file__).parents[2] / "scenarios"


def test_fast_reads_answer_what_the_bindings_answer():
    sim = Simulation(load_scenario(SCENARIOS / "quickstart.yaml"))
    sim.run(1200)  # tickets redeemed, rounds initialised
    world = sim.world
    view, base = world.view, ProtocolChainView(world.protocol, world.gas_price)
    outsider = world.accounts[-1].address  # neither bonded nor funded
    orchestrators = [o.address for o in sim.orchestrators] + [outsider]
    for _ in range(2):  # from the chain, then from the view's cache
        assert [view.is_active(a) for a in orchestrators] == [base.is_active(a) for a in orchestrators]
        assert view.is_active(outsider) is False
        for g in sim.gateways:
            for o in orchestrators:
                assert view.claimed_reserve(g.address, o) == base.claimed_reserve(g.address, o)
    assert any(view.is_active(o.address) for o in sim.orchestrators)


def test_a_claim_on_a_reserve_is_read_for_its_claimant_and_no_other():
    """A winning ticket worth more than its sender's deposit draws on the reserve: the claimant's
    claimed reserve is then read from the chain (the round's total is no longer 0)."""
    from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash, sign_ticket

    sim = Simulation(load_scenario(SCENARIOS / "quickstart.yaml"))
    sim.run(600)
    world = sim.world
    world.sync()
    view, base = world.view, ProtocolChainView(world.protocol, world.gas_price)
    sender = world.accounts[-1]
    world.protocol.TicketBroker.fundDepositAndReserve(10**15, 10**18, sender=sender, value=10**15 + 10**18)
    claimant, other = sim.orchestrators[0], sim.orchestrators[1]
    assert view.claimed_reserve(sender.address, claimant.address) == 0  # nothing claimed yet
    round_ = view.last_initialized_round()
    ticket = Ticket(claimant.address, sender.address, 3 * 10**15, MAX_WIN_PROB, 1, recipient_rand_hash(7), round_,
                    view.block_hash_for_round(round_))
    world.protocol.TicketBroker.redeemWinningTicket(ticket.as_abi_tuple(), sign_ticket(ticket, sender.key), 7,
                                                    sender=claimant.account)
    assert view.sender_info(sender.address).reserve.claimed_in_current_round == 2 * 10**15
    assert view.claimed_reserve(sender.address, claimant.address) == base.claimed_reserve(
        sender.address, claimant.address) == 2 * 10**15
    assert view.claimed_reserve(sender.address, other.address) == base.claimed_reserve(
        sender.address, other.address) == 0
