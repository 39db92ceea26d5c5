"""A transaction that is not mined in time is replaced at a higher gas price, against a real
`lpnode devchain` process with automine off:

(a) the devchain's pending pool through JSON-RPC: a transaction pends, an underpriced replacement
    is refused with geth's "replacement transaction underpriced", a 10 % bump replaces it, and
    mining includes only the replacement;
(b) JsonRpcChain's transaction manager: the first send is not mined within tx_timeout, it is
    replaced at exactly the core's replacement_gas_price, the replacement is mined and the
    original has no receipt; with nobody mining it gives up with go's error;
(c) end to end: a winning ticket redeemed on TicketBroker through ProtocolBroker goes through a
    replacement and the orchestrator's fees land on chain; a redemption that times out is a
    retry for the core's Redeemer.
"""
from __future__ import annotations

import threading

import pytest
import requests
from eth_account import Account as EthAccount

from node.core.job import replacement_gas_price
from node.core.redemption import Outcome, Redeemer, SignedTicket
from node.core.sender_monitor import SenderMonitor
from node.eth import LPT, JsonRpcChain, attach_protocol
from node.eth.payments import ProtocolBroker, ProtocolChainView
from node.eth.txmanager import DEADLINE_EXCEEDED, TransactionTimeout

from ..contracts.test_smoke import ONE, pp_of, winning_ticket
from .devchain_process import BACKENDS, devchain_process

pytestmark = pytest.mark.devchain

ETH = 10**18
TX_TIMEOUT = 1.0  # seconds: the first send is given up on quickly


@pytest.fixture(scope="module", params=BACKENDS)
def devchain(tmp_path_factory, request):
    with devchain_process(tmp_path_factory.mktemp("devchain"), backend=request.param) as running:
        yield running


def rpc(url, method, *params):
    return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                         timeout=60).json()


@pytest.fixture(scope="module")
def chain(devchain):
    return JsonRpcChain(devchain[0], tx_timeout=TX_TIMEOUT, max_replacements=1, poll_interval=0.05)


@pytest.fixture(scope="module")
def _session_protocol(chain, devchain):
    return attach_protocol(chain, devchain[1])


@pytest.fixture
def url(devchain, protocol):
    """The devchain's URL; automine is back on after the test (then its snapshot is reverted)."""
    yield devchain[0]
    assert "error" not in rpc(devchain[0], "evm_setAutomine", True)


def automine_off(url):
    assert rpc(url, "evm_setAutomine", False)["result"] is None
    assert rpc(url, "anvil_getAutomine")["result"] is False


def mine_after_replacement(chain, url):
    """A miner that mines one block as soon as the chain's transaction manager has replaced a
    transaction; join() it after the send."""
    replaced = threading.Event()
    chain.tx_manager.on_replacement.append(lambda _: replaced.set())

    def mine():
        if replaced.wait(30):
            rpc(url, "evm_mine")

    thread = threading.Thread(target=mine, daemon=True)
    thread.start()
    return thread, replaced


@pytest.fixture
def recorded(chain, monkeypatch):
    """Every transaction the chain broadcasts, as (tx, hash)."""
    sent = []
    broadcast = chain.broadcast

    def record(tx, sender):
        tx_hash = broadcast(tx, sender)
        sent.append((tx, tx_hash))
        return tx_hash

    monkeypatch.setattr(chain, "broadcast", record)
    monkeypatch.setattr(chain.tx_manager, "on_replacement", [])
    return sent


def signed_transfer(chain, sender, to, nonce, fee_cap, tip, value=1):
    tx = {"to": to, "value": value, "gas": 21_000, "nonce": nonce, "chainId": chain.w3.eth.chain_id,
          "maxFeePerGas": fee_cap, "maxPriorityFeePerGas": tip}
    signed = EthAccount.sign_transaction(tx, sender.key)
    return "0x" + bytes(signed.raw_transaction).hex(), "0x" + bytes(signed.hash).hex()


# --- (a) the pending pool through JSON-RPC -----------------------------------------------------
def test_pending_pool_underpriced_replacement_refused_bumped_one_mined(url, chain, accounts):
    a, b = accounts[5], accounts[6]
    count = lambda tag: int(rpc(url, "eth_getTransactionCount", a.address, tag)["result"], 16)
    block = lambda: int(rpc(url, "eth_blockNumber")["result"], 16)
    automine_off(url)
    start, nonce, b_balance = block(), count("latest"), chain.eth_balance(b.address)
    fee_cap, tip = 3 * 10**9, 10**9

    raw0, h0 = signed_transfer(chain, a, b.address, nonce, fee_cap, tip, value=7)
    assert rpc(url, "eth_sendRawTransaction", raw0)["result"] == h0
    assert rpc(url, "eth_getTransactionReceipt", h0)["result"] is None
    pending = rpc(url, "eth_getTransactionByHash", h0)["result"]
    assert pending["blockNumber"] is None and pending["from"] == a.address and int(pending["nonce"], 16) == nonce
    assert (block(), count("latest"), count("pending")) == (start, nonce, nonce + 1)

    for short in ((fee_cap * 109 // 100, tip * 2), (fee_cap * 2, tip * 109 // 100), (fee_cap, tip)):
        raw, _ = signed_transfer(chain, a, b.address, nonce, *short, value=8)
        error = rpc(url, "eth_sendRawTransaction", raw)["error"]
        assert (error["code"], error["message"]) == (-32000, "replacement transaction underpriced")
    assert rpc(url, "eth_sendRawTransaction", raw0)["error"]["message"] == "already known"

    raw1, h1 = signed_transfer(chain, a, b.address, nonce, fee_cap * 110 // 100, tip * 110 // 100, value=9)
    assert rpc(url, "eth_sendRawTransaction", raw1)["result"] == h1  # +10 % on both: a replacement
    assert rpc(url, "eth_getTransactionByHash", h0)["result"] is None
    assert count("pending") == nonce + 1

    assert rpc(url, "evm_mine")["result"] == "0x0"
    receipt = rpc(url, "eth_getTransactionReceipt", h1)["result"]
    assert int(receipt["status"], 16) == 1 and int(receipt["blockNumber"], 16) == start + 1
    assert rpc(url, "eth_getTransactionReceipt", h0)["result"] is None
    assert chain.eth_balance(b.address) == b_balance + 9  # the replacement's transfer, once
    assert (count("latest"), count("pending")) == (nonce + 1, nonce + 1)
    assert rpc(url, "eth_sendRawTransaction", raw0)["error"]["message"] == "nonce too low"


def test_pool_mines_in_nonce_order_and_automine_on_mines_what_waits(url, chain, accounts):
    a, b = accounts[7], accounts[8]
    automine_off(url)
    nonce = int(rpc(url, "eth_getTransactionCount", a.address, "latest")["result"], 16)
    later, h_later = signed_transfer(chain, a, b.address, nonce + 1, 3 * 10**9, 10**9)
    first, h_first = signed_transfer(chain, a, b.address, nonce, 3 * 10**9, 10**9)
    assert rpc(url, "eth_sendRawTransaction", later)["result"] == h_later  # behind a gap: pooled, not pending
    assert int(rpc(url, "eth_getTransactionCount", a.address, "pending")["result"], 16) == nonce
    assert rpc(url, "eth_sendRawTransaction", first)["result"] == h_first
    assert int(rpc(url, "eth_getTransactionCount", a.address, "pending")["result"], 16) == nonce + 2
    # an unlocked account's eth_sendTransaction is pooled too
    h_unlocked = rpc(url, "eth_sendTransaction", {"from": b.address, "to": a.address, "value": "0x5"})["result"]
    assert rpc(url, "eth_getTransactionReceipt", h_unlocked)["result"] is None
    start = int(rpc(url, "eth_blockNumber")["result"], 16)
    assert rpc(url, "evm_setAutomine", True)["result"] is None  # mines what waited, in one block
    receipts = [rpc(url, "eth_getTransactionReceipt", h)["result"] for h in (h_first, h_later, h_unlocked)]
    assert {int(r["blockNumber"], 16) for r in receipts} == {start + 1}
    assert int(receipts[0]["transactionIndex"], 16) < int(receipts[1]["transactionIndex"], 16)
    assert int(rpc(url, "eth_getTransactionCount", a.address, "latest")["result"], 16) == nonce + 2


def test_interval_mining(url, chain, accounts):
    automine_off(url)
    start = int(rpc(url, "eth_blockNumber")["result"], 16)
    raw, tx_hash = signed_transfer(chain, accounts[9], accounts[10].address,
                                   chain.w3.eth.get_transaction_count(accounts[9].address), 3 * 10**9, 10**9)
    rpc(url, "eth_sendRawTransaction", raw)
    assert rpc(url, "anvil_setIntervalMining", 1)["result"] is None
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.05)
    assert receipt["blockNumber"] > start
    assert rpc(url, "anvil_setIntervalMining", 0)["result"] is None


# --- (b) the transaction manager against the devchain --------------------------------------------
def test_stuck_transaction_is_replaced_and_the_replacement_mined(url, chain, accounts, recorded):
    a, b = accounts[11], accounts[12]
    automine_off(url)
    miner, replaced = mine_after_replacement(chain, url)
    before = chain.tx_manager.replacements
    receipt = chain.send_eth(a, b.address, 12345)
    miner.join(10)
    assert replaced.is_set() and chain.tx_manager.replacements == before + 1
    (first, h0), (second, h1) = recorded
    assert second["nonce"] == first["nonce"]
    assert second["maxFeePerGas"] == replacement_gas_price(first["maxFeePerGas"])
    assert second["maxPriorityFeePerGas"] == replacement_gas_price(first["maxPriorityFeePerGas"])
    assert (receipt.tx_hash, receipt.origin_tx_hash, receipt.replacements) == (h1, h0, 1)
    assert rpc(url, "eth_getTransactionReceipt", "0x" + h0.hex())["result"] is None
    mined = chain.w3.eth.get_transaction(h1)
    assert (mined["maxFeePerGas"], mined["nonce"]) == (second["maxFeePerGas"], first["nonce"])


def test_unmined_transaction_times_out_after_its_replacements(url, chain, accounts, recorded):
    automine_off(url)
    with pytest.raises(TransactionTimeout, match=DEADLINE_EXCEEDED) as err:
        chain.send_eth(accounts[13], accounts[14].address, 1)
    assert len(recorded) == 2 and err.value.hashes == tuple(h for _, h in recorded)
    # the replacement is what the pool holds now
    assert rpc(url, "eth_getTransactionByHash", "0x" + recorded[0][1].hex())["result"] is None
    assert rpc(url, "eth_getTransactionByHash", "0x" + recorded[1][1].hex())["result"]["blockNumber"] is None


# --- (c) end to end: a winning ticket --------------------------------------------------------
@pytest.fixture
def paid(protocol, accounts):
    """An active orchestrator (all fees its own), a funded gateway, and a winning ticket of 0.1 ETH."""
    o, g = accounts[1], accounts[3]
    protocol.approve_and_bond(o, 1000 * LPT, o.address)
    protocol.BondingManager.transcoder(0, 1_000_000, sender=o)
    protocol.next_round()
    ProtocolBroker(protocol, g).fund_deposit_and_reserve(1 * ETH, 1 * ETH)
    fee = ETH // 10
    return o, g, fee, winning_ticket(protocol, o, g, fee)


def test_winning_ticket_redeemed_through_a_replacement(url, chain, protocol, paid, recorded):
    o, g, fee, (ticket, sig, rand) = paid
    broker = ProtocolBroker(protocol, o)
    automine_off(url)
    miner, _ = mine_after_replacement(chain, url)
    broker.redeem_winning_ticket(ticket, sig, rand)
    miner.join(10)
    receipt = broker.receipts[-1]
    assert receipt.replacements == 1 and receipt.tx_hash == recorded[1][1] != receipt.origin_tx_hash
    assert recorded[1][0]["maxFeePerGas"] == replacement_gas_price(recorded[0][0]["maxFeePerGas"])
    assert receipt.event("WinningTicketRedeemed").args["recipient"] == o.address
    assert receipt.event("WinningTicketTransfer").args["amount"] == fee
    assert protocol.TicketBroker.usedTickets(ticket.hash())
    assert protocol.BondingManager.pendingFees(o.address, protocol.current_round()) == pp_of(
        1000 * LPT, pp_of(ONE, fee, 1000 * LPT), ONE)


def test_redemption_timing_out_is_a_retry_for_the_redeemer(url, chain, protocol, paid, recorded):
    o, g, fee, (ticket, sig, rand) = paid
    view = ProtocolChainView(protocol)
    redeemer = Redeemer(view, SenderMonitor(o.address, view), ProtocolBroker(protocol, o), redeem_gas=200_000)
    redeemer.queue(SignedTicket(ticket, sig, rand, expiration_block=chain.block_number))
    automine_off(url)
    (result,) = redeemer.on_block(chain.block_number)
    assert result.outcome is Outcome.RETRY and DEADLINE_EXCEEDED in result.error
    assert len(recorded) == 2 and len(redeemer.queued()) == 1
    # The stuck replacement is mined later: the ticket is redeemed, and the queue drops it as used.
    rpc(url, "evm_mine")
    assert rpc(url, "eth_getTransactionReceipt", "0x" + recorded[1][1].hex())["result"]["status"] == "0x1"
    assert rpc(url, "evm_setAutomine", True)["result"] is None
    (again,) = redeemer.on_block(chain.block_number)
    assert (again.outcome, again.error) == (Outcome.DROPPED, "ticket already used")
    assert protocol.BondingManager.pendingFees(o.address, protocol.current_round()) > 0
