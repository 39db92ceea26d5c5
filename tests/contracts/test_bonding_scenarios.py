"""BondingManager multi-round scenarios: the spec's worked example (§5.7), LIP-36 earnings across rounds
with changing commission rates, the active set changing across rounds, unbonding through withdrawal,
and the audit-derived regressions of spec §11.2 — all checked to the wei against numbers computed by
hand from the formulas of spec §5 (derivations in the comments; ppOf(a, n, d) = floor(a * floor(n * 1e27
/ d) / 1e27), createReward(s, T) = floor(mintable * floor(s * 1e9 / T) / 1e9)).

Runs on a small protocol deployed once for this module: LPT supply 1,000,000 wei (20 accounts x 50,000),
inflation 1 % per round with no inflation change, 3 active transcoders, unbonding period 2 rounds.
Fees are booked by an ordinary account registered as "TicketBroker" (and "JobsManager", so that it may
fund the Minter with ETH for fee withdrawals).
"""
from __future__ import annotations

from collections import namedtuple

import pytest

from .bonding import ONE, PERC, ZERO, Pool, delegator, pool_members, reverts


@pytest.fixture
def acc(accounts):
    names = ["t1", "t2", "t3", "t4", "d1", "d2", "d3", "d4", "x", "tb", "d5"]
    return namedtuple("Acc", names)(*accounts[1:12])


@pytest.fixture
def tb(p, acc):
    """An ordinary account acting as the TicketBroker; it also deposits 100,000 wei into the Minter."""
    for name in ("TicketBroker", "JobsManager"):
        p.Controller.setContractInfo(p.contract_id(name), acc.tb.address, b"\0" * 20, sender=p.owner)
    p.Minter.depositETH(value=100_000, sender=acc.tb)
    return acc.tb


def crf(bm, t, rnd) -> int:
    return Pool(*bm.getTranscoderEarningsPoolForRound(t.address, rnd)).cumulativeRewardFactor


def cff(bm, t, rnd) -> int:
    return Pool(*bm.getTranscoderEarningsPoolForRound(t.address, rnd)).cumulativeFeeFactor


def pending(bm, a) -> tuple[int, int]:
    return bm.pendingStake(a.address, 0), bm.pendingFees(a.address, 0)


def reward_amount(receipt) -> int:
    return receipt.event("Reward").args["amount"]


def register(bm, t, amount, reward_cut=0, fee_share=0):
    """Self-bond; set the rates only when they are not the default zeros."""
    bm.bond(amount, t.address, sender=t)
    if reward_cut or fee_share:
        bm.transcoder(reward_cut, fee_share, sender=t)


# ------------------------------------------------------------------------------------------------
# §5.7 worked integrated example, continued over two more rounds
# ------------------------------------------------------------------------------------------------

def test_worked_example_5_7(p, bm, acc, tb):
    T, D = acc.t1, acc.d1
    N = p.current_round()
    register(bm, T, 1000, reward_cut=500_000, fee_share=250_000)
    bm.bond(3000, T.address, sender=D)
    assert p.LivepeerToken.totalSupply() == 1_000_000

    p.next_round()  # N+1
    assert bm.currentRoundTotalActiveStake() == 4000
    assert p.Minter.inflation() == 10_000_000  # bonding rate 4,000,000 < target; change 0
    assert p.Minter.currentMintableTokens() == 10_000

    # (a) fees first: 1000 wei; dF = 250, commission 750; CFF[N+1] = 250 / 4000 = 0.0625
    bm.updateTranscoderWithFees(T.address, 1000, N + 1, sender=tb)
    assert cff(bm, T, N + 1) == 62_500_000_000_000_000_000_000_000
    assert bm.pendingFees(D.address, 0) == 187  # floor(3000 * 0.0625)
    assert bm.pendingFees(T.address, 0) == 62 + 750

    # (b) reward: createReward(4000, 4000) = 10,000; commission 5000; CRF = 1 + 5000/4000 = 2.25
    r = bm.reward(sender=T)
    assert reward_amount(r) == 10_000
    assert crf(bm, T, N + 1) == 2_250_000_000_000_000_000_000_000_000
    assert bm.getTranscoder(T.address)[7] == 5000  # cumulativeRewards
    assert bm.transcoderTotalStake(T.address) == 14_000 == bm.nextRoundTotalActiveStake()
    assert pending(bm, D) == (6750, 187)
    assert pending(bm, T) == (2250 + 5000, 812)
    assert p.LivepeerToken.totalSupply() == 1_010_000
    assert p.LivepeerToken.balanceOf(p.Minter.address) == 14_000

    # round N+2: 14,000 active; mintable = 1% of 1,010,000
    p.next_round()
    assert bm.currentRoundTotalActiveStake() == 14_000
    assert p.Minter.currentMintableTokens() == 10_100
    # nothing accrues without reward or fees
    assert pending(bm, D) == (6750, 187)

    # D claims and withdraws its fees
    recipient = "0x" + "cd" * 20
    r = bm.withdrawFees(recipient, 187, sender=D)
    claimed = r.event("EarningsClaimed").args
    assert (claimed["rewards"], claimed["fees"], claimed["startRound"], claimed["endRound"]) == (3750, 187, N + 1, N + 2)
    assert p.chain.eth_balance(recipient) == 187
    assert delegator(bm, D)[:2] == (6750, 0)


# ------------------------------------------------------------------------------------------------
# LIP-36 across rounds with changing commissions and a late delegator
# ------------------------------------------------------------------------------------------------

def test_earnings_across_rounds_with_changing_rates(p, bm, acc, tb):
    T, D1, D2 = acc.t1, acc.d1, acc.d2
    R = p.current_round()
    register(bm, T, 1000, reward_cut=500_000, fee_share=250_000)  # keeps 50 % rewards, shares 25 % fees
    bm.bond(3000, T.address, sender=D1)

    # --- R+1: as in §5.7 -> CFF 0.0625, CRF 2.25, T.cumulativeRewards 5000, T.cumulativeFees 750
    p.next_round()
    bm.updateTranscoderWithFees(T.address, 1000, 0, sender=tb)
    bm.reward(sender=T)
    # after reward, T may change its rates: keeps 25 % of rewards, shares 50 % of fees
    bm.transcoder(250_000, 500_000, sender=T)
    # D2 joins in R+1 (start pool = pool[R+1] with CRF 2.25, CFF 0.0625)
    bm.bond(2000, T.address, sender=D2)
    assert bm.transcoderTotalStake(T.address) == 16_000

    # --- R+2: mintable 10,100 (supply 1,010,000); T is the only transcoder -> reward 10,100
    p.next_round()
    assert reward_amount(bm.reward(sender=T)) == 10_100
    # commission = floor(10100 * 25%) = 2525, delegators 7575
    # T's unclaimed 5000 rewards compound: ppOf(7575, 5000, 16000) = floor(7575 * 0.3125) = 2367
    # T.cumulativeRewards = 5000 + 2367 + 2525 = 9892
    # CRF[R+2] = 2.25 + 2.25 * 7575/16000 = 2.25 * 1.4734375 = 3.315234375
    assert crf(bm, T, R + 2) == 3_315_234_375_000_000_000_000_000_000
    assert bm.getTranscoder(T.address)[6:8] == (5000, 9892)  # activeCumulativeRewards, cumulativeRewards

    # fees of 2000 after reward: feeShare 50% -> dF = 1000, commission 1000; valued at the CRF at the
    # START of R+2 (2.25): CFF[R+2] = 0.0625 + 2.25 * 1000/16000 = 0.203125
    # T.cumulativeFees = 750 + ppOf(1000, 5000, 16000) (= 312) + 1000 = 2062
    bm.updateTranscoderWithFees(T.address, 2000, 0, sender=tb)
    assert cff(bm, T, R + 2) == 203_125_000_000_000_000_000_000_000
    assert bm.getTranscoder(T.address)[8] == 2062

    # D1 (3000 since R): stake 3000 * 3.315234375 = 9945.70; fees 3000 * 0.203125 = 609.375
    assert pending(bm, D1) == (9945, 609)
    # D2 (2000 since R+1): stake 2000 * 3.315234375/2.25 = 2946.875; fees 2000 * 0.140625/2.25 = 125
    assert pending(bm, D2) == (2946, 125)
    # T (1000 since R): 3315.23 + 9892 ; 203.125 + 2062
    assert pending(bm, T) == (3315 + 9892, 203 + 2062)
    # never more than what is there: 26,100 stake, 3000 fees
    assert bm.transcoderTotalStake(T.address) == 26_100
    assert 9945 + 2946 + 13_207 <= 26_100 and 609 + 125 + 2265 <= 3000

    # --- R+3: claims reproduce the pending values (no reward yet in R+3)
    p.next_round()
    r = bm.claimEarnings(0, sender=D1)
    assert r.event("EarningsClaimed").args == dict(
        delegate=T.address, delegator=D1.address, rewards=6945, fees=609, startRound=R + 1, endRound=R + 3)
    r = bm.claimEarnings(0, sender=T)
    assert r.event("EarningsClaimed").args["rewards"] == 13_207 - 1000
    assert bm.getTranscoder(T.address)[6:9] == (5000, 0, 0)  # activeCumulativeRewards kept, others reset
    assert delegator(bm, T)[:2] == (13_207, 2265)
    assert pending(bm, D2) == (2946, 125)


def test_two_transcoders_with_different_rates(p, bm, acc, tb):
    """t1 keeps 20 % of rewards and shares 80 % of fees; t2 keeps all rewards and all fees."""
    t1, t2, d1, d2 = acc.t1, acc.t2, acc.d1, acc.d2
    R = p.current_round()
    register(bm, t1, 1000, reward_cut=200_000, fee_share=800_000)
    register(bm, t2, 2000, reward_cut=PERC, fee_share=0)
    bm.bond(1000, t1.address, sender=d1)
    bm.bond(2000, t2.address, sender=d2)

    # --- R+1: 6000 active, mintable 10,000; fees first (1000 each), then rewards
    p.next_round()
    bm.updateTranscoderWithFees(t1.address, 1000, 0, sender=tb)  # dF 800 -> CFF 800/2000 = 0.4
    bm.updateTranscoderWithFees(t2.address, 1000, 0, sender=tb)  # dF 0, commission 1000
    assert reward_amount(bm.reward(sender=t1)) == 3333  # 10000 * 0.333333333
    assert reward_amount(bm.reward(sender=t2)) == 6666
    # t1: commission 666, delegators 2667 -> CRF 1 + 2667/2000 = 2.3335
    assert crf(bm, t1, R + 1) == 2_333_500_000_000_000_000_000_000_000
    assert crf(bm, t2, R + 1) == ONE  # nothing for t2's delegators
    assert pending(bm, d1) == (2333, 400)
    assert pending(bm, t1) == (2333 + 666, 400 + 200)
    assert pending(bm, d2) == (2000, 0)
    assert pending(bm, t2) == (2000 + 6666, 1000)

    # --- R+2: supply 1,009,999 -> mintable 10,099; 15,999 active
    p.next_round()
    assert reward_amount(bm.reward(sender=t1)) == 3366  # 10099 * floor(5333e9/15999)/1e9
    assert reward_amount(bm.reward(sender=t2)) == 6732
    # t1: commission 673, delegators 2693; t1's unclaimed 666 compounds: ppOf(2693, 666, 5333) = 336
    # cumulativeRewards 666 + 336 + 673 = 1675; CRF = 2.3335 * (1 + 2693/5333)
    assert crf(bm, t1, R + 2) == 3_511_845_302_831_426_964_185_261_577
    assert bm.getTranscoder(t1.address)[6:8] == (666, 1675)
    # fees after reward, valued at the CRF at the start of R+2: dF 1600, commission 400,
    # t1's share via its unclaimed rewards: ppOf(1600, 666, 5333) = 199 -> cumulativeFees 200 + 199 + 400
    bm.updateTranscoderWithFees(t1.address, 2000, 0, sender=tb)
    assert bm.getTranscoder(t1.address)[8] == 799
    assert cff(bm, t1, R + 2) == 1_100_093_755_859_741_233_827_114_192
    assert pending(bm, d1) == (3511, 1100)
    assert pending(bm, t1) == (3511 + 1675, 1100 + 799)
    assert pending(bm, d2) == (2000, 0)
    assert pending(bm, t2) == (2000 + 6666 + 6732, 1000)
    # neither pays out more than it holds
    assert 3511 + 5186 <= bm.transcoderTotalStake(t1.address) == 8699
    assert 2000 + 15_398 <= bm.transcoderTotalStake(t2.address) == 17_398


def test_claiming_before_reward_forfeits_the_round(p, bm, acc):
    """§5.6: a claim in round r before the delegate's reward() gives up r's reward."""
    T, D1, D2 = acc.t1, acc.d1, acc.d2
    register(bm, T, 1000)  # rewardCut 0: everything to delegators
    bm.bond(3000, T.address, sender=D1)
    bm.bond(3000, T.address, sender=D2)
    p.next_round()
    bm.claimEarnings(0, sender=D1)  # before reward
    assert reward_amount(bm.reward(sender=T)) == 10_000
    # CRF = 1 + 10000/7000 = 2.428571428571428571428571428
    assert pending(bm, D1) == (3000, 0)  # forfeited
    assert pending(bm, D2) == (7285, 0)
    assert pending(bm, T) == (2428, 0)
    p.next_round()
    assert pending(bm, D1) == (3000, 0)


# ------------------------------------------------------------------------------------------------
# active set across rounds
# ------------------------------------------------------------------------------------------------

def test_active_set_changes_across_rounds(p, bm, acc):
    t1, t2, t3, t4, D = acc.t1, acc.t2, acc.t3, acc.t4, acc.d1
    R = p.current_round()
    register(bm, t1, 4000)
    register(bm, t2, 3000)
    register(bm, t3, 2000)
    assert pool_members(bm) == [t1.address, t2.address, t3.address]

    # --- R+1: 9000 active; mintable 10,000
    p.next_round()
    assert reward_amount(bm.reward(sender=t1)) == 4444  # 10000 * 0.444444444
    assert reward_amount(bm.reward(sender=t2)) == 3333
    # t4 out-stakes the tail (t3, 2000): t3 leaves the set from R+2
    r = bm.bond(2500, t4.address, sender=t4)
    assert r.event("TranscoderDeactivated").args == dict(transcoder=t3.address, deactivationRound=R + 2)
    assert r.event("TranscoderActivated").args == dict(transcoder=t4.address, activationRound=R + 2)
    assert pool_members(bm) == [t1.address, t2.address, t4.address]
    assert bm.nextRoundTotalActiveStake() == 8444 + 6333 + 2500
    assert bm.isActiveTranscoder(t3.address) and not bm.isActiveTranscoder(t4.address)

    # --- R+2: 17,277 active; supply 1,007,777 -> mintable 10,077
    p.next_round()
    assert bm.getTotalBonded() == 17_277
    assert not bm.isActiveTranscoder(t3.address) and bm.isActiveTranscoder(t4.address)
    with reverts("caller must be an active transcoder"):
        bm.reward(sender=t3)
    assert reward_amount(bm.reward(sender=t4)) == 1458  # 10077 * floor(2500e9/17277)/1e9
    assert reward_amount(bm.reward(sender=t1)) == 4925  # 10077 * floor(8444e9/17277)/1e9
    # D delegates 3000 to t3 (registered, outside the pool): 5000 > tail t4 (3958) -> t3 back from R+3
    r = bm.bond(3000, t3.address, sender=D)
    assert r.event("TranscoderDeactivated").args == dict(transcoder=t4.address, deactivationRound=R + 3)
    assert r.event("TranscoderActivated").args == dict(transcoder=t3.address, activationRound=R + 3)
    assert pool_members(bm) == [t1.address, t2.address, t3.address]
    assert bm.nextRoundTotalActiveStake() == 13_369 + 6333 + 5000 == 24_702

    # --- R+3: supply 1,014,160 -> mintable 10,141
    p.next_round()
    assert not bm.isActiveTranscoder(t4.address)
    with reverts("caller must be an active transcoder"):
        bm.reward(sender=t4)
    assert reward_amount(bm.reward(sender=t3)) == 2052  # 10141 * floor(5000e9/24702)/1e9
    # t3 never rewarded before: CRF = 1 + 2052/5000 = 1.4104
    assert crf(bm, t3, R + 3) == 1_410_400_000_000_000_000_000_000_000
    assert pending(bm, D)[0] == 4231  # 3000 * 1.4104
    assert pending(bm, t3)[0] == 2820  # 2000 * 1.4104
    # t4 keeps its stake (no rewards while inactive)
    assert pending(bm, t4)[0] == 2500 + 1458


# ------------------------------------------------------------------------------------------------
# unbonding through withdrawal
# ------------------------------------------------------------------------------------------------

def test_unbond_earns_nothing_then_withdraw(p, bm, acc):
    T, D = acc.t1, acc.d1
    R = p.current_round()
    register(bm, T, 1000)
    bm.bond(3000, T.address, sender=D)

    # --- R+1: reward 10,000 -> CRF 3.5; D 10,500, T 3,500; D then unbonds 500
    p.next_round()
    bm.reward(sender=T)
    assert pending(bm, D)[0] == 10_500
    r = bm.unbond(500, sender=D)
    assert r.event("EarningsClaimed").args["rewards"] == 7500
    assert r.event("Unbond").args["withdrawRound"] == R + 3
    assert delegator(bm, D).bondedAmount == 10_000
    assert bm.transcoderTotalStake(T.address) == 13_500

    # --- R+2: reward 10,100 on 13,500 -> CRF[R+2] = 3.5 * (1 + 10100/13500) = 6.118518518...
    p.next_round()
    assert bm.getTotalBonded() == 13_500
    bm.reward(sender=T)
    assert crf(bm, T, R + 2) == 6_118_518_518_518_518_518_518_518_518
    assert pending(bm, D)[0] == 17_481  # 10000 * 1.748148148...: the 500 in the lock earn nothing
    assert pending(bm, T)[0] == 6118
    with reverts("withdraw round must be before or equal to the current round"):
        bm.withdrawStake(0, sender=D)

    # --- R+3: withdraw
    p.next_round()
    before = p.LivepeerToken.balanceOf(D.address)
    r = bm.withdrawStake(0, sender=D)
    assert r.event("WithdrawStake").args == dict(delegator=D.address, unbondingLockId=0, amount=500, withdrawRound=R + 3)
    assert p.LivepeerToken.balanceOf(D.address) == before + 500
    # Minter LPT covers every delegator's pending stake (supply minted: 20,100; 500 withdrawn)
    minter = p.LivepeerToken.balanceOf(p.Minter.address)
    assert minter == 4000 + 10_000 + 10_100 - 500
    assert minter >= pending(bm, D)[0] + pending(bm, T)[0]


# ------------------------------------------------------------------------------------------------
# retroactive CRF in fee booking (spec §4.14 step 3, audit H-01)
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "treasury_cut, prev_crf, fees_d, fees_t",
    [
        # reward 10,000 -> CRF 2.25; r = ppOf(10000 + 10000, 4000, 4000) = 20000 (mintable + minted),
        # dr = 10000 -> prevCRF = ppOf(2.25e27, 4000, 14000); CFF term = ppOf(prevCRF, 250, 4000)
        (0, 642_857_142_857_142_857_142_857_141, 120, 40 + 750),
        # 10 % treasury: reward 9000 -> CRF 2.125; r = 20000 - 2000 (1e27 divisor, not 1e6), dr = 9000
        (ONE // 10, 653_846_153_846_153_846_153_846_152, 122, 40 + 750),
    ],
)
def test_fees_after_first_reward_use_retroactive_crf(p, bm, acc, tb, treasury_cut, prev_crf, fees_d, fees_t):
    T, D = acc.t1, acc.d1
    register(bm, T, 1000, reward_cut=500_000, fee_share=250_000)
    bm.bond(3000, T.address, sender=D)
    bm.setTreasuryRewardCutRate(treasury_cut, sender=p.owner)
    R = p.next_round()
    bm.reward(sender=T)  # first reward ever: no earlier CRF exists
    bm.updateTranscoderWithFees(T.address, 1000, 0, sender=tb)
    assert cff(bm, T, R) == prev_crf * (ONE // 16) // ONE
    assert pending(bm, D)[1] == fees_d
    assert pending(bm, T)[1] == fees_t


# ------------------------------------------------------------------------------------------------
# §11.2 regressions
# ------------------------------------------------------------------------------------------------

def test_rewards_griefing_is_prevented(p, bm, acc):
    """§11.2.1: third parties cannot force a victim's claim before its delegate's reward()."""
    T, victim, attacker, other = acc.t1, acc.d1, acc.x, acc.d2
    register(bm, T, 1000)
    bm.bond(3000, T.address, sender=victim)
    bm.bond(1000, T.address, sender=other)
    p.next_round()
    with reverts("ILLEGAL_CLAIM_EARNINGS"):
        bm.bondForWithHint(1, victim.address, T.address, ZERO, ZERO, ZERO, ZERO, sender=attacker)
    with reverts("ILLEGAL_CLAIM_EARNINGS"):
        bm.transferBond(victim.address, 1, ZERO, ZERO, ZERO, ZERO, sender=other)
    bm.reward(sender=T)  # 10,000 on 5000 -> CRF 3
    bm.bondForWithHint(1, victim.address, T.address, ZERO, ZERO, ZERO, ZERO, sender=attacker)
    bm.transferBond(victim.address, 1, ZERO, ZERO, ZERO, ZERO, sender=other)
    # the victim kept the round's reward: 3000 * 3 + 1 + 1
    assert delegator(bm, victim).bondedAmount == 9002
    assert pending(bm, victim)[0] == 9002


def test_rebond_and_bond_initialise_cumulative_factors(p, bm, acc):
    """§11.2.2: starting to delegate in a round where the delegate has not called reward must not
    value the stake against CRF 1.0 (which would inflate it by the delegate's historical CRF)."""
    T, D1, D2, D3, D4 = acc.t1, acc.d1, acc.d2, acc.d3, acc.d4
    register(bm, T, 1000)
    register(bm, acc.t2, 1000)
    bm.bond(3000, T.address, sender=D1)
    bm.bond(1000, T.address, sender=D2)
    bm.bond(700, acc.t2.address, sender=D4)
    R = p.next_round()
    bm.unbond(1000, sender=D2)  # full unbond (before reward, so exactly 1000)
    bm.reward(sender=T)  # 10000 * floor(5000e9/6700)/1e9 = 7462 on 5000: CRF[R] = 1 + 7462/5000
    assert crf(bm, T, R) == 2_492_400_000_000_000_000_000_000_000

    p.next_round()  # R+1: T does not call reward
    assert crf(bm, T, R + 1) == 0
    bm.rebondFromUnbonded(T.address, 0, sender=D2)
    assert crf(bm, T, R + 1) == crf(bm, T, R)  # copied by ensureInitializedCumulativeFactorsPool
    bm.bond(500, T.address, sender=D3)  # bond from unbonded
    bm.bond(0, T.address, sender=D4)  # delegate change

    p.next_round()  # R+2, still no reward: nobody's stake may grow
    assert pending(bm, D2)[0] == 1000
    assert pending(bm, D3)[0] == 500
    assert pending(bm, D4)[0] == 700

    # round trips leave the bond unchanged when no rewards accrue
    before = pending(bm, D1)[0]
    bm.unbond(100, sender=D1)
    bm.rebond(0, sender=D1)
    assert delegator(bm, D1).bondedAmount == before
    bm.transferBond(acc.d5.address, 100, ZERO, ZERO, ZERO, ZERO, sender=D1)
    p.next_round()
    bm.claimEarnings(0, sender=D1)  # (else d5's transfer would be an ILLEGAL_CLAIM_EARNINGS for D1)
    bm.transferBond(D1.address, 100, ZERO, ZERO, ZERO, ZERO, sender=acc.d5)
    assert pending(bm, D1)[0] == before
    assert pending(bm, acc.d5)[0] == 0


def test_no_forced_self_delegation(p, bm, acc):
    """§11.2.3: third parties cannot make an unbonded account a (self-delegated) transcoder."""
    victim, attacker = acc.d1, acc.x
    with reverts("INVALID_DELEGATE"):
        bm.bondForWithHint(1, victim.address, victim.address, ZERO, ZERO, ZERO, ZERO, sender=attacker)
    bm.bond(10, victim.address, sender=attacker)  # attacker delegates to the victim
    p.next_round()
    with reverts("INVALID_DELEGATOR"):
        bm.transferBond(victim.address, 10, ZERO, ZERO, ZERO, ZERO, sender=attacker)
    with reverts("INVALID_DELEGATOR"):
        bm.bondForWithHint(1, ZERO, victim.address, ZERO, ZERO, ZERO, ZERO, sender=attacker)
    assert not bm.isRegisteredTranscoder(victim.address)
    assert bm.getTranscoderPoolSize() == 0


def test_null_delegate_accounting(p, bm, acc):
    """§11.2.6: stake bonded to address(0) is accounted there and moves out on a delegate change;
    a transfer to a receiver bonded to address(0) keeps its delegate."""
    T, D1, D2, D3 = acc.t1, acc.d1, acc.d2, acc.d3
    register(bm, T, 1000)
    bm.bond(100, ZERO, sender=D1)
    bm.bond(50, ZERO, sender=D2)
    bm.bond(300, T.address, sender=D3)
    assert bm.transcoderTotalStake(ZERO) == 150
    p.next_round()
    r = bm.bond(0, T.address, sender=D1)
    assert r.event("Bond").args["oldDelegate"] == ZERO
    assert bm.transcoderTotalStake(ZERO) == 50
    assert bm.transcoderTotalStake(T.address) == 1400

    bm.reward(sender=T)  # D3's delegate rewarded: third-party claims are fine now
    bm.transferBond(D2.address, 30, ZERO, ZERO, ZERO, ZERO, sender=D3)
    d2 = delegator(bm, D2)
    assert (d2.delegateAddress, d2.bondedAmount) == (ZERO, 80)
    assert bm.transcoderTotalStake(ZERO) == 80
