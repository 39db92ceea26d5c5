"""BondingManager: every external function, success paths with hand-computed numbers and revert paths
with the exact reason (spec contracts.md §4, §6, §8).

Most tests run on a small protocol deployed once for this module (LPT supply 1,000,000 wei, inflation
1 % with no inflation change, 3 active transcoders), so rewards are round numbers: 10,000 wei per round
while the supply is 1,000,000. Each test runs on a snapshot of it. Every test starts on the first
block of a freshly initialised round R.
"""
from __future__ import annotations

from collections import namedtuple

import pytest
from eth_utils import to_checksum_address

from node.eth import TransactionFailed, compile_contract

from .bonding import (
    ONE, PERC, ZERO, Delegator, Pool, Transcoder, addr, delegator, earnings_pool, pool_members, register, reverts,
    transcoder,
)
from .mocks import LOGGING_RECIPIENT, REFUSING_RECIPIENT, STORING_RECIPIENT, deploy_source

MAX_ROUND = 2**256 - 1
MAX_POOL_SIZE = 256
PENDING, BONDED, UNBONDED = 0, 1, 2


# ------------------------------------------------------------------------------------------------
# fixtures and helpers
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def acc(accounts):
    """Named roles: t1..t4 transcoders, d1..d4 delegators, x third party, tb ticket-broker stand-in."""
    names = ["t1", "t2", "t3", "t4", "d1", "d2", "d3", "d4", "x", "tb", "mig"]
    return namedtuple("Acc", names)(*accounts[1:12])


def args(receipt, name) -> list[dict]:
    return [e.args for e in receipt.events_named(name)]


def act_as_ticket_broker(p, acct):
    """Register an ordinary account as TicketBroker (and JobsManager, so it may fund the Minter)."""
    for name in ("TicketBroker", "JobsManager"):
        p.Controller.setContractInfo(p.contract_id(name), acct.address, b"\0" * 20, sender=p.owner)


def lpt(p, a) -> int:
    return p.LivepeerToken.balanceOf(addr(a))


# ------------------------------------------------------------------------------------------------
# ABI parity with the deployed Solidity BondingManagerTarget, and EIP-170 code size
# ------------------------------------------------------------------------------------------------

# every function and event of livepeer/protocol's BondingManagerTarget ABI (deployments/arbitrumMainnet)
EXPECTED_FUNCTIONS = [
    "bond(uint256,address)->()",
    "bondForWithHint(uint256,address,address,address,address,address,address)->()",
    "bondWithHint(uint256,address,address,address,address,address)->()",
    "checkpointBondingState(address)->()",
    "claimEarnings(uint256)->()",
    "controller()->(address)",
    "currentRoundTotalActiveStake()->(uint256)",
    "delegatorStatus(address)->(uint8)",
    "getDelegator(address)->(uint256,uint256,address,uint256,uint256,uint256,uint256)",
    "getDelegatorUnbondingLock(address,uint256)->(uint256,uint256)",
    "getFirstTranscoderInPool()->(address)",
    "getNextTranscoderInPool(address)->(address)",
    "getTotalBonded()->(uint256)",
    "getTranscoder(address)->(uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256)",
    "getTranscoderEarningsPoolForRound(address,uint256)->(uint256,uint256,uint256,uint256,uint256)",
    "getTranscoderPoolMaxSize()->(uint256)",
    "getTranscoderPoolSize()->(uint256)",
    "isActiveTranscoder(address)->(bool)",
    "isRegisteredTranscoder(address)->(bool)",
    "isValidUnbondingLock(address,uint256)->(bool)",
    "nextRoundTotalActiveStake()->(uint256)",
    "nextRoundTreasuryRewardCutRate()->(uint256)",
    "pendingFees(address,uint256)->(uint256)",
    "pendingStake(address,uint256)->(uint256)",
    "rebond(uint256)->()",
    "rebondFromUnbonded(address,uint256)->()",
    "rebondFromUnbondedWithHint(address,uint256,address,address)->()",
    "rebondWithHint(uint256,address,address)->()",
    "reward()->()",
    "rewardWithHint(address,address)->()",
    "setController(address)->()",
    "setCurrentRoundTotalActiveStake()->()",
    "setNumActiveTranscoders(uint256)->()",
    "setTreasuryBalanceCeiling(uint256)->()",
    "setTreasuryRewardCutRate(uint256)->()",
    "setUnbondingPeriod(uint64)->()",
    "slashTranscoder(address,address,uint256,uint256)->()",
    "targetContractId()->(bytes32)",
    "transcoder(uint256,uint256)->()",
    "transcoderStatus(address)->(uint8)",
    "transcoderTotalStake(address)->(uint256)",
    "transcoderWithHint(uint256,uint256,address,address)->()",
    "transferBond(address,uint256,address,address,address,address)->()",
    "treasuryBalanceCeiling()->(uint256)",
    "treasuryRewardCutRate()->(uint256)",
    "unbond(uint256)->()",
    "unbondWithHint(uint256,address,address)->()",
    "unbondingPeriod()->(uint64)",
    "updateTranscoderWithFees(address,uint256,uint256)->()",
    "withdrawFees(address,uint256)->()",
    "withdrawStake(uint256)->()",
]
EXPECTED_EVENTS = [
    "Bond(indexed address newDelegate,indexed address oldDelegate,indexed address delegator,uint256 additionalAmount,uint256 bondedAmount)",
    "EarningsClaimed(indexed address delegate,indexed address delegator,uint256 rewards,uint256 fees,uint256 startRound,uint256 endRound)",
    "ParameterUpdate(string param)",
    "Rebond(indexed address delegate,indexed address delegator,uint256 unbondingLockId,uint256 amount)",
    "Reward(indexed address transcoder,uint256 amount)",
    "SetController(address controller)",
    "TranscoderActivated(indexed address transcoder,uint256 activationRound)",
    "TranscoderDeactivated(indexed address transcoder,uint256 deactivationRound)",
    "TranscoderSlashed(indexed address transcoder,address finder,uint256 penalty,uint256 finderReward)",
    "TranscoderUpdate(indexed address transcoder,uint256 rewardCut,uint256 feeShare)",
    "TransferBond(indexed address oldDelegator,indexed address newDelegator,uint256 oldUnbondingLockId,uint256 newUnbondingLockId,uint256 amount)",
    "TreasuryReward(indexed address transcoder,address treasury,uint256 amount)",
    "Unbond(indexed address delegate,indexed address delegator,uint256 unbondingLockId,uint256 amount,uint256 withdrawRound)",
    "WithdrawFees(indexed address delegator,address recipient,uint256 amount)",
    "WithdrawStake(indexed address delegator,uint256 unbondingLockId,uint256 amount,uint256 withdrawRound)",
]


def test_abi_matches_solidity():
    abi = compile_contract("BondingManager").abi
    functions = sorted(
        f"{e['name']}({','.join(p['type'] for p in e['inputs'])})->({','.join(p['type'] for p in e['outputs'])})"
        for e in abi if e["type"] == "function"
    )
    events = sorted(
        e["name"] + "(" + ",".join(("indexed " if p["indexed"] else "") + p["type"] + " " + p["name"] for p in e["inputs"]) + ")"
        for e in abi if e["type"] == "event"
    )
    assert functions == EXPECTED_FUNCTIONS
    assert events == EXPECTED_EVENTS


def test_runtime_code_fits_eip170():
    assert compile_contract("BondingManager").runtime_size < 24_576


# ------------------------------------------------------------------------------------------------
# Manager base, owner setters, round hook
# ------------------------------------------------------------------------------------------------

def test_deployment_parameters(p, bm):
    assert bm.controller() == p.Controller.address
    assert bm.targetContractId() == b"\0" * 32  # as on the Solidity target (only a proxy holds the id)
    assert bm.unbondingPeriod() == 2
    assert bm.getTranscoderPoolMaxSize() == 3
    assert bm.getTranscoderPoolSize() == 0
    assert bm.getFirstTranscoderInPool() == ZERO
    assert bm.treasuryRewardCutRate() == 0 and bm.nextRoundTreasuryRewardCutRate() == 0
    assert bm.treasuryBalanceCeiling() == 0
    assert bm.getTotalBonded() == 0 == bm.currentRoundTotalActiveStake() == bm.nextRoundTotalActiveStake()
    assert p.LivepeerToken.totalSupply() == 1_000_000


def test_setters_only_controller_owner(bm, acc):
    for call in (
        lambda: bm.setUnbondingPeriod(5, sender=acc.x),
        lambda: bm.setNumActiveTranscoders(5, sender=acc.x),
        lambda: bm.setTreasuryRewardCutRate(1, sender=acc.x),
        lambda: bm.setTreasuryBalanceCeiling(1, sender=acc.x),
    ):
        with reverts("caller must be Controller owner"):
            call()


def test_setters_store_and_emit_parameter_update(p, bm):
    r = bm.setUnbondingPeriod(7, sender=p.owner)
    assert args(r, "ParameterUpdate") == [{"param": "unbondingPeriod"}]
    assert bm.unbondingPeriod() == 7

    r = bm.setNumActiveTranscoders(10, sender=p.owner)
    assert args(r, "ParameterUpdate") == [{"param": "numActiveTranscoders"}]
    assert bm.getTranscoderPoolMaxSize() == 10

    r = bm.setTreasuryBalanceCeiling(123, sender=p.owner)
    assert args(r, "ParameterUpdate") == [{"param": "treasuryBalanceCeiling"}]
    assert bm.treasuryBalanceCeiling() == 123

    r = bm.setTreasuryRewardCutRate(ONE // 10, sender=p.owner)
    assert args(r, "ParameterUpdate") == [{"param": "nextRoundTreasuryRewardCutRate"}]
    assert bm.nextRoundTreasuryRewardCutRate() == ONE // 10
    assert bm.treasuryRewardCutRate() == 0  # only from the next round on


def test_set_num_active_transcoders_can_only_grow(p, bm):
    with reverts("new max size must be greater than old max size"):
        bm.setNumActiveTranscoders(3, sender=p.owner)
    with reverts("new max size must be greater than old max size"):
        bm.setNumActiveTranscoders(2, sender=p.owner)
    # this implementation bounds its list walks: the pool can never exceed MAX_POOL_SIZE
    with reverts("new max size exceeds MAX_POOL_SIZE"):
        bm.setNumActiveTranscoders(MAX_POOL_SIZE + 1, sender=p.owner)
    bm.setNumActiveTranscoders(MAX_POOL_SIZE, sender=p.owner)
    assert bm.getTranscoderPoolMaxSize() == MAX_POOL_SIZE


def test_treasury_cut_rate_validation_and_activation_at_round_init(p, bm):
    with reverts("_cutRate is invalid precise percentage"):
        bm.setTreasuryRewardCutRate(ONE + 1, sender=p.owner)
    bm.setTreasuryRewardCutRate(ONE, sender=p.owner)  # 100 % is valid
    bm.setTreasuryRewardCutRate(ONE // 4, sender=p.owner)
    assert bm.treasuryRewardCutRate() == 0

    p.chain.mine(p.next_round_start_block() - 1 - p.chain.block_number)
    r = p.RoundsManager.initializeRound(sender=p.owner)
    bm_updates = [e.args["param"] for e in r.events_named("ParameterUpdate") if e.address == bm.address]
    assert bm_updates == ["treasuryRewardCutRate"]
    assert bm.treasuryRewardCutRate() == ONE // 4

    # unchanged rate: no event at the next initialisation
    p.chain.mine(p.next_round_start_block() - 1 - p.chain.block_number)
    r = p.RoundsManager.initializeRound(sender=p.owner)
    assert [e for e in r.events_named("ParameterUpdate") if e.address == bm.address] == []


def test_set_current_round_total_active_stake_only_rounds_manager(p, bm, acc):
    with reverts("caller must be RoundsManager"):
        bm.setCurrentRoundTotalActiveStake(sender=p.owner)


def test_set_controller_only_controller(p, bm, acc):
    with reverts("caller must be Controller"):
        bm.setController(acc.x.address, sender=p.owner)
    # the Controller forwards updateController
    r = p.Controller.updateController(p.contract_id("BondingManager"), acc.x.address, sender=p.owner)
    assert args(r, "SetController") == [{"controller": acc.x.address}]
    assert bm.controller() == acc.x.address


def test_checkpoint_bonding_state_is_a_noop(bm, acc):
    r = bm.checkpointBondingState(acc.d1.address, sender=acc.x)
    assert r.events == []


# ------------------------------------------------------------------------------------------------
# guards: pause, round initialisation, caller roles
# ------------------------------------------------------------------------------------------------

def test_system_paused(p, bm, acc):
    register(bm, acc.t1, 1000)
    act_as_ticket_broker(p, acc.tb)
    p.Controller.pause(sender=p.owner)
    t = acc.t1
    calls = [
        lambda: bm.bond(1, t.address, sender=t),
        lambda: bm.bondWithHint(1, t.address, ZERO, ZERO, ZERO, ZERO, sender=t),
        lambda: bm.bondForWithHint(1, t.address, t.address, ZERO, ZERO, ZERO, ZERO, sender=t),
        lambda: bm.transcoder(0, 0, sender=t),
        lambda: bm.transcoderWithHint(0, 0, ZERO, ZERO, sender=t),
        lambda: bm.unbond(1, sender=t),
        lambda: bm.unbondWithHint(1, ZERO, ZERO, sender=t),
        lambda: bm.rebond(0, sender=t),
        lambda: bm.rebondWithHint(0, ZERO, ZERO, sender=t),
        lambda: bm.rebondFromUnbonded(t.address, 0, sender=t),
        lambda: bm.rebondFromUnbondedWithHint(t.address, 0, ZERO, ZERO, sender=t),
        lambda: bm.withdrawStake(0, sender=t),
        lambda: bm.withdrawFees(t.address, 0, sender=t),
        lambda: bm.claimEarnings(0, sender=t),
        lambda: bm.reward(sender=t),
        lambda: bm.rewardWithHint(ZERO, ZERO, sender=t),
        lambda: bm.transferBond(acc.d1.address, 1, ZERO, ZERO, ZERO, ZERO, sender=t),
        # pause is checked before the caller
        lambda: bm.updateTranscoderWithFees(t.address, 1, 0, sender=acc.x),
    ]
    for call in calls:
        with reverts("system is paused"):
            call()


def test_current_round_not_initialized(p, bm, acc):
    register(bm, acc.t1, 1000)
    p.next_round(initialize=False)
    t = acc.t1
    calls = [
        lambda: bm.bond(1, t.address, sender=t),
        lambda: bm.bondForWithHint(1, t.address, t.address, ZERO, ZERO, ZERO, ZERO, sender=t),
        lambda: bm.transcoder(0, 0, sender=t),
        lambda: bm.unbond(1, sender=t),
        lambda: bm.rebond(0, sender=t),
        lambda: bm.rebondFromUnbonded(t.address, 0, sender=t),
        lambda: bm.withdrawStake(0, sender=t),
        lambda: bm.withdrawFees(t.address, 0, sender=t),
        lambda: bm.claimEarnings(0, sender=t),
        lambda: bm.reward(sender=t),
        lambda: bm.transferBond(acc.d1.address, 1, ZERO, ZERO, ZERO, ZERO, sender=t),
    ]
    for call in calls:
        with reverts("current round is not initialized"):
            call()


def test_update_transcoder_with_fees_guards(p, bm, acc):
    with reverts("caller must be TicketBroker"):
        bm.updateTranscoderWithFees(acc.t1.address, 1, 0, sender=acc.x)
    act_as_ticket_broker(p, acc.tb)
    with reverts("transcoder must be registered"):
        bm.updateTranscoderWithFees(acc.t1.address, 1, 0, sender=acc.tb)
    # fees do not need an initialised round
    register(bm, acc.t1, 1000)
    p.next_round()
    p.next_round(initialize=False)
    bm.updateTranscoderWithFees(acc.t1.address, 100, 0, sender=acc.tb)
    assert transcoder(bm, acc.t1).cumulativeFees == 100  # feeShare 0: all to the transcoder


# ------------------------------------------------------------------------------------------------
# bond
# ------------------------------------------------------------------------------------------------

def test_first_self_bond_registers_and_joins_pool(p, bm, acc):
    R = p.current_round()
    t = acc.t1
    minter_before = lpt(p, p.Minter.address)
    r = bm.bond(1000, t.address, sender=t)

    assert args(r, "EarningsClaimed") == [
        dict(delegate=ZERO, delegator=t.address, rewards=0, fees=0, startRound=1, endRound=R)
    ]
    assert args(r, "TranscoderActivated") == [dict(transcoder=t.address, activationRound=R + 1)]
    assert args(r, "Bond") == [
        dict(newDelegate=t.address, oldDelegate=ZERO, delegator=t.address, additionalAmount=1000, bondedAmount=1000)
    ]
    assert delegator(bm, t) == Delegator(1000, 0, t.address, 1000, R + 1, R, 0)
    assert lpt(p, t) == 50_000 - 1000
    assert lpt(p, p.Minter.address) == minter_before + 1000

    assert bm.isRegisteredTranscoder(t.address) and bm.transcoderStatus(t.address) == 1
    assert bm.delegatorStatus(t.address) == PENDING
    assert not bm.isActiveTranscoder(t.address)
    assert transcoder(bm, t) == Transcoder(0, 0, 0, R + 1, R + 1, MAX_ROUND, 0, 0, 0, 0)
    assert earnings_pool(bm, t, R + 1).totalStake == 1000
    assert pool_members(bm) == [t.address]
    assert bm.nextRoundTotalActiveStake() == 1000 and bm.getTotalBonded() == 0

    p.next_round()
    assert bm.delegatorStatus(t.address) == BONDED
    assert bm.isActiveTranscoder(t.address)
    assert bm.getTotalBonded() == 1000 == bm.currentRoundTotalActiveStake()


def test_bond_wrappers_are_equivalent(p, bm, acc):
    bm.bondWithHint(700, acc.t1.address, ZERO, ZERO, ZERO, ZERO, sender=acc.t1)
    bm.bondForWithHint(300, acc.t1.address, acc.t1.address, ZERO, ZERO, ZERO, ZERO, sender=acc.t1)
    assert delegator(bm, acc.t1).bondedAmount == 1000
    assert bm.transcoderTotalStake(acc.t1.address) == 1000


def test_bond_zero_amount_while_unbonded_reverts(bm, acc):
    with reverts("delegation amount must be greater than 0"):
        bm.bond(0, acc.t1.address, sender=acc.d1)


def test_bond_without_allowance_reverts(p, bm, accounts):
    outsider = accounts[17]  # never approved the BondingManager
    with pytest.raises(TransactionFailed):
        bm.bond(10, accounts[1].address, sender=outsider)


def test_bond_to_unregistered_address_and_to_null(p, bm, acc):
    r = bm.bond(500, acc.x.address, sender=acc.d1)
    assert args(r, "TranscoderActivated") == []
    assert bm.transcoderTotalStake(acc.x.address) == 500
    assert not bm.isRegisteredTranscoder(acc.x.address)
    assert bm.getTranscoderPoolSize() == 0 and bm.nextRoundTotalActiveStake() == 0

    bm.bond(200, ZERO, sender=acc.d2)
    assert bm.transcoderTotalStake(ZERO) == 200
    assert delegator(bm, acc.d2).delegateAddress == ZERO


def test_bond_more_to_same_delegate_keeps_start_round(p, bm, acc):
    R = p.current_round()
    register(bm, acc.t1, 1000)
    bm.bond(100, acc.t1.address, sender=acc.d1)
    p.next_round()
    r = bm.bond(50, acc.t1.address, sender=acc.d1)
    assert args(r, "Bond")[0]["oldDelegate"] == acc.t1.address
    d = delegator(bm, acc.d1)
    assert (d.bondedAmount, d.startRound, d.lastClaimRound) == (150, R + 1, R + 1)
    assert bm.delegatorStatus(acc.d1.address) == BONDED
    assert bm.transcoderTotalStake(acc.t1.address) == 1150
    assert bm.nextRoundTotalActiveStake() == 1150
    # the current round's stake is frozen, the next round's one is written
    assert earnings_pool(bm, acc.t1, R + 1).totalStake == 1100
    assert earnings_pool(bm, acc.t1, R + 2).totalStake == 1150
    assert transcoder(bm, acc.t1).lastActiveStakeUpdateRound == R + 2


def test_bond_change_delegate_moves_whole_bond(p, bm, acc):
    R = p.current_round()
    register(bm, acc.t1, 2000)
    register(bm, acc.t2, 1000)
    bm.bond(800, acc.t1.address, sender=acc.d1)
    p.next_round()
    r = bm.bondWithHint(0, acc.t2.address, ZERO, ZERO, ZERO, ZERO, sender=acc.d1)
    assert args(r, "Bond") == [
        dict(newDelegate=acc.t2.address, oldDelegate=acc.t1.address, delegator=acc.d1.address,
             additionalAmount=0, bondedAmount=800)
    ]
    assert delegator(bm, acc.d1).startRound == R + 2
    assert bm.delegatorStatus(acc.d1.address) == PENDING
    assert bm.transcoderTotalStake(acc.t1.address) == 2000
    assert bm.transcoderTotalStake(acc.t2.address) == 1800
    assert pool_members(bm) == [acc.t1.address, acc.t2.address]
    assert bm.nextRoundTotalActiveStake() == 3800
    assert earnings_pool(bm, acc.t1, R + 1).totalStake == 2800  # frozen for the current round

    # adding more while changing again moves bond + amount
    bm.bond(200, acc.t1.address, sender=acc.d1)
    assert bm.transcoderTotalStake(acc.t1.address) == 3000
    assert bm.transcoderTotalStake(acc.t2.address) == 1000
    assert delegator(bm, acc.d1).bondedAmount == 1000


def test_registered_transcoder_cannot_delegate_elsewhere(bm, acc):
    register(bm, acc.t1, 1000)
    with reverts("registered transcoders can't delegate towards other addresses"):
        bm.bond(10, acc.t2.address, sender=acc.t1)


# --- bondForWithHint: third-party rules ------------------------------------------------------------

def test_third_party_bond_rules(p, bm, acc):
    register(bm, acc.t1, 1000)
    register(bm, acc.t2, 1000)
    x = acc.x
    with reverts("INVALID_DELEGATOR"):
        bm.bondForWithHint(10, ZERO, acc.t1.address, ZERO, ZERO, ZERO, ZERO, sender=x)
    with reverts("INVALID_DELEGATE"):  # no forced self-delegation of an unbonded account
        bm.bondForWithHint(10, acc.d1.address, acc.d1.address, ZERO, ZERO, ZERO, ZERO, sender=x)

    # bonding an unbonded account towards someone else is fine; the CALLER pays
    x_before, d_before = lpt(p, x), lpt(p, acc.d1)
    r = bm.bondForWithHint(100, acc.d1.address, acc.t1.address, ZERO, ZERO, ZERO, ZERO, sender=x)
    assert args(r, "Bond")[0]["delegator"] == acc.d1.address
    assert lpt(p, x) == x_before - 100 and lpt(p, acc.d1) == d_before
    assert delegator(bm, acc.d1).delegateAddress == acc.t1.address

    with reverts("INVALID_DELEGATE_CHANGE"):
        bm.bondForWithHint(10, acc.d1.address, acc.t2.address, ZERO, ZERO, ZERO, ZERO, sender=x)
    # a top-up of the existing delegation is allowed (delegate not active yet: no claim guard)
    bm.bondForWithHint(10, acc.d1.address, acc.t1.address, ZERO, ZERO, ZERO, ZERO, sender=x)
    assert delegator(bm, acc.d1).bondedAmount == 110
    # a third party may top up a transcoder's self-bond
    bm.bondForWithHint(5, acc.t2.address, acc.t2.address, ZERO, ZERO, ZERO, ZERO, sender=x)
    assert delegator(bm, acc.t2).bondedAmount == 1005


def test_third_party_claim_guard(p, bm, acc):
    """ILLEGAL_CLAIM_EARNINGS: a third party may not trigger a claim for a delegator of an active
    transcoder before that transcoder's reward() in the round (rewards griefing fix)."""
    register(bm, acc.t1, 1000)
    bm.bond(1000, acc.t1.address, sender=acc.d1)
    p.next_round()
    with reverts("ILLEGAL_CLAIM_EARNINGS"):
        bm.bondForWithHint(1, acc.d1.address, acc.t1.address, ZERO, ZERO, ZERO, ZERO, sender=acc.x)
    # allowed once the owner itself has claimed in this round
    bm.claimEarnings(0, sender=acc.d1)
    bm.bondForWithHint(1, acc.d1.address, acc.t1.address, ZERO, ZERO, ZERO, ZERO, sender=acc.x)

    p.next_round()
    with reverts("ILLEGAL_CLAIM_EARNINGS"):
        bm.bondForWithHint(1, acc.d1.address, acc.t1.address, ZERO, ZERO, ZERO, ZERO, sender=acc.x)
    bm.reward(sender=acc.t1)  # allowed once the delegate has called reward
    bm.bondForWithHint(1, acc.d1.address, acc.t1.address, ZERO, ZERO, ZERO, ZERO, sender=acc.x)


def test_third_party_claim_guard_skips_inactive_delegate(p, bm, acc):
    bm.bond(1000, acc.x.address, sender=acc.d1)  # delegate is not a transcoder
    p.next_round()
    bm.bondForWithHint(1, acc.d1.address, acc.x.address, ZERO, ZERO, ZERO, ZERO, sender=acc.d2)
    assert delegator(bm, acc.d1).bondedAmount == 1001


def test_l2_migrator_is_exempt_from_third_party_rules(p, bm, acc):
    p.Controller.setContractInfo(p.contract_id("L2Migrator"), acc.mig.address, b"\0" * 20, sender=p.owner)
    # the migrator may self-delegate an unbonded account (forbidden for other third parties)
    r = bm.bondForWithHint(1000, acc.d1.address, acc.d1.address, ZERO, ZERO, ZERO, ZERO, sender=acc.mig)
    assert args(r, "TranscoderActivated") == [dict(transcoder=acc.d1.address, activationRound=p.current_round() + 1)]
    assert bm.isRegisteredTranscoder(acc.d1.address)
    register(bm, acc.t1, 5000)
    p.next_round()
    # ... and trigger claims before reward
    bm.bondForWithHint(1, acc.d1.address, acc.d1.address, ZERO, ZERO, ZERO, ZERO, sender=acc.mig)
    # ... and change an existing delegate (d2 is not a registered transcoder)
    bm.bond(10, acc.t1.address, sender=acc.d2)
    bm.bondForWithHint(0, acc.d2.address, acc.d1.address, ZERO, ZERO, ZERO, ZERO, sender=acc.mig)
    assert delegator(bm, acc.d2).delegateAddress == acc.d1.address


# ------------------------------------------------------------------------------------------------
# transcoder()
# ------------------------------------------------------------------------------------------------

def test_transcoder_check_order(p, bm, acc):
    with reverts("invalid rewardCut percentage"):  # percentages are checked before registration
        bm.transcoder(PERC + 1, 0, sender=acc.t1)
    with reverts("invalid feeShare percentage"):
        bm.transcoder(PERC, PERC + 1, sender=acc.t1)
    with reverts("transcoder must be registered"):
        bm.transcoder(PERC, PERC, sender=acc.t1)
    bm.bond(1000, acc.x.address, sender=acc.t1)  # bonded, but not to itself
    with reverts("transcoder must be registered"):
        bm.transcoder(0, 0, sender=acc.t1)
    # the round lock comes first of all
    p.chain.mine(p.next_round_start_block() - 10 - p.chain.block_number)  # next tx: 10th-last block
    assert p.RoundsManager.currentRoundLocked()
    with reverts("can't update transcoder params, current round is locked"):
        bm.transcoder(PERC + 1, 0, sender=acc.t1)


def test_transcoder_sets_rates_and_emits(p, bm, acc):
    bm.bond(1000, acc.t1.address, sender=acc.t1)
    r = bm.transcoder(PERC, 123_456, sender=acc.t1)
    assert args(r, "TranscoderUpdate") == [dict(transcoder=acc.t1.address, rewardCut=PERC, feeShare=123_456)]
    assert args(r, "TranscoderActivated") == []  # already in the pool since the self-bond
    t = transcoder(bm, acc.t1)
    assert (t.rewardCut, t.feeShare) == (PERC, 123_456)
    # not active yet: may change again in the same round
    bm.transcoderWithHint(5, 6, ZERO, ZERO, sender=acc.t1)
    assert transcoder(bm, acc.t1)[1:3] == (5, 6)


def test_active_transcoder_must_reward_before_changing_rates(p, bm, acc):
    register(bm, acc.t1, 1000, 10, 20)
    p.next_round()
    with reverts("caller can't be active or must have already called reward for the current round"):
        bm.transcoder(30, 40, sender=acc.t1)
    bm.reward(sender=acc.t1)
    bm.transcoder(30, 40, sender=acc.t1)
    assert transcoder(bm, acc.t1)[1:3] == (30, 40)


def test_delegator_bonds_push_transcoder_into_full_pool(p, bm, acc):
    register(bm, acc.t1, 3000)
    register(bm, acc.t2, 2000)
    register(bm, acc.t3, 1000)
    r = register(bm, acc.t4, 1000)  # equal to the tail: cannot join
    assert args(r, "TranscoderActivated") == [] and args(r, "TranscoderDeactivated") == []
    assert acc.t4.address not in pool_members(bm)
    # delegators give t4 more stake than the tail: the bond itself pushes t4 in
    R = p.current_round()
    r = bm.bond(1, acc.t4.address, sender=acc.d1)
    assert args(r, "TranscoderDeactivated") == [dict(transcoder=acc.t3.address, deactivationRound=R + 1)]
    assert args(r, "TranscoderActivated") == [dict(transcoder=acc.t4.address, activationRound=R + 1)]
    assert pool_members(bm) == [acc.t1.address, acc.t2.address, acc.t4.address]
    # t3 (registered, out of the pool) gains stake from a delegator: it joins again and evicts t4
    bm.bond(1500, acc.t3.address, sender=acc.d2)
    assert pool_members(bm) == [acc.t1.address, acc.t3.address, acc.t2.address]
    assert bm.nextRoundTotalActiveStake() == 3000 + 2500 + 2000


def test_transcoder_call_rejoins_pool(p, bm, acc):
    register(bm, acc.t1, 3000)
    register(bm, acc.t2, 2000)
    register(bm, acc.t3, 1000)
    register(bm, acc.t4, 500)
    bm.setNumActiveTranscoders(4, sender=p.owner)  # room now, but t4 only joins when it asks
    assert acc.t4.address not in pool_members(bm)
    R = p.current_round()
    r = bm.transcoder(7, 8, sender=acc.t4)
    assert args(r, "TranscoderActivated") == [dict(transcoder=acc.t4.address, activationRound=R + 1)]
    assert pool_members(bm)[-1] == acc.t4.address


# ------------------------------------------------------------------------------------------------
# unbond, rebond, rebondFromUnbonded, withdrawStake
# ------------------------------------------------------------------------------------------------

def test_unbond_requires_bonded_status(p, bm, acc):
    with reverts("caller must be bonded"):
        bm.unbond(1, sender=acc.d1)
    register(bm, acc.t1, 1000)
    bm.bond(100, acc.t1.address, sender=acc.d1)
    with reverts("caller must be bonded"):  # Pending until next round
        bm.unbond(1, sender=acc.d1)
    p.next_round()
    with reverts("unbond amount must be greater than 0"):
        bm.unbond(0, sender=acc.d1)
    with reverts("amount is greater than bonded amount"):
        bm.unbond(101, sender=acc.d1)


def test_partial_unbond(p, bm, acc):
    register(bm, acc.t1, 1000)
    bm.bond(100, acc.t1.address, sender=acc.d1)
    R = p.next_round()
    r = bm.unbond(40, sender=acc.d1)
    assert args(r, "Unbond") == [
        dict(delegate=acc.t1.address, delegator=acc.d1.address, unbondingLockId=0, amount=40, withdrawRound=R + 2)
    ]
    d = delegator(bm, acc.d1)
    assert (d.bondedAmount, d.delegateAddress, d.nextUnbondingLockId) == (60, acc.t1.address, 1)
    assert bm.getDelegatorUnbondingLock(acc.d1.address, 0) == (40, R + 2)
    assert bm.isValidUnbondingLock(acc.d1.address, 0) and not bm.isValidUnbondingLock(acc.d1.address, 1)
    assert bm.transcoderTotalStake(acc.t1.address) == 1060
    assert bm.nextRoundTotalActiveStake() == 1060
    assert earnings_pool(bm, acc.t1, R).totalStake == 1100  # frozen for this round
    assert earnings_pool(bm, acc.t1, R + 1).totalStake == 1060
    # a second lock gets the next id
    r = bm.unbondWithHint(10, ZERO, ZERO, sender=acc.d1)
    assert args(r, "Unbond")[0]["unbondingLockId"] == 1
    assert delegator(bm, acc.d1).nextUnbondingLockId == 2


def test_full_unbond_of_delegator(p, bm, acc):
    register(bm, acc.t1, 1000)
    bm.bond(100, acc.t1.address, sender=acc.d1)
    p.next_round()
    bm.unbond(100, sender=acc.d1)
    d = delegator(bm, acc.d1)
    assert (d.bondedAmount, d.delegateAddress, d.startRound) == (0, ZERO, 0)
    assert bm.delegatorStatus(acc.d1.address) == UNBONDED
    assert bm.transcoderTotalStake(acc.t1.address) == 1000


def test_full_unbond_resigns_transcoder(p, bm, acc):
    register(bm, acc.t1, 1000)
    register(bm, acc.t2, 500)
    bm.bond(300, acc.t1.address, sender=acc.d1)
    R = p.next_round()
    r = bm.unbond(1000, sender=acc.t1)
    assert args(r, "TranscoderDeactivated") == [dict(transcoder=acc.t1.address, deactivationRound=R + 1)]
    assert pool_members(bm) == [acc.t2.address]
    # the whole delegated stake (including d1's) leaves the next round's active stake
    assert bm.nextRoundTotalActiveStake() == 500
    assert bm.transcoderTotalStake(acc.t1.address) == 300
    assert not bm.isRegisteredTranscoder(acc.t1.address)
    assert bm.isActiveTranscoder(acc.t1.address)  # until the end of this round
    bm.reward(sender=acc.t1)  # still allowed in this round
    p.next_round()
    assert not bm.isActiveTranscoder(acc.t1.address)
    assert bm.getTotalBonded() == 500


def test_rebond(p, bm, acc):
    register(bm, acc.t1, 1000)
    bm.bond(100, acc.t1.address, sender=acc.d1)
    R = p.next_round()
    with reverts("caller must be bonded"):
        bm.rebond(0, sender=acc.d2)
    bm.unbond(40, sender=acc.d1)
    with reverts("invalid unbonding lock ID"):
        bm.rebond(1, sender=acc.d1)
    r = bm.rebond(0, sender=acc.d1)
    assert args(r, "Rebond") == [dict(delegate=acc.t1.address, delegator=acc.d1.address, unbondingLockId=0, amount=40)]
    d = delegator(bm, acc.d1)
    assert (d.bondedAmount, d.startRound) == (100, R)  # startRound unchanged
    assert bm.getDelegatorUnbondingLock(acc.d1.address, 0) == (0, 0)
    assert bm.transcoderTotalStake(acc.t1.address) == 1100 == bm.nextRoundTotalActiveStake()
    with reverts("invalid unbonding lock ID"):
        bm.rebondWithHint(0, ZERO, ZERO, sender=acc.d1)


def test_rebond_from_unbonded(p, bm, acc):
    register(bm, acc.t1, 1000)
    register(bm, acc.t2, 1000)
    bm.bond(100, acc.t1.address, sender=acc.d1)
    p.next_round()
    with reverts("caller must be unbonded"):
        bm.rebondFromUnbonded(acc.t2.address, 0, sender=acc.d1)
    bm.unbond(100, sender=acc.d1)
    with reverts("invalid unbonding lock ID"):
        bm.rebondFromUnbonded(acc.t2.address, 1, sender=acc.d1)
    R = p.next_round()
    r = bm.rebondFromUnbondedWithHint(acc.t2.address, 0, ZERO, ZERO, sender=acc.d1)
    assert args(r, "Rebond") == [dict(delegate=acc.t2.address, delegator=acc.d1.address, unbondingLockId=0, amount=100)]
    d = delegator(bm, acc.d1)
    assert (d.bondedAmount, d.delegateAddress, d.startRound) == (100, acc.t2.address, R + 1)
    assert bm.delegatorStatus(acc.d1.address) == PENDING
    assert bm.transcoderTotalStake(acc.t1.address) == 1000
    assert bm.transcoderTotalStake(acc.t2.address) == 1100
    # a transcoder that fully unbonded rejoins by rebonding to itself
    bm.unbond(1000, sender=acc.t1)
    r = bm.rebondFromUnbonded(acc.t1.address, 0, sender=acc.t1)
    assert args(r, "TranscoderActivated") == [dict(transcoder=acc.t1.address, activationRound=R + 1)]


def test_withdraw_stake(p, bm, acc):
    register(bm, acc.t1, 1000)
    bm.bond(100, acc.t1.address, sender=acc.d1)
    R = p.next_round()
    with reverts("invalid unbonding lock ID"):
        bm.withdrawStake(0, sender=acc.d1)
    bm.unbond(60, sender=acc.d1)
    with reverts("withdraw round must be before or equal to the current round"):
        bm.withdrawStake(0, sender=acc.d1)
    p.next_round()
    with reverts("withdraw round must be before or equal to the current round"):
        bm.withdrawStake(0, sender=acc.d1)
    p.next_round()
    before, minter_before = lpt(p, acc.d1), lpt(p, p.Minter.address)
    r = bm.withdrawStake(0, sender=acc.d1)
    assert args(r, "WithdrawStake") == [dict(delegator=acc.d1.address, unbondingLockId=0, amount=60, withdrawRound=R + 2)]
    assert lpt(p, acc.d1) == before + 60 and lpt(p, p.Minter.address) == minter_before - 60
    assert bm.getDelegatorUnbondingLock(acc.d1.address, 0) == (0, 0)
    with reverts("invalid unbonding lock ID"):
        bm.withdrawStake(0, sender=acc.d1)


# ------------------------------------------------------------------------------------------------
# transferBond
# ------------------------------------------------------------------------------------------------

def test_transfer_bond_to_unbonded_receiver(p, bm, acc):
    register(bm, acc.t1, 1000)
    bm.bond(100, acc.t1.address, sender=acc.d1)
    R = p.next_round()
    r = bm.transferBond(acc.d2.address, 40, ZERO, ZERO, ZERO, ZERO, sender=acc.d1)
    assert args(r, "Unbond") == [
        dict(delegate=acc.t1.address, delegator=acc.d1.address, unbondingLockId=0, amount=40, withdrawRound=R + 2)
    ]
    assert args(r, "TransferBond") == [
        dict(oldDelegator=acc.d1.address, newDelegator=acc.d2.address, oldUnbondingLockId=0, newUnbondingLockId=0, amount=40)
    ]
    assert args(r, "Rebond") == [dict(delegate=acc.t1.address, delegator=acc.d2.address, unbondingLockId=0, amount=40)]
    assert delegator(bm, acc.d1).bondedAmount == 60
    d2 = delegator(bm, acc.d2)
    assert (d2.bondedAmount, d2.delegateAddress, d2.startRound, d2.lastClaimRound, d2.nextUnbondingLockId) == (
        40, acc.t1.address, R + 1, R, 1)
    assert bm.getDelegatorUnbondingLock(acc.d1.address, 0) == (0, 0)
    assert bm.getDelegatorUnbondingLock(acc.d2.address, 0) == (0, 0)
    assert bm.transcoderTotalStake(acc.t1.address) == 1100 == bm.nextRoundTotalActiveStake()


def test_transfer_bond_to_receiver_with_other_delegate(p, bm, acc):
    register(bm, acc.t1, 1000)
    register(bm, acc.t2, 1000)
    bm.bond(100, acc.t1.address, sender=acc.d1)
    bm.bond(100, acc.t2.address, sender=acc.d2)
    R = p.next_round()
    bm.reward(sender=acc.t2)  # receiver's delegate rewarded: the third-party claim is allowed
    r = bm.transferBond(acc.d2.address, 100, ZERO, ZERO, ZERO, ZERO, sender=acc.d1)  # full transfer
    assert args(r, "Rebond")[0]["delegate"] == acc.t2.address
    assert delegator(bm, acc.d1) == Delegator(0, 0, ZERO, 0, 0, R, 1)
    d2 = delegator(bm, acc.d2)
    assert (d2.delegateAddress, d2.startRound) == (acc.t2.address, R)  # still Bonded, startRound unchanged
    assert bm.transcoderTotalStake(acc.t1.address) == 1000


def test_transfer_bond_guards(p, bm, acc):
    register(bm, acc.t1, 1000)
    bm.bond(100, acc.t1.address, sender=acc.d1)
    bm.bond(100, acc.t1.address, sender=acc.d2)
    bm.bond(100, acc.x.address, sender=acc.d3)  # delegates to a plain (unbonded) address
    with reverts("caller must be bonded"):  # Pending
        bm.transferBond(acc.d4.address, 1, ZERO, ZERO, ZERO, ZERO, sender=acc.d1)
    p.next_round()
    with reverts("ILLEGAL_CLAIM_EARNINGS"):  # d2's delegate is active and has not rewarded yet
        bm.transferBond(acc.d2.address, 1, ZERO, ZERO, ZERO, ZERO, sender=acc.d1)
    with reverts("INVALID_DELEGATOR"):  # would make the unbonded delegate self-delegated
        bm.transferBond(acc.x.address, 1, ZERO, ZERO, ZERO, ZERO, sender=acc.d3)
    with reverts("INVALID_DELEGATOR"):
        bm.transferBond(ZERO, 1, ZERO, ZERO, ZERO, ZERO, sender=acc.d3)
    with reverts("amount is greater than bonded amount"):
        bm.transferBond(acc.d4.address, 101, ZERO, ZERO, ZERO, ZERO, sender=acc.d1)


def test_transcoder_transfers_part_of_self_bond(p, bm, acc):
    register(bm, acc.t1, 1000)
    p.next_round()
    bm.transferBond(acc.d1.address, 300, ZERO, ZERO, ZERO, ZERO, sender=acc.t1)
    assert delegator(bm, acc.t1).bondedAmount == 700
    assert delegator(bm, acc.d1).delegateAddress == acc.t1.address
    assert bm.transcoderTotalStake(acc.t1.address) == 1000
    assert pool_members(bm) == [acc.t1.address]


# ------------------------------------------------------------------------------------------------
# reward
# ------------------------------------------------------------------------------------------------

def test_reward_guards(p, bm, acc):
    register(bm, acc.t1, 1000)
    with reverts("caller must be an active transcoder"):  # active only from the next round
        bm.reward(sender=acc.t1)
    with reverts("caller must be an active transcoder"):
        bm.reward(sender=acc.x)
    p.next_round()
    bm.reward(sender=acc.t1)
    with reverts("caller has already called reward for the current round"):
        bm.rewardWithHint(ZERO, ZERO, sender=acc.t1)


def test_reward_single_transcoder(p, bm, acc):
    register(bm, acc.t1, 1000, reward_cut=PERC // 2)
    bm.bond(3000, acc.t1.address, sender=acc.d1)
    R = p.next_round()
    assert p.Minter.currentMintableTokens() == 10_000  # 1 % of 1,000,000
    r = bm.reward(sender=acc.t1)
    assert args(r, "Reward") == [dict(transcoder=acc.t1.address, amount=10_000)]
    assert args(r, "TreasuryReward") == []
    t = transcoder(bm, acc.t1)
    assert (t.lastRewardRound, t.activeCumulativeRewards, t.cumulativeRewards) == (R, 0, 5000)
    # CRF = 1 + 5000/4000
    assert earnings_pool(bm, acc.t1, R) == Pool(4000, PERC // 2, 0, 2_250_000_000_000_000_000_000_000_000, 0)
    assert bm.transcoderTotalStake(acc.t1.address) == 14_000 == bm.nextRoundTotalActiveStake()
    assert earnings_pool(bm, acc.t1, R + 1).totalStake == 14_000
    assert bm.pendingStake(acc.d1.address, 0) == 6750
    assert bm.pendingStake(acc.t1.address, 0) == 2250 + 5000
    assert p.LivepeerToken.totalSupply() == 1_010_000
    assert lpt(p, p.Minter.address) == 14_000


def test_reward_shares_by_stake(p, bm, acc):
    register(bm, acc.t1, 3000)
    register(bm, acc.t2, 1000)
    p.next_round()
    # createReward(stake, total) = floor(10,000 * floor(stake * 1e9 / total) / 1e9)
    assert args(bm.reward(sender=acc.t1), "Reward")[0]["amount"] == 7500
    assert args(bm.reward(sender=acc.t2), "Reward")[0]["amount"] == 2500
    assert p.Minter.currentMintedTokens() == 10_000


def test_reward_with_treasury_cut_and_ceiling(p, bm, acc):
    register(bm, acc.t1, 4000)
    bm.setTreasuryRewardCutRate(ONE // 10, sender=p.owner)  # 10 %
    bm.setTreasuryBalanceCeiling(1500, sender=p.owner)
    R = p.next_round()
    assert bm.treasuryRewardCutRate() == ONE // 10
    r = bm.reward(sender=acc.t1)
    assert args(r, "TreasuryReward") == [dict(transcoder=acc.t1.address, treasury=p.treasury, amount=1000)]
    assert args(r, "Reward") == [dict(transcoder=acc.t1.address, amount=9000)]
    assert lpt(p, p.treasury) == 1000
    assert bm.transcoderTotalStake(acc.t1.address) == 13_000

    # round R+1: supply 1,010,000 -> mintable 10,100; treasury balance 1000 < ceiling: still paid
    p.next_round()
    r = bm.reward(sender=acc.t1)
    assert args(r, "TreasuryReward")[0]["amount"] == 1010
    assert args(r, "Reward")[0]["amount"] == 9090
    assert lpt(p, p.treasury) == 2010
    assert bm.nextRoundTreasuryRewardCutRate() == ONE // 10

    # round R+2: treasury balance 2010 >= 1500: this reward still pays the treasury at the current
    # rate, and the next round's rate drops to 0
    p.next_round()
    mintable = p.Minter.currentMintableTokens()
    assert mintable == 1_020_100 // 100
    r = bm.reward(sender=acc.t1)
    assert [e.args for e in r.events_named("ParameterUpdate") if e.address == bm.address] == [
        {"param": "nextRoundTreasuryRewardCutRate"}
    ]
    assert args(r, "TreasuryReward")[0]["amount"] == mintable // 10
    assert bm.nextRoundTreasuryRewardCutRate() == 0 and bm.treasuryRewardCutRate() == ONE // 10

    # round R+3: no treasury contribution any more
    p.next_round()
    assert bm.treasuryRewardCutRate() == 0
    r = bm.reward(sender=acc.t1)
    assert args(r, "TreasuryReward") == []
    assert args(r, "Reward")[0]["amount"] == p.Minter.currentMintableTokens()
    assert R + 3 == p.current_round()


# ------------------------------------------------------------------------------------------------
# fees: updateTranscoderWithFees, withdrawFees, claimEarnings
# ------------------------------------------------------------------------------------------------

def test_fees_and_withdraw_fees(p, bm, acc):
    act_as_ticket_broker(p, acc.tb)
    p.Minter.depositETH(value=10_000, sender=acc.tb)  # the Minter holds all fee ETH
    register(bm, acc.t1, 1000, fee_share=PERC // 4)  # 25 % of fees to delegators
    bm.bond(3000, acc.t1.address, sender=acc.d1)
    R = p.next_round()
    bm.updateTranscoderWithFees(acc.t1.address, 1000, 0, sender=acc.tb)
    t = transcoder(bm, acc.t1)
    assert (t.cumulativeFees, t.lastFeeRound) == (750, R)
    assert earnings_pool(bm, acc.t1, R) == Pool(4000, 0, PERC // 4, 0, ONE // 16)  # CFF = 250 / 4000
    assert bm.pendingFees(acc.d1.address, 0) == 187  # floor(3000 * 0.0625)
    assert bm.pendingFees(acc.t1.address, 0) == 62 + 750

    recipient = "0x" + "ab" * 20
    with reverts("invalid recipient"):
        bm.withdrawFees(ZERO, 1, sender=acc.d1)
    with reverts("insufficient fees to withdraw"):
        bm.withdrawFees(recipient, 188, sender=acc.d1)
    r = bm.withdrawFees(recipient, 100, sender=acc.d1)
    assert args(r, "WithdrawFees") == [dict(delegator=acc.d1.address, recipient=to_checksum_address(recipient), amount=100)]
    assert args(r, "EarningsClaimed") == [
        dict(delegate=acc.t1.address, delegator=acc.d1.address, rewards=0, fees=187, startRound=R, endRound=R)
    ]
    assert p.chain.eth_balance(recipient) == 100
    assert p.chain.eth_balance(p.Minter.address) == 9900
    d = delegator(bm, acc.d1)
    assert (d.fees, d.lastClaimRound) == (87, R)
    bm.withdrawFees(recipient, 0, sender=acc.d1)  # zero is allowed
    bm.withdrawFees(recipient, 87, sender=acc.d1)
    assert delegator(bm, acc.d1).fees == 0 and p.chain.eth_balance(recipient) == 187


def test_withdraw_fees_to_a_contract(p, bm, acc):
    """withdrawFees pays through Minter.trustedWithdrawETH, which gives a recipient with code
    2,300 gas for any amount, zero included (Solidity's address.transfer): a zero withdrawal to a
    contract succeeds and its earnings claim stands; a recipient needing more gas fails the call,
    claim and all, for zero as for a positive amount."""
    act_as_ticket_broker(p, acc.tb)
    p.Minter.depositETH(value=10_000, sender=acc.tb)
    register(bm, acc.t1, 1000, fee_share=PERC // 4)
    bm.bond(3000, acc.t1.address, sender=acc.d1)
    R = p.next_round()
    bm.updateTranscoderWithFees(acc.t1.address, 1000, 0, sender=acc.tb)
    logging = deploy_source(p.chain, "LoggingRecipient", LOGGING_RECIPIENT, sender=p.owner)
    storing = deploy_source(p.chain, "StoringRecipient", STORING_RECIPIENT, sender=p.owner)
    refusing = deploy_source(p.chain, "RefusingRecipient", REFUSING_RECIPIENT, sender=p.owner)

    for amount in (0, 1):
        with pytest.raises(TransactionFailed):
            bm.withdrawFees(storing.address, amount, sender=acc.d1)
        with reverts("recipient refuses ETH"):
            bm.withdrawFees(refusing.address, amount, sender=acc.d1)
    assert delegator(bm, acc.d1).lastClaimRound < R  # the failed calls claimed nothing

    r = bm.withdrawFees(logging.address, 0, sender=acc.d1)
    assert args(r, "EarningsClaimed")[0]["fees"] == 187
    assert args(r, "WithdrawFees") == [dict(delegator=acc.d1.address, recipient=logging.address, amount=0)]
    received = [e.args for e in r.events if e.address == logging.address]
    assert len(received) == 1 and received[0]["amount"] == 0 and 0 < received[0]["gas"] < 2300
    d = delegator(bm, acc.d1)
    assert (d.fees, d.lastClaimRound) == (187, R)
    r = bm.withdrawFees(logging.address, 100, sender=acc.d1)
    assert [e.args for e in r.events if e.address == logging.address] == [dict(amount=100, gas=received[0]["gas"])]
    assert p.chain.eth_balance(logging.address) == 100 and delegator(bm, acc.d1).fees == 87


def test_claim_earnings(p, bm, acc):
    register(bm, acc.t1, 1000, reward_cut=PERC // 2)
    bm.bond(3000, acc.t1.address, sender=acc.d1)
    R = p.next_round()
    bm.reward(sender=acc.t1)
    p.next_round()
    r = bm.claimEarnings(12345, sender=acc.d1)  # the end round argument is ignored
    assert args(r, "EarningsClaimed") == [
        dict(delegate=acc.t1.address, delegator=acc.d1.address, rewards=3750, fees=0, startRound=R, endRound=R + 1)
    ]
    d = delegator(bm, acc.d1)
    assert (d.bondedAmount, d.lastClaimRound) == (6750, R + 1)
    assert bm.pendingStake(acc.d1.address, 0) == 6750
    # a second claim in the same round is a no-op
    assert bm.claimEarnings(0, sender=acc.d1).events == []

    # the transcoder's claim moves its cumulative rewards into its bond
    r = bm.claimEarnings(0, sender=acc.t1)
    assert args(r, "EarningsClaimed")[0]["rewards"] == 1250 + 5000
    assert delegator(bm, acc.t1).bondedAmount == 7250
    t = transcoder(bm, acc.t1)
    assert (t.cumulativeRewards, t.cumulativeFees, t.activeCumulativeRewards) == (0, 0, 0)
    assert bm.pendingStake(acc.t1.address, 0) == 7250


# ------------------------------------------------------------------------------------------------
# views
# ------------------------------------------------------------------------------------------------

def test_delegator_status_transitions(p, bm, acc):
    assert bm.delegatorStatus(acc.d1.address) == UNBONDED
    register(bm, acc.t1, 1000)
    bm.bond(10, acc.t1.address, sender=acc.d1)
    assert bm.delegatorStatus(acc.d1.address) == PENDING
    p.next_round()
    assert bm.delegatorStatus(acc.d1.address) == BONDED
    bm.unbond(10, sender=acc.d1)
    assert bm.delegatorStatus(acc.d1.address) == UNBONDED
    assert bm.transcoderStatus(acc.d1.address) == 0 and bm.transcoderStatus(acc.t1.address) == 1


def test_pending_views_for_unknown_accounts(bm, acc):
    assert bm.pendingStake(acc.x.address, 0) == 0
    assert bm.pendingFees(acc.x.address, 0) == 0
    assert delegator(bm, acc.x) == Delegator(0, 0, ZERO, 0, 0, 0, 0)
    assert transcoder(bm, acc.x) == Transcoder(*([0] * 10))
    assert earnings_pool(bm, acc.x, 5) == Pool(0, 0, 0, 0, 0)
    assert bm.getNextTranscoderInPool(acc.x.address) == ZERO
    assert not bm.isActiveTranscoder(acc.x.address) and not bm.isRegisteredTranscoder(acc.x.address)


# ------------------------------------------------------------------------------------------------
# slashTranscoder (deprecated in the reference; reachable once a Verifier is registered)
# ------------------------------------------------------------------------------------------------

def test_slash_transcoder(p, bm, acc):
    register(bm, acc.t1, 1000)
    bm.bond(3000, acc.t1.address, sender=acc.d1)
    R = p.next_round()
    with reverts("caller must be Verifier"):
        bm.slashTranscoder(acc.t1.address, acc.x.address, 500_000, 100_000, sender=acc.x)
    verifier = acc.mig
    p.Controller.setContractInfo(p.contract_id("Verifier"), verifier.address, b"\0" * 20, sender=p.owner)

    # 50 % of the 1000 self-bond; the finder gets 10 % of the penalty, the rest is burnt
    finder_before, minter_before = lpt(p, acc.x), lpt(p, p.Minter.address)
    r = bm.slashTranscoder(acc.t1.address, acc.x.address, 500_000, 100_000, sender=verifier)
    assert args(r, "TranscoderDeactivated") == [dict(transcoder=acc.t1.address, deactivationRound=R + 1)]
    assert args(r, "TranscoderSlashed") == [
        dict(transcoder=acc.t1.address, finder=acc.x.address, penalty=500, finderReward=50)
    ]
    assert delegator(bm, acc.t1).bondedAmount == 500
    assert bm.transcoderTotalStake(acc.t1.address) == 3500
    assert bm.getTranscoderPoolSize() == 0 and bm.nextRoundTotalActiveStake() == 0
    assert lpt(p, acc.x) == finder_before + 50
    assert lpt(p, p.Minter.address) == minter_before - 500
    assert p.LivepeerToken.totalSupply() == 1_000_000 - 450

    # no finder: everything burnt; nothing bonded: a zero event
    r = bm.slashTranscoder(acc.t1.address, ZERO, 100_000, 0, sender=verifier)
    assert args(r, "TranscoderSlashed") == [dict(transcoder=acc.t1.address, finder=ZERO, penalty=50, finderReward=0)]
    r = bm.slashTranscoder(acc.d2.address, acc.x.address, 100_000, 0, sender=verifier)
    assert args(r, "TranscoderSlashed") == [dict(transcoder=acc.d2.address, finder=acc.x.address, penalty=0, finderReward=0)]

    p.Controller.pause(sender=p.owner)
    with reverts("system is paused"):  # pause is checked before the caller
        bm.slashTranscoder(acc.t1.address, ZERO, 1, 0, sender=acc.x)
