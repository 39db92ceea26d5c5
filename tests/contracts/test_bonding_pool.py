"""BondingManager transcoder pool (inlined SortedDoublyLL, spec §6): ordering, ties, eviction, hints
(valid, stale and garbage), next-round activation, and the active-stake invariants of spec §11.3 under a
seeded sequence of random operations.

Runs on a small protocol deployed once for this module (3 active transcoders to start with).
"""
from __future__ import annotations

import random
from collections import namedtuple

import pytest

from .bonding import ZERO, pool_members


@pytest.fixture
def acc(accounts):
    names = ["t1", "t2", "t3", "t4", "t5", "d1", "d2", "d3", "x"]
    return namedtuple("Acc", names)(*accounts[1:10])


def keys(bm) -> list[int]:
    return [bm.transcoderTotalStake(a) for a in pool_members(bm)]


def assert_consistent(bm):
    ks = keys(bm)
    assert ks == sorted(ks, reverse=True)
    assert bm.nextRoundTotalActiveStake() == sum(ks)
    assert bm.getTranscoderPoolSize() <= bm.getTranscoderPoolMaxSize()


def bond_hint(bm, who, amount, to, curr=(ZERO, ZERO), old=(ZERO, ZERO)):
    return bm.bondWithHint(amount, to.address if not isinstance(to, str) else to, *old, *curr, sender=who)


def a(x):
    return x.address


# ------------------------------------------------------------------------------------------------

def test_descending_order_and_activation_next_round(p, bm, acc):
    R = p.current_round()
    bm.bond(1000, a(acc.t1), sender=acc.t1)
    bm.bond(3000, a(acc.t2), sender=acc.t2)
    bm.bond(2000, a(acc.t3), sender=acc.t3)
    assert pool_members(bm) == [a(acc.t2), a(acc.t3), a(acc.t1)]
    assert bm.nextRoundTotalActiveStake() == 6000 and bm.getTotalBonded() == 0
    assert not any(bm.isActiveTranscoder(x) for x in pool_members(bm))
    p.next_round()
    assert all(bm.isActiveTranscoder(x) for x in pool_members(bm))
    assert bm.getTotalBonded() == 6000
    assert [bm.getTranscoder(x)[4] for x in pool_members(bm)] == [R + 1] * 3  # activationRound
    # a delegator's bond re-sorts the pool
    bm.bond(2500, a(acc.t1), sender=acc.d1)
    assert pool_members(bm) == [a(acc.t1), a(acc.t2), a(acc.t3)]
    assert_consistent(bm)


def test_ties_insert_before_equal_keys_and_tail_is_evicted(p, bm, acc):
    R = p.current_round()
    for t in (acc.t1, acc.t2, acc.t3):
        bm.bond(1000, a(t), sender=t)
    # each newcomer goes before the existing equal keys: the tail is the longest-standing one
    assert pool_members(bm) == [a(acc.t3), a(acc.t2), a(acc.t1)]
    r = bm.bond(1000, a(acc.t4), sender=acc.t4)  # equal to the tail: no join, no event
    assert r.events_named("TranscoderActivated") == [] == r.events_named("TranscoderDeactivated")
    assert bm.isRegisteredTranscoder(a(acc.t4)) and a(acc.t4) not in pool_members(bm)
    r = bm.bond(1, a(acc.t4), sender=acc.d1)  # 1001 > 1000: evicts t1
    assert r.event("TranscoderDeactivated").args == dict(transcoder=a(acc.t1), deactivationRound=R + 1)
    assert pool_members(bm) == [a(acc.t4), a(acc.t3), a(acc.t2)]
    assert bm.getTranscoder(a(acc.t1))[5] == R + 1  # deactivationRound
    assert_consistent(bm)
    p.next_round()
    assert not bm.isActiveTranscoder(a(acc.t1)) and bm.isActiveTranscoder(a(acc.t4))
    assert bm.getTotalBonded() == 3001


def test_valid_and_invalid_insert_hints(p, bm, acc):
    bm.setNumActiveTranscoders(5, sender=p.owner)
    bm.bond(3000, a(acc.t1), sender=acc.t1)
    bm.bond(1000, a(acc.t2), sender=acc.t2)
    # valid hint (t1, t2) for 2000
    bond_hint(bm, acc.t3, 2000, acc.t3, curr=(a(acc.t1), a(acc.t2)))
    assert pool_members(bm) == [a(acc.t1), a(acc.t3), a(acc.t2)]
    # wrong-order hint (t2, t1) for 2500: both dropped -> search from the head
    bond_hint(bm, acc.t4, 2500, acc.t4, curr=(a(acc.t2), a(acc.t1)))
    assert pool_members(bm) == [a(acc.t1), a(acc.t4), a(acc.t3), a(acc.t2)]
    # garbage hint (non-members) for 500 -> tail
    bond_hint(bm, acc.t5, 500, acc.t5, curr=(a(acc.x), a(acc.d1)))
    assert pool_members(bm) == [a(acc.t1), a(acc.t4), a(acc.t3), a(acc.t2), a(acc.t5)]
    assert_consistent(bm)


def test_update_hints_prev_only_next_only(p, bm, acc):
    bm.setNumActiveTranscoders(5, sender=p.owner)
    for t, amt in ((acc.t1, 5000), (acc.t2, 4000), (acc.t3, 3000), (acc.t4, 2000), (acc.t5, 1000)):
        bm.bond(amt, a(t), sender=t)
    # t5 -> 3500 with only a (valid) next hint t3: ascend from t3
    bond_hint(bm, acc.d1, 2500, acc.t5, curr=(ZERO, a(acc.t3)))
    assert pool_members(bm) == [a(acc.t1), a(acc.t2), a(acc.t5), a(acc.t3), a(acc.t4)]
    # t4 -> 4500 with only a prev hint t1 (valid prev): descend from t1
    bond_hint(bm, acc.d2, 2500, acc.t4, curr=(a(acc.t1), ZERO))
    assert pool_members(bm) == [a(acc.t1), a(acc.t4), a(acc.t2), a(acc.t5), a(acc.t3)]
    # t3 -> 6000 with a stale prev hint (t4 has less than 6000): dropped; new head
    bond_hint(bm, acc.d3, 3000, acc.t3, curr=(a(acc.t4), ZERO))
    assert pool_members(bm) == [a(acc.t3), a(acc.t1), a(acc.t4), a(acc.t2), a(acc.t5)]
    # exact head / tail hints
    bond_hint(bm, acc.x, 10_000, acc.t5, curr=(ZERO, a(acc.t3)))  # 11,000: before the head
    assert pool_members(bm)[0] == a(acc.t5)
    assert_consistent(bm)


def test_unbond_and_delegate_change_with_hints(p, bm, acc):
    bm.bond(3000, a(acc.t1), sender=acc.t1)
    bm.bond(2000, a(acc.t2), sender=acc.t2)
    bm.bond(1000, a(acc.t3), sender=acc.t3)
    bm.bond(1500, a(acc.t3), sender=acc.d1)  # t3: 2500
    assert pool_members(bm) == [a(acc.t1), a(acc.t3), a(acc.t2)]
    p.next_round()
    # t1 unbonds 2600 -> 400: valid hint (t2, 0) as the new tail
    bm.unbondWithHint(2600, a(acc.t2), ZERO, sender=acc.t1)
    assert pool_members(bm) == [a(acc.t3), a(acc.t2), a(acc.t1)]
    # d1 moves from t3 to t2: t3 (-> 1000) with hint (t2, t1), then t2 (-> 3500) with hint (0, t3),
    # both valid at the moment they are used
    bm.bondWithHint(0, a(acc.t2), a(acc.t2), a(acc.t1), ZERO, a(acc.t3), sender=acc.d1)
    assert pool_members(bm) == [a(acc.t2), a(acc.t3), a(acc.t1)]
    assert keys(bm) == [3500, 1000, 400]
    assert_consistent(bm)


def test_transcoder_and_reward_with_hints(p, bm, acc):
    bm.setNumActiveTranscoders(4, sender=p.owner)
    bm.bond(3000, a(acc.t1), sender=acc.t1)
    bm.bond(2000, a(acc.t2), sender=acc.t2)
    bm.bond(1000, a(acc.t3), sender=acc.t3)
    bm.bond(4000, a(acc.t4), sender=acc.d1)  # t4 not registered yet: stake 4000 held outside the pool
    bm.bond(500, a(acc.t4), sender=acc.t4)  # d1's 4000 counts: t4 joins with 4500 (hintless)
    assert pool_members(bm)[0] == a(acc.t4)
    p.next_round()
    # rewards keep proportions, so hints at the current position are valid
    bm.rewardWithHint(ZERO, a(acc.t1), sender=acc.t4)
    bm.rewardWithHint(a(acc.t4), a(acc.t2), sender=acc.t1)
    bm.rewardWithHint(a(acc.x), a(acc.x), sender=acc.t2)  # garbage hint
    assert pool_members(bm) == [a(acc.t4), a(acc.t1), a(acc.t2), a(acc.t3)]
    assert_consistent(bm)


def test_random_operations_keep_pool_consistent(p, bm, acc):
    """Seeded random bonds/unbonds/delegate changes with random hints: after every step the pool is
    sorted, within its max size, and nextRoundTotalActiveStake equals the members' stake (§11.3)."""
    rng = random.Random(1234)
    bm.setNumActiveTranscoders(4, sender=p.owner)
    ts = [acc.t1, acc.t2, acc.t3, acc.t4, acc.t5]
    ds = [acc.d1, acc.d2, acc.d3]
    for t in ts:
        bm.bond(rng.randint(100, 3000), a(t), sender=t)
    for d in ds:
        bm.bond(rng.randint(100, 3000), a(rng.choice(ts)), sender=d)
    assert_consistent(bm)
    p.next_round()
    candidates = [a(x) for x in ts] + [ZERO, a(acc.x)]
    for step in range(14):
        who = rng.choice(ts + ds)
        hint = (rng.choice(candidates), rng.choice(candidates))
        op = rng.choice(["bond", "unbond", "move"]) if who in ds else rng.choice(["bond", "unbond"])
        if op == "bond":
            to = bm.getDelegator(a(who))[2]
            bm.bondWithHint(rng.randint(1, 2000), to, ZERO, ZERO, *hint, sender=who)
        elif op == "unbond":
            bonded = bm.getDelegator(a(who))[0]
            if bm.delegatorStatus(a(who)) != 1 or bonded < 2:
                continue
            bm.unbondWithHint(rng.randint(1, bonded - 1), *hint, sender=who)
        else:
            current = bm.getDelegator(a(who))[2]
            new = rng.choice([a(t) for t in ts if a(t) != current])
            bm.bondWithHint(0, new, *hint, *reversed(hint), sender=who)
        assert_consistent(bm)
        if step % 5 == 4:
            p.next_round()
            assert bm.getTotalBonded() == sum(keys(bm))
