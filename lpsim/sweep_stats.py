"""Statistics of a sweep's figures across the Monte Carlo runs of a point.

- `describe`: n, mean, min, max, the 5th/50th/95th percentiles (numpy's linear interpolation) and a
  95 % percentile-bootstrap interval of the mean.
- `paired`: with common random numbers (run r of every point shares a seed), the run-by-run
  differences point minus baseline, described the same way: the interval of the mean difference
  is much narrower than the difference of two independent intervals, which is the point of CRN.

Why the bootstrap and not Student's t: a sweep's figures are counts, rates and amounts that are
skewed and bounded below, often over few runs; t's symmetric interval then crosses zero (negative
counts) and with two runs is ±12.7 standard errors wide. A percentile bootstrap of the mean stays
inside [min, max] of the runs by construction (a mean of resampled runs cannot leave it), so a count's
bounds are never below its smallest run nor below zero. Its price: with very few runs (< ~10) it is
too narrow (it cannot see variation the runs didn't show), so `n` is always reported beside it.

Every resample comes from a generator the caller derives from the scenario's seed tree.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
PERCENTILES = (5, 50, 95)
_CHUNK = 4_000_000  # indices per block of resamples (32 MB)


def is_number(value: Any) -> bool:
    """An int or float, not a bool (a figure or a parsed parameter value)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(xs: Iterable[Any]) -> np.ndarray:
    return np.array([float(x) for x in xs if is_number(x) and math.isfinite(x)], dtype=float)


def bootstrap_mean(xs: np.ndarray, rng: np.random.Generator, resamples: int = RESAMPLES,
                   level: float = LEVEL) -> list[float] | None:
    """Percentile bootstrap interval of the mean of `xs`: resample the runs with replacement
    `resamples` times, take the (1-level)/2 and (1+level)/2 quantiles of the resampled means.
    None under two values (one run says nothing of the spread)."""
    n = len(xs)
    if n < 2:
        return None
    rows = max(1, _CHUNK // n)  # resamples drawn a block at a time: memory stays ~_CHUNK values
    means = np.concatenate([xs[rng.integers(0, n, size=(min(rows, resamples - i), n))].mean(axis=1)
                            for i in range(0, resamples, rows)])
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    # already within [min, max] in exact arithmetic; clip the last-bit rounding of the means
    return [float(max(lo, xs.min())), float(min(hi, xs.max()))]


def describe(values: Iterable[Any], rng: np.random.Generator, resamples: int = RESAMPLES) -> dict[str, Any]:
    """The statistics of one figure at one point over its runs (non-numbers and NaN are left out)."""
    xs = _finite(values)
    if len(xs) == 0:
        return {"n": 0, "mean": None, "min": None, "max": None,
                **{f"p{q}": None for q in PERCENTILES}, "ci95": None}
    pct = np.percentile(xs, PERCENTILES)
    return {"n": len(xs), "mean": float(xs.mean()), "min": float(xs.min()), "max": float(xs.max()),
            **{f"p{q}": float(v) for q, v in zip(PERCENTILES, pct)},
            "ci95": bootstrap_mean(xs, rng, resamples)}


def paired(values: Sequence[tuple[Any, Any]], rng: np.random.Generator,
           resamples: int = RESAMPLES) -> dict[str, Any]:
    """Run-by-run differences (point, baseline) -> point - baseline, described; pairs where either
    side is missing are left out (a failed run on one side has no partner)."""
    diffs = [a - b for a, b in values if len(_finite((a, b))) == 2]
    return describe(diffs, rng, resamples)
