"""The trickle server (go-livepeer trickle/trickle_server.go) as a plain ASGI app.

Channels hold a ring of 5 segments (slot = seq mod 5). A publisher POSTs a segment body; readers
GETting that segment receive each chunk as it arrives (nothing waits for a whole segment) and EOF
when the segment closes. Mount it under a base path, e.g. `app.mount("/ai/trickle", server)`, or
serve it alone. Routes, relative to the base path:

    POST   /{ch}          create (only with autocreate; channels are otherwise made locally)
    POST   /{ch}/{seq}    publish (seq -1 = the next write index); header Lp-Trickle-Reset
    GET    /{ch}/{seq}    subscribe (-1 = next write, -2 = current); 470 outside the window
    GET    /{ch}/next     the next write index (Lp-Trickle-Latest)
    DELETE /{ch}/{seq}    close one segment
    DELETE /{ch}          close and delete the channel

Not carried over from go: the 100 Continue keep-alive sent while a preconnected POST waits for its
first byte (ASGI servers cannot send informational responses; nothing here times the wait out, so
none is needed), and the optional `_changes` changefeed (off by default in go).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from . import headers as H

log = logging.getLogger("lpnode.trickle")

RING_SIZE = 5  # maxSegmentsPerStream
IDLE_TIMEOUT = 300.0  # seconds without a new segment before the sweep closes a channel
SWEEP_INTERVAL = 60.0


class Segment:
    """One segment's bytes, appended by its publisher and read by any number of subscribers."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.chunks: list[bytes] = []
        self.closed = False
        self._changed = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.chunks.append(data)
        self._wake()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._wake()

    @property
    def fresh(self) -> bool:
        """Not yet written to (a preconnected segment)."""
        return not self.closed and not self.chunks

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def read(self, pos: int) -> tuple[list[bytes], bool]:
        """Chunks from index `pos` on (waiting for at least one or the close), and whether closed."""
        while pos >= len(self.chunks) and not self.closed:
            await self._changed.wait()
        return self.chunks[pos:], self.closed

    async def wait_closed(self) -> None:
        while not self.closed:
            await self._changed.wait()


class Channel:
    def __init__(self, name: str, mime: str, now: float) -> None:
        self.name = name
        self.mime = mime
        self.segments: list[Segment | None] = [None] * RING_SIZE
        self.next_write = 0
        self.write_time = now
        self.closed = False

    def _slot(self, seq: int) -> Segment | None:
        seg = self.segments[seq % RING_SIZE]
        return seg if seg is not None and seg.seq == seq else None

    def for_write(self, seq: int) -> Segment:
        if seq == H.SEQ_NEXT:
            seq = self.next_write
        seg = self._slot(seq)
        if seg is None or seg.closed:
            # the slot is empty, holds an older segment (closed and replaced), or this seq already
            # completed: a POST after completion starts it afresh rather than being dropped
            if (old := self.segments[seq % RING_SIZE]) is not None:
                old.close()
            seg = self.segments[seq % RING_SIZE] = Segment(seq)
        return seg  # re-POSTing a seq still open appends to its buffer; its readers carry on

    def for_read(self, seq: int) -> tuple[int, Segment | None]:
        if seq == H.SEQ_NEXT:
            seq = self.next_write
        elif seq == H.SEQ_CURRENT:
            seq = max(self.next_write - 1, 0)
        seg = self._slot(seq)
        if seg is None and not self.closed and (seq == self.next_write or (self.next_write == 0 and seq == 1)):
            # just ahead of the write head: precreate it, the reader waits for its first byte
            if (old := self.segments[seq % RING_SIZE]) is not None:
                old.close()
            seg = self.segments[seq % RING_SIZE] = Segment(seq)
        return seq, seg

    def reset_before(self, seq: int) -> None:
        for seg in self.segments:
            if seg is not None and seg.seq < seq:
                seg.close()

    def close(self) -> None:
        for seg in self.segments:
            if seg is not None:
                seg.close()
        self.segments = [None] * RING_SIZE
        self.closed = True


class TrickleServer:
    """In-memory trickle channels behind an ASGI app. `clock` defaults to the running loop's time."""

    def __init__(self, *, autocreate: bool = False, idle_timeout: float = IDLE_TIMEOUT,
                 sweep_interval: float = SWEEP_INTERVAL, clock: Callable[[], float] | None = None) -> None:
        self.autocreate = autocreate
        self.idle_timeout = idle_timeout
        self.sweep_interval = sweep_interval
        self._clock = clock
        self.channels: dict[str, Channel] = {}
        self._sweeper: asyncio.Task | None = None

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    # local API (the orchestrator creates its channels itself)
    def create_channel(self, name: str, mime: str = "") -> Channel:
        if (ch := self.channels.get(name)) is None:
            ch = self.channels[name] = Channel(name, mime, self._now())
            log.info("trickle channel created: %s", name)
        return ch

    def close_channel(self, name: str) -> bool:
        ch = self.channels.pop(name, None)
        if ch is None:
            return False
        ch.close()
        log.info("trickle channel closed: %s", name)
        return True

    def sweep(self) -> list[str]:
        """Close channels with no new segment for idle_timeout ("_" names exempt); their names."""
        now = self._now()
        idle = [n for n, ch in self.channels.items()
                if not n.startswith("_") and now - ch.write_time > self.idle_timeout]
        for name in idle:
            self.close_channel(name)
        return idle

    def start(self) -> asyncio.Task:
        """Start the idle sweep on the running loop."""
        async def sweeper():
            while True:
                await asyncio.sleep(self.sweep_interval)
                self.sweep()
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(sweeper())
        return self._sweeper

    async def stop(self) -> None:
        """Stop the sweep and close every channel (readers get EOF)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for name in list(self.channels):
            self.close_channel(name)

    # ASGI
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):  # mounted: route on the part below the mount point
            path = path[len(root):]
        parts = [p for p in path.split("/") if p]
        method = scope["method"]
        hdrs = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if len(parts) == 1 and method == "POST":
            await self._create(parts[0], hdrs, send)
        elif len(parts) == 1 and method == "DELETE":
            if self.close_channel(parts[0]):
                await _respond(send, 200)
            else:
                await _respond(send, 400, b"Invalid stream")
        elif len(parts) == 2 and method == "POST":
            await self._post(parts[0], parts[1], hdrs, receive, send)
        elif len(parts) == 2 and method == "GET":
            await self._get(parts[0], parts[1], receive, send)
        elif len(parts) == 2 and method == "DELETE":
            await self._close_segment(parts[0], parts[1], send)
        elif len(parts) in (1, 2):
            await _respond(send, 405, b"Method Not Allowed")
        else:
            await _respond(send, 404, b"404 page not found")

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _create(self, name: str, hdrs: dict, send) -> None:
        if name not in self.channels and not self.autocreate:
            await _respond(send, 404, b"Stream not found")
            return
        self.create_channel(name, hdrs.get(H.EXPECT_CONTENT.lower(), ""))
        await _respond(send, 200)

    async def _post(self, name: str, idx: str, hdrs: dict, receive, send) -> None:
        ch = self.channels.get(name)
        if ch is None and self.autocreate:
            ch = self.create_channel(name, hdrs.get("content-type", ""))
        if ch is None:
            await _respond(send, 404, b"Stream not found", [("Connection", "close")])
            return
        seq = _parse_seq(idx)
        if seq is None or seq == H.SEQ_CURRENT:  # a publisher writes a new index or the next one
            await _respond(send, 400, b"Invalid idx")
            return
        seg = ch.for_write(seq)
        if H.RESET.lower() in hdrs:  # unblock readers stuck on older segments
            ch.reset_before(seg.seq)
        try:
            message, total = await self._receive_segment(ch, seg, receive)
        finally:
            seg.close()  # also when the body breaks off or a body limit stops it: no reader waits for ever
        if message is not None and message["type"] == "http.disconnect":
            if total == 0:
                ch.next_write = max(ch.next_write, seg.seq + 1)
            return
        hs = [(H.SEQ, str(seg.seq))]
        if total == 0:
            # nothing was written (the segment was closed under a preconnected POST, or the body was
            # empty): the next index stays valid for the client, and it learns if the channel closed
            ch.next_write = max(ch.next_write, seg.seq + 1)
            ch.write_time = self._now()
            hs += [("Connection", "close")] + ([(H.CLOSED, "terminated")] if ch.closed else [])
        await _respond(send, 200, b"", hs)

    async def _receive_segment(self, ch: Channel, seg: Segment, receive) -> tuple[dict | None, int]:
        """Copy a POST body into `seg` as it arrives; the last message (None: the segment was closed
        before the first byte) and the bytes received."""
        total = 0
        while True:
            if total == 0:  # a preconnected POST also ends when its segment is closed under it
                message = await _first(receive(), seg.wait_closed())
                if message is None:
                    return None, 0
            else:
                message = await receive()
            if message["type"] == "http.disconnect":  # the publisher vanished: readers get EOF
                log.info("trickle publisher of %s/%d went away after %d bytes", ch.name, seg.seq, total)
                return message, total
            body = message.get("body", b"")
            if body:
                if total == 0:
                    ch.next_write = seg.seq + 1
                    ch.write_time = self._now()
                seg.write(body)
                total += len(body)
            if not message.get("more_body", False):
                return message, total

    async def _get(self, name: str, idx: str, receive, send) -> None:
        ch = self.channels.get(name)
        if ch is None:
            await _respond(send, 404, b"Stream not found")
            return
        if idx == "next":
            extra = [(H.CLOSED, "terminated")] if ch.closed else []
            await _respond(send, 200, str(ch.next_write).encode(), [(H.LATEST, str(ch.next_write))] + extra)
            return
        seq = _parse_seq(idx)
        if seq is None:
            await _respond(send, 400, b"Invalid idx")
            return
        seq, seg = ch.for_read(seq)
        latest = ch.next_write
        if seg is None:
            status, extra = (200, [(H.CLOSED, "terminated")]) if ch.closed else (H.STATUS_SEQ_NONEXISTENT, [])
            await _respond(send, status, b"Entry not found", [(H.LATEST, str(latest)), (H.SEQ, str(seq))] + extra)
            return
        disconnected = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            pos, started = 0, False
            while not disconnected.done():  # (a reader that leaves mid-segment is not fed on)
                if pos < len(seg.chunks) or seg.closed:
                    chunks, eof = seg.chunks[pos:], seg.closed
                else:
                    got = await _first(seg.read(pos), disconnected)
                    if got is None:
                        return  # the reader went away
                    chunks, eof = got
                data = b"".join(chunks)
                pos += len(chunks)
                if data:
                    if not started:
                        hs = [(H.SEQ, str(seg.seq)), ("Content-Type", ch.mime)]
                        if seg.seq != latest:
                            hs.append((H.LATEST, str(latest)))
                        await _start(send, 200, hs)
                        started = True
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                if eof:
                    break
            if disconnected.done():
                return
            if started:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif ch.closed:  # an empty segment of a closed channel: end of stream
                await _respond(send, 200, b"", [(H.SEQ, str(seg.seq)), (H.CLOSED, "terminated")])
            else:  # cancelled or fell out of the window: send the live edge so slow readers catch up
                await _respond(send, H.STATUS_SEQ_NONEXISTENT, b"",
                               [(H.SEQ, str(seg.seq)), (H.LATEST, str(ch.next_write))])
        finally:
            disconnected.cancel()

    async def _close_segment(self, name: str, idx: str, send) -> None:
        ch = self.channels.get(name)
        if ch is None:
            await _respond(send, 404, b"Stream not found")
            return
        seq = _parse_seq(idx)
        if seq is None:
            await _respond(send, 400, b"Invalid idx")
            return
        seg = ch._slot(seq) if seq >= 0 else None
        if seg is None:
            await _respond(send, 400, b"Nonexistent segment")
            return
        if seg.fresh:  # cancelled before its first byte: the publisher moves on to the next index
            ch.next_write = max(ch.next_write, seq + 1)
        seg.close()
        await _respond(send, 200)


def _parse_seq(text: str) -> int | None:
    try:
        seq = int(text)
    except ValueError:
        return None
    return seq if seq >= -2 else None


async def _wait_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _first(awaitable, other):
    """The result of `awaitable`, or None if `other` finishes first. `other` is a coroutine (ours to
    cancel) or a shared future (left running)."""
    task = asyncio.ensure_future(awaitable)
    owned = asyncio.iscoroutine(other)
    other = asyncio.ensure_future(other)
    try:
        await asyncio.wait({task, other}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if owned:
            other.cancel()
        if not task.done():
            task.cancel()
    return task.result() if task.done() and not task.cancelled() else None


async def _start(send, status: int, hs: list[tuple[str, str]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in hs]})


async def _respond(send, status: int, body: bytes = b"", hs: list[tuple[str, str]] | None = None) -> None:
    hs = list(hs or [])
    if body and not any(k.lower() == "content-type" for k, _ in hs):
        hs.append(("Content-Type", "text/plain; charset=utf-8"))
    await _start(send, status, hs + [("Content-Length", str(len(body)))])
    await send({"type": "http.response.body", "body": body, "more_body": False})
