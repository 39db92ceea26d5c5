"""The HTTP client of the paid request path: gateway → orchestrator (/segment, the AI routes) and
orchestrator → AI runner: HTTP/1.1 POSTs on keep-alive connections, parsed by httptools (the
parser uvicorn serves with), one asyncio protocol a connection.

Each hop is on every paid request, and the client was the largest part of a node's own Python
time a request: httpx cost about 0.75 ms of CPU a request here, aiohttp about 0.18 ms, this client
about 0.09 ms (benchmarks/bench_node.py --clients measures all three against the same server).
Everything else (downloads, live set-up) keeps httpx.

What it does, as go's http.Transport does for these requests: a pool of idle connections per
(scheme, host, port), TLS when the URL says https (`verify=False` accepts any certificate: go's
gateway to an orchestrator, InsecureSkipVerify), no redirect followed, no proxy, no cookies.
A body is bytes, or an async iterator of chunks sent with the Content-Length the headers give
(chunked without one). A reply is read whole (`Reply`), or with `stream=True` handed back as a
`StreamedReply` to read as lines (an LLM's server-sent events) and close. The timeout is httpx's
meaning of one: for connecting and for each read, not for the whole exchange (an LLM's stream may
run for minutes). Transport failures raise one of `HTTP_ERRORS`.
"""
from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

IDLE_SECONDS = 4.0  # an idle connection is dropped before uvicorn's 5 s keep-alive closes it under us


class HTTPError(Exception):
    """No (whole) response came: the connection failed, closed early, or sent no HTTP."""


class ConnectError(HTTPError):
    pass


class ServerDisconnected(HTTPError):
    pass


class ReadTimeout(HTTPError, asyncio.TimeoutError):
    pass


HTTP_ERRORS = (HTTPError, asyncio.TimeoutError)  # what a failed exchange raises


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole response: status, headers (case-insensitive) and body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class StreamedReply:
    """A response whose body is read as it comes: `aiter_lines()`, or `aread()` for the rest;
    `aclose()` when done (a body left unread closes its connection)."""

    def __init__(self, conn: "_Connection", status: int, headers) -> None:
        self._conn, self._body = conn, conn.body
        self.status_code = status
        self.headers = headers
        self.content = b""

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    async def aiter_lines(self) -> AsyncIterator[str]:
        body = self._body
        while line := await body.readline():
            yield line.decode(errors="replace").rstrip("\r\n")

    async def aread(self) -> bytes:
        self.content = await self._body.read()
        return self.content

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn.release()
            self._conn = None


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one exchange at a time. The body goes into a
    StreamReader as it is parsed; `head` resolves once the status line and headers are in."""

    def __init__(self, client: "HTTPClient", key) -> None:
        self.client, self.key = client, key
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._writable: asyncio.Future | None = None  # set while the transport's buffer is full
        self._begin(None)
        self.complete = True  # no exchange yet

    def _begin(self, timeout: float | None) -> None:
        self.head: asyncio.Future = self.loop.create_future()
        self.body = asyncio.StreamReader(limit=1 << 20)
        self.complete = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._until_close = False
        self._timeout, self._read_at, self._timer = timeout, self.loop.time(), None

    # -- asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._read_at = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HTTPError(f"invalid HTTP response: {exc}"))

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.complete and self._until_close:  # a body delimited by the connection's end
            self.complete = True
            self.body.feed_eof()
            self._stop_timer()
        if not self.complete:
            self._fail(ServerDisconnected("server disconnected" + (f": {exc}" if exc else "")), close=False)
        self.resume_writing()  # a sender waiting to write finds the connection closed

    def pause_writing(self) -> None:
        self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # -- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # an interim 1xx: its headers are not the response's
            self._headers = []
            return
        headers = CIMultiDictProxy(CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in self._headers))
        self._until_close = status not in (204, 304) and "content-length" not in headers and \
            "chunked" not in headers.get("transfer-encoding", "").lower()
        if not self.head.done():
            self.head.set_result((status, headers))

    def on_body(self, body: bytes) -> None:
        self.body.feed_data(body)

    def on_message_complete(self) -> None:
        if not self.head.done():  # the end of an interim response
            return
        self.complete = True
        self.body.feed_eof()
        self._stop_timer()
        if not self.parser.should_keep_alive():
            self.closed = True

    # -- the exchange
    def _check_timeout(self) -> None:
        idle = self.loop.time() - self._read_at
        if idle >= self._timeout:
            self._timer = None
            self._fail(ReadTimeout(f"no data from the server in {self._timeout:g} s"))
        else:
            self._timer = self.loop.call_later(self._timeout - idle, self._check_timeout)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self, exc: Exception, close: bool = True) -> None:
        self._stop_timer()
        if not self.head.done():
            self.head.set_exception(exc)
        elif not self.complete:
            self.body.set_exception(exc)
        self.closed = True
        if close and self.transport is not None:
            self.transport.close()

    async def send(self, head: bytes, content, timeout: float) -> None:
        """Write the request; the read timeout runs from its end (a long upload is no stall). A
        response that comes before the body is all sent (a 413) ends the sending."""
        if self.closed or self.transport.is_closing():
            raise ServerDisconnected("server disconnected")
        self._begin(timeout)
        if isinstance(content, (bytes, bytearray, memoryview)):
            self.transport.write(head + bytes(content))
        else:
            self.transport.write(head)
            chunked = b"\r\ntransfer-encoding: chunked\r\n" in head.lower()
            async for chunk in content:
                if self.head.done():
                    self.closed = True  # the rest of the body is unsent: this connection ends here
                    return
                if self.closed:
                    raise ServerDisconnected("server disconnected while the request was sent")
                if chunk:
                    self.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                if self._writable is not None:
                    await self._writable
            if chunked:
                self.transport.write(b"0\r\n\r\n")
        self._read_at = self.loop.time()
        if timeout is not None and not self.complete:
            self._timer = self.loop.call_later(timeout, self._check_timeout)

    def release(self) -> None:
        """Back to the pool when the exchange is done and the connection can take another; closed
        otherwise (a body left unread, a request cut short)."""
        self._stop_timer()
        if self.complete and not self.closed and not self.transport.is_closing():
            self.idle_since = self.loop.time()
            self.client._idle.setdefault(self.key, []).append(self)
        else:
            self.closed = True
            if not self.head.done():
                self.head.cancel()  # nobody waits for it now
            self.transport.close()


def _ssl_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class HTTPClient:
    """POSTs over pooled keep-alive connections, as many open as requests in flight.
    `verify=False` accepts any TLS certificate."""

    def __init__(self, timeout: float, *, verify: bool = True) -> None:
        self.timeout = timeout
        self._verify = verify
        self._idle: dict[tuple, list[_Connection]] = {}
        self._targets: dict[str, tuple] = {}  # url -> (pool key, host header, request target)
        self._ssl: ssl.SSLContext | None = None

    def _target(self, url: str) -> tuple:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"not an http(s) URL: {url!r}")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            target = ((parts.scheme, parts.hostname, port), parts.netloc.rpartition("@")[2], path)
            if len(self._targets) < 1024:  # a node posts to a few URLs: its runners, its orchestrators
                self._targets[url] = target
        return target

    async def _connection(self, key, timeout: float) -> _Connection:
        idle = self._idle.get(key)
        loop = asyncio.get_running_loop()
        while idle:
            conn = idle.pop()
            if conn.loop is loop and not conn.closed and not conn.transport.is_closing() and \
                    loop.time() - conn.idle_since < IDLE_SECONDS:
                return conn
            if conn.loop is loop:
                conn.transport.close()
        scheme, host, port = key
        if scheme == "https" and self._ssl is None:
            self._ssl = _ssl_context(self._verify)
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(
                lambda: _Connection(self, key), host, port, ssl=self._ssl if scheme == "https" else None), timeout)
        except asyncio.TimeoutError:
            raise ConnectError(f"connecting to {host}:{port} timed out after {timeout:g} s") from None
        except OSError as exc:  # refused, unreachable, a TLS handshake that failed
            raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
        return conn

    async def post(self, url: str, content, headers: Mapping[str, str], *, timeout: float | None = None,
                   stream: bool = False) -> Reply | StreamedReply:
        """POST `content` (bytes, or an async iterator of chunks sent with the Content-Length the
        headers give). Raises one of HTTP_ERRORS when no response comes."""
        timeout = self.timeout if timeout is None else timeout
        key, host, path = self._target(url)
        lines = [f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"]
        named = set()
        for name, value in headers.items():
            if "\r" in name or "\n" in name or "\r" in str(value) or "\n" in str(value):
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}\r\n")
            named.add(name.lower())
        if isinstance(content, (bytes, bytearray, memoryview)):
            if "content-length" not in named:
                lines.append(f"Content-Length: {len(content)}\r\n")
        elif content is None:
            lines.append("Content-Length: 0\r\n")
            content = b""
        elif "content-length" not in named:
            lines.append("Transfer-Encoding: chunked\r\n")
        head = ("".join(lines) + "\r\n").encode("latin-1")
        conn = None
        try:
            conn = await self._connection(key, timeout)
            await conn.send(head, content, timeout)
            status, reply_headers = await conn.head
            if stream:
                streamed, conn = StreamedReply(conn, status, reply_headers), None  # released by aclose()
                return streamed
            body = await conn.body.read()
            return Reply(status, reply_headers, body)
        finally:
            if conn is not None:
                if not conn.complete:
                    conn.closed = True
                conn.release()

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.transport.close()
        self._idle.clear()
