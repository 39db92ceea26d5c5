"""The gateway's transcoding session pools (go-livepeer server/broadcast.go `SessionPool`,
`BroadcastSessionsManager`, `processSegment`, `isNonRetryableError`, `shouldRefreshSession`;
server/selection.go `MinLSSelector`, `Selector`; server/segment_rpc.go `SubmitSegment` timeouts and
latency score; the fast-verification choice of broadcast.go `chooseResults`; the non-retryable
error list of lpms ffmpeg `NonRetryableErrs`).

Sans-I/O: a pool never discovers, uploads or sleeps. The runtime asks it for a session, pushes an
in-flight marker when it submits, and reports back `complete`, `remove` (suspend + drop) or
`fail(err)`. A pool refresh (GetOrchestrators) is the runtime's job too: `select` raises
`refresh_wanted` when the selector runs low, the runtime calls `begin_refresh` (which counts the
refresh in the suspender and says how many orchestrators to ask for) and hands the new sessions to
`end_refresh`.

How unknown sessions (no latency score yet) are picked is a callable `choose_unknown(sessions)`
returning one of them or None: offchain go takes them in list order (the default, `first`);
on-chain the runtime passes the probability selection of node/core/selection.py over the sessions'
recipients.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from enum import Enum
from itertools import count
from typing import Any, Callable, Iterable, Optional

from .suspension import Suspender, transcoding_penalty

__all__ = [
    "AUTH_TOKEN_VALID_PERIOD",
    "HTTP_TIMEOUT",
    "MAX_REFRESH_SESSIONS_THRESHOLD",
    "MAX_TRANSCODE_ATTEMPTS_ERROR",
    "NON_RETRYABLE_ERRORS",
    "SEG_LEN",
    "SELECTOR_LATENCY_SCORE_THRESHOLD",
    "MinLSSelector",
    "SegmentAction",
    "SegmentAttempts",
    "Session",
    "SessionPool",
    "SortedSelector",
    "TranscodeSessions",
    "auth_token_needs_refresh",
    "first",
    "is_non_retryable_error",
    "latency_score",
    "refresh_threshold",
    "segment_http_timeout",
    "segment_upload_timeout",
    "trusted_num_orchs",
]

SELECTOR_LATENCY_SCORE_THRESHOLD = 1.0  # a session at or under this is "good enough" to keep
MAX_REFRESH_SESSIONS_THRESHOLD = 8
HTTP_TIMEOUT = 8.0  # common.HTTPTimeout, seconds
SEG_LEN = 2.0  # server.SegLen, the nominal segment length the trusted numOrchs is sized for
AUTH_TOKEN_VALID_PERIOD = 30 * 60.0  # server/rpc.go authTokenValidPeriod
AUTH_TOKEN_REFRESH_BUFFER = 0.1  # refresh within the token's last 10 %
MIN_SEGMENT_UPLOAD_TIMEOUT = 2.0
SEG_HTTP_PUSH_TIMEOUT_MULTIPLIER = 4.0
SEG_UPLOAD_TIMEOUT_MULTIPLIER = 0.5

MAX_TRANSCODE_ATTEMPTS_ERROR = "hit max transcode attempts"
# lpms ffmpeg.NonRetryableErrs: LPMS cgo errors, the FFmpeg "not found"/argument errors and the
# transcoder's own; the gateway compares whole error messages (each wrapped cause too).
NON_RETRYABLE_ERRORS = frozenset({
    "Unsupported input pixel format", "Error initializing filtergraph", "Too many outputs",
    "No input configuration", "Unsupported input codec", "No keyframes in input",
    "Unrecoverable state, restart process",
    "Decoder not found", "Demuxer not found", "Encoder not found", "Muxer not found",
    "Option not found", "Invalid argument",
    "TranscoderInvalidResolution", "TranscoderInvalidVideo", "TranscoderUnrecognizedFormat",
    "TranscoderUnrecognizedProfile", "TranscoderInvalidGOP", "TranscoderIncompatibleDevices",
})


# ---------------------------------------------------------------------------------------------
# pure rules


def latency_score(round_trip: float, segment_duration: float) -> float:
    """Seconds for upload + transcode + response per second of video; segments shorter than
    1.5 s count as 1.5 s so short segments do not look slow and cause swaps."""
    return round_trip / max(1.5, segment_duration)


def trusted_num_orchs(trusted_pool_size: int, seg_len: float = SEG_LEN,
                      http_timeout: float = HTTP_TIMEOUT) -> int:
    """How many trusted orchestrators a refresh asks for: min(#trusted, 2 x HTTPTimeout/SegLen),
    8 with go's constants. The untrusted pool asks for all of its orchestrators."""
    return int(min(trusted_pool_size, 2 * http_timeout / seg_len))


def refresh_threshold(num_orchs: int) -> int:
    """A pool refreshes when its selector holds fewer sessions than min(8, ceil(numOrchs/2))."""
    return min(MAX_REFRESH_SESSIONS_THRESHOLD, math.ceil(num_orchs / 2))


def segment_http_timeout(segment_duration: float, timeout_multiplier: int = 0) -> float:
    """Whole segment HTTP call (upload, transcode, response): max(8 s, 4 x duration), times the
    stream's TimeoutMultiplier (an integer in go) when it is above 1."""
    timeout = max(HTTP_TIMEOUT, SEG_HTTP_PUSH_TIMEOUT_MULTIPLIER * segment_duration)
    return timeout * timeout_multiplier if timeout_multiplier > 1 else timeout


def segment_upload_timeout(segment_duration: float, timeout_multiplier: int = 0) -> float:
    """Upload until the orchestrator answers 200: max(2 s, 0.5 x duration), times the multiplier
    when it is above 1."""
    timeout = max(MIN_SEGMENT_UPLOAD_TIMEOUT, SEG_UPLOAD_TIMEOUT_MULTIPLIER * segment_duration)
    return timeout * timeout_multiplier if timeout_multiplier > 1 else timeout


def auth_token_needs_refresh(now: float, expiration: float,
                             valid_period: float = AUTH_TOKEN_VALID_PERIOD) -> bool:
    """True once `now` (unix seconds) is past the token's last 10 %: expiration - 180 s for the
    30-minute token, i.e. 27 minutes after issue. Expired ticket params also force a refresh
    (the runtime checks those with the sender's validation)."""
    return now > expiration - int(valid_period * AUTH_TOKEN_REFRESH_BUFFER)


def _error_chain(err: Any) -> Iterable[str]:
    """Messages of an error and its causes (go's errors.Unwrap walk); a string is one message."""
    seen = 0
    while err is not None and seen < 32:
        yield str(err)
        if not isinstance(err, BaseException):
            return
        err = err.__cause__ or err.__context__
        seen += 1


def is_non_retryable_error(err: Any) -> bool:
    """go's isNonRetryableError: some message in the chain is one of lpms' non-retryable errors,
    or the error is the 'hit max transcode attempts' one (errors.Is; a wrapped message starts
    with it). The gateway then gives up on the segment WITHOUT suspending the orchestrator, and
    the ingest answers 422."""
    for message in _error_chain(err):
        if message in NON_RETRYABLE_ERRORS or message.startswith(MAX_TRANSCODE_ATTEMPTS_ERROR):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# sessions and selectors


@dataclass(eq=False, slots=True)
class Session:
    """One orchestrator as the gateway's pools see it. Identity matters (eq=False), as go compares
    session pointers: a refreshed orchestrator is a new object under the same URI."""

    uri: str  # the orchestrator's transcoder service URI: pool and suspension key
    address: Optional[str] = None  # checksum address of the ticket recipient (on-chain)
    trusted: bool = False  # OrchestratorScore: trusted (1.0) or untrusted (0) pool
    latency_score: float = 0.0  # 0 = unknown (never completed)
    initial_latency: float = 0.0  # seconds the GetOrchestrator call took at discovery
    # (start time, segment duration) per segment in flight, oldest first; AI pools push (now, 0.0)
    in_flight: list = field(default_factory=list)
    warm: Optional[bool] = None  # AI only: the model is warm on this O (None: O lacks the model)
    info: Any = None  # the runtime's OrchestratorInfo (price, ticket params, auth token, ...)


def first(sessions: list) -> Optional[Session]:
    """Offchain choice of an unknown session: list order."""
    return sessions[0] if sessions else None


class SortedSelector:
    """go's `Selector`: one list kept sorted by a session attribute (initial latency, or the
    latency score for batch AI pools); `select` hands the list to `choose` and takes its pick out."""

    __slots__ = ("sessions", "_key", "_choose")

    def __init__(self, key: str = "initial_latency",
                 choose: Callable[[list], Optional[Session]] = first) -> None:
        self.sessions: list = []
        self._key = key
        self._choose = choose

    def _sort(self) -> None:
        key = self._key
        self.sessions.sort(key=lambda s: getattr(s, key))

    def add(self, sessions: Iterable[Session]) -> None:
        self.sessions.extend(sessions)
        self._sort()

    def complete(self, session: Session) -> None:
        self.sessions.append(session)
        self._sort()

    def remove(self, session: Session) -> None:
        _discard(self.sessions, session)

    def select(self) -> Optional[Session]:
        chosen = self._choose(self.sessions) if self.sessions else None
        if chosen is not None:
            _discard(self.sessions, chosen)
        return chosen

    def size(self) -> int:
        return len(self.sessions)

    def clear(self) -> None:
        self.sessions = []


class MinLSSelector:
    """go's `MinLSSelector` (threshold 1.0): completed sessions sit in a min-heap by latency
    score; `select` pops the best one if it is good enough (<= threshold) or if there is no unknown
    session left to try, otherwise it picks an unknown session with `choose_unknown`."""

    __slots__ = ("unknown", "_known", "min_ls", "_choose", "_seq")

    def __init__(self, choose_unknown: Callable[[list], Optional[Session]] = first,
                 min_ls: float = SELECTOR_LATENCY_SCORE_THRESHOLD) -> None:
        self.unknown: list = []  # insertion order
        self._known: list = []  # heap of (latency score, insertion seq, session)
        self.min_ls = min_ls
        self._choose = choose_unknown
        self._seq = count()  # ties pop in completion order (go's heap order is unspecified)

    def add(self, sessions: Iterable[Session]) -> None:
        self.unknown.extend(sessions)

    def complete(self, session: Session) -> None:
        heapq.heappush(self._known, (session.latency_score, next(self._seq), session))

    def remove(self, session: Session) -> None:
        # As go: only the unknown list; a removed known session is skipped by the pool's map check.
        _discard(self.unknown, session)

    def select(self) -> Optional[Session]:
        known = self._known
        if known and (known[0][0] <= self.min_ls or not self.unknown):
            return heapq.heappop(known)[2]
        if not self.unknown:
            return None
        chosen = self._choose(self.unknown)  # None (e.g. all over max price): go returns nil too
        if chosen is not None:
            _discard(self.unknown, chosen)
        return chosen

    def size(self) -> int:
        return len(self.unknown) + len(self._known)

    def clear(self) -> None:
        self.unknown = []
        self._known = []


def _discard(sessions: list, session: Session) -> None:
    for i, s in enumerate(sessions):
        if s is session:
            del sessions[i]
            return


# ---------------------------------------------------------------------------------------------
# one pool (trusted or untrusted)


def _reusable(session: Session, now: float, dur_mult: int) -> bool:
    """go's selectSession rule for a "last session". Idle: reuse if 0 < score <= 1.0. Busy: reuse
    while its oldest in-flight segment is younger than dur_mult x that segment's duration, a
    limit of 1 s or less being raised to 1.5 s (short segments make the target too aggressive)."""
    if not session.in_flight:
        return 0 < session.latency_score <= SELECTOR_LATENCY_SCORE_THRESHOLD
    start, duration = session.in_flight[0]
    limit = dur_mult * duration
    if limit <= 1.0:
        limit = 1.5
    return now - start < limit


class SessionPool:
    """go's `SessionPool`: the sessions of one trust level of one stream."""

    __slots__ = ("pool_size", "num_orchs", "suspender", "selector", "sessions", "last",
                 "refreshing", "refresh_wanted", "finished", "swaps")

    def __init__(self, pool_size: int, num_orchs: int, *,
                 choose_unknown: Callable[[list], Optional[Session]] = first,
                 suspender: Optional[Suspender] = None, selector: Any = None) -> None:
        self.pool_size = pool_size  # orchestrators of this trust level in the discovery pool
        self.num_orchs = num_orchs  # how many a refresh asks for
        self.suspender = suspender if suspender is not None else Suspender()
        self.selector = selector if selector is not None else MinLSSelector(choose_unknown)
        self.sessions: dict[str, Session] = {}  # go's sessMap: URI -> live session
        self.last: list = []  # the sessions chosen last time, candidates for reuse
        self.refreshing = False
        self.refresh_wanted = False  # set by select when the selector ran low; runtime clears it
        self.finished = False
        self.swaps = 0  # go's orchestrator_swaps metric

    # -- refresh --------------------------------------------------------------------------------

    def needs_refresh(self) -> bool:
        return self.selector.size() < refresh_threshold(self.num_orchs)

    def begin_refresh(self) -> Optional[int]:
        """Start a refresh: None if one is in flight or the stream ended, else the number of
        orchestrators to request from discovery. Counts the refresh in the suspender."""
        self.refresh_wanted = False
        if self.finished or self.refreshing:
            return None
        self.refreshing = True
        self.suspender.signal_refresh()
        return self.num_orchs

    def end_refresh(self, new_sessions: Iterable[Session] = ()) -> list:
        """Finish a refresh (also after a failed one, with nothing): sessions for URIs not yet in
        the pool join the selector as unknown; returns the ones added."""
        self.refreshing = False
        if self.finished:
            return []
        added = []
        for session in new_sessions:
            if session.uri not in self.sessions:
                self.sessions[session.uri] = session
                added.append(session)
        if added:
            self.selector.add(added)
        return added

    # -- selection ------------------------------------------------------------------------------

    def _select_last(self, now: float, exclude: list, dur_mult: int) -> Optional[Session]:
        for session in self.last:
            if session not in exclude and _reusable(session, now, dur_mult):
                return session
        return None

    def select(self, now: float, count: int = 1) -> list:
        """go's selectSessions: up to `count` distinct sessions. Per pick: a last session reusable
        with durMult 1, else the selector, else a last session reusable with durMult 2. A pick
        whose URI has left the pool is skipped (a stale last session is forgotten and counted as a
        swap). Leaving a last session for another orchestrator counts a swap."""
        if self.pool_size == 0:
            return []
        threshold = refresh_threshold(self.num_orchs)
        selected: list = []
        while True:
            size = self.selector.size()
            if size < threshold and not self.refreshing and not self.finished:
                self.refresh_wanted = True
            if size == 0 and not self.last:
                break
            from_last = True
            session = self._select_last(now, selected, 1)
            if session is None:
                session = self.selector.select()
                from_last = False
                if session is None:
                    session = self._select_last(now, selected, 2)
                    from_last = session is not None
            if session is None:
                break
            if session.uri in self.sessions:  # go checks the URI only, not the object
                selected.append(session)
                if len(selected) == count:
                    break
            elif from_last:
                session.in_flight.clear()
                self.last = [s for s in self.last if s is not session]
                self.swaps += 1
        if not selected:
            self.last = []
        else:
            self.swaps += sum(1 for s in self.last if s not in selected)
            self.last = selected[:]
        return selected

    # -- outcomes -------------------------------------------------------------------------------

    @staticmethod
    def push_in_flight(session: Session, now: float, segment_duration: float) -> None:
        """Mark a segment submitted to `session` (go pushes it after the upload is prepared)."""
        session.in_flight.append((now, segment_duration))

    def complete(self, session: Session, latency_score: Optional[float] = None) -> None:
        """A segment finished on `session` (with its new latency score when it succeeded). Pops
        one in-flight marker; while others remain the session stays out. A good session
        (0 < score <= 1.0) is kept only as a last session for reuse; any other goes back to the
        selector's known heap. A session replaced in the pool meanwhile is ignored."""
        if latency_score is not None:
            session.latency_score = latency_score
        if self.sessions.get(session.uri) is not session:
            return
        if len(session.in_flight) > 1:
            del session.in_flight[0]
            return
        session.in_flight.clear()
        if 0 < session.latency_score <= SELECTOR_LATENCY_SCORE_THRESHOLD:
            return
        self.selector.complete(session)

    def suspend(self, uri: str) -> None:
        self.suspender.suspend(uri, transcoding_penalty(self.pool_size, self.num_orchs))

    def drop(self, session: Session) -> None:
        """Remove the session's URI from the pool without suspending it (go's removeSession, as
        after a retryable local-verification failure). As go, by URI: a newer session for the
        same orchestrator goes too. The runtime cleans up its PM session."""
        self.sessions.pop(session.uri, None)

    def remove(self, session: Session) -> None:
        """go's suspendAndRemoveOrch for this pool: suspend the URI and drop the session."""
        self.suspend(session.uri)
        self.drop(session)

    def cleanup(self) -> None:
        """Stream ended: forget everything; a refresh in flight is discarded when it ends."""
        self.finished = True
        self.last = []
        self.selector.clear()
        self.sessions = {}


# ---------------------------------------------------------------------------------------------
# the stream's two pools


class SegmentAction(Enum):
    DONE = "done"  # success: stop
    RETRY = "retry"  # retryable failure within the budget: select another session and resubmit
    GIVE_UP = "give_up"  # non-retryable, cancelled, or budget spent: the segment fails
    STOP_STREAM = "stop_stream"  # sender validation failed (go's shouldStopStream): close stream


class SegmentAttempts:
    """The per-segment attempt budget of go's processSegment (`-maxAttempts`, default 3). The
    session side of a failure (suspend+remove or complete) is `TranscodeSessions.fail`; this only
    says whether to try again. When the last allowed attempt fails, `error` becomes
    "hit max transcode attempts: <err>" (itself non-retryable, so the ingest answers 422)."""

    __slots__ = ("max_attempts", "attempts", "error")

    def __init__(self, max_attempts: int = 3) -> None:
        self.max_attempts = max_attempts
        self.attempts = 0
        self.error: Any = None

    def record(self, error: Any = None, *, stop_stream: bool = False,
               cancelled: bool = False) -> SegmentAction:
        """Record one attempt's outcome (error None = success) and say what to do next."""
        self.attempts += 1
        self.error = error
        if error is None:
            return SegmentAction.DONE
        if self.attempts >= self.max_attempts:
            self.error = f"{MAX_TRANSCODE_ATTEMPTS_ERROR}: {error}"
        if stop_stream:
            return SegmentAction.STOP_STREAM
        if cancelled or is_non_retryable_error(error) or self.attempts >= self.max_attempts:
            return SegmentAction.GIVE_UP
        return SegmentAction.RETRY


class TranscodeSessions:
    """go's `BroadcastSessionsManager`: a trusted and an untrusted pool with separate suspenders.
    Without verification a segment goes to the untrusted pool first, then the trusted one."""

    __slots__ = ("trusted", "untrusted", "verification_freq", "verified")

    def __init__(self, trusted_pool_size: int, untrusted_pool_size: int, *,
                 choose_unknown: Callable[[list], Optional[Session]] = first,
                 verification_freq: int = 0, seg_len: float = SEG_LEN,
                 offset_suspensions: bool = False) -> None:
        def pool(size: int, num_orchs: int) -> SessionPool:
            return SessionPool(size, num_orchs, choose_unknown=choose_unknown,
                               suspender=Suspender(offset_suspensions))

        self.trusted = pool(trusted_pool_size, trusted_num_orchs(trusted_pool_size, seg_len))
        self.untrusted = pool(untrusted_pool_size, untrusted_pool_size)
        self.verification_freq = verification_freq
        self.verified: Optional[Session] = None  # untrusted session that passed fast verification

    def pool_of(self, session: Session) -> SessionPool:
        return self.trusted if session.trusted else self.untrusted

    def select(self, now: float) -> Optional[Session]:
        """One session for a segment (no verification), or None: the segment goes out untranscoded."""
        sessions = self.untrusted.select(now) or self.trusted.select(now)
        return sessions[0] if sessions else None

    def select_for_verification(self, now: float, rng: Any) -> tuple[list, bool]:
        """Verification mode: 1 trusted + 2 untrusted sessions. If the verified session is among
        them, with probability 1 - 1/freq use only it (returns ([it], True)) and complete the rest."""
        sessions = self.trusted.select(now, 1) + self.untrusted.select(now, 2)
        verified = self.verified
        if verified is not None and verified in sessions:
            if int(rng.random() * self.verification_freq) != 0:
                for session in sessions:
                    if session is not verified:
                        self.complete(session)
                return [verified], True
        elif verified is not None:
            self.verified = None
        return sessions, False

    def complete(self, session: Session, latency_score: Optional[float] = None) -> None:
        self.pool_of(session).complete(session, latency_score)

    def remove(self, session: Session) -> None:
        """Suspend the orchestrator in its pool's suspender and drop it."""
        self.pool_of(session).remove(session)

    def drop(self, session: Session) -> None:
        self.pool_of(session).drop(session)

    def fail(self, session: Session, error: Any) -> bool:
        """A submission to `session` failed. Non-retryable errors complete the session (it stays
        usable, no suspension); any other error suspends and removes it. Returns whether the
        segment may be retried (the budget is SegmentAttempts')."""
        if is_non_retryable_error(error):
            self.complete(session)
            return False
        self.remove(session)
        return True

    def choose_verified(self, trusted: Optional[Session], untrusted: list) -> Optional[Session]:
        """Fast verification (go's chooseResults), given the successful results as sessions:
        `trusted`, and `untrusted` as (session, matched) pairs in result order, matched meaning
        perceptual hash AND decoded video equal to the trusted rendition. No trusted result: the
        first untrusted one is used unchecked. Otherwise the first matching untrusted session is
        used and becomes the verified session, and the non-matching ones before it are suspended
        and removed; if none matches the trusted result is used and nobody is suspended. (Spec
        §8.3 says non-matching untrusted Os are suspended; the source suspends them only when a
        later untrusted result matches, and the source wins.)"""
        if trusted is None:
            return untrusted[0][0] if untrusted else None
        # go puts the previously verified session's result first
        ordered = sorted(untrusted, key=lambda pair: pair[0] is not self.verified)
        mismatched = []
        for session, matched in ordered:
            if matched:
                self.verified = session
                for bad in mismatched:
                    self.remove(bad)
                return session
            mismatched.append(session)
        return trusted

    def cleanup(self) -> None:
        self.trusted.cleanup()
        self.untrusted.cleanup()
