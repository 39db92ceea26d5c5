"""What lets the orchestrator take a payment on its event loop instead of a thread: the draw of a
ticket (Recipient.wins, PaymentReceiver.queues_a_winner) known without validating or recording
anything, and the chain view's `answered` (node.eth.payments.CachedChainView)."""
import random
from fractions import Fraction

from node.core.balances import Balances
from node.core.params import make_ticket
from node.core.payment import Payment, PaymentReceiver
from node.core.recipient import REDEEM_GAS_ARBITRUM, Recipient
from node.core.redemption import Redeemer
from node.core.sender import Sender
from node.core.sender_monitor import SenderMonitor
from node.eth.payments import CachedChainView

from .stubs import StubBroker, StubChain
from .test_payment import EV, G_KEY, PRICE, Clock, G, O, Price


def parties(ev: int = EV):
    chain = StubChain(price=10_000_000)
    chain.fund(G, deposit=10**18, reserve=10**18)
    chain.active.add(O)
    monitor = SenderMonitor(O, chain)
    recipient = Recipient(O, bytes(32), chain, monitor, random.Random(1).randbytes, ev=ev, redeem_gas=REDEEM_GAS_ARBITRUM)
    receiver = PaymentReceiver(recipient, Balances(Clock()), Redeemer(chain, monitor, StubBroker(), REDEEM_GAS_ARBITRUM))
    sender = Sender(G, G_KEY, chain)
    sender.max_ev = sender.max_total_ev = Fraction(10**30)
    return chain, receiver, sender


def payment(receiver, sender, n: int) -> Payment:
    params = receiver.recipient.ticket_params(G, PRICE)
    batch = sender.create_ticket_batch(sender.start_session(params), n)
    return Payment(G, params, batch.expiration_params, batch.sender_params, Price(1212, 1))


def test_the_draw_is_known_beforehand_and_nothing_is_recorded_by_asking():
    _, receiver, sender = parties()
    rare = payment(receiver, sender, 5)  # EV 8 gwei on a face value of ~1e15 wei: a draw of ~1e-6
    assert not receiver.queues_a_winner(rare)
    assert not receiver.queues_a_winner(rare)  # asking twice records no nonce
    got = receiver.process_payment(rare, "s")
    assert got.error is None and got.tickets == 5 and got.winning == 0

    receiver.recipient.ev = rare.ticket_params.face_value - 1  # every draw wins
    sure = payment(receiver, sender, 3)
    assert receiver.queues_a_winner(sure)
    params = sure.ticket_params
    assert all(receiver.recipient.wins(make_ticket(params, sure.expiration_params, G, sp.sender_nonce), sp.sig,
                                       params.seed, params.expiration_block, PRICE) for sp in sure.ticket_sender_params)
    got = receiver.process_payment(sure, "s")
    assert got.error is None and got.tickets == 3 and got.winning == 3 == len(receiver.redeemer.queued())


def test_payments_that_queue_nothing():
    _, receiver, sender = parties()
    assert not receiver.queues_a_winner(Payment(G))  # no tickets
    free = payment(receiver, sender, 1)
    assert not receiver.queues_a_winner(Payment(G, free.ticket_params, free.expiration_params,
                                                free.ticket_sender_params, None))  # refused: no price


def test_the_view_answers_only_what_it_holds_young_enough():
    chain, clock = StubChain(), Clock()
    view = CachedChainView(chain, ttl=1.0, clock=clock, max_age=5.0)
    assert not view.answered("round") and view.answered()  # nothing asked: nothing missing
    view.last_initialized_round()
    view.sender_info(G)
    assert view.answered("round", ("sender", G)) and not view.answered("round", "block")
    clock.now += 5.0
    assert not view.answered("round")  # too old to serve without waiting
    view.invalidate()
    assert not view.answered(("sender", G))

