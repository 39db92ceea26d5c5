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
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_utils import to_checksum_address

from .abi import encode_revert
from .chain import EmbeddedChain
from .errors import revert_reason
from .mempool import Mempool, PoolError, PooledTransaction

log = logging.getLogger("lpnode.devchain")
INSUFFICIENT_FUNDS = "insufficient funds for gas * price + value"  # geth's wording


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
    if isinstance(value, str):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"expected a boolean, got {value!r}")
        return value.lower() == "true"
    return bool(value)


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: str | None = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class DevchainRpc:
    """JSON-RPC dispatch over an EmbeddedChain; one request at a time (py-evm is not thread-safe)."""

    def __init__(self, chain: EmbeddedChain):
        self.chain = chain
        self.lock = threading.Lock()
        self.automine = True
        self.pool = Mempool()
        self._interval_stop: threading.Event | None = None
        self._request = chain.w3.provider.request_func(chain.w3, chain.w3.middleware_onion)
        self._snapshots: list[tuple[int, int]] = []  # (public id, eth-tester snapshot id)
        self._next_snapshot = 1
        self._time_offset = 0
        self.control = {
            "evm_mine": self._evm_mine,
            "anvil_mine": self._anvil_mine,
            "hardhat_mine": self._anvil_mine,
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

    # --- control methods, anvil semantics -----------------------------------------------
    def _evm_mine(self, params: list) -> str:
        blocks = 1
        if params and isinstance(params[0], dict):
            blocks = _int(params[0].get("blocks", 1))
            if "timestamp" in params[0]:
                self.chain.set_next_block_timestamp(_int(params[0]["timestamp"]))
        elif params and params[0] is not None:
            self.chain.set_next_block_timestamp(_int(params[0]))
        self.mine(blocks)
        return "0x0"

    def _anvil_mine(self, params: list) -> None:
        self.mine(_int(params[0]) if params and params[0] is not None else 1)

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
        seconds = _int(params[0])
        self._time_offset += seconds
        self.chain.increase_time(seconds)
        return hex(self._time_offset)

    def _evm_set_next_block_timestamp(self, params: list) -> None:
        if not params:
            raise RpcError(-32602, "evm_setNextBlockTimestamp expects a timestamp")
        self.chain.set_next_block_timestamp(_int(params[0]))

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
        seconds = float(_int(params[0]) if isinstance(params[0], str) else params[0])
        self.start_interval_mining(seconds)

    def _account_nonce(self, sender: bytes) -> int:
        return self.chain.backend.chain.get_vm().state.get_nonce(sender)

    def _send_raw_transaction(self, params: list) -> str:
        if self.automine:
            return self._forward("eth_sendRawTransaction", params)
        if not params:
            raise RpcError(-32602, "eth_sendRawTransaction expects the signed transaction")
        raw = _bytes(params[0])
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
    def handle(self, request: Any) -> Any:
        if isinstance(request, list):
            if not request:
                return self._error(None, RpcError(-32600, "empty batch"))
            return [self.handle(r) for r in request]
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return self._error(None, RpcError(-32600, "invalid request"))
        rid, method, params = request.get("id"), request["method"], request.get("params") or []
        try:
            with self.lock:
                result = self._dispatch(method, params)
        except RpcError as exc:
            return self._error(rid, exc)
        except Exception as exc:  # noqa: BLE001 - bad params to a control method: an error, not a dead server
            return self._error(rid, RpcError(-32602 if isinstance(exc, (TypeError, ValueError)) else -32000,
                                             f"{method}: {exc}"))
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    def _dispatch(self, method: str, params: list) -> Any:
        if method in self.control:
            return self.control[method](params)
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


def make_server(rpc: DevchainRpc, host: str = "127.0.0.1", port: int = 8545) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                body = rpc._error(None, RpcError(-32700, "parse error"))
            else:
                body = rpc.handle(request)
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, fmt: str, *args) -> None:  # quiet: one line per request is noise
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
