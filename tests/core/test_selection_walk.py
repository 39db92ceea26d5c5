"""The selection draw searches the running sums by bisection: it must pick what go's walk picks
(the first address whose running sum of P reaches r, the first address on float leftovers) for
the same draw, whatever the stakes, prices and weights."""
import math
import random
from fractions import Fraction

import pytest

from node.core.selection import ProbabilitySelectionAlgorithm, select_session


def walk(algo, addrs, stakes, r, prices=None):
    """The linear walk, written out from go's selectBy."""
    weights, _ = algo._weights(addrs, stakes, prices)
    cumulative = 0.0
    for addr, p in zip(addrs, weights):
        cumulative += p
        if r <= cumulative:
            return addr
    return addrs[0]


class Fixed:
    def __init__(self, r):
        self.r = r

    def random(self):
        return self.r


@pytest.mark.parametrize("weights", [(0.7, 0.0, 0.3), (0.0, 0.0, 1.0), (0.4, 0.3, 0.3), (1.0, 0.0, 0.0)])
def test_the_same_draw_picks_the_same_address_as_the_walk(weights):
    rnd = random.Random(7)
    algo = ProbabilitySelectionAlgorithm(*weights)
    for _ in range(40):
        n = rnd.choice((1, 2, 5, 100, 300))
        addrs = [f"0x{rnd.getrandbits(160):040x}" for _ in range(n)]
        stakes = {a: rnd.choice((1, 10**18, rnd.randint(1, 10**24))) for a in addrs}
        prices = {a: Fraction(rnd.randint(0, 2000), rnd.randint(1, 3)) for a in addrs}
        cum = 0.0
        boundaries = []
        for p in algo._weights(addrs, stakes, prices)[0]:
            cum += p
            boundaries.append(cum)
        # draws at, just below and just above every running sum, and at random
        draws = [rnd.random() for _ in range(20)] + [math.nextafter(b, d) for b in boundaries[:50]
                                                     for d in (0.0, 2.0)] + boundaries[:50] + [0.0, 0.9999999999999999]
        for r in draws:
            assert algo.select(addrs, stakes, Fixed(r), prices) == walk(algo, addrs, stakes, r, prices)


def test_a_nan_weight_stops_the_walk_where_go_s_does():
    algo = ProbabilitySelectionAlgorithm(0.0, 1.0, 0.0)
    addrs = ["0x" + "11" * 20, "0x" + "22" * 20]
    # exp of a huge negative price overflows to inf: inf / inf is NaN for both; go falls back to the first
    prices = {addrs[0]: Fraction(-10**6), addrs[1]: Fraction(-10**6)}
    for r in (0.0, 0.5, 0.99):
        assert algo.select(addrs, {}, Fixed(r), prices) == walk(algo, addrs, {}, r, prices) == addrs[0]


def test_select_session_without_a_price_rule_picks_what_it_picked_with_prices():
    class S:
        def __init__(self, a, p):
            self.address, self.price = a, p

    rnd = random.Random(3)
    sessions = [S(f"0x{i:040x}", Fraction(rnd.randint(1, 9))) for i in range(50)]
    stakes = {s.address: rnd.randint(1, 10**22) for s in sessions}
    algo = ProbabilitySelectionAlgorithm()
    a, b = random.Random(1), random.Random(1)
    for _ in range(200):
        got = select_session(algo, sessions, stakes, a, lambda s: s.price)
        by_address = {s.address: s for s in sessions}
        want = by_address[algo.select(list(by_address), stakes, b, prices={k: s.price for k, s in by_address.items()})]
        assert got is want
