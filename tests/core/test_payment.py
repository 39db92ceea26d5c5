"""node.core.payment and node.core.balances: the gateway tops up its credit with just enough
tickets, the orchestrator credits EV, pins the price and debits the work; both ledgers agree
(spec node.md §2.4, §2.5, worked example §15)."""
import random
from dataclasses import dataclass
from fractions import Fraction

import pytest
from eth_account import Account

from node.core.balances import Balances, UpdateStatus, complete_update, stage_update
from node.core.errors import PaymentError
from node.core.params import TicketParams
from node.core.payment import Payment, PaymentReceiver, new_payment
from node.core.recipient import REDEEM_GAS_ARBITRUM, Recipient
from node.core.redemption import Redeemer
from node.core.sender import Sender
from node.core.sender_monitor import SenderMonitor

from .stubs import StubBroker, StubChain

O_KEY, G_KEY = bytes([1]) * 32, bytes([2]) * 32
O, G = Account.from_key(O_KEY).address, Account.from_key(G_KEY).address
EV = 8_000_000_000
PRICE = Fraction(1212)
PIXELS = (426 * 240 + 640 * 360) * 30 * 2  # §15: P240p30fps16x9 + P360p30fps16x9, 2 s
ESTIMATE = PIXELS * Fraction(102, 100) * PRICE


@dataclass
class Price:
    price_per_unit: int
    pixels_per_unit: int


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def net():
    chain = StubChain(price=10_000_000)
    chain.fund(G, deposit=10**18, reserve=10**18)
    chain.active.add(O)
    clock = Clock()
    monitor = SenderMonitor(O, chain)
    recipient = Recipient(O, bytes(32), chain, monitor, random.Random(1).randbytes, ev=EV, redeem_gas=REDEEM_GAS_ARBITRUM)
    receiver = PaymentReceiver(recipient, Balances(clock), Redeemer(chain, monitor, StubBroker(), REDEEM_GAS_ARBITRUM))
    sender = Sender(G, G_KEY, chain)
    params = recipient.ticket_params(G, PRICE)
    return chain, clock, receiver, sender, Balances(clock), params, sender.start_session(params)


def test_worked_example_four_tickets_then_the_surplus_carries_over(net):
    chain, clock, receiver, sender, gw_balances, params, pm = net
    assert ESTIMATE == pytest.approx(2.467e10, rel=1e-3)
    payment, update = new_payment(sender, gw_balances, O, "sess", pm, ESTIMATE, Price(1212, 1))
    assert update.num_tickets == 4 and update.new_credit == 4 * params.ev  # ceil(2.467e10 / 8e9)
    got = receiver.process_payment(payment, "sess")
    assert got.error is None and got.tickets == 4 and got.ev == 4 * params.ev
    assert receiver.sufficient_balance(G, "sess")
    # The orchestrator debits what it actually encoded (no 1.02 estimate factor) at the pinned price.
    fee = receiver.debit_fees(G, "sess", receiver.balances.fixed_price(G, "sess"), PIXELS)
    assert fee == PIXELS * 1212 == 24_189_580_800
    update.status, update.debit = UpdateStatus.RECEIVED_CHANGE, fee
    complete_update(gw_balances, update)
    # Both ledgers hold the same surplus: 4 EV − fee ≈ 7.81e9 (the spec's "~7.3e9" subtracts the
    # 1.02-inflated estimate instead of the debit).
    assert gw_balances.balance(O, "sess") == receiver.balances.balance(G, "sess") == 4 * params.ev - fee
    assert float(gw_balances.balance(O, "sess")) == pytest.approx(7.81e9, rel=1e-3)
    # Next segment: the credit covers part of it, so fewer tickets are needed.
    payment, update = new_payment(sender, gw_balances, O, "sess", pm, ESTIMATE, Price(1212, 1))
    assert update.num_tickets == 3 and update.existing_credit == 4 * params.ev - fee


def test_no_tickets_when_the_credit_covers_the_fee(net):
    *_, gw_balances, params, pm = net
    gw_balances.credit(O, "s", 10**12)
    update = stage_update(gw_balances, O, "s", Fraction(10**11), params.ev)
    assert (update.num_tickets, update.existing_credit) == (0, 10**12)
    assert gw_balances.balance(O, "s") == 0  # reserved while the request is in flight
    complete_update(gw_balances, update)  # never sent: the credit comes back
    assert gw_balances.balance(O, "s") == 10**12


def test_at_least_one_ticket_even_for_a_tiny_fee(net):
    *_, gw_balances, params, pm = net
    assert stage_update(gw_balances, O, "s", Fraction(1), params.ev).num_tickets == 1


def test_spent_credit_is_not_returned(net):
    *_, gw_balances, params, pm = net
    gw_balances.credit(O, "s", 100)
    update = stage_update(gw_balances, O, "s", Fraction(10**11), params.ev)
    update.status = UpdateStatus.CREDIT_SPENT
    complete_update(gw_balances, update)
    assert gw_balances.balance(O, "s") == 0


def test_a_failed_batch_gives_the_reserved_credit_back(net):
    chain, clock, receiver, sender, gw_balances, params, pm = net
    gw_balances.credit(O, "s", 5)
    chain.block = params.expiration_block  # offer expired: signing refuses
    with pytest.raises(PaymentError, match="TicketParams expired"):
        new_payment(sender, gw_balances, O, "s", pm, ESTIMATE, Price(1212, 1))
    assert gw_balances.balance(O, "s") == 5


def test_the_first_price_is_pinned_for_the_session(net):
    chain, clock, receiver, sender, gw_balances, params, pm = net
    payment, _ = new_payment(sender, gw_balances, O, "s", pm, ESTIMATE, Price(1212, 1))
    receiver.process_payment(payment, "s")
    assert receiver.balances.fixed_price(G, "s") == 1212
    assert receiver.balances.pin_price(G, "s", Fraction(5)) == 1212


def test_a_non_fatal_error_stops_crediting_but_winners_are_still_queued(net):
    chain, clock, receiver, sender, gw_balances, params, pm = net
    receiver.recipient.ev = params.face_value - 1  # win probability 1 − 1/faceValue: all win
    params = receiver.recipient.ticket_params(G, PRICE)
    pm = sender.start_session(params)
    sender.max_ev = sender.max_total_ev = 3 * params.ev
    batch = sender.create_ticket_batch(pm, 3)
    bad = batch.sender_params[1].__class__(batch.sender_params[1].sender_nonce, b"\x00" * 65)
    payment = Payment(G, params, batch.expiration_params, (batch.sender_params[0], bad, batch.sender_params[2]), Price(1212, 1))
    got = receiver.process_payment(payment, "s")
    assert str(got.error) == "invalid ticket signature"
    assert got.tickets == 1 and got.ev == params.ev  # only the ticket before the error
    assert got.winning == 2  # the first and the third (a bad signature cannot win)
    assert len(receiver.redeemer.queued()) == 2


def test_a_fatal_error_stops_the_payment_at_once(net):
    chain, clock, receiver, sender, gw_balances, params, pm = net
    batch = sender.create_ticket_batch(pm, 2)
    wrong_price = Payment(G, params, batch.expiration_params, batch.sender_params, Price(1213, 1))
    got = receiver.process_payment(wrong_price, "s")
    assert got.error.fatal and got.tickets == 0 and receiver.balances.balance(G, "s") == 0


def test_payments_without_tickets_buy_nothing(net):
    """go pins a price of 0 here (free work for a sender with no deposit); we pin nothing and
    credit nothing, so the session is not made free and the balance check still applies."""
    receiver = net[2]
    got = receiver.process_payment(Payment(G), "free")
    assert got.error is None and got.tickets == 0
    assert receiver.balances.fixed_price(G, "free") is None
    assert not receiver.sufficient_balance(G, "free")


@pytest.mark.parametrize("payment, message", [
    (Payment(None, ticket_params=TicketParams(O, 1, 1, b"\x00" * 32, 0, 1)), "Could not find Sender for payment"),
    (Payment(G, ticket_params=TicketParams(O, 1, 1, b"\x00" * 32, 0, 1)),
     'invalid expected price sent with payment err="expected price is nil"'),
    (Payment(G, ticket_params=TicketParams(O, 1, 1, b"\x00" * 32, 0, 1), expected_price=Price(1, 0)),
     'invalid expected price sent with payment err="pixels per unit is 0"'),
])
def test_malformed_payments(net, payment, message):
    got = net[2].process_payment(payment, "s")
    assert str(got.error).startswith(message)
    with pytest.raises(PaymentError):
        got.raise_for_error()


def test_an_inactive_orchestrator_takes_no_payments(net):
    chain, clock, receiver, sender, gw_balances, params, pm = net
    chain.active.clear()
    payment, _ = new_payment(sender, gw_balances, O, "s", pm, ESTIMATE, Price(1212, 1))
    got = receiver.process_payment(payment, "s")
    assert str(got.error) == f"orchestrator {O} is inactive in round 10, cannot process payments"


def test_sufficient_balance_needs_one_ticket_ev(net):
    receiver = net[2]
    assert not receiver.sufficient_balance(G, "s")
    receiver.balances.credit(G, "s", EV - 1)
    assert not receiver.sufficient_balance(G, "s")
    receiver.balances.credit(G, "s", 1)
    assert receiver.sufficient_balance(G, "s")


def test_idle_balances_expire_after_the_ttl(net):
    clock, balances = net[1], net[4]
    balances.credit(O, "a", 1)
    clock.now = 300
    balances.credit(O, "b", 1)
    clock.now = 601
    assert balances.cleanup() == 1 and balances.balance(O, "a") is None and balances.balance(O, "b") == 1


def test_forget_stale_drops_expired_offers_idle_balances_and_sessions_on_expired_params(net):
    """What the cleanup loops forget (the live node's round duties and the simulator both call
    these): the recipient's nonces of offers expired by the block, idle balances, and the
    sender's PM sessions on expired params."""
    chain, clock, receiver, sender, gw_balances, params, pm = net
    batch = sender.create_ticket_batch(pm, 2)
    payment = Payment(G, params, batch.expiration_params, batch.sender_params, Price(1212, 1))
    assert receiver.process_payment(payment, "s").error is None
    assert len(receiver.recipient._nonces) == 1 and receiver.balances.balance(G, "s") > 0
    receiver.forget_stale(params.expiration_block - 1, clock.now)
    assert len(receiver.recipient._nonces) == 1  # the offer is still good
    clock.now = 601
    receiver.forget_stale(params.expiration_block, clock.now)
    assert not receiver.recipient._nonces and receiver.balances.balance(G, "s") is None
    assert sender.cleanup_expired(params.expiration_block - 1) == 0 and sender.ev(pm) == params.ev
    assert sender.cleanup_expired(params.expiration_block) == 1
    with pytest.raises(PaymentError, match="cannot find session"):
        sender.ev(pm)
