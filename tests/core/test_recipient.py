"""node.core.recipient: the orchestrator's ticket offer and the checks on every ticket received
(spec node.md §2.3, §2.5, worked example §15)."""
import hashlib
import hmac
import random
from fractions import Fraction

import pytest
from eth_account import Account
from eth_utils import keccak

from node.core.errors import FatalReceiveError, InsufficientSenderReserve, PaymentError, TicketParamsExpired
from node.core.params import TicketExpirationParams, make_ticket
from node.core.recipient import MAX_SENDER_NONCES, REDEEM_GAS_ARBITRUM, Recipient
from node.core.sender_monitor import SenderMonitor
from node.core.ticket import MAX_WIN_PROB, ZERO_HASH, recipient_rand_hash, sign_ticket

from .stubs import StubChain

O_KEY, G_KEY, OTHER_KEY = (bytes([i]) * 32 for i in (1, 2, 3))
O, G, OTHER = (Account.from_key(k).address for k in (O_KEY, G_KEY, OTHER_KEY))
SECRET = bytes(range(32))
EV = 8_000_000_000
PRICE = Fraction(1212)


def make_recipient(chain=None, **kw):
    chain = chain or arbitrum_chain()
    kw.setdefault("ev", EV)
    kw.setdefault("redeem_gas", REDEEM_GAS_ARBITRUM)
    return Recipient(O, SECRET, chain, SenderMonitor(O, chain), random.Random(7).randbytes, **kw)


def arbitrum_chain(**kw):
    """§15: Arbitrum redeem gas 1.2e6 at 0.01 gwei; a gateway with ample deposit and reserve."""
    chain = StubChain(price=10_000_000, **kw)
    chain.fund(G, deposit=10**18, reserve=10**18)
    chain.active.add(O)
    return chain


def signed(params, nonce=1, key=G_KEY, sender=G, expiration=None):
    ticket = make_ticket(params, expiration or params.expiration_params, sender, nonce)
    return ticket, sign_ticket(ticket, key)


def receive(rec, params, ticket, sig):
    return rec.receive_ticket(ticket, sig, params.seed, params.expiration_block, params.price_per_pixel)


# ------------------------------------------------------------------------------ the offer


def test_worked_example_face_value_win_prob_and_multiplier():
    rec = make_recipient()
    assert rec.tx_cost() == 12 * 10**12  # 1.2e6 gas × 1e7 wei
    assert rec.face_value(G) == 12 * 10**14  # 100 × tx cost = 0.0012 ETH
    params = rec.ticket_params(G, PRICE)
    assert params.face_value == 12 * 10**14
    assert params.win_prob == EV * -(-MAX_WIN_PROB // (12 * 10**14))
    assert float(params.win_prob / MAX_WIN_PROB) == pytest.approx(6.67e-6, rel=1e-3)
    assert EV <= params.ev < EV + 1  # EV of the offer is the configured EV, rounded up by < 1 wei
    assert rec.tx_cost_multiplier(G) == 100


def test_face_value_falls_back_to_100_ev_when_gas_is_free():
    rec = make_recipient(arbitrum_chain(), ev=EV)
    rec.chain.price = 0
    assert rec.face_value(G) == 100 * EV
    assert rec.tx_cost_multiplier(G) == 0  # no tx cost: no price adjustment


def test_face_value_is_capped_by_max_float_and_by_the_operator_maximum():
    chain = arbitrum_chain()
    chain.fund(G, deposit=10**18, reserve=5 * 10**15)  # / 10 orchestrators = 5e14 < 1.2e15
    rec = make_recipient(chain)
    assert rec.face_value(G) == 5 * 10**14
    rec.max_face_value = 3 * 10**14
    assert rec.face_value(G) == 3 * 10**14


def test_insufficient_sender_reserve_below_one_ev_or_below_both_tx_costs():
    chain = arbitrum_chain()
    chain.fund(G, deposit=10**18, reserve=10 * (EV - 1))
    with pytest.raises(InsufficientSenderReserve, match="^insufficient sender reserve$"):
        make_recipient(chain).face_value(G)
    # A face value below the tx cost at the current price passes if it covers the cost at 3 gwei.
    chain = arbitrum_chain()
    chain.price = 10**12  # tx cost 1.2e18 ⇒ target 1.2e20, capped to the max float 1e17
    assert make_recipient(chain).face_value(G) == 10**17  # ≥ 1.2e6 × 3 gwei = 3.6e15
    chain.fund(G, deposit=10**18, reserve=10 * 3 * 10**15)  # max float 3e15 < 3.6e15
    with pytest.raises(InsufficientSenderReserve):
        make_recipient(chain).face_value(G)


def test_win_prob_edge_cases():
    rec = make_recipient()
    assert rec.win_prob(0) == 0
    assert rec.win_prob(EV) == MAX_WIN_PROB
    divisor = 3  # MAX = 2**256 - 1 is divisible by 3: no rounding up
    assert rec.win_prob(divisor) == EV * (MAX_WIN_PROB // divisor)


def test_free_offers_have_zero_face_value_and_win_prob():
    params = make_recipient().ticket_params(G, Fraction(0))
    assert (params.face_value, params.win_prob, params.ev) == (0, 0, 0)


def test_a_negative_price_gets_a_free_offer_as_in_go():
    """go's TicketParams at a negative price: face value and win probability 0, the rand over
    the price's absolute value (big.Int.Bytes drops the sign); no OverflowError."""
    rec = make_recipient()
    params = rec.ticket_params(G, Fraction(-5, 3))
    assert (params.face_value, params.win_prob) == (0, 0)
    assert params.recipient_rand_hash == recipient_rand_hash(
        rec.rand(params.seed, G, 0, 0, params.expiration_block, Fraction(5, 3), params.expiration_params))


def test_offer_expires_40_blocks_after_the_last_seen_block_with_the_current_round():
    chain = arbitrum_chain(block=5000, round=77)
    params = make_recipient(chain).ticket_params(G, PRICE)
    assert params.expiration_block == 5040
    assert params.expiration_params == TicketExpirationParams(77, chain.block_hash_for_round(77))
    assert params.recipient == O and params.price_per_pixel == PRICE


def test_expiration_params_fall_back_to_the_previous_round_on_a_zero_hash():
    chain = arbitrum_chain(round=77)
    chain.hashes[77] = ZERO_HASH
    assert make_recipient(chain).expiration_params() == TicketExpirationParams(76, chain.block_hash_for_round(76))


def test_no_ticket_params_without_an_initialised_round_with_a_hash():
    # round 0 of a fresh chain counts as initialised but has no block hash, and TicketBroker
    # refuses a ticket of a round without one ("ticket creationRound does not have a block
    # hash"): refuse the offer rather than ask the chain about round -1
    chain = arbitrum_chain(round=0)
    chain.hashes[0] = ZERO_HASH
    with pytest.raises(PaymentError, match="round 0 has no block hash"):
        make_recipient(chain).ticket_params(G, PRICE)


def test_recipient_rand_is_hmac_over_the_offer_fields_in_go_layout():
    rec = make_recipient()
    expiration = TicketExpirationParams(5, b"\x11" * 32)
    msg = (
        (0x0102).to_bytes(2, "big")  # seed, minimal bytes
        + bytes.fromhex(G[2:])  # sender
        + (1000).to_bytes(2, "big")  # face value
        + b""  # win prob 0: empty, not 0x00
        + (40).to_bytes(1, "big")  # expiration block
        + (3).to_bytes(1, "big") + (2).to_bytes(1, "big")  # price 3/2, numerator then denominator
        + (5).to_bytes(32, "big") + b"\x11" * 32  # aux data
    )
    expected = int.from_bytes(hmac.new(SECRET, msg, hashlib.sha256).digest(), "big")
    assert rec.rand(0x0102, G, 1000, 0, 40, Fraction(6, 4), expiration) == expected
    params = rec.ticket_params(G, PRICE)
    assert params.recipient_rand_hash == recipient_rand_hash(
        rec.rand(params.seed, G, params.face_value, params.win_prob, params.expiration_block, PRICE,
                 params.expiration_params))


def test_seeds_come_from_the_injected_source():
    a, b = make_recipient(), make_recipient()
    first = a.ticket_params(G, PRICE)
    assert first == b.ticket_params(G, PRICE)  # same source, same offer
    assert a.ticket_params(G, PRICE).seed != first.seed  # a fresh seed per offer
    assert first.seed == int.from_bytes(random.Random(7).randbytes(32), "big")


# ------------------------------------------------------------------------------ receiving


@pytest.fixture
def rec():
    return make_recipient()


@pytest.fixture
def params(rec):
    return rec.ticket_params(G, PRICE)


def test_a_good_ticket_is_accepted_and_its_win_matches_the_rule(rec, params):
    ticket, sig = signed(params)
    got = receive(rec, params, ticket, sig)
    assert got.error is None
    assert recipient_rand_hash(got.recipient_rand) == params.recipient_rand_hash
    draw = int.from_bytes(keccak(sig + got.recipient_rand.to_bytes(32, "big")), "big")
    assert got.won == (draw < params.win_prob)


def test_winning_at_probability_one(rec):
    rec.ev = 12 * 10**14  # EV = face value ⇒ win prob MAX
    params = rec.ticket_params(G, PRICE)
    assert params.win_prob == MAX_WIN_PROB
    assert receive(rec, params, *signed(params)).won


def test_unlocking_sender_is_fatal_and_checked_first(rec, params):
    rec.chain.fund(G, 10**18, 10**18, withdraw_round=rec.chain.round + 1)
    ticket, sig = signed(params)
    got = receive(rec, params, ticket, b"\x00" * 65)  # even a bad signature: the sender check comes first
    assert isinstance(got.error, FatalReceiveError)
    assert str(got.error) == f"deposit and reserve for sender {G} is set to unlock soon"
    rec.chain.fund(G, 10**18, 10**18, withdraw_round=rec.chain.round + 2)  # later: fine
    assert receive(rec, params, ticket, sig).error is None


@pytest.mark.parametrize("tamper, message", [
    (dict(recipient=OTHER), "invalid ticket recipient"),
    (dict(face_value=12 * 10**14 + 1), "invalid recipientRand for ticket recipientRandHash"),
    (dict(win_prob=1), "invalid recipientRand for ticket recipientRandHash"),
    (dict(creation_round=9), "invalid recipientRand for ticket recipientRandHash"),
])
def test_tampered_tickets_are_fatal(rec, params, tamper, message):
    fields = dict(recipient=params.recipient, face_value=params.face_value, win_prob=params.win_prob)
    fields.update({k: v for k, v in tamper.items() if k in fields})
    moved = params.__class__(fields["recipient"], fields["face_value"], fields["win_prob"], params.recipient_rand_hash,
                             params.seed, params.expiration_block, params.price_per_pixel, params.expiration_params)
    expiration = TicketExpirationParams(tamper.get("creation_round", params.expiration_params.creation_round),
                                        params.expiration_params.creation_round_block_hash)
    ticket, sig = signed(moved, expiration=expiration)
    got = receive(rec, params, ticket, sig)
    assert isinstance(got.error, FatalReceiveError) and str(got.error) == message
    assert not got.won


def test_a_price_other_than_offered_breaks_the_rand(rec, params):
    ticket, sig = signed(params)
    got = rec.receive_ticket(ticket, sig, params.seed, params.expiration_block, PRICE + 1)
    assert str(got.error) == "invalid recipientRand for ticket recipientRandHash" and got.error.fatal


def test_zero_sender_is_fatal(rec, params):
    ticket, sig = signed(params, sender="0x" + "00" * 20)
    got = receive(rec, params, ticket, sig)
    assert str(got.error) == "invalid ticket sender" and got.error.fatal


def test_bad_signature_is_not_fatal(rec, params):
    ticket, _ = signed(params)
    _, other_sig = signed(params, key=OTHER_KEY)
    for sig in (other_sig, b"\x01" * 10):
        got = receive(rec, params, ticket, sig)
        assert str(got.error) == "invalid ticket signature" and not got.error.fatal and not got.won


def test_replayed_nonce_is_not_fatal_and_still_reports_a_win(rec):
    rec.ev = 12 * 10**14  # always wins
    params = rec.ticket_params(G, PRICE)
    ticket, sig = signed(params, nonce=5)
    assert receive(rec, params, ticket, sig).error is None
    again = receive(rec, params, ticket, sig)
    assert str(again.error) == f"invalid ticket senderNonce: already seen sender={G} nonce=5"
    assert not again.error.fatal and again.won


def test_at_most_600_nonces_per_offer(rec, params):
    for nonce in range(1, MAX_SENDER_NONCES + 1):
        assert receive(rec, params, *signed(params, nonce=nonce)).error is None
    got = receive(rec, params, *signed(params, nonce=MAX_SENDER_NONCES + 1))
    assert str(got.error) == f"invalid ticket senderNonce: too many values sender={G} nonce={MAX_SENDER_NONCES + 1}"
    fresh = rec.ticket_params(G, PRICE)  # a new offer has a new rand and a new nonce set
    assert receive(rec, fresh, *signed(fresh, nonce=MAX_SENDER_NONCES + 1)).error is None


def test_expired_params_are_not_fatal_and_the_win_still_counts(rec):
    rec.ev = 12 * 10**14
    params = rec.ticket_params(G, PRICE)
    rec.chain.block = params.expiration_block
    got = receive(rec, params, *signed(params))
    assert isinstance(got.error, TicketParamsExpired) and str(got.error) == "TicketParams expired"
    assert not got.error.fatal and got.won


def test_nonce_sets_are_forgotten_when_their_offer_expires(rec, params):
    ticket, sig = signed(params)
    receive(rec, params, ticket, sig)
    rec.on_block(params.expiration_block - 1)
    assert "already seen" in str(receive(rec, params, ticket, sig).error)
    rec.on_block(params.expiration_block)
    rec.chain.block = params.expiration_block
    # The set is gone, but the ticket is still refused: its params have expired.
    assert isinstance(receive(rec, params, ticket, sig).error, TicketParamsExpired)


def test_secret_must_be_32_bytes():
    with pytest.raises(ValueError):
        Recipient(O, b"short", StubChain(), SenderMonitor(O, StubChain()), random.Random(0).randbytes)


def test_errors_are_payment_errors():
    assert issubclass(FatalReceiveError, PaymentError) and issubclass(TicketParamsExpired, PaymentError)
