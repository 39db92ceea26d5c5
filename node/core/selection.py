"""Choosing one orchestrator among discovered ones (go-livepeer server/selection_algorithm.go,
cmd/livepeer/starter/starter.go `createSelectionAlgorithm`; spec node.md §3.5).

On-chain gateways pick an unknown session with the ProbabilitySelectionAlgorithm: optional
performance-score and max-price filters, then a draw where each address a among the n survivors
has probability

    P(a) = PriceWeight × exp(−price(a)/PriceExpFactor) / Σ exp(−price/PriceExpFactor)
         + StakeWeight × stake(a) / Σ stake
         + RandWeight  × 1/n.

Live video-to-video uses the LiveSelectionAlgorithm: max-price filter, then the first survivor in
discovery order. Both return None where go returns the zero address (no session).

Addresses are checksum hex strings, prices `Fraction` wei per pixel, stakes ints. Every draw comes
from the `rng` argument (anything with `.random()` in [0, 1)); nothing here keeps state.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate
from fractions import Fraction
from typing import Mapping, Optional, Sequence

from .discovery import RandomSource, shuffled

DEFAULT_STAKE_WEIGHT = 0.7
DEFAULT_PRICE_WEIGHT = 0.0
DEFAULT_RAND_WEIGHT = 0.3  # go's flag name for it is -selectRandFreq
DEFAULT_PRICE_EXP_FACTOR = 100.0
DEFAULT_MIN_PERF_SCORE = 0.0
WEIGHT_SUM_TOLERANCE = 0.0001

_EXP_OVERFLOW = 709.78  # math.exp raises above this; go's math.Exp returns +Inf


def _go_float(x: float) -> str:
    """A float the way go's %v prints the usual values (0.7, 1, 0.25)."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def filter_by_max_price(addrs: Sequence[str], max_price: Optional[Fraction],
                        prices: Optional[Mapping[str, Fraction]]) -> Sequence[str]:
    """Keep the addresses whose price is at most `max_price`, in order. No max price, or no prices
    at all, keeps everyone; an address without a price is dropped once the filter applies."""
    if max_price is None or not prices:
        return addrs
    return [a for a in addrs if (p := prices.get(a)) is not None and p <= max_price]


@dataclass(frozen=True, slots=True)
class ProbabilitySelectionAlgorithm:
    """Stake-, price- and randomness-weighted selection; the defaults are go-livepeer's flags'."""

    stake_weight: float = DEFAULT_STAKE_WEIGHT
    price_weight: float = DEFAULT_PRICE_WEIGHT
    rand_weight: float = DEFAULT_RAND_WEIGHT
    price_exp_factor: float = DEFAULT_PRICE_EXP_FACTOR
    min_perf_score: float = DEFAULT_MIN_PERF_SCORE
    ignore_max_price_if_needed: bool = False

    def __post_init__(self) -> None:
        total = self.stake_weight + self.price_weight + self.rand_weight
        if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
            raise ValueError(
                "sum of selection algorithm weights must be 1.0, "
                f"stakeWeight={_go_float(self.stake_weight)}, "
                f"priceWeight={_go_float(self.price_weight)}, "
                f"randWeight={_go_float(self.rand_weight)}")

    def filter(self, addrs: Sequence[str], prices: Optional[Mapping[str, Fraction]] = None,
               max_price: Optional[Fraction] = None,
               perf_scores: Optional[Mapping[str, float]] = None) -> Sequence[str]:
        """The candidates that survive the perf-score then the max-price filter, in order."""
        kept = addrs
        # The perf filter applies only when configured and fed; if nobody passes it is dropped
        # (go reads that as a broken score service, not as "nobody may work").
        if self.min_perf_score > 0 and perf_scores:
            passing = [a for a in addrs if perf_scores.get(a, 0.0) >= self.min_perf_score]
            kept = passing or addrs
        res = filter_by_max_price(kept, max_price, prices)
        if not res and self.ignore_max_price_if_needed:
            return kept
        return res

    def _weights(self, addrs: Sequence[str], stakes: Mapping[str, int],
                 prices: Optional[Mapping[str, Fraction]]) -> tuple[list[float], bool]:
        """Go's per-address probabilities for already-filtered `addrs`, and whether a component
        with a zero sum made them add up to more than 1 (§12 quirk 2)."""
        n = len(addrs)
        rand = self.rand_weight / n
        weights = [rand] * n
        zero_sum = False
        # A zero-weight component adds 0 × anything = 0, so it is skipped: no exp() per
        # candidate in the common PriceWeight = 0 case. (The one divergence: go would turn an
        # overflowing exp of a huge negative price into NaN even at weight 0.)
        if self.stake_weight:
            get = stakes.get
            stake = [get(a, 0) for a in addrs]
            total = sum(stake)  # exact int sum; go sums float64(stake) one by one
            w = self.stake_weight
            if total == 0:
                zero_sum = True  # go: every address gets weight × 1.0
                weights = [rand + w * 1.0] * n
            else:  # rand + w × share: the same float operations, in one pass
                weights = [rand + w * (s / total) for s in stake]
        if self.price_weight:
            # No price at all counts as price 0 here (exp(0) = 1). Go calls Float64 on the nil
            # *big.Rat and panics; it never gets there in the DB pool, whose predicate requires a
            # price.
            norm = []
            for a in addrs:
                p = prices.get(a) if prices else None
                x = -float(p) / self.price_exp_factor if p is not None else 0.0
                norm.append(math.exp(x) if x < _EXP_OVERFLOW else math.inf)
            total = sum(norm)
            if total == 0:
                zero_sum = True
            for i in range(n):
                weights[i] += self.price_weight * (norm[i] / total if total else 1.0)
        return weights, zero_sum

    def probabilities(self, addrs: Sequence[str], stakes: Mapping[str, int],
                      prices: Optional[Mapping[str, Fraction]] = None,
                      max_price: Optional[Fraction] = None,
                      perf_scores: Optional[Mapping[str, float]] = None) -> dict[str, float]:
        """P(a) for every address that survives the filters, in filtered order. These are go's
        values: when a component's sum is 0 they add up to more than 1 and are then weights of
        the walk, not the shares `select` produces (those are about uniform; see `select`)."""
        filtered = self.filter(addrs, prices, max_price, perf_scores)
        if not filtered:
            return {}
        return dict(zip(filtered, self._weights(filtered, stakes, prices)[0]))

    def select(self, addrs: Sequence[str], stakes: Mapping[str, int], rng: RandomSource,
               prices: Optional[Mapping[str, Fraction]] = None,
               max_price: Optional[Fraction] = None,
               perf_scores: Optional[Mapping[str, float]] = None) -> Optional[str]:
        """Draw one address: r = rng.random(), the first address whose cumulative P reaches r wins
        (float leftovers fall back to the first address); None when no one survives the filters.

        Go walks a map, whose order is random. When the probabilities sum to 1 the order does not
        change the distribution, so we walk the caller's (deterministic, discovery) order and draw
        exactly one number. When a zero-sum component pushes the sum above 1 (§12 quirk 2) the
        order decides everything: walking a fixed order would hand ~(weight + RandWeight/n) of all
        jobs to the first (lowest-latency) candidate, where go's random order gives each about
        1/n. So in that case only, the walk order is shuffled with `rng` first, as go's map is.
        """
        filtered = self.filter(addrs, prices, max_price, perf_scores)
        if not filtered:
            return None
        weights, zero_sum = self._weights(filtered, stakes, prices)
        if zero_sum:
            order = shuffled(range(len(filtered)), rng)
            filtered = [filtered[i] for i in order]
            weights = [weights[i] for i in order]
        r = rng.random()
        # the first address whose running sum of P reaches r: the running sums are the walk's
        # (the same additions in the same order), searched by bisection
        cumulative = list(accumulate(weights))
        if cumulative[-1] != cumulative[-1]:  # a NaN weight: walk, as go, to where it poisons the sum
            cumulative = cumulative[:cumulative.index(next(c for c in cumulative if c != c))]
        i = bisect_left(cumulative, r)
        return filtered[i] if i < len(cumulative) else filtered[0]


@dataclass(frozen=True, slots=True)
class LiveSelectionAlgorithm:
    """Live video-to-video: the first address under the max price, in discovery order."""

    def probabilities(self, addrs: Sequence[str], stakes: Mapping[str, int],
                      prices: Optional[Mapping[str, Fraction]] = None,
                      max_price: Optional[Fraction] = None,
                      perf_scores: Optional[Mapping[str, float]] = None) -> dict[str, float]:
        """Certainty for the first survivor of the max-price filter; {} if there is none."""
        filtered = filter_by_max_price(addrs, max_price, prices)
        return {filtered[0]: 1.0} if filtered else {}

    def select(self, addrs: Sequence[str], stakes: Mapping[str, int], rng: RandomSource,
               prices: Optional[Mapping[str, Fraction]] = None,
               max_price: Optional[Fraction] = None,
               perf_scores: Optional[Mapping[str, float]] = None) -> Optional[str]:
        """The first address under the max price, or None; stakes, rng and scores are unused."""
        filtered = filter_by_max_price(addrs, max_price, prices)
        return filtered[0] if filtered else None


def select_session(algorithm, sessions: Sequence, stakes: Mapping[str, int], rng: RandomSource,
                   price_of, max_price: Optional[Fraction] = None):
    """Run `algorithm` over sessions (anything with an `.address`), one candidate per address (the
    last session of an address stands for it), `price_of(session)` its wei-per-pixel price;
    returns the chosen session, or None."""
    if not sessions:
        return None
    by_address = {s.address: s for s in sessions}
    # prices matter only to a max-price filter or a price weight: skip the map otherwise
    priced = max_price is not None or getattr(algorithm, "price_weight", 0)
    chosen = algorithm.select(list(by_address), stakes, rng, max_price=max_price,
                              prices={a: price_of(s) for a, s in by_address.items()} if priced else None)
    return by_address.get(chosen) if chosen else None
