"""anvil's state-editing methods, impersonation, state dumps, anvil_reset and debug tracing on the
devchain's JSON-RPC dispatch (in process: a DevchainRpc over an EmbeddedChain, no protocol)."""
from __future__ import annotations

import gzip
import json

import pytest
from eth_utils import to_checksum_address

from node.eth.abi import encode_revert
from node.eth.devchain import DevchainRpc

from .devchain_process import BACKENDS, chain_on

A = to_checksum_address("0x" + "a1" * 20)
B = to_checksum_address("0x" + "b2" * 20)
WHALE = to_checksum_address("0x" + "5e" * 20)  # an address without a key, to impersonate
TOPIC = "0x" + "77" * 32


def push(data: bytes) -> bytes:
    assert 1 <= len(data) <= 32
    return bytes([0x5F + len(data)]) + data


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def reverting_code(reason: str) -> bytes:
    """Reverts with Error(reason)."""
    payload = encode_revert(reason)
    padded = payload + b"\0" * (-len(payload) % 32)
    code = b""
    for i in range(0, len(padded), 32):
        code += push(padded[i:i + 32]) + push(bytes([i])) + b"\x52"  # MSTORE
    return code + push(bytes([len(payload)])) + push(b"\0") + b"\xfd"  # REVERT


RETURN_42 = push(b"\x2a") + push(b"\0") + b"\x52" + push(b"\x20") + push(b"\0") + b"\xf3"


def call_code(opcode: int, target: str, value: bool) -> bytes:
    """CALL/STATICCALL/DELEGATECALL `target` with no input and a 32-byte output, result popped."""
    out = push(b"\x20") + push(b"\0") + push(b"\0") + push(b"\0")
    if value:
        out += push(b"\0")
    return out + push(bytes.fromhex(target[2:])) + b"\x5a" + bytes([opcode]) + b"\x50"


@pytest.fixture(scope="module", params=BACKENDS)
def devchain(request):
    return DevchainRpc(chain_on(request.param, 3))


@pytest.fixture
def rpc(devchain):
    """Each test on a snapshot of the module's chain, reverted afterwards."""
    snapshot = call(devchain, "evm_snapshot")
    yield devchain
    if call(devchain, "evm_revert", snapshot) is not True:  # anvil_reset ends snapshots: back to the start
        call(devchain, "anvil_reset")
    call(devchain, "evm_setAutomine", True)


def answer(rpc, method, *params):
    return rpc.handle_call({"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)})


def call(rpc, method, *params):
    reply = answer(rpc, method, *params)
    assert "error" not in reply, (method, reply)
    return reply["result"]


def error(rpc, method, *params) -> dict:
    reply = answer(rpc, method, *params)
    assert "error" in reply, (method, reply)
    return reply["error"]


def test_edits_show_at_latest_without_a_block_and_outlive_mining(rpc):
    number = call(rpc, "eth_blockNumber")
    assert call(rpc, "anvil_setBalance", A, "0x1234") is None
    assert call(rpc, "anvil_setNonce", A, "0x5") is None
    assert call(rpc, "anvil_setCode", A, "0x6001600055") is None
    assert call(rpc, "anvil_setStorageAt", A, "0x3", "0x" + "00" * 31 + "09") is True
    assert call(rpc, "eth_blockNumber") == number  # anvil edits state without mining
    assert call(rpc, "eth_getBalance", A, "latest") == "0x1234"
    assert call(rpc, "eth_getTransactionCount", A, "latest") == "0x5"
    assert call(rpc, "eth_getCode", A, "latest") == "0x6001600055"
    assert int(call(rpc, "eth_getStorageAt", A, "0x3", "latest"), 16) == 9
    call(rpc, "anvil_mine", "0x3")
    assert call(rpc, "eth_getBalance", A, "latest") == "0x1234"
    assert int(call(rpc, "eth_getStorageAt", A, "0x3", "latest"), 16) == 9
    # the edited code runs: a call stores 1 in slot 0
    sender = rpc.chain.accounts[0].address
    tx = call(rpc, "eth_sendTransaction", {"from": sender, "to": A, "gas": "0x20000"})
    assert call(rpc, "eth_getTransactionReceipt", tx)["status"] == "0x1"
    assert int(call(rpc, "eth_getStorageAt", A, "0x0", "latest"), 16) == 1


def test_hardhat_aliases(rpc):
    call(rpc, "hardhat_setBalance", B, "0x99")
    call(rpc, "hardhat_setNonce", B, "0x2")
    call(rpc, "hardhat_setCode", B, "0x00")
    call(rpc, "hardhat_setStorageAt", B, "0x1", "0x" + "00" * 31 + "01")
    assert call(rpc, "eth_getBalance", B, "latest") == "0x99"
    assert call(rpc, "eth_getTransactionCount", B, "latest") == "0x2"
    assert call(rpc, "eth_getCode", B, "latest") == "0x00"


def test_evm_revert_undoes_edits(rpc):
    call(rpc, "anvil_setBalance", A, "0x1")
    snapshot = call(rpc, "evm_snapshot")
    call(rpc, "anvil_setBalance", A, "0x2")
    call(rpc, "anvil_setCode", A, "0x00")
    call(rpc, "evm_mine")
    inner = call(rpc, "evm_snapshot")
    call(rpc, "anvil_setBalance", A, "0x3")
    assert call(rpc, "evm_revert", inner) is True  # a snapshot of an edited head
    assert call(rpc, "eth_getBalance", A, "latest") == "0x2"
    assert call(rpc, "evm_revert", snapshot) is True
    assert call(rpc, "eth_getBalance", A, "latest") == "0x1"
    assert call(rpc, "eth_getCode", A, "latest") == "0x"


@pytest.mark.parametrize("method, params, named", [
    ("anvil_setBalance", ["0x12", "0x1"], "address"),
    ("anvil_setBalance", [A], "balance"),
    ("anvil_setBalance", [A, "-1"], "balance"),
    ("anvil_setBalance", [A, hex(2**256)], "balance"),
    ("anvil_setNonce", [A, "lots"], "nonce"),
    ("anvil_setCode", [A, "0xzz"], "code"),
    ("anvil_setCode", [A, 5], "code"),
    ("anvil_setStorageAt", [A, "0x0"], "value"),
    ("anvil_setStorageAt", [A, "0x0", hex(2**256)], "value"),
    ("anvil_impersonateAccount", ["0x1234"], "address"),
    ("anvil_autoImpersonateAccount", ["maybe"], "enabled"),
    ("anvil_loadState", ["0x1f8b00"], "state"),
    ("anvil_loadState", ["0x" + json.dumps({"format": "lpsim-devchain-state/1", "stateRoot": "0x" + "00" * 32,
                                            "nodes": []}).encode().hex()], "state"),
    ("debug_traceTransaction", ["0x12", {"tracer": "callTracer"}], "hash"),
    ("debug_traceCall", [{"to": A}, "latest", {"tracer": "4byteTracer"}], "tracer"),
])
def test_bad_params_are_refused_naming_the_param_and_change_nothing(rpc, method, params, named):
    root = rpc.chain.backend.chain.get_canonical_head().state_root
    err = error(rpc, method, *params)
    assert err["code"] == -32602 and named in err["message"] and method in err["message"]
    assert rpc.chain.backend.chain.get_canonical_head().state_root == root


def test_impersonated_sender_transacts_like_any_other(rpc):
    call(rpc, "anvil_setBalance", WHALE, hex(10**18))
    request = {"from": WHALE, "to": A, "value": "0x64"}
    assert error(rpc, "eth_sendTransaction", request)["code"] != 0  # no key, not impersonated
    call(rpc, "anvil_impersonateAccount", WHALE)
    tx = call(rpc, "eth_sendTransaction", request)
    receipt = call(rpc, "eth_getTransactionReceipt", tx)
    assert receipt["status"] == "0x1" and receipt["from"] == WHALE
    assert call(rpc, "eth_getTransactionByHash", tx)["from"] == WHALE
    assert call(rpc, "eth_getBalance", A, "latest") == "0x64"
    assert call(rpc, "eth_getTransactionCount", WHALE, "latest") == "0x1"
    block = call(rpc, "eth_getBlockByNumber", receipt["blockNumber"], True)
    assert block["transactions"][0]["hash"] == tx and block["transactions"][0]["from"] == WHALE
    # a snapshot after it, reverted to: the block holding it is not re-executed with a bad signature
    snapshot = call(rpc, "evm_snapshot")
    call(rpc, "evm_mine")
    assert call(rpc, "evm_revert", snapshot) is True
    assert call(rpc, "eth_getTransactionReceipt", tx)["from"] == WHALE
    priced = call(rpc, "eth_sendTransaction", dict(request, gasPrice=hex(3 * 10**9)))  # an access-list transaction
    assert call(rpc, "eth_getTransactionByHash", priced)["type"] == "0x1"
    assert call(rpc, "eth_getTransactionReceipt", priced)["from"] == WHALE
    call(rpc, "anvil_stopImpersonatingAccount", WHALE)
    assert "error" in answer(rpc, "eth_sendTransaction", request)


def test_auto_impersonation_and_pooled_impersonated_transactions(rpc):
    call(rpc, "anvil_setBalance", WHALE, hex(10**18))
    call(rpc, "anvil_setBalance", B, hex(10**18))
    call(rpc, "anvil_autoImpersonateAccount", True)
    call(rpc, "evm_setAutomine", False)
    first = call(rpc, "eth_sendTransaction", {"from": WHALE, "to": A, "value": "0x1"})
    second = call(rpc, "eth_sendTransaction", {"from": B, "to": A, "value": "0x1"})
    assert first != second  # the same fields from two senders: two transactions
    assert call(rpc, "eth_getTransactionReceipt", first) is None
    assert call(rpc, "eth_getTransactionCount", WHALE, "pending") == "0x1"
    call(rpc, "evm_mine")
    for tx, sender in ((first, WHALE), (second, B)):
        receipt = call(rpc, "eth_getTransactionReceipt", tx)
        assert receipt["status"] == "0x1" and receipt["from"] == sender
    assert call(rpc, "eth_getBalance", A, "latest") == "0x2"
    call(rpc, "anvil_autoImpersonateAccount", False)
    call(rpc, "evm_setAutomine", True)
    assert "error" in answer(rpc, "eth_sendTransaction", {"from": B, "to": A, "value": "0x1"})


def test_dump_and_load_restore_accounts_code_and_storage(rpc):
    call(rpc, "anvil_setBalance", A, "0xabc")
    call(rpc, "anvil_setNonce", A, "0x7")
    call(rpc, "anvil_setCode", A, "0x600160005500")
    call(rpc, "anvil_setStorageAt", A, hex(2**200), "0x" + "11" * 32)
    sender = rpc.chain.accounts[1].address
    call(rpc, "eth_sendTransaction", {"from": sender, "to": B, "value": "0x5"})
    dump = call(rpc, "anvil_dumpState")
    document = json.loads(gzip.decompress(bytes.fromhex(dump[2:])))  # anvil's shape: hex of gzipped JSON
    assert document["format"] == "lpsim-devchain-state/1"
    assert document["accounts"][sender]["nonce"] == 1
    balance_1 = call(rpc, "eth_getBalance", sender, "latest")
    number = int(call(rpc, "eth_blockNumber"), 16)
    call(rpc, "anvil_reset")
    assert call(rpc, "eth_getBalance", A, "latest") == "0x0"
    assert call(rpc, "anvil_loadState", dump) is True
    assert call(rpc, "eth_getBalance", A, "latest") == "0xabc"
    assert call(rpc, "eth_getTransactionCount", A, "latest") == "0x7"
    assert call(rpc, "eth_getCode", A, "latest") == "0x600160005500"
    assert call(rpc, "eth_getStorageAt", A, hex(2**200), "latest") == "0x" + "11" * 32
    assert call(rpc, "eth_getBalance", B, "latest") == "0x5"
    assert call(rpc, "eth_getBalance", sender, "latest") == balance_1
    assert int(call(rpc, "eth_blockNumber"), 16) >= number  # mined up to the dump's block


def test_load_of_anvil_style_accounts(rpc):
    dump = {"accounts": {B: {"nonce": 3, "balance": "0x10", "code": "0x00",
                             "storage": {"0x1": "0x" + "00" * 31 + "05"}}}}
    assert call(rpc, "anvil_loadState", "0x" + gzip.compress(json.dumps(dump).encode()).hex()) is True
    assert call(rpc, "eth_getTransactionCount", B, "latest") == "0x3"
    assert call(rpc, "eth_getBalance", B, "latest") == "0x10"
    assert int(call(rpc, "eth_getStorageAt", B, "0x1", "latest"), 16) == 5


def test_reset_returns_to_the_state_first_served(rpc):
    start = call(rpc, "eth_blockNumber")
    balance = call(rpc, "eth_getBalance", rpc.chain.accounts[0].address, "latest")
    call(rpc, "anvil_setBalance", A, "0x1")
    call(rpc, "anvil_mine", "0x4")
    snapshot = call(rpc, "evm_snapshot")
    call(rpc, "anvil_impersonateAccount", WHALE)
    assert call(rpc, "hardhat_reset") is None
    assert call(rpc, "eth_blockNumber") == start
    assert call(rpc, "eth_getBalance", A, "latest") == "0x0"
    assert call(rpc, "eth_getBalance", rpc.chain.accounts[0].address, "latest") == balance
    assert call(rpc, "evm_revert", snapshot) is False  # snapshots end with the reset, as anvil's
    assert error(rpc, "anvil_reset", {"forking": {"jsonRpcUrl": "http://x"}})["code"] == -32602


def test_interval_mining_alias_and_node_info(rpc):
    call(rpc, "evm_setIntervalMining", 3600)
    assert rpc._interval_stop is not None and call(rpc, "hardhat_getAutomine") is False
    call(rpc, "evm_setIntervalMining", 0)
    assert rpc._interval_stop is None
    info = call(rpc, "anvil_nodeInfo")
    assert info["currentBlockNumber"] == call(rpc, "eth_blockNumber")
    assert info["environment"]["chainId"] == call(rpc, "eth_chainId")


def test_metadata_and_dropping_pooled_transactions(rpc):
    meta = call(rpc, "anvil_metadata")
    assert meta["chainId"] == int(call(rpc, "eth_chainId"), 16) and meta["forkedNetwork"] is None
    assert meta["latestBlockNumber"] == int(call(rpc, "eth_blockNumber"), 16)
    assert call(rpc, "hardhat_metadata")["instanceId"] == meta["instanceId"]
    call(rpc, "evm_setAutomine", False)
    sender = rpc.chain.accounts[0].address
    kept = call(rpc, "eth_sendTransaction", {"from": sender, "to": A, "value": "0x1", "nonce": "0x0"})
    other = rpc.chain.accounts[1].address
    dropped = call(rpc, "eth_sendTransaction", {"from": other, "to": A, "value": "0x2"})
    assert call(rpc, "anvil_dropTransaction", dropped) == dropped
    assert call(rpc, "anvil_dropTransaction", dropped) is None
    assert call(rpc, "eth_getTransactionByHash", dropped) is None
    call(rpc, "evm_mine")
    assert call(rpc, "eth_getTransactionReceipt", kept)["status"] == "0x1"
    assert call(rpc, "eth_getBalance", A, "latest") == "0x1"
    call(rpc, "eth_sendTransaction", {"from": other, "to": A, "value": "0x2"})
    assert call(rpc, "anvil_dropAllTransactions") is None
    call(rpc, "evm_mine")
    assert call(rpc, "eth_getBalance", A, "latest") == "0x1"


def _nested_contracts(rpc):
    """A calls C (STATICCALL), B (CALL: reverts "nope"), C (DELEGATECALL), then stops."""
    c, b, a = (to_checksum_address("0x" + x * 20) for x in ("cc", "bb", "aa"))
    call(rpc, "anvil_setCode", c, "0x" + RETURN_42.hex())
    call(rpc, "anvil_setCode", b, "0x" + reverting_code("nope").hex())
    code = call_code(0xFA, c, False) + call_code(0xF1, b, True) + call_code(0xF4, c, False) + b"\x00"
    call(rpc, "anvil_setCode", a, "0x" + code.hex())
    return a, b, c


def _check_nested_trace(trace, sender, a, b, c):
    a, b, c = a.lower(), b.lower(), c.lower()
    assert trace["type"] == "CALL" and trace["from"].lower() == sender.lower() and trace["to"].lower() == a
    assert "error" not in trace
    kinds = [(f["type"], f["from"].lower(), f["to"].lower()) for f in trace["calls"]]
    assert kinds == [("STATICCALL", a, c), ("CALL", a, b), ("DELEGATECALL", a, c)]
    static, reverted, _ = trace["calls"]
    assert static["output"] == "0x" + word(42).hex() and "value" not in static
    assert reverted["error"] == "execution reverted" and reverted["revertReason"] == "nope"
    assert reverted["output"] == "0x" + encode_revert("nope").hex() and reverted["value"] == "0x0"
    assert int(reverted["gasUsed"], 16) < int(reverted["gas"], 16)
    assert "calls" not in static


def test_trace_transaction_call_tracer(rpc):
    a, b, c = _nested_contracts(rpc)
    sender = rpc.chain.accounts[0].address
    tx = call(rpc, "eth_sendTransaction", {"from": sender, "to": a, "gas": "0x40000"})
    receipt = call(rpc, "eth_getTransactionReceipt", tx)
    trace = call(rpc, "debug_traceTransaction", tx, {"tracer": "callTracer"})
    _check_nested_trace(trace, sender, a, b, c)
    assert trace["gas"] == "0x40000" and trace["gasUsed"] == receipt["gasUsed"]
    top = call(rpc, "debug_traceTransaction", tx, {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": True}})
    assert "calls" not in top and top["to"] == a
    assert error(rpc, "debug_traceTransaction", "0x" + "00" * 32, {"tracer": "callTracer"})["code"] == -32000


def test_trace_of_a_reverted_transaction_and_of_a_call(rpc):
    a, b, c = _nested_contracts(rpc)
    sender = rpc.chain.accounts[0].address
    tx = call(rpc, "eth_sendTransaction", {"from": sender, "to": b, "gas": "0x30000"})
    assert call(rpc, "eth_getTransactionReceipt", tx)["status"] == "0x0"
    trace = call(rpc, "debug_traceTransaction", tx, {"tracer": "callTracer"})
    assert trace["error"] == "execution reverted" and trace["revertReason"] == "nope"
    traced_call = call(rpc, "debug_traceCall", {"from": sender, "to": a}, "latest", {"tracer": "callTracer"})
    _check_nested_trace(traced_call, sender, a, b, c)
    assert call(rpc, "eth_getTransactionCount", sender, "latest") == "0x1"  # a call changes nothing


def test_trace_of_an_impersonated_transaction_in_a_block_with_others(rpc):
    """Re-executed on its block's parent state after the transactions before it."""
    a, b, c = _nested_contracts(rpc)
    call(rpc, "anvil_setBalance", WHALE, hex(10**18))
    call(rpc, "anvil_impersonateAccount", WHALE)
    call(rpc, "evm_setAutomine", False)
    sender = rpc.chain.accounts[0].address
    call(rpc, "eth_sendTransaction", {"from": sender, "to": WHALE, "value": "0x1"})
    tx = call(rpc, "eth_sendTransaction", {"from": WHALE, "to": a, "gas": "0x40000"})
    call(rpc, "evm_mine")
    receipt = call(rpc, "eth_getTransactionReceipt", tx)
    assert receipt["transactionIndex"] == "0x1"
    trace = call(rpc, "debug_traceTransaction", tx, {"tracer": "callTracer"})
    _check_nested_trace(trace, WHALE, a, b, c)
    assert trace["gasUsed"] == receipt["gasUsed"]
    by_number = call(rpc, "debug_traceBlockByNumber", receipt["blockNumber"], {"tracer": "callTracer"})
    by_hash = call(rpc, "debug_traceBlockByHash", receipt["blockHash"], {"tracer": "callTracer"})
    assert by_number == by_hash and [t["txHash"] for t in by_number][1] == tx and by_number[1]["result"] == trace
    assert by_number[0]["result"]["to"] == WHALE and by_number[0]["result"]["value"] == "0x1"
