"""The devchain's JSON-RPC answers in geth's and anvil's shapes, defect by defect (issue 17):
raw JSON-RPC against a devchain process, and web3.py reading what it answers."""
from __future__ import annotations

import pytest
import requests
from eth_account import Account as EthAccount
from eth_utils import keccak
from web3 import Web3

from node.eth.chain import dev_accounts
from node.eth.compiler import compile_contract

from .devchain_process import BACKENDS, devchain_process

pytestmark = pytest.mark.devchain

TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
ZERO_TOPIC = "0x" + "00" * 32


@pytest.fixture(scope="module", params=BACKENDS)
def devchain(tmp_path_factory, request):
    with devchain_process(tmp_path_factory.mktemp("devchain-rpc"), backend=request.param) as running:
        yield running


@pytest.fixture(scope="module")
def url(devchain):
    return devchain[0]


@pytest.fixture(scope="module")
def w3(url):
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))


@pytest.fixture(scope="module")
def keys():
    return dev_accounts(20)


@pytest.fixture(scope="module")
def token(devchain, w3):
    return w3.eth.contract(address=devchain[1]["LivepeerToken"], abi=compile_contract("LivepeerToken").abi)


def rpc(url, method, *params):
    return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                         timeout=60).json()


def result(url, method, *params):
    answer = rpc(url, method, *params)
    assert "result" in answer, answer
    return answer["result"]


def topic_of(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()


def transfer_lpt(w3, token, sender, to, amount=1):
    tx_hash = token.functions.transfer(to, amount).transact({"from": sender})
    return w3.eth.wait_for_transaction_receipt(tx_hash)


def sign(key, **fields):
    signed = EthAccount.sign_transaction(fields, key)
    return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()


def is_quantity(value) -> bool:
    return isinstance(value, str) and value.startswith("0x") and (value == "0x0" or value[2] != "0")


def is_hash(value) -> bool:
    return isinstance(value, str) and len(value) == 66 and value.startswith("0x")


# --- chain id ----------------------------------------------------------------------------------
def test_chain_id_is_anvils_and_net_version_agrees(url, w3):
    assert result(url, "eth_chainId") == "0x7a69"
    assert result(url, "net_version") == "31337"
    assert w3.eth.chain_id == 31337


RETURN_CHAINID = "0x4660005260206000f3"  # CHAINID PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN, run as a creation


def test_contracts_see_the_chain_id(url, token):
    assert int(result(url, "eth_call", {"data": RETURN_CHAINID}, "latest"), 16) == 31337
    assert token.functions.eip712Domain().call()[3] == 31337  # the token's EIP-712 domain


def test_embedded_chain_takes_a_chain_id(keys):
    from node.eth.chain import EmbeddedChain
    from node.eth.devchain import DevchainRpc

    chain = EmbeddedChain(num_accounts=2, chain_id=5)
    assert chain.w3.eth.chain_id == 5 and chain.w3.net.version == "5"
    assert chain.w3.eth.call({"data": RETURN_CHAINID}) == (5).to_bytes(32, "big")
    sent = chain.w3.eth.get_transaction(chain.w3.eth.send_transaction({"from": keys[0].address, "to": keys[1].address,
                                                                       "value": 1}))
    assert sent["chainId"] == 5  # eth-tester signs for it
    rpc_ = DevchainRpc(chain)

    def send(chain_id):
        raw, _ = sign(keys[1].key, to=keys[0].address, value=1, gas=21_000, nonce=chain.w3.eth.get_transaction_count(
            keys[1].address), chainId=chain_id, maxFeePerGas=10**10, maxPriorityFeePerGas=10**9)
        return rpc_.handle_call({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]})

    assert send(31337)["error"]["message"] == "invalid sender: invalid chain id for signer: have 31337 want 5"
    assert "result" in send(5)
    for bad in (0, 2**64):
        with pytest.raises(Exception, match="chain id"):
            EmbeddedChain(num_accounts=1, chain_id=bad)


# --- logs ---------------------------------------------------------------------------------------
def test_get_logs_address_string_earliest_block_hash_and_topics(url, w3, token, keys):
    a, b, c = keys[1].address, keys[2].address, keys[3].address
    first = transfer_lpt(w3, token, a, b, 5)
    second = transfer_lpt(w3, token, a, c, 7)
    address = token.address
    # address as a single string (ethers' queryFilter, viem's getLogs), from "earliest"
    logs = result(url, "eth_getLogs", {"address": address, "fromBlock": "earliest", "toBlock": "latest",
                                       "topics": [TRANSFER]})
    hashes = [lg["transactionHash"] for lg in logs]
    assert "0x" + bytes(first.transactionHash).hex() in hashes and "0x" + bytes(second.transactionHash).hex() in hashes
    assert result(url, "eth_getLogs", {"address": [address], "fromBlock": "earliest", "topics": [TRANSFER]}) == logs
    assert result(url, "eth_getLogs", {"address": address.lower(), "fromBlock": "0x0", "topics": [TRANSFER]}) == logs
    # topics: null matches anything, a list is an OR
    from_a_to_b_or_c = result(url, "eth_getLogs", {"fromBlock": hex(first.blockNumber), "toBlock": hex(second.blockNumber),
                                                   "topics": [TRANSFER, topic_of(a), [topic_of(b), topic_of(c)]]})
    assert [lg["transactionHash"] for lg in from_a_to_b_or_c] == ["0x" + bytes(r.transactionHash).hex()
                                                                  for r in (first, second)]
    only_c = result(url, "eth_getLogs", {"fromBlock": hex(first.blockNumber), "toBlock": hex(second.blockNumber),
                                         "topics": [None, None, topic_of(c)]})
    assert [lg["transactionHash"] for lg in only_c] == ["0x" + bytes(second.transactionHash).hex()]
    assert result(url, "eth_getLogs", {"fromBlock": hex(first.blockNumber), "topics": [ZERO_TOPIC]}) == []
    assert result(url, "eth_getLogs", {"fromBlock": hex(first.blockNumber), "address": keys[9].address}) == []
    # by block hash, and the log's own fields as geth gives them
    by_hash = result(url, "eth_getLogs", {"blockHash": "0x" + bytes(second.blockHash).hex()})
    assert [lg["transactionHash"] for lg in by_hash] == ["0x" + bytes(second.transactionHash).hex()]
    log = by_hash[0]
    assert set(log) == {"address", "topics", "data", "blockNumber", "transactionHash", "transactionIndex",
                        "blockHash", "logIndex", "removed"}
    assert log["blockNumber"] == hex(second.blockNumber) and log["removed"] is False and is_quantity(log["logIndex"])
    assert int(log["data"], 16) == 7
    assert rpc(url, "eth_getLogs", {"blockHash": "0x" + "11" * 32})["error"]["message"] == "unknown block"
    assert rpc(url, "eth_getLogs", {"blockHash": log["blockHash"], "fromBlock": "0x1"})["error"]["code"] == -32602
    # web3.py's own event reader over the same answers
    events = token.events.Transfer().get_logs(from_block=first.blockNumber, to_block=second.blockNumber)
    assert [e["transactionHash"] for e in events] == [first.transactionHash, second.transactionHash]


def test_filters_poll_changes_and_uninstall(url, w3, token, keys):
    a, b = keys[4].address, keys[5].address
    log_filter = result(url, "eth_newFilter", {"address": token.address, "topics": [TRANSFER, topic_of(a)]})
    block_filter = result(url, "eth_newBlockFilter")
    assert result(url, "eth_getFilterChanges", log_filter) == []
    receipt = transfer_lpt(w3, token, a, b, 3)
    changes = result(url, "eth_getFilterChanges", log_filter)
    assert [lg["transactionHash"] for lg in changes] == ["0x" + bytes(receipt.transactionHash).hex()]
    assert result(url, "eth_getFilterChanges", log_filter) == []  # each change is reported once
    assert "0x" + bytes(receipt.blockHash).hex() in result(url, "eth_getFilterChanges", block_filter)
    assert result(url, "eth_getFilterLogs", log_filter) == changes  # from the filter's (default) range: latest
    assert result(url, "eth_uninstallFilter", log_filter) is True
    assert result(url, "eth_uninstallFilter", log_filter) is False
    assert rpc(url, "eth_getFilterChanges", log_filter)["error"] == {"code": -32000, "message": "filter not found"}
    assert result(url, "eth_uninstallFilter", block_filter) is True
    # web3.py's filter object over eth_newFilter/eth_getFilterChanges
    event_filter = token.events.Transfer().create_filter(from_block="latest")
    receipt = transfer_lpt(w3, token, a, b, 4)
    assert [e["transactionHash"] for e in event_filter.get_new_entries()] == [receipt.transactionHash]


# --- fee history --------------------------------------------------------------------------------
def test_fee_history_as_geth(url, w3, keys):
    for i in range(3):
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": keys[6].address, "to": keys[7].address,
                                                                     "value": i + 1}))
    head = w3.eth.block_number
    history = result(url, "eth_feeHistory", "0x3", "latest", [10, 50, 90])
    assert history["oldestBlock"] == hex(head - 2)
    assert len(history["baseFeePerGas"]) == 4  # blockCount + 1: the last for the next block
    blocks = [result(url, "eth_getBlockByNumber", hex(n), False) for n in range(head - 2, head + 1)]
    assert history["baseFeePerGas"][:3] == [blk["baseFeePerGas"] for blk in blocks]
    assert history["baseFeePerGas"][3] == result(url, "eth_getBlockByNumber", "pending", False)["baseFeePerGas"]
    assert history["gasUsedRatio"] == [int(blk["gasUsed"], 16) / int(blk["gasLimit"], 16) for blk in blocks]
    assert len(history["reward"]) == 3 and all(len(row) == 3 for row in history["reward"])
    # each block holds one transfer: every percentile is its effective tip, min(tip, fee cap - base fee)
    for blk, row in zip(blocks, history["reward"]):
        tx = result(url, "eth_getTransactionByHash", blk["transactions"][0])
        tip = min(int(tx["maxPriorityFeePerGas"], 16), int(tx["maxFeePerGas"], 16) - int(blk["baseFeePerGas"], 16))
        assert row == [hex(tip)] * 3
    assert "reward" not in result(url, "eth_feeHistory", "0x2", "latest")
    assert result(url, "eth_feeHistory", 1, hex(head))["oldestBlock"] == hex(head)
    assert rpc(url, "eth_feeHistory", "0x2", "latest", [50, 10])["error"]["code"] == -32602
    fee = w3.eth.fee_history(2, "latest", [25])
    assert fee["oldestBlock"] == head - 1 and len(fee["baseFeePerGas"]) == 3


# --- receipts, transactions and blocks ----------------------------------------------------------
RECEIPT_FIELDS = {"blockHash", "blockNumber", "contractAddress", "cumulativeGasUsed", "effectiveGasPrice", "from",
                  "gasUsed", "logs", "logsBloom", "status", "to", "transactionHash", "transactionIndex", "type"}


def test_receipts_have_geths_fields(url, w3, token, keys):
    receipt = transfer_lpt(w3, token, keys[8].address, keys[9].address, 2)
    tx_hash = "0x" + bytes(receipt.transactionHash).hex()
    got = result(url, "eth_getTransactionReceipt", tx_hash)
    assert set(got) == RECEIPT_FIELDS  # no eth-tester `state_root`
    assert got["status"] == "0x1" and got["type"] == "0x2" and got["contractAddress"] is None
    assert len(got["logsBloom"]) == 2 + 512
    bloom = int(got["logsBloom"], 16)
    assert bloom != 0 and bloom & int(result(url, "eth_getBlockByNumber", got["blockNumber"], False)["logsBloom"], 16) == bloom
    block = result(url, "eth_getBlockByNumber", got["blockNumber"], False)
    tx = result(url, "eth_getTransactionByHash", tx_hash)
    base = int(block["baseFeePerGas"], 16)
    assert int(got["effectiveGasPrice"], 16) == min(int(tx["maxFeePerGas"], 16), base + int(tx["maxPriorityFeePerGas"], 16))
    assert got["cumulativeGasUsed"] == got["gasUsed"]  # alone in its block
    assert all(is_quantity(got[k]) for k in ("blockNumber", "cumulativeGasUsed", "gasUsed", "transactionIndex"))
    assert result(url, "eth_getBlockReceipts", got["blockNumber"]) == [got]
    assert result(url, "eth_getBlockReceipts", got["blockHash"]) == [got]
    assert result(url, "eth_getTransactionReceipt", "0x" + "22" * 32) is None
    # a creation names its contract
    deployed = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
        {"from": keys[8].address, "data": "0x600a600c600039600a6000f3602a60005260206000f3"}))
    assert deployed.contractAddress and w3.eth.get_code(deployed.contractAddress) != b""
    assert result(url, "eth_getTransactionReceipt", "0x" + bytes(deployed.transactionHash).hex())["to"] is None


TX_FIELDS_1559 = {"blockHash", "blockNumber", "from", "gas", "gasPrice", "hash", "input", "nonce", "to",
                  "transactionIndex", "value", "type", "chainId", "accessList", "maxFeePerGas",
                  "maxPriorityFeePerGas", "v", "r", "s", "yParity"}


def test_full_transactions_in_blocks_are_geth_shaped(url, w3, keys):
    key = keys[10]
    dynamic, dynamic_hash = sign(key.key, to=keys[11].address, value=1, gas=21_000, nonce=w3.eth.get_transaction_count(key.address),
                                 chainId=31337, maxFeePerGas=10**10, maxPriorityFeePerGas=10**9)
    result(url, "eth_sendRawTransaction", dynamic)
    legacy, legacy_hash = sign(key.key, to=keys[11].address, value=1, gas=21_000,
                               nonce=w3.eth.get_transaction_count(key.address), chainId=31337, gasPrice=10**10)
    result(url, "eth_sendRawTransaction", legacy)
    for tx_hash, kind in ((dynamic_hash, "0x2"), (legacy_hash, "0x0")):
        number = result(url, "eth_getTransactionReceipt", tx_hash)["blockNumber"]
        block = result(url, "eth_getBlockByNumber", number, True)
        (tx,) = block["transactions"]
        assert tx == result(url, "eth_getTransactionByHash", tx_hash)
        assert tx["blockNumber"] == number and tx["blockHash"] == block["hash"] and tx["transactionIndex"] == "0x0"
        assert tx["type"] == kind and tx["chainId"] == "0x7a69" and tx["from"] == key.address
        if kind == "0x2":
            assert set(tx) == TX_FIELDS_1559 and tx["v"] == tx["yParity"]
            base = int(block["baseFeePerGas"], 16)
            assert int(tx["gasPrice"], 16) == min(10**10, base + 10**9)  # the effective price, as geth's
        else:
            assert set(tx) == TX_FIELDS_1559 - {"accessList", "maxFeePerGas", "maxPriorityFeePerGas", "yParity"}
            assert int(tx["v"], 16) in (2 * 31337 + 35, 2 * 31337 + 36) and tx["gasPrice"] == hex(10**10)
        assert result(url, "eth_getTransactionByBlockNumberAndIndex", number, "0x0") == tx
        assert result(url, "eth_getTransactionByBlockHashAndIndex", block["hash"], "0x0") == tx
        read = w3.eth.get_block(int(number, 16), full_transactions=True)["transactions"][0]
        assert read["blockNumber"] == int(number, 16) and read["from"] == key.address


def test_block_tags_and_shapes(url, w3, keys):
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": keys[0].address, "to": keys[1].address,
                                                                 "value": 1}))
    head = w3.eth.block_number
    latest = result(url, "eth_getBlockByNumber", "latest", False)
    assert latest["number"] == hex(head)
    assert result(url, "eth_getBlockByHash", latest["hash"], False) == latest
    assert result(url, "eth_getBlockByNumber", "earliest", False)["number"] == "0x0"
    assert result(url, "eth_getBlockByNumber", "safe", False)["number"] == hex(max(0, head - 32))  # anvil: one epoch
    assert result(url, "eth_getBlockByNumber", "finalized", False)["number"] == hex(max(0, head - 64))
    pending = result(url, "eth_getBlockByNumber", "pending", False)
    assert pending["number"] == hex(head + 1) and pending["hash"] is None and pending["parentHash"] == latest["hash"]
    assert result(url, "eth_getBlockByNumber", hex(head + 100), False) is None
    assert result(url, "eth_getBlockByHash", "0x" + "33" * 32, False) is None
    for field in ("hash", "parentHash", "mixHash", "stateRoot", "transactionsRoot", "receiptsRoot", "withdrawalsRoot"):
        assert is_hash(latest[field]), field
    for field in ("number", "gasLimit", "gasUsed", "timestamp", "baseFeePerGas", "size"):
        assert is_quantity(latest[field]), field
    assert len(latest["logsBloom"]) == 2 + 512 and latest["withdrawals"] == []
    assert all(is_hash(t) for t in latest["transactions"])
    assert result(url, "eth_maxPriorityFeePerGas") == hex(10**9)
    assert int(result(url, "eth_gasPrice"), 16) == int(latest["baseFeePerGas"], 16) + 10**9  # head's base fee + tip
    assert result(url, "eth_syncing") is False
    assert result(url, "eth_accounts") == [k.address for k in keys]
    assert result(url, "web3_clientVersion").startswith("lpnode-devchain/v")


# --- gas estimates and call objects -------------------------------------------------------------
def test_estimate_gas_as_geth(url, w3, token, keys):
    a, b = keys[12].address, keys[13].address
    assert result(url, "eth_estimateGas", {"from": a, "to": b, "value": "0x1"}) == hex(21_000)
    # 50 KB of calldata to an account: at least its intrinsic gas, and enough to be mined
    data = "0x" + "01" * 50_000
    intrinsic = 21_000 + 16 * 50_000
    estimate = int(result(url, "eth_estimateGas", {"from": a, "to": b, "data": data}), 16)
    assert estimate >= intrinsic
    mined = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": a, "to": b, "data": data,
                                                                         "gas": estimate}))
    assert mined.status == 1 and mined.gasUsed <= estimate
    # a contract call: the estimate is sufficient and tight (geth's 64/63 of the gas used, +2,300 at most)
    call = token.functions.transfer(b, 1).build_transaction({"from": a, "gas": 10**6})
    estimate = int(result(url, "eth_estimateGas", {"from": a, "to": token.address, "data": call["data"]}), 16)
    mined = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": a, "to": token.address,
                                                                         "data": call["data"], "gas": estimate}))
    assert mined.status == 1
    assert mined.gasUsed <= estimate <= (mined.gasUsed + 2_300 + 2_000) * 64 // 63  # (+ the refunded storage gas)
    too_little = rpc(url, "eth_sendRawTransaction", sign(keys[12].key, to=b, value=1, gas=20_999, chainId=31337,
                                                         nonce=w3.eth.get_transaction_count(a), maxFeePerGas=10**10,
                                                         maxPriorityFeePerGas=10**9)[0])
    assert too_little["error"] == {"code": -32000, "message": "intrinsic gas too low: gas 20999, minimum needed 21000"}


def test_intrinsic_gas_is_geths_with_initcode_words(url, w3, keys):
    """geth's IntrinsicGas (Shanghai on) for transactions and call objects alike: a creation pays
    2 gas a word of initcode (EIP-3860) before it runs; py-evm's own figure leaves it out."""
    from node.eth.geth_execution import intrinsic_gas

    initcode = bytes.fromhex("600a600c600039600a6000f3") + b"\x01" * 52  # 64 bytes, 2 of them zero
    assert intrinsic_gas(initcode, True) == 21_000 + 32_000 + 4 * 2 + 16 * 62 + 2 * 2
    assert intrinsic_gas(b"", False, [("0x" + "11" * 20, [b"\0" * 32, b"\1" * 32])]) == 21_000 + 2_400 + 2 * 1_900
    a = keys[15].address
    needed = intrinsic_gas(initcode, True)
    assert int(result(url, "eth_estimateGas", {"from": a, "data": "0x" + initcode.hex()}), 16) >= needed
    short = rpc(url, "eth_sendRawTransaction", sign(keys[15].key, data=initcode, gas=needed - 1, chainId=31337,
                                                    nonce=w3.eth.get_transaction_count(a), maxFeePerGas=10**10,
                                                    maxPriorityFeePerGas=10**9)[0])
    assert short["error"] == {"code": -32000, "message": f"intrinsic gas too low: gas {needed - 1}, "
                                                         f"minimum needed {needed}"}


def test_call_objects_take_what_geth_takes(url, w3, token, keys):
    a = keys[14].address
    data = token.functions.balanceOf(a).build_transaction({"from": a, "gas": 10**6})["data"]
    expected = result(url, "eth_call", {"from": a, "to": token.address, "data": data}, "latest")
    nonce = hex(w3.eth.get_transaction_count(a) + 1)  # ethers' second transaction, the first pending
    full = {"from": a, "to": token.address, "input": data, "nonce": nonce, "type": "0x2", "chainId": "0x7a69",
            "accessList": [], "maxFeePerGas": hex(10**10), "maxPriorityFeePerGas": hex(10**9), "value": "0x0"}
    assert result(url, "eth_call", full, "latest") == expected
    assert result(url, "eth_call", full, "pending") == expected
    assert result(url, "eth_call", full, {"blockNumber": hex(w3.eth.block_number)}) == expected
    assert int(result(url, "eth_estimateGas", full), 16) > 21_000
    assert result(url, "eth_estimateGas", {"from": a, "to": keys[15].address, "nonce": nonce, "type": "0x2"}) == hex(21_000)
    both = rpc(url, "eth_call", {"from": a, "to": token.address, "input": data, "data": "0x00"}, "latest")
    assert both["error"]["code"] == -32000 and "both" in both["error"]["message"]
    # no fees given (or all zero): none charged, so an account without ether may call and estimate
    broke = "0x" + "5a" * 20
    assert result(url, "eth_getBalance", broke, "latest") == "0x0"
    assert result(url, "eth_call", {"from": broke, "to": token.address, "data": data}, "latest") == expected
    assert result(url, "eth_call", {"from": broke, "to": token.address, "data": data, "gasPrice": "0x0"},
                  "latest") == expected
    assert int(result(url, "eth_estimateGas", {"from": broke, "to": token.address, "data": data}), 16) > 21_000
    assert rpc(url, "eth_estimateGas", {"from": broke, "to": a, "value": "0x1"})["error"] == {
        "code": -32000, "message": "insufficient funds for transfer"}


# --- eth_sendRawTransaction's refusals in geth's words ------------------------------------------
def test_raw_transaction_errors_in_geths_words(url, w3, keys):
    key, to = keys[16], keys[17].address
    nonce = w3.eth.get_transaction_count(key.address)
    base = int(result(url, "eth_getBlockByNumber", "pending", False)["baseFeePerGas"], 16)

    def send(**fields):
        tx = {"to": to, "value": 1, "gas": 21_000, "nonce": nonce, "chainId": 31337, "maxFeePerGas": 10**10,
              "maxPriorityFeePerGas": 10**9}
        tx.update(fields)
        for k in [k for k, v in tx.items() if v is None]:
            del tx[k]
        return rpc(url, "eth_sendRawTransaction", sign(key.key, **tx)[0])

    def refused(answer):
        assert answer["error"]["code"] == -32000, answer
        return answer["error"]["message"]

    assert refused(send(maxPriorityFeePerGas=0)) == "transaction underpriced: gas tip cap 0, minimum needed 1"
    assert refused(send(maxFeePerGas=base - 1, maxPriorityFeePerGas=1)).startswith(
        "max fee per gas less than block base fee: address " + key.address)
    assert refused(send(maxPriorityFeePerGas=10**11)).startswith("max priority fee per gas higher than max fee per gas")
    assert refused(send(chainId=1)) == "invalid sender: invalid chain id for signer: have 1 want 31337"
    assert refused(send(value=10**30)) == "insufficient funds for gas * price + value"
    assert refused(send(gas=10**9)) == "exceeds block gas limit"
    assert "result" in send()
    assert refused(send()) == "nonce too low"  # mined at once: its nonce is used
    nonce += 1
    # a future nonce is pooled (anvil), "already known" when sent again, mined with the one filling the gap
    later = send(nonce=nonce + 1)
    assert is_hash(later["result"])
    assert refused(send(nonce=nonce + 1)) == "already known"
    assert result(url, "eth_getTransactionReceipt", later["result"]) is None
    assert result(url, "eth_getTransactionByHash", later["result"])["blockNumber"] is None
    filler = send(nonce=nonce)
    for tx_hash in (filler["result"], later["result"]):
        assert result(url, "eth_getTransactionReceipt", tx_hash)["status"] == "0x1"
    assert w3.eth.get_transaction_count(key.address) == nonce + 2


def test_fee_history_rewards_weigh_tips_by_gas_as_geth(url, w3, token, keys):
    """One block of three transactions (tips 3, 1 and 2 gwei; the 2-gwei one a token transfer
    using more gas): each percentile's reward is the tip at which that share of the block's gas
    is reached, tips ascending."""
    base = int(result(url, "eth_getBlockByNumber", "pending", False)["baseFeePerGas"], 16)
    data = token.functions.transfer(keys[3].address, 1).build_transaction({"from": keys[2].address, "gas": 10**6})["data"]
    sends = [(keys[0], 3, {"to": keys[5].address, "value": 1, "gas": 21_000}),
             (keys[1], 1, {"to": keys[5].address, "value": 1, "gas": 21_000}),
             (keys[2], 2, {"to": token.address, "data": data, "gas": 200_000})]
    assert result(url, "evm_setAutomine", False) is None
    try:
        for key, tip_gwei, fields in sends:
            raw, _ = sign(key.key, nonce=w3.eth.get_transaction_count(key.address), chainId=31337,
                          maxFeePerGas=2 * base + 10**10, maxPriorityFeePerGas=tip_gwei * 10**9, **fields)
            result(url, "eth_sendRawTransaction", raw)
        result(url, "evm_mine")
    finally:
        result(url, "evm_setAutomine", True)
    block = result(url, "eth_getBlockByNumber", "latest", True)
    receipts = result(url, "eth_getBlockReceipts", "latest")
    assert len(receipts) == 3
    used = {r["transactionHash"]: int(r["gasUsed"], 16) for r in receipts}
    tips = sorted((int(tx["maxPriorityFeePerGas"], 16), used[tx["hash"]]) for tx in block["transactions"])
    total = sum(g for _, g in tips)
    assert total == int(block["gasUsed"], 16)

    def geth_reward(p):  # eth/gasprice/feehistory.go's walk
        threshold, index, acc = int(total * p / 100), 0, tips[0][1]
        while acc < threshold and index < len(tips) - 1:
            index += 1
            acc += tips[index][1]
        return hex(tips[index][0])

    percentiles = [0, 10, 40, 60, 99, 100]
    history = result(url, "eth_feeHistory", "0x1", "latest", percentiles)
    assert history["reward"] == [[geth_reward(p) for p in percentiles]]
    assert len(set(history["reward"][0])) >= 2  # the weighting is exercised, not one tip for all


def test_send_transaction_and_pending_filters(url, w3, keys):
    a, b = keys[6].address, keys[7].address
    assert rpc(url, "eth_sendTransaction", {"from": a, "to": b, "value": hex(10**30), "gas": "0x5208"})["error"] == {
        "code": -32000, "message": "insufficient funds for gas * price + value"}
    # without a gas limit, geth's estimate refuses it first
    assert rpc(url, "eth_sendTransaction", {"from": a, "to": b, "value": hex(10**30)})["error"] == {
        "code": -32000, "message": "insufficient funds for transfer"}
    assert rpc(url, "eth_sendTransaction", {"from": "0x" + "12" * 20, "to": b})["error"] == {
        "code": -32000, "message": "unknown account"}
    # geth's defaults: gas estimated exactly, a fee cap of twice the head's base fee plus the tip
    head_base = int(result(url, "eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    sent = result(url, "eth_sendTransaction", {"from": a, "to": b, "value": "0x1", "input": "0x", "type": "0x2"})
    tx = result(url, "eth_getTransactionByHash", sent)
    assert tx["gas"] == hex(21_000) and tx["maxFeePerGas"] == hex(2 * head_base + 10**9)
    pending_filter = result(url, "eth_newPendingTransactionFilter")
    assert result(url, "evm_setAutomine", False) is None
    try:
        queued = result(url, "eth_sendTransaction", {"from": a, "to": b, "value": "0x2"})
        assert result(url, "eth_getFilterChanges", pending_filter) == [queued]
        assert result(url, "eth_getFilterChanges", pending_filter) == []
        assert result(url, "eth_getTransactionByHash", queued)["blockHash"] is None
    finally:
        result(url, "evm_setAutomine", True)  # mines what waited
    assert result(url, "eth_getTransactionReceipt", queued)["status"] == "0x1"


def test_a_call_without_from_is_sent_by_the_zero_address(url, w3):
    """geth's default sender for eth_call/eth_estimateGas is the zero address (not a guessed account)."""
    echo = "0x" + "5e" * 20  # code: CALLER PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    assert "error" not in rpc(url, "anvil_setCode", echo, "0x3360005260206000f3")
    assert rpc(url, "eth_call", {"to": echo}, "latest")["result"] == "0x" + "00" * 32
    assert rpc(url, "eth_call", {"to": echo, "from": None}, "latest")["result"] == "0x" + "00" * 32
    sender = w3.eth.accounts[1]
    assert rpc(url, "eth_call", {"to": echo, "from": sender}, "latest")["result"] == "0x" + "00" * 12 + sender[2:].lower()
