"""Controller (spec §1): Ownable + Pausable registry of protocol contracts.

Owner/pause checks are bare `require`s in the reference, so their reverts carry no reason ("")."""
from __future__ import annotations

import pytest

from node.eth import TransactionFailed, compile_contract, contract_id

ZERO = "0x" + "00" * 20
COMMIT = bytes.fromhex("0123456789abcdef0123456789abcdef01234567")


def bare_revert(excinfo) -> None:
    # a bare `require` carries no reason
    assert excinfo.value.reason == ""


@pytest.fixture
def fresh(chain, protocol, accounts):
    """A Controller just deployed by accounts[3] (inside the test's snapshot)."""
    return chain.deploy(compile_contract("Controller"), sender=accounts[3])


# --- constructor ------------------------------------------------------------------------------

def test_constructor_owner_is_deployer_and_starts_paused(fresh, accounts):
    assert fresh.owner() == accounts[3].address
    assert fresh.paused() is True
    assert fresh.getContract(contract_id("Minter")) == ZERO
    assert fresh.getContractInfo(contract_id("Minter")) == (ZERO, b"\x00" * 20)


def test_deployed_protocol_is_registered_and_unpaused(protocol):
    ctrl = protocol.Controller
    assert ctrl.owner() == protocol.owner.address
    assert ctrl.paused() is False
    for name in ("LivepeerToken", "L2LPTDataCache", "Minter", "RoundsManager", "BondingManager",
                 "TicketBroker", "ServiceRegistry"):
        assert ctrl.getContract(contract_id(name)) == protocol.addresses[name]
    # TicketBroker doubles as "JobsManager"; the treasury is a plain address
    assert ctrl.getContract(contract_id("JobsManager")) == protocol.TicketBroker.address
    assert ctrl.getContract(contract_id("Treasury")) == protocol.treasury


# --- setContractInfo / getContractInfo / getContract ----------------------------------------

def test_set_contract_info(fresh, accounts):
    cid = contract_id("Foo")
    r = fresh.setContractInfo(cid, accounts[5].address, COMMIT, sender=accounts[3])
    ev = r.event("SetContractInfo")
    assert ev.args == {"id": cid, "contractAddress": accounts[5].address, "gitCommitHash": COMMIT}
    assert ev.address == fresh.address
    assert fresh.getContractInfo(cid) == (accounts[5].address, COMMIT)
    assert fresh.getContract(cid) == accounts[5].address
    # overwriting replaces both fields
    fresh.setContractInfo(cid, accounts[6].address, b"\x11" * 20, sender=accounts[3])
    assert fresh.getContractInfo(cid) == (accounts[6].address, b"\x11" * 20)
    # other ids untouched
    assert fresh.getContract(contract_id("Bar")) == ZERO


def test_set_contract_info_works_while_paused(fresh, accounts):
    assert fresh.paused()
    fresh.setContractInfo(contract_id("Foo"), accounts[5].address, COMMIT, sender=accounts[3])
    assert fresh.getContract(contract_id("Foo")) == accounts[5].address


def test_set_contract_info_only_owner(fresh, accounts):
    with pytest.raises(TransactionFailed) as ei:
        fresh.setContractInfo(contract_id("Foo"), accounts[5].address, COMMIT, sender=accounts[4])
    bare_revert(ei)


# --- updateController --------------------------------------------------------------------------

def test_update_controller(protocol, accounts):
    ctrl = protocol.Controller
    r = ctrl.updateController(contract_id("ServiceRegistry"), accounts[7].address, sender=protocol.owner)
    ev = r.event("SetController")
    assert ev.address == protocol.ServiceRegistry.address
    assert ev.args == {"controller": accounts[7].address}
    assert protocol.ServiceRegistry.controller() == accounts[7].address


def test_update_controller_only_owner(protocol, accounts):
    with pytest.raises(TransactionFailed) as ei:
        protocol.Controller.updateController(contract_id("Minter"), accounts[7].address, sender=accounts[1])
    bare_revert(ei)
    assert protocol.Minter.controller() == protocol.Controller.address


def test_update_controller_unregistered_id_reverts(protocol, accounts):
    with pytest.raises(TransactionFailed):
        protocol.Controller.updateController(contract_id("Nope"), accounts[7].address, sender=protocol.owner)


def test_update_controller_on_eoa_reverts(protocol, accounts):
    protocol.Controller.setContractInfo(contract_id("Eoa"), accounts[8].address, COMMIT, sender=protocol.owner)
    with pytest.raises(TransactionFailed):
        protocol.Controller.updateController(contract_id("Eoa"), accounts[7].address, sender=protocol.owner)


# --- pause / unpause -------------------------------------------------------------------------------

def test_unpause_then_pause(fresh, accounts):
    r = fresh.unpause(sender=accounts[3])
    assert [e.name for e in r.events] == ["Unpause"]
    assert r.event("Unpause").args == {}
    assert fresh.paused() is False
    r = fresh.pause(sender=accounts[3])
    assert [e.name for e in r.events] == ["Pause"]
    assert fresh.paused() is True


def test_unpause_when_not_paused_reverts(protocol):
    assert not protocol.Controller.paused()
    with pytest.raises(TransactionFailed) as ei:
        protocol.Controller.unpause(sender=protocol.owner)
    bare_revert(ei)


def test_pause_when_paused_reverts(fresh, accounts):
    with pytest.raises(TransactionFailed) as ei:
        fresh.pause(sender=accounts[3])
    bare_revert(ei)


def test_pause_only_owner(protocol, accounts):
    with pytest.raises(TransactionFailed) as ei:
        protocol.Controller.pause(sender=accounts[1])
    bare_revert(ei)
    assert protocol.Controller.paused() is False


def test_unpause_only_owner(fresh, accounts):
    with pytest.raises(TransactionFailed) as ei:
        fresh.unpause(sender=accounts[4])
    bare_revert(ei)
    assert fresh.paused() is True


def test_pause_stops_the_system(protocol):
    protocol.Controller.pause(sender=protocol.owner)
    protocol.next_round(initialize=False)
    with pytest.raises(TransactionFailed, match="system is paused"):
        protocol.RoundsManager.initializeRound(sender=protocol.owner)
    protocol.Controller.unpause(sender=protocol.owner)
    protocol.RoundsManager.initializeRound(sender=protocol.owner)
    assert protocol.RoundsManager.currentRoundInitialized()


# --- transferOwnership -----------------------------------------------------------------------------

def test_transfer_ownership(fresh, accounts):
    r = fresh.transferOwnership(accounts[9].address, sender=accounts[3])
    ev = r.event("OwnershipTransferred")
    assert ev.args == {"previousOwner": accounts[3].address, "newOwner": accounts[9].address}
    assert fresh.owner() == accounts[9].address
    # the new owner has the powers, the old one lost them
    fresh.unpause(sender=accounts[9])
    with pytest.raises(TransactionFailed) as ei:
        fresh.pause(sender=accounts[3])
    bare_revert(ei)


def test_transfer_ownership_moves_controller_owner_powers(protocol, accounts):
    protocol.Controller.transferOwnership(accounts[2].address, sender=protocol.owner)
    with pytest.raises(TransactionFailed, match="caller must be Controller owner"):
        protocol.RoundsManager.setRoundLockAmount(5, sender=protocol.owner)
    protocol.RoundsManager.setRoundLockAmount(5, sender=accounts[2])
    assert protocol.RoundsManager.roundLockAmount() == 5


def test_transfer_ownership_to_zero_reverts(fresh, accounts):
    with pytest.raises(TransactionFailed) as ei:
        fresh.transferOwnership(ZERO, sender=accounts[3])
    bare_revert(ei)
    assert fresh.owner() == accounts[3].address


def test_transfer_ownership_only_owner(fresh, accounts):
    with pytest.raises(TransactionFailed) as ei:
        fresh.transferOwnership(accounts[4].address, sender=accounts[4])
    bare_revert(ei)
