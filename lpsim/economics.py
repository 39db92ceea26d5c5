"""The figures researchers compute from a run's token economics, read from the recorded metric
rows alone (so they work on any run, old folders included): dilution, staking yield, the bonding
rate against its target, stake concentration, the treasury, and each orchestrator's income.

Conventions (units in docs/data-dictionary.md, "research"):

- A round's value is the last sample of that round (`summary.per_round`); a window is the last
  `window` rounds recorded (all of them by default).
- Yield is the reward minted to stakers in a round (minted less the treasury's cut) over the
  active stake it was paid on (the round's bonded total, fixed when the round starts), compounded over the
  window: what one bonded LPT earned on average, before the orchestrators' reward cuts. A stake
  that sat with an orchestrator that skipped `reward` earned nothing, and counts in the average.
- Annualised figures compound the window's rate over a year of 365.25 days (None for a window
  under a day); a round's length in seconds is read from the rows' times (rounds are recorded as
  they start).
- Dilution is the share of supply a holder who does not stake loses over the window: 1 − S₀/S₁.
- USD figures need the LPT/USD (and, for fees, ETH/USD) price series (`metric_names.LPT_USD`,
  `ETH_USD`, network metrics from the scenario's `series`); without them they are None. The USD
  yield is the LPT yield times the LPT price's change over the window.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from lpsim import metric_names as M

__all__ = ["YEAR_S", "economics", "gini", "nakamoto", "top_share"]

YEAR_S = 365.25 * 86400
MONTH_S = YEAR_S / 12
TOP_N = (1, 5, 10)

Rows = list[dict[str, Any]]


def _per_round(rows: Rows, metric: str, entity: str = M.NETWORK) -> dict[int, float]:
    """round -> the last sample of `metric` for `entity` in that round."""
    out: dict[int, tuple[float, float]] = {}
    for r in rows:
        if r["metric"] == metric and r["entity"] == entity:
            seen = out.get(r["round"])
            if seen is None or r["time"] >= seen[0]:
                out[r["round"]] = (r["time"], r["value"])
    return {rnd: v for rnd, (_, v) in sorted(out.items())}


def _round_seconds(rows: Rows) -> float | None:
    """Seconds per round from the times of the first sample of each round's network rows."""
    first: dict[int, float] = {}
    for r in rows:
        if r["entity"] == M.NETWORK and r["metric"] == M.MINTED:
            first[r["round"]] = min(r["time"], first.get(r["round"], math.inf))
    if len(first) < 2:
        return None
    (r0, t0), (r1, t1) = min(first.items()), max(first.items())
    return (t1 - t0) / (r1 - r0) if t1 > t0 else None


def _annualise(rate: float | None, seconds: float | None) -> float | None:
    """`rate` over `seconds` compounded to a year; None under a day (a test scenario's rounds of
    minutes compound to nonsense) or without a rate."""
    if rate is None or not seconds or seconds < 86400 or rate <= -1:
        return None
    try:
        return math.expm1(math.log1p(rate) * YEAR_S / seconds)
    except OverflowError:  # a toy run's rounds of minutes: no meaningful year (and JSON has no inf)
        return None


def gini(values: Iterable[float]) -> float | None:
    """Gini coefficient of non-negative values: 0 = all equal, → 1 = one holds everything."""
    xs = sorted(v for v in values if v is not None)
    total = sum(xs)
    if not xs or total <= 0:
        return None
    n = len(xs)
    return sum((2 * i - n - 1) * x for i, x in enumerate(xs, 1)) / (n * total)


def nakamoto(values: Iterable[float], threshold: float = 0.5) -> int | None:
    """The fewest holders whose combined share exceeds `threshold` of the total."""
    xs = sorted((v for v in values if v), reverse=True)
    total = sum(xs)
    if total <= 0:
        return None
    acc = 0.0
    for i, x in enumerate(xs, 1):
        acc += x
        if acc > threshold * total:
            return i
    return len(xs)


def top_share(values: Iterable[float], n: int) -> float | None:
    xs = sorted((v for v in values if v is not None), reverse=True)
    total = sum(xs)
    return sum(xs[:n]) / total if total > 0 else None


def _bonding(rates: dict[int, float], target: float | None, seconds: float | None) -> dict[str, Any]:
    values = list(rates.values())
    below = [r for r, v in rates.items() if target is not None and v < target]
    longest = run = 0
    for v in values:
        run = run + 1 if target is not None and v < target else 0
        longest = max(longest, run)
    return {"target": target,
            "mean": sum(values) / len(values) if values else None,
            "last": values[-1] if values else None,
            "rounds_below_target": len(below) if target is not None and values else None,
            "share_below_target": len(below) / len(values) if target is not None and values else None,
            "longest_below_rounds": longest if target is not None and values else None,
            "time_below_target_s": len(below) * seconds if target is not None and seconds and values else None}


def economics(metrics: Rows, *, target_bonding_rate: float | None = None, window: int | None = None,
              threshold: float = 0.5, costs: dict[str, float] | None = None) -> dict[str, Any]:
    """The research figures of a run (see the module docstring); every value None where the rows
    hold nothing to compute it from. `target_bonding_rate` is a fraction (the scenario's);
    `costs` maps an orchestrator to its running cost in USD a month (`cost_usd_per_month`)."""
    supply, bonded = _per_round(metrics, M.TOTAL_SUPPLY), _per_round(metrics, M.TOTAL_BONDED)
    minted, treasury = _per_round(metrics, M.MINTED), _per_round(metrics, M.TREASURY_MINTED)
    rounds = sorted(supply)
    if window is not None:
        rounds = rounds[-window:]
    seconds = _round_seconds(metrics)
    span = len(rounds) * seconds if seconds and rounds else None

    # supply: S₀ is the supply before the window's first mint
    s1 = supply[rounds[-1]] if rounds else None
    s0 = (supply[rounds[0]] - minted.get(rounds[0], 0.0)) if rounds else None
    growth = s1 / s0 - 1 if s0 else None

    growth_factor, yields = 1.0, []
    for r in rounds:
        to_stakers = minted.get(r, 0.0) - treasury.get(r, 0.0)
        paid_on = bonded.get(r, 0.0)  # BondingManager.getTotalBonded: the round's active stake
        if paid_on > 0:
            y = to_stakers / paid_on
            yields.append(y)
            growth_factor *= 1 + y
    lpt_yield = growth_factor - 1 if yields else None
    usd_yield = None
    prices = _per_round(metrics, M.LPT_USD)
    eth = _per_round(metrics, M.ETH_USD)
    lpt_end, eth_end = (prices[max(prices)] if prices else None), (eth[max(eth)] if eth else None)
    if lpt_yield is not None and rounds and prices.get(rounds[0]) and prices.get(rounds[-1]) is not None:
        usd_yield = (1 + lpt_yield) * prices[rounds[-1]] / prices[rounds[0]] - 1

    stakes = {o: v for o, v in _last_by_entity(metrics, M.STAKE).items()}
    rewards: dict[str, float] = {}
    for r in metrics:
        if r["metric"] == M.REWARD:
            rewards.setdefault(r["entity"], {})[r["round"]] = r["value"]  # type: ignore[index]
    fees = _last_by_entity(metrics, M.FEES_REALISED)
    orchs = sorted(set(stakes) | set(rewards) | set(fees))
    treasury_balance = _per_round(metrics, M.TREASURY_BALANCE)
    return {
        "rounds": len(rounds),
        "round_s": seconds,
        "window_s": span,
        "supply": {"start_lpt": s0, "end_lpt": s1, "growth": growth,
                   "growth_annualised": _annualise(growth, span),
                   "dilution": 1 - s0 / s1 if s0 and s1 else None},
        "yield": {"lpt": lpt_yield, "lpt_annualised": _annualise(lpt_yield, span),
                  "usd": usd_yield, "usd_annualised": _annualise(usd_yield, span),
                  "per_round_mean": sum(yields) / len(yields) if yields else None},
        "bonding_rate": _bonding({r: v for r, v in _per_round(metrics, M.BONDING_RATE).items()
                                  if r in set(rounds)}, target_bonding_rate, seconds),
        "concentration": {"orchestrators": len([v for v in stakes.values() if v]),
                          "gini": gini(stakes.values()),
                          "nakamoto": nakamoto(stakes.values(), threshold), "nakamoto_threshold": threshold,
                          **{f"top{n}_share": top_share(stakes.values(), n) for n in TOP_N}},
        "treasury": {"minted_lpt": sum(treasury[r] for r in rounds if r in treasury) if treasury else None,
                     "balance_lpt": treasury_balance[max(treasury_balance)] if treasury_balance else None},
        "orchestrators": {o: _income(stakes.get(o), sum(rewards[o].values()) if o in rewards else None,  # type: ignore[union-attr]
                                     fees.get(o), lpt_end, eth_end, (costs or {}).get(o), span) for o in orchs},
    }


def _income(stake: float | None, rewards: float | None, fees_wei: float | None,
            lpt_usd: float | None, eth_usd: float | None, cost_per_month: float | None,
            span: float | None) -> dict[str, Any]:
    """An orchestrator's stake and income (its pool's rewards, before cuts, and fees); in USD at
    the end-of-run prices when the run recorded both price series, less its running cost over the
    window when the scenario gives one."""
    usd = None
    if lpt_usd is not None and eth_usd is not None:
        usd = (rewards or 0.0) * lpt_usd + (fees_wei or 0.0) / 1e18 * eth_usd
    cost = cost_per_month * span / MONTH_S if cost_per_month is not None and span else None
    return {"stake_lpt": stake, "rewards_lpt": rewards, "fees_wei": fees_wei, "income_usd": usd,
            "cost_usd": cost, "profit_usd": usd - cost if usd is not None and cost is not None else None}


def _last_by_entity(rows: Rows, metric: str) -> dict[str, float]:
    last: dict[str, tuple[float, float]] = {}
    for r in rows:
        if r["metric"] == metric:
            seen = last.get(r["entity"])
            if seen is None or r["time"] >= seen[0]:
                last[r["entity"]] = (r["time"], r["value"])
    return {e: v for e, (_, v) in last.items()}
