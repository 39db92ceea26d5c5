"""Exogenous time series: prices, gas price and demand over calendar time, one value per round.

Each series is drawn whole at the start of a run from its own stream of the seed tree
(`("series", name)`), so adding a series never changes another one's path, and one scenario
with one seed gives the same values everywhere. Processes (dt = one round, in years):
- constant: `value`;
- gbm: S(t+dt) = S(t) exp((mu - sigma²/2) dt + sigma √dt Z);
- merton: gbm plus Poisson(`jump_rate` dt) jumps per step, each a normal `jump_mean`, `jump_sd`
  on the log price (the drift is not compensated: `mu` is the diffusion's drift);
- bootstrap: log-returns drawn with replacement from `returns` (a list) or from a file's column;
- file: a CSV with a `round` or `day` column (days since the start) and the value column; the
  value holds until the next row.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SERIES_NAMES = ("lpt_usd", "eth_usd", "gas_price_gwei", "demand")
PROCESSES = ("constant", "gbm", "merton", "bootstrap", "file")


def gbm(s0: float, mu: float, sigma: float, dt: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n + 1` values starting at s0."""
    z = rng.standard_normal(n)
    steps = (mu - sigma * sigma / 2) * dt + sigma * math.sqrt(dt) * z
    return s0 * np.exp(np.concatenate(([0.0], np.cumsum(steps))))


def merton(s0: float, mu: float, sigma: float, jump_rate: float, jump_mean: float, jump_sd: float, dt: float,
           n: int, rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal(n)
    jumps = rng.poisson(jump_rate * dt, n)
    jump_sizes = jumps * jump_mean + np.sqrt(jumps) * jump_sd * rng.standard_normal(n)
    steps = (mu - sigma * sigma / 2) * dt + sigma * math.sqrt(dt) * z + jump_sizes
    return s0 * np.exp(np.concatenate(([0.0], np.cumsum(steps))))


def bootstrap(s0: float, returns: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(returns) == 0:
        raise ValueError("bootstrap needs at least one recorded return")
    steps = rng.choice(np.asarray(returns, dtype=float), size=n, replace=True)
    return s0 * np.exp(np.concatenate(([0.0], np.cumsum(steps))))


def read_column(path: str | Path, column: str) -> tuple[str, list[float], list[float]]:
    """(time column name, times, values) from a CSV with a `round` or `day` column."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no rows")
    key = "round" if "round" in rows[0] else "day" if "day" in rows[0] else None
    if key is None:
        raise ValueError(f"{path}: needs a 'round' or 'day' column (has {', '.join(rows[0])})")
    if column not in rows[0]:
        raise ValueError(f"{path}: no column {column!r} (has {', '.join(rows[0])})")
    try:
        pairs = sorted((float(r[key]), float(r[column])) for r in rows if r[column] not in ("", None))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return key, [t for t, _ in pairs], [v for _, v in pairs]


def from_file(path: str | Path, column: str, n: int, round_days: float) -> np.ndarray:
    key, times, values = read_column(path, column)
    rounds = np.arange(n + 1) * (round_days if key == "day" else 1.0)
    idx = np.searchsorted(np.asarray(times), rounds, side="right") - 1
    return np.asarray(values)[np.clip(idx, 0, len(values) - 1)]


def draw(spec: Mapping[str, Any], n: int, round_seconds: float, rng: np.random.Generator) -> np.ndarray:
    """`n + 1` per-round values of one series (spec: the scenario's mapping, validated)."""
    process = spec["process"]
    dt = round_seconds / (365.25 * 86400)
    if process == "constant":
        return np.full(n + 1, float(spec["value"]))
    if process == "file":
        return from_file(spec["path"], spec["column"], n, round_seconds / 86400)
    s0 = float(spec["start"])
    if process == "gbm":
        return gbm(s0, spec.get("mu", 0.0), spec["sigma"], dt, n, rng)
    if process == "merton":
        return merton(s0, spec.get("mu", 0.0), spec["sigma"], spec["jump_rate"], spec.get("jump_mean", 0.0),
                      spec.get("jump_sd", 0.0), dt, n, rng)
    returns = spec.get("returns")
    if returns is None:
        _, _, values = read_column(spec["path"], spec["column"])
        returns = np.diff(np.log(values))
    return bootstrap(s0, np.asarray(returns), n, rng)


class Series:
    """Every series of a run, drawn once: `at(round_index)` gives their values."""

    def __init__(self, specs: Mapping[str, Mapping[str, Any]], rounds: int, round_seconds: float, tree) -> None:
        self.length = rounds + 1
        self.values = {name: draw(spec, rounds, round_seconds, tree.generator("series", name))
                       for name, spec in specs.items()}

    def shock(self, name: str, index: int, *, multiply: float | None = None, value: float | None = None) -> None:
        """From round `index` on, multiply `name`'s values by `multiply`, or hold them at `value`
        (a timeline event's shock). Demand without a series of its own is 1 until shocked."""
        if name not in self.values:
            if name != "demand":
                raise ValueError(f"no {name} series to shock")
            self.values[name] = np.ones(self.length)
        v = self.values[name]
        if multiply is not None:
            v[index:] *= multiply
        else:
            v[index:] = value

    def at(self, index: int) -> dict[str, float]:
        return {name: float(v[min(max(index, 0), len(v) - 1)]) for name, v in self.values.items()}
