"""Limits every listening surface applies before it trusts a request: body sizes checked before
anything is buffered, JSON nesting bounded before it is parsed (node/eth also puts back the
recursion limit that the chain stack raises), and no exception answered with a traceback.

Why the depth bound matters here: py_ecc (loaded with the EVM) raises the recursion limit to
100,000 at import, so `json.loads` of a few hundred KB of `[` overflows the C stack (SIGSEGV)
instead of raising RecursionError. The scan below refuses such input without recursing at all.

`BodyLimit` is pure ASGI: it answers 413 from Content-Length before reading a byte, and counts a
chunked body as it streams, so an oversize upload is never held in memory.
"""
from __future__ import annotations

import json
import re
from typing import Callable

MAX_JSON_DEPTH = 128  # far past any request body of the Livepeer APIs (an llm chat is ~5 deep)
MAX_JSON_BODY = 10 * 1024 * 1024  # a JSON request is held whole to check its depth
MAX_UPLOAD = 50 * 1024 * 1024  # ai-runner's file limit: gateway, orchestrator and runner refuse more
MULTIPART_OVERHEAD = 1024 * 1024  # the form's other fields around a file of MAX_UPLOAD
MAX_SEGMENT_BYTES = 5 * 60 * 8_000_000 // 8  # go's segment read limit: 5 min at 8 Mbps (300 MB)
MAX_SMALL_BODY = 1024 * 1024  # any other route

_ESCAPE = re.compile(rb"\\.", re.S)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


class JSONTooDeep(ValueError):
    pass


def json_depth_ok(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """True when no array/object in `data` nests deeper than `max_depth` (brackets inside strings
    do not count). Linear, in C: escapes and strings are cut out, the brackets' running depth is
    a cumulative sum."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if data.count(b"[") + data.count(b"{") <= max_depth:  # the usual case
        return True
    import numpy as np

    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", data)).translate(None, _NOT_BRACKET)
    steps = np.zeros(256, dtype=np.int32)
    steps[[ord("["), ord("{")]], steps[[ord("]"), ord("}")]] = 1, -1
    depth = 0
    for start in range(0, len(brackets), 1 << 20):  # 1 MiB at a time: memory stays small
        running = np.cumsum(steps[np.frombuffer(brackets, np.uint8, min(1 << 20, len(brackets) - start), start)])
        if depth + int(running.max()) > max_depth:
            return False
        depth += int(running[-1])
    return True


def loads(data: bytes | str, max_depth: int = MAX_JSON_DEPTH):
    """json.loads that refuses nesting deeper than `max_depth` (JSONTooDeep, a ValueError)."""
    if not json_depth_ok(data, max_depth):
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels")
    return json.loads(data)


# ---------------------------------------------------------------------------------------------
# ASGI middleware

ErrorBody = Callable[[int, str], tuple[bytes, str]]  # (status, message) -> (body, content type)


def json_error(status: int, message: str) -> tuple[bytes, str]:
    """go-livepeer's AI error body."""
    return json.dumps({"error": {"message": message}}).encode(), "application/json"


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Wraps an ASGI app: a request whose body exceeds `limit(path)` bytes gets 413 (from its
    Content-Length at once, or as soon as a streamed body passes the limit); a JSON body nested
    deeper than MAX_JSON_DEPTH gets 400. `error(status, message)` shapes the reply as the surface's
    clients expect it. Paths under a `streamed` prefix (trickle channels, whose JSON bodies are
    streams of messages that readers receive as they arrive) are only counted, never read whole."""

    def __init__(self, app, limit: Callable[[str], int], error: ErrorBody = json_error,
                 too_large: str = "request body too large", streamed: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.error = error
        self.too_large = too_large
        self.streamed = streamed

    async def _reply(self, send, status: int, message: str) -> None:
        body, content_type = self.error(status, message)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope["path"])
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        try:
            declared = int(length) if length else None
        except ValueError:
            return await self._reply(send, 400, "invalid Content-Length")
        if declared is not None and declared > limit:
            return await self._reply(send, 413, self.too_large)
        if b"json" in headers.get(b"content-type", b"") and not scope["path"].startswith(self.streamed):
            return await self._json(scope, receive, send, limit)
        received = 0

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        started = False

        async def tracked_send(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked_send)
        except _TooLarge:
            if not started:
                await self._reply(send, 413, self.too_large)

    async def _json(self, scope, receive, send, limit: int) -> None:
        """Read the (bounded) JSON body, check its depth, then replay it to the app."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > min(limit, MAX_JSON_BODY):
                return await self._reply(send, 413, self.too_large)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if not json_depth_ok(body):
            return await self._reply(send, 400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def limit_by_prefix(default: int, **prefixes: int) -> Callable[[str], int]:
    """A `limit(path)` from path prefixes (longest first), e.g. limit_by_prefix(1 << 20, segment=...)."""
    table = sorted(((f"/{p}", n) for p, n in prefixes.items()), key=lambda t: -len(t[0]))

    def limit(path: str) -> int:
        for prefix, n in table:
            if path.startswith(prefix):
                return n
        return default

    return limit


def guard_app(app, limit: Callable[[str], int], error: ErrorBody = json_error, *,
              too_large: str = "request body too large", unavailable: tuple[type[BaseException], ...] = (),
              streamed: tuple[str, ...] = ()) -> None:
    """Put a FastAPI app behind BodyLimit, answer `unavailable` exceptions (a dead or frozen chain)
    with 503 and their message, and any other escaped exception with a bare 500: the traceback
    goes to the log, never into a response."""
    import logging

    from fastapi.responses import Response

    log = logging.getLogger("lpnode.http")
    app.add_middleware(BodyLimit, limit=limit, error=error, too_large=too_large, streamed=streamed)

    def reply(status: int, message: str) -> Response:
        body, content_type = error(status, message)
        return Response(body, status_code=status, media_type=content_type)

    async def on_unavailable(request, exc):
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return reply(503, str(exc))

    async def on_error(request, exc):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return reply(500, "Internal Server Error")

    for cls in unavailable:
        app.add_exception_handler(cls, on_unavailable)
    app.add_exception_handler(Exception, on_error)
