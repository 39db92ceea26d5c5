"""`lpnode devchain` as a separate process, used through JSON-RPC: the control methods with
anvil's semantics, reverts as geth/anvil report them, a plain web3 client, and a smoke subset
of the contract suite re-run against the server."""
from __future__ import annotations

import pytest
import requests

from node.eth import JsonRpcChain, attach_protocol

from ..conftest import TEST_PARAMS
from .devchain_process import BACKENDS, devchain_process

pytestmark = pytest.mark.devchain


@pytest.fixture(scope="module", params=BACKENDS)
def devchain(tmp_path_factory, request):
    with devchain_process(tmp_path_factory.mktemp("devchain"), backend=request.param) as running:
        yield running


def rpc(url, method, *params):
    return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=60).json()


@pytest.fixture(scope="module")
def chain(devchain):
    return JsonRpcChain(devchain[0])


@pytest.fixture(scope="module")
def _session_protocol(chain, devchain):
    return attach_protocol(chain, devchain[1])


def test_addresses_file_names_every_contract(devchain):
    assert set(devchain[1]) >= {"Controller", "LivepeerToken", "ServiceRegistry", "RoundsManager", "Minter",
                                "BondingManager", "TicketBroker"}


def test_attached_protocol_reads_its_parameters(protocol):
    assert protocol.params.round_length == TEST_PARAMS.round_length
    assert protocol.params.num_active_transcoders == TEST_PARAMS.num_active_transcoders
    assert protocol.owner.key is not None  # the owner is a development account


def test_control_methods_follow_anvil(devchain, protocol):
    url = devchain[0]
    start = int(rpc(url, "eth_blockNumber")["result"], 16)
    snap = rpc(url, "evm_snapshot")["result"]
    assert rpc(url, "evm_mine")["result"] == "0x0"
    assert rpc(url, "anvil_mine", "0x5")["result"] is None
    assert int(rpc(url, "eth_blockNumber")["result"], 16) == start + 6
    later = rpc(url, "evm_snapshot")["result"]
    assert rpc(url, "evm_revert", snap)["result"] is True
    assert int(rpc(url, "eth_blockNumber")["result"], 16) == start
    assert rpc(url, "evm_revert", later)["result"] is False  # later snapshots are gone
    def latest():
        block = rpc(url, "eth_getBlockByNumber", "latest", False)["result"]
        return int(block["number"], 16), int(block["timestamp"], 16)

    number, t0 = latest()
    assert int(rpc(url, "evm_increaseTime", 3600)["result"], 16) >= 3600
    assert latest()[0] == number  # nothing mined: the offset applies to the next block
    rpc(url, "evm_mine")
    assert latest() == (number + 1, t0 + 3600)
    assert rpc(url, "evm_mine", t0 + 7200)["result"] == "0x0"
    assert latest() == (number + 2, t0 + 7200)
    assert rpc(url, "evm_setNextBlockTimestamp", t0 + 10)["error"]["code"] == -32000  # not after latest


def test_unknown_method_and_malformed_request(devchain):
    assert rpc(devchain[0], "eth_noSuchMethod")["error"]["code"] == -32601
    bad = requests.post(devchain[0], data=b"{not json", timeout=10).json()
    assert bad["error"]["code"] == -32700


def test_revert_is_error_3_with_reason_and_data(devchain, protocol, accounts):
    from node.eth.abi import decode_revert, encode_args, selector

    entry = next(e for e in protocol.BondingManager.abi if e.get("name") == "setUnbondingPeriod")
    data = "0x" + (selector(entry) + encode_args(entry["inputs"], [3])).hex()
    resp = rpc(devchain[0], "eth_call", {"from": accounts[1].address, "to": protocol.BondingManager.address, "data": data}, "latest")
    assert resp["error"]["code"] == 3
    assert resp["error"]["message"] == "execution reverted: caller must be Controller owner"
    assert decode_revert(bytes.fromhex(resp["error"]["data"][2:])) == "caller must be Controller owner"


def test_plain_web3_client_sees_contract_logic_error(devchain, protocol, accounts):
    from web3 import HTTPProvider, Web3
    from web3.exceptions import ContractLogicError

    w3 = Web3(HTTPProvider(devchain[0]))
    bm = w3.eth.contract(address=protocol.BondingManager.address, abi=protocol.BondingManager.abi)
    with pytest.raises(ContractLogicError, match="caller must be bonded"):
        bm.functions.unbond(1).transact({"from": accounts[3].address})
    assert bm.functions.getTranscoderPoolMaxSize().call() == TEST_PARAMS.num_active_transcoders


# The smoke subset of the contract suite, collected here so it runs on this module's
# devchain-backed `chain` and `protocol` fixtures.
from ..contracts.test_smoke import *
