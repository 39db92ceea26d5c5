"""CachedChainView: answers within `ttl` come from the cache; an older one (up to `max_age`) is
served while a background read refreshes it, so the request path does not wait on the chain;
past `max_age`, or after invalidate(), the caller reads the chain itself."""
import threading

from node.eth.payments import CachedChainView


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Base:
    """A chain whose last initialised round the test sets; reads can be held to see them overlap."""

    def __init__(self) -> None:
        self.round, self.reads = 7, 0
        self.gate = threading.Event()
        self.gate.set()

    def last_initialized_round(self) -> int:
        value = self.round  # what the chain said when the read began
        self.gate.wait(5)
        self.reads += 1
        return value


def settled(view: CachedChainView) -> None:
    """Wait until no background read is under way."""
    for _ in range(500):
        with view._lock:
            if not view._refreshing:
                return
        threading.Event().wait(0.01)
    raise AssertionError("a background read did not finish")


def test_fresh_answers_are_cached_and_stale_ones_refresh_in_the_background():
    base, clock = Base(), Clock()
    view = CachedChainView(base, ttl=1.0, clock=clock, max_age=5.0)
    assert view.last_initialized_round() == 7 and base.reads == 1  # the first read waits for the chain
    base.round = 8
    clock.now += 0.5
    assert view.last_initialized_round() == 7 and base.reads == 1  # within ttl: no read
    clock.now += 0.6
    base.gate.clear()  # hold the background read
    assert view.last_initialized_round() == 7  # stale: served at once, a refresh under way
    assert view.last_initialized_round() == 7  # and only one refresh per question
    base.gate.set()
    settled(view)
    assert view.last_initialized_round() == 8 and base.reads == 2


def test_past_max_age_and_after_invalidate_the_caller_reads_the_chain():
    base, clock = Base(), Clock()
    view = CachedChainView(base, ttl=1.0, clock=clock, max_age=5.0)
    assert view.last_initialized_round() == 7
    base.round, clock.now = 9, clock.now + 5.0
    assert view.last_initialized_round() == 9 and base.reads == 2  # too old to serve: read now
    base.round = 10
    view.invalidate()  # after a transaction of our own
    assert view.last_initialized_round() == 10 and base.reads == 3


def test_a_background_read_begun_before_invalidate_is_dropped():
    base, clock = Base(), Clock()
    view = CachedChainView(base, ttl=1.0, clock=clock, max_age=5.0)
    assert view.last_initialized_round() == 7
    clock.now += 2.0
    base.gate.clear()
    assert view.last_initialized_round() == 7  # a background read of round 7 starts, held
    view.invalidate()  # a transaction of our own changed the chain meanwhile
    base.round = 11
    base.gate.set()
    settled(view)
    assert view.last_initialized_round() == 11  # the held read's 7 was not kept
    assert base.reads == 3
