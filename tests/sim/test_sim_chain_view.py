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
