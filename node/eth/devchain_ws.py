"""The devchain's WebSocket endpoint: JSON-RPC over WebSocket on the HTTP port, with geth's
`eth_subscribe`/`eth_unsubscribe` (`newHeads`, `logs` filtered by address and topics, and
`newPendingTransactions`: hashes, or whole transactions with geth's `true` option).

The HTTP handler upgrades a GET with `Upgrade: websocket` (RFC 6455's handshake, below); the
frames are websockets' sans-I/O protocol (a dependency of web3 already), driven by the
connection's thread. Every ordinary method is answered as over HTTP, with the same limits (a
message is at most the HTTP body limit, nesting and batches as checked there).

New blocks are announced however they are mined (automine, evm_mine, anvil_mine, interval
mining, anvil methods): every path ends in eth-tester's `mine_blocks`, which the hub wraps on
this chain's tester. Notifications are shaped as geth's:
`{"jsonrpc": "2.0", "method": "eth_subscription", "params": {"subscription": id, "result": ...}}`.
They are queued per connection and written by its own writer thread, so a slow client never
holds up mining; one that lets MAX_QUEUED messages pile up is disconnected (geth drops it too).
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import queue
import secrets
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from . import geth_json
from .devchain import MAX_BATCH_ITEMS, REQUEST_TIMEOUT, DevchainRpc, RpcError

if TYPE_CHECKING:
    from .devchain_server import DevchainHandler

log = logging.getLogger("lpnode.devchain")

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
MAX_QUEUED = 10_000  # notifications and answers waiting for a slow client
MAX_SUBSCRIPTIONS = 1000  # per connection
LINGER_SECONDS = 2.0  # after closing, to let a client's last frames arrive
_HEAD_DROPPED = ("transactions", "uncles", "withdrawals", "size", "totalDifficulty")


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def is_upgrade(headers: Any) -> bool:
    return "websocket" in (headers.get("Upgrade") or "").lower() and \
        "upgrade" in (headers.get("Connection") or "").lower()


# --- subscriptions -------------------------------------------------------------------------------
def _log_filter(options: Any) -> tuple[set[bytes], list[set[bytes] | None]]:
    """eth_subscribe's `logs` options as eth_newFilter's criteria (geth_json.log_criteria, so
    both match alike); -32602 for anything malformed."""
    try:
        return geth_json.log_criteria({} if options is None else options)
    except ValueError as exc:
        raise RpcError(-32602, f"eth_subscribe: {exc}") from None


def _log_matches(entry: dict, addresses: set[bytes], positions: list[set[bytes] | None]) -> bool:
    """A log as the RPC layer answers it (JSON), matched by geth_json.log_matches."""
    return geth_json.log_matches(bytes.fromhex(entry["address"][2:]), [bytes.fromhex(t[2:]) for t in entry["topics"]],
                                 addresses, positions)


class SubscriptionHub:
    """Every connection's subscriptions on one devchain; told of each mined block."""

    def __init__(self, rpc: DevchainRpc):
        self.rpc = rpc
        self._lock = threading.Lock()
        self._subs: dict[str, tuple[WsConnection, str, Any]] = {}  # id -> (connection, kind, filter)
        self._active: set[str] = set()  # ids whose eth_subscribe answer is queued: notified from then on
        for method in ("eth_sendRawTransaction", "eth_sendTransaction"):  # each accepted transaction, once
            rpc.control[method] = self._announcing_pending(rpc.control[method])
        if rpc.revm:  # node.eth.revm_devchain tells of what it mined
            rpc.chain.mined_hooks.append(self._announce_numbers)
            return
        tester = rpc.chain.tester
        mine_blocks = tester.mine_blocks

        def mine_and_announce(*args, **kwargs):
            hashes = mine_blocks(*args, **kwargs)
            if self._subs:
                try:
                    self.announce(hashes)
                except Exception:  # a failed notification must not fail the mining
                    log.warning("devchain: announcing blocks failed", exc_info=True)
            return hashes

        tester.mine_blocks = mine_and_announce  # this tester only; eth-tester's automine calls it too

    def _announce_numbers(self, first: int, last: int) -> None:
        if self._subs:
            try:
                self.announce([self.rpc._evm.get_canonical_block_hash(n) for n in range(first, last + 1)])
            except Exception:  # a failed notification must not fail the mining
                log.warning("devchain: announcing blocks failed", exc_info=True)

    def _announcing_pending(self, send):
        def send_and_announce(params: list):
            tx_hash = send(params)
            if self._subs:
                self.announce_pending(tx_hash)
            return tx_hash

        return send_and_announce

    @classmethod
    def of(cls, rpc: DevchainRpc) -> SubscriptionHub:
        hub = getattr(rpc, "subscriptions", None)
        if hub is None:
            hub = rpc.subscriptions = cls(rpc)
        return hub

    def subscribe(self, connection: WsConnection, params: list) -> str:
        if not params or not isinstance(params[0], str):
            raise RpcError(-32602, "eth_subscribe: param 1 must be a subscription name")
        kind = params[0]
        if kind == "newHeads":
            filt = None
        elif kind == "newPendingTransactions":
            filt = len(params) > 1 and params[1] is True  # full transactions, as geth's option
        elif kind == "logs":
            filt = _log_filter(params[1] if len(params) > 1 else None)
        else:
            raise RpcError(-32602, f"eth_subscribe: no {kind!r} subscription; newHeads, logs and "
                                  "newPendingTransactions are offered")
        with self._lock:
            if sum(1 for c, _, _ in self._subs.values() if c is connection) >= MAX_SUBSCRIPTIONS:
                raise RpcError(-32000, f"too many subscriptions (at most {MAX_SUBSCRIPTIONS} per connection)")
            sub_id = "0x" + secrets.token_hex(16)
            self._subs[sub_id] = (connection, kind, filt)
        return sub_id

    def activate(self, sub_ids: list[str]) -> None:
        """Notify `sub_ids` from now on: their ids have been queued to the client, so no
        notification reaches it before the id it belongs to (as geth orders them)."""
        with self._lock:
            self._active.update(s for s in sub_ids if s in self._subs)

    def unsubscribe(self, connection: WsConnection, params: list) -> bool:
        if not params or not isinstance(params[0], str):
            raise RpcError(-32602, "eth_unsubscribe: param 1 must be a subscription id")
        with self._lock:
            owner = self._subs.get(params[0])
            if owner is None or owner[0] is not connection:
                return False
            del self._subs[params[0]]
            self._active.discard(params[0])
        return True

    def drop(self, connection: WsConnection) -> None:
        with self._lock:
            for sub_id in [s for s, (c, _, _) in self._subs.items() if c is connection]:
                del self._subs[sub_id]
                self._active.discard(sub_id)

    def announce_pending(self, tx_hash: str) -> None:
        """Tell newPendingTransactions subscribers of a transaction just accepted (mined already
        under automine, as anvil announces it too)."""
        with self._lock:
            subs = [(s, v) for s, v in self._subs.items() if s in self._active and v[1] == "newPendingTransactions"]
        full = None
        for sub_id, (connection, _, wants_full) in subs:
            if wants_full and full is None:
                full = self.rpc.control["eth_getTransactionByHash"]([tx_hash])
            connection.notify(sub_id, full if wants_full else tx_hash)

    def announce(self, block_hashes: Any) -> None:
        """Notify each subscriber of the blocks just mined (the miner holds the chain lock)."""
        with self._lock:
            subs = [(s, v) for s, v in self._subs.items() if s in self._active]
        wants_logs = any(kind == "logs" for _, (_, kind, _) in subs)
        for block_hash in block_hashes:
            block_hash = block_hash if isinstance(block_hash, str) else "0x" + bytes(block_hash).hex()
            block = self.rpc._forward("eth_getBlockByHash", [block_hash, False])
            head = {k: v for k, v in block.items() if k not in _HEAD_DROPPED}
            logs = self.rpc._forward("eth_getLogs", [{"fromBlock": block["number"], "toBlock": block["number"]}]) \
                if wants_logs else []
            for sub_id, (connection, kind, filt) in subs:
                if kind == "newPendingTransactions":
                    continue
                if kind == "newHeads":
                    connection.notify(sub_id, head)
                else:
                    for entry in logs:
                        if _log_matches(entry, *filt):
                            connection.notify(sub_id, {**entry, "removed": False})  # geth's field


# --- one connection -------------------------------------------------------------------------
class WsConnection:
    """A WebSocket connection after the handshake: the handler's thread reads and answers,
    a writer thread sends what is queued (answers and notifications, in order)."""

    def __init__(self, handler: DevchainHandler, max_message: int):
        from websockets.protocol import Protocol, Side, State

        self.handler = handler
        self.sock: socket.socket = handler.connection
        self.hub = SubscriptionHub.of(handler.rpc)
        self.max_message = max_message
        self.proto = Protocol(Side.SERVER, state=State.OPEN, max_size=max_message)
        self._proto_lock = threading.Lock()
        self._out: queue.Queue[bytes | None] = queue.Queue(MAX_QUEUED)
        self._closed = threading.Event()

    def notify(self, sub_id: str, result: Any) -> None:
        self._queue(json.dumps({"jsonrpc": "2.0", "method": "eth_subscription",
                                "params": {"subscription": sub_id, "result": result}}).encode())

    def _queue(self, message: bytes | None) -> None:
        if self._closed.is_set():
            return
        try:
            self._out.put_nowait(message)
        except queue.Full:
            log.warning("devchain: a WebSocket client fell %d messages behind; disconnected", MAX_QUEUED)
            self._close_socket()

    def _close_socket(self) -> None:
        self._closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _flush(self) -> None:
        with self._proto_lock:
            data = b"".join(self.proto.data_to_send())
            if data:
                self.sock.sendall(data)

    def _writer(self) -> None:
        try:
            while not self._closed.is_set():
                message = self._out.get()
                if message is None:
                    break
                with self._proto_lock:
                    self.proto.send_text(message)
                self._flush()
        except Exception:  # noqa: BLE001 - the client went away; the reader sees it too
            self._close_socket()

    def serve(self) -> None:
        from websockets.frames import Opcode

        self.sock.settimeout(None)  # a subscriber may listen for hours, as on geth
        writer = threading.Thread(target=self._writer, name="devchain-ws-writer", daemon=True)
        writer.start()
        parts: list[bytes] = []
        size = 0
        try:
            while not self._closed.is_set():
                try:
                    data = self.handler.rfile.read1(65536)  # what the handshake's reader buffered first
                except (OSError, ValueError):
                    break
                with self._proto_lock:
                    if data:
                        self.proto.receive_data(data)
                    else:
                        self.proto.receive_eof()
                    events = self.proto.events_received()
                self._flush()
                for frame in events:
                    if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                        parts.append(frame.data)
                        size += len(frame.data)
                        if size > self.max_message:
                            with self._proto_lock:
                                self.proto.fail(1009, "message too big")
                            self._flush()
                            return
                        if frame.fin:
                            self._answer(b"".join(parts))
                            parts, size = [], 0
                if not data or self.proto.close_expected():
                    break
        finally:
            self.hub.drop(self)
            self._queue(None)
            writer.join(timeout=5)
            self._closed.set()
            self._linger()

    def _linger(self) -> None:
        """Close our side, then read and drop what the client still sends (a refused message's
        rest, its close frame) for a moment: closing with unread data would reset the
        connection, and the client might lose the close frame that says why."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(LINGER_SECONDS)
            deadline = time.monotonic() + LINGER_SECONDS
            while time.monotonic() < deadline and self.handler.rfile.read1(65536):
                pass
        except (OSError, ValueError):
            pass

    def _answer(self, body: bytes) -> None:
        from .devchain_server import RequestRefused, parse_body

        try:
            request = parse_body(body)
        except RequestRefused as exc:
            self._queue(json.dumps(DevchainRpc._error(None, RpcError(exc.code, exc.message))).encode())
            return
        deadline = time.monotonic() + REQUEST_TIMEOUT
        self._new_subs: list[str] = []
        if isinstance(request, list) and len(request) <= MAX_BATCH_ITEMS and any(map(_is_subscription, request)):
            answer: Any = [self._call(item) for item in request]
        elif _is_subscription(request):
            answer = self._call(request)
        else:
            answer = self.handler.rpc.handle(request, deadline)
        self._queue(json.dumps(answer).encode())
        if self._new_subs:
            self.hub.activate(self._new_subs)

    def _call(self, request: Any) -> dict:
        if not _is_subscription(request):
            return self.handler.rpc.handle_call(request)
        rid, params = request.get("id"), request.get("params") or []
        if not isinstance(params, list):
            return DevchainRpc._error(rid, RpcError(-32602, "non-array args"))
        try:
            if request["method"] == "eth_subscribe":
                result: Any = self.hub.subscribe(self, params)
                self._new_subs.append(result)
            else:
                result = self.hub.unsubscribe(self, params)
        except RpcError as exc:
            return DevchainRpc._error(rid, exc)
        return {"jsonrpc": "2.0", "id": rid, "result": result}


def _is_subscription(request: Any) -> bool:
    return isinstance(request, dict) and request.get("method") in ("eth_subscribe", "eth_unsubscribe")
