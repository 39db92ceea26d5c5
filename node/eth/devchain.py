"""`lpnode devchain`: the embedded chain served over JSON-RPC on loopback for other processes.

Standard `eth_*`/`net_*`/`web3_*` methods are answered by eth-tester through web3.py's
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
from collections.abc import Mapping
from typing import Any

from eth_utils import to_checksum_address

from .abi import encode_revert
from .chain import EmbeddedChain
from .errors import revert_reason
from .mempool import Mempool, PoolError, PooledTransaction

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

    def __init__(self, chain: EmbeddedChain):
        self.chain = chain
        self.lock = FairLock()
        self.automine = True
        self.pool = Mempool()
        self._interval_stop: threading.Event | None = None
        self._request = chain.w3.provider.request_func(chain.w3, chain.w3.middleware_onion)
        self._snapshots: list[tuple[int, int]] = []  # (public id, eth-tester snapshot id)
        self._next_snapshot = 1
        self._time_offset = 0
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
        }
        # long calls: they take the chain lock themselves, a slice at a time
        self.unlocked = {
            "evm_mine": self._evm_mine,
            "anvil_mine": self._anvil_mine,
            "hardhat_mine": self._anvil_mine,
        }
        from .anvil import anvil_methods  # anvil's state-editing methods (node/eth/anvil.py)

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
            n = min(blocks, MINE_SLICE)
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
        if ready:
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
        if self.automine:
            return self._forward("eth_sendRawTransaction", params)
        if not params:
            raise RpcError(-32602, "eth_sendRawTransaction expects the signed transaction")
        raw = _bytes(params[0])
        if len(raw) > MAX_RAW_TX_BYTES:
            raise RpcError(-32000, "oversized data")  # geth's ErrOversizedData
        try:
            tx = self.chain.backend.chain.get_vm().get_transaction_builder().decode(raw)
            tx.validate()
        except Exception as exc:  # noqa: BLE001 - malformed, badly signed, too little gas...
            raise RpcError(-32000, f"invalid transaction: {exc}") from exc
        state = self.chain.backend.chain.get_vm().state
        if state.get_balance(tx.sender) < tx.gas * tx.max_fee_per_gas + tx.value:
            raise RpcError(-32000, INSUFFICIENT_FUNDS)
        pooled = PooledTransaction(bytes(tx.hash), bytes(tx.sender), tx.nonce, tx.max_fee_per_gas,
                                   tx.max_priority_fee_per_gas, raw, tx)
        try:
            replaced = self.pool.add(pooled, state.get_nonce(tx.sender))
        except PoolError as exc:
            raise RpcError(-32000, str(exc)) from exc
        if replaced is not None:
            log.info("devchain: 0x%s replaces 0x%s (sender %s, nonce %d)", pooled.hash.hex(), replaced.hash.hex(),
                     to_checksum_address(pooled.sender), pooled.nonce)
        return "0x" + pooled.hash.hex()

    def _send_transaction(self, params: list) -> str:
        """With automine off, an unlocked account's transaction is completed (nonce, gas, fees)
        and signed here, then pooled like a raw one."""
        if self.automine:
            return self._forward("eth_sendTransaction", params)
        from eth_account import Account as EthAccount

        if not params or not isinstance(params[0], dict) or "from" not in params[0]:
            raise RpcError(-32602, "eth_sendTransaction expects a transaction with `from`")
        request = params[0]
        sender = to_checksum_address(request["from"])
        account = next((a for a in self.chain.accounts if a.address == sender and a.key), None)
        if account is None:
            raise RpcError(-32000, f"unknown account {sender}")
        tx: dict = {"chainId": self.chain.w3.eth.chain_id, "value": _int(request.get("value", 0)),
                    "data": request.get("input", request.get("data", "0x"))}
        if request.get("to"):
            tx["to"] = to_checksum_address(request["to"])
        nonce = request.get("nonce")
        if nonce is None:
            nonce = self.pool.pending_nonce(_bytes(sender), self._account_nonce(_bytes(sender)))
        tx["nonce"] = _int(nonce)
        tx["gas"] = _int(request["gas"]) if request.get("gas") else _int(self._forward("eth_estimateGas", [request]))
        if request.get("gasPrice") is not None:
            tx["gasPrice"] = _int(request["gasPrice"])
        else:
            tip = _int(request.get("maxPriorityFeePerGas") or self._forward("eth_maxPriorityFeePerGas", []))
            base = self.chain.w3.eth.get_block("latest").get("baseFeePerGas", 0)
            tx["maxPriorityFeePerGas"] = tip
            tx["maxFeePerGas"] = _int(request["maxFeePerGas"]) if request.get("maxFeePerGas") else 2 * base + tip
        signed = EthAccount.sign_transaction(tx, account.key)
        return self._send_raw_transaction(["0x" + bytes(signed.raw_transaction).hex()])

    def _get_transaction_count(self, params: list) -> str:
        count = self._forward("eth_getTransactionCount", params)
        if len(params) > 1 and params[1] == "pending" and len(self.pool):
            sender = _bytes(to_checksum_address(params[0]))
            return hex(self.pool.pending_nonce(sender, _int(count)))
        return count

    def _get_transaction_by_hash(self, params: list) -> Any:
        pooled = self.pool.get(_bytes(params[0])) if params else None
        if pooled is None:
            return self._forward("eth_getTransactionByHash", params)
        return _pending_transaction_json(pooled)

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
                size += len(json.dumps(answer))
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
        if method in self.control:
            return self.control[method](params)
        if method in _READ_ONLY_EXECUTION:
            return _aborted_after(EVM_TIMEOUT, lambda: self._forward(method, params),
                                  RpcError(-32000, f"execution aborted (timeout = {EVM_TIMEOUT:g}s)"))
        if method == "eth_getLogs":
            return _aborted_after(LOG_QUERY_TIMEOUT, lambda: self._forward(method, params),
                                  RpcError(REQUEST_TIMED_OUT, "request timed out"))
        return self._forward(method, params)

    def _forward(self, method: str, params: list) -> Any:
        """Answer through eth-tester."""
        try:
            response = self._request(method, params)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON-RPC error
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


def _pending_transaction_json(pooled: PooledTransaction) -> dict:
    """eth_getTransactionByHash's answer for a pooled transaction: no block yet."""
    tx = pooled.decoded
    typed = getattr(tx, "type_id", None)
    out: dict = {
        "hash": pooled.hash, "nonce": tx.nonce, "from": to_checksum_address(pooled.sender),
        "to": to_checksum_address(tx.to) if tx.to else None, "value": tx.value, "gas": tx.gas,
        "input": tx.data, "blockHash": None, "blockNumber": None, "transactionIndex": None,
        "type": typed or 0, "gasPrice": pooled.max_fee_per_gas, "r": tx.r, "s": tx.s,
    }
    if typed is None:
        out["v"] = tx.v
    else:
        out.update(chainId=tx.chain_id, v=tx.y_parity, yParity=tx.y_parity, accessList=[],
                   maxFeePerGas=pooled.max_fee_per_gas, maxPriorityFeePerGas=pooled.max_priority_fee_per_gas)
    return _quantity(out)
