"""Distributions of scenario values: sampling from handed-in generators, means, parsing, errors."""
import math

import numpy as np
import pytest

from lpsim.distributions import (Choice, Constant, Empirical, Exponential, LogNormal, Normal, Pareto, Uniform,
                                 parse_distribution)
from lpsim.units import FieldError, parse_duration, parse_lpt

N = 200_000


def seconds(value):
    return parse_duration(value).to_seconds(12, 100)


def rng(seed=1):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("dist", [
    Uniform(2.0, 6.0), Normal(10.0, 2.0), Normal(1.0, 2.0, 0.0), Normal(1.0, 2.0, -100.0), LogNormal(0.4, 0.3),
    Exponential(3.0), Pareto(1.0, 3.0), Choice((1.0, 2.0, 10.0), (1.0, 1.0, 2.0)), Choice((1.0, 3.0)),
    Empirical((1.0, 2.0, 4.0, 8.0)), Constant(5.0),
], ids=repr)
def test_sample_mean_matches_mean(dist):
    samples = dist.sample_n(rng(), N)
    assert samples.shape == (N,) and samples.dtype == float
    assert samples.mean() == pytest.approx(dist.mean, rel=0.02)
    assert isinstance(dist.sample(rng()), float)


def test_means():
    assert Uniform(2, 6).mean == 4
    assert LogNormal(1.0, 0.5).mean == pytest.approx(math.exp(0.125))
    assert Pareto(2.0, 3.0).mean == 3.0
    assert Pareto(2.0, 1.0).mean == math.inf
    assert Normal(5.0, 0.0, 6.0).mean == 6.0
    assert Normal(10.0, 2.0).mean == pytest.approx(10.0)  # clipping at 0 is 5 sd away
    assert Choice((1.0, 2.0), (3.0, 1.0)).mean == 1.25
    assert Empirical((1.0, 2.0, 6.0)).mean == 3.0


def test_supports():
    r = rng()
    assert Pareto(5.0, 1.5).sample_n(r, 1000).min() >= 5.0
    assert Normal(0.0, 1.0).sample_n(r, 1000).min() == 0.0  # clipped at min 0
    assert set(Choice((1.0, 7.0)).sample_n(r, 1000)) == {1.0, 7.0}
    assert set(Choice((1.0, 7.0), (0.0, 1.0)).sample_n(r, 100)) == {7.0}
    assert set(Empirical((3.0, 4.0)).sample_n(r, 1000)) == {3.0, 4.0}
    u = Uniform(1.0, 2.0).sample_n(r, 1000)
    assert u.min() >= 1.0 and u.max() < 2.0


def test_constants_draw_nothing():
    r1, r2 = rng(), rng()
    assert Constant(2.5).sample(r1) == 2.5
    assert list(Constant(2.5).sample_n(r1, 3)) == [2.5, 2.5, 2.5]
    assert r1.random() == r2.random()  # the generator was not advanced


def test_same_generator_state_same_draws():
    dist = LogNormal(0.4, 0.3)
    assert list(dist.sample_n(rng(5), 10)) == list(dist.sample_n(rng(5), 10))
    assert dist.sample(rng(5)) == dist.sample_n(rng(5), 1)[0]
    assert dist.sample_n(rng(5), 10)[0] != dist.sample_n(rng(6), 10)[0]


def test_parse_constants_through_the_unit():
    assert parse_distribution(3) == Constant(3.0)
    assert parse_distribution("0.4 s", seconds) == Constant(0.4)
    assert parse_distribution("3 blocks", seconds) == Constant(36.0)
    assert parse_distribution("1000 LPT", lambda v: float(parse_lpt(v))) == Constant(1e21)
    assert parse_distribution({"dist": "constant", "value": "2 min"}, seconds) == Constant(120.0)


def test_parse_mappings_in_field_units():
    assert parse_distribution({"dist": "lognormal", "median": "40 ms", "sigma": 0.5}, seconds) == LogNormal(0.04, 0.5)
    assert parse_distribution({"dist": "uniform", "low": "1 s", "high": "1 min"}, seconds) == Uniform(1.0, 60.0)
    assert parse_distribution({"dist": "normal", "mean": "1 s", "sd": "100 ms"}, seconds) == Normal(1.0, 0.1, 0.0)
    assert parse_distribution({"dist": "normal", "mean": 1, "sd": 1, "min": "500 ms"}, seconds) == Normal(1, 1, 0.5)
    assert parse_distribution({"dist": "exponential", "mean": "10 min"}, seconds) == Exponential(600.0)
    assert parse_distribution({"dist": "pareto", "scale": "500 LPT", "shape": "1.5"},
                              lambda v: float(parse_lpt(v))) == Pareto(5e20, 1.5)
    assert parse_distribution({"dist": "choice", "values": ["1 s", "2 s"], "weights": [1, 3]},
                              seconds) == Choice((1.0, 2.0), (1.0, 3.0))
    assert parse_distribution({"dist": "empirical", "values": [1, 2, 3]}) == Empirical((1.0, 2.0, 3.0))
    dist = LogNormal(0.5, 0.3)
    assert parse_distribution(dist) is dist


@pytest.mark.parametrize("value, path, message", [
    ({"dist": "gamma"}, ("dist",), 'unknown distribution "gamma"'),
    ({"median": 1}, (), "a distribution needs `dist`"),
    ({"dist": "lognormal", "median": 1}, (), "lognormal needs sigma"),
    ({"dist": "uniform"}, (), "uniform needs low and high"),
    ({"dist": "lognormal", "median": 1, "sigma": 1, "mu": 0}, ("mu",), 'unknown parameter "mu" for lognormal'),
    ({"dist": "lognormal", "median": "1 parsec", "sigma": 1}, ("median",), 'unknown unit "parsec"'),
    ({"dist": "lognormal", "median": 0, "sigma": 1}, ("median",), "must be greater than 0"),
    ({"dist": "lognormal", "median": 1, "sigma": "1 s"}, ("sigma",), "without a unit"),
    ({"dist": "uniform", "low": 5, "high": 2}, ("high",), "must be greater than low"),
    ({"dist": "normal", "mean": 1, "sd": -1}, ("sd",), "must not be negative"),
    ({"dist": "pareto", "scale": 1, "shape": 0}, ("shape",), "must be greater than 0"),
    ({"dist": "exponential", "mean": 0}, ("mean",), "must be greater than 0"),
    ({"dist": "choice", "values": []}, ("values",), "at least one value"),
    ({"dist": "choice", "values": 3}, ("values",), "expected a list"),
    ({"dist": "choice", "values": [1, "x s"]}, ("values", 1), "expected a duration"),
    ({"dist": "choice", "values": [1, 2], "weights": [1]}, ("weights",), "one weight per value"),
    ({"dist": "choice", "values": [1, 2], "weights": [0, 0]}, ("weights",), "not all 0"),
])
def test_parse_errors_name_the_parameter(value, path, message):
    with pytest.raises(FieldError, match=message) as info:
        parse_distribution(value, seconds)
    assert info.value.path == path


def test_other_bad_values():
    with pytest.raises(ValueError, match="expected a constant or a mapping with `dist`"):
        parse_distribution([1, 2])
    with pytest.raises(ValueError, match="expected a duration"):
        parse_distribution("soon", seconds)


def test_to_data_reads_back():
    for dist in (Constant(2.0), Uniform(1.0, 2.0), Normal(1.0, 0.5, 0.2), LogNormal(0.4, 0.3), Exponential(3.0),
                 Pareto(1.0, 1.5), Choice((1.0, 2.0)), Choice((1.0, 2.0), (1.0, 3.0)), Empirical((4.0, 5.0))):
        assert parse_distribution(dist.to_data()) == dist
    assert LogNormal(0.4, 0.3).to_data(lambda x: f"{x} s") == {"dist": "lognormal", "median": "0.4 s", "sigma": 0.3}
    assert Normal(1.0, 0.5).to_data() == {"dist": "normal", "mean": 1.0, "sd": 0.5, "min": 0.0}
