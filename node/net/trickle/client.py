"""Trickle publisher and subscriber (go-livepeer trickle_publisher.go, trickle_subscriber.go) over
httpx with streaming bodies both ways.

    pub = TricklePublisher("https://o:8935/ai/trickle/abc", "video/MP2T")  # preconnects POST .../0
    async with pub.next() as seg:        # takes the preconnected POST, preconnects the next index
        await seg.write(chunk)           # each chunk reaches readers as it is written
    await pub.write(b"..." or async_iterable)
    await pub.close()                    # DELETE the channel

    sub = TrickleSubscriber(url, start_seq=-1)   # -1: the next segment written; -2: the current one
    seg = await sub.next_segment()       # raises EndOfStream, StreamNotFound, SequenceNonexistent
    async for chunk in seg: ...          # the following GET is already preconnected

Both must be made inside a running event loop (they preconnect at once). Unlike go, whose Read()
returns each failed GET and fails for good after more than 5 in a row, the subscriber retries a
failed GET itself (every RETRY_DELAY) and raises MaxPreconnects on the 6th consecutive failure. TLS certificates are not
verified unless `verify=True` (go's InsecureSkipVerify, used between orchestrator and runner; the
orchestrator's certificate is self-signed).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator
from typing import Self

import httpx

from . import headers as H
from .errors import EndOfStream, MaxPreconnects, SequenceNonexistent, StreamNotFound, TrickleError, TrickleHTTPError

log = logging.getLogger("lpnode.trickle")

HEADER_TIMEOUT = 20.0  # a GET with no response headers by then is re-issued (preconnect refresh)
MAX_PRECONNECT_ERRORS = 5  # more consecutive failed GETs than this are fatal
RETRY_DELAY = 0.25  # seconds between failed GETs
WRITE_QUEUE = 8  # chunks buffered between a writer and its POST body before write() waits


def make_client(verify: bool = False) -> httpx.AsyncClient:
    """An HTTP/1.1 client for trickle: no read/write timeout (a GET waits for the live edge, a POST
    body streams for as long as the segment lasts), idle connections dropped after 1 min as in go."""
    return httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(10.0, read=None, write=None, pool=None),
                             limits=httpx.Limits(max_connections=None, keepalive_expiry=60.0))


async def _error_for(resp: httpx.Response, url: str, seq: int) -> TrickleError | None:
    """The typed error a response stands for, or None for a segment to read. Closes errored responses."""
    error: TrickleError | None = None
    if H.CLOSED in resp.headers:  # checked first, as go's IsEOS
        error = EndOfStream(url)
    elif resp.status_code == 404:
        error = StreamNotFound(url)
    elif resp.status_code == H.STATUS_SEQ_NONEXISTENT:
        error = SequenceNonexistent(int(resp.headers.get(H.SEQ, seq)), int(resp.headers.get(H.LATEST, -1)))
    elif resp.status_code >= 400:
        body = (await resp.aread()).decode("utf-8", "replace")
        error = TrickleHTTPError(resp.status_code, body, url)
    if error is not None:
        await resp.aclose()
    return error


class _PendingPost:
    """A POST whose body is a pipe: started at once (preconnect), fed later by a SegmentWriter."""

    def __init__(self, client: httpx.AsyncClient, url: str, seq: int, mime: str) -> None:
        self.seq = seq
        self.url = f"{url}/{seq}"
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(WRITE_QUEUE)
        headers = {"Content-Type": mime} if mime else {}
        self.task = asyncio.ensure_future(client.post(self.url, content=self._body(), headers=headers))

    async def _body(self) -> AsyncIterator[bytes]:
        while (chunk := await self.queue.get()) is not None:
            yield chunk

    async def cancel(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


class SegmentWriter:
    """One segment being published: write() streams chunks, close() ends it and waits for the status."""

    def __init__(self, publisher: TricklePublisher, post: _PendingPost) -> None:
        self._pub = publisher
        self._post = post
        self.seq = post.seq
        self.written = 0
        self._checked = False

    async def _ready(self) -> None:
        """Before the first byte: if the server already answered the preconnected POST (channel
        gone, or the segment closed under it), raise its error or reconnect to the same index."""
        if self._checked:
            return
        self._checked = True
        post = self._post
        if not post.task.done():
            return
        resp = None
        with contextlib.suppress(httpx.HTTPError):
            resp = post.task.result()
        if resp is not None and (error := await _error_for(resp, self._pub.url, post.seq)) is not None:
            raise error
        self._post = _PendingPost(self._pub.client, self._pub.url, post.seq, self._pub.mime)

    async def write(self, data: bytes) -> None:
        if not data:
            return
        await self._ready()
        put = asyncio.ensure_future(self._post.queue.put(bytes(data)))
        await asyncio.wait({put, self._post.task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():  # the POST ended before taking the data
            put.cancel()
            await self._result()
            raise TrickleError(f"segment {self.seq} ended by the server before all data was written")
        self.written += len(data)

    async def close(self) -> int:
        """End the body; the server's sequence number for this segment."""
        await self._ready()
        if not self._post.task.done():
            await self._post.queue.put(None)
        resp = await self._result()
        return int(resp.headers.get(H.SEQ, self.seq))

    async def reconnect(self) -> None:
        """Drop this segment's POST and start a fresh one to the same index (go's pendingPost
        written twice), e.g. to retry a segment that failed before any byte got through."""
        old = self._post
        self._post = _PendingPost(self._pub.client, self._pub.url, self.seq, self._pub.mime)
        self._checked, self.written = True, 0
        await old.cancel()

    async def abort(self) -> None:
        """Give this segment up: DELETE it on the server (its readers get EOF) and drop the POST."""
        with contextlib.suppress(httpx.HTTPError):
            await self._pub.client.delete(self._post.url)
        await self._post.cancel()

    async def _result(self) -> httpx.Response:
        try:
            resp = await self._post.task
        except httpx.HTTPError as e:
            raise TrickleError(f"POST {self._post.url} failed: {e!r}") from e
        if (error := await _error_for(resp, self._pub.url, self.seq)) is not None:
            raise error
        return resp

    async def __aenter__(self) -> Self:
        await self._ready()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.abort()


class TricklePublisher:
    def __init__(self, url: str, mime: str = "", *, start_seq: int = 0, client: httpx.AsyncClient | None = None,
                 verify: bool = False) -> None:
        self.url = url.rstrip("/")
        self.mime = mime
        self.client = client or make_client(verify)
        self._own_client = client is None
        self.seq = start_seq
        self._pending: _PendingPost | None = _PendingPost(self.client, self.url, self.seq, mime)

    def next(self) -> SegmentWriter:
        """The preconnected POST for the next segment; the one after it is preconnected at once."""
        post = self._pending or _PendingPost(self.client, self.url, self.seq, self.mime)
        self.seq = post.seq + 1
        self._pending = _PendingPost(self.client, self.url, self.seq, self.mime)
        return SegmentWriter(self, post)

    async def write(self, data: bytes | AsyncIterable[bytes]) -> int:
        """Publish one segment from bytes or chunks; the server's sequence number."""
        seg = self.next()
        try:
            if isinstance(data, (bytes, bytearray, memoryview)):
                await seg.write(bytes(data))
            else:
                async for chunk in data:
                    await seg.write(chunk)
        except BaseException:
            await seg.abort()
            raise
        return await seg.close()

    async def close(self) -> None:
        """DELETE the channel and drop the preconnected POST."""
        try:
            resp = await self.client.delete(self.url)
            if resp.status_code != 200:
                log.info("trickle DELETE %s: %d %s", self.url, resp.status_code, resp.text.strip())
        except httpx.HTTPError as e:
            log.info("trickle DELETE %s failed: %r", self.url, e)
        finally:
            if self._pending is not None:
                await self._pending.cancel()
                self._pending = None
            if self._own_client:
                await self.client.aclose()


class SegmentReader:
    """One segment being read: iterate for chunks as the publisher sends them, or read() it all."""

    def __init__(self, resp: httpx.Response, seq: int, latest: int | None, url: str) -> None:
        self._resp = resp
        self.seq = seq
        self.latest = latest
        self.mime = resp.headers.get("content-type", "")
        self._url = url

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.aiter_raw():
                yield chunk
        except httpx.HTTPError as e:
            raise TrickleError(f"segment {self.seq} of {self._url} broke off: {e!r}") from e
        finally:
            await self._resp.aclose()

    async def read(self, limit: int | None = None) -> bytes | None:
        """The whole segment; with `limit`, None once it passes that many bytes (the rest unread,
        the segment closed), so an oversize message is never held in full."""
        if limit is None:
            return b"".join([chunk async for chunk in self])
        body = b""
        async for chunk in self:
            body += chunk
            if len(body) > limit:
                await self.aclose()
                return None
        return body

    async def aclose(self) -> None:
        await self._resp.aclose()


class TrickleSubscriber:
    def __init__(self, url: str, start_seq: int = H.SEQ_NEXT, *, client: httpx.AsyncClient | None = None,
                 verify: bool = False, header_timeout: float = HEADER_TIMEOUT,
                 max_preconnect_errors: int = MAX_PRECONNECT_ERRORS, retry_delay: float = RETRY_DELAY) -> None:
        self.url = url.rstrip("/")
        self.client = client or make_client(verify)
        self._own_client = client is None
        self.seq = start_seq
        self.header_timeout = header_timeout
        self.max_preconnect_errors = max_preconnect_errors
        self.retry_delay = retry_delay
        self._errors = 0
        self._pending: asyncio.Task | None = None

    def _preconnect(self, seq: int) -> asyncio.Task:
        return asyncio.ensure_future(self._connect(seq))

    async def _connect(self, seq: int) -> httpx.Response:
        while True:
            request = self.client.build_request("GET", f"{self.url}/{seq}")
            try:
                resp = await asyncio.wait_for(self.client.send(request, stream=True), self.header_timeout)
            except TimeoutError:
                continue  # nothing yet: re-issue the GET so a dead connection is not waited on for ever
            except httpx.HTTPError as e:
                self._errors += 1
                if self._errors > self.max_preconnect_errors:
                    raise MaxPreconnects(f"Hit max preconnects on {self.url}: {e!r}") from e
                await asyncio.sleep(self.retry_delay)
                continue
            self._errors = 0
            return resp

    async def next_segment(self) -> SegmentReader:
        """The next segment, its body streaming; raises EndOfStream once the channel is closed."""
        task, self._pending = self._pending or self._preconnect(self.seq), None
        resp = await task
        if (error := await _error_for(resp, self.url, self.seq)) is not None:
            raise error
        seq = int(resp.headers.get(H.SEQ, self.seq))
        latest = resp.headers.get(H.LATEST)
        self.seq = seq + 1
        self._pending = self._preconnect(self.seq)
        return SegmentReader(resp, seq, int(latest) if latest is not None else None, self.url)

    async def set_seq(self, seq: int) -> None:
        """Read from `seq` next (e.g. SequenceNonexistent.latest); drops the preconnected GET."""
        await self._drop_pending()
        self.seq = seq
        self._errors = 0

    async def _drop_pending(self) -> None:
        task, self._pending = self._pending, None
        if task is None:
            return
        task.cancel()
        try:
            resp = await task
        except (asyncio.CancelledError, httpx.HTTPError, TrickleError):
            return
        await resp.aclose()

    async def close(self) -> None:
        await self._drop_pending()
        if self._own_client:
            await self.client.aclose()

    async def __aiter__(self) -> AsyncIterator[SegmentReader]:
        """Segments until the end of the stream. A segment that is gone or was cancelled empty (470)
        skips to the live edge, as go's and ai-runner's subscribers do, rather than ending the stream."""
        while True:
            try:
                yield await self.next_segment()
            except EndOfStream:
                return
            except SequenceNonexistent as gone:
                await self.set_seq(gone.latest)
