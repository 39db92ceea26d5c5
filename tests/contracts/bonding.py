"""Shared pieces of the BondingManager tests: the small protocol they run on, the getters'
records as named tuples, and small helpers (revert checks, pool walk, transcoder registration).

The small protocol: LPT supply 1,000,000 wei (20 accounts × 50,000), inflation 1 % per round with
no inflation change, 3 active transcoders, unbonding period 2 rounds — so rewards are round
numbers (10,000 wei per round while the supply is 1,000,000)."""
from __future__ import annotations

from collections import namedtuple
from contextlib import contextmanager

import pytest

from node.eth import ProtocolParams, TransactionFailed

ZERO = "0x" + "00" * 20
ONE = 10**27  # PreciseMathUtils 1.0
PERC = 10**6  # MathUtils 100 %

SMALL = ProtocolParams(
    round_length=100,
    unbonding_period=2,
    num_active_transcoders=3,
    inflation=10_000_000,  # 1 %
    inflation_change=0,
    target_bonding_rate=500_000_000,
    treasury_reward_cut_rate=0,
    treasury_balance_ceiling=0,
    unlock_period=2,
    ticket_validity_period=2,
    lpt_per_account=50_000,
)

Delegator = namedtuple(
    "Delegator", "bondedAmount fees delegateAddress delegatedAmount startRound lastClaimRound nextUnbondingLockId"
)
Transcoder = namedtuple(
    "Transcoder",
    "lastRewardRound rewardCut feeShare lastActiveStakeUpdateRound activationRound deactivationRound "
    "activeCumulativeRewards cumulativeRewards cumulativeFees lastFeeRound",
)
Pool = namedtuple("Pool", "totalStake transcoderRewardCut transcoderFeeShare cumulativeRewardFactor cumulativeFeeFactor")


@contextmanager
def reverts(reason: str):
    with pytest.raises(TransactionFailed) as exc:
        yield
    assert exc.value.reason == reason


def addr(a) -> str:
    return a if isinstance(a, str) else a.address


def delegator(bm, a) -> Delegator:
    return Delegator(*bm.getDelegator(addr(a)))


def transcoder(bm, a) -> Transcoder:
    return Transcoder(*bm.getTranscoder(addr(a)))


def earnings_pool(bm, a, rnd) -> Pool:
    return Pool(*bm.getTranscoderEarningsPoolForRound(addr(a), rnd))


def pool_members(bm) -> list[str]:
    """The transcoder pool from head (largest stake) to tail."""
    out, cur = [], bm.getFirstTranscoderInPool()
    while cur != ZERO:
        out.append(cur)
        cur = bm.getNextTranscoderInPool(cur)
    assert len(out) == bm.getTranscoderPoolSize()
    return out


def register(bm, t, amount, reward_cut=0, fee_share=0):
    """Self-bond `amount` and set the transcoder's rates."""
    bm.bond(amount, t.address, sender=t)
    return bm.transcoder(reward_cut, fee_share, sender=t)
