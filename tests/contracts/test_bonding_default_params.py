"""BondingManager on the shared test deployment (`protocol` fixture, TEST_PARAMS: 20 accounts x 1,000,000
LPT, inflation 1 % + 0.00005 % per round while the bonding rate is under 50 %, 10 active transcoders,
unbonding period 2). Checks that the wiring done by node.eth.deploy works end to end and that rewards
follow createReward's formula with realistic (1e18-scaled) amounts.
"""
from __future__ import annotations

from node.eth import LPT

ONE = 10**27


def test_deployment_wiring(protocol):
    bm = protocol.BondingManager
    assert bm.controller() == protocol.Controller.address
    assert bm.getTranscoderPoolMaxSize() == 10
    assert bm.unbondingPeriod() == 2
    assert bm.treasuryBalanceCeiling() == 750_000 * LPT
    assert protocol.RoundsManager.currentRoundInitialized()


def test_bond_reward_claim_with_lpt_amounts(protocol, accounts):
    p, bm, minter = protocol, protocol.BondingManager, protocol.Minter
    t1, t2, d = accounts[1], accounts[2], accounts[3]
    p.approve_and_bond(t1, 30_000 * LPT, t1.address)
    p.approve_and_bond(t2, 10_000 * LPT, t2.address)
    bm.transcoder(100_000, 500_000, sender=t1)  # keeps 10 % of rewards
    p.approve_and_bond(d, 60_000 * LPT, t1.address)

    R = p.next_round()
    assert bm.getTotalBonded() == 100_000 * LPT
    supply = p.LivepeerToken.totalSupply()
    assert supply == 20 * 1_000_000 * LPT
    inflation = minter.inflation()
    mintable = minter.currentMintableTokens()
    assert mintable == supply * inflation // 10**9

    r1 = bm.reward(sender=t1).event("Reward").args["amount"]
    r2 = bm.reward(sender=t2).event("Reward").args["amount"]
    assert r1 == mintable * (90_000 * LPT * 10**9 // (100_000 * LPT)) // 10**9
    assert r2 == mintable * (10_000 * LPT * 10**9 // (100_000 * LPT)) // 10**9
    assert minter.currentMintedTokens() == r1 + r2 <= mintable

    # t1: commission 10 %, the rest shared pro rata over 90,000 LPT
    commission = r1 * 100_000 // 10**6
    crf = ONE + ONE * ((r1 - commission) * ONE // (90_000 * LPT)) // ONE
    assert bm.getTranscoderEarningsPoolForRound(t1.address, R)[3] == crf
    stake_d = 60_000 * LPT * (crf * ONE // ONE) // ONE
    assert bm.pendingStake(d.address, 0) == stake_d
    assert bm.pendingStake(t1.address, 0) == 30_000 * LPT * crf // ONE + commission

    p.next_round()
    assert minter.inflation() == inflation + 500  # bonding rate still far below 50 %
    claimed = bm.claimEarnings(0, sender=d).event("EarningsClaimed").args
    assert claimed["rewards"] == stake_d - 60_000 * LPT
    assert bm.getDelegator(d.address)[0] == stake_d
