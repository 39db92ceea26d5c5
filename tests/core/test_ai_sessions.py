"""node.core.ai_sessions: warm/cold pools, refresh rules, latency scores and the retry policy (§3.7)."""
import pytest

from node.core.ai_sessions import (
    LIVE_VIDEO_TO_VIDEO,
    AIErrorAction,
    AIRequestRetry,
    AISessionManager,
    AISessionSelector,
    BadRequestError,
    ServiceUnavailableError,
    ai_latency_score,
    classify_ai_error,
    parse_bad_request_error,
    selector_key,
    steps_from_model_id,
)
from node.core.sessions import Session

TEXT_TO_IMAGE = 27
MODEL = "stabilityai/sdxl-turbo"


class Rng:
    def __init__(self, *values):
        self.values = list(values) or [0.0]

    def random(self):
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def orch(n, warm=True, score=0.0, latency=0.0):
    return Session(uri=f"https://o{n}.example:8935", warm=warm, latency_score=score,
                   initial_latency=latency)


def batch(*sessions, now=0.0):
    sel = AISessionSelector(TEXT_TO_IMAGE, MODEL)
    assert sel.wants_refresh(now, len(sessions))  # never refreshed
    sel.refresh(now, sessions)
    return sel


# -- latency scores -------------------------------------------------------------------------------

def test_text_to_image_score_default_50_steps():
    # 2 s for one 1024 x 1024 image: 2 / 1048576 / 50
    assert ai_latency_score("text-to-image", 2.0, 1024 * 1024) == pytest.approx(2 / 1048576 / 50)
    assert ai_latency_score("text-to-image", 2.0, 1000, num_inference_steps=4) == 2 / 1000 / 4
    assert ai_latency_score("text-to-image", 2.0, 1000, num_inference_steps=0) == 2 / 1000


def test_sdxl_lightning_steps_from_model_id():
    assert steps_from_model_id("ByteDance/SDXL-Lightning_4step") == 4
    assert steps_from_model_id("ByteDance/SDXL-Lightning") == 8
    lightning = "ByteDance/SDXL-Lightning"
    assert ai_latency_score("text-to-image", 1.6, 100, model_id=lightning) == pytest.approx(0.002)
    assert ai_latency_score("text-to-image", 1.6, 100, num_inference_steps=50,
                            model_id=lightning + "_2step") == pytest.approx(0.008)
    assert ai_latency_score("image-to-image", 1.6, 100, model_id=lightning) == pytest.approx(0.002)


def test_other_pipeline_defaults_from_source():
    assert ai_latency_score("image-to-image", 1.0, 10) == pytest.approx(1 / 10 / 100)
    assert ai_latency_score("image-to-video", 1.0, 10) == pytest.approx(1 / 10 / 25)
    assert ai_latency_score("upscale", 1.0, 10) == pytest.approx(1 / 10 / 75)
    # the Lightning rule is text-to-image and image-to-image only
    assert ai_latency_score("upscale", 1.0, 10, model_id="ByteDance/SDXL-Lightning") == \
        pytest.approx(1 / 10 / 75)


def test_per_unit_scores_and_zero_units():
    assert ai_latency_score("llm", 3.0, 300) == 0.01  # seconds per token
    assert ai_latency_score("audio-to-text", 2.0, 40) == 0.05  # per second of audio
    assert ai_latency_score("text-to-speech", 1.0, 50) == 0.02  # per character
    assert ai_latency_score("llm", 3.0, 0) == 0.0
    assert ai_latency_score("text-to-image", 3.0, 0) == 0.0


# -- pools ----------------------------------------------------------------------------------------

def test_refresh_splits_warm_and_cold_and_skips_unconstrained():
    w, c, none = orch(1, True), orch(2, False), orch(3, None)
    sel = batch(w, c, none)
    assert list(sel.warm.sessions) == [w.uri]
    assert list(sel.cold.sessions) == [c.uri]
    assert sel.initial_pool_size == 2
    assert sel.suspender.refresh_count == 1


def test_warm_before_cold_then_lowest_latency_score():
    w1, w2, c = orch(1, True, 0.3), orch(2, True, 0.1), orch(3, False, 0.01)
    sel = batch(w1, w2, c)
    rng = Rng(0.0)
    assert sel.select(0.0, rng) is w2  # warm first, lowest score
    assert sel.select(0.0, rng) is w1
    # the warm selector is empty: a random in-use warm session (shared) before any cold one
    assert sel.select(0.0, Rng(0.99)) is w1
    assert len(w1.in_flight) == 2


def test_cold_pool_when_no_warm_session():
    c = orch(1, False)
    sel = batch(c)
    assert sel.select(0.0, Rng()) is c


def test_complete_returns_session_only_when_nothing_in_flight():
    w = orch(1, True)
    sel = batch(w)
    rng = Rng(0.0)
    assert sel.select(0.0, rng) is w
    assert sel.select(0.0, rng) is w  # shared in-use session
    sel.complete(w)
    assert sel.warm.selector.size() == 0 and sel.warm.in_use == [w]
    sel.complete(w)
    assert sel.warm.selector.size() == 1 and sel.warm.in_use == []


def test_remove_suspends_for_refresh_count_plus_3_and_skips_on_refresh():
    w, other = orch(1, True), orch(2, True)
    sel = batch(w, other)
    sel.suspender.signal_refresh(5)  # a long-lived selector: count 6
    s = sel.select(0.0, Rng())
    sel.remove(s)
    assert sel.suspender.suspended(s.uri) == 6 + 3
    assert s.uri not in sel.warm.sessions
    # next refreshes (7, 8, 9) still skip it; the 10th takes it back
    for _ in range(3):
        sel.refresh(1.0, [orch(1, True), orch(2, True)])
        assert s.uri not in sel.warm.sessions
    sel.refresh(1.0, [orch(1, True), orch(2, True)])
    assert s.uri in sel.warm.sessions


def test_removed_session_left_in_selector_is_skipped():
    a, b = orch(1, True, 0.1), orch(2, True, 0.2)
    sel = batch(a, b)
    s = sel.select(0.0, Rng())
    sel.complete(s)
    sel.warm.sessions.pop(a.uri)  # gone from the pool but still in the selector's list
    assert sel.select(0.0, Rng()) is b


def test_refresh_updates_existing_session_in_place():
    a = orch(1, True, latency=0.5)
    sel = batch(a)
    again = orch(1, True, latency=0.2)
    again.info = "new info"
    sel.refresh(1.0, [again])
    assert sel.warm.sessions[a.uri] is a
    assert a.info == "new info" and a.initial_latency == 0.2


def test_batch_refresh_threshold_and_ttl():
    sel = batch(*[orch(n) for n in range(10)], now=100.0)
    assert sel.initial_pool_size == 10
    # threshold min(8, ceil(min(10, 10) / 2)) = 5: 10 sessions, no refresh
    assert not sel.wants_refresh(100.0, 10)
    for n in range(6):
        sel.remove(sel.warm.sessions[f"https://o{n}.example:8935"])
    assert sel.wants_refresh(100.0, 10)  # 4 < 5
    assert not sel.wants_refresh(100.0, 6)  # the discovery pool shrank: min(8, ceil(6 / 2)) = 3
    fresh = batch(*[orch(n) for n in range(10)], now=100.0)
    assert not fresh.wants_refresh(700.0, 10)  # TTL 600 s: not after yet
    assert fresh.wants_refresh(700.1, 10)


def test_empty_batch_selector_releases_suspensions_with_3_refreshes():
    a = orch(1, True)
    sel = batch(a)
    sel.remove(sel.select(0.0, Rng()))  # suspended until count 1 + 3 = 4
    assert sel.is_empty()
    sel.wants_refresh(1.0, 1)  # count 1 -> 4
    assert sel.suspender.refresh_count == 4
    sel.refresh(1.0, [orch(1, True)])  # count 5 > 4: back in
    assert a.uri in sel.warm.sessions


def test_live_selector_refreshes_only_when_empty_and_auto_clears():
    sel = AISessionSelector(LIVE_VIDEO_TO_VIDEO, "noop")
    assert sel.live and sel.penalty == 0
    a, b = orch(1, True, latency=0.3), orch(2, True, latency=0.1)
    sel.refresh(0.0, [a, b])
    assert sel.select(0.0, Rng()) is b  # sorted by discovery latency
    assert not sel.wants_refresh(10_000.0, 2)  # no TTL for live
    sel.refresh(1.0, [orch(1, True)])  # b no longer returned: cleared
    assert list(sel.warm.sessions) == [a.uri]
    sel.remove(a)
    assert sel.suspender.suspended(a.uri) == sel.suspender.refresh_count  # penalty 0
    assert sel.wants_refresh(2.0, 2)
    assert sel.suspender.refresh_count == 2 + 5  # 5 refreshes released when empty


def test_failed_discovery_counts_refresh_but_keeps_time():
    sel = batch(orch(1), now=5.0)
    sel.refresh(50.0, [])
    assert sel.suspender.refresh_count == 2
    assert sel.last_refresh == 5.0


def test_manager_keys_and_lazily_creates():
    m = AISessionManager()
    assert selector_key(27, MODEL) == "27_stabilityai/sdxl-turbo"
    sel = m.selector(27, MODEL)
    assert m.selector(27, MODEL) is sel
    assert m.selectors == {"27_stabilityai/sdxl-turbo": sel}
    assert m.selector(LIVE_VIDEO_TO_VIDEO, "noop").live


# -- the retry policy -----------------------------------------------------------------------------

@pytest.mark.parametrize("error, tries, live, action", [
    (None, 1, False, AIErrorAction.COMPLETE),
    ("TicketParams expired", 1, False, AIErrorAction.RETRY_SAME),
    ("ticketparams expired", 2, False, AIErrorAction.RETRY_SAME),
    ("ticketparams expired", 3, False, AIErrorAction.SET_ASIDE),
    ("invalid ticket senderNonce", 1, False, AIErrorAction.SET_ASIDE),
    ("Insufficient capacity", 1, False, AIErrorAction.SET_ASIDE),
    ("insufficient capacity", 1, True, AIErrorAction.REMOVE),
    ("ticketparams expired", 3, True, AIErrorAction.REMOVE),
    ("connection refused", 1, False, AIErrorAction.REMOVE),
    ("runner returned 400 invalid prompt", 1, False, AIErrorAction.BAD_REQUEST),
    ("audio duration calculation failed", 1, False, AIErrorAction.BAD_REQUEST),
])
def test_classify_ai_error(error, tries, live, action):
    assert classify_ai_error(error, tries, live=live) is action


def test_parse_bad_request_error():
    assert str(parse_bad_request_error("POST returned 400 width too large")) == "width too large"
    assert str(parse_bad_request_error("returned 400")) == "bad request"
    assert parse_bad_request_error("returned 500") is None
    err = BadRequestError("x")
    assert parse_bad_request_error(err) is err
    assert str(AIRequestRetry.bad_request("audio duration calculation failed")) == \
        "audio duration calculation failed"


def test_retry_same_o_up_to_three_times_then_set_aside():
    retry = AIRequestRetry(0.0)
    o = orch(1)
    actions = []
    for _ in range(3):
        assert retry.begin_try(0.1)
        actions.append(retry.on_result(o, "ticketparams expired"))
    assert actions == [AIErrorAction.RETRY_SAME, AIErrorAction.RETRY_SAME, AIErrorAction.SET_ASIDE]
    assert retry.finish() == [o]
    assert retry.finish() == []


def test_twenty_tries_then_loop_ends():
    retry = AIRequestRetry(0.0)
    for n in range(20):
        assert retry.begin_try(0.0)
        assert retry.on_result(orch(n), "boom") is AIErrorAction.REMOVE
    assert retry.begin_try(0.0) is False
    assert retry.tries == 20


def test_window_expiry_is_503_with_go_message():
    retry = AIRequestRetry(10.0)
    assert retry.begin_try(11.99)
    with pytest.raises(ServiceUnavailableError,
                       match="^no orchestrators available within 2s timeout$"):
        retry.begin_try(12.0)
    with pytest.raises(ServiceUnavailableError, match="within 500ms timeout"):
        AIRequestRetry(0.0, timeout=0.5).begin_try(1.0)
    with pytest.raises(ServiceUnavailableError, match="within 1m30s timeout"):
        AIRequestRetry(0.0, timeout=90).begin_try(100.0)


def test_select_error_policy():
    assert AIRequestRetry(0.0).on_select_error(orch(1)) is None
    assert AIRequestRetry(0.0, live=True).on_select_error(orch(1)) is AIErrorAction.REMOVE
    assert AIRequestRetry(0.0, live=True).on_select_error(None) is None


def test_full_loop_against_a_selector():
    """One request: a busy O is set aside, a broken one removed, the third succeeds; the set-aside
    one is returned to the pool after the loop."""
    busy, broken, good = orch(1, True, 0.1), orch(2, True, 0.2), orch(3, True, 0.3)
    sel = batch(busy, broken, good)
    outcomes = {busy.uri: "insufficient capacity", broken.uri: "EOF", good.uri: None}
    retry, rng, now = AIRequestRetry(0.0), Rng(), 0.0
    served = None
    while retry.begin_try(now):
        session = sel.select(now, rng)
        if session is None:
            break
        action = retry.on_result(session, outcomes[session.uri])
        if action in (AIErrorAction.COMPLETE, AIErrorAction.RETRY_SAME):
            sel.complete(session)
        elif action in (AIErrorAction.REMOVE, AIErrorAction.BAD_REQUEST):
            sel.remove(session)
        if action is AIErrorAction.COMPLETE:
            served = session
            break
        now += 0.1
    for s in retry.finish():
        sel.complete(s)
    assert served is good
    assert retry.tries == 3
    assert sel.suspender.suspended(broken.uri) == 1 + 3
    assert sel.suspender.suspended(busy.uri) == 0
    assert [s.uri for s in sel.warm.selector.sessions] == [busy.uri, good.uri]
    assert sel.warm.in_use == []
