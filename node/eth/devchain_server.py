"""The devchain's HTTP server: JSON-RPC over POST to any path, one thread per connection, with
geth's limits on what a request may ask (node.eth.devchain's docstring lists them) checked before
anything reaches the chain. A GET asking to upgrade to WebSocket, on any path, becomes a JSON-RPC
WebSocket connection with subscriptions (node.eth.devchain_ws), as anvil serves both on one port."""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from node.net.limits import MAX_JSON_DEPTH, json_depth_ok

from .devchain import REQUEST_TIMEOUT, DevchainRpc, RpcError

log = logging.getLogger("lpnode.devchain")

MAX_BODY_BYTES = 5 * 1024 * 1024  # a request body [maxRequestContentLength, 5 MiB; 413 above it]
READ_TIMEOUT = 30.0  # s to send the headers and body [ReadTimeout 30 s]
MAX_CONNECTIONS = 256  # connections served at once; more are answered 503 [none]
MAX_DISCARD_BYTES = 64 * 1024 * 1024  # of a refused body, read and dropped so the client sees the 413
ACCEPTED_CONTENT_TYPES = ("application/json", "application/json-rpc", "application/jsonrequest")  # geth's


class RequestRefused(Exception):
    """A request answered before dispatch: its HTTP status and JSON-RPC error."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(body: bytes) -> Any:
    """The JSON of a request body, or RequestRefused (-32700) for what is not JSON, is not
    UTF-8, or nests deeper than MAX_JSON_DEPTH. The depth is checked before parsing: the chain
    stack raises Python's recursion limit to 100,000 (py_ecc, imported by py-evm), far past
    what the C stack holds, so the json module's recursive parser would crash the process on a
    nesting bomb instead of raising RecursionError."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestRefused(200, -32700,
                             f"parse error: the body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not json_depth_ok(body):
        raise RequestRefused(200, -32700, f"parse error: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text or "null", parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise RequestRefused(200, -32700, f"parse error: {str(exc)[:200]}") from None


class DevchainServer(ThreadingHTTPServer):
    """A thread per connection, at most MAX_CONNECTIONS at once; one more is answered 503 and
    closed at once."""

    daemon_threads = True
    request_queue_size = 128  # listen backlog (socketserver's default, 5, drops connections in bursts)

    def __init__(self, address: tuple[str, int], handler: type, max_connections: int = MAX_CONNECTIONS):
        self._slots = threading.BoundedSemaphore(max_connections)
        self.watchdog = ReadWatchdog()
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        log.warning("devchain: a request from %s failed", client_address[0], exc_info=True)


_BUSY_BODY = json.dumps({"jsonrpc": "2.0", "id": None,
                         "error": {"code": -32000, "message": "too many connections"}}).encode()
_BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
         b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY)


class ReadWatchdog:
    """The read deadlines of a server's connections, kept by one thread (a timer thread per
    request cost a thread start each, the larger part of answering a cheap call). A deadline is
    found expired within WATCHDOG_TICK of passing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadlines: dict[Any, float] = {}
        threading.Thread(target=self._run, name="devchain-read-watchdog", daemon=True).start()

    def arm(self, handler: Any, seconds: float) -> None:
        with self._lock:
            self._deadlines[handler] = time.monotonic() + seconds

    def cancel(self, handler: Any) -> None:
        with self._lock:
            self._deadlines.pop(handler, None)

    def _run(self) -> None:
        while True:
            time.sleep(WATCHDOG_TICK)
            now = time.monotonic()
            with self._lock:
                expired = [h for h, deadline in self._deadlines.items() if deadline <= now]
                for handler in expired:
                    del self._deadlines[handler]
            for handler in expired:
                handler._read_expired()


WATCHDOG_TICK = 0.1  # s


class DevchainHandler(BaseHTTPRequestHandler):
    """POST a JSON-RPC request (or batch) to any path. Before anything is dispatched: the body
    is at most MAX_BODY_BYTES (413), has a JSON content type when it names one (415), arrives
    within READ_TIMEOUT with the headers (else the connection is dropped), is UTF-8 JSON nested
    at most MAX_JSON_DEPTH deep (-32700)."""

    rpc: DevchainRpc  # set by make_server
    timeout = READ_TIMEOUT  # per socket operation; the watchdog below bounds the whole read
    # keep-alive, as geth and anvil answer: a connection per request cost more than most calls
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle held the second ~40 ms

    def setup(self) -> None:
        super().setup()
        self._arm_watchdog()

    def _arm_watchdog(self) -> None:
        """Bound the next request's wait and read (headers and body) by READ_TIMEOUT."""
        self._reading = True
        self.server.watchdog.arm(self, READ_TIMEOUT)

    def finish(self) -> None:
        self.server.watchdog.cancel(self)
        super().finish()

    def _read_expired(self) -> None:
        """Headers and body not in after READ_TIMEOUT: drop the connection (a slow client holds
        a thread and a connection slot, never the chain)."""
        if self._reading:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        deadline = time.monotonic() + REQUEST_TIMEOUT
        try:
            request = self._read_request()
        except RequestRefused as exc:
            self.close_connection = True  # what follows on this connection cannot be trusted to frame
            self._reply(exc.status, self.rpc._error(None, RpcError(exc.code, exc.message)))
            if self._unread_body:
                self._discard_body()
            self.server.watchdog.cancel(self)
            self._reading = False
            return
        except (OSError, ValueError):  # the client went away or was cut off by the watchdog
            self.close_connection = True
            return
        self.server.watchdog.cancel(self)
        self._reading = False
        self._reply(200, self.rpc.handle(request, deadline))
        if not self.close_connection:
            self._arm_watchdog()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        """The WebSocket handshake (RFC 6455 section 4.2), then JSON-RPC over WebSocket."""
        from .devchain_ws import WsConnection, accept_key, is_upgrade

        key = self.headers.get("Sec-WebSocket-Key") or ""
        if not is_upgrade(self.headers):
            self.send_error(501, "Unsupported method ('GET')")  # as before WebSocket: http.server's answer
            return
        if self.headers.get("Sec-WebSocket-Version") != "13" or len(key.strip()) != 24:
            self.send_response(400)
            self.send_header("Sec-WebSocket-Version", "13")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.close_connection = True
            return
        self.server.watchdog.cancel(self)  # the connection now lives as long as the client keeps it
        self._reading = False
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept_key(key.strip()))
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True  # when the WebSocket ends, so does the connection
        WsConnection(self, MAX_BODY_BYTES).serve()

    def _discard_body(self) -> None:
        """After refusing a body unread: read and drop what the client still sends (up to the
        watchdog's deadline and MAX_DISCARD_BYTES), so it sees the answer rather than a reset."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            left = MAX_DISCARD_BYTES
            while left > 0:
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except (OSError, ValueError):
            pass

    def _read_request(self) -> Any:
        self._unread_body = "Content-Length" in self.headers or "Transfer-Encoding" in self.headers
        content_type = self.headers.get("Content-Type")
        if content_type is not None:
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type not in ACCEPTED_CONTENT_TYPES:
                raise RequestRefused(415, -32600, "invalid content type, only application/json is supported")
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise RequestRefused(411, -32600, "a Content-Length is required")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise RequestRefused(400, -32600, "invalid Content-Length") from None
        if length < 0:
            raise RequestRefused(400, -32600, "invalid Content-Length")
        if length > MAX_BODY_BYTES:
            raise RequestRefused(413, -32600, f"content length too large ({length}>{MAX_BODY_BYTES})")  # geth's
        body = bytearray()
        while len(body) < length:
            chunk = self.rfile.read1(min(length - len(body), 65536))
            if not chunk:
                raise ConnectionError("the body ended early")
            body += chunk
        self._unread_body = False
        return parse_body(bytes(body))

    def _reply(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            # headers and body in one write (http.server's end_headers would send them in two)
            self._headers_buffer.extend((b"\r\n", payload))
            self.flush_headers()
        except OSError:  # the client went away
            self.close_connection = True

    def log_message(self, fmt: str, *args) -> None:  # quiet: one line per request is noise
        pass


def make_server(rpc: DevchainRpc, host: str = "127.0.0.1", port: int = 8545,
                max_connections: int = MAX_CONNECTIONS) -> DevchainServer:
    handler = type("Handler", (DevchainHandler,), {"rpc": rpc})
    return DevchainServer((host, port), handler, max_connections)
