"""node.core.job: the job state machine of issue 4, its failure recoveries and the gas bump."""
import pytest

from node.core.job import (
    TERMINAL,
    TRANSITIONS,
    Event,
    IllegalTransition,
    Job,
    State,
    Transition,
    replacement_gas_price,
)

E, S = Event, State
HAPPY = [E.INGEST, E.DISCOVER, E.SESSION_READY, E.DISPATCH, E.SUBMITTED, E.RESULT, E.RECEIVED,
         E.VERIFIED, E.PUBLISHED, E.SETTLED]


def job_in(state, **kw):
    job = Job(**kw)
    job.state = state
    return job


def run(job, events, t0=0.0):
    return [job.fire(e, t0 + i).next for i, e in enumerate(events)]


def test_happy_path_follows_the_issue_order():
    job = Job()
    assert run(job, HAPPY) == [S.INGESTING, S.DISCOVERING, S.SESSION_ESTABLISHED,
                               S.SEGMENT_DISPATCH, S.EXECUTING, S.RETURNING, S.VERIFYING,
                               S.PUBLISHING, S.SETTLING, S.DONE]
    assert job.done and job.attempts == 1 and job.swaps == 0
    assert job.history[0] == Transition(S.IDLE, E.INGEST, S.INGESTING, 0.0, "")
    assert len(job.history) == 10


@pytest.mark.parametrize("key", sorted(TRANSITIONS), ids=lambda k: f"{k[0].name}-{k[1].name}")
def test_every_legal_transition(key):
    state, event = key
    job = job_in(state)
    t = job.fire(event, 5.0, "why")
    assert t == Transition(state, event, t.next, 5.0, "why")
    assert t.next in TRANSITIONS[key]
    assert job.state is t.next


def test_every_other_pair_is_illegal_and_leaves_state_unchanged():
    illegal = [(s, e) for s in State for e in Event if (s, e) not in TRANSITIONS]
    assert len(illegal) > 250
    for state, event in illegal:
        job = job_in(state)
        with pytest.raises(IllegalTransition) as info:
            job.fire(event, 0.0)
        assert job.state is state and job.history == []
        assert str(info.value) == f"illegal transition: event {event.name} in state {state.name}"


def test_terminal_states_accept_nothing():
    for state in TERMINAL:
        assert not any(s is state for s, _ in TRANSITIONS)


def test_some_illegal_transitions_by_name():
    with pytest.raises(IllegalTransition, match="event RESULT in state IDLE"):
        Job().fire(E.RESULT, 0.0)
    with pytest.raises(IllegalTransition):
        job_in(S.SETTLING).fire(E.COMPUTE_FAILED, 0.0)
    with pytest.raises(IllegalTransition):
        job_in(S.DONE).fire(E.INGEST, 0.0)
    with pytest.raises(ValueError):  # IllegalTransition is a ValueError
        job_in(S.FAILED).fire(E.SESSION_ENDED, 0.0)


def test_no_suitable_orchestrator_fails():
    job = Job()
    assert run(job, [E.INGEST, E.DISCOVER, E.NO_ORCHESTRATOR])[-1] is S.FAILED


def test_compute_failure_retries_up_to_max_attempts_then_swaps():
    job = Job(max_attempts=3)
    run(job, [E.INGEST, E.DISCOVER, E.SESSION_READY, E.DISPATCH, E.SUBMITTED])
    assert job.fire(E.COMPUTE_FAILED, 1.0).next is S.RETRY  # attempt 1 failed
    run(job, [E.REDISPATCH])
    assert job.fire(E.COMPUTE_FAILED, 2.0).next is S.RETRY  # attempt 2 (upload) failed
    run(job, [E.REDISPATCH, E.SUBMITTED, E.RESULT])
    assert job.fire(E.COMPUTE_FAILED, 3.0).next is S.SWAP_ORCHESTRATOR  # attempt 3 (download)
    assert (job.attempts, job.swaps) == (3, 1)
    run(job, [E.REDISCOVER, E.SESSION_READY, E.DISPATCH])
    assert job.fire(E.COMPUTE_FAILED, 4.0).next is S.RETRY  # a fresh budget after the swap
    run(job, [E.REDISPATCH, E.SUBMITTED, E.RESULT, E.RECEIVED, E.VERIFIED, E.PUBLISHED,
              E.SETTLED])
    assert job.done and job.state is S.DONE and job.attempts == 5


def test_go_budget_max_swaps_zero_fails_after_three_attempts():
    job = Job(max_attempts=3, max_swaps=0)
    run(job, [E.INGEST, E.SESSION_READY, E.DISPATCH, E.COMPUTE_FAILED, E.REDISPATCH,
              E.COMPUTE_FAILED, E.REDISPATCH])
    assert job.fire(E.COMPUTE_FAILED, 9.0).next is S.FAILED
    assert job.swaps == 0 and job.attempts == 3


def test_verification_mismatch_swaps_immediately():
    job = Job()
    run(job, HAPPY[:7])
    assert job.attempts == 1
    assert job.fire(E.VERIFICATION_FAILED, 1.0, "PixelMismatch").next is S.SWAP_ORCHESTRATOR
    assert job.swaps == 1
    assert job.fire(E.REDISCOVER, 2.0).next is S.DISCOVERING
    limited = Job(max_swaps=1)
    limited.swaps = 1
    limited.state = S.VERIFYING
    assert limited.fire(E.VERIFICATION_FAILED, 0.0).next is S.FAILED


def test_reserve_drained_ends_the_session():
    job = Job()
    run(job, HAPPY[:4])
    assert job.fire(E.RESERVE_DRAINED, 1.0, "insufficient reserve").next is S.DRAINED
    assert job.fire(E.SESSION_ENDED, 2.0).next is S.FAILED
    assert job.done


def test_redemption_stuck_stays_settling_and_counts_replacements():
    job = Job()
    run(job, HAPPY[:9])
    assert job.fire(E.REDEMPTION_STUCK, 1.0).next is S.SETTLING
    assert job.fire(E.REDEMPTION_STUCK, 2.0).next is S.SETTLING
    assert job.replacements == 2
    assert job.fire(E.SETTLED, 3.0).next is S.DONE


def test_round_reward_beside_publishing():
    job = Job()
    run(job, HAPPY[:8])
    assert job.fire(E.ROUND_STARTED, 1.0).next is S.ROUND_REWARD
    assert job.fire(E.REWARD_DONE, 2.0).next is S.PUBLISHING
    assert job.fire(E.PUBLISHED, 3.0).next is S.SETTLING


def test_non_retryable_gives_up_and_retry_without_session_fails():
    job = Job()
    run(job, HAPPY[:5])
    assert job.fire(E.GIVE_UP, 1.0, "TranscoderInvalidVideo").next is S.FAILED
    other = Job()
    run(other, [E.INGEST, E.SESSION_READY, E.DISPATCH, E.COMPUTE_FAILED])
    assert other.fire(E.NO_ORCHESTRATOR, 1.0).next is S.FAILED


def test_reuse_of_an_existing_session_skips_discovery():
    job = Job()
    assert run(job, [E.INGEST, E.SESSION_READY])[-1] is S.SESSION_ESTABLISHED


def test_record_false_keeps_no_history_but_returns_transitions():
    job = Job(record=False)
    transitions = [job.fire(e, 1.0) for e in HAPPY]
    assert job.history is None
    assert [t.event for t in transitions] == HAPPY


@pytest.mark.parametrize("old, bump, new", [
    (100, 11, 111),
    (1_000_000_000, 11, 1_110_000_000),
    (100, 10, 110),
    (10, 11, 12),  # 11.1 rounds up
    (1, 11, 2),
    (0, 11, 1),  # geth also wants a strict increase
    (10_000_000, 25, 12_500_000),
])
def test_replacement_gas_price(old, bump, new):
    assert replacement_gas_price(old, bump) == new


def test_replacement_gas_price_defaults_and_minimum():
    assert replacement_gas_price(1000) == 1110  # go-livepeer's 11 %
    with pytest.raises(ValueError, match="below go-ethereum's minimum of 10%"):
        replacement_gas_price(1000, 9)
    with pytest.raises(ValueError):
        replacement_gas_price(-1)
