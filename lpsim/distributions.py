"""The distributions a scenario field may take (scenarios/README.md, "Distributions").

Each is a small frozen class with `sample(rng)` (one float), `sample_n(rng, n)` (a numpy array)
and `mean`. `rng` is always a `numpy.random.Generator` handed in by the caller (one stream per
agent and purpose, from `lpsim.seeds`); nothing here touches global random state.

`parse_distribution(value, unit)` builds one from parsed YAML: a constant (a number or a unit
string) or a mapping with `dist` and its parameters. `unit` parses a value in the field's units
into the base unit the samples are in (seconds, wei, LPT base units); dimensionless parameters
(`sigma`, `shape`, `weights`) are plain numbers.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, Callable, ClassVar

import numpy as np

from .units import FieldError, parse_number

Unit = Callable[[Any], float]


class Distribution:
    """Base class: subclasses are frozen dataclasses whose fields are the YAML parameters."""

    name: ClassVar[str]
    # Parameters that are dimensionless numbers; every other one is in the field's units.
    dimensionless: ClassVar[frozenset[str]] = frozenset()
    # Parameters that are lists (stored as tuples).
    listed: ClassVar[frozenset[str]] = frozenset()

    def _draw(self, rng: np.random.Generator, size: int | None) -> Any:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> float:
        x = float(self._draw(rng, None))
        if not math.isfinite(x):  # parameters so large that a draw overflows (e.g. sigma: 1e50)
            raise ValueError(f"a {self.name} draw overflowed to {x}: {self.to_data()}")
        return x

    def sample_n(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.asarray(self._draw(rng, n), dtype=float)

    @property
    def mean(self) -> float:
        raise NotImplementedError

    def to_data(self, fmt: Callable[[float], Any] = lambda x: x) -> Any:
        """The YAML form, parameters in the field's units through `fmt` (a constant is bare)."""
        data: dict[str, Any] = {"dist": self.name}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None:
                continue
            key = _PARAM_OF.get(f.name, f.name)
            convert = (lambda x: x) if key in self.dimensionless else fmt
            data[key] = [convert(v) for v in value] if key in self.listed else convert(value)
        return data


@dataclass(frozen=True)
class Constant(Distribution):
    value: float
    name: ClassVar[str] = "constant"

    def sample(self, rng: np.random.Generator) -> float:
        return self.value

    def sample_n(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value, dtype=float)

    @property
    def mean(self) -> float:
        return self.value

    def to_data(self, fmt: Callable[[float], Any] = lambda x: x) -> Any:
        return fmt(self.value)


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float
    name: ClassVar[str] = "uniform"

    def __post_init__(self) -> None:
        if not self.high > self.low:
            raise FieldError("must be greater than low", ("high",))

    def _draw(self, rng, size):
        return rng.uniform(self.low, self.high, size)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal, clipped below at `min`: a draw under `min` is `min`."""

    mean_: float
    sd: float
    min: float = 0.0
    name: ClassVar[str] = "normal"

    def __post_init__(self) -> None:
        if self.sd < 0:
            raise FieldError(f"must not be negative (got {self.sd})", ("sd",))

    def _draw(self, rng, size):
        return np.maximum(rng.normal(self.mean_, self.sd, size), self.min)

    @property
    def mean(self) -> float:
        """E[max(X, min)] for X ~ N(mean, sd)."""
        if self.sd == 0:
            return max(self.mean_, self.min)
        a = (self.min - self.mean_) / self.sd
        cdf = 0.5 * (1 + math.erf(a / math.sqrt(2)))
        pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
        return self.min * cdf + self.mean_ * (1 - cdf) + self.sd * pdf


@dataclass(frozen=True)
class LogNormal(Distribution):
    """exp(N(ln median, sigma))."""

    median: float
    sigma: float
    name: ClassVar[str] = "lognormal"
    dimensionless: ClassVar[frozenset[str]] = frozenset({"sigma"})

    def __post_init__(self) -> None:
        if not self.median > 0:
            raise FieldError(f"must be greater than 0 (got {self.median})", ("median",))
        if self.sigma < 0:
            raise FieldError(f"must not be negative (got {self.sigma})", ("sigma",))

    def _draw(self, rng, size):
        return rng.lognormal(math.log(self.median), self.sigma, size)

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.sigma**2 / 2)


@dataclass(frozen=True)
class Exponential(Distribution):
    mean_: float
    name: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        if not self.mean_ > 0:
            raise FieldError(f"must be greater than 0 (got {self.mean_})", ("mean",))

    def _draw(self, rng, size):
        return rng.exponential(self.mean_, size)

    @property
    def mean(self) -> float:
        return self.mean_


@dataclass(frozen=True)
class Pareto(Distribution):
    """Pareto type I: P(X > x) = (scale / x) ** shape for x >= scale."""

    scale: float
    shape: float
    name: ClassVar[str] = "pareto"
    dimensionless: ClassVar[frozenset[str]] = frozenset({"shape"})

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise FieldError(f"must be greater than 0 (got {self.scale})", ("scale",))
        if not self.shape > 0:
            raise FieldError(f"must be greater than 0 (got {self.shape})", ("shape",))

    def _draw(self, rng, size):
        # numpy's pareto is Lomax (Pareto II, support from 0): shift by 1 and scale for type I.
        return self.scale * (1.0 + rng.pareto(self.shape, size))

    @property
    def mean(self) -> float:
        """shape * scale / (shape - 1); infinite when shape <= 1."""
        return self.shape * self.scale / (self.shape - 1) if self.shape > 1 else math.inf


@dataclass(frozen=True)
class Choice(Distribution):
    """One of `values`, with probabilities proportional to `weights` (equal when omitted)."""

    values: tuple[float, ...]
    weights: tuple[float, ...] | None = None
    name: ClassVar[str] = "choice"
    dimensionless: ClassVar[frozenset[str]] = frozenset({"weights"})
    listed: ClassVar[frozenset[str]] = frozenset({"values", "weights"})

    def __post_init__(self) -> None:
        if not self.values:
            raise FieldError("must list at least one value", ("values",))
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise FieldError(f"must list one weight per value ({len(self.weights)} weights, "
                                 f"{len(self.values)} values)", ("weights",))
            if any(w < 0 for w in self.weights) or not sum(self.weights) > 0:
                raise FieldError("must be non-negative and not all 0", ("weights",))

    @property
    def _p(self) -> np.ndarray | None:
        return None if self.weights is None else np.asarray(self.weights) / sum(self.weights)

    def _draw(self, rng, size):
        index = rng.choice(len(self.values), size=size, p=self._p)
        return np.asarray(self.values, dtype=float)[index]

    @property
    def mean(self) -> float:
        return float(np.dot(self.values, self._p)) if self.weights is not None else float(np.mean(self.values))


@dataclass(frozen=True)
class Empirical(Distribution):
    """A uniform resample of the listed values (e.g. measured compute times)."""

    values: tuple[float, ...]
    name: ClassVar[str] = "empirical"
    listed: ClassVar[frozenset[str]] = frozenset({"values"})

    def __post_init__(self) -> None:
        if not self.values:
            raise FieldError("must list at least one value", ("values",))

    def _draw(self, rng, size):
        return np.asarray(self.values, dtype=float)[rng.integers(len(self.values), size=size)]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))


DISTRIBUTIONS: dict[str, type[Distribution]] = {
    cls.name: cls for cls in (Constant, Uniform, Normal, LogNormal, Exponential, Pareto, Choice, Empirical)
}
# YAML parameter name -> dataclass field, where the two differ (`mean` is also a property).
_FIELD_OF = {"mean": "mean_"}
_PARAM_OF = {v: k for k, v in _FIELD_OF.items()}


def parse_distribution(value: Any, unit: Unit = parse_number) -> Distribution:
    """A distribution from parsed YAML: a constant through `unit`, or a mapping with `dist`.

    Raises `FieldError` whose `path` names the offending parameter (and list index).
    """
    if isinstance(value, Distribution):
        return value
    if not isinstance(value, Mapping):
        if isinstance(value, (list, tuple)) or value is None:
            raise ValueError(f"expected a constant or a mapping with `dist` (got {value!r})")
        return Constant(unit(value))
    if "dist" not in value:
        raise FieldError(f"a distribution needs `dist` (one of {', '.join(DISTRIBUTIONS)})")
    name = value["dist"]
    cls = DISTRIBUTIONS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise FieldError(f'unknown distribution "{name}" (expected one of {", ".join(DISTRIBUTIONS)})', ("dist",))
    params = {_PARAM_OF.get(f.name, f.name): f for f in fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, raw in value.items():
        if key == "dist":
            continue
        if key not in params:
            raise FieldError(f'unknown parameter "{key}" for {name} (expected {", ".join(params)})', (key,))
        convert = parse_number if key in cls.dimensionless else unit
        kwargs[params[key].name] = _parse_param(key, raw, convert, listed=key in cls.listed)
    missing = [p for p, f in params.items() if f.name not in kwargs and f.default is MISSING]
    if missing:
        raise FieldError(f"{name} needs {' and '.join(missing)}")
    return cls(**kwargs)


def _parse_param(key: str, raw: Any, convert: Unit, listed: bool) -> Any:
    try:
        if not listed:
            return convert(raw)
        if not isinstance(raw, (list, tuple)):
            raise ValueError(f"expected a list (got {raw!r})")
        items = []
        for i, item in enumerate(raw):
            try:
                items.append(convert(item))
            except FieldError as exc:
                raise exc.under(i) from None
            except ValueError as exc:
                raise FieldError(str(exc), (i,)) from None
        return tuple(items)
    except FieldError as exc:
        raise exc.under(key) from None
    except ValueError as exc:
        raise FieldError(str(exc), (key,)) from None
