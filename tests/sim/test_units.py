"""Unit strings of scenario files: exact amounts, durations resolved through the chain, clear errors."""
from fractions import Fraction

import pytest

from lpsim import units
from lpsim.units import (Duration, format_lpt, format_price, parse_duration, parse_eth, parse_fraction, parse_lpt,
                         parse_number, parse_price, parse_rate)


@pytest.mark.parametrize("text, seconds", [
    (90, 90), (1.5, 1.5), ("250 ms", 0.25), ("30 s", 30), ("90 min", 5400), ("2h", 7200), ("2 h", 7200),
    ("1 d", 86400), ("1 w", 604800), ("1 y", 365 * 86400), ("1.5e3 s", 1500), ("0", 0),
])
def test_durations_in_time_units(text, seconds):
    duration = parse_duration(text)
    assert not duration.chain_relative
    assert duration.to_seconds(12, 6377) == seconds


def test_blocks_and_rounds_need_the_chain():
    assert parse_duration("3 blocks").chain_relative
    assert parse_duration("3 blocks").to_seconds(12, 100) == 36
    assert parse_duration("2 rounds").to_seconds(12, 100) == 2400
    assert parse_duration("1 round").to_seconds(2, 50) == 100
    assert parse_duration("0.5 rounds").to_seconds(12, 6377) == 0.5 * 6377 * 12
    assert parse_duration("3 rounds") == Duration(Fraction(3), "rounds")


@pytest.mark.parametrize("text, message", [
    ("5 m", 'unknown unit "m"'), ("soon", "expected a duration such as `90 min`"),
    ("-1 s", "must not be negative"), (True, "expected a duration"), (None, "expected a duration"),
    (float("inf"), "expected a duration"),
])
def test_duration_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_eth_amounts_are_exact_wei():
    assert parse_eth("1.5 ETH") == 1_500_000_000_000_000_000
    assert parse_eth("1 ETH") == 10**18
    assert parse_eth("8 gwei") == 8_000_000_000
    assert parse_eth("0.01 gwei") == 10_000_000
    assert parse_eth("0.1 gwei") == 100_000_000  # no binary rounding
    assert parse_eth(8000000000) == 8000000000
    assert parse_eth("8000000000") == 8000000000
    assert parse_eth("1e18") == 10**18  # YAML 1.1 reads 1e18 as a string
    assert parse_eth(1e18) == 10**18
    assert parse_eth("3 Gwei") == parse_eth("3 GWEI") == 3 * 10**9
    assert parse_eth("2 eth") == 2 * 10**18
    assert parse_eth("1_000 wei") == 1000
    assert isinstance(parse_eth("1 ETH"), int)


@pytest.mark.parametrize("text, message", [
    ("1.5 wei", "must be a whole number of wei"),
    ("0.0000000001 gwei", "must be a whole number of wei"),
    ("1 LPT", 'unknown unit "LPT" \\(expected wei, gwei or ETH\\)'),
    ("lots", "expected an ETH amount such as `1 ETH`, `8 gwei` or a number of wei"),
    ([1], "expected an ETH amount"),
    (False, "expected an ETH amount"),
    ("-1 ETH", "must not be negative"),
])
def test_eth_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_eth(text)


def test_lpt_amounts_in_base_units():
    assert parse_lpt("5000 LPT") == 5000 * 10**18
    assert parse_lpt(5000) == 5000 * 10**18  # bare numbers are LPT
    assert parse_lpt("1.5e4") == 15000 * 10**18
    assert parse_lpt("50e6 LPT") == 50_000_000 * 10**18
    assert parse_lpt("0.000000000000000001 LPT") == 1
    assert parse_lpt("7 wei") == 7
    assert parse_lpt("2 lpt") == 2 * 10**18
    with pytest.raises(ValueError, match="whole number of LPT base units"):
        parse_lpt("0.5 wei")
    with pytest.raises(ValueError, match='unknown unit "ETH"'):
        parse_lpt("1 ETH")
    with pytest.raises(ValueError, match="expected an LPT amount"):
        parse_lpt("a lot")


def test_prices_are_exact_fractions_of_wei():
    assert parse_price("1200 wei") == 1200
    assert parse_price(1200) == 1200
    assert parse_price("0.5") == Fraction(1, 2)
    assert parse_price("0.004 gwei") == 4_000_000
    assert parse_price("1e-3 gwei") == 1_000_000
    assert isinstance(parse_price("0.5 wei"), Fraction)
    with pytest.raises(ValueError, match='unknown unit "LPT"'):
        parse_price("1 LPT")


def test_rates_per_second():
    assert parse_rate("5/s") == 5
    assert parse_rate("5 /s") == 5
    assert parse_rate("120/h") == pytest.approx(120 / 3600)
    assert parse_rate("6/min") == pytest.approx(0.1)
    assert parse_rate("864 / d") == pytest.approx(0.01)
    assert parse_rate(2) == 2
    with pytest.raises(ValueError, match='^unknown unit "per fortnight"'):
        parse_rate("5 per fortnight")
    with pytest.raises(ValueError, match="expected a rate such as `5/s` or `120/h`"):
        parse_rate("often")


def test_fractions():
    assert parse_fraction(0.5) == 0.5
    assert parse_fraction("50%") == 0.5
    assert parse_fraction("12.5 %") == 0.125
    assert parse_fraction(0) == 0 and parse_fraction(1) == 1
    with pytest.raises(ValueError, match=r"must be between 0 and 1 \(got 1.5\)"):
        parse_fraction(1.5)
    with pytest.raises(ValueError, match=r"must be between 0 and 1 \(got 150%\)"):
        parse_fraction("150%")
    with pytest.raises(ValueError, match="must be between 0 and 1"):
        parse_fraction(-0.1)
    with pytest.raises(ValueError, match='unknown unit "pct"'):
        parse_fraction("5 pct")
    with pytest.raises(ValueError, match="expected a fraction such as `0.5` or `50%`"):
        parse_fraction("half")


def test_plain_numbers():
    assert parse_number("1e-3") == 0.001
    assert parse_number(3) == 3.0
    with pytest.raises(ValueError, match="without a unit"):
        parse_number("3 s")


@pytest.mark.parametrize("amount", [0, 1, 10**18, 1500 * 10**18, 12345678901234567890123, 5 * 10**25])
def test_lpt_amounts_format_and_read_back(amount):
    assert parse_lpt(format_lpt(amount)) == amount
    assert parse_lpt(format_lpt(float(amount))) == int(float(amount))


def test_format_examples():
    assert format_lpt(1000 * 10**18) == "1000 LPT"
    assert format_lpt(15 * 10**17) == "1.5 LPT"
    assert format_price(Fraction(1200)) == 1200
    assert format_price(Fraction(1, 8)) == "0.125 wei"
    assert parse_price(format_price(Fraction(1, 8))) == Fraction(1, 8)
    assert units.plain(7200.0) == 7200 and units.plain(0.5) == 0.5


def test_field_error_paths():
    error = units.FieldError("bad", ("median",)).under("stake")
    assert isinstance(error, ValueError) and error.path == ("stake", "median") and str(error) == "bad"
