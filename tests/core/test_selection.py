"""node.core.selection: go-livepeer's probability and live selection algorithms, by hand."""
import math
import random
from collections import Counter
from fractions import Fraction

import pytest

from node.core.selection import (
    LiveSelectionAlgorithm,
    ProbabilitySelectionAlgorithm,
    filter_by_max_price,
)

A = "0x" + "aa" * 20
B = "0x" + "bb" * 20
C = "0x" + "cc" * 20
D = "0x" + "dd" * 20
LPT = 10**18


class FixedRandom:
    """An rng whose .random() returns the given values in turn."""

    def __init__(self, *values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


def shares(alg, addrs, stakes, draws=20_000, seed=7, **kw):
    rng = random.Random(seed)
    counts = Counter(alg.select(addrs, stakes, rng, **kw) for _ in range(draws))
    return {a: counts[a] / draws for a in addrs}


def assert_within_se(observed, expected, draws=20_000, k=4.0):
    for addr, p in expected.items():
        se = math.sqrt(p * (1 - p) / draws)
        assert abs(observed[addr] - p) <= k * se + 1e-12, (addr, observed[addr], p)


# --- construction --------------------------------------------------------------------------

def test_defaults_are_go_flags():
    alg = ProbabilitySelectionAlgorithm()
    assert (alg.stake_weight, alg.price_weight, alg.rand_weight) == (0.7, 0.0, 0.3)
    assert alg.price_exp_factor == 100.0 and alg.min_perf_score == 0.0
    assert alg.ignore_max_price_if_needed is False


def test_weights_must_sum_to_one():
    with pytest.raises(ValueError) as err:
        ProbabilitySelectionAlgorithm(stake_weight=0.5, price_weight=0.0, rand_weight=0.3)
    assert str(err.value) == ("sum of selection algorithm weights must be 1.0, "
                              "stakeWeight=0.5, priceWeight=0, randWeight=0.3")


def test_weight_sum_tolerance_is_one_ten_thousandth():
    ProbabilitySelectionAlgorithm(stake_weight=0.70009, price_weight=0.0, rand_weight=0.3)
    with pytest.raises(ValueError):
        ProbabilitySelectionAlgorithm(stake_weight=0.7002, price_weight=0.0, rand_weight=0.3)


# --- probabilities -------------------------------------------------------------------------

def test_stake_weighted_probabilities():
    probs = ProbabilitySelectionAlgorithm().probabilities([A, B], {A: 1 * LPT, B: 3 * LPT})
    assert list(probs) == [A, B]
    assert probs[A] == pytest.approx(0.7 * 0.25 + 0.15)  # 0.325
    assert probs[B] == pytest.approx(0.7 * 0.75 + 0.15)  # 0.675
    assert sum(probs.values()) == pytest.approx(1.0)


def test_price_weighted_probabilities():
    alg = ProbabilitySelectionAlgorithm(stake_weight=0.5, price_weight=0.3, rand_weight=0.2)
    prices = {A: Fraction(100), B: Fraction(250), C: Fraction(1, 2)}
    stakes = {A: 2, B: 1, C: 1}
    probs = alg.probabilities([A, B, C], stakes, prices=prices)
    norm = {A: math.exp(-1.0), B: math.exp(-2.5), C: math.exp(-0.005)}
    total = sum(norm.values())
    for addr in (A, B, C):
        expected = 0.3 * norm[addr] / total + 0.5 * stakes[addr] / 4 + 0.2 / 3
        assert probs[addr] == pytest.approx(expected)
    assert sum(probs.values()) == pytest.approx(1.0)


def test_price_exp_factor_scales_prices():
    alg = ProbabilitySelectionAlgorithm(stake_weight=0.0, price_weight=1.0, rand_weight=0.0,
                                        price_exp_factor=1000.0)
    probs = alg.probabilities([A, B], {}, prices={A: Fraction(0), B: Fraction(1000)})
    assert probs[A] == pytest.approx(1 / (1 + math.exp(-1)))


def test_missing_stake_counts_as_zero():
    probs = ProbabilitySelectionAlgorithm().probabilities([A, B], {A: 5})
    assert probs == pytest.approx({A: 0.7 + 0.15, B: 0.15})


def test_zero_stake_sum_gives_weight_to_everyone():
    """§12 quirk 2: go's formula gives StakeWeight × 1.0 to every address."""
    probs = ProbabilitySelectionAlgorithm().probabilities([A, B, C, D], {A: 0, B: 0})
    assert probs == pytest.approx({a: 0.7 + 0.3 / 4 for a in (A, B, C, D)})
    assert sum(probs.values()) > 1


def test_underflowing_prices_trigger_the_zero_sum_rule():
    alg = ProbabilitySelectionAlgorithm(stake_weight=0.5, price_weight=0.5, rand_weight=0.0)
    probs = alg.probabilities([A, B], {A: 1, B: 1}, prices={A: Fraction(10**6), B: Fraction(10**6)})
    assert probs == pytest.approx({A: 0.5 * 0.5 + 0.5, B: 0.5 * 0.5 + 0.5})


def test_zero_weight_component_with_zero_sum_adds_nothing():
    alg = ProbabilitySelectionAlgorithm(stake_weight=0.0, price_weight=0.0, rand_weight=1.0)
    assert alg.probabilities([A, B], {}) == pytest.approx({A: 0.5, B: 0.5})


# --- filters -------------------------------------------------------------------------------

def test_perf_filter_keeps_scores_at_or_above_minimum():
    alg = ProbabilitySelectionAlgorithm(min_perf_score=0.5)
    scores = {A: 0.5, B: 0.49, C: 0.9}
    assert alg.filter([A, B, C, D], perf_scores=scores) == [A, C]  # D: no score, counts as 0


def test_perf_filter_falls_back_to_all_when_nobody_passes():
    alg = ProbabilitySelectionAlgorithm(min_perf_score=0.5)
    assert alg.filter([A, B], perf_scores={A: 0.1, B: 0.2}) == [A, B]


def test_perf_filter_off_without_minimum_or_scores():
    assert ProbabilitySelectionAlgorithm().filter([A, B], perf_scores={A: 0.0}) == [A, B]
    assert ProbabilitySelectionAlgorithm(min_perf_score=0.5).filter([A, B], perf_scores={}) == [A, B]


def test_max_price_filter_drops_missing_and_expensive_prices():
    prices = {A: Fraction(10), B: Fraction(11), C: Fraction(21, 2)}
    assert filter_by_max_price([A, B, C, D], Fraction(21, 2), prices) == [A, C]


def test_max_price_filter_off_without_max_or_prices():
    assert filter_by_max_price([A, B], None, {A: Fraction(99)}) == [A, B]
    assert filter_by_max_price([A, B], Fraction(1), {}) == [A, B]
    assert filter_by_max_price([A, B], Fraction(1), None) == [A, B]


def test_nobody_under_max_price_selects_nobody():
    alg = ProbabilitySelectionAlgorithm()
    kw = dict(prices={A: Fraction(5), B: Fraction(6)}, max_price=Fraction(1))
    assert alg.probabilities([A, B], {A: 1, B: 1}, **kw) == {}
    assert alg.select([A, B], {A: 1, B: 1}, random.Random(1), **kw) is None


def test_ignore_max_price_if_needed_keeps_the_perf_filtered_list():
    alg = ProbabilitySelectionAlgorithm(min_perf_score=0.5, ignore_max_price_if_needed=True)
    kw = dict(prices={A: Fraction(5), B: Fraction(6), C: Fraction(7)}, max_price=Fraction(1),
              perf_scores={A: 0.9, B: 0.1, C: 0.8})
    assert alg.filter([A, B, C], **kw) == [A, C]


def test_probabilities_use_only_filtered_addresses():
    alg = ProbabilitySelectionAlgorithm()
    probs = alg.probabilities([A, B, C], {A: 1, B: 1, C: 2},
                              prices={A: Fraction(1), B: Fraction(1), C: Fraction(9)},
                              max_price=Fraction(2))
    assert probs == pytest.approx({A: 0.7 * 0.5 + 0.15, B: 0.7 * 0.5 + 0.15})


# --- sampling ------------------------------------------------------------------------------

def test_select_walks_cumulative_probabilities_in_caller_order():
    alg = ProbabilitySelectionAlgorithm()
    stakes = {A: 1, B: 3}
    p_a = alg.probabilities([A, B], stakes)[A]  # 0.325 up to float rounding
    assert alg.select([A, B], stakes, FixedRandom(0.0)) == A
    assert alg.select([A, B], stakes, FixedRandom(p_a)) == A  # r <= cumulative wins
    assert alg.select([A, B], stakes, FixedRandom(p_a + 1e-9)) == B
    assert alg.select([B, A], stakes, FixedRandom(0.3251)) == B
    assert alg.select([B, A], stakes, FixedRandom(0.99)) == A


def test_select_falls_back_to_first_address():
    alg = ProbabilitySelectionAlgorithm()
    assert alg.select([A, B], {A: 1, B: 3}, FixedRandom(1.5)) == A


def test_select_empty_is_none():
    assert ProbabilitySelectionAlgorithm().select([], {}, FixedRandom()) is None


def test_sampled_shares_match_probabilities():
    alg = ProbabilitySelectionAlgorithm(stake_weight=0.6, price_weight=0.2, rand_weight=0.2)
    addrs = [A, B, C, D]
    stakes = {A: 10 * LPT, B: 30 * LPT, C: 5 * LPT, D: 55 * LPT}
    prices = {A: Fraction(50), B: Fraction(150), C: Fraction(10), D: Fraction(300)}
    expected = alg.probabilities(addrs, stakes, prices=prices)
    assert_within_se(shares(alg, addrs, stakes, prices=prices), expected)


def test_sampled_stake_shares_with_default_weights():
    alg = ProbabilitySelectionAlgorithm()
    stakes = {A: 1, B: 3}
    assert_within_se(shares(alg, [A, B], stakes), {A: 0.325, B: 0.675})


def test_zero_sum_quirk_samples_about_uniformly():
    """Go walks its randomly ordered map, so the overfull probabilities pick each address about
    1/n of the time; we shuffle the walk in that case instead of favouring the first address."""
    alg = ProbabilitySelectionAlgorithm()
    addrs = [A, B, C, D]
    assert_within_se(shares(alg, addrs, {}), {a: 0.25 for a in addrs})


def test_selection_is_reproducible_from_the_seed():
    alg = ProbabilitySelectionAlgorithm()
    stakes = {A: 1, B: 2, C: 3}

    def run(seed):
        rng = random.Random(seed)
        return [alg.select([A, B, C], stakes, rng) for _ in range(50)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_one_draw_per_selection_outside_the_quirk():
    rng = FixedRandom(0.5)
    ProbabilitySelectionAlgorithm().select([A, B, C], {A: 1, B: 1, C: 1}, rng)
    assert rng.values == []


# --- live selection ------------------------------------------------------------------------

def test_live_selection_takes_first_under_max_price():
    alg = LiveSelectionAlgorithm()
    prices = {A: Fraction(9), B: Fraction(2), C: Fraction(1)}
    assert alg.select([A, B, C], {}, FixedRandom(), prices=prices, max_price=Fraction(2)) == B
    assert alg.probabilities([A, B, C], {}, prices=prices, max_price=Fraction(2)) == {B: 1.0}


def test_live_selection_without_max_price_takes_first():
    assert LiveSelectionAlgorithm().select([C, A], {A: 100}, FixedRandom()) == C


def test_live_selection_none_when_all_too_expensive():
    alg = LiveSelectionAlgorithm()
    assert alg.select([A], {}, FixedRandom(), prices={A: Fraction(3)}, max_price=Fraction(2)) is None
    assert alg.probabilities([A], {}, prices={A: Fraction(3)}, max_price=Fraction(2)) == {}
