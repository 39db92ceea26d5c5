"""node.core.redemption over a TicketStore: a winning ticket is stored when queued and removed when
its fate is decided; a new Redeemer over the same store (a restarted node) redeems what is left,
exactly once, even when the crash fell between a mined redemption and its removal."""
import pytest

from node.core.errors import RedemptionError
from node.core.redemption import MemoryTicketStore, Outcome, Redeemer, SignedTicket
from node.core.sender_monitor import SenderMonitor
from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash

from .stubs import StubBroker, StubChain

G = "0x" + "22" * 20
O = "0x" + "11" * 20
O2 = "0x" + "44" * 20
GAS = 100_000
FACE = 3 * 10**16


def winner(nonce=1, recipient=O, creation_round=10, expiration_block=1040, block_hash=b"\x0a" * 32):
    ticket = Ticket(recipient, G, FACE, MAX_WIN_PROB, nonce, recipient_rand_hash(5), creation_round, block_hash)
    return SignedTicket(ticket, b"\x01" * 65, 5, expiration_block)


class Crash(BaseException):
    """The process dies here (kill -9): nothing after it runs, no handler catches it."""


class CrashingStore(MemoryTicketStore):
    """A store whose next removal never happens: the process dies first."""

    crash = True

    def remove(self, signed):
        if self.crash:
            self.crash = False
            raise Crash
        super().remove(signed)


@pytest.fixture
def chain():
    chain = StubChain(block=1000, round=10, pool_size=1, price=10**9)
    chain.active.add(O)
    chain.fund(G, deposit=10**18, reserve=10**18)
    return chain


@pytest.fixture
def broker():
    return StubBroker()


def redeemer_over(store, chain, broker, address=O):
    return Redeemer(chain, SenderMonitor(address, chain), broker, redeem_gas=GAS, store=store)


def test_queued_tickets_are_stored_and_leave_the_store_once_decided(chain, broker):
    store = MemoryTicketStore()
    redeemer = redeemer_over(store, chain, broker)
    for nonce in (1, 2, 3):
        redeemer.queue(winner(nonce, expiration_block=1039 + nonce))
    assert [s.ticket.sender_nonce for s in store.load()] == [1, 2, 3]
    broker.used.add(winner(2).ticket.hash())  # dropped: already used
    [redeemed] = redeemer.on_block(1040)
    assert redeemed.outcome is Outcome.REDEEMED and len(store) == 2
    [dropped] = redeemer.on_block(1041)
    assert dropped.outcome is Outcome.DROPPED and len(store) == 1
    chain.round = 13  # ticket 3's creation round fell out of the validity window
    [expired] = redeemer.on_block(1042)
    assert expired.outcome is Outcome.EXPIRED and len(store) == 0


def test_a_retried_ticket_stays_stored(chain, broker):
    store = MemoryTicketStore()
    redeemer = redeemer_over(store, chain, broker)
    redeemer.queue(winner())
    broker.fail_with = RedemptionError("connection refused", retryable=True)
    [result] = redeemer.on_block(1040)
    assert result.outcome is Outcome.RETRY and len(store) == 1


def test_a_store_that_cannot_write_refuses_the_ticket(chain, broker):
    class Full(MemoryTicketStore):
        def add(self, signed):
            raise OSError("disk full")

    redeemer = redeemer_over(Full(), chain, broker)
    with pytest.raises(OSError):
        redeemer.queue(winner())
    assert redeemer.queued() == [] and redeemer.counts["queued"] == 0
    redeemer.store = MemoryTicketStore()  # the disk has room again: the ticket is queued, once
    assert redeemer.queue(winner()) and len(redeemer.store) == 1


def test_a_restart_redeems_what_was_pending_once(chain, broker):
    store = MemoryTicketStore()
    before = redeemer_over(store, chain, broker)
    for nonce in range(1, 6):
        before.queue(winner(nonce))
    assert before.on_block(1039) == []  # params not expired yet: nothing redeemed before the crash
    after = redeemer_over(store, chain, broker)  # the restarted node: a new Redeemer, the same store
    assert after.counts["restored"] == 5 and len(after.queued(G)) == 5
    assert not after.queue(winner(3))  # a restored ticket is not queued twice
    results = after.on_block(1040)
    assert [r.outcome for r in results] == [Outcome.REDEEMED] * 5
    assert [t.sender_nonce for t in broker.redeemed] == [1, 2, 3, 4, 5]  # in the order received
    assert after.value_redeemed == 5 * FACE and len(store) == 0
    assert redeemer_over(store, chain, broker).counts["restored"] == 0


def test_a_crash_between_the_mined_redemption_and_its_removal_is_no_error_after_restart(chain, broker):
    store = CrashingStore()
    before = redeemer_over(store, chain, broker)
    before.queue(winner())
    with pytest.raises(Crash):
        before.on_block(1040)  # the redemption is mined, then the process dies
    assert len(broker.redeemed) == 1 and len(store) == 1
    after = redeemer_over(store, chain, broker)
    [result] = after.on_block(1041)
    # redeemed before the restart: counted as redeemed, not as an error, and never sent again
    assert (result.outcome, result.error) == (Outcome.REDEEMED, None)
    assert len(broker.redeemed) == 1 and after.value_redeemed == FACE and len(store) == 0


def test_a_late_mined_redemption_from_before_the_restart_ends_redeemed(chain, broker):
    """The old transaction is mined while the new attempt is sent: ours reverts "ticket is used"
    (a retry), and the next block finds the ticket used: redeemed."""
    store = MemoryTicketStore()
    redeemer_over(store, chain, broker).queue(winner())
    after = redeemer_over(store, chain, broker)
    old_tx_mined = lambda t: broker.used.add(t.hash())  # noqa: E731
    broker.during.append(old_tx_mined)
    broker.fail_with = RedemptionError("execution reverted: ticket is used", retryable=True)
    [retry] = after.on_block(1040)
    assert retry.outcome is Outcome.RETRY and len(store) == 1
    [result] = after.on_block(1041)
    assert (result.outcome, result.error) == (Outcome.REDEEMED, None) and len(store) == 0
    assert after.counts == {"restored": 1, "retry": 1, "redeemed": 1}


def test_restored_tickets_from_another_chain_are_dropped(chain, broker):
    store = MemoryTicketStore()
    redeemer_over(store, chain, broker).queue(winner(1, block_hash=b"\x0b" * 32))
    redeemer_over(store, chain, broker).queue(winner(2, creation_round=11))
    chain.hashes[11] = b"\x00" * 32  # round 11 was never initialised here
    results = redeemer_over(store, chain, broker).on_block(1040)
    assert [(r.outcome, r.error) for r in results] == [
        (Outcome.DROPPED, "ticket creationRoundBlockHash invalid for creationRound"),
        (Outcome.DROPPED, "ticket creationRound does not have a block hash")]
    assert broker.redeemed == [] and len(store) == 0


def test_restored_tickets_wait_for_their_params_to_expire_and_can_expire(chain, broker):
    store = MemoryTicketStore()
    redeemer_over(store, chain, broker).queue(winner(1, expiration_block=1050))
    after = redeemer_over(store, chain, broker)
    assert after.on_block(1045) == [] and len(store) == 1
    chain.round = 13
    [result] = after.on_block(1046)
    assert result.outcome is Outcome.EXPIRED and broker.redeemed == [] and len(store) == 0


def test_only_this_orchestrators_tickets_are_restored(chain, broker):
    store = MemoryTicketStore()
    store.add(winner(1, recipient=O2))
    store.add(winner(2))
    after = redeemer_over(store, chain, broker)
    assert [s.ticket.sender_nonce for s in after.queued()] == [2]
    after.on_block(1040)
    assert [s.ticket.recipient for s in store.load()] == [Ticket(O2, G, 1, 1, 1, b"\0" * 32, 1, b"\0" * 32).recipient]


def test_a_restored_ticket_is_pending_only_while_its_redemption_is_in_flight(chain, broker):
    """As go after a restart: pending amounts start at zero, a restored ticket counts in its
    sender's pending amount (and so in the max float) while its redemption is in flight."""
    store = MemoryTicketStore()
    redeemer_over(store, chain, broker).queue(winner())
    after = redeemer_over(store, chain, broker)
    assert after.monitor.pending(G) == 0
    seen = []
    broker.during.append(lambda t: seen.append((after.monitor.pending(G), after.monitor.max_float(G))))
    after.on_block(1040)
    assert seen == [(FACE, 10**18)]  # the deposit covers pending 3 times over: max float is the reserve share
    assert after.monitor.pending(G) == 0
