"""The gateway's AI session selection and request retry policy (go-livepeer server/ai_session.go
`AISessionPool`, `AISessionSelector`, `AISessionManager`; server/ai_process.go `processAIRequest`,
the `Calculate*LatencyScore` functions, `parseBadRequestError`; core/ai.go
`ParseStepsFromModelID`).

Per "<capId>_<modelId>" key a selector holds a WARM pool (Os with the model loaded) and a COLD pool
sharing one suspender. Sans-I/O as node/core/sessions.py: the runtime asks `wants_refresh`, runs
discovery itself and hands the sessions to `refresh`, then `select`s; after submitting it reports
through `AIRequestRetry`, which says what to do with the session and whether to try again.

Sessions are node.core.sessions.Session objects whose `warm` field carries the orchestrator's
model constraint for this key: True (warm), False (cold) or None (no constraint: skipped).
"""
from __future__ import annotations

import math
import re
from enum import Enum
from typing import Any, Callable, Iterable, Optional

from .sessions import MAX_REFRESH_SESSIONS_THRESHOLD, Session, SortedSelector, first
from .suspension import Suspender

__all__ = [
    "AI_PROCESSING_RETRY_TIMEOUT",
    "AI_SESSION_TTL",
    "LIVE_REFRESH_INTERVAL",
    "LIVE_VIDEO_TO_VIDEO",
    "AIErrorAction",
    "AIRequestRetry",
    "AISessionManager",
    "AISessionPool",
    "AISessionSelector",
    "BadRequestError",
    "ServiceUnavailableError",
    "ai_latency_score",
    "classify_ai_error",
    "parse_bad_request_error",
    "selector_key",
    "steps_from_model_id",
]

LIVE_VIDEO_TO_VIDEO = 35  # capability id (core.Capability_LiveVideoToVideo)
AI_SESSION_TTL = 600.0  # server.AISessionManagerTTL: batch pools refresh after 10 minutes
LIVE_REFRESH_INTERVAL = 360.0  # live pools' periodic refresh (the runtime's timer)
BATCH_PENALTY = 3  # refreshes a failing O stays out of a batch pool
LIVE_PENALTY = 0
LIVE_EMPTY_RELEASE = 5  # aiLiveVideoToVideoPenalty: refreshes signalled when live pools are empty
POOL_SELECT_MAX_TRIES = 20
AI_PROCESSING_RETRY_TIMEOUT = 2.0  # -aiProcessingRetryTimeout
MAX_TRIES = 20
MAX_SAME_SESSION_TRIES = 3

NO_ORCHESTRATORS = "no orchestrators available"
AUDIO_DURATION_ERROR = "audio duration calculation failed"  # common.ErrAudioDurationCalculation


def selector_key(cap: int, model_id: str) -> str:
    return f"{cap}_{model_id}"


# ---------------------------------------------------------------------------------------------
# latency scores

# Default denoising steps per pipeline when the request gives none. The spec (§3.7) names only
# text-to-image's 50; the source also divides image-to-image (100), image-to-video (25) and
# upscale (75) by steps, and the source wins.
DEFAULT_INFERENCE_STEPS = {"text-to-image": 50, "image-to-image": 100, "image-to-video": 25,
                           "upscale": 75}
SDXL_LIGHTNING_PREFIX = "ByteDance/SDXL-Lightning"  # steps come from the model id (t2i and i2i)
_SDXL_LIGHTNING_PIPELINES = ("text-to-image", "image-to-image")
_STEP_SUFFIX = re.compile(r"_(\d+)step")


def steps_from_model_id(model_id: str, default: float = 8) -> float:
    """Steps from a "_<N>step" part of the model id (e.g. "ByteDance/SDXL-Lightning-4step" has
    none, "..._4step" has 4), else `default`."""
    match = _STEP_SUFFIX.search(model_id)
    return float(match.group(1)) if match else default


def ai_latency_score(pipeline: str, seconds: float, units: float, *,
                     num_inference_steps: Optional[int] = None, model_id: str = "") -> float:
    """Seconds per output unit (and per denoising step for the diffusion pipelines): pixels for
    images and video, tokens for llm, seconds of audio for audio-to-text, characters for
    text-to-speech. 0 when there are no units."""
    if units <= 0:
        return 0.0
    default_steps = DEFAULT_INFERENCE_STEPS.get(pipeline)
    if default_steps is None:
        return seconds / units
    steps = float(default_steps if num_inference_steps is None else max(1, num_inference_steps))
    if pipeline in _SDXL_LIGHTNING_PIPELINES and model_id.startswith(SDXL_LIGHTNING_PREFIX):
        steps = max(1.0, steps_from_model_id(model_id, 8))
    return seconds / units / steps


# ---------------------------------------------------------------------------------------------
# pools


class AISessionPool:
    """One warm or cold pool: a sorted selector, the live sessions by URI, and the sessions in use
    (handed out and not yet completed), which are shared at random when the selector is empty."""

    __slots__ = ("selector", "sessions", "in_use", "suspender", "penalty")

    def __init__(self, selector: SortedSelector, suspender: Suspender, penalty: int) -> None:
        self.selector = selector
        self.sessions: dict[str, Session] = {}
        self.in_use: list = []
        self.suspender = suspender
        self.penalty = penalty

    def select(self, now: float, rng: Any) -> Optional[Session]:
        """The selector's pick (now in use), else a random in-use session (requests may share an
        O); sessions no longer in the pool are skipped, up to 20 tries. Pushes an in-flight marker."""
        for _ in range(POOL_SELECT_MAX_TRIES):
            session = self.selector.select()
            if session is None:
                if not self.in_use:
                    return None
                session = self.in_use[int(rng.random() * len(self.in_use))]
            else:
                self.in_use.append(session)
            if session.uri not in self.sessions:
                continue
            session.in_flight.append((now, 0.0))
            return session
        return None

    def complete(self, session: Session) -> None:
        """Pop one in-flight marker; when none remain, the session returns to the selector."""
        if self.sessions.get(session.uri) is not session:
            return
        if session.in_flight:
            del session.in_flight[0]
            if session.in_flight:
                return
        _discard(self.in_use, session)
        self.selector.complete(session)

    def add(self, sessions: Iterable[Session]) -> None:
        """New URIs join the selector; a known URI keeps its session object, refreshed with the new
        orchestrator info, address and discovery latency."""
        added = []
        for session in sessions:
            existing = self.sessions.get(session.uri)
            if existing is not None:
                existing.info = session.info
                existing.address = session.address
                existing.initial_latency = session.initial_latency
                continue
            self.sessions[session.uri] = session
            added.append(session)
        self.selector.add(added)

    def clear(self, keep: Iterable[Session]) -> None:
        """Live pools: forget every URI that discovery no longer returned."""
        keep_uris = {s.uri for s in keep}
        for uri in [u for u in self.sessions if u not in keep_uris]:
            session = self.sessions.pop(uri)
            self.selector.remove(session)
            _discard(self.in_use, session)

    def remove(self, session: Session) -> None:
        """Drop the URI and suspend it until refresh_count + penalty (the suspender offsets)."""
        self.sessions.pop(session.uri, None)
        _discard(self.in_use, session)
        self.suspender.suspend(session.uri, self.penalty)

    def size(self) -> int:
        return len(self.sessions)


def _discard(sessions: list, session: Session) -> None:
    for i, s in enumerate(sessions):
        if s is session:
            del sessions[i]
            return


class AISessionSelector:
    """The warm and cold pools of one "<capId>_<modelId>". Batch pools sort by latency score and
    suspend failing Os for 3 refreshes; live-video-to-video pools sort by discovery latency, use no
    penalty and drop Os discovery stops returning."""

    __slots__ = ("cap", "model_id", "live", "ttl", "suspender", "penalty", "warm", "cold",
                 "initial_pool_size", "last_refresh")

    def __init__(self, cap: int, model_id: str, *, ttl: float = AI_SESSION_TTL,
                 choose: Callable[[list], Optional[Session]] = first) -> None:
        self.cap = cap
        self.model_id = model_id
        self.live = cap == LIVE_VIDEO_TO_VIDEO
        self.ttl = ttl
        # AI pools offset suspensions by the refresh count (spec §12 quirk 1: they are right).
        self.suspender = Suspender(offset_by_refresh_count=True)
        self.penalty = LIVE_PENALTY if self.live else BATCH_PENALTY
        key = "initial_latency" if self.live else "latency_score"
        self.warm = AISessionPool(SortedSelector(key, choose), self.suspender, self.penalty)
        self.cold = AISessionPool(SortedSelector(key, choose), self.suspender, self.penalty)
        self.initial_pool_size = 0
        self.last_refresh: Optional[float] = None  # None: never refreshed (go refreshes at creation)

    def is_empty(self) -> bool:
        return not self.warm.sessions and not self.cold.sessions

    def wants_refresh(self, now: float, discovery_pool_size: int) -> bool:
        """go's shouldRefreshSelector, called before each selection. If both pools are empty it
        first signals 3 (batch) or 5 (live) refreshes so every suspension lapses. Live: refresh only
        when empty (plus the runtime's periodic refresh). Batch: refresh when warm + cold <
        min(8, ceil(min(discovery pool size, initial pool size) / 2)) or the TTL has passed."""
        if self.last_refresh is None:
            return True
        if self.is_empty():
            self.suspender.signal_refresh(LIVE_EMPTY_RELEASE if self.live else self.penalty)
            if self.live:
                return True
        elif self.live:
            return False
        size = len(self.warm.sessions) + len(self.cold.sessions)
        discovery = min(discovery_pool_size, self.initial_pool_size)
        if size < min(MAX_REFRESH_SESSIONS_THRESHOLD, math.ceil(discovery / 2)):
            return True
        return now > self.last_refresh + self.ttl

    def refresh(self, now: float, sessions: Optional[Iterable[Session]]) -> None:
        """A discovery round (go asks every pool orchestrator for this capability and model, warm
        or not). Counts the refresh, skips suspended Os and those without the model, and splits
        the rest by their warm flag. Nothing found (None or empty) is go's errNoOrchs: the refresh
        is counted but the pool size and refresh time stay."""
        self.suspender.signal_refresh()
        found = list(sessions or ())
        if not found:
            return
        warm, cold = [], []
        for session in found:
            # go checks the capability constraint before the suspension and the model after it;
            # both are folded into warm=None here, so a lapsed entry may be purged a check earlier.
            if self.suspender.suspended(session.uri) > 0 or session.warm is None:
                continue
            (warm if session.warm else cold).append(session)
        self.warm.add(warm)
        self.cold.add(cold)
        if self.live:
            self.warm.clear(warm)
            self.cold.clear(cold)
        self.initial_pool_size = len(warm) + len(cold) + len(self.suspender)
        self.last_refresh = now

    def select(self, now: float, rng: Any) -> Optional[Session]:
        """Warm pool first, then cold."""
        session = self.warm.select(now, rng)
        return session if session is not None else self.cold.select(now, rng)

    def _pool_of(self, session: Session) -> AISessionPool:
        if self.warm.sessions.get(session.uri) is session:
            return self.warm
        if self.cold.sessions.get(session.uri) is session:
            return self.cold
        return self.warm if session.warm else self.cold

    def complete(self, session: Session) -> None:
        self._pool_of(session).complete(session)

    def remove(self, session: Session) -> None:
        self._pool_of(session).remove(session)


class AISessionManager:
    """Selectors by "<capId>_<modelId>", created on first use (then `wants_refresh` is True)."""

    __slots__ = ("selectors", "ttl", "choose", "choose_live")

    def __init__(self, *, ttl: float = AI_SESSION_TTL,
                 choose: Callable[[list], Optional[Session]] = first,
                 choose_live: Callable[[list], Optional[Session]] = first) -> None:
        self.selectors: dict[str, AISessionSelector] = {}
        self.ttl = ttl
        self.choose = choose  # batch: lowest latency score offchain, probability sampling on-chain
        self.choose_live = choose_live  # live: first under the max price

    def selector(self, cap: int, model_id: str) -> AISessionSelector:
        key = selector_key(cap, model_id)
        sel = self.selectors.get(key)
        if sel is None:
            choose = self.choose_live if cap == LIVE_VIDEO_TO_VIDEO else self.choose
            sel = self.selectors[key] = AISessionSelector(cap, model_id, ttl=self.ttl,
                                                          choose=choose)
        return sel


# ---------------------------------------------------------------------------------------------
# the request retry loop


class ServiceUnavailableError(Exception):
    """HTTP 503 to the client."""


class BadRequestError(Exception):
    """HTTP 400 to the client."""


def _go_duration(seconds: float) -> str:
    """Go's time.Duration formatting for the common cases: 2s, 1.5s, 500ms, 1m30s."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms" if seconds else "0s"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    out = f"{secs:g}s"
    if minutes or hours:
        out = f"{minutes}m" + out
    if hours:
        out = f"{hours}h" + out
    return out


# The runner refused the request itself: go matches "returned 400" only, so a runner's 422 (a
# field of the wrong type) or 413 made it suspend the orchestrator and try every other one.
_REQUEST_REFUSED = re.compile(r"returned (?:400|413|415|422)\b")


def parse_bad_request_error(error: Any) -> Optional[BadRequestError]:
    """go's parseBadRequestError: an error whose text contains "returned 400" (here also 413, 415
    and 422) becomes a 400 with the text after it (trimmed; "bad request" if empty). A
    BadRequestError is passed through."""
    if error is None:
        return None
    if isinstance(error, BadRequestError):
        return error
    match = _REQUEST_REFUSED.search(str(error))
    if match is None:
        return None
    return BadRequestError(str(error)[match.end():].lstrip(": ").strip() or "bad request")


def _contains(error: Any, *needles: str) -> bool:
    text = str(error).lower()
    return any(n in text for n in needles)


class AIErrorAction(Enum):
    COMPLETE = "complete"  # success: complete the session, stop
    RETRY_SAME = "retry_same"  # complete the session and try again (the same O may come back)
    SET_ASIDE = "set_aside"  # keep it out of this request; `finish` returns it for completion
    REMOVE = "remove"  # remove (suspend) it and try another
    BAD_REQUEST = "bad_request"  # answer 400 now; the O is completed, not suspended (go suspends it)


def classify_ai_error(error: Any, same_session_tries: int, *, live: bool = False) -> AIErrorAction:
    """What processAIRequest does after a failed submission to an O tried `same_session_tries`
    times in this request (this try included). Matching is case-insensitive."""
    if error is None:
        return AIErrorAction.COMPLETE
    expired = _contains(error, "ticketparams expired")
    if expired and same_session_tries < MAX_SAME_SESSION_TRIES:
        return AIErrorAction.RETRY_SAME
    if expired or _contains(error, "invalid ticket sendernonce", "insufficient capacity"):
        return AIErrorAction.REMOVE if live else AIErrorAction.SET_ASIDE
    if _contains(error, AUDIO_DURATION_ERROR) or parse_bad_request_error(error) is not None:
        return AIErrorAction.BAD_REQUEST
    return AIErrorAction.REMOVE


class AIRequestRetry:
    """The bookkeeping of one processAIRequest loop: a 2 s window (checked before each try, not
    during a submission) and at most 20 tries. The runtime drives it:

        retry = AIRequestRetry(now, live=...)
        while retry.begin_try(now):            # raises ServiceUnavailableError past the window
            if sel.wants_refresh(now, n): sel.refresh(now, discover())
            session = sel.select(now, rng)      # (a session-refresh error just uses up the try)
            if session is None: break
            action = retry.on_result(session, submit(session))
            ... COMPLETE/RETRY_SAME/BAD_REQUEST: sel.complete; REMOVE: sel.remove;
            ... COMPLETE: break; BAD_REQUEST: raise retry.bad_request(error)
        for s in retry.finish(): sel.complete(s)
        if not succeeded: raise ServiceUnavailableError(NO_ORCHESTRATORS)

    As in go, the set-aside sessions are only given back on the normal exits (not on the 503 of
    the window or on a 400), so they stay in use until another request completes them.
    """

    __slots__ = ("deadline", "timeout", "max_tries", "live", "tries", "session_tries",
                 "set_aside")

    def __init__(self, started: float, *, timeout: float = AI_PROCESSING_RETRY_TIMEOUT,
                 max_tries: int = MAX_TRIES, live: bool = False) -> None:
        self.timeout = timeout
        self.deadline = started + timeout
        self.max_tries = max_tries
        self.live = live
        self.tries = 0
        self.session_tries: dict[str, int] = {}
        self.set_aside: list = []

    def begin_try(self, now: float) -> bool:
        """False once the tries are used up (leave the loop normally); raises
        ServiceUnavailableError("no orchestrators available within 2s timeout") past the window."""
        if self.tries >= self.max_tries:
            return False
        if now >= self.deadline:
            raise ServiceUnavailableError(
                f"{NO_ORCHESTRATORS} within {_go_duration(self.timeout)} timeout")
        self.tries += 1
        return True

    def on_result(self, session: Session, error: Any = None) -> AIErrorAction:
        """Classify a submission's outcome (error None = success); a set-aside session is kept
        for `finish`. The caller applies COMPLETE/RETRY_SAME/BAD_REQUEST (complete) and REMOVE
        (remove, i.e. suspend)."""
        tried = self.session_tries.get(session.uri, 0) + 1
        self.session_tries[session.uri] = tried
        action = classify_ai_error(error, tried, live=self.live)
        if action is AIErrorAction.SET_ASIDE:
            self.set_aside.append(session)
        return action

    def on_select_error(self, session: Optional[Session]) -> Optional[AIErrorAction]:
        """Selecting failed after a session was picked (its auth/ticket refresh failed): the try is
        spent; live pools remove that session (REMOVE); batch pools leave it as it is (None: go
        neither completes nor removes it) and try again."""
        return AIErrorAction.REMOVE if self.live and session is not None else None

    @staticmethod
    def bad_request(error: Any) -> BadRequestError:
        """The 400 to answer for a BAD_REQUEST outcome: audio-duration errors as they are, else
        the text after "returned 400"."""
        parsed = parse_bad_request_error(error)
        return parsed if parsed is not None else BadRequestError(str(error))

    def finish(self) -> list:
        """The set-aside sessions, to complete now that the loop is over."""
        sessions, self.set_aside = self.set_aside, []
        return sessions
