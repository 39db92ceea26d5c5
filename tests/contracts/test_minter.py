"""Minter (spec §3) and the L2LPTDataCache stand-in.

TEST_PARAMS: inflation 10,000,000 (1 %), inflationChange 500, target 500,000,000 (50 %), all in 1e9 units;
20 accounts × 1,000,000 LPT, so the L2 supply S = 2e25 wei and L1 circulating supply is 0.

To test the inflation rule in isolation the real BondingManager is replaced (inside the test's
snapshot) by a tiny mock whose getTotalBonded() we set, and a plain account is registered as
"RoundsManager" / "BondingManager" / "JobsManager" to call the guarded hooks directly."""
from __future__ import annotations

import pytest

from node.eth import LPT, TransactionFailed, compile_contract, contract_id

from .mocks import (
    LOGGING_RECIPIENT, MOCK_BONDING_MANAGER, REFUSING_RECIPIENT, STORING_RECIPIENT, deploy_source,
)

ZERO = "0x" + "00" * 20
NULL_COMMIT = b"\x00" * 20
ETH = 10**18
S = 20_000_000 * LPT  # global supply at deployment
PERC = 10**9

def register(protocol, name: str, address: str) -> None:
    protocol.Controller.setContractInfo(contract_id(name), address, NULL_COMMIT, sender=protocol.owner)


class Rig:
    """The protocol with a mock BondingManager and accounts[11] registered as RoundsManager."""

    def __init__(self, protocol, chain, accounts):
        self.p = protocol
        self.minter = protocol.Minter
        self.token = protocol.LivepeerToken
        self.bm = deploy_source(chain, "MockBondingManager", MOCK_BONDING_MANAGER, sender=protocol.owner)
        self.rm = accounts[11]
        register(protocol, "BondingManager", self.bm.address)
        register(protocol, "RoundsManager", self.rm.address)

    def new_round(self, bonded: int):
        self.bm.setTotalBonded(bonded, sender=self.p.owner)
        return self.minter.setCurrentRewardTokens(sender=self.rm)

    def as_bonding_manager(self, acct) -> None:
        register(self.p, "BondingManager", acct.address)


@pytest.fixture
def rig(protocol, chain, accounts):
    return Rig(protocol, chain, accounts)


# --- constructor and getters -----------------------------------------------------------------------

def test_constructor_params_and_getters(protocol):
    m = protocol.Minter
    assert m.inflation() == 10_000_000
    assert m.inflationChange() == 500
    assert m.targetBondingRate() == 500_000_000
    assert m.controller() == protocol.Controller.address
    assert m.getController() == protocol.Controller.address
    # round 0 was never initialised at deployment, so nothing is mintable yet
    assert m.currentMintableTokens() == 0
    assert m.currentMintedTokens() == 0


@pytest.mark.parametrize("args,reason", [
    ((PERC + 1, 0, 0), "_inflation is invalid percentage"),
    ((0, PERC + 1, 0), "_inflationChange is invalid percentage"),
    ((0, 0, PERC + 1), "_targetBondingRate is invalid percentage"),
    ((PERC + 1, PERC + 1, PERC + 1), "_inflation is invalid percentage"),
])
def test_constructor_rejects_invalid_percentages(chain, protocol, args, reason):
    with pytest.raises(TransactionFailed, match=reason):
        chain.deploy(compile_contract("Minter"), protocol.Controller.address, *args)


def test_constructor_accepts_100_percent(chain, protocol):
    m = chain.deploy(compile_contract("Minter"), protocol.Controller.address, PERC, PERC, PERC)
    assert (m.inflation(), m.inflationChange(), m.targetBondingRate()) == (PERC, PERC, PERC)


# --- owner setters -----------------------------------------------------------------------------------

def test_set_target_bonding_rate(protocol):
    r = protocol.Minter.setTargetBondingRate(300_000_000, sender=protocol.owner)
    assert r.event("ParameterUpdate").args == {"param": "targetBondingRate"}
    assert protocol.Minter.targetBondingRate() == 300_000_000
    protocol.Minter.setTargetBondingRate(PERC, sender=protocol.owner)
    assert protocol.Minter.targetBondingRate() == PERC


def test_set_target_bonding_rate_invalid(protocol):
    with pytest.raises(TransactionFailed, match="_targetBondingRate is invalid percentage"):
        protocol.Minter.setTargetBondingRate(PERC + 1, sender=protocol.owner)


def test_set_target_bonding_rate_only_owner(protocol, accounts):
    with pytest.raises(TransactionFailed, match="caller must be Controller owner"):
        protocol.Minter.setTargetBondingRate(1, sender=accounts[1])


def test_set_inflation_change(protocol):
    r = protocol.Minter.setInflationChange(777, sender=protocol.owner)
    assert r.event("ParameterUpdate").args == {"param": "inflationChange"}
    assert protocol.Minter.inflationChange() == 777


def test_set_inflation_change_invalid(protocol):
    with pytest.raises(TransactionFailed, match="_inflationChange is invalid percentage"):
        protocol.Minter.setInflationChange(PERC + 1, sender=protocol.owner)


def test_set_inflation_change_only_owner(protocol, accounts):
    with pytest.raises(TransactionFailed, match="caller must be Controller owner"):
        protocol.Minter.setInflationChange(1, sender=accounts[1])


def test_setters_work_while_paused(protocol):
    protocol.Controller.pause(sender=protocol.owner)
    protocol.Minter.setInflationChange(1, sender=protocol.owner)
    protocol.Minter.setTargetBondingRate(2, sender=protocol.owner)
    assert (protocol.Minter.inflationChange(), protocol.Minter.targetBondingRate()) == (1, 2)


# --- setController -------------------------------------------------------------------------------------

def test_set_controller_only_controller(protocol, accounts):
    with pytest.raises(TransactionFailed, match="caller must be Controller"):
        protocol.Minter.setController(accounts[2].address, sender=protocol.owner)


def test_set_controller_through_controller(protocol, accounts):
    r = protocol.Controller.updateController(contract_id("Minter"), accounts[2].address, sender=protocol.owner)
    assert r.event("SetController").args == {"controller": accounts[2].address}
    assert protocol.Minter.getController() == accounts[2].address


# --- setCurrentRewardTokens: the inflation rule ---------------------------------------------------------

def test_below_target_increases_inflation(rig):
    r = rig.new_round(0)  # bonding rate 0 < 50 %
    assert rig.minter.inflation() == 10_000_500
    # mintable = floor(2e25 * 10,000,500 / 1e9) = 200,010 LPT
    assert rig.minter.currentMintableTokens() == 200_010 * LPT
    assert rig.minter.currentMintedTokens() == 0
    ev = r.event("SetCurrentRewardTokens")
    assert ev.address == rig.minter.address
    assert ev.args == {"currentMintableTokens": 200_010 * LPT, "currentInflation": 10_000_500}


def test_at_target_leaves_inflation(rig):
    rig.new_round(S // 2)  # floor(1e25 * 1e9 / 2e25) = 500,000,000 == target
    assert rig.minter.inflation() == 10_000_000
    assert rig.minter.currentMintableTokens() == 200_000 * LPT  # 2e25 * 1e7 / 1e9


def test_above_target_decreases_inflation(rig):
    r = rig.new_round(S)  # 100 %
    assert rig.minter.inflation() == 9_999_500
    assert rig.minter.currentMintableTokens() == 199_990 * LPT  # 2e25 * 9,999,500 / 1e9
    assert r.event("SetCurrentRewardTokens").args["currentInflation"] == 9_999_500


@pytest.mark.parametrize("bonded,expected_inflation", [
    (S // 2 - 1, 10_000_500),                 # floor(499,999,999.99..) = 499,999,999 < target
    (S // 2 + 2 * 10**16 - 1, 10_000_000),    # floor(500,000,000.99..) = 500,000,000 == target
    (S // 2 + 2 * 10**16, 9_999_500),         # exactly 500,000,001 > target
])
def test_bonding_rate_is_floored(rig, bonded, expected_inflation):
    rig.new_round(bonded)
    assert rig.minter.inflation() == expected_inflation
    assert rig.minter.currentMintableTokens() == S * expected_inflation // PERC


def test_inflation_moves_every_round(rig):
    for _ in range(3):
        rig.new_round(0)
    assert rig.minter.inflation() == 10_001_500
    rig.new_round(S)
    assert rig.minter.inflation() == 10_001_000
    assert rig.minter.currentMintableTokens() == S * 10_001_000 // PERC  # 200,020 LPT
    assert rig.minter.currentMintableTokens() == 200_020 * LPT


def test_inflation_clamped_at_zero(rig, protocol):
    protocol.Minter.setInflationChange(10_000_001, sender=protocol.owner)  # more than the inflation
    r = rig.new_round(S)
    assert rig.minter.inflation() == 0
    assert rig.minter.currentMintableTokens() == 0
    assert r.event("SetCurrentRewardTokens").args == {"currentMintableTokens": 0, "currentInflation": 0}
    # stays at 0 above target, climbs again below it
    rig.new_round(S)
    assert rig.minter.inflation() == 0
    rig.new_round(0)
    assert rig.minter.inflation() == 10_000_001
    assert rig.minter.currentMintableTokens() == S * 10_000_001 // PERC


def test_inflation_change_equal_to_inflation_reaches_zero(rig, protocol):
    protocol.Minter.setInflationChange(10_000_000, sender=protocol.owner)
    rig.new_round(S)
    assert rig.minter.inflation() == 0


def test_target_change_applies_next_round(rig, protocol):
    protocol.Minter.setTargetBondingRate(0, sender=protocol.owner)
    rig.new_round(0)  # rate 0 == target 0
    assert rig.minter.inflation() == 10_000_000
    rig.new_round(1)  # floor(1e9 / 2e25) = 0 == target
    assert rig.minter.inflation() == 10_000_000
    rig.new_round(2 * 10**16)  # rate 1 > 0
    assert rig.minter.inflation() == 9_999_500


def test_minted_counter_resets_each_round(rig, accounts):
    rig.new_round(0)
    bm = accounts[12]
    rig.as_bonding_manager(bm)
    rig.minter.createReward(1, 2, sender=bm)
    assert rig.minter.currentMintedTokens() == 100_005 * LPT
    register(rig.p, "BondingManager", rig.bm.address)
    rig.new_round(0)
    assert rig.minter.currentMintedTokens() == 0
    # supply grew by the 100,005 LPT minted: mintable = floor((2e25 + 100,005e18) * 10,001,000 / 1e9)
    assert rig.minter.currentMintableTokens() == (S + 100_005 * LPT) * 10_001_000 // PERC


def test_set_current_reward_tokens_only_rounds_manager(rig, protocol, accounts):
    with pytest.raises(TransactionFailed, match="msg.sender not RoundsManager"):
        rig.minter.setCurrentRewardTokens(sender=accounts[1])
    # the real RoundsManager is no longer the registered one
    with pytest.raises(TransactionFailed, match="msg.sender not RoundsManager"):
        rig.minter.setCurrentRewardTokens(sender=protocol.owner)


def test_set_current_reward_tokens_when_paused(rig, protocol, accounts):
    protocol.Controller.pause(sender=protocol.owner)
    with pytest.raises(TransactionFailed, match="system is paused"):
        rig.minter.setCurrentRewardTokens(sender=rig.rm)
    # caller check comes first
    with pytest.raises(TransactionFailed, match="msg.sender not RoundsManager"):
        rig.minter.setCurrentRewardTokens(sender=accounts[1])


def test_zero_supply_means_zero_bonding_rate(deploy, accounts):
    p = deploy(lpt_per_account=0)
    assert p.LivepeerToken.totalSupply() == 0
    # an EOA as BondingManager: getTotalBonded() would revert, but it is not read when supply is 0
    register(p, "BondingManager", accounts[12].address)
    register(p, "RoundsManager", accounts[11].address)
    r = p.Minter.setCurrentRewardTokens(sender=accounts[11])
    assert p.Minter.inflation() == 10_000_500
    assert r.event("SetCurrentRewardTokens").args == {"currentMintableTokens": 0, "currentInflation": 10_000_500}


# --- global supply / L2LPTDataCache ------------------------------------------------------------------------

def test_global_total_supply_adds_l1_supply(rig, protocol):
    assert protocol.Minter.getGlobalTotalSupply() == S
    protocol.L2LPTDataCache.setL1CirculatingSupply(S, sender=protocol.owner)
    assert protocol.Minter.getGlobalTotalSupply() == 2 * S
    # 1e25 bonded of 4e25 global = 25 % < 50 % -> +500; mintable on the global supply
    rig.new_round(S // 2)
    assert rig.minter.inflation() == 10_000_500
    assert rig.minter.currentMintableTokens() == 400_020 * LPT  # 4e25 * 10,000,500 / 1e9
    # 3e25 of 4e25 = 75 % > 50 % -> -500
    rig.new_round(3 * S // 2)
    assert rig.minter.inflation() == 10_000_000
    assert rig.minter.currentMintableTokens() == 400_000 * LPT


def test_unregistered_l2_data_cache_counts_as_zero(protocol):
    protocol.L2LPTDataCache.setL1CirculatingSupply(123, sender=protocol.owner)
    assert protocol.Minter.getGlobalTotalSupply() == S + 123
    register(protocol, "L2LPTDataCache", ZERO)
    assert protocol.Minter.getGlobalTotalSupply() == S


def test_l2_data_cache_constructor_and_getters(deploy, protocol):
    assert protocol.L2LPTDataCache.l1CirculatingSupply() == 0
    assert protocol.L2LPTDataCache.controller() == protocol.Controller.address
    p = deploy(l1_circulating_supply=5 * LPT)
    assert p.L2LPTDataCache.l1CirculatingSupply() == 5 * LPT
    assert p.Minter.getGlobalTotalSupply() == S + 5 * LPT  # its own token, 20M LPT minted


def test_l2_data_cache_setter(protocol, accounts):
    cache = protocol.L2LPTDataCache
    r = cache.setL1CirculatingSupply(42, sender=protocol.owner)
    assert r.event("ParameterUpdate").args == {"param": "l1CirculatingSupply"}
    assert cache.l1CirculatingSupply() == 42
    with pytest.raises(TransactionFailed, match="caller must be Controller owner"):
        cache.setL1CirculatingSupply(1, sender=accounts[1])


def test_l2_data_cache_set_controller(protocol, accounts):
    cache = protocol.L2LPTDataCache
    with pytest.raises(TransactionFailed, match="caller must be Controller"):
        cache.setController(accounts[2].address, sender=protocol.owner)
    r = protocol.Controller.updateController(contract_id("L2LPTDataCache"), accounts[2].address, sender=protocol.owner)
    assert r.event("SetController").args == {"controller": accounts[2].address}
    assert cache.controller() == accounts[2].address


# --- createReward ------------------------------------------------------------------------------------------

M = 200_010 * LPT  # mintable after one round below target


@pytest.fixture
def rewarding(rig, accounts):
    """A round with M mintable and accounts[12] acting as BondingManager."""
    rig.new_round(0)
    assert rig.minter.currentMintableTokens() == M
    bm = accounts[12]
    rig.as_bonding_manager(bm)
    return rig, bm


def test_create_reward_two_floor_fraction(rewarding):
    rig, bm = rewarding
    supply = rig.token.totalSupply()
    # mint = floor(M * floor(1e9 / 3) / 1e9) = floor(200,010e18 * 333,333,333 / 1e9)
    expected = 66_669_999_933_330_000_000_000
    assert expected == M * 333_333_333 // PERC
    assert expected < M // 3  # the single-floor value would be 66,670e18
    assert rig.minter.createReward.call(1, 3, sender=bm) == expected
    r = rig.minter.createReward(1, 3, sender=bm)
    assert r.event("Mint").args == {"to": rig.minter.address, "amount": expected}
    assert r.event("Transfer").args == {"sender": ZERO, "receiver": rig.minter.address, "value": expected}
    assert r.events_named("SetCurrentRewardTokens") == []
    assert rig.minter.currentMintedTokens() == expected
    assert rig.minter.currentMintableTokens() == M  # not decremented
    assert rig.token.balanceOf(rig.minter.address) == expected
    assert rig.token.totalSupply() == supply + expected


def test_create_reward_accumulates_until_mintable(rewarding):
    rig, bm = rewarding
    rig.minter.createReward(2, 7, sender=bm)  # floor(2e9/7) = 285,714,285
    first = M * 285_714_285 // PERC
    assert first == 57_145_714_142_850_000_000_000
    rig.minter.createReward(5, 7, sender=bm)  # floor(5e9/7) = 714,285,714
    second = M * 714_285_714 // PERC
    assert rig.minter.currentMintedTokens() == first + second
    assert first + second == M - M // PERC  # one 1e-9 share lost to flooring
    assert rig.token.balanceOf(rig.minter.address) == first + second


def test_create_reward_whole_share_then_exceed(rewarding):
    rig, bm = rewarding
    rig.minter.createReward(4000, 4000, sender=bm)
    assert rig.minter.currentMintedTokens() == M
    # anything more than a zero mint now exceeds the mintable amount
    with pytest.raises(TransactionFailed, match="minted tokens cannot exceed mintable tokens"):
        rig.minter.createReward(1, PERC, sender=bm)  # floor(1e9/1e9) = 1 -> M / 1e9 > 0
    # a fraction that floors to 0 mints nothing and is allowed
    assert rig.minter.createReward.call(1, PERC + 1, sender=bm) == 0
    rig.minter.createReward(1, PERC + 1, sender=bm)
    assert rig.minter.currentMintedTokens() == M


def test_create_reward_zero_denominator_reverts(rewarding):
    rig, bm = rewarding
    with pytest.raises(TransactionFailed):
        rig.minter.createReward(1, 0, sender=bm)


def test_create_reward_only_bonding_manager(rewarding, accounts):
    rig, _ = rewarding
    with pytest.raises(TransactionFailed, match="msg.sender not BondingManager"):
        rig.minter.createReward(1, 1, sender=accounts[1])


def test_create_reward_when_paused(rewarding, protocol, accounts):
    rig, bm = rewarding
    protocol.Controller.pause(sender=protocol.owner)
    with pytest.raises(TransactionFailed, match="system is paused"):
        rig.minter.createReward(1, 1, sender=bm)
    with pytest.raises(TransactionFailed, match="msg.sender not BondingManager"):
        rig.minter.createReward(1, 1, sender=accounts[1])


def test_create_reward_needs_minter_role(rewarding, protocol):
    rig, bm = rewarding
    minter_role = bytes.fromhex("9f2df0fed2c77648de5860a4cc508cd0818c85b8b8a1ab4ceeef8d981c8956a6")
    rig.token.revokeRole(minter_role, rig.minter.address, sender=protocol.owner)
    with pytest.raises(TransactionFailed, match="is missing role"):
        rig.minter.createReward(1, 1, sender=bm)


# --- trustedTransferTokens / trustedBurnTokens --------------------------------------------------------------

@pytest.fixture
def funded(protocol, accounts):
    """The Minter holds 1,000 LPT (sent by accounts[5]); accounts[12] acts as BondingManager."""
    protocol.LivepeerToken.transfer(protocol.Minter.address, 1000 * LPT, sender=accounts[5])
    register(protocol, "BondingManager", accounts[12].address)
    return accounts[12]


def test_trusted_transfer_tokens(protocol, accounts, funded):
    r = protocol.Minter.trustedTransferTokens(accounts[6].address, 300 * LPT, sender=funded)
    assert r.event("Transfer").args == {"sender": protocol.Minter.address, "receiver": accounts[6].address,
                                        "value": 300 * LPT}
    assert protocol.LivepeerToken.balanceOf(protocol.Minter.address) == 700 * LPT
    assert protocol.LivepeerToken.balanceOf(accounts[6].address) == 1_000_300 * LPT


def test_trusted_transfer_tokens_exceeds_balance(protocol, accounts, funded):
    with pytest.raises(TransactionFailed, match="ERC20: transfer amount exceeds balance"):
        protocol.Minter.trustedTransferTokens(accounts[6].address, 1000 * LPT + 1, sender=funded)


def test_trusted_transfer_tokens_guards(protocol, accounts, funded):
    with pytest.raises(TransactionFailed, match="msg.sender not BondingManager"):
        protocol.Minter.trustedTransferTokens(accounts[6].address, 1, sender=accounts[6])
    protocol.Controller.pause(sender=protocol.owner)
    with pytest.raises(TransactionFailed, match="system is paused"):
        protocol.Minter.trustedTransferTokens(accounts[6].address, 1, sender=funded)


def test_trusted_burn_tokens(protocol, funded):
    supply = protocol.LivepeerToken.totalSupply()
    r = protocol.Minter.trustedBurnTokens(400 * LPT, sender=funded)
    assert r.event("Burn").args == {"burner": protocol.Minter.address, "amount": 400 * LPT}
    assert protocol.LivepeerToken.balanceOf(protocol.Minter.address) == 600 * LPT
    assert protocol.LivepeerToken.totalSupply() == supply - 400 * LPT


def test_trusted_burn_tokens_exceeds_balance(protocol, funded):
    with pytest.raises(TransactionFailed, match="ERC20: burn amount exceeds balance"):
        protocol.Minter.trustedBurnTokens(1000 * LPT + 1, sender=funded)


def test_trusted_burn_tokens_guards(protocol, accounts, funded):
    with pytest.raises(TransactionFailed, match="msg.sender not BondingManager"):
        protocol.Minter.trustedBurnTokens(1, sender=accounts[6])
    protocol.Controller.pause(sender=protocol.owner)
    with pytest.raises(TransactionFailed, match="system is paused"):
        protocol.Minter.trustedBurnTokens(1, sender=funded)


# --- ETH: depositETH / trustedWithdrawETH -----------------------------------------------------------------------

@pytest.fixture
def jobs(protocol, accounts):
    """accounts[13] registered as JobsManager; the Minter holds 5 ETH deposited by it."""
    register(protocol, "JobsManager", accounts[13].address)
    protocol.Minter.depositETH(value=5 * ETH, sender=accounts[13])
    return accounts[13]


def test_deposit_eth(protocol, chain, jobs):
    assert chain.eth_balance(protocol.Minter.address) == 5 * ETH
    assert protocol.Minter.depositETH.call(value=1, sender=jobs) is True


def test_deposit_eth_from_registered_minter(protocol, chain, accounts):
    register(protocol, "Minter", accounts[14].address)
    protocol.Minter.depositETH(value=3, sender=accounts[14])
    assert chain.eth_balance(protocol.Minter.address) == 3


def test_deposit_eth_works_while_paused(protocol, chain, jobs):
    protocol.Controller.pause(sender=protocol.owner)
    protocol.Minter.depositETH(value=1, sender=jobs)
    assert chain.eth_balance(protocol.Minter.address) == 5 * ETH + 1


def test_deposit_eth_only_minter_or_jobs_manager(protocol, accounts):
    with pytest.raises(TransactionFailed, match="msg.sender not Minter or JobsManager"):
        protocol.Minter.depositETH(value=1, sender=accounts[1])


def test_plain_eth_transfer_to_minter_reverts(protocol, chain, accounts):
    with pytest.raises(TransactionFailed):
        chain.send_eth(accounts[1], protocol.Minter.address, 1)


def test_trusted_withdraw_eth(protocol, chain, accounts, jobs):
    before = chain.eth_balance(accounts[6].address)
    protocol.Minter.trustedWithdrawETH(accounts[6].address, 2 * ETH, sender=jobs)
    assert chain.eth_balance(accounts[6].address) == before + 2 * ETH
    assert chain.eth_balance(protocol.Minter.address) == 3 * ETH
    # the BondingManager may withdraw too
    register(protocol, "BondingManager", accounts[12].address)
    protocol.Minter.trustedWithdrawETH(accounts[6].address, 3 * ETH, sender=accounts[12])
    assert chain.eth_balance(accounts[6].address) == before + 5 * ETH
    assert chain.eth_balance(protocol.Minter.address) == 0


def test_trusted_withdraw_eth_insufficient_balance(protocol, accounts, jobs):
    with pytest.raises(TransactionFailed):
        protocol.Minter.trustedWithdrawETH(accounts[6].address, 5 * ETH + 1, sender=jobs)


def test_trusted_withdraw_eth_to_rejecting_contract(protocol, jobs):
    # the Controller has no payable fallback, so the 2300-gas transfer fails and the call reverts
    with pytest.raises(TransactionFailed):
        protocol.Minter.trustedWithdrawETH(protocol.Controller.address, 1, sender=jobs)


def test_trusted_withdraw_eth_gives_contracts_the_stipend_for_any_value(protocol, chain, jobs):
    """As Solidity's address.transfer: a recipient with code gets 2,300 gas for a zero value
    too (passed explicitly; the EVM adds the stipend only to non-zero-value calls), so one whose
    code needs less than that accepts both, and gets the same gas for both."""
    recipient = deploy_source(chain, "LoggingRecipient", LOGGING_RECIPIENT, sender=protocol.owner)
    got = []
    for amount in (0, ETH):
        r = protocol.Minter.trustedWithdrawETH(recipient.address, amount, sender=jobs)
        (event,) = [e for e in r.events if e.address == recipient.address]
        assert event.name == "Received" and event.args["amount"] == amount
        got.append(event.args["gas"])
    assert got[0] == got[1] and 0 < got[0] < 2300
    assert chain.eth_balance(recipient.address) == ETH


def test_trusted_withdraw_eth_to_contract_needing_more_than_the_stipend_reverts(protocol, chain, jobs):
    recipient = deploy_source(chain, "StoringRecipient", STORING_RECIPIENT, sender=protocol.owner)
    for amount in (0, 1):
        with pytest.raises(TransactionFailed):
            protocol.Minter.trustedWithdrawETH(recipient.address, amount, sender=jobs)
    assert recipient.received() == 0


def test_trusted_withdraw_eth_passes_up_the_recipients_revert_reason(protocol, chain, jobs):
    recipient = deploy_source(chain, "RefusingRecipient", REFUSING_RECIPIENT, sender=protocol.owner)
    for amount in (0, 1):
        with pytest.raises(TransactionFailed, match="recipient refuses ETH"):
            protocol.Minter.trustedWithdrawETH(recipient.address, amount, sender=jobs)


def test_trusted_withdraw_eth_guards(protocol, accounts, jobs):
    with pytest.raises(TransactionFailed, match="msg.sender not BondingManager or JobsManager"):
        protocol.Minter.trustedWithdrawETH(accounts[6].address, 1, sender=accounts[6])
    protocol.Controller.pause(sender=protocol.owner)
    with pytest.raises(TransactionFailed, match="system is paused"):
        protocol.Minter.trustedWithdrawETH(accounts[6].address, 1, sender=jobs)


# --- migrateToNewMinter -----------------------------------------------------------------------------------------

@pytest.fixture
def new_minter(chain, protocol):
    return chain.deploy(compile_contract("Minter"), protocol.Controller.address, 1, 2, 3, sender=protocol.owner)


def test_migrate_to_new_minter(protocol, chain, accounts, jobs, new_minter):
    protocol.LivepeerToken.transfer(protocol.Minter.address, 1000 * LPT, sender=accounts[5])
    protocol.Controller.pause(sender=protocol.owner)  # allowed while paused
    protocol.Minter.migrateToNewMinter(new_minter.address, sender=protocol.owner)
    assert protocol.LivepeerToken.balanceOf(new_minter.address) == 1000 * LPT
    assert protocol.LivepeerToken.balanceOf(protocol.Minter.address) == 0
    assert chain.eth_balance(new_minter.address) == 5 * ETH
    assert chain.eth_balance(protocol.Minter.address) == 0


def test_migrate_rejects_self(protocol):
    with pytest.raises(TransactionFailed, match="new Minter cannot be current Minter"):
        protocol.Minter.migrateToNewMinter(protocol.Minter.address, sender=protocol.owner)


def test_migrate_rejects_null(protocol):
    with pytest.raises(TransactionFailed, match="new Minter cannot be null address"):
        protocol.Minter.migrateToNewMinter(ZERO, sender=protocol.owner)


def test_migrate_rejects_other_controller(protocol, chain, accounts):
    other = chain.deploy(compile_contract("Minter"), accounts[3].address, 1, 2, 3)
    with pytest.raises(TransactionFailed, match="new Minter Controller must be current Controller"):
        protocol.Minter.migrateToNewMinter(other.address, sender=protocol.owner)


def test_migrate_requires_old_minter_registered(protocol, new_minter):
    register(protocol, "Minter", new_minter.address)
    with pytest.raises(TransactionFailed, match="new Minter must be registered"):
        protocol.Minter.migrateToNewMinter(new_minter.address, sender=protocol.owner)


def test_migrate_only_owner(protocol, accounts, new_minter):
    with pytest.raises(TransactionFailed, match="caller must be Controller owner"):
        protocol.Minter.migrateToNewMinter(new_minter.address, sender=accounts[1])
