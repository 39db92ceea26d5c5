"""The per-segment / per-request job state machine (issue 4, "The job state machine"; spec §19),
with the recoveries go-livepeer applies: server/broadcast.go `processSegment` / `transcodeSegment`
(attempt budget, suspend-and-swap), server/ai_process.go (AI retries), verification/verify.go and
`chooseResults` (mismatch ⇒ the O is dropped), eth/transactionManager.go (stuck transaction ⇒
replacement at a bumped gas price).

    Idle → Ingesting → Discovering → SessionEstablished → SegmentDispatch → Executing → Returning
         → Verifying → Publishing → Settling → Done
    Ingesting → SessionEstablished            (the stream's pool already holds a session)
    compute failure (dispatch, execution or download) → Retry → SegmentDispatch
                                                while attempts since the last swap < max_attempts,
                                             → SwapOrchestrator → Discovering   once spent
    Verifying --verification mismatch--> SwapOrchestrator (immediately, no retry)
    no suitable orchestrator (Discovering, or no session left on Retry) → Failed
    reserve drained (any state holding a session) → Drained → Failed (the session ends)
    non-retryable error or cancellation (go gives up on the segment) → Failed
    Publishing ⇄ RoundReward                  (a round began while publishing: the O's reward call,
                                               beside the job's path, which then resumes)
    Settling --redemption tx stuck--> Settling (replace the tx: `replacement_gas_price`)

In go terms a Retry re-selects from the pool, where sessions.py has already suspended and removed
the failing O, so a retry usually lands on another O; a swap is a pool refresh. go itself gives up
on a segment after `-maxAttempts` (3); a runtime that wants exactly that passes `max_swaps=0`,
which turns the exhausted budget into Failed instead of a swap.

Every `fire` returns a `Transition` (state, event, next state, time, reason) and appends it to
`history` unless the job was made with `record=False`; a simulator creating ~10^5 jobs can count
the returned transitions instead.
"""
from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, Optional

__all__ = [
    "GETH_MIN_PRICE_BUMP",
    "PRICE_BUMP",
    "TERMINAL",
    "TRANSITIONS",
    "Event",
    "IllegalTransition",
    "Job",
    "State",
    "Transition",
    "replacement_gas_price",
]


class State(IntEnum):
    IDLE = 0
    INGESTING = 1
    DISCOVERING = 2
    SESSION_ESTABLISHED = 3
    SEGMENT_DISPATCH = 4
    EXECUTING = 5
    RETURNING = 6
    VERIFYING = 7
    PUBLISHING = 8
    SETTLING = 9
    DONE = 10
    RETRY = 11
    SWAP_ORCHESTRATOR = 12
    DRAINED = 13
    FAILED = 14
    ROUND_REWARD = 15


class Event(IntEnum):
    INGEST = 0  # a segment / request arrived
    DISCOVER = 1  # the pool needs orchestrators
    SESSION_READY = 2  # a session (O, auth token, ticket params) is at hand
    DISPATCH = 3  # paying for and uploading the segment
    SUBMITTED = 4  # the O accepted the upload and is computing
    RESULT = 5  # the O answered with results
    RECEIVED = 6  # results downloaded
    VERIFIED = 7  # verification passed (fired at once when verification is off)
    PUBLISHED = 8  # renditions in the playlist / response sent
    SETTLED = 9  # balance updated, winning tickets queued
    COMPUTE_FAILED = 10  # retryable failure: upload, transcode, download (guarded: Retry or swap)
    REDISPATCH = 11  # Retry found a session for the same segment
    REDISCOVER = 12  # the swap starts a pool refresh
    VERIFICATION_FAILED = 13  # results did not match
    NO_ORCHESTRATOR = 14  # nobody suitable
    RESERVE_DRAINED = 15  # the gateway's deposit/reserve cannot pay
    SESSION_ENDED = 16  # the drained session is closed
    GIVE_UP = 17  # non-retryable error or cancellation
    ROUND_STARTED = 18
    REWARD_DONE = 19
    REDEMPTION_STUCK = 20  # a redemption transaction timed out unmined


TERMINAL = frozenset({State.DONE, State.FAILED})

_S, _E = State, Event
# (state, event) -> possible next states; two only for the guarded COMPUTE_FAILED.
_GUARDED = (_S.RETRY, _S.SWAP_ORCHESTRATOR, _S.FAILED)
TRANSITIONS: dict = {
    (_S.IDLE, _E.INGEST): (_S.INGESTING,),
    (_S.INGESTING, _E.DISCOVER): (_S.DISCOVERING,),
    (_S.INGESTING, _E.SESSION_READY): (_S.SESSION_ESTABLISHED,),
    (_S.DISCOVERING, _E.SESSION_READY): (_S.SESSION_ESTABLISHED,),
    (_S.DISCOVERING, _E.NO_ORCHESTRATOR): (_S.FAILED,),
    (_S.SESSION_ESTABLISHED, _E.DISPATCH): (_S.SEGMENT_DISPATCH,),
    (_S.SEGMENT_DISPATCH, _E.SUBMITTED): (_S.EXECUTING,),
    (_S.EXECUTING, _E.RESULT): (_S.RETURNING,),
    (_S.RETURNING, _E.RECEIVED): (_S.VERIFYING,),
    (_S.VERIFYING, _E.VERIFIED): (_S.PUBLISHING,),
    (_S.VERIFYING, _E.VERIFICATION_FAILED): (_S.SWAP_ORCHESTRATOR, _S.FAILED),
    (_S.PUBLISHING, _E.PUBLISHED): (_S.SETTLING,),
    (_S.PUBLISHING, _E.ROUND_STARTED): (_S.ROUND_REWARD,),
    (_S.ROUND_REWARD, _E.REWARD_DONE): (_S.PUBLISHING,),
    (_S.SETTLING, _E.SETTLED): (_S.DONE,),
    (_S.SETTLING, _E.REDEMPTION_STUCK): (_S.SETTLING,),
    (_S.RETRY, _E.REDISPATCH): (_S.SEGMENT_DISPATCH,),
    (_S.RETRY, _E.NO_ORCHESTRATOR): (_S.FAILED,),
    (_S.SWAP_ORCHESTRATOR, _E.REDISCOVER): (_S.DISCOVERING,),
    (_S.DRAINED, _E.SESSION_ENDED): (_S.FAILED,),
}
for _s in (_S.SEGMENT_DISPATCH, _S.EXECUTING, _S.RETURNING):
    TRANSITIONS[(_s, _E.COMPUTE_FAILED)] = _GUARDED
for _s in (_S.SESSION_ESTABLISHED, _S.SEGMENT_DISPATCH, _S.EXECUTING, _S.RETURNING,
           _S.VERIFYING, _S.PUBLISHING, _S.SETTLING, _S.RETRY):
    TRANSITIONS[(_s, _E.RESERVE_DRAINED)] = (_S.DRAINED,)
for _s in (_S.INGESTING, _S.DISCOVERING, _S.SESSION_ESTABLISHED, _S.SEGMENT_DISPATCH,
           _S.EXECUTING, _S.RETURNING, _S.VERIFYING, _S.RETRY, _S.SWAP_ORCHESTRATOR):
    TRANSITIONS[(_s, _E.GIVE_UP)] = (_S.FAILED,)

# Dense table for `fire`: _TABLE[state][event] -> next state, _GUARD, or None (illegal).
_GUARD = object()
_TABLE = [[None] * len(Event) for _ in State]
for (_s, _e), _next in TRANSITIONS.items():
    _TABLE[_s][_e] = _next[0] if len(_next) == 1 else _GUARD
del _s, _e, _next
# module-level names: an enum attribute lookup per fire costs more than the table lookup
_DISPATCH, _REDISPATCH, _REDEMPTION_STUCK = Event.DISPATCH, Event.REDISPATCH, Event.REDEMPTION_STUCK


class Transition(NamedTuple):
    state: State
    event: Event
    next: State
    time: float
    reason: str


class IllegalTransition(ValueError):
    def __init__(self, state: State, event: Event) -> None:
        super().__init__(f"illegal transition: event {event.name} in state {state.name}")
        self.state = state
        self.event = event


class Job:
    """One segment or AI request. Counters: `attempts` (dispatches, first one included),
    `swaps`, `replacements` (stuck redemptions replaced)."""

    __slots__ = ("state", "attempts", "since_swap", "swaps", "replacements", "max_attempts",
                 "max_swaps", "history")

    def __init__(self, max_attempts: int = 3, max_swaps: Optional[int] = None,
                 record: bool = True) -> None:
        self.state = State.IDLE
        self.attempts = 0
        self.since_swap = 0  # dispatches since the last swap: the retry budget's count
        self.swaps = 0
        self.replacements = 0
        self.max_attempts = max_attempts
        self.max_swaps = max_swaps  # None: unbounded
        self.history: Optional[list] = [] if record else None

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def fire(self, event: Event, now: float, reason: str = "") -> Transition:
        state = self.state
        nxt = _TABLE[state][event]
        if nxt is None:
            raise IllegalTransition(state, event)
        if nxt is _GUARD:
            nxt = self._recover(event)
        elif event is _DISPATCH or event is _REDISPATCH:
            self.attempts += 1
            self.since_swap += 1
        elif event is _REDEMPTION_STUCK:
            self.replacements += 1
        self.state = nxt
        transition = Transition(state, event, nxt, now, reason)
        if self.history is not None:
            self.history.append(transition)
        return transition

    def _recover(self, event: Event) -> State:
        """Compute failure: retry within the budget, then swap; verification mismatch: swap at
        once. A swap beyond `max_swaps` fails the job."""
        if event is Event.COMPUTE_FAILED and self.since_swap < self.max_attempts:
            return State.RETRY
        if self.max_swaps is not None and self.swaps >= self.max_swaps:
            return State.FAILED
        self.swaps += 1
        self.since_swap = 0
        return State.SWAP_ORCHESTRATOR


# go-ethereum's txpool rejects a replacement that does not raise the gas price (and, for dynamic
# fee transactions, both fee cap and tip) by at least 10 %; go-livepeer bumps by 11 % to be safe
# and rounds up (eth/transactionManager.go `applyPriceBump`).
GETH_MIN_PRICE_BUMP = 10
PRICE_BUMP = 11


def replacement_gas_price(old: int, bump: int = PRICE_BUMP) -> int:
    """Gas price (or fee cap / tip) for the transaction replacing a stuck one:
    ceil(old x (100 + bump) / 100), and at least old + 1 (geth also requires a strict increase).
    `bump` is a percentage, at least geth's 10."""
    if bump < GETH_MIN_PRICE_BUMP:
        raise ValueError(f"price bump {bump}% is below go-ethereum's minimum of "
                         f"{GETH_MIN_PRICE_BUMP}%")
    if old < 0:
        raise ValueError(f"gas price must be non-negative, got {old}")
    return max(-(-old * (100 + bump) // 100), old + 1)
