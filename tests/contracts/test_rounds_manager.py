"""RoundsManager (spec §2). TEST_PARAMS: roundLength 100, roundLockAmount 100,000 (10 % in 1e6 units).

Block arithmetic: a view runs on the latest mined block (block.number == chain.block_number); a
transaction is mined in its own new block (block.number == chain.block_number + 1)."""
from __future__ import annotations

import pytest

from node.eth import LPT, TransactionFailed, compile_contract, contract_id

from .mocks import MOCK_BONDING_MANAGER, deploy_source

ZERO32 = b"\x00" * 32
NULL_COMMIT = b"\x00" * 20
S = 20_000_000 * LPT

def mine_to(chain, number: int) -> None:
    """Mine until the latest block is `number` (views then see block.number == number)."""
    assert number >= chain.block_number, (number, chain.block_number)
    chain.mine(number - chain.block_number)


@pytest.fixture
def rm(protocol):
    return protocol.RoundsManager


# --- state after deployment ---------------------------------------------------------------------------

def test_deployed_parameters(rm, protocol, chain):
    assert rm.roundLength() == 100
    assert rm.roundLockAmount() == 100_000
    assert rm.controller() == protocol.Controller.address
    assert rm.targetContractId() == ZERO32
    # roundLength was first set during deployment (a block < 100): anchored at round 0, block 0
    assert rm.lastRoundLengthUpdateRound() == 0
    assert rm.lastRoundLengthUpdateStartBlock() == 0
    assert rm.blockNum() == chain.block_number
    assert rm.currentRound() == chain.block_number // 100


def test_first_round_length_anchors_at_floor(chain, protocol):
    fresh = chain.deploy(compile_contract("RoundsManager"), protocol.Controller.address, sender=protocol.owner)
    assert fresh.roundLength() == 0
    with pytest.raises(TransactionFailed):  # division by zero while roundLength == 0
        fresh.currentRound()
    mine_to(chain, 1000)
    r = fresh.setRoundLength(7, sender=protocol.owner)  # mined in block 1001
    assert r.block_number == 1001
    assert r.event("ParameterUpdate").args == {"param": "roundLength"}
    # round = floor(1001 / 7) = 143, start = 143 * 7 = 1001
    assert fresh.lastRoundLengthUpdateRound() == 143
    assert fresh.lastRoundLengthUpdateStartBlock() == 1001
    chain.mine(5)  # latest 1006
    assert fresh.currentRound() == 143
    assert fresh.currentRoundStartBlock() == 1001
    chain.mine(2)  # latest 1008 = 144 * 7
    assert fresh.currentRound() == 144
    assert fresh.currentRoundStartBlock() == 1008


def test_first_round_length_mid_round(chain, protocol):
    fresh = chain.deploy(compile_contract("RoundsManager"), protocol.Controller.address, sender=protocol.owner)
    mine_to(chain, 1002)
    fresh.setRoundLength(10, sender=protocol.owner)  # block 1003: round 100, start 1000
    assert fresh.lastRoundLengthUpdateRound() == 100
    assert fresh.lastRoundLengthUpdateStartBlock() == 1000
    assert fresh.currentRoundStartBlock() == 1000


# --- currentRound / currentRoundStartBlock across round-length changes ----------------------------------

def test_current_round_follows_blocks(rm, chain):
    mine_to(chain, 499)
    assert (rm.currentRound(), rm.currentRoundStartBlock()) == (4, 400)
    chain.mine(1)
    assert (rm.currentRound(), rm.currentRoundStartBlock()) == (5, 500)
    mine_to(chain, 1234)
    assert (rm.currentRound(), rm.currentRoundStartBlock()) == (12, 1200)


def test_set_round_length_keeps_current_round_and_start(rm, chain, protocol):
    mine_to(chain, 529)
    r = rm.setRoundLength(50, sender=protocol.owner)  # block 530, round 5 (start 500) under the old length
    assert r.event("ParameterUpdate").args == {"param": "roundLength"}
    assert rm.roundLength() == 50
    assert rm.lastRoundLengthUpdateRound() == 5
    assert rm.lastRoundLengthUpdateStartBlock() == 500
    assert (rm.currentRound(), rm.currentRoundStartBlock()) == (5, 500)
    mine_to(chain, 549)  # still round 5: 5 + floor(49 / 50)
    assert (rm.currentRound(), rm.currentRoundStartBlock()) == (5, 500)
    chain.mine(1)  # block 550 = 500 + new length
    assert (rm.currentRound(), rm.currentRoundStartBlock()) == (6, 550)
    mine_to(chain, 700)  # 5 + floor(200 / 50) = 9, start 500 + 4 * 50
    assert (rm.currentRound(), rm.currentRoundStartBlock()) == (9, 700)


def test_set_round_length_twice(rm, chain, protocol):
    mine_to(chain, 529)
    rm.setRoundLength(50, sender=protocol.owner)  # round 5, start 500
    mine_to(chain, 559)
    rm.setRoundLength(200, sender=protocol.owner)  # block 560: round 6 (start 550) under length 50
    assert rm.lastRoundLengthUpdateRound() == 6
    assert rm.lastRoundLengthUpdateStartBlock() == 550
    mine_to(chain, 749)
    assert (rm.currentRound(), rm.currentRoundStartBlock()) == (6, 550)
    chain.mine(1)  # 750 = 550 + 200
    assert (rm.currentRound(), rm.currentRoundStartBlock()) == (7, 750)


def test_shrinking_round_length_at_round_end(rm, chain, protocol):
    mine_to(chain, 598)
    rm.setRoundLength(10, sender=protocol.owner)  # block 599: round 5, start 500
    # 99 blocks into round 5 with a new length of 10: round = 5 + floor(99/10) = 14
    assert rm.blockNum() == 599
    assert (rm.currentRound(), rm.currentRoundStartBlock()) == (14, 590)


def test_set_round_length_zero(rm, protocol):
    with pytest.raises(TransactionFailed, match="round length cannot be 0"):
        rm.setRoundLength(0, sender=protocol.owner)


def test_set_round_length_only_owner(rm, accounts):
    with pytest.raises(TransactionFailed, match="caller must be Controller owner"):
        rm.setRoundLength(10, sender=accounts[1])


def test_round_length_change_then_initialize(rm, chain, protocol):
    mine_to(chain, 529)
    rm.setRoundLength(50, sender=protocol.owner)
    mine_to(chain, 549)  # next tx lands in block 550 = first block of round 6
    r = rm.initializeRound(sender=protocol.owner)
    assert r.event("NewRound").args["round"] == 6
    assert rm.lastInitializedRound() == 6


# --- round lock ---------------------------------------------------------------------------------------------

def test_set_round_lock_amount(rm, protocol):
    r = rm.setRoundLockAmount(155_000, sender=protocol.owner)
    assert r.event("ParameterUpdate").args == {"param": "roundLockAmount"}
    assert rm.roundLockAmount() == 155_000
    rm.setRoundLockAmount(1_000_000, sender=protocol.owner)
    assert rm.roundLockAmount() == 1_000_000


def test_set_round_lock_amount_invalid(rm, protocol):
    with pytest.raises(TransactionFailed, match="round lock amount must be a valid percentage"):
        rm.setRoundLockAmount(1_000_001, sender=protocol.owner)


def test_set_round_lock_amount_only_owner(rm, accounts):
    with pytest.raises(TransactionFailed, match="caller must be Controller owner"):
        rm.setRoundLockAmount(1, sender=accounts[1])


def test_lock_window_10_percent(rm, chain):
    # lockedBlocks = floor(100 * 100,000 / 1e6) = 10: locked iff block - start >= 90
    mine_to(chain, 300)
    assert rm.currentRoundLocked() is False
    mine_to(chain, 389)
    assert rm.currentRoundLocked() is False
    chain.mine(1)  # 390
    assert rm.currentRoundLocked() is True
    mine_to(chain, 399)
    assert rm.currentRoundLocked() is True
    chain.mine(1)  # 400: new round
    assert rm.currentRoundLocked() is False


def test_lock_window_rounds_down(rm, chain, protocol):
    rm.setRoundLockAmount(155_000, sender=protocol.owner)  # floor(100 * 0.155) = 15 -> offsets 85..99
    mine_to(chain, 384)
    assert rm.currentRoundLocked() is False
    chain.mine(1)
    assert rm.currentRoundLocked() is True
    rm.setRoundLockAmount(5_000, sender=protocol.owner)  # floor(0.5) = 0 blocks: never locked
    mine_to(chain, 399)
    assert rm.currentRoundLocked() is False


def test_lock_window_extremes(rm, chain, protocol):
    rm.setRoundLockAmount(0, sender=protocol.owner)
    mine_to(chain, 399)
    assert rm.currentRoundLocked() is False
    rm.setRoundLockAmount(1_000_000, sender=protocol.owner)  # whole round locked
    mine_to(chain, 400)
    assert rm.currentRoundLocked() is True


def test_lock_window_after_round_length_change(rm, chain, protocol):
    mine_to(chain, 529)
    rm.setRoundLength(50, sender=protocol.owner)  # round 5 now spans 500..549; lockedBlocks = 5
    mine_to(chain, 544)
    assert rm.currentRoundLocked() is False
    chain.mine(1)  # 545 - 500 = 45 >= 50 - 5
    assert rm.currentRoundLocked() is True


# --- blockHash / blockHashForRound ------------------------------------------------------------------------------

def test_block_hash(rm, chain):
    mine_to(chain, 300)
    assert rm.blockHash(299) == chain.block_hash(299)
    assert rm.blockHash(44) == chain.block_hash(44)  # exactly 256 back is still allowed
    with pytest.raises(TransactionFailed, match="can only retrieve hashes for last 256 blocks"):
        rm.blockHash(43)
    with pytest.raises(TransactionFailed, match="can only retrieve past block hashes"):
        rm.blockHash(300)
    with pytest.raises(TransactionFailed, match="can only retrieve past block hashes"):
        rm.blockHash(10_000)


def test_block_hash_early_chain(rm, chain):
    assert chain.block_number < 256
    assert rm.blockHash(0) == chain.block_hash(0)


def test_block_hash_for_round(rm, chain, protocol):
    mine_to(chain, 120)
    rnd = rm.currentRound()
    assert rnd == 1
    assert rm.blockHashForRound(rnd) == ZERO32
    assert rm.currentRoundInitialized() is False
    r = rm.initializeRound(sender=protocol.owner)
    assert r.block_number == 121
    expected = chain.block_hash(120)
    assert rm.blockHashForRound(rnd) == expected
    assert r.event("NewRound").args == {"round": rnd, "blockHash": expected}
    assert rm.blockHashForRound(rnd + 1) == ZERO32


# --- initializeRound ---------------------------------------------------------------------------------------------------

def test_initialize_round(rm, chain, protocol):
    assert rm.currentRound() == 0 and rm.currentRoundInitialized() is True  # round 0 counts as initialised
    protocol.next_round(initialize=False)  # mines round 1's first block (100) empty
    assert chain.block_number == 100
    assert rm.currentRound() == 1 and rm.currentRoundInitialized() is False
    r = rm.initializeRound(sender=protocol.owner)
    assert r.block_number == 101
    assert rm.currentRound() == 1
    assert rm.lastInitializedRound() == 1
    assert rm.currentRoundInitialized() is True
    names = [e.name for e in r.events]
    assert names[-1] == "NewRound" and "SetCurrentRewardTokens" in names
    assert names.index("SetCurrentRewardTokens") < names.index("NewRound")
    ev = r.event("NewRound")
    assert ev.address == rm.address
    assert ev.args == {"round": 1, "blockHash": chain.block_hash(100)}  # hash of the block before
    # nothing bonded: rate 0 < 50 % -> inflation 10,000,000 + 500; mintable = 2e25 * 10,000,500 / 1e9
    assert r.event("SetCurrentRewardTokens").args == {
        "currentMintableTokens": 200_010 * LPT, "currentInflation": 10_000_500}
    assert protocol.Minter.currentMintableTokens() == 200_010 * LPT


def test_initialize_round_is_open_to_anyone(rm, protocol, accounts):
    protocol.next_round(initialize=False)
    rm.initializeRound(sender=accounts[7])
    assert rm.currentRoundInitialized()


def test_initialize_round_twice(rm, protocol):
    protocol.next_round()
    with pytest.raises(TransactionFailed, match="round already initialized"):
        rm.initializeRound(sender=protocol.owner)


def test_initialize_round_zero_already_initialized(rm, protocol):
    assert rm.currentRound() == 0
    with pytest.raises(TransactionFailed, match="round already initialized"):
        rm.initializeRound(sender=protocol.owner)


def test_initialize_round_when_paused(rm, protocol):
    protocol.next_round(initialize=False)
    protocol.Controller.pause(sender=protocol.owner)
    with pytest.raises(TransactionFailed, match="system is paused"):
        rm.initializeRound(sender=protocol.owner)


def test_skipped_rounds_are_not_initialized(rm, chain, protocol):
    mine_to(chain, 349)  # rounds 1 and 2 pass without initializeRound; the next tx lands in block 350
    assert rm.currentRound() == 3
    assert rm.currentRoundInitialized() is False
    r = rm.initializeRound(sender=protocol.owner)
    assert r.block_number == 350
    assert r.event("NewRound").args["round"] == 3
    assert rm.lastInitializedRound() == 3
    assert rm.blockHashForRound(3) == chain.block_hash(349)
    for skipped in (1, 2):
        assert rm.blockHashForRound(skipped) == ZERO32


def test_initialized_flag_clears_at_round_boundary(rm, chain, protocol):
    protocol.next_round()
    assert rm.currentRoundInitialized() is True
    mine_to(chain, 199)
    assert rm.currentRoundInitialized() is True
    chain.mine(1)
    assert rm.currentRoundInitialized() is False


def test_initialize_round_calls_bonding_manager_before_minter(rm, chain, protocol):
    bm = deploy_source(chain, "MockBondingManager", MOCK_BONDING_MANAGER, sender=protocol.owner)
    protocol.Controller.setContractInfo(contract_id("BondingManager"), bm.address, NULL_COMMIT,
                                        sender=protocol.owner)
    bm.setPending(S, sender=protocol.owner)  # the snapshot the BondingManager takes at round start
    protocol.next_round()
    assert bm.snapshots() == 1
    # the Minter saw the fresh snapshot (100 % bonded): inflation went DOWN by 500
    assert protocol.Minter.inflation() == 9_999_500
    assert protocol.Minter.currentMintableTokens() == 199_990 * LPT


# --- setLIPUpgradeRound -------------------------------------------------------------------------------------------------

def test_set_lip_upgrade_round(rm, protocol):
    assert rm.lipUpgradeRound(36) == 0
    r = rm.setLIPUpgradeRound(36, 5, sender=protocol.owner)
    assert r.events == []
    assert rm.lipUpgradeRound(36) == 5
    assert rm.lipUpgradeRound(37) == 0
    with pytest.raises(TransactionFailed, match="LIP upgrade round already set"):
        rm.setLIPUpgradeRound(36, 6, sender=protocol.owner)


def test_set_lip_upgrade_round_only_owner(rm, accounts):
    with pytest.raises(TransactionFailed, match="caller must be Controller owner"):
        rm.setLIPUpgradeRound(36, 5, sender=accounts[1])


# --- setController ----------------------------------------------------------------------------------------------------

def test_set_controller(rm, protocol, accounts):
    with pytest.raises(TransactionFailed, match="caller must be Controller"):
        rm.setController(accounts[2].address, sender=protocol.owner)
    r = protocol.Controller.updateController(contract_id("RoundsManager"), accounts[2].address, sender=protocol.owner)
    assert r.event("SetController").args == {"controller": accounts[2].address}
    assert rm.controller() == accounts[2].address
