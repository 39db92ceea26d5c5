"""The chain layer itself: compilation cache, deployment and wiring, bindings, receipts,
revert reasons, time travel."""
import pytest

from node.eth import LPT, ChainError, ProtocolParams, TransactionFailed, compile_contract, contract_id
from node.eth.compiler import cache_dir
from node.eth.deploy import BURNER_ROLE, MINTER_ROLE

from ..conftest import TEST_PARAMS


def test_compile_is_cached_in_memory_and_on_disk():
    first = compile_contract("Controller")
    assert compile_contract("Controller") is first
    assert any(p.name.startswith("Controller-") for p in cache_dir().iterdir())
    assert first.runtime_size > 0 and first.bytecode


@pytest.mark.parametrize("name", ["BondingManager", "TicketBroker", "Minter", "RoundsManager", "LivepeerToken"])
def test_runtime_code_fits_eip170(name):
    assert compile_contract(name).runtime_size <= 24_576


def test_deployment_registers_and_wires_every_contract(protocol, accounts):
    ctrl = protocol.Controller
    for name in ("BondingManager", "RoundsManager", "Minter", "LivepeerToken", "TicketBroker",
                 "ServiceRegistry", "L2LPTDataCache"):
        assert ctrl.getContract(contract_id(name)) == protocol[name].address
    assert ctrl.getContract(contract_id("JobsManager")) == protocol.TicketBroker.address
    assert ctrl.getContract(contract_id("Treasury")) == protocol.treasury
    assert ctrl.owner() == protocol.owner.address and ctrl.paused() is False
    token = protocol.LivepeerToken
    assert token.hasRole(MINTER_ROLE, protocol.Minter.address) and token.hasRole(BURNER_ROLE, protocol.Minter.address)
    assert not token.hasRole(MINTER_ROLE, protocol.owner.address)
    assert token.totalSupply() == len(accounts) * TEST_PARAMS.lpt_per_account
    assert token.balanceOf(accounts[5].address) == TEST_PARAMS.lpt_per_account
    assert protocol.RoundsManager.roundLength() == 100
    assert protocol.BondingManager.getTranscoderPoolMaxSize() == 10
    assert protocol.TicketBroker.unlockPeriod() == 2
    assert protocol.Minter.inflation() == 10_000_000
    assert protocol.RoundsManager.currentRoundInitialized()


def test_transaction_returns_receipt_with_decoded_events(protocol, accounts):
    r = protocol.approve_and_bond(accounts[1], 1000, accounts[1].address)
    bond = r.event("Bond")
    assert bond.args == {
        "newDelegate": accounts[1].address, "oldDelegate": "0x" + "0" * 40, "delegator": accounts[1].address,
        "additionalAmount": 1000, "bondedAmount": 1000,
    }
    assert bond.address == protocol.BondingManager.address
    assert r.gas_used > 0 and r.block_number == protocol.chain.block_number
    assert [e.name for e in r.events_named("Transfer")] == ["Transfer"]  # LPT pulled into the Minter
    with pytest.raises(LookupError):
        r.event("Reward")


def test_revert_reason_is_carried_by_the_exception(protocol, accounts):
    with pytest.raises(TransactionFailed, match="caller must be Controller owner") as info:
        protocol.BondingManager.setUnbondingPeriod(3, sender=accounts[1])
    assert info.value.reason == "caller must be Controller owner"
    assert info.value.function == "setUnbondingPeriod"
    with pytest.raises(TransactionFailed) as bare:  # a bare require in the Controller
        protocol.Controller.pause(sender=accounts[1])
    assert bare.value.reason == ""


def test_wrong_argument_count_is_a_type_error(protocol):
    with pytest.raises(TypeError, match="bond"):
        protocol.BondingManager.bond(1)


def test_next_round_lands_on_the_rounds_first_block(protocol, chain):
    start = protocol.current_round()
    new = protocol.next_round()
    assert new == start + 1
    assert chain.block_number == new * 100  # initializeRound was mined in the round's first block
    assert protocol.RoundsManager.blockHashForRound(new) == chain.block_hash(new * 100 - 1)
    assert protocol.advance_rounds(3) == new + 3


def test_snapshot_and_revert_restore_state_and_block_number(protocol, chain, accounts):
    before_block = chain.block_number
    token = chain.snapshot()
    protocol.LivepeerToken.transfer(accounts[2].address, 5, sender=accounts[1])
    chain.mine(7)
    assert chain.block_number == before_block + 8
    chain.revert(token)
    assert chain.block_number == before_block
    assert protocol.LivepeerToken.balanceOf(accounts[2].address) == TEST_PARAMS.lpt_per_account


def test_increase_time_stamps_the_next_block_without_mining(chain, protocol):  # protocol: reverted after
    number, t0 = chain.block_number, chain.timestamp
    chain.increase_time(86_400)
    assert chain.block_number == number
    chain.mine(2)
    assert chain.timestamp == t0 + 86_400 + 1  # later blocks continue from the jump
    with pytest.raises(ChainError, match="not after the latest block"):
        chain.set_next_block_timestamp(t0)


def test_protocol_params_validation():
    assert ProtocolParams().round_length == 6377 and ProtocolParams().unbonding_period == 7
    with pytest.raises(ValueError, match="round_length must be greater than 0"):
        ProtocolParams(round_length=0)
    with pytest.raises(ValueError, match="inflation must be at most"):
        ProtocolParams(inflation=10**9 + 1)
    with pytest.raises(ValueError, match="unknown protocol parameter"):
        ProtocolParams().with_(round_lenght=5)
    with pytest.raises(ValueError, match="non-negative integer"):
        ProtocolParams(unlock_period=-1)
    with pytest.raises(ValueError, match="num_active_transcoders must be at most 256"):
        ProtocolParams(num_active_transcoders=257)


def test_send_eth_and_balances(protocol, chain, accounts):
    before = chain.eth_balance(accounts[3].address)
    r = chain.send_eth(accounts[4], accounts[3].address, 12345)
    assert chain.eth_balance(accounts[3].address) == before + 12345
    assert r.gas_cost > 0
    with pytest.raises(TransactionFailed):  # the Minter has no default function
        chain.send_eth(accounts[4], protocol.Minter.address, 1)


def test_an_empty_active_set_can_be_deployed(deploy):
    p = deploy(num_active_transcoders=0)
    assert p.BondingManager.getTranscoderPoolMaxSize() == 0


def test_deploy_fixture_overrides_parameters(deploy):
    p = deploy(num_active_transcoders=3, unbonding_period=5, lpt_per_account=7 * LPT)
    assert p.BondingManager.getTranscoderPoolMaxSize() == 3
    assert p.BondingManager.unbondingPeriod() == 5
    assert p.LivepeerToken.balanceOf(p.chain.accounts[1].address) == 7 * LPT
