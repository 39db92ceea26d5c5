"""The devchain's revm backend (node.eth.revm_devchain) against its py-evm one: the same signed
transactions give the same receipts, balances and storage; empty blocks are mined in one step
and built on demand with consistent hashes; snapshots undo state and blocks."""
from __future__ import annotations

from eth_account import Account as EthAccount
from eth_utils import keccak

from node.eth.devchain import DevchainRpc
from node.eth.block_store import empty_header_rlp, make_header
from node.eth.revm_devchain import RevmDevchain

from .devchain_process import chain_on

# init code of a contract whose code is: SSTORE(0, CALLDATALOAD(0)); LOG1(topic = slot 0's old value)
RUNTIME = bytes.fromhex("600054" "600035" "600055" "80" "6000" "6000" "a1" "00")  # SLOAD0 CALLDATA0 SSTORE0 DUP LOG1
INIT = bytes.fromhex("60" + f"{len(RUNTIME):02x}" + "600c" + "6000" + "39" + "60" + f"{len(RUNTIME):02x}" + "6000"
                     + "f3") + RUNTIME


def call(rpc, method, *params):
    reply = rpc.handle_call({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    assert "error" not in reply, (method, reply)
    return reply["result"]


def signed(account, nonce, chain_id=31337, **fields):
    tx = {"nonce": nonce, "chainId": chain_id, "gas": 200_000, "maxFeePerGas": 4 * 10**9,
          "maxPriorityFeePerGas": 10**9, "value": 0, **fields}
    return "0x" + bytes(EthAccount.sign_transaction(tx, account.key).raw_transaction).hex()


def scenario(rpc):
    """Deploy, store twice (a cold then a warm-in-another-transaction slot), a transfer, a revert."""
    a, b = rpc.chain.accounts[:2]
    hashes = [call(rpc, "eth_sendRawTransaction", signed(a, 0, data=INIT))]
    contract = call(rpc, "eth_getTransactionReceipt", hashes[0])["contractAddress"]
    hashes.append(call(rpc, "eth_sendRawTransaction", signed(a, 1, to=contract, data="0x" + "00" * 31 + "07")))
    hashes.append(call(rpc, "eth_sendRawTransaction", signed(b, 0, to=contract, data="0x" + "00" * 31 + "09")))
    hashes.append(call(rpc, "eth_sendRawTransaction", signed(b, 1, to=a.address, value=12345, gas=21_000)))
    hashes.append(call(rpc, "eth_sendRawTransaction", signed(a, 2, to=contract, data="0x", gas=21_100)))  # out of gas
    receipts = [call(rpc, "eth_getTransactionReceipt", h) for h in hashes]
    kept = ("status", "gasUsed", "cumulativeGasUsed", "effectiveGasPrice", "contractAddress", "logsBloom", "type",
            "transactionHash", "from", "to")
    return ([{k: r[k] for k in kept} | {"logs": [(lg["address"], lg["topics"], lg["data"]) for lg in r["logs"]]}
             for r in receipts],
            [call(rpc, "eth_getBalance", x, "latest") for x in (a.address, b.address, contract)],
            call(rpc, "eth_getStorageAt", contract, "0x0", "latest"), call(rpc, "eth_getCode", contract, "latest"),
            [call(rpc, "eth_getTransactionCount", x.address, "latest") for x in (a, b)])


def test_the_same_transactions_give_the_same_receipts_and_state_on_both_backends():
    revm, pyevm = (scenario(DevchainRpc(chain_on(backend, 2))) for backend in ("revm", "py-evm"))
    assert revm == pyevm
    receipts = revm[0]
    # py-evm starts each transaction with cold accounts and slots: equal gas says revm does too
    assert [r["status"] for r in receipts] == ["0x1", "0x1", "0x1", "0x1", "0x0"]
    assert receipts[1]["logs"][0][1] == ["0x" + "00" * 32] and receipts[2]["logs"][0][1] == ["0x" + "00" * 31 + "07"]


def test_the_fast_header_encoding_hashes_as_py_evm_does():
    for parent, number, timestamp, base in ((b"\x11" * 32, 5, 1000, 777), (b"\0" * 32, 2**40, 2**33, 7)):
        assert keccak(empty_header_rlp(parent, number, timestamp, base)) == make_header(parent, number, timestamp,
                                                                                           base).hash


def test_mining_a_round_is_one_step_and_its_blocks_are_built_when_asked_for():
    chain = RevmDevchain(2)
    rpc = DevchainRpc(chain)
    call(rpc, "eth_sendTransaction", {"from": chain.accounts[0].address, "to": chain.accounts[1].address,
                                      "value": "0x1"})
    materialised = len(chain.store.blocks)
    call(rpc, "anvil_mine", hex(6377))
    assert len(chain.store.blocks) == materialised and int(call(rpc, "eth_blockNumber"), 16) == 6378
    head = call(rpc, "eth_getBlockByNumber", "latest", False)
    middle = call(rpc, "eth_getBlockByNumber", hex(3000), False)
    assert call(rpc, "eth_getBlockByNumber", hex(2999), False)["hash"] == middle["parentHash"]
    assert call(rpc, "eth_getBlockByHash", middle["hash"], False) == middle
    assert int(head["timestamp"], 16) - int(middle["timestamp"], 16) == 6378 - 3000
    assert int(head["baseFeePerGas"], 16) == 7  # EIP-1559's floor for empty blocks
    sent = call(rpc, "eth_sendTransaction", {"from": chain.accounts[0].address, "to": chain.accounts[1].address,
                                             "value": "0x1"})
    assert call(rpc, "eth_getTransactionReceipt", sent)["blockNumber"] == hex(6379)
    assert call(rpc, "eth_getBlockByNumber", hex(6379), False)["parentHash"] == head["hash"]


def test_a_revert_undoes_state_edits_and_blocks():
    chain = RevmDevchain(2)
    rpc = DevchainRpc(chain)
    a, b = chain.accounts
    snapshot = call(rpc, "evm_snapshot")
    balance = call(rpc, "eth_getBalance", a.address, "latest")
    sent = call(rpc, "eth_sendTransaction", {"from": a.address, "to": b.address, "value": "0x5"})
    call(rpc, "anvil_setStorageAt", b.address, "0x1", "0x" + "00" * 31 + "2a")
    call(rpc, "anvil_mine", "0x10")
    assert call(rpc, "evm_revert", snapshot) is True
    assert call(rpc, "eth_blockNumber") == "0x0" and call(rpc, "eth_getBalance", a.address, "latest") == balance
    assert call(rpc, "eth_getTransactionReceipt", sent) is None
    assert int(call(rpc, "eth_getStorageAt", b.address, "0x1", "latest"), 16) == 0
    assert call(rpc, "eth_getTransactionCount", a.address, "latest") == "0x0"


def test_state_before_the_head_is_refused_naming_the_py_evm_backend():
    rpc = DevchainRpc(RevmDevchain(1))
    call(rpc, "anvil_mine", "0x2")
    reply = rpc.handle_call({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance",
                             "params": [rpc.chain.accounts[0].address, "0x1"]})
    assert reply["error"]["code"] == -32000 and "--backend py-evm" in reply["error"]["message"]
    assert call(rpc, "eth_getBalance", rpc.chain.accounts[0].address, "0x2") != "0x0"  # the head's number is fine


def test_logs_across_a_mined_round_are_found_and_the_empty_blocks_are_not_read():
    rpc = DevchainRpc(RevmDevchain(1))
    a = rpc.chain.accounts[0]
    created = call(rpc, "eth_sendRawTransaction", signed(a, 0, data=INIT))
    contract = call(rpc, "eth_getTransactionReceipt", created)["contractAddress"]
    call(rpc, "eth_sendRawTransaction", signed(a, 1, to=contract, data="0x" + "00" * 31 + "07"))
    call(rpc, "anvil_mine", hex(6377))
    call(rpc, "eth_sendRawTransaction", signed(a, 2, to=contract, data="0x" + "00" * 31 + "09"))
    built = len(rpc.chain.store.blocks)
    logs = call(rpc, "eth_getLogs", {"fromBlock": "earliest", "address": contract})
    assert [(lg["blockNumber"], lg["topics"]) for lg in logs] == [("0x2", ["0x" + "00" * 32]),
                                                                  (hex(6380), ["0x" + "00" * 31 + "07"])]
    assert len(rpc.chain.store.blocks) == built


def test_a_revm_dump_loads_on_either_backend():
    source = DevchainRpc(RevmDevchain(2))
    a = source.chain.accounts[0]
    created = call(source, "eth_sendRawTransaction", signed(a, 0, data=INIT))
    contract = call(source, "eth_getTransactionReceipt", created)["contractAddress"]
    call(source, "eth_sendRawTransaction", signed(a, 1, to=contract, data="0x" + "00" * 31 + "07"))
    dump = call(source, "anvil_dumpState")

    def seen(rpc):
        return ([call(rpc, "eth_getBalance", x, "latest") for x in (a.address, contract)],
                call(rpc, "eth_getStorageAt", contract, "0x0", "latest"), call(rpc, "eth_getCode", contract, "latest"),
                call(rpc, "eth_getTransactionCount", a.address, "latest"), call(rpc, "eth_blockNumber"))

    for backend in ("revm", "py-evm"):
        target = DevchainRpc(chain_on(backend, 2))
        assert call(target, "anvil_loadState", dump) is True
        assert seen(target) == seen(source), backend
