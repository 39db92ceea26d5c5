"""Live payments and live session rules against the numbers of spec §2.8, §3.8 and §13."""
from fractions import Fraction

import pytest

from node.core.balances import Balances
from node.core.live_payment import (
    LIVE_PAYMENT_INTERVAL,
    LIVE_SLOW_PENALTY,
    LIVE_SWAP_WINDOW,
    LivePaymentProcessor,
    account_live_payment,
    record_swap,
    too_slow,
)
from node.core.pricing import LIVE_INITIAL_UNITS, LIVE_VIDEO_UNITS_PER_SECOND

SENDER, MID = "0x" + "ab" * 20, "mid-1"


def test_rate_and_initial_units_are_gos():
    assert LIVE_VIDEO_UNITS_PER_SECOND == 27_648_000
    assert LIVE_INITIAL_UNITS == 1_658_880_000  # 60 s up front
    assert LIVE_PAYMENT_INTERVAL == 5.0


def test_nothing_is_billed_before_the_interval():
    p = LivePaymentProcessor(5.0, now=100.0)
    assert p.due(100.0) == 0 and p.due(104.999) == 0
    assert p.due(105.0) == 5 * 27_648_000
    assert p.due(109.0) == 0  # the interval restarts at the billed time


def test_the_fraction_of_a_unit_is_carried_into_a_later_bill_as_go_does():
    # go's processOne advances lastProcessedAt by the billed duration only ("so truncated fractional
    # units are included in a later payment"), as spec §2.8 says
    rate = 3  # a small rate makes the fraction visible: 5.5 s -> 16.5 units
    p = LivePaymentProcessor(5.0, now=0.0, rate=rate)
    bills = [p.due(5.5 * k) for k in range(1, 5)]
    assert bills == [16, 17, 16, 17]
    assert sum(bills) == rate * 22 and p.last == Fraction(22)  # nothing lost over time
    q = LivePaymentProcessor(5.0, now=0.0, rate=rate)
    assert q.due(5.5) == 16 and q.last == Fraction(16, 3)  # the billed time, not the segment's
    assert q.due(10.0) == 0  # 4.67 s since the billed time: not yet due
    assert q.due(10.4) == 15 and q.last == Fraction(31, 3)  # 5.07 s: 15.2 units, 0.2 carried on


def test_real_rate_bills_the_time_since_the_last_billing_segment():
    p = LivePaymentProcessor(now=0.0)
    bills = [p.due(t) for t in (2.0, 5.25, 7.0, 10.5, 16.0, 21.0, 25.75)]
    assert bills == [0, 145_152_000, 0, 145_152_000, 152_064_000, 138_240_000, 0]  # 5.25, 5.25, 5.5, 5 s
    assert p.due(21.0) == 0  # nothing twice for the same time


def test_bad_interval_is_refused():
    with pytest.raises(ValueError):
        LivePaymentProcessor(0, now=0.0)


def balances(amount=None):
    b = Balances(clock=lambda: 0.0)
    if amount is not None:
        b.credit(SENDER, MID, amount)
    return b


def test_account_debits_units_times_price():
    b = balances(LIVE_INITIAL_UNITS * 3)
    assert account_live_payment(b, SENDER, MID, 5 * LIVE_VIDEO_UNITS_PER_SECOND, Fraction(3)) is None
    assert b.balance(SENDER, MID) == 55 * LIVE_VIDEO_UNITS_PER_SECOND * 3


def test_short_or_missing_balance_is_gos_error_and_debits_nothing():
    b = balances(10)
    err = account_live_payment(b, SENDER, MID, 4, Fraction(3))
    assert err == "insufficient balance, mid=mid-1, fee=12, balance=10"
    assert b.balance(SENDER, MID) == 10
    err = account_live_payment(balances(), SENDER, MID, 5, Fraction(1, 2))
    assert err == "insufficient balance, mid=mid-1, fee=3, balance=nil"  # FloatString(0) rounds 2.5 up
    err = account_live_payment(balances(Fraction(9, 4)), SENDER, MID, 5, Fraction(1, 2))
    assert err == "insufficient balance, mid=mid-1, fee=3, balance=2"


def test_price_zero_is_no_accounting():
    b = balances()
    assert account_live_payment(b, SENDER, MID, 10**12, Fraction(0)) is None
    assert account_live_payment(b, SENDER, MID, 10**12, None) is None
    assert b.balance(SENDER, MID) is None


def test_the_third_swap_within_three_minutes_stops_the_stream():
    swaps, stop = record_swap([], 0.0)
    assert not stop
    swaps, stop = record_swap(swaps, 60.0)
    assert not stop
    assert record_swap(swaps, 179.0)[1]  # 3rd within 180 s
    later, stop = record_swap(swaps, 0.0 + LIVE_SWAP_WINDOW)  # the first has left the window
    assert not stop and later == [60.0, 180.0]


def test_three_input_segments_in_flight_mark_the_orchestrator_slow():
    assert not too_slow(begun=5, completed=3)
    assert too_slow(begun=5, completed=2)
    assert LIVE_SLOW_PENALTY == 5
