"""node.core.redemption: winning tickets wait for their params to expire, then are redeemed if
worth it; every queued ticket ends redeemed, dropped or expired (spec node.md §2.7, §19)."""
import pytest

from node.core.errors import RedemptionError
from node.core.redemption import Outcome, Redeemer, SignedTicket, is_retryable
from node.core.sender_monitor import SenderMonitor
from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash

from .stubs import StubBroker, StubChain

G = "0x" + "22" * 20
G2 = "0x" + "33" * 20
O = "0x" + "11" * 20
GAS = 100_000


def winner(nonce=1, sender=G, face_value=10**15, creation_round=10, expiration_block=1040):
    ticket = Ticket(O, sender, face_value, MAX_WIN_PROB, nonce, recipient_rand_hash(5), creation_round, b"\x0a" * 32)
    return SignedTicket(ticket, b"\x01" * 65, 5, expiration_block)


@pytest.fixture
def chain():
    chain = StubChain(block=1000, round=10, pool_size=1, price=10**9)
    chain.active.add(O)
    for sender in (G, G2):
        chain.fund(sender, deposit=10**17, reserve=10**17)
    return chain


@pytest.fixture
def broker():
    return StubBroker()


@pytest.fixture
def redeemer(chain, broker):
    return Redeemer(chain, SenderMonitor(O, chain), broker, redeem_gas=GAS)


def test_tickets_wait_until_their_params_expire(redeemer, broker):
    redeemer.queue(winner())
    assert redeemer.on_block(1039) == []
    [result] = redeemer.on_block(1040)
    assert result.outcome is Outcome.REDEEMED and broker.redeemed == [result.ticket.ticket]
    assert redeemer.queued() == [] and redeemer.value_redeemed == 10**15


def test_earliest_first_and_later_tickets_wait_behind_an_unexpired_one(redeemer, broker):
    redeemer.queue(winner(1, expiration_block=1050))
    redeemer.queue(winner(2, expiration_block=1040))
    assert redeemer.on_block(1045) == []
    assert [r.ticket.ticket.sender_nonce for r in redeemer.on_block(1050)] == [1, 2]


def test_each_sender_has_its_own_queue(redeemer):
    redeemer.queue(winner(1, sender=G, expiration_block=1050))
    redeemer.queue(winner(1, sender=G2, expiration_block=1040))
    assert [r.ticket.ticket.sender for r in redeemer.on_block(1045)] == [G2]


def test_a_ticket_is_queued_once(redeemer):
    assert redeemer.queue(winner()) and not redeemer.queue(winner())
    assert redeemer.counts["queued"] == 1


def test_face_value_is_pending_while_the_redemption_is_in_flight(redeemer, broker):
    seen = []
    broker.during.append(lambda t: seen.append(redeemer.monitor.pending(t.sender)))
    redeemer.queue(winner())
    redeemer.on_block(1040)
    assert seen == [10**15] and redeemer.monitor.pending(G) == 0


def test_used_tickets_are_dropped(redeemer, broker):
    signed = winner()
    broker.used.add(signed.ticket.hash())
    redeemer.queue(signed)
    [result] = redeemer.on_block(1040)
    assert (result.outcome, result.error) == (Outcome.DROPPED, "ticket already used")
    assert redeemer.queued() == []


def test_a_reverted_transaction_is_dropped_other_failures_retried(redeemer, broker):
    redeemer.queue(winner())
    broker.fail_with = RedemptionError("connection refused", retryable=True)
    [result] = redeemer.on_block(1040)
    assert result.outcome is Outcome.RETRY and len(redeemer.queued()) == 1
    assert redeemer.monitor.pending(G) == 0  # the float comes back whatever happened
    broker.fail_with = RedemptionError("transaction failed: ticket is expired", retryable=False)
    [result] = redeemer.on_block(1041)
    assert result.outcome is Outcome.DROPPED and redeemer.queued() == []


def test_not_worth_redeeming_while_funds_or_face_value_do_not_exceed_the_tx_cost(redeemer, chain):
    tx_cost = GAS * 10**9  # 1e14
    redeemer.queue(winner(face_value=tx_cost))
    [result] = redeemer.on_block(1040)
    assert (result.outcome, result.error) == (Outcome.RETRY, "insufficient ticket face value for redeem tx cost")
    chain.fund(G, deposit=tx_cost // 2, reserve=tx_cost // 2)  # available = reserve share + deposit = tx cost
    [result] = redeemer.on_block(1041)
    assert result.error == "insufficient sender funds for redeem tx cost"


def test_tickets_older_than_the_validity_period_expire(redeemer, chain, broker):
    redeemer.queue(winner(creation_round=10))
    chain.round = 13  # 10 < 13 − 2
    [result] = redeemer.on_block(2000)
    assert result.outcome is Outcome.EXPIRED and broker.redeemed == []
    assert redeemer.counts == {"queued": 1, "expired": 1}


def test_an_inactive_orchestrator_waits(redeemer, chain):
    chain.active.clear()
    redeemer.queue(winner())
    assert redeemer.on_block(1040) == [] and len(redeemer.queued()) == 1


def test_go_non_retryable_messages():
    assert not is_retryable("ticket already used")
    assert not is_retryable("transaction failed: sender is unlocked")
    assert not is_retryable("ticket creationRound does not have a block hash")
    assert is_retryable("insufficient sender funds for redeem tx cost")
