"""Live video-to-video payments and session rules, sans-I/O (go-livepeer server/live_payment.go,
server/live_payment_processor.go, server/ai_live_video.go). One definition shared by the gateway,
the orchestrator and the simulator; callers pass the time (`loop.time()`, `env.now`).

- `LivePaymentProcessor`: on each input segment, once `interval` has passed since the last
  billing, bill int(rate × elapsed) units and advance the billed time by exactly those units (the
  fraction of a unit is carried into a later bill), as spec §2.8 and go's live_payment_processor.go
  (which once restarted at the segment's time, dropping it; current go carries it; its advance is
  truncated to whole nanoseconds, here it is exact).
- `account_live_payment`: the orchestrator's AccountPayment (fee = units × price; a missing or
  short balance is go's "insufficient balance" error, on which the caller closes the channels).
- The gateway's swap and slow-orchestrator rules (ai_live_video.go).
"""
from __future__ import annotations

import math
from fractions import Fraction

from node.core.balances import Balances
from node.core.pricing import LIVE_INITIAL_UNITS, LIVE_VIDEO_UNITS_PER_SECOND

__all__ = [
    "LIVE_INITIAL_UNITS",
    "LIVE_INPUT_RETRY",
    "LIVE_MAX_SWAPS",
    "LIVE_PAYMENT_INTERVAL",
    "LIVE_PAYMENT_TIMEOUT",
    "LIVE_SLOW_IN_FLIGHT",
    "LIVE_SLOW_PENALTY",
    "LIVE_START_TIMEOUT",
    "LIVE_SWAP_WINDOW",
    "LivePaymentProcessor",
    "account_live_payment",
    "insufficient_balance",
    "record_swap",
    "too_slow",
]

LIVE_PAYMENT_INTERVAL = 5.0  # s, go's -livePaymentInterval default
LIVE_PAYMENT_TIMEOUT = 60.0  # s, the gateway's POST {o}/payment
LIVE_START_TIMEOUT = 5.0  # s, the gateway's POST {o}/live-video-to-video
LIVE_SWAP_WINDOW = 180.0  # s: swaps counted over the last 3 minutes ...
LIVE_MAX_SWAPS = 2  # ... and more than 2 of them (the 3rd) stop the stream
LIVE_SLOW_IN_FLIGHT = 3  # input segments begun but not completed that mark an orchestrator slow
LIVE_SLOW_PENALTY = 5  # refreshes a slow orchestrator stays suspended
LIVE_INPUT_RETRY = 0.25  # s between retries of an input segment nothing of which was written


class LivePaymentProcessor:
    """go's LivePaymentProcessor: `due(now)` is the units to bill at an input segment seen at `now`
    (0 before `interval` has passed since the billed time, go's shouldSkip)."""

    def __init__(self, interval: float = LIVE_PAYMENT_INTERVAL, *, now: float,
                 rate: int = LIVE_VIDEO_UNITS_PER_SECOND) -> None:
        if interval <= 0 or rate <= 0:
            raise ValueError("live payment interval and rate must be positive")
        self.interval = Fraction(interval)
        self.rate = rate
        self.last = Fraction(now)  # exact arithmetic: no float rounding in the units

    def due(self, now: float) -> int:
        elapsed = Fraction(now) - self.last
        if elapsed < self.interval:
            return 0
        units = math.floor(self.rate * elapsed)
        self.last += Fraction(units, self.rate)  # go: lastProcessedAt advances by the billed duration only
        return units


def _whole(x: Fraction) -> str:
    """big.Rat.FloatString(0): rounded to the nearest integer, halves away from zero."""
    n = math.floor(abs(x) + Fraction(1, 2))
    return str(-n if x < 0 else n)


def insufficient_balance(mid: str, fee: Fraction, balance: Fraction | None) -> str:
    """go's AccountPayment error text (FloatString(0) amounts; "nil" for a missing balance)."""
    shown = "nil" if balance is None else _whole(balance)
    return f"insufficient balance, mid={mid}, fee={_whole(fee)}, balance={shown}"


def account_live_payment(balances: Balances, sender: str, mid: str, units: int, price: Fraction | None) -> str | None:
    """Debit units × price from the (sender, mid) balance; go's error (stop the stream) or None.
    A price of 0 (or none) is no accounting."""
    if not price or units <= 0:
        return None
    fee = units * Fraction(price)
    balance = balances.balance(sender, mid)
    if balance is None or balance < fee:
        return insufficient_balance(mid, fee, balance)
    balances.debit(sender, mid, fee)
    return None


def record_swap(swap_times: list[float], now: float) -> tuple[list[float], bool]:
    """Record a swap at `now`; the swaps within the window, and whether the stream must stop
    (go's recentSwapsCount > 2: the 3rd swap within 3 minutes)."""
    recent = [t for t in swap_times if now - t < LIVE_SWAP_WINDOW] + [now]
    return recent, len(recent) > LIVE_MAX_SWAPS


def too_slow(begun: int, completed: int) -> bool:
    """go's slow-orchestrator check: this many input segments in flight suspend the orchestrator
    for LIVE_SLOW_PENALTY refreshes and end its part of the stream."""
    return begun - completed >= LIVE_SLOW_IN_FLIGHT
