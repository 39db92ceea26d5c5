"""Random draws made a block at a time: one numpy call yields `block` values, handed out one by
one. A scalar draw through numpy costs ~20 times a value of a block, and a simulation makes a few
per job (network latency and loss, compute time, failure).

Each block comes from the generator it was given, so a run stays a function of its seed. What a
block changes is the order in which a generator shared by several purposes is consumed (latency
and loss share the network's generator, for one): the values each purpose gets differ from
scalar draws', with the same distribution.
"""
from __future__ import annotations

import math

import numpy as np

from .distributions import Distribution

BLOCK = 256


class BlockDraws:
    """`draw()`: the next sample of `dist` from `rng`. A duration model that is not a pure
    distribution (lpsim.compute.RealCompute runs a pipeline to time it) is sampled on each call."""

    def __init__(self, dist, rng: np.random.Generator, block: int = BLOCK) -> None:
        self.dist, self.rng, self.block = dist, rng, block
        self._values: list[float] = []
        self._next = 0
        if not isinstance(dist, Distribution):
            self.draw = lambda: float(dist.sample(rng))

    def draw(self) -> float:
        i = self._next
        if i == len(self._values):
            values = self.dist.sample_n(self.rng, self.block)
            if not np.isfinite(values).all():  # as Distribution.sample: parameters so large a draw overflows
                bad = next(float(x) for x in values if not math.isfinite(x))
                raise ValueError(f"a {self.dist.name} draw overflowed to {bad}: {self.dist.to_data()}")
            self._values, i = values.tolist(), 0
        self._next = i + 1
        return self._values[i]


class UniformDraws:
    """`draw()`: the next uniform draw in [0, 1) from `rng` (what `rng.random()` gives)."""

    __slots__ = ("rng", "block", "_values", "_next")

    def __init__(self, rng: np.random.Generator, block: int = BLOCK) -> None:
        self.rng, self.block = rng, block
        self._values: list[float] = []
        self._next = 0

    def draw(self) -> float:
        i = self._next
        if i == len(self._values):
            self._values, i = self.rng.random(self.block).tolist(), 0
        self._next = i + 1
        return self._values[i]
