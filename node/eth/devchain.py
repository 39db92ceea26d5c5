"""`lpnode devchain`: the embedded chain served over JSON-RPC on loopback for other processes.

Answers are geth's, so that ethers, viem and web3.py work untouched (tests/eth/test_devchain_rpc.py,
tests/eth/test_devchain_js.py). Blocks' transactions, transactions, receipts, logs, filters and
fee history are built in geth's shapes from py-evm's own objects (node.eth.geth_json); the chain
id (anvil's 31337 by default) answers eth_chainId and net_version alike; eth_call and
eth_estimateGas take the call-object fields geth takes (a nonce is ignored, `input` is `data`);
eth_estimateGas is geth's algorithm (node.eth.chain.geth_gas_estimate). Signed transactions
pass geth's txpool checks, in geth's order and words, before anything else (_admit); a nonce
ahead of the account's is pooled even with automine on and mined once the gap is filled, as
anvil does. "safe" and "finalized" are the head less one and two epochs of 32 blocks (anvil).
The other standard `eth_*`/`net_*`/`web3_*` methods are answered by eth-tester through web3.py's
request/response formatters; results are re-encoded as JSON-RPC quantities (hex). The
test-control methods follow anvil: `evm_mine`, `anvil_mine`/`hardhat_mine`, `evm_snapshot`,
`evm_revert` (a snapshot is consumed by reverting to it, as are later ones),
`evm_increaseTime`, `evm_setNextBlockTimestamp`. Reverts come back as JSON-RPC error 3 with
the message "execution reverted: <reason>" and the ABI-encoded Error(string) in `data`, as
geth and anvil answer.

Mining modes, as anvil's: automine (the default; every transaction is mined in its own block at
once), or automine off (`evm_setAutomine false`, also `anvil_setAutomine`), where transactions
wait in a pending pool (node.eth.mempool, geth's admission and replacement rules) until
`evm_mine`/`anvil_mine` mines them, in nonce order, into one block; `anvil_setIntervalMining`
(or `lpnode devchain --block-time`) mines a block every so many seconds. With automine off,
`eth_getTransactionReceipt` of a pooled transaction is null, `eth_getTransactionByHash` answers
it with a null block number, and `eth_getTransactionCount(addr, "pending")` counts it. Turning
automine back on mines what is pooled; `evm_revert` empties the pool.

Hostile input (the limits below, each with geth's equivalent): a body over 5 MiB is refused
unread (413), a content type other than JSON is refused (415), JSON nested deeper than 128
levels is a parse error found before parsing (-32700; the chain stack raises Python's recursion
limit so high that the json module would overflow the C stack instead of raising), a batch is at
most 1000 calls, 25 MB of answers and 30 s. Counts, timestamps and intervals given to the
control methods are bounded (-32602); mining many blocks takes the chain lock a slice at a
time and the lock is granted in arrival order, so other clients are answered meanwhile;
eth_call, eth_estimateGas and eth_getLogs are aborted after 5 s. Connections are capped, and
one that has not sent its request within 30 s is dropped.
"""
from __future__ import annotations

import _thread
import ctypes
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from . import geth_json
from .abi import encode_revert
from .chain import EmbeddedChain
from .errors import revert_reason
from .geth_execution import intrinsic_gas, transaction_floor
from .mempool import NONCE_TOO_LOW, Mempool, PooledTransaction, PoolError

if TYPE_CHECKING:
    from .revm_devchain import RevmDevchain

log = logging.getLogger("lpnode.devchain")
INSUFFICIENT_FUNDS = "insufficient funds for gas * price + value"  # geth's wording

# --- limits: what one request may ask of the server (geth's equivalent in brackets) ----------
MAX_BATCH_ITEMS = 1000  # calls in one batch [BatchRequestLimit 1000: "batch too large"]
MAX_BATCH_RESPONSE_BYTES = 25 * 1000 * 1000  # [BatchResponseMaxSize 25 MB: "response too large"]
REQUEST_TIMEOUT = 30.0  # s; batch items not started by then answer "request timed out" [WriteTimeout 30 s]
MAX_MINE_BLOCKS = 10_000  # blocks per anvil_mine/evm_mine call [none in anvil]: ~10 s of py-evm mining
MINE_SLICE = 100  # blocks mined per turn of the chain lock, so other clients are served in between
MAX_TIMESTAMP = 2**64 - 1  # block timestamps are uint64 in geth's and anvil's headers
MIN_BLOCK_TIME, MAX_BLOCK_TIME = 0.01, 365 * 86400.0  # anvil_setIntervalMining seconds (0 stops it)
EVM_TIMEOUT = 5.0  # s an eth_call or eth_estimateGas may execute [RPCEVMTimeout 5 s]
LOG_QUERY_TIMEOUT = 5.0  # s an eth_getLogs may scan blocks; then -32002 "request timed out"
MAX_RAW_TX_BYTES = 4 * 32 * 1024  # a pooled transaction's size [txMaxSize 128 KiB: "oversized data"]
MAX_INITCODE_SIZE = 2 * 24576  # EIP-3860 [params.MaxInitCodeSize: "max initcode size exceeded"]
MIN_TIP = 1  # wei; a smaller tip is "transaction underpriced" [txpool.pricelimit 1]
UINT256_MAX = 2**256 - 1
ZERO_ADDRESS = "0x" + "00" * 20
DEFAULT_TIP = 10**9  # eth_maxPriorityFeePerGas: anvil's suggestion, 1 gwei
SLOTS_IN_AN_EPOCH = 32  # anvil's "safe" is the head less one epoch, "finalized" less two
FILTER_TIMEOUT = 300.0  # s; a filter not polled for this long is dropped [geth's filter deadline 5 min]

# JSON-RPC error codes beyond the spec's, as geth numbers them
REQUEST_TIMED_OUT = -32002  # geth errcodeTimeout, "request timed out"
RESPONSE_TOO_LARGE = -32003  # geth errcodeResponseTooLarge, "response too large"


def _quantity(value: Any) -> Any:
    """Re-encode a formatted eth-tester result for the wire: ints as hex quantities, bytes as hex."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):  # dicts and web3's AttributeDict
        return {k: _quantity(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_quantity(v) for v in value]
    return value


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) and value.startswith("0x") else int(value)


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


def _bool(value: Any) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, (bool, int)) or isinstance(value, int) and value not in (0, 1):
        raise ValueError(f"expected a boolean, got {str(value)[:40]!r}")
    return bool(value)


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: str | None = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def _count(value: Any, what: str, maximum: int) -> int:
    """A whole number from 0 to `maximum` (hex string, decimal string or JSON number), or -32602."""
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise RpcError(-32602, f"{what} must be a whole number, got {value!r}")
    try:
        number = _int(value)
    except (TypeError, ValueError, OverflowError):
        raise RpcError(-32602, f"{what} must be a whole number, got {str(value)[:40]!r}") from None
    if number < 0:
        raise RpcError(-32602, f"{what} must not be negative, got {number}")
    if number > maximum:
        shown = number if number.bit_length() <= 256 else f"a {number.bit_length()}-bit number"
        raise RpcError(-32602, f"{what} {shown} is over the limit of {maximum}")
    return number


class FairLock:
    """A lock handed out in arrival order. The chain's lock must be one: a long call (mining
    thousands of blocks) gives it up between slices, and with a plain Lock the same thread
    would usually take it straight back, starving every other client."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next_ticket = 0
        self._serving = 0

    def acquire(self) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._cond.wait()

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class DevchainRpc:
    """JSON-RPC dispatch over an EmbeddedChain; one call at a time (py-evm is not thread-safe),
    in arrival order. Mining many blocks takes the chain in slices of MINE_SLICE blocks, so
    other clients' calls are answered in between."""

    def __init__(self, chain: EmbeddedChain | RevmDevchain):
        self.chain = chain
        # revm (node.eth.revm_devchain): state in revm, blocks in Python; else py-evm through eth-tester
        self.revm = getattr(chain, "is_revm", False)
        self.lock = FairLock()
        self.automine = True
        self.pool = Mempool()
        self._interval_stop: threading.Event | None = None
        if self.revm:
            from .revm_rpc import RevmMethods

            self._standard = RevmMethods(self)
        else:
            self._request = chain.w3.provider.request_func(chain.w3, chain.w3.middleware_onion)
        self._snapshots: list[tuple[int, int]] = []  # (public id, eth-tester snapshot id)
        self._next_snapshot = 1
        self._time_offset = 0
        self._filters: dict[str, dict] = {}
        self._next_filter = 1
        self.control = {
            "evm_snapshot": self._evm_snapshot,
            "evm_revert": self._evm_revert,
            "evm_increaseTime": self._evm_increase_time,
            "evm_setNextBlockTimestamp": self._evm_set_next_block_timestamp,
            "evm_setAutomine": self._set_automine,
            "anvil_setAutomine": self._set_automine,
            "anvil_getAutomine": lambda params: self.automine,
            "anvil_setIntervalMining": self._set_interval_mining,
            # answered by eth-tester while automine is on; by the pending pool when it is off
            "eth_sendRawTransaction": self._send_raw_transaction,
            "eth_sendTransaction": self._send_transaction,
            "eth_getTransactionCount": self._get_transaction_count,
            "eth_getTransactionByHash": self._get_transaction_by_hash,
            # answered in geth's shapes from py-evm's objects (node.eth.geth_json)
            "eth_chainId": lambda params: hex(self.chain.chain_id),
            "net_version": lambda params: str(self.chain.chain_id),
            "web3_clientVersion": lambda params: CLIENT_VERSION,
            # geth's: the suggested tip plus the head's base fee
            "eth_gasPrice": lambda params: hex(self._evm.get_canonical_head().base_fee_per_gas + DEFAULT_TIP),
            "eth_maxPriorityFeePerGas": lambda params: hex(DEFAULT_TIP),
            "eth_getBlockByNumber": self._get_block_by_number,
            "eth_getBlockByHash": self._get_block_by_hash,
            "eth_getTransactionByBlockNumberAndIndex": self._get_transaction_by_block_number_and_index,
            "eth_getTransactionByBlockHashAndIndex": self._get_transaction_by_block_hash_and_index,
            "eth_getTransactionReceipt": self._get_transaction_receipt,
            "eth_getBlockReceipts": self._get_block_receipts,
            "eth_feeHistory": self._fee_history,
            "eth_getLogs": self._get_logs,  # _dispatch runs it under LOG_QUERY_TIMEOUT
            "eth_newFilter": self._new_filter,
            "eth_newBlockFilter": lambda params: self._install_filter("blocks", None),
            "eth_newPendingTransactionFilter": lambda params: self._install_filter("pending", None),
            "eth_getFilterChanges": self._get_filter_changes,
            "eth_getFilterLogs": self._get_filter_logs,
            "eth_uninstallFilter": self._uninstall_filter,
        }
        # long calls: they take the chain lock themselves, a slice at a time
        self.unlocked = {
            "evm_mine": self._evm_mine,
            "anvil_mine": self._anvil_mine,
            "hardhat_mine": self._anvil_mine,
        }
        from .anvil import (
            anvil_methods,  # anvil's state-editing methods (node/eth/anvil.py)
        )

        self.control.update(anvil_methods(self))

    # --- control methods, anvil semantics -----------------------------------------------
    def _evm_mine(self, params: list) -> str:
        blocks, timestamp = 1, None
        if params and isinstance(params[0], dict):
            blocks = _count(params[0].get("blocks", 1), "evm_mine: blocks", MAX_MINE_BLOCKS)
            if "timestamp" in params[0]:
                timestamp = _count(params[0]["timestamp"], "evm_mine: timestamp", MAX_TIMESTAMP)
        elif params and params[0] is not None:
            timestamp = _count(params[0], "evm_mine: timestamp", MAX_TIMESTAMP)
        self.mine_in_slices(blocks, timestamp)
        return "0x0"

    def _anvil_mine(self, params: list) -> None:
        blocks = 1
        if params and params[0] is not None:
            blocks = _count(params[0], "anvil_mine: block count", MAX_MINE_BLOCKS)
        if len(params) > 1 and params[1] is not None and _count(params[1], "anvil_mine: interval", MAX_TIMESTAMP):
            raise RpcError(-32602, "anvil_mine: an interval between blocks is not supported")
        self.mine_in_slices(blocks)

    def mine_in_slices(self, blocks: int, timestamp: int | None = None) -> None:
        """Mine `blocks` blocks (the first at `timestamp` when given), taking the chain lock for
        MINE_SLICE blocks at a time; the caller does not hold it. Another client's transaction
        may land between two slices, as it may between two anvil_mine calls."""
        first = True
        while first or blocks > 0:
            n = blocks if self.revm else min(blocks, MINE_SLICE)  # revm mines any number in one step
            with self.lock:
                if first and timestamp is not None:
                    self.chain.set_next_block_timestamp(timestamp)
                self.mine(n)
            blocks -= n
            first = False

    def _evm_snapshot(self, params: list) -> str:
        public = self._next_snapshot
        self._next_snapshot += 1
        self._snapshots.append((public, self.chain.snapshot()))
        return hex(public)

    def _evm_revert(self, params: list) -> bool:
        if not params:
            raise RpcError(-32602, "evm_revert expects a snapshot id")
        wanted = _int(params[0])
        for i, (public, internal) in enumerate(self._snapshots):
            if public == wanted:
                self.chain.revert(internal)
                del self._snapshots[i:]
                self.pool.clear()  # admitted against a state that no longer exists
                return True
        return False

    def _evm_increase_time(self, params: list) -> str:
        if not params:
            raise RpcError(-32602, "evm_increaseTime expects a number of seconds")
        seconds = _count(params[0], "evm_increaseTime: seconds", MAX_TIMESTAMP - self.chain.timestamp)
        self._time_offset += seconds
        self.chain.increase_time(seconds)
        return hex(self._time_offset)

    def _evm_set_next_block_timestamp(self, params: list) -> None:
        if not params:
            raise RpcError(-32602, "evm_setNextBlockTimestamp expects a timestamp")
        self.chain.set_next_block_timestamp(_count(params[0], "evm_setNextBlockTimestamp: timestamp", MAX_TIMESTAMP))

    # --- mining modes and the pending pool ----------------------------------------------
    def mine(self, blocks: int = 1) -> None:
        """Mine `blocks` blocks; the first includes the pool's ready transactions. The caller
        holds `lock`."""
        if blocks <= 0:
            return
        ready = self.pool.take_ready(self._account_nonce) if len(self.pool) else []
        if ready and self.revm:
            self.chain.mine_transactions([tx.decoded for tx in ready])
            blocks -= 1
        elif ready:
            for tx in ready:
                try:
                    self.chain.backend.send_raw_transaction(tx.raw)  # into the pending block
                except Exception as exc:  # noqa: BLE001 - e.g. funds spent by an earlier one: left out
                    log.warning("devchain: pooled transaction 0x%s left out of the block: %s", tx.hash.hex(), exc)
            self.chain.tester.mine_blocks(1)
            blocks -= 1
        self.chain.mine(blocks)

    def start_interval_mining(self, seconds: float) -> None:
        """Mine a block every `seconds` (0: stop); automine goes off while it runs (anvil)."""
        if self._interval_stop is not None:
            self._interval_stop.set()
            self._interval_stop = None
        if seconds <= 0:
            return
        self.automine = False
        stop = self._interval_stop = threading.Event()

        def produce() -> None:
            while not stop.wait(seconds):
                with self.lock:
                    if stop.is_set():
                        return
                    try:
                        self.mine(1)
                    except Exception as exc:  # noqa: BLE001 - a missed block is not fatal
                        log.warning("devchain: interval mining: %s", exc)

        threading.Thread(target=produce, name="devchain-interval-mining", daemon=True).start()

    def _set_automine(self, params: list) -> None:
        if not params:
            raise RpcError(-32602, "evm_setAutomine expects a boolean")
        enable = _bool(params[0])
        if enable:
            self.start_interval_mining(0)
            if len(self.pool):
                self.mine(1)  # what waited is mined now, as anvil's automine miner would
        self.automine = enable

    def _set_interval_mining(self, params: list) -> None:
        if not params:
            raise RpcError(-32602, "anvil_setIntervalMining expects a number of seconds")
        value = params[0]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise RpcError(-32602, f"anvil_setIntervalMining: seconds must be a number, got {str(value)[:40]!r}")
        try:
            seconds = float(_int(value) if isinstance(value, str) else value)
        except (ValueError, OverflowError):
            raise RpcError(-32602, f"anvil_setIntervalMining: seconds must be a number, got {value[:40]!r}") from None
        if seconds != 0 and not MIN_BLOCK_TIME <= seconds <= MAX_BLOCK_TIME:
            raise RpcError(-32602, f"anvil_setIntervalMining: seconds must be 0 (stop) or from {MIN_BLOCK_TIME:g} "
                                   f"to {MAX_BLOCK_TIME:g}, got {seconds:g}")
        self.start_interval_mining(seconds)

    def _account_nonce(self, sender: bytes) -> int:
        return self.chain.backend.chain.get_vm().state.get_nonce(sender)

    def _send_raw_transaction(self, params: list) -> str:
        """Admit a signed transaction with geth's checks and words (_admit), then: with automine
        on, mine it at once, with any of its sender's pooled successors it makes ready (anvil);
        otherwise, or when its nonce is ahead of the account's, pool it (anvil accepts future
        nonces and mines them once the gap is filled)."""
        if not params:
            raise RpcError(-32602, "eth_sendRawTransaction expects the signed transaction")
        raw = _bytes(params[0])
        tx, account_nonce = self._admit(raw)
        if self.automine and tx.nonce == account_nonce and not self.pool.has_sender(bytes(tx.sender)):
            if self.revm:
                return self._standard.mine_one(tx)
            return self._tester("eth_sendRawTransaction", ["0x" + raw.hex()])
        pooled = PooledTransaction(bytes(tx.hash), bytes(tx.sender), tx.nonce, tx.max_fee_per_gas,
                                   tx.max_priority_fee_per_gas, raw, tx)
        try:
            replaced = self.pool.add(pooled, account_nonce)
        except PoolError as exc:
            raise RpcError(-32000, str(exc)) from exc
        if replaced is not None:
            log.info("devchain: 0x%s replaces 0x%s (sender %s, nonce %d)", pooled.hash.hex(), replaced.hash.hex(),
                     to_checksum_address(pooled.sender), pooled.nonce)
        if self.automine and tx.nonce == account_nonce:
            self.mine(1)
        return "0x" + pooled.hash.hex()

    def _admit(self, raw: bytes) -> tuple[Any, int]:
        """The decoded transaction and its sender's account nonce, or geth's (txpool.ValidateTransaction's) refusal, checked in
        geth's order; the base fee check is anvil's (geth would pool it unminable)."""
        if len(raw) > MAX_RAW_TX_BYTES:
            raise RpcError(-32000, "oversized data")  # geth's ErrOversizedData
        vm = self.chain.backend.chain.get_vm()
        try:
            tx = vm.get_transaction_builder().decode(raw)
        except Exception as exc:
            raise RpcError(-32000, f"invalid transaction: {exc}") from exc
        if self.pool.get(bytes(tx.hash)) is not None:
            raise RpcError(-32000, "already known")
        if tx.to == b"" and len(tx.data) > MAX_INITCODE_SIZE:
            raise RpcError(-32000, f"max initcode size exceeded: code size {len(tx.data)}, limit {MAX_INITCODE_SIZE}")
        header = self._pending_header()
        if tx.gas > header.gas_limit:
            raise RpcError(-32000, "exceeds block gas limit")
        fee_cap, tip = tx.max_fee_per_gas, tx.max_priority_fee_per_gas
        if tip > fee_cap:
            raise RpcError(-32000, "max priority fee per gas higher than max fee per gas")  # geth's ErrTipAboveFeeCap
        chain_id = _signed_chain_id(tx)
        if chain_id is not None and chain_id != self.chain.chain_id:
            raise RpcError(-32000, f"invalid sender: invalid chain id for signer: have {chain_id} want "
                                   f"{self.chain.chain_id}")
        try:
            if getattr(tx, "type_id", None) is None:  # legacy: v's EIP-155 form is checked too
                tx.check_signature_validity()
            sender = tx.sender  # recovering the key checks a typed transaction's signature (a second
            # check, py-evm's verify of what was just recovered, cost 1 ms)
        except Exception as exc:
            raise RpcError(-32000, "invalid sender") from exc
        if tip < MIN_TIP:
            raise RpcError(-32000, f"transaction underpriced: gas tip cap {tip}, minimum needed {MIN_TIP}")
        intrinsic = intrinsic_gas(tx.data, not tx.to, getattr(tx, "access_list", ()))
        if tx.gas < intrinsic:
            raise RpcError(-32000, f"intrinsic gas too low: gas {tx.gas}, minimum needed {intrinsic}")
        floor = transaction_floor(tx)
        if tx.gas < floor:
            raise RpcError(-32000, f"insufficient gas for floor data gas cost: gas {tx.gas}, minimum needed {floor}")
        if fee_cap < header.base_fee_per_gas:
            raise RpcError(-32000, f"max fee per gas less than block base fee: address {to_checksum_address(sender)}, "
                                   f"maxFeePerGas: {fee_cap}, baseFee: {header.base_fee_per_gas}")
        state = vm.state
        account_nonce = state.get_nonce(sender)
        if tx.nonce < account_nonce:
            raise RpcError(-32000, NONCE_TOO_LOW)
        if state.get_balance(sender) < tx.gas * fee_cap + tx.value:
            raise RpcError(-32000, INSUFFICIENT_FUNDS)
        return tx, account_nonce

    def _send_transaction(self, params: list) -> str:
        """An unlocked account's transaction: completed (send_completed), signed with its key."""
        request = transaction_request(params)
        sender = to_checksum_address(request["from"])
        account = next((a for a in self.chain.accounts if a.address == sender and a.key), None)
        if account is None:
            raise RpcError(-32000, "unknown account")  # geth's words
        from eth_account import Account as EthAccount

        return self.send_completed(request, lambda tx: bytes(EthAccount.sign_transaction(tx, account.key).raw_transaction))

    def send_completed(self, request: dict, sign: Callable[[dict], bytes]) -> str:
        """`request` (transaction_request's) completed as geth's eth_sendTransaction completes it
        (the pending nonce, gas by eth_estimateGas, a fee cap of twice the head's base fee plus the
        tip), turned into a raw transaction by `sign` (fields as eth_account takes them), and
        admitted like a raw one, so its refusals are geth's too. The one path for keyed and
        impersonated senders."""
        method = "eth_sendTransaction"
        sender = _bytes(to_checksum_address(request["from"]))
        tx: dict = {"chainId": self.chain.chain_id, "value": _count(request.get("value", 0), f"{method}: value", UINT256_MAX),
                    "data": request.get("data", "0x")}
        if request.get("to"):
            tx["to"] = to_checksum_address(request["to"])
        if request.get("accessList"):
            tx["accessList"] = request["accessList"]
        nonce = request.get("nonce")
        if nonce is None:
            nonce = self.pool.pending_nonce(sender, self._account_nonce(sender))
        tx["nonce"] = _count(nonce, f"{method}: nonce", 2**64 - 1)
        if request.get("gas"):
            tx["gas"] = _count(request["gas"], f"{method}: gas", 2**64 - 1)
        else:
            call = {k: v for k, v in request.items() if k != "nonce"}
            tx["gas"] = _int(self._tester("eth_estimateGas", self._execution_params("eth_estimateGas", [call])))
        if request.get("gasPrice") is not None:
            tx["gasPrice"] = _count(request["gasPrice"], f"{method}: gasPrice", UINT256_MAX)
        else:
            tip = _count(request.get("maxPriorityFeePerGas") or DEFAULT_TIP, f"{method}: maxPriorityFeePerGas",
                         UINT256_MAX)
            tx["maxPriorityFeePerGas"] = tip
            tx["maxFeePerGas"] = (_count(request["maxFeePerGas"], f"{method}: maxFeePerGas", UINT256_MAX)
                                  if request.get("maxFeePerGas")
                                  else 2 * self._evm.get_canonical_head().base_fee_per_gas + tip)
        return self._send_raw_transaction(["0x" + sign(tx).hex()])

    def _get_transaction_count(self, params: list) -> str:
        count = self._tester("eth_getTransactionCount", params)
        if len(params) > 1 and params[1] == "pending" and len(self.pool):
            sender = _bytes(to_checksum_address(params[0]))
            return hex(self.pool.pending_nonce(sender, _int(count)))
        return count

    # --- blocks, transactions, receipts and fees in geth's shapes ------------------------
    @property
    def _evm(self) -> Any:
        return self.chain.backend.chain  # py-evm's chain (replaced on a revert to genesis)

    def _head(self) -> int:
        return self._evm.get_canonical_head().block_number

    def _pending_header(self) -> Any:
        """The pending block's header (on revm: its number, time, gas limit and base fee only)."""
        return self._evm.pending_fields() if self.revm else self._evm.get_block().header

    def _pending_base_fee(self) -> int:
        return self._pending_header().base_fee_per_gas

    def _block_number(self, tag: Any, what: str = "block number") -> int:
        """A block tag or number as a number (may be past the head); "pending" is the head."""
        head = self._head()
        if tag is None or tag in ("latest", "pending"):
            return head
        if tag == "earliest":
            return 0
        if tag == "safe":
            return max(0, head - SLOTS_IN_AN_EPOCH)
        if tag == "finalized":
            return max(0, head - 2 * SLOTS_IN_AN_EPOCH)
        if isinstance(tag, dict) and "blockHash" in tag:  # EIP-1898
            block = self._block_by_hash(tag["blockHash"])
            if block is None:
                raise RpcError(-32000, f"header for hash {tag['blockHash']} not found")
            return block.number
        if isinstance(tag, dict) and "blockNumber" in tag:
            return self._block_number(tag["blockNumber"], what)
        return _count(tag, what, 2**63 - 1)

    def _block_by_hash(self, block_hash: Any) -> Any:
        from eth.exceptions import BlockNotFound, HeaderNotFound

        try:
            block = self._evm.get_block_by_hash(geth_json.hex_bytes(block_hash, 32, "block hash"))
        except (BlockNotFound, HeaderNotFound):
            return None
        if block.number > self._head() or self._evm.get_canonical_block_hash(block.number) != block.hash:
            return None  # a block reverted away
        return block

    def _block_json(self, block: Any, full: bool, pending: bool = False) -> dict:
        if self.revm:
            answer = geth_json.block_json(block)
        else:
            answer = self._tester("eth_getBlockByNumber", ["pending" if pending else hex(block.number), False])
        answer["logsBloom"] = geth_json.h(block.header.bloom.to_bytes(256, "big"))
        if full:
            answer["transactions"] = [geth_json.transaction_json(tx, block, i) for i, tx in enumerate(block.transactions)]
        if pending:  # geth leaves what sealing decides unset
            answer.update(hash=None, nonce=None, miner=None)
        return answer

    def _get_block_by_number(self, params: list) -> Any:
        if not params:
            raise RpcError(-32602, "eth_getBlockByNumber expects a block number")
        full = _bool(params[1]) if len(params) > 1 else False
        if params[0] == "pending":
            return self._block_json(self._evm.get_block(), full, pending=True)
        number = self._block_number(params[0])
        if number > self._head():
            return None
        return self._block_json(self._evm.get_canonical_block_by_number(number), full)

    def _get_block_by_hash(self, params: list) -> Any:
        if not params:
            raise RpcError(-32602, "eth_getBlockByHash expects a block hash")
        block = self._block_by_hash(params[0])
        return None if block is None else self._block_json(block, _bool(params[1]) if len(params) > 1 else False)

    def _get_transaction_by_block_number_and_index(self, params: list) -> Any:
        number = self._block_number(params[0])
        if number > self._head():
            return None
        return _indexed_transaction(self._evm.get_canonical_block_by_number(number), params[1])

    def _get_transaction_by_block_hash_and_index(self, params: list) -> Any:
        block = self._block_by_hash(params[0])
        return None if block is None else _indexed_transaction(block, params[1])

    def _mined(self, tx_hash: Any) -> tuple[Any, int] | None:
        """(block, index) of a mined transaction on the canonical chain, or None."""
        from eth.exceptions import TransactionNotFound

        wanted = geth_json.hex_bytes(tx_hash, 32, "transaction hash")
        try:
            number, index = self._evm.chaindb.get_transaction_index(wanted)
        except TransactionNotFound:
            return None
        if number > self._head():
            return None
        block = self._evm.get_canonical_block_by_number(number)
        if index >= len(block.transactions) or bytes(block.transactions[index].hash) != wanted:
            return None
        return block, index

    def _get_transaction_by_hash(self, params: list) -> Any:
        if not params:
            raise RpcError(-32602, "eth_getTransactionByHash expects a transaction hash")
        pooled = self.pool.get(geth_json.hex_bytes(params[0], 32, "transaction hash"))
        if pooled is not None:
            return geth_json.transaction_json(pooled.decoded)
        mined = self._mined(params[0])
        if mined is None:
            return None
        block, index = mined
        return geth_json.transaction_json(block.transactions[index], block, index)

    def _get_transaction_receipt(self, params: list) -> Any:
        if not params:
            raise RpcError(-32602, "eth_getTransactionReceipt expects a transaction hash")
        mined = self._mined(params[0])
        if mined is None:
            return None  # unknown, or pooled and not mined yet
        block, index = mined
        return geth_json.block_receipts_json(block, block.get_receipts(self._evm.chaindb))[index]

    def _get_block_receipts(self, params: list) -> Any:
        if not params:
            raise RpcError(-32602, "eth_getBlockReceipts expects a block number or hash")
        tag = params[0]
        if isinstance(tag, str) and len(tag) == 66:
            block = self._block_by_hash(tag)
        elif tag == "pending":
            return None  # geth: the pending block's receipts are not served
        else:
            number = self._block_number(tag)
            block = self._evm.get_canonical_block_by_number(number) if number <= self._head() else None
        return None if block is None else geth_json.block_receipts_json(block, block.get_receipts(self._evm.chaindb))

    def _fee_history(self, params: list) -> dict:
        if len(params) < 2:
            raise RpcError(-32602, "eth_feeHistory expects a block count and the newest block")
        count = _count(params[0], "eth_feeHistory: block count", 2**64 - 1)
        newest = self._block_number(params[1])
        if newest > self._head():
            raise RpcError(-32000, f"request beyond head block: requested {newest}, head {self._head()}")
        try:
            percentiles = geth_json.check_percentiles(params[2] if len(params) > 2 else None)
        except ValueError as exc:
            raise RpcError(-32602, str(exc)) from None
        return geth_json.fee_history_json(self._evm, count, newest, percentiles)

    # --- logs and filters (geth's filter API, polled) -----------------------------------
    def _log_query(self, criteria: Any) -> tuple[list[int] | Any, set, list]:
        """(the block numbers, or the one block by hash, to scan; addresses; topics)."""
        try:
            addresses, topics = geth_json.log_criteria(criteria)
        except ValueError as exc:
            raise RpcError(-32602, str(exc)) from None
        if criteria.get("blockHash") is not None:
            if criteria.get("fromBlock") is not None or criteria.get("toBlock") is not None:
                raise RpcError(-32602, "cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other")
            block = self._block_by_hash(criteria["blockHash"])
            if block is None:
                raise RpcError(-32000, "unknown block")
            return block, addresses, topics
        first = self._block_number(criteria.get("fromBlock"), "fromBlock")
        last = min(self._block_number(criteria.get("toBlock"), "toBlock"), self._head())
        if first > last and criteria.get("toBlock") not in (None, "latest", "pending"):
            raise RpcError(-32000, "invalid block range params")
        return list(range(first, last + 1)), addresses, topics

    def _logs(self, criteria: Any, blocks: Any = None) -> list[dict]:
        scan, addresses, topics = self._log_query(criteria)
        if not isinstance(scan, list):
            return geth_json.block_logs(self._evm, scan, addresses, topics)
        if self.revm and scan:  # only blocks with transactions have logs; runs of empty ones are skipped
            scan = self._evm.blocks_with_transactions(scan[0], scan[-1])
        if blocks is not None:
            scan = [n for n in scan if n in blocks]
        out: list[dict] = []
        for number in scan:  # headers first: a block the bloom rules out is not read
            header = self._evm.get_canonical_block_header_by_number(number)
            if geth_json.may_match(header, addresses, topics):
                out.extend(geth_json.block_logs(self._evm, self._evm.get_block_by_header(header), addresses, topics))
        return out

    def _get_logs(self, params: list) -> list[dict]:
        if not params or not isinstance(params[0], dict):
            raise RpcError(-32602, "eth_getLogs expects a filter object")
        return self._logs(params[0])

    def _install_filter(self, kind: str, criteria: Any) -> str:
        self._expire_filters()
        fid = hex(self._next_filter)
        self._next_filter += 1
        self._filters[fid] = {"kind": kind, "criteria": criteria, "last": self._head(),
                              "polled": time.monotonic(), "seen": set()}
        return fid

    def _new_filter(self, params: list) -> str:
        if not params or not isinstance(params[0], dict):
            raise RpcError(-32602, "eth_newFilter expects a filter object")
        self._log_query(params[0])  # refused now if malformed, as geth does
        return self._install_filter("logs", params[0])

    def _filter(self, params: list) -> dict:
        self._expire_filters()
        found = self._filters.get(params[0] if params and isinstance(params[0], str) else None)
        if found is None:
            raise RpcError(-32000, "filter not found")
        found["polled"] = time.monotonic()
        return found

    def _expire_filters(self) -> None:
        stale = time.monotonic() - FILTER_TIMEOUT
        for fid in [fid for fid, f in self._filters.items() if f["polled"] < stale]:
            del self._filters[fid]

    def _get_filter_changes(self, params: list) -> list:
        """What happened since the last poll: new blocks' hashes, newly pooled transactions'
        hashes, or the logs of new blocks that match (within the filter's block range)."""
        found = self._filter(params)
        head = self._head()
        last = min(found["last"], head)  # a revert may have taken blocks away
        found["last"] = head
        new = range(last + 1, head + 1)
        if found["kind"] == "blocks":
            return ["0x" + bytes(self._evm.get_canonical_block_hash(n)).hex() for n in new]
        if found["kind"] == "pending":
            fresh = [h for h in self.pool.hashes() if h not in found["seen"]]
            found["seen"].update(fresh)
            return ["0x" + h.hex() for h in fresh]
        return self._logs(found["criteria"], blocks=set(new))

    def _get_filter_logs(self, params: list) -> list:
        found = self._filter(params)
        if found["kind"] != "logs":
            raise RpcError(-32000, "filter not found")  # geth's answer for a block filter
        return self._logs(found["criteria"])

    def _uninstall_filter(self, params: list) -> bool:
        return self._filters.pop(params[0] if params and isinstance(params[0], str) else None, None) is not None

    # --- dispatch --------------------------------------------------------------------------
    def handle(self, request: Any, deadline: float | None = None) -> Any:
        """The answer to a parsed request: one call, or a batch of at most MAX_BATCH_ITEMS calls
        answered in order; batch items not started by `deadline` (time.monotonic()) or once the
        answers pass MAX_BATCH_RESPONSE_BYTES get geth's errors instead of running."""
        if not isinstance(request, list):
            return self.handle_call(request)
        if not request:
            return self._error(None, RpcError(-32600, "empty batch"))
        if len(request) > MAX_BATCH_ITEMS:
            return self._error(None, RpcError(-32600, "batch too large"))  # geth's answer, one error for all
        answers, size = [], 0
        for item in request:
            rid = item.get("id") if isinstance(item, dict) else None
            if size > MAX_BATCH_RESPONSE_BYTES:
                answer = self._error(rid, RpcError(RESPONSE_TOO_LARGE, "response too large"))
            elif deadline is not None and time.monotonic() > deadline:
                answer = self._error(rid, RpcError(REQUEST_TIMED_OUT, "request timed out"))
            else:
                answer = self.handle_call(item)
                size += _answer_size(answer)
            answers.append(answer)
        return answers

    def handle_call(self, request: Any) -> dict:
        """The answer to one call (a batch inside a batch is not a call)."""
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return self._error(None, RpcError(-32600, "invalid request"))
        rid, method, params = request.get("id"), request["method"], request.get("params")
        if params is None:
            params = []
        if not isinstance(params, list):
            return self._error(rid, RpcError(-32602, "non-array args"))  # geth's wording
        try:
            if method in self.unlocked:
                result = self.unlocked[method](params)
            else:
                with self.lock:
                    result = self._dispatch(method, params)
        except RpcError as exc:
            return self._error(rid, exc)
        except Exception as exc:  # noqa: BLE001 - bad params to a control method: an error, not a dead server
            bad_params = isinstance(exc, (TypeError, ValueError, OverflowError, IndexError, KeyError))
            return self._error(rid, RpcError(-32602 if bad_params else -32000, f"{method}: {str(exc)[:1000]}"))
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    def _dispatch(self, method: str, params: list) -> Any:
        if method == "eth_getLogs":
            return _aborted_after(LOG_QUERY_TIMEOUT, lambda: self._get_logs(params),
                                  RpcError(REQUEST_TIMED_OUT, "request timed out"))
        if method in self.control:
            return self.control[method](params)
        if method in _READ_ONLY_EXECUTION:
            params = self._execution_params(method, params)
            if self.revm:  # revm runs a block's 30M gas in milliseconds, and Rust cannot be interrupted
                return self._tester(method, params)
            return _aborted_after(EVM_TIMEOUT, lambda: self._tester(method, params),
                                  RpcError(-32000, f"execution aborted (timeout = {EVM_TIMEOUT:g}s)"))
        return self._tester(method, params)

    def _execution_params(self, method: str, params: list) -> list:
        """eth_call/eth_estimateGas/eth_createAccessList parameters as eth-tester takes them: the
        call object with what geth accepts but eth-tester refuses taken out (_call_object), and
        the block as a number or "latest" ("pending" is the head's state here)."""
        if not params or not isinstance(params[0], dict):
            raise RpcError(-32602, f"{method} expects a transaction object")
        if len(params) > 2 and params[2]:
            raise RpcError(-32602, f"{method}: state overrides are not supported")
        call = _call_object(params[0])
        # geth's default sender is the zero address; left out, web3's eth-tester middleware would
        # guess one by listing every account, a third of an eth_call's time
        if call.get("from") is None:
            call["from"] = ZERO_ADDRESS
        out: list = [call]
        if len(params) > 1 and params[1] is not None:
            tag = params[1]
            out.append("latest" if tag in ("latest", "pending") else hex(self._block_number(tag)))
        elif method == "eth_call":
            out.append("latest")
        # fees are charged to nobody (node.eth.geth_execution.fee_free); all-zero fees are none,
        # as geth reads them, and a fee cap alone gets geth's default tip of 0 (eth-tester needs one)
        fees = [k for k in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas") if k in call]
        if fees and not any(_int(call[k]) for k in fees):
            for k in fees:
                del call[k]
        elif fees == ["maxFeePerGas"]:
            call["maxPriorityFeePerGas"] = "0x0"
        return out

    def _forward(self, method: str, params: list) -> Any:
        """The answer to a standard method: in geth's shape where the devchain builds it
        (GETH_SHAPED), so that node.eth's other modules (anvil, trace, devchain_ws) see what
        clients see; otherwise eth-tester's (_tester)."""
        if method in GETH_SHAPED:
            return self.control[method](params)
        return self._tester(method, params)

    def _tester(self, method: str, params: list) -> Any:
        """Answer through eth-tester (on revm: node.eth.revm_rpc's methods)."""
        if self.revm:
            return self._standard(method, params)
        try:
            response = self._request(method, params)
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            reason = revert_reason(message)
            if reason is not None:
                data = "0x" + encode_revert(reason).hex() if reason else "0x"
                raise RpcError(3, f"execution reverted: {reason}" if reason else "execution reverted", data) from exc
            raise RpcError(-32000, message) from exc
        if "error" in response:
            err = response["error"]
            if isinstance(err, dict):
                raise RpcError(err.get("code", -32000), err.get("message", "error"))
            raise RpcError(-32601 if "Unknown RPC Endpoint" in str(err) else -32000, str(err))
        return _quantity(response.get("result"))

    @staticmethod
    def _error(rid: Any, exc: RpcError) -> dict:
        error: dict = {"code": exc.code, "message": exc.message}
        if exc.data is not None:
            error["data"] = exc.data
        return {"jsonrpc": "2.0", "id": rid, "error": error}


def _answer_size(answer: dict) -> int:
    """An answer's size in JSON, for the batch response limit: a plain string result (most calls')
    is counted by its length plus the envelope's, not serialised twice."""
    result = answer.get("result")
    if isinstance(result, str) and "error" not in answer:
        return len(result) + 40 + len(json.dumps(answer.get("id")))
    return len(json.dumps(answer))


# answered here in geth's shapes, from py-evm's objects (the control table holds them)
GETH_SHAPED = frozenset({
    "eth_chainId", "net_version", "web3_clientVersion", "eth_gasPrice", "eth_maxPriorityFeePerGas",
    "eth_getBlockByNumber", "eth_getBlockByHash", "eth_getTransactionByBlockNumberAndIndex",
    "eth_getTransactionByBlockHashAndIndex", "eth_getTransactionByHash", "eth_getTransactionReceipt",
    "eth_getBlockReceipts", "eth_feeHistory", "eth_getLogs"})
_READ_ONLY_EXECUTION = frozenset({"eth_call", "eth_estimateGas", "eth_createAccessList"})


class _Abort(BaseException):
    """Raised into a thread whose read-only call ran past its time (a BaseException, so that
    no `except Exception` on the way out swallows it)."""


def _raise_in(thread_id: int, exc_type: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type
                                               else ctypes.c_void_p(None))


def _aborted_after(seconds: float, execute: Any, error: RpcError) -> Any:
    """`execute()`, or `error` once it has run `seconds`, as geth aborts an eth_call past
    RPCEVMTimeout. For read-only calls only (eth_call, eth_estimateGas, eth_getLogs): they work
    on a throwaway state, so stopping them anywhere leaves the chain as it was.

    `execute` runs in a worker thread of its own; past `seconds` an exception is raised into
    that thread (again every 50 ms: one that lands in a __del__ is swallowed there) until the
    worker says it is done. Only raw locks pass the word between the two threads (an exception
    cannot land inside a C-level acquire or release), and the worker does not end before it is
    let go, after any exception still pending has been withdrawn: so no exception ever reaches
    another thread, and none is raised into a thread id that has been reused."""
    outcome: dict = {}
    finished, let_go = _thread.allocate_lock(), _thread.allocate_lock()
    finished.acquire()
    let_go.acquire()

    def work() -> None:
        try:
            try:
                outcome["result"] = execute()
            except BaseException as exc:  # noqa: BLE001 - handed to the request thread
                outcome["error"] = exc
            finished.release()
            let_go.acquire()
        except BaseException:  # noqa: BLE001 - an abort landing after the work was done
            pass

    worker = threading.Thread(target=work, name="devchain-call", daemon=True)
    worker.start()
    aborted = False
    if not finished.acquire(timeout=seconds):
        while True:
            aborted = True
            _raise_in(worker.ident, _Abort)
            if finished.acquire(timeout=0.05):
                break
    if aborted:
        _raise_in(worker.ident, None)  # one not landed yet is withdrawn
    let_go.release()
    worker.join()  # it has nothing left to do but return
    if isinstance(outcome.get("error"), _Abort):
        raise error
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _signed_chain_id(tx: Any) -> int | None:
    """The chain id a transaction was signed for; None for a legacy one without EIP-155."""
    if getattr(tx, "type_id", None) is not None:
        return tx.chain_id
    return (tx.v - 35) // 2 if tx.v >= 35 else None


# call-object fields geth takes and eth-tester refuses; a call ignores them (geth skips the
# nonce check in eth_call and eth_estimateGas since 1.14)
_IGNORED_CALL_FIELDS = ("nonce", "type", "chainId", "blobVersionedHashes", "maxFeePerBlobGas", "authorizationList",
                        "blobs", "commitments", "proofs", "yParity", "v", "r", "s", "hash")


def transaction_request(params: list) -> dict:
    """eth_sendTransaction's transaction object as a call object (`_call_object`, nonce kept)."""
    if not params or not isinstance(params[0], dict) or "from" not in params[0]:
        raise RpcError(-32602, "eth_sendTransaction expects a transaction with `from`")
    return _call_object(params[0], keep_nonce=True)


def _call_object(request: dict, keep_nonce: bool = False) -> dict:
    """A transaction object as eth-tester takes it: `input` as `data` (geth's rule when both
    are set: they must agree), a null `to` dropped (a creation), and fields in
    _IGNORED_CALL_FIELDS left out (the nonce kept for a transaction to send)."""
    out = {k: v for k, v in request.items() if k not in _IGNORED_CALL_FIELDS or keep_nonce and k == "nonce"}
    if "input" in out:
        data = out.pop("input")
        if out.get("data") not in (None, data):
            raise RpcError(-32000, 'both "data" and "input" are set and not equal. Please use "input" to pass '
                                   'transaction call data')
        if data is not None:
            out["data"] = data
    for key in ("to", "data", "accessList", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value"):
        if key in out and out[key] is None:
            del out[key]
    if out.get("accessList") == []:
        del out["accessList"]
    return out


def _indexed_transaction(block: Any, index: Any) -> Any:
    i = _count(index, "transaction index", 2**32)
    return geth_json.transaction_json(block.transactions[i], block, i) if i < len(block.transactions) else None


def _client_version() -> str:
    """geth's shape, name/version/os-arch/runtime (anvil's is "anvil/v<version>")."""
    import platform
    import sys
    from importlib import metadata

    try:
        version = metadata.version("lpsim")
    except metadata.PackageNotFoundError:
        version = "0.0.0"
    return f"lpnode-devchain/v{version}/{sys.platform}-{platform.machine()}/python{platform.python_version()}"


CLIENT_VERSION = _client_version()
