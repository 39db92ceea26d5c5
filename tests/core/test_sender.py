"""node.core.sender: the gateway's PM sessions, its checks on offered params (in go's order, with
go's messages) and signed ticket batches (spec node.md §2.4)."""
from fractions import Fraction

import pytest
from eth_account import Account

from node.core.errors import PaymentError, SenderValidationError, TicketParamsExpired
from node.core.params import TicketExpirationParams, TicketParams
from node.core.sender import MAX_TICKET_EV, Sender
from node.core.ticket import MAX_WIN_PROB, ZERO_HASH, recover_signer

from .stubs import StubChain

G_KEY = bytes([2]) * 32
G = Account.from_key(G_KEY).address
O = Account.from_key(bytes([1]) * 32).address
FV = 12 * 10**14
EV = 8_000_000_000
WIN_PROB = EV * -(-MAX_WIN_PROB // FV)


def offer(**kw):
    fields = dict(recipient=O, face_value=FV, win_prob=WIN_PROB, recipient_rand_hash=b"\x07" * 32, seed=99,
                  expiration_block=1040, price_per_pixel=Fraction(1212),
                  expiration_params=TicketExpirationParams(10, b"\x0a" * 32))
    fields.update(kw)
    return TicketParams(**fields)


@pytest.fixture
def chain():
    chain = StubChain(block=1000, round=10)
    chain.fund(G, deposit=10**16, reserve=10**16)
    return chain


@pytest.fixture
def sender(chain):
    return Sender(G, G_KEY, chain)


def test_nonces_start_at_one_and_continue_across_batches(sender):
    sid = sender.start_session(offer())
    assert sid == "0x" + "07" * 32
    first = sender.create_ticket_batch(sid, 3)
    second = sender.create_ticket_batch(sid, 2)
    assert [sp.sender_nonce for sp in first.sender_params + second.sender_params] == [1, 2, 3, 4, 5]
    assert sender.nonce(sid) == 5


def test_a_new_offer_starts_a_new_session_from_nonce_one(sender):
    sender.create_ticket_batch(sender.start_session(offer()), 4)
    sid = sender.start_session(offer(recipient_rand_hash=b"\x08" * 32))
    assert sender.create_ticket_batch(sid, 1).sender_params[0].sender_nonce == 1


def test_batch_tickets_are_signed_by_the_sender_over_the_orchestrators_params(sender):
    batch = sender.create_ticket_batch(sender.start_session(offer()), 2)
    for ticket, sp in zip(batch.tickets(), batch.sender_params):
        assert recover_signer(ticket, sp.sig) == G
        assert (ticket.recipient, ticket.face_value, ticket.win_prob, ticket.creation_round) == (O, FV, WIN_PROB, 10)


@pytest.mark.parametrize("expiration", [None, TicketExpirationParams(0, b"\x0a" * 32), TicketExpirationParams(10, ZERO_HASH)])
def test_missing_expiration_params_are_replaced_by_the_gateways_own(sender, chain, expiration):
    batch = sender.create_ticket_batch(sender.start_session(offer(expiration_params=expiration)), 1)
    assert batch.expiration_params == TicketExpirationParams(10, chain.block_hash_for_round(10))


def test_unknown_session(sender):
    with pytest.raises(PaymentError, match="cannot find session"):
        sender.create_ticket_batch("0x" + "00" * 32, 1)


@pytest.mark.parametrize("params, n, error, message", [
    (None, 1, PaymentError, "ticketParams is nil"),
    (offer(expiration_block=0), 1, PaymentError, "ticketParams expiration block is 0"),
    (offer(expiration_block=1001), 1, TicketParamsExpired, "TicketParams expired"),  # buffer of 1 block
    (offer(face_value=EV, win_prob=MAX_WIN_PROB), 1, PaymentError, f"ticket faceValue too low faceValue={EV}"),
    (offer(face_value=10**13, win_prob=MAX_WIN_PROB // 2), 1, PaymentError,
     "ticket EV 5000000000000.00000 > max ticket EV 3000000000000.00000"),
    (offer(face_value=10**16 + 1, win_prob=MAX_WIN_PROB // 10**7), 1, PaymentError,
     f"ticket faceValue {10**16 + 1} > max faceValue {10**16}"),
])
def test_validation_order_and_messages(sender, params, n, error, message):
    with pytest.raises(error) as exc:
        sender.validate_ticket_params(params, n)
    assert str(exc.value) == message


def test_at_most_2499_tickets_per_payment_in_the_worked_example(sender):
    # §15 says 2,500 = 2e13 / 8e9, but the offer's EV is 8e9 × ⌈MAX/fv⌉ × fv / MAX, a hair above
    # 8e9 (the win probability is rounded up), and go compares exact rationals: 2,500 is refused.
    assert offer().ev > EV
    sender.validate_ticket_params(offer(), 2499)
    with pytest.raises(PaymentError, match="for 2500 tickets > max total ticket EV"):
        sender.validate_ticket_params(offer(), 2500)


def test_ev_messages_round_to_5_decimals(sender):
    # EV 8e9 × ceil(MAX/1.2e15) / MAX is not an integer: FloatString(5) shows it rounded.
    params = offer()
    n = 2501
    with pytest.raises(PaymentError) as exc:
        sender.validate_ticket_params(params, n)
    assert str(exc.value) == (f"total ticket EV {float(params.ev * n):.5f} for {n} tickets > max total ticket EV "
                              "20000000000000.00000")


def test_free_offers_skip_the_fund_checks(sender, chain):
    chain.fund(G, 0, 0)
    sender.validate_ticket_params(offer(face_value=0, win_prob=0))


@pytest.mark.parametrize("funds, message", [
    (dict(deposit=10**16, reserve=10**16, withdraw_round=11), "unable to validate sender: deposit and reserve is set to unlock soon"),
    (dict(deposit=10**16, reserve=0), "no sender reserve"),
    (dict(deposit=0, reserve=10**16), "no sender deposit"),
])
def test_own_funds_must_back_the_tickets(sender, chain, funds, message):
    chain.fund(G, **funds)
    with pytest.raises(SenderValidationError, match=f"^{message}$"):
        sender.validate_ticket_params(offer())


def test_unlock_two_rounds_ahead_is_still_acceptable(sender, chain):
    chain.fund(G, 10**16, 10**16, withdraw_round=12)
    sender.validate_ticket_params(offer())


def test_deposit_multiplier_lowers_the_acceptable_face_value(chain):
    strict = Sender(G, G_KEY, chain, deposit_multiplier=10)  # max face value 1e15 < 1.2e15
    with pytest.raises(PaymentError, match=f"ticket faceValue {FV} > max faceValue {10**15}"):
        strict.validate_ticket_params(offer())


def test_defaults_match_go_livepeer():
    assert MAX_TICKET_EV == 3 * 10**12
