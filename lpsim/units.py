"""The unit strings of scenario files (scenarios/README.md, "Units"), parsed exactly.

A value is a bare number in the field's base unit or a string "<number> <unit>" (the space is
optional: `2h`, `5/s`, `50%`). Numbers are read as decimals and converted with `Fraction`
arithmetic, so `1.5 ETH` is exactly 1500000000000000000 wei and `0.1 gwei` never picks up
binary rounding. Every parser raises `ValueError` with a message fit for a user.

Durations in `blocks` or `rounds` cannot become seconds without the chain's block time and
round length, so `parse_duration` returns a small `Duration` resolved later by
`Duration.to_seconds(block_time, round_length)`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

LPT_DECIMALS = 18
WEI_PER_LPT = 10**LPT_DECIMALS

SECONDS_PER_UNIT: dict[str, Fraction] = {
    "ms": Fraction(1, 1000), "s": Fraction(1), "min": Fraction(60), "h": Fraction(3600),
    "d": Fraction(86400), "w": Fraction(7 * 86400), "y": Fraction(365 * 86400),
}
CHAIN_UNITS = {"blocks": "blocks", "block": "blocks", "rounds": "rounds", "round": "rounds"}
ETH_UNITS = {"wei": 1, "gwei": 10**9, "eth": 10**18}  # matched case-insensitively
LPT_UNITS = {"lpt": WEI_PER_LPT, "wei": 1}  # matched case-insensitively
RATE_UNITS = {"/s": Fraction(1), "/min": Fraction(60), "/h": Fraction(3600), "/d": Fraction(86400)}

EXPECTED_DURATION = "expected a duration such as `90 min`, `2 h` or `3 rounds`"
EXPECTED_ETH = "expected an ETH amount such as `1 ETH`, `8 gwei` or a number of wei"
EXPECTED_LPT = "expected an LPT amount such as `5000 LPT` or a number of LPT"
EXPECTED_PRICE = "expected a price such as `1200 wei`, `0.5 gwei` or a number of wei"
EXPECTED_RATE = "expected a rate such as `5/s` or `120/h`"
EXPECTED_FRACTION = "expected a fraction such as `0.5` or `50%`"
EXPECTED_NUMBER = "expected a number"

# Written numbers are refused beyond this power of ten either way: an exact value of 1e400 (or
# 1e-400) costs memory and time to build and overflows every float it meets. Amounts of wei
# (ETH, LPT base units, prices) must also fit the chain's uint256.
MAX_EXPONENT = 100
MAX_WEI = 2**256 - 1
_NUMBER = re.compile(r"\s*([+-]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)\s*(.*?)\s*\Z", re.S)


class FieldError(ValueError):
    """A ValueError that knows where, below the field being validated, it arose: `path` is
    appended to the field's location in scenario error reports (e.g. `("median",)` for a
    distribution parameter)."""

    def __init__(self, message: str, path: tuple = ()):
        super().__init__(message)
        self.path = tuple(path)

    def under(self, *prefix: str | int) -> "FieldError":
        return FieldError(str(self), prefix + self.path)


def split_quantity(value: Any, expected: str) -> tuple[Fraction, str]:
    """The exact number and the unit text ("" for none) of a bare number or "<number> <unit>"."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{expected} (got {value!r})")
    unit = ""
    if isinstance(value, str):
        match = _NUMBER.match(value)
        if match is None:
            raise ValueError(f"{expected} (got {value!r})")
        number, unit = Decimal(match.group(1).replace("_", "")), match.group(2)
    else:  # a float's repr is the shortest decimal that reads back as it: what the file said
        number = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if not number.is_finite():
        raise ValueError(f"{expected} (got {value!r})")
    if number and not -MAX_EXPONENT <= number.adjusted() < MAX_EXPONENT:
        raise ValueError(f"out of range (got {value!r}): numbers lie between 1e-{MAX_EXPONENT} and "
                         f"1e{MAX_EXPONENT} in size")
    return Fraction(number), unit


def _unknown_unit(unit: str, accepted: str) -> ValueError:
    return ValueError(f'unknown unit "{unit}" (expected {accepted})')


def _non_negative(amount: Fraction, value: Any) -> Fraction:
    if amount < 0:
        raise ValueError(f"must not be negative (got {value!r})")
    return amount


def _whole(amount: Fraction, value: Any, unit: str) -> int:
    if amount.denominator != 1:
        raise ValueError(f"must be a whole number of {unit} (got {value!r})")
    return amount.numerator


# --- durations ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Duration:
    """A non-negative duration as written: an exact amount of seconds, blocks or rounds."""

    amount: Fraction
    unit: str = "s"  # "s", "blocks" or "rounds"

    @property
    def chain_relative(self) -> bool:
        """Whether converting needs the chain's block time and round length."""
        return self.unit != "s"

    def to_seconds(self, block_time: float, round_length: int) -> float:
        if self.unit == "blocks":
            return float(self.amount * Fraction(block_time))
        if self.unit == "rounds":
            return float(self.amount * round_length * Fraction(block_time))
        return float(self.amount)

    def __str__(self) -> str:
        return f"{plain(self.amount)} {self.unit}"


def parse_duration(value: Any) -> Duration:
    """A duration: seconds when bare, else `ms` `s` `min` `h` `d` `w` `y` `blocks` `rounds`."""
    amount, unit = split_quantity(value, EXPECTED_DURATION)
    _non_negative(amount, value)
    if unit in CHAIN_UNITS:
        return Duration(amount, CHAIN_UNITS[unit])
    if unit and unit not in SECONDS_PER_UNIT:
        raise _unknown_unit(unit, "ms, s, min, h, d, w, y, blocks or rounds")
    return Duration(amount * SECONDS_PER_UNIT[unit or "s"])


# --- amounts -------------------------------------------------------------------------------------

def _scaled(value: Any, expected: str, table: dict[str, int], bare: int, accepted: str) -> Fraction:
    amount, unit = split_quantity(value, expected)
    _non_negative(amount, value)
    if not unit:
        return _fits_uint256(amount * bare, value)
    scale = table.get(unit.lower())
    if scale is None:
        raise _unknown_unit(unit, accepted)
    return _fits_uint256(amount * scale, value)


def _fits_uint256(wei: Fraction, value: Any) -> Fraction:
    if wei > MAX_WEI:
        raise ValueError(f"out of range (got {value!r}): amounts are below 2^256 wei")
    return wei


def parse_eth(value: Any) -> int:
    """An ETH amount in wei (exact): bare numbers are wei; units `wei`, `gwei`, `ETH`."""
    return _whole(_scaled(value, EXPECTED_ETH, ETH_UNITS, 1, "wei, gwei or ETH"), value, "wei")


def parse_lpt(value: Any) -> int:
    """An LPT amount in LPT base units (18 decimals, exact): bare numbers are LPT; units `LPT`,
    `wei`."""
    amount = _scaled(value, EXPECTED_LPT, LPT_UNITS, WEI_PER_LPT, "LPT or wei")
    return _whole(amount, value, "LPT base units (1e-18 LPT)")


def parse_price(value: Any) -> Fraction:
    """A price in wei per unit (pixel, AI unit), exact and possibly fractional: bare numbers are
    wei; units `wei`, `gwei`, `ETH`."""
    return _scaled(value, EXPECTED_PRICE, ETH_UNITS, 1, "wei, gwei or ETH")


def parse_rate(value: Any) -> float:
    """A rate per second: bare numbers are per second; units `/s`, `/min`, `/h`, `/d`."""
    amount, unit = split_quantity(value, EXPECTED_RATE)
    _non_negative(amount, value)
    compact = "".join(unit.split())  # "5 / h" reads as "5/h"
    if compact and compact not in RATE_UNITS:
        raise _unknown_unit(unit, "/s, /min, /h or /d")
    return float(amount / RATE_UNITS[compact or "/s"])


def parse_fraction(value: Any) -> float:
    """A fraction in [0, 1]: a bare number or a percentage (`50%`)."""
    amount, unit = split_quantity(value, EXPECTED_FRACTION)
    if unit == "%":
        amount /= 100
    elif unit:
        raise _unknown_unit(unit, "a bare fraction or %")
    if not 0 <= amount <= 1:
        raise ValueError(f"must be between 0 and 1 (got {value})")
    return float(amount)


def parse_number(value: Any) -> float:
    """A plain number without a unit (numeric strings such as `1e-3` included: YAML 1.1 reads
    exponents without a sign or a dot as strings)."""
    amount, unit = split_quantity(value, EXPECTED_NUMBER)
    if unit:
        raise ValueError(f'{EXPECTED_NUMBER} without a unit (got {value!r})')
    return float(amount)


# --- writing values back -------------------------------------------------------------------------

def plain(x: int | float | Fraction) -> int | float:
    """An int when `x` is whole (and exactly representable), else a float: for YAML output."""
    if isinstance(x, Fraction):
        return x.numerator if x.denominator == 1 else float(x)
    if isinstance(x, float) and x.is_integer() and abs(x) < 2**53:
        return int(x)
    return x


def _decimal_text(x: Fraction) -> str:
    """`x` as a decimal string, exact when its denominator divides a power of ten (every value
    read from a file does, and so does every float)."""
    with localcontext() as ctx:
        ctx.prec = 1100  # enough for any float's exact decimal expansion
        text = f"{(Decimal(x.numerator) / Decimal(x.denominator)).normalize():f}"
    return text


def format_lpt(amount: int | float) -> str:
    """An LPT amount (base units) as the string `parse_lpt` reads back exactly, e.g. "1000 LPT"."""
    if isinstance(amount, float) and not amount.is_integer():
        return f"{amount!r} wei"
    return f"{_decimal_text(Fraction(int(amount), WEI_PER_LPT))} LPT"


def format_price(price: Fraction | float) -> int | str:
    """A price in wei as `parse_price` reads it back exactly: an int when whole."""
    price = Fraction(price)
    return price.numerator if price.denominator == 1 else f"{_decimal_text(price)} wei"
