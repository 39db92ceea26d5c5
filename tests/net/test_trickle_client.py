"""The trickle publisher and subscriber (go's trickle_publisher.go / trickle_subscriber.go rules)
against the trickle server on a real socket."""
from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from node.net.trickle import (
    EndOfStream,
    MaxPreconnects,
    SequenceNonexistent,
    StreamNotFound,
    TricklePublisher,
    TrickleSubscriber,
)
from tests.net.trickle_serving import channel_served, eventually, run

MIME = "video/MP2T"


def test_publish_and_subscribe_segments_in_order():
    async def scenario():
        async with channel_served(mime=MIME, counting=True) as (_, app, base):
            sub = TrickleSubscriber(base + "/s")  # -1: waits at the live edge (preconnect)
            pub = TricklePublisher(base + "/s", MIME)
            first = asyncio.ensure_future(sub.next_segment())
            await asyncio.sleep(0.1)
            assert not first.done()
            got = []
            for i in range(7):  # more than the ring, read as written
                assert await pub.write(f"segment {i}".encode()) == i
                seg = await (first if i == 0 else sub.next_segment())
                assert seg.seq == i and seg.mime == MIME
                got.append(await seg.read())
            assert got == [f"segment {i}".encode() for i in range(7)]
            await eventually(lambda: ("GET", "/s/7") in app.requests)  # (a GET after the delete is a 404)
            await pub.close()
            with pytest.raises(EndOfStream):  # the preconnected GET of segment 7 learns of the close
                await sub.next_segment()
            await sub.close()
    run(scenario())


def test_publisher_preconnects_the_next_index():
    async def scenario():
        async with channel_served(mime=MIME, counting=True) as (ts, app, base):
            pub = TricklePublisher(base + "/s", MIME)
            await eventually(lambda: ("POST", "/s/0") in app.requests)  # at construction
            async with pub.next() as seg:
                await eventually(lambda: ("POST", "/s/1") in app.requests)  # before segment 0 is written
                await seg.write(b"abc")
            assert ts.channels["s"].next_write == 1
            await pub.close()
    run(scenario())


def test_bytes_reach_the_subscriber_while_the_segment_is_written():
    async def scenario():
        async with channel_served(mime=MIME) as (_, _, base):
            pub = TricklePublisher(base + "/s", MIME)
            sub = TrickleSubscriber(base + "/s", start_seq=0)
            async with pub.next() as w:
                await w.write(b"frame 1")
                seg = await sub.next_segment()
                chunks = seg.__aiter__()
                assert await asyncio.wait_for(chunks.__anext__(), 5) == b"frame 1"
                await w.write(b"frame 2")
                assert await asyncio.wait_for(chunks.__anext__(), 5) == b"frame 2"
            assert [c async for c in chunks] == []
            await pub.close()
            await sub.close()
    run(scenario())


def test_publisher_streams_an_async_iterable():
    async def scenario():
        async with channel_served(mime=MIME) as (_, _, base):
            async def parts():
                for i in range(5):
                    yield bytes([i]) * 1000
            pub = TricklePublisher(base + "/s", MIME)
            assert await pub.write(parts()) == 0
            sub = TrickleSubscriber(base + "/s", start_seq=-2)  # -2: the segment last written
            seg = await sub.next_segment()
            assert seg.seq == 0 and await seg.read() == b"".join(bytes([i]) * 1000 for i in range(5))
            await pub.close()
            await sub.close()
    run(scenario())


def test_unknown_channel_raises_stream_not_found():
    async def scenario():
        async with channel_served(None) as (_, _, base):
            sub = TrickleSubscriber(base + "/missing")
            with pytest.raises(StreamNotFound):
                await sub.next_segment()
            pub = TricklePublisher(base + "/missing", MIME)
            with pytest.raises(StreamNotFound):
                await pub.write(b"x")
            await pub.close()
            await sub.close()
    run(scenario())


def test_470_raises_sequence_nonexistent_and_set_seq_jumps_to_the_edge():
    async def scenario():
        async with channel_served(mime=MIME) as (_, _, base):
            pub = TricklePublisher(base + "/s", MIME)
            for i in range(8):
                await pub.write(f"s{i}".encode())
            sub = TrickleSubscriber(base + "/s", start_seq=1)  # evicted from the ring of 5
            with pytest.raises(SequenceNonexistent) as e:
                await sub.next_segment()
            assert (e.value.seq, e.value.latest) == (1, 8)
            await sub.set_seq(e.value.latest - 1)
            seg = await sub.next_segment()
            assert seg.seq == 7 and await seg.read() == b"s7"
            await pub.close()
            await sub.close()
    run(scenario())


def test_subscriber_refreshes_a_get_without_headers():
    async def scenario():
        async with channel_served(mime=MIME, counting=True) as (_, app, base):
            sub = TrickleSubscriber(base + "/s", start_seq=0, header_timeout=0.2)
            waiting = asyncio.ensure_future(sub.next_segment())
            await eventually(lambda: app.requests.count(("GET", "/s/0")) >= 3)  # re-issued, not stuck
            pub = TricklePublisher(base + "/s", MIME)
            await pub.write(b"late")
            assert await (await waiting).read() == b"late"
            await pub.close()
            await sub.close()
    run(scenario())


def test_subscriber_gives_up_after_max_preconnect_errors():
    async def scenario():
        import socket
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        sub = TrickleSubscriber(f"http://127.0.0.1:{port}/s", retry_delay=0)
        with pytest.raises(MaxPreconnects):
            await sub.next_segment()
        assert sub._errors == 6  # more than 5
        await sub.close()
    run(scenario())


def test_aborted_segment_is_deleted_and_readers_see_the_live_edge():
    async def scenario():
        async with channel_served(mime=MIME) as (_, _, base):
            pub = TricklePublisher(base + "/s", MIME)
            sub = TrickleSubscriber(base + "/s", start_seq=0)
            waiting = asyncio.ensure_future(sub.next_segment())
            with pytest.raises(RuntimeError):
                async with pub.next():
                    raise RuntimeError("encoder failed before the first byte")
            with pytest.raises(SequenceNonexistent) as e:  # segment 0 was cancelled empty
                await waiting
            assert e.value.latest == 1
            await sub.set_seq(e.value.latest)
            waiting = asyncio.ensure_future(sub.next_segment())
            assert await pub.write(b"next one") == 1
            assert await (await waiting).read() == b"next one"
            await pub.close()
            await sub.close()
    run(scenario())


def test_subscriber_iterates_until_end_of_stream():
    async def scenario():
        async with channel_served(mime=MIME, counting=True) as (_, app, base):
            sub = TrickleSubscriber(base + "/s", start_seq=0)

            async def collect():
                return [await seg.read() async for seg in sub]
            reading = asyncio.ensure_future(collect())
            pub = TricklePublisher(base + "/s", MIME)
            for i in range(3):
                await pub.write(b"%d" % i)
            await eventually(lambda: ("GET", "/s/3") in app.requests)
            await pub.close()
            assert await reading == [b"0", b"1", b"2"]
            await sub.close()
    run(scenario())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_client_over_tls_with_a_self_signed_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=lpnode",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)

    async def scenario():
        async with channel_served(mime=MIME, ssl_files=(str(cert), str(key))) as (_, _, base):
            assert base.startswith("https://")
            pub = TricklePublisher(base + "/s", MIME)  # verification off by default, as go's O->runner
            sub = TrickleSubscriber(base + "/s", start_seq=0)
            await pub.write(b"over tls")
            assert await (await sub.next_segment()).read() == b"over tls"
            await pub.close()
            await sub.close()
    run(scenario())


def test_segment_reconnect_retries_the_same_index():
    async def scenario():
        async with channel_served(mime=MIME) as (_, _, base):
            pub = TricklePublisher(base + "/s", MIME)
            sub = TrickleSubscriber(base + "/s", start_seq=0)
            seg = pub.next()
            await seg.reconnect()  # e.g. the first try failed before its first byte
            await seg.write(b"second try")
            assert await seg.close() == 0
            got = await sub.next_segment()
            assert (got.seq, await got.read()) == (0, b"second try")
            assert await pub.write(b"after") == 1
            await pub.close()
            await sub.close()
    run(scenario())
