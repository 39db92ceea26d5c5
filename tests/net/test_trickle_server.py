"""The trickle server against each row of spec node.md §5 (go-livepeer trickle_server.go), over a
real socket with plain HTTP requests."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from node.net.trickle import TrickleServer
from node.net.trickle.server import RING_SIZE
from tests.net.trickle_serving import eventually, run, served

MIME = "video/MP2T"


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None))


async def stream_get(c: httpx.AsyncClient, url: str):
    """Start a streaming GET in the background; a task yielding the response once headers arrive."""
    return asyncio.ensure_future(c.send(c.build_request("GET", url), stream=True))


class Pipe:
    """A POST body fed chunk by chunk."""

    def __init__(self) -> None:
        self.q: asyncio.Queue = asyncio.Queue()

    async def body(self):
        while (chunk := await self.q.get()) is not None:
            yield chunk


def test_unknown_channel_is_404_on_every_route():
    async def scenario():
        ts = TrickleServer()
        async with served(ts, ts) as base, client() as c:
            for method, path in [("GET", "/x/0"), ("POST", "/x/0"), ("DELETE", "/x/0"), ("POST", "/x")]:
                r = await c.request(method, base + path, content=b"data" if method == "POST" else None)
                assert (r.status_code, r.text) == (404, "Stream not found"), (method, path)
            r = await c.post(base + "/x/0", content=b"data")
            assert r.headers["connection"] == "close"
            r = await c.delete(base + "/x")
            assert (r.status_code, r.text) == (400, "Invalid stream")
    run(scenario())


def test_create_with_autocreate_and_mime_from_expect_content():
    async def scenario():
        ts = TrickleServer(autocreate=True)
        async with served(ts, ts) as base, client() as c:
            assert (await c.post(base + "/a", headers={"Expect-Content": "application/json"})).status_code == 200
            assert (await c.post(base + "/a/0", content=b"{}")).status_code == 200
            r = await c.get(base + "/a/0")
            assert r.headers["content-type"] == "application/json" and r.content == b"{}"
            # autocreate on publish takes the mime from Content-Type
            await c.post(base + "/b/0", content=b"ts", headers={"Content-Type": MIME})
            assert (await c.get(base + "/b/0")).headers["content-type"] == MIME
    run(scenario())


def test_publish_then_read_headers():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            r = await c.post(base + "/s/0", content=b"seg0")
            assert r.status_code == 200 and r.headers["lp-trickle-seq"] == "0"
            r = await c.get(base + "/s/0")
            assert r.status_code == 200 and r.content == b"seg0"
            assert r.headers["lp-trickle-seq"] == "0" and r.headers["content-type"] == MIME
            assert r.headers["lp-trickle-latest"] == "1"  # sent when seq != the next write index
            r = await c.get(base + "/s/next")
            assert r.text == "1" and r.headers["lp-trickle-latest"] == "1" and "lp-trickle-closed" not in r.headers
    run(scenario())


def test_invalid_seq_is_400():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            for method in ("GET", "POST", "DELETE"):
                r = await c.request(method, base + "/s/abc")
                assert (r.status_code, r.text) == (400, "Invalid idx"), method
            for method, seq in (("GET", -3), ("POST", -2), ("POST", -7), ("DELETE", -1)):
                r = await c.request(method, base + f"/s/{seq}", content=b"x" if method == "POST" else None)
                assert r.status_code == 400, (method, seq)
            r = await c.delete(base + "/s/3")
            assert (r.status_code, r.text) == (400, "Nonexistent segment")
            assert ts.channels["s"].segments == [None] * RING_SIZE  # nothing was made
    run(scenario())


def test_preconnected_get_blocks_until_data():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            first = await stream_get(c, base + "/s/0")
            second = await stream_get(c, base + "/s/1")  # nextWrite 0 and seq 1: also precreated
            await asyncio.sleep(0.3)
            assert not first.done() and not second.done()
            await c.post(base + "/s/0", content=b"zero")
            r = await first
            assert r.headers["lp-trickle-seq"] == "0" and await r.aread() == b"zero"
            await c.post(base + "/s/1", content=b"one")
            r = await second
            assert await r.aread() == b"one"
    run(scenario())


def test_seq_minus_one_is_live_edge_and_minus_two_is_current():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            first = await stream_get(c, base + "/s/-2")  # nothing written: -2 is 0, precreated, waits
            await asyncio.sleep(0.1)
            assert not first.done()
            for i in range(3):
                await c.post(base + f"/s/{i}", content=f"seg{i}".encode())
            assert await (await first).aread() == b"seg0"
            r = await c.get(base + "/s/-2")
            assert r.content == b"seg2" and r.headers["lp-trickle-seq"] == "2"
            nxt = await stream_get(c, base + "/s/-1")
            await asyncio.sleep(0.2)
            assert not nxt.done()
            await c.post(base + "/s/-1", content=b"seg3")  # POST -1 writes at the next index too
            r = await nxt
            assert r.headers["lp-trickle-seq"] == "3" and await r.aread() == b"seg3"
    run(scenario())


def test_segment_outside_window_is_470_with_latest():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            await c.post(base + "/s/0", content=b"x")
            r = await c.get(base + "/s/7")  # ahead of the write head
            assert r.status_code == 470 and r.text == "Entry not found"
            assert r.headers["lp-trickle-latest"] == "1" and r.headers["lp-trickle-seq"] == "7"
    run(scenario())


def test_ring_of_five_evicts_older_segments():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            for i in range(RING_SIZE + 2):
                await c.post(base + f"/s/{i}", content=f"seg{i}".encode())
            for gone in (0, 1):
                r = await c.get(base + f"/s/{gone}")
                assert r.status_code == 470 and r.headers["lp-trickle-latest"] == str(RING_SIZE + 2)
            for kept in range(2, RING_SIZE + 2):
                assert (await c.get(base + f"/s/{kept}")).content == f"seg{kept}".encode()
    run(scenario())


def test_eviction_ends_a_reader_of_the_replaced_segment():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            pipe = Pipe()
            post0 = asyncio.ensure_future(c.post(base + "/s/0", content=pipe.body()))
            await pipe.q.put(b"partial")
            reader = await stream_get(c, base + "/s/0")
            r = await reader
            await c.post(base + f"/s/{RING_SIZE}", content=b"wraps onto slot 0")
            assert await r.aread() == b"partial"  # EOF, not a stuck reader
            await pipe.q.put(None)
            await post0
    run(scenario())


def test_bytes_stream_before_the_publisher_finishes():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            pipe = Pipe()
            post = asyncio.ensure_future(c.post(base + "/s/0", content=pipe.body()))
            reader = await stream_get(c, base + "/s/0")
            await pipe.q.put(b"first chunk")
            r = await reader
            chunks = r.aiter_raw()
            assert await asyncio.wait_for(chunks.__anext__(), 5) == b"first chunk"
            assert not post.done()  # the publisher is still sending
            await pipe.q.put(b"second")
            assert await chunks.__anext__() == b"second"
            await pipe.q.put(None)
            assert (await post).headers["lp-trickle-seq"] == "0"
            assert [c async for c in chunks] == []
    run(scenario())


def test_re_post_of_an_open_segment_appends():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            pipe = Pipe()
            first = asyncio.ensure_future(c.post(base + "/s/0", content=pipe.body()))
            await pipe.q.put(b"a")
            reader = await stream_get(c, base + "/s/0")
            r = await reader
            await c.post(base + "/s/0", content=b"b")  # same seq while open: appended, reader not reset
            assert await r.aread() == b"ab"
            await pipe.q.put(None)
            await first
    run(scenario())


def test_reset_header_closes_older_segments():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            pipe = Pipe()
            stuck = asyncio.ensure_future(c.post(base + "/s/0", content=pipe.body()))
            await pipe.q.put(b"half")
            r = await (await stream_get(c, base + "/s/0"))
            ahead = await stream_get(c, base + "/s/1")  # preconnected reader of the next segment
            await asyncio.sleep(0.1)
            post = await c.post(base + "/s/-1", content=b"fresh", headers={"Lp-Trickle-Reset": "1"})
            assert post.headers["lp-trickle-seq"] == "1"
            assert await r.aread() == b"half"  # unblocked
            assert await (await ahead).aread() == b"fresh"  # the segment being reset to survives
            await pipe.q.put(None)
            await stuck
    run(scenario())


def test_delete_channel_ends_waiting_readers_with_closed():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            await c.post(base + "/s/0", content=b"x")
            waiting = await stream_get(c, base + "/s/1")
            await asyncio.sleep(0.1)
            assert (await c.delete(base + "/s")).status_code == 200
            r = await waiting
            assert r.status_code == 200 and r.headers["lp-trickle-closed"] == "terminated"
            assert await r.aread() == b""
            assert (await c.get(base + "/s/1")).status_code == 404  # deleted
    run(scenario())


def test_closed_channel_read_outside_window_says_closed():
    async def scenario():
        ts = TrickleServer()
        ch = ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            await c.post(base + "/s/0", content=b"x")
            ch.closed = True  # closed but not yet removed (the moment between close and delete)
            r = await c.get(base + "/s/3")
            assert r.status_code == 200 and r.headers["lp-trickle-closed"] == "terminated"
            assert r.headers["lp-trickle-latest"] == "1" and r.text == "Entry not found"
            assert (await c.get(base + "/s/next")).headers["lp-trickle-closed"] == "terminated"
    run(scenario())


def test_delete_segment_unblocks_reader_and_preconnected_publisher():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            pipe = Pipe()
            post = asyncio.ensure_future(c.post(base + "/s/0", content=pipe.body()))  # preconnected, no data
            reader = await stream_get(c, base + "/s/0")
            await asyncio.sleep(0.1)
            assert (await c.delete(base + "/s/0")).status_code == 200
            r = await reader  # an empty, cancelled segment of an open channel: 470 with the live edge
            assert r.status_code == 470 and r.headers["lp-trickle-latest"] == "1"
            await eventually(lambda: ts.channels["s"].next_write == 1)  # the publisher's next seq stays valid
            assert "lp-trickle-closed" not in r.headers
            await pipe.q.put(None)
            # the server answered the preconnected POST (200, Connection: close) before its body
            # ended; depending on timing httpx either reads that answer or sees the connection go
            try:
                resp = await post
            except httpx.HTTPError:
                return
            assert resp.status_code == 200 and resp.headers["connection"] == "close"
            assert resp.headers["lp-trickle-seq"] == "0"
    run(scenario())


def test_empty_segment_of_closing_channel_is_eos():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            reader = await stream_get(c, base + "/s/0")
            await asyncio.sleep(0.1)
            ts.close_channel("s")
            r = await reader
            assert r.status_code == 200 and r.headers["lp-trickle-closed"] == "terminated"
            assert r.headers["lp-trickle-seq"] == "0"
    run(scenario())


def test_publisher_vanishing_mid_segment_gives_readers_eof():
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c:
            port = int(base.rsplit(":", 1)[1])
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /s/0 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()
            r = await (await stream_get(c, base + "/s/0"))
            chunks = r.aiter_raw()
            assert await chunks.__anext__() == b"hello"
            writer.close()  # gone without finishing the body
            assert [c async for c in chunks] == []  # EOF, not stuck
            assert (await c.get(base + "/s/0")).content == b"hello"
    run(scenario())


def test_idle_sweep_closes_idle_channels_but_not_underscore_ones():
    async def scenario():
        now = [0.0]
        ts = TrickleServer(idle_timeout=300, clock=lambda: now[0])
        ts.create_channel("idle", MIME)
        ts.create_channel("busy", MIME)
        ts.create_channel("_internal", MIME)
        async with served(ts, ts) as base, client() as c:
            now[0] = 200.0
            await c.post(base + "/busy/0", content=b"x")  # a new segment refreshes the channel
            now[0] = 301.0
            assert ts.sweep() == ["idle"]
            assert set(ts.channels) == {"busy", "_internal"}
            now[0] = 600.0
            assert ts.sweep() == ["busy"]
            assert (await c.get(base + "/busy/0")).status_code == 404
    run(scenario())


def test_sweep_task_runs_on_its_interval():
    async def scenario():
        ts = TrickleServer(idle_timeout=0.2, sweep_interval=0.05)
        ts.create_channel("s", MIME)
        ts.start()
        try:
            await eventually(lambda: "s" not in ts.channels, timeout=3)
        finally:
            await ts.stop()
    run(scenario())


def test_mounted_under_a_base_path():
    from fastapi import FastAPI

    async def scenario():
        ts = TrickleServer()
        ts.create_channel("abc", MIME)
        app = FastAPI()
        app.mount("/ai/trickle", ts)
        async with served(app, ts) as base, client() as c:
            assert (await c.post(base + "/ai/trickle/abc/0", content=b"m")).status_code == 200
            assert (await c.get(base + "/ai/trickle/abc/0")).content == b"m"
            assert (await c.get(base + "/ai/trickle/nope/0")).status_code == 404
    run(scenario())


def test_reader_leaving_after_the_headers_disturbs_nobody():
    """The gateway SDK's payment sender reads only each output segment's headers, then hangs up."""
    async def scenario():
        ts = TrickleServer()
        ts.create_channel("s", MIME)
        async with served(ts, ts) as base, client() as c, client() as quitter:
            pipe = Pipe()
            post = asyncio.ensure_future(c.post(base + "/s/0", content=pipe.body()))
            await pipe.q.put(b"a" * 1000)
            leaving = await (await stream_get(quitter, base + "/s/0"))
            staying = await (await stream_get(c, base + "/s/0"))
            assert leaving.headers["lp-trickle-seq"] == "0"
            await leaving.aclose()
            for _ in range(20):
                await pipe.q.put(b"b" * 1000)
            await pipe.q.put(None)
            assert (await post).status_code == 200
            assert len(await staying.aread()) == 21_000
            assert (await c.post(base + "/s/1", content=b"next")).status_code == 200
            assert (await c.get(base + "/s/1")).content == b"next"
    run(scenario())


def test_local_subscriber_reads_in_process():
    from node.net.trickle import EndOfStream, SequenceNonexistent, StreamNotFound
    from node.net.trickle.local import LocalSubscriber

    async def scenario():
        ts = TrickleServer()
        ch = ts.create_channel("s", MIME)
        sub = LocalSubscriber(ts, "s")
        waiting = asyncio.ensure_future(sub.next_data())  # -1: the live edge, precreated
        await asyncio.sleep(0.05)
        assert not waiting.done()
        seg = ch.for_write(0)
        seg.write(b"first bytes")
        got = await waiting
        assert got is seg and got.chunks == [b"first bytes"]
        seg.close()
        ch.next_write = 1
        empty = asyncio.ensure_future(sub.next_data())
        await asyncio.sleep(0.05)
        ch.segments[1].close()  # cancelled before its first byte
        assert await empty is None
        with pytest.raises(SequenceNonexistent):
            sub.segment(9)
        ch.closed = True
        with pytest.raises(EndOfStream):
            sub.segment()
        ts.close_channel("s")
        with pytest.raises(StreamNotFound):
            sub.segment()
    run(scenario())
