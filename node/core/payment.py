"""One payment: what the gateway attaches to a request and what the orchestrator does with it
(server/segment_rpc.go genPayment / newBalanceUpdate, core/orchestrator.go ProcessPayment,
SufficientBalance, DebitFees; spec node.md §2.4, §2.5).

The gateway tops up its credit at the orchestrator with just enough tickets to cover the request's
estimated fee; the orchestrator credits the EV of every valid ticket to (sender, session), pins
the session's price at its first payment, checks the balance covers one ticket before working and
debits the work done afterwards. Offchain (no tickets, no price) every check passes; on-chain a
payment without tickets buys nothing (go would make the session free: see process_payment).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from .balances import BalanceUpdate, Balances, complete_update, stage_update
from .errors import PaymentError
from .params import TicketExpirationParams, TicketParams, TicketSenderParams, make_ticket
from .recipient import Recipient
from .redemption import Redeemer, SignedTicket
from .sender import Sender


class PriceLike(Protocol):
    price_per_unit: int
    pixels_per_unit: int


@dataclass(frozen=True, slots=True)
class Payment:
    """net.Payment: the sender, the offer the tickets are on, their creation round, one
    (nonce, signature) per ticket and the price the sender expects to pay."""

    sender: str | None
    ticket_params: TicketParams | None = None
    expiration_params: TicketExpirationParams | None = None
    ticket_sender_params: tuple[TicketSenderParams, ...] = ()
    expected_price: PriceLike | None = None


@dataclass(frozen=True, slots=True)
class PaymentReceived:
    """What ProcessPayment did: tickets and EV credited, winners queued, and the error to answer
    with (None when the whole payment was good)."""

    tickets: int = 0
    ev: Fraction = Fraction(0)
    winning: int = 0
    error: PaymentError | None = None

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise self.error


def price_fraction(price: PriceLike | None) -> Fraction:
    """A wire price as wei per pixel, with go's errors (common.RatPriceInfo)."""
    if price is None:
        raise PaymentError('invalid expected price sent with payment err="expected price is nil"')
    if price.pixels_per_unit == 0:
        raise PaymentError('invalid expected price sent with payment err="pixels per unit is 0"')
    return Fraction(price.price_per_unit, price.pixels_per_unit)


class PaymentReceiver:
    """The orchestrator's side: ProcessPayment, SufficientBalance and DebitFees over one
    recipient, its balances and its redemption queue."""

    def __init__(self, recipient: Recipient, balances: Balances, redeemer: Redeemer) -> None:
        self.recipient = recipient
        self.balances = balances
        self.redeemer = redeemer

    def process_payment(self, payment: Payment, session: str) -> PaymentReceived:
        sender = payment.sender
        params = payment.ticket_params
        if not sender and params is not None:
            return PaymentReceived(error=PaymentError(f"Could not find Sender for payment: {payment}"))
        if params is None:
            # No tickets: nothing to credit, and nothing pinned. go pins a price of 0 here, which
            # makes the session free from then on (SufficientBalance is skipped at price 0): a
            # sender with no deposit gets paid work by sending no tickets. Here the session keeps
            # no price, so the runtime charges it the orchestrator's current one.
            return PaymentReceived()
        if not self.recipient.chain.is_active(params.recipient):
            round_ = self.recipient.chain.last_initialized_round()
            return PaymentReceived(error=PaymentError(
                f"orchestrator {params.recipient} is inactive in round {round_}, cannot process payments"))
        try:
            price = price_fraction(payment.expected_price)
        except PaymentError as exc:
            return PaymentReceived(error=exc)
        self.balances.pin_price(sender, session, price)
        expiration = payment.expiration_params or TicketExpirationParams(0, b"\x00" * 32)
        tickets, winning, error = 0, 0, None
        for sp in payment.ticket_sender_params:
            ticket = make_ticket(params, expiration, sender, sp.sender_nonce)
            got = self.recipient.receive_ticket(ticket, sp.sig, params.seed, params.expiration_block, price)
            if got.error is not None:
                if got.error.fatal:
                    error = got.error
                    break
                error = error or got.error  # sticky: no more credit from here on
            if error is None:
                tickets += 1
            if got.won:  # queued even after a non-fatal error, as in go
                winning += 1
                self.redeemer.queue(SignedTicket(ticket, sp.sig, got.recipient_rand, params.expiration_block))
        # Every ticket of a payment has the same EV: credit the good ones at once (go credits
        # them one by one; the sum is the same).
        ev = tickets * params.ev
        if tickets:
            self.balances.credit(sender, session, ev)
        return PaymentReceived(tickets, ev, winning, error)

    def queues_a_winner(self, payment: Payment) -> bool:
        """Whether processing `payment` may queue a winning ticket (a durable write: the live
        node's store syncs it to disk), from the tickets' draws alone, nothing validated or
        recorded (so a winning draw on a ticket that would be refused also says yes)."""
        params, sender = payment.ticket_params, payment.sender
        if params is None or not sender or not params.win_prob:
            return False
        try:
            price = price_fraction(payment.expected_price)
        except PaymentError:
            return False  # refused before any ticket is looked at
        expiration = payment.expiration_params or TicketExpirationParams(0, b"\x00" * 32)
        return any(self.recipient.wins(make_ticket(params, expiration, sender, sp.sender_nonce), sp.sig, params.seed,
                                       params.expiration_block, price) for sp in payment.ticket_sender_params)

    def forget_stale(self, block: int, now: float) -> None:
        """go's cleanup loops: the nonces of offers expired by `block`, balances idle past their TTL
        and senders idle past theirs with nothing pending (each would otherwise be kept for ever)."""
        self.recipient.on_block(block)
        self.balances.cleanup()
        self.recipient.monitor.cleanup(now)

    def sufficient_balance(self, sender: str, session: str) -> bool:
        """At least one ticket's EV in hand before doing paid work."""
        balance = self.balances.balance(sender, session)
        return balance is not None and balance >= self.recipient.ev

    def debit_fees(self, sender: str, session: str, price: Fraction, units: int) -> Fraction:
        fee = price * units
        self.balances.debit(sender, session, fee)
        return fee


def new_payment(sender: Sender, balances: Balances, orchestrator: str, session: str, pm_session: str,
                fee: Fraction, expected_price: PriceLike | None) -> tuple[Payment, BalanceUpdate]:
    """The gateway's side: stage the (orchestrator, session) balance against `fee` and sign just
    enough tickets on the PM session to cover it. Complete the returned update with
    `complete_update` once the request's fate is known."""
    update = stage_update(balances, orchestrator, session, fee, sender.ev(pm_session))
    if update.num_tickets == 0:
        return Payment(sender.address, expected_price=expected_price), update
    try:
        batch = sender.create_ticket_batch(pm_session, update.num_tickets)
    except PaymentError:
        complete_update(balances, update)  # still staged: the reserved credit goes back
        raise
    payment = Payment(sender.address, batch.params, batch.expiration_params, batch.sender_params, expected_price)
    return payment, update
