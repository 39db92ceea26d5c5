"""The simulator's hot-path shortcuts give the values the plain rules give (issue 15)."""
from fractions import Fraction

import pytest

from node.core.chain_view import ReserveInfo, SenderInfo
from node.core.errors import PaymentError
from node.core.params import TicketExpirationParams, TicketParams, ticket_ev
from node.core.pricing import (PIXEL_ESTIMATE_MULTIPLIER, PRICE_SCALING_FACTOR, PriceInfo, auto_adjust_price,
                               estimate_transcode_fee, price_to_fixed, transcode_pixels)
from node.core.sender import Sender
from node.core.ticket import MAX_WIN_PROB

from .test_recipient import EV, G, G_KEY, PRICE, make_recipient, receive, signed


def test_offered_rands_are_the_hmac_and_are_forgotten_when_the_offer_expires():
    rec = make_recipient()
    params = rec.ticket_params(G, PRICE)
    key = next(iter(rec._offered))
    assert rec._offered[key] == rec.rand(params.seed, G, params.face_value, params.win_prob, params.expiration_block,
                                         PRICE, params.expiration_params)
    assert receive(rec, params, *signed(params)).error is None  # received on the kept rand
    rec.on_block(params.expiration_block - 1)
    assert rec._offered
    rec.on_block(params.expiration_block)
    assert not rec._offered


def test_a_ticket_whose_fields_drift_from_the_offer_misses_the_kept_rand():
    rec = make_recipient()
    params = rec.ticket_params(G, PRICE)
    drifted = TicketParams(params.recipient, params.face_value - 1, params.win_prob, params.recipient_rand_hash,
                           params.seed, params.expiration_block, PRICE, params.expiration_params)
    got = receive(rec, drifted, *signed(drifted))
    assert got.error is not None and got.error.fatal  # invalid recipientRand, as without the cache


def test_face_value_passed_in_gives_the_same_offer_and_multiplier():
    a, b = make_recipient(), make_recipient()
    fv = a.face_value(G)
    assert a.tx_cost_multiplier(G, fv) == b.tx_cost_multiplier(G)
    assert a.ticket_params(G, PRICE, fv) == b.ticket_params(G, PRICE)


@pytest.mark.parametrize("base, m", [(Fraction(1212), Fraction(100)), (Fraction(7, 3), Fraction(5, 9)),
                                     (Fraction(1212), None), (Fraction(0), Fraction(3)), (Fraction(5), 0),
                                     (Fraction(5), 2.5), (12, 7)])
def test_auto_adjust_price_matches_the_formula(base, m):
    overhead = 1 + 1 / Fraction(m) if base > 0 and m else Fraction(1)
    expected = Fraction(price_to_fixed(Fraction(base) * overhead), PRICE_SCALING_FACTOR)
    assert auto_adjust_price(base, m) == expected
    assert auto_adjust_price(base, lambda: m) == expected


def test_price_info_and_fee_estimates_match_the_uncached_rules():
    price = Fraction(7, 3)
    assert PriceInfo.from_fraction(price) == PriceInfo(7, 3)
    assert PriceInfo.from_fraction(price, 4, "m") == PriceInfo(7, 3, 4, "m")

    class Profile:  # unhashable profiles take the plain path
        __hash__ = None
        width, height, framerate, framerate_den = 640, 360, 30, 1

    profile = Profile()
    expected = transcode_pixels([profile], 2.0) * PIXEL_ESTIMATE_MULTIPLIER * price
    assert estimate_transcode_fee((profile,), 2.0, price) == expected
    assert estimate_transcode_fee([profile], 2.0, price) == expected
    assert ticket_ev(10**15, MAX_WIN_PROB // 3) == Fraction(10**15 * (MAX_WIN_PROB // 3), MAX_WIN_PROB)


class _Chain:
    def last_seen_block(self): return 0
    def last_initialized_round(self): return 1
    def sender_info(self, s): return SenderInfo(10**18, 0, ReserveInfo(10**18, 0))


_PARAMS = TicketParams(G, EV * 100, -(-MAX_WIN_PROB // 100), b"\x01" * 32, 1, 100, PRICE,
                       TicketExpirationParams(1, b"\x02" * 32))
_EV = _PARAMS.ev  # a little above EV (the win probability is rounded up)


@pytest.mark.parametrize("max_ev, max_total, tickets, error", [
    (_EV, _EV * 3, 3, None), (_EV - Fraction(1, 10**30), 10**15, 1, "max ticket EV"),
    (_EV, _EV * 3 - Fraction(1, 10**30), 3, "max total ticket EV"), (EV + 1, 3 * EV + 3, 3, None),
    (EV, 10**15, 1, "max ticket EV")])
def test_ev_limits_compare_exactly(max_ev, max_total, tickets, error):
    sender = Sender(G, G_KEY, _Chain())
    sender.max_ev, sender.max_total_ev = max_ev, max_total  # ints or Fractions, as callers set them
    if error is None:
        sender.validate_ticket_params(_PARAMS, tickets)
    else:
        with pytest.raises(PaymentError, match=error):
            sender.validate_ticket_params(_PARAMS, tickets)
