"""node.core.sessions: the gateway's transcoding pools with the spec's numbers (§3.4, §8.3, §13)."""
import pytest

from node.core.sessions import (
    MinLSSelector,
    SegmentAction,
    SegmentAttempts,
    Session,
    SessionPool,
    SortedSelector,
    TranscodeSessions,
    auth_token_needs_refresh,
    is_non_retryable_error,
    latency_score,
    refresh_threshold,
    segment_http_timeout,
    segment_upload_timeout,
    trusted_num_orchs,
)


class FixedRng:
    def __init__(self, value):
        self.value = value

    def random(self):
        return self.value


def sess(n, score=0.0, trusted=False, latency=0.0):
    return Session(uri=f"https://o{n}.example:8935", trusted=trusted, latency_score=score,
                   initial_latency=latency)


def pool_with(*sessions, pool_size=None, num_orchs=None):
    size = len(sessions) if pool_size is None else pool_size
    pool = SessionPool(size, size if num_orchs is None else num_orchs)
    assert pool.begin_refresh() is not None
    pool.end_refresh(sessions)
    return pool


# -- pure rules -----------------------------------------------------------------------------------

@pytest.mark.parametrize("round_trip, duration, score", [
    (1.0, 2.0, 0.5),
    (2.0, 2.0, 1.0),
    (3.0, 2.0, 1.5),
    (1.5, 1.0, 1.0),  # a 1 s segment counts as 1.5 s
    (0.75, 0.5, 0.5),
    (6.0, 4.0, 1.5),
])
def test_latency_score(round_trip, duration, score):
    assert latency_score(round_trip, duration) == pytest.approx(score)


@pytest.mark.parametrize("trusted, seg_len, num", [(20, 2.0, 8), (3, 2.0, 3), (8, 2.0, 8),
                                                   (20, 4.0, 4), (0, 2.0, 0)])
def test_trusted_num_orchs(trusted, seg_len, num):
    assert trusted_num_orchs(trusted, seg_len) == num


@pytest.mark.parametrize("num_orchs, threshold", [(0, 0), (1, 1), (3, 2), (8, 4), (15, 8),
                                                  (16, 8), (100, 8)])
def test_refresh_threshold(num_orchs, threshold):
    assert refresh_threshold(num_orchs) == threshold


@pytest.mark.parametrize("duration, mult, http, upload", [
    (2.0, 0, 8.0, 2.0),
    (1.0, 0, 8.0, 2.0),
    (10.0, 0, 40.0, 5.0),
    (2.0, 1, 8.0, 2.0),  # a multiplier of 1 changes nothing
    (2.0, 3, 24.0, 6.0),
    (10.0, 2, 80.0, 10.0),
])
def test_segment_timeouts(duration, mult, http, upload):
    assert segment_http_timeout(duration, mult) == http
    assert segment_upload_timeout(duration, mult) == upload


def test_auth_token_refreshes_after_27_of_30_minutes():
    issued = 1_700_000_000.0
    expiration = issued + 1800
    assert not auth_token_needs_refresh(issued + 1000, expiration)
    assert not auth_token_needs_refresh(issued + 1620, expiration)  # exactly at the point: not after
    assert auth_token_needs_refresh(issued + 1620.5, expiration)
    assert auth_token_needs_refresh(expiration + 1, expiration)


@pytest.mark.parametrize("error, non_retryable", [
    ("TranscoderInvalidVideo", True),
    ("No keyframes in input", True),
    ("Invalid argument", True),
    ("hit max transcode attempts", True),
    ("hit max transcode attempts: OrchestratorBusy", True),
    ("OrchestratorBusy", False),
    ("OrchestratorCapped", False),
    ("header timeout: context deadline exceeded", False),
    ("error: TranscoderInvalidVideo", False),  # go compares whole messages
])
def test_non_retryable_classification(error, non_retryable):
    assert is_non_retryable_error(error) is non_retryable


def test_non_retryable_found_in_wrapped_cause():
    try:
        try:
            raise RuntimeError("Unsupported input codec")
        except RuntimeError as inner:
            raise RuntimeError("transcode failed") from inner
    except RuntimeError as outer:
        assert is_non_retryable_error(outer)
    assert not is_non_retryable_error(RuntimeError("dial tcp: refused"))


# -- selectors ------------------------------------------------------------------------------------

def test_minls_unknown_sessions_in_list_order_then_known():
    a, b = sess(1), sess(2)
    sel = MinLSSelector()
    sel.add([a, b])
    assert sel.size() == 2
    assert sel.select() is a
    assert sel.select() is b
    assert sel.select() is None
    a.latency_score = 1.4
    sel.complete(a)
    assert sel.select() is a  # a bad known session is used when no unknown one is left


def test_minls_good_known_beats_unknown_bad_known_does_not():
    good, bad, new = sess(1, 0.8), sess(2, 1.2), sess(3)
    sel = MinLSSelector()
    sel.add([new])
    sel.complete(bad)
    assert sel.select() is new  # best known 1.2 > 1.0 and an unknown exists
    sel.complete(good)
    sel.complete(bad)
    assert sel.select() is good
    assert sel.select() is bad


def test_minls_threshold_is_inclusive_and_ties_pop_in_completion_order():
    a, b, new = sess(1, 1.0), sess(2, 1.0), sess(3)
    sel = MinLSSelector()
    sel.add([new])
    sel.complete(a)
    sel.complete(b)
    assert sel.select() is a
    assert sel.select() is b


def test_minls_uses_choose_unknown_and_respects_none():
    a, b = sess(1), sess(2)
    sel = MinLSSelector(choose_unknown=lambda sessions: sessions[-1])
    sel.add([a, b])
    assert sel.select() is b
    assert sel.unknown == [a]
    nobody = MinLSSelector(choose_unknown=lambda sessions: None)
    nobody.add([a])
    assert nobody.select() is None
    assert nobody.size() == 1


def test_minls_remove_only_touches_unknown():
    a, b = sess(1), sess(2, 2.0)
    sel = MinLSSelector()
    sel.add([a])
    sel.complete(b)
    sel.remove(a)
    sel.remove(b)  # known: stays, as in go (the pool's map check skips it)
    assert sel.size() == 1


def test_sorted_selector_by_latency_score():
    a, b, c = sess(1, 0.3), sess(2, 0.1), sess(3, 0.2)
    sel = SortedSelector("latency_score")
    sel.add([a, b, c])
    assert sel.select() is b
    b.latency_score = 0.25
    sel.complete(b)
    assert [s.latency_score for s in sel.sessions] == [0.2, 0.25, 0.3]


# -- one pool -------------------------------------------------------------------------------------

def test_select_reuses_last_session_while_oldest_segment_is_young():
    s1, s2 = sess(1), sess(2)
    pool = pool_with(s1, s2)
    assert pool.select(0.0) == [s1]
    pool.push_in_flight(s1, 0.0, 2.0)
    assert pool.select(1.9) == [s1]  # in flight 1.9 s < 1 x 2 s
    assert pool.swaps == 0
    assert pool.select(2.0) == [s2]  # 2.0 is not < 2.0: the selector's next session
    assert pool.swaps == 1


def test_select_falls_back_to_last_session_with_double_duration():
    s1 = sess(1)
    pool = pool_with(s1)
    assert pool.select(0.0) == [s1]
    pool.push_in_flight(s1, 0.0, 2.0)
    assert pool.select(3.0) == [s1]  # selector empty; 3 s < 2 x 2 s
    assert pool.select(3.99) == [s1]
    assert pool.select(4.0) == []  # nothing: last sessions are forgotten
    assert pool.last == []


def test_short_segments_get_a_1_5_second_floor():
    s1, s2 = sess(1), sess(2)
    pool = pool_with(s1, s2)
    assert pool.select(0.0) == [s1]
    pool.push_in_flight(s1, 0.0, 0.5)
    assert pool.select(1.49) == [s1]  # limit 0.5 s raised to 1.5 s
    assert pool.select(1.5) == [s2]


def test_short_segment_double_limit_also_floored():
    s1 = sess(1)
    pool = pool_with(s1)
    pool.select(0.0)
    pool.push_in_flight(s1, 0.0, 0.5)
    assert pool.select(1.4) == [s1]  # 2 x 0.5 = 1.0 <= 1 s, raised to 1.5 s
    assert pool.select(1.5) == []


def test_good_session_is_kept_as_last_not_returned_to_selector():
    s1, s2 = sess(1), sess(2)
    pool = pool_with(s1, s2)
    pool.select(0.0)
    pool.push_in_flight(s1, 0.0, 2.0)
    pool.complete(s1, 0.5)
    assert s1.in_flight == []
    assert pool.selector.size() == 1  # only s2
    assert pool.select(10.0) == [s1]  # idle and 0 < 0.5 <= 1.0: reused


def test_slow_session_goes_back_to_known_heap_and_unknown_is_tried():
    s1, s2 = sess(1), sess(2)
    pool = pool_with(s1, s2)
    pool.select(0.0)
    pool.push_in_flight(s1, 0.0, 2.0)
    pool.complete(s1, 1.2)
    assert pool.selector.size() == 2
    assert pool.select(10.0) == [s2]  # s1 idle with 1.2 > 1.0; known 1.2 loses to unknown s2
    assert pool.swaps == 1
    pool.push_in_flight(s2, 10.0, 2.0)
    pool.complete(s2, 1.5)
    assert pool.select(20.0) == [s1]  # no unknown left: best known (1.2)


def test_complete_with_other_segments_in_flight_keeps_session_out():
    s1 = sess(1)
    pool = pool_with(s1)
    pool.select(0.0)
    pool.push_in_flight(s1, 0.0, 2.0)
    pool.push_in_flight(s1, 1.0, 2.0)
    pool.complete(s1, 1.3)
    assert s1.in_flight == [(1.0, 2.0)]
    assert pool.selector.size() == 0
    pool.complete(s1, 1.3)
    assert s1.in_flight == []
    assert pool.selector.size() == 1


def test_complete_of_replaced_session_is_ignored():
    s1 = sess(1)
    pool = pool_with(s1)
    pool.select(0.0)
    pool.drop(s1)
    newer = sess(1)
    pool.begin_refresh()
    pool.end_refresh([newer])
    pool.complete(s1, 1.5)
    assert pool.selector.size() == 1  # only the newer session


def test_removed_last_session_is_skipped_and_counted_as_swap():
    s1, s2 = sess(1), sess(2)
    pool = pool_with(s1, s2, pool_size=20, num_orchs=8)
    pool.select(0.0)
    pool.push_in_flight(s1, 0.0, 2.0)
    pool.remove(s1)
    assert pool.suspender.suspended(s1.uri) == 3  # ceil(20 / 8)
    assert pool.select(0.5) == [s2]
    assert s1.in_flight == []
    assert pool.swaps == 1


def test_refresh_bookkeeping_and_threshold():
    pool = SessionPool(20, 8)  # threshold min(8, ceil(8/2)) = 4
    assert pool.begin_refresh() == 8
    assert pool.suspender.refresh_count == 1
    assert pool.begin_refresh() is None  # one refresh in flight
    added = pool.end_refresh([sess(1), sess(2), sess(1)])
    assert [s.uri for s in added] == [sess(1).uri, sess(2).uri]
    assert pool.needs_refresh()
    pool.select(0.0)
    assert pool.refresh_wanted
    assert pool.begin_refresh() == 8
    pool.end_refresh([sess(n) for n in range(3, 8)])
    assert not pool.needs_refresh()  # 1 + 5 = 6 >= 4


def test_empty_pool_selects_nothing():
    assert SessionPool(0, 0).select(0.0) == []
    pool = SessionPool(5, 5)
    assert pool.select(0.0) == []
    assert pool.refresh_wanted


def test_select_several_distinct_sessions():
    s1, s2, s3 = sess(1), sess(2), sess(3)
    pool = pool_with(s1, s2, s3)
    assert pool.select(0.0, 2) == [s1, s2]


def test_cleanup_discards_late_refresh():
    pool = SessionPool(3, 3)
    pool.begin_refresh()
    pool.cleanup()
    assert pool.end_refresh([sess(1)]) == []
    assert pool.begin_refresh() is None


# -- the stream's two pools, attempts, verification -----------------------------------------------

def manager(trusted=(), untrusted=(), **kw):
    m = TranscodeSessions(len(trusted), len(untrusted), **kw)
    for pool, sessions in ((m.trusted, trusted), (m.untrusted, untrusted)):
        pool.begin_refresh()
        pool.end_refresh(sessions)
    return m


def test_untrusted_pool_first_then_trusted():
    t, u = sess(1, trusted=True), sess(2)
    m = manager([t], [u])
    assert m.trusted.num_orchs == 1 and m.untrusted.num_orchs == 1
    assert m.select(0.0) is u
    m.remove(u)
    assert m.untrusted.suspender.suspended(u.uri) == 1
    assert m.trusted.suspender.suspended(u.uri) == 0
    assert m.select(0.0) is t


def test_fail_non_retryable_completes_without_suspending():
    s1 = sess(1)
    m = manager([], [s1])
    m.select(0.0)
    m.untrusted.push_in_flight(s1, 0.0, 2.0)
    assert m.fail(s1, "TranscoderInvalidVideo") is False
    assert s1.uri in m.untrusted.sessions
    assert m.untrusted.suspender.suspended(s1.uri) == 0
    assert s1.in_flight == []


def test_fail_retryable_suspends_and_removes():
    s1, s2 = sess(1), sess(2)
    m = manager([], [s1, s2])
    m.select(0.0)
    assert m.fail(s1, "OrchestratorBusy") is True
    assert s1.uri not in m.untrusted.sessions
    assert m.untrusted.suspender.suspended(s1.uri) == 1
    assert m.select(0.1) is s2


def test_segment_attempt_budget():
    attempts = SegmentAttempts()
    assert attempts.record("OrchestratorBusy") is SegmentAction.RETRY
    assert attempts.record("dial tcp: refused") is SegmentAction.RETRY
    assert attempts.record("unexpected EOF") is SegmentAction.GIVE_UP
    assert attempts.error == "hit max transcode attempts: unexpected EOF"
    assert is_non_retryable_error(attempts.error)  # the ingest then answers 422


def test_segment_attempts_success_non_retryable_stop_cancel():
    ok = SegmentAttempts()
    assert ok.record("OrchestratorBusy") is SegmentAction.RETRY
    assert ok.record(None) is SegmentAction.DONE
    assert ok.attempts == 2 and ok.error is None
    assert SegmentAttempts().record("TranscoderInvalidGOP") is SegmentAction.GIVE_UP
    assert SegmentAttempts().record("x", stop_stream=True) is SegmentAction.STOP_STREAM
    assert SegmentAttempts().record("x", cancelled=True) is SegmentAction.GIVE_UP
    one = SegmentAttempts(max_attempts=1)
    assert one.record("OrchestratorBusy") is SegmentAction.GIVE_UP


def test_verification_selects_one_trusted_two_untrusted_and_reuses_verified():
    t, u1, u2 = sess(1, trusted=True), sess(2), sess(3)
    m = manager([t], [u1, u2], verification_freq=4)
    sessions, verified = m.select_for_verification(0.0, FixedRng(0.9))
    assert sessions == [t, u1, u2] and not verified
    m.verified = u1
    for s in sessions:
        m.complete(s, 0.5)  # all good: kept as last sessions
    # int(0.9 * 4) = 3 != 0: skip verification (probability 1 - 1/4)
    sessions, verified = m.select_for_verification(1.0, FixedRng(0.9))
    assert sessions == [u1] and verified
    # int(0.1 * 4) = 0: verify again
    sessions, verified = m.select_for_verification(2.0, FixedRng(0.1))
    assert set(sessions) == {t, u1, u2} and not verified


def test_verified_session_forgotten_when_not_selected():
    t, u1 = sess(1, trusted=True), sess(2)
    m = manager([t], [u1], verification_freq=2)
    m.verified = sess(9)
    m.select_for_verification(0.0, FixedRng(0.9))
    assert m.verified is None


def test_choose_verified_first_match_wins_and_mismatches_before_it_are_suspended():
    t, u1, u2 = sess(1, trusted=True), sess(2), sess(3)
    m = manager([t], [u1, u2])
    chosen = m.choose_verified(t, [(u1, False), (u2, True)])
    assert chosen is u2 and m.verified is u2
    assert m.untrusted.suspender.suspended(u1.uri) == 1
    assert u1.uri not in m.untrusted.sessions


def test_choose_verified_no_match_uses_trusted_and_suspends_nobody():
    t, u1, u2 = sess(1, trusted=True), sess(2), sess(3)
    m = manager([t], [u1, u2])
    assert m.choose_verified(t, [(u1, False), (u2, False)]) is t
    assert m.verified is None
    assert m.untrusted.suspender.suspended(u1.uri) == 0


def test_choose_verified_previously_verified_result_comes_first():
    t, u1, u2 = sess(1, trusted=True), sess(2), sess(3)
    m = manager([t], [u1, u2])
    m.verified = u2
    assert m.choose_verified(t, [(u1, True), (u2, True)]) is u2


def test_choose_verified_without_trusted_result():
    u1 = sess(2)
    m = manager([], [u1])
    assert m.choose_verified(None, [(u1, False)]) is u1
    assert m.choose_verified(None, []) is None
