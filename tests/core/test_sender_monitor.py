"""node.core.sender_monitor: reserve allocation, max float and available funds (spec node.md §2.6)."""
import pytest

from node.core.errors import FatalReceiveError
from node.core.sender_monitor import SenderMonitor

from .stubs import StubChain

G = "0x" + "22" * 20
O = "0x" + "11" * 20


@pytest.fixture
def chain():
    chain = StubChain(pool_size=4, round=10)
    chain.fund(G, deposit=900, reserve=1000, claimed_this_round=200)
    return chain


@pytest.fixture
def monitor(chain):
    return SenderMonitor(O, chain)


def test_reserve_allocation_is_an_even_share_of_the_rounds_reserve_less_what_was_claimed(monitor, chain):
    assert monitor.reserve_alloc(G) == (1000 + 200) // 4  # 300
    chain.claimed[(G, O)] = 120
    assert monitor.reserve_alloc(G) == 180
    chain.claimed[(G, O)] = 400
    assert monitor.reserve_alloc(G) == -100  # may go negative
    chain.pool_size = 0
    assert monitor.reserve_alloc(G) == 0


def test_max_float_ignores_pending_while_the_deposit_covers_it_three_times(monitor):
    assert monitor.max_float(G) == 300
    monitor.begin_redemption(G, 300)  # deposit 900 / 300 = 3 ⇒ still the full allocation
    assert monitor.max_float(G) == 300
    monitor.begin_redemption(G, 1)  # 900 / 301 < 3 ⇒ pending is subtracted
    assert monitor.max_float(G) == 300 - 301
    monitor.end_redemption(G, 301)
    assert monitor.max_float(G) == 300


def test_available_funds_is_allocation_plus_deposit_less_pending(monitor):
    assert monitor.available_funds(G) == 300 + 900
    monitor.begin_redemption(G, 50)
    assert monitor.available_funds(G) == 300 + 900 - 50


def test_pending_cannot_go_negative(monitor):
    with pytest.raises(ValueError, match="insufficient pendingAmount"):
        monitor.end_redemption(G, 1)


@pytest.mark.parametrize("withdraw_round, ok", [(0, True), (10, False), (11, False), (12, True)])
def test_senders_unlocking_by_next_round_are_refused(monitor, chain, withdraw_round, ok):
    chain.fund(G, 900, 1000, withdraw_round=withdraw_round)
    if ok:
        monitor.validate_sender(G)
    else:
        with pytest.raises(FatalReceiveError, match=f"deposit and reserve for sender {G} is set to unlock soon"):
            monitor.validate_sender(G)


def test_a_failing_chain_read_is_a_fatal_error(monitor, chain):
    def broken(sender):
        raise ConnectionError("rpc down")
    chain.sender_info = broken
    with pytest.raises(FatalReceiveError, match=f"could not get sender info for {G}: rpc down"):
        monitor.validate_sender(G)


def test_idle_senders_are_forgotten_after_the_ttl_unless_something_is_pending(monitor):
    monitor.max_float(G, now=0)
    monitor.max_float("0x" + "33" * 20, now=0)
    monitor.begin_redemption("0x" + "33" * 20, 5)
    assert monitor.cleanup(now=monitor.ttl) == []
    assert monitor.cleanup(now=monitor.ttl + 1) == [G]
