"""The HTTP client of the paid request path: gateway → orchestrator (/segment, the AI routes) and
orchestrator → AI runner, on aiohttp's keep-alive connection pool.

httpx costs about 0.8 ms of CPU a request here against aiohttp's 0.2 ms (benchmarks/bench_node.py
--clients measures both against the same runner), and both hops are on every paid request, so
the node's own hops use this client; everything else (downloads, live set-up) keeps httpx.

The session is made on first use, inside the running loop (aiohttp binds it to that loop).
A buffered reply is read whole (`Reply`); `stream=True` hands back a `StreamedReply` to read as
lines (an LLM's server-sent events) and close. Transport failures raise `HTTP_ERRORS`.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping

import aiohttp

# what a failed exchange raises: aiohttp's errors and its timeouts
HTTP_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


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
    """A response whose body is read as it comes: `aiter_lines()`, or `aread()` for the rest."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code = response.status
        self.headers = response.headers
        self.content = b""

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    async def aiter_lines(self) -> AsyncIterator[str]:
        async for line in self._response.content:
            yield line.decode(errors="replace").rstrip("\r\n")

    async def aread(self) -> bytes:
        self.content = await self._response.read()
        return self.content

    async def aclose(self) -> None:
        self._response.release()


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    """httpx's meaning of a timeout: for connecting and for each read, not for the whole exchange
    (an LLM's stream may run for minutes)."""
    return aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds)


class HTTPClient:
    """POSTs over pooled keep-alive connections. `verify=False` accepts any TLS certificate (go's
    gateway to an orchestrator: InsecureSkipVerify)."""

    def __init__(self, timeout: float, *, verify: bool = True, limit: int = 0) -> None:
        self.timeout = timeout
        self._ssl = None if verify else False
        self._limit = limit  # connections per host and in all; 0: as many as requests in flight
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl)
            # no cookie jar, no proxy from the environment: a node talks to the URL it was given
            self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                                  timeout=_timeout(self.timeout))
        return self._session

    async def post(self, url: str, content, headers: Mapping[str, str], *, timeout: float | None = None,
                   stream: bool = False) -> Reply | StreamedReply:
        """POST `content` (bytes, or an async iterator of chunks sent with the Content-Length the
        headers give). Raises one of HTTP_ERRORS when no response comes."""
        options = {} if timeout is None else {"timeout": _timeout(timeout)}
        # no redirect is followed (httpx did not either): the answer is from the node the URL names
        response = await self._open().post(url, data=content, headers=headers, allow_redirects=False, **options)
        if stream:
            return StreamedReply(response)
        try:
            body = await response.read()
        finally:
            response.release()
        return Reply(response.status, response.headers, body)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
