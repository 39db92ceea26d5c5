"""Credit balances per (address, session) (core/accounting.go; spec node.md §2.4, §2.5).

Both sides keep one: the orchestrator credits each sender's session with the EV of the tickets it
receives and debits the work it does at the session's pinned price; the gateway mirrors it per
(orchestrator, session) to decide how many tickets the next request needs. Amounts are exact
fractions of wei. Idle entries are dropped after `ttl` seconds of the injected clock.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Callable

BALANCES_TTL = 600.0  # seconds (starter.go cleanupInterval)
_ZERO = Fraction(0)


@dataclass(slots=True)
class _Entry:
    amount: Fraction
    last_update: float
    fixed_price: Fraction | None = None


class Balances:
    def __init__(self, clock: Callable[[], float], ttl: float = BALANCES_TTL) -> None:
        self._clock = clock
        self.ttl = ttl
        self._entries: dict[tuple[str, str], _Entry] = {}

    def _entry(self, address: str, session: str) -> _Entry:
        entry = self._entries.get((address, session))
        now = self._clock()
        if entry is None:
            entry = self._entries[(address, session)] = _Entry(_ZERO, now)
        else:
            entry.last_update = now
        return entry

    def credit(self, address: str, session: str, amount: Fraction | int) -> None:
        entry = self._entry(address, session)
        entry.amount += amount

    def debit(self, address: str, session: str, amount: Fraction | int) -> None:
        """May leave the balance negative (go does not refuse a debit)."""
        entry = self._entry(address, session)
        entry.amount -= amount

    def reserve(self, address: str, session: str) -> Fraction:
        """Take the whole balance out (it is zero until credited back)."""
        entry = self._entry(address, session)
        amount, entry.amount = entry.amount, _ZERO
        return amount

    def balance(self, address: str, session: str) -> Fraction | None:
        entry = self._entries.get((address, session))
        return None if entry is None else entry.amount

    def fixed_price(self, address: str, session: str) -> Fraction | None:
        entry = self._entries.get((address, session))
        return None if entry is None else entry.fixed_price

    def pin_price(self, address: str, session: str, price: Fraction) -> Fraction:
        """The first price set for a session stays for its lifetime; returns the pinned price."""
        entry = self._entry(address, session)
        if entry.fixed_price is None:
            entry.fixed_price = price
        return entry.fixed_price

    def cleanup(self) -> int:
        """Drop entries idle for longer than the TTL; returns how many."""
        now = self._clock()
        stale = [k for k, e in self._entries.items() if now - e.last_update > self.ttl]
        for key in stale:
            del self._entries[key]
        return len(stale)

    def __len__(self) -> int:
        return len(self._entries)


class UpdateStatus(Enum):
    STAGED = "staged"  # request never sent: the reserved credit goes back
    CREDIT_SPENT = "credit_spent"  # sent, no usable answer: the credit is assumed consumed
    RECEIVED_CHANGE = "received_change"  # answered: balance += existing + new − debit


@dataclass(slots=True)
class BalanceUpdate:
    """The gateway's staged change to one (orchestrator, session) balance for one request."""

    address: str
    session: str
    num_tickets: int
    new_credit: Fraction
    existing_credit: Fraction
    debit: Fraction = _ZERO
    status: UpdateStatus = UpdateStatus.STAGED


def stage_update(balances: Balances, address: str, session: str, min_credit: Fraction, ev: Fraction) -> BalanceUpdate:
    """Reserve the session's credit and work out how many tickets of `ev` top it up to
    max(min_credit, ev) (core/accounting.go StageUpdate, server/segment_rpc.go newBalanceUpdate:
    the orchestrator wants at least one ticket's EV in hand)."""
    min_credit = max(min_credit, ev)
    existing = balances.reserve(address, session)
    if existing >= min_credit or ev <= 0:
        return BalanceUpdate(address, session, 0, _ZERO, existing)
    n = -(-(min_credit - existing) // ev)  # ceiling of an exact fraction
    return BalanceUpdate(address, session, int(n), n * ev, existing)


def complete_update(balances: Balances, update: BalanceUpdate) -> None:
    """Settle a staged update according to what happened to the request (completeBalanceUpdate)."""
    if update.status is UpdateStatus.STAGED:
        balances.credit(update.address, update.session, update.existing_credit)
    elif update.status is UpdateStatus.RECEIVED_CHANGE:
        balances.credit(update.address, update.session, update.existing_credit + update.new_credit - update.debit)
