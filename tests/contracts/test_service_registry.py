"""ServiceRegistry: address -> service URI (livepeer/protocol contracts/ServiceRegistry.sol).

URIs are bounded to 1024 bytes in the Vyper version. As in the reference source, setServiceURI has
no pause guard."""
from __future__ import annotations

import pytest

from node.eth import TransactionFailed, compile_contract, contract_id

ZERO32 = b"\x00" * 32


@pytest.fixture
def sr(protocol):
    return protocol.ServiceRegistry


def test_initial_state(sr, protocol, accounts):
    assert sr.controller() == protocol.Controller.address
    assert sr.targetContractId() == ZERO32
    assert sr.getServiceURI(accounts[1].address) == ""


def test_constructor_stores_controller(chain, protocol, accounts):
    fresh = chain.deploy(compile_contract("ServiceRegistry"), accounts[4].address)
    assert fresh.controller() == accounts[4].address


def test_set_service_uri(sr, accounts):
    r = sr.setServiceURI("https://orch.example:8935", sender=accounts[1])
    ev = r.event("ServiceURIUpdate")
    assert ev.address == sr.address
    assert ev.args == {"addr": accounts[1].address, "serviceURI": "https://orch.example:8935"}
    assert sr.getServiceURI(accounts[1].address) == "https://orch.example:8935"
    # per-caller records
    assert sr.getServiceURI(accounts[2].address) == ""


def test_overwrite_and_clear(sr, accounts):
    sr.setServiceURI("https://a.example", sender=accounts[1])
    sr.setServiceURI("https://b.example:1234/path", sender=accounts[1])
    assert sr.getServiceURI(accounts[1].address) == "https://b.example:1234/path"
    r = sr.setServiceURI("", sender=accounts[1])
    assert r.event("ServiceURIUpdate").args["serviceURI"] == ""
    assert sr.getServiceURI(accounts[1].address) == ""


def test_utf8_uri(sr, accounts):
    uri = "https://é.example/ü"
    sr.setServiceURI(uri, sender=accounts[1])
    assert sr.getServiceURI(accounts[1].address) == uri


def test_max_length_uri(sr, accounts):
    uri = "https://" + "a" * (1024 - 8)
    assert len(uri.encode()) == 1024
    sr.setServiceURI(uri, sender=accounts[1])
    assert sr.getServiceURI(accounts[1].address) == uri


def test_too_long_uri_reverts(sr, accounts):
    with pytest.raises(TransactionFailed):
        sr.setServiceURI("x" * 1025, sender=accounts[1])


def test_set_service_uri_while_paused(sr, protocol, accounts):
    # the reference ServiceRegistry.setServiceURI has no whenSystemNotPaused guard
    protocol.Controller.pause(sender=protocol.owner)
    sr.setServiceURI("https://paused.example", sender=accounts[1])
    assert sr.getServiceURI(accounts[1].address) == "https://paused.example"


def test_set_controller(sr, protocol, accounts):
    with pytest.raises(TransactionFailed, match="caller must be Controller"):
        sr.setController(accounts[2].address, sender=accounts[2])
    r = protocol.Controller.updateController(contract_id("ServiceRegistry"), accounts[2].address,
                                             sender=protocol.owner)
    assert r.event("SetController").args == {"controller": accounts[2].address}
    assert sr.controller() == accounts[2].address
    # the new "controller" (an EOA here) can move it again directly
    sr.setController(accounts[3].address, sender=accounts[2])
    assert sr.controller() == accounts[3].address
