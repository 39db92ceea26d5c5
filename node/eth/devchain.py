"""`lpnode devchain`: the embedded chain served over JSON-RPC on loopback for other processes.

Standard `eth_*`/`net_*`/`web3_*` methods are answered by eth-tester through web3.py's
request/response formatters; results are re-encoded as JSON-RPC quantities (hex). The
test-control methods follow anvil: `evm_mine`, `anvil_mine`/`hardhat_mine`, `evm_snapshot`,
`evm_revert` (a snapshot is consumed by reverting to it, as are later ones),
`evm_increaseTime`, `evm_setNextBlockTimestamp`. Reverts come back as JSON-RPC error 3 with
the message "execution reverted: <reason>" and the ABI-encoded Error(string) in `data`, as
geth and anvil answer.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .abi import encode_revert
from .chain import EmbeddedChain
from .errors import revert_reason


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


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: str | None = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class DevchainRpc:
    """JSON-RPC dispatch over an EmbeddedChain; one request at a time (py-evm is not thread-safe)."""

    def __init__(self, chain: EmbeddedChain):
        self.chain = chain
        self.lock = threading.Lock()
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
        self.chain.mine(blocks)
        return "0x0"

    def _anvil_mine(self, params: list) -> None:
        self.chain.mine(_int(params[0]) if params and params[0] is not None else 1)

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
