"""Trickle over loopback: per-chunk latency (a chunk written by the publisher → the same bytes read by
a subscriber) and throughput, through node.net.trickle (uvicorn server, httpx client), against a
plain TCP relay measured in the same run (publisher socket → relay → subscriber socket: the floor
any HTTP transport sits on).

    python benchmarks/bench_trickle.py [--fps 30] [--seconds 3] [--chunk 20000] [--segment-frames 30]

Paced run: `fps` chunks a second of `chunk` bytes (one encoded 512×512 frame is ~10–30 kB),
`segment-frames` chunks per trickle segment; prints p50/p95 latency for both and the difference.
Unpaced run: the same bytes as fast as they go; prints MB/s for both and their ratio.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.net.trickle import TricklePublisher, TrickleServer, TrickleSubscriber  # noqa: E402


async def serve(app):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off",
                                           timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return server.servers[0].sockets[0].getsockname()[1], server, task


class Arrivals:
    """When each whole chunk of `size` bytes had arrived at the reader, counted as bytes come in."""

    def __init__(self, chunks: int, size: int):
        self.chunks, self.size, self.received = chunks, size, 0
        self.times: list[float] = []

    def add(self, n: int) -> None:
        self.received += n
        now = time.perf_counter()
        while len(self.times) < self.chunks and self.received >= (len(self.times) + 1) * self.size:
            self.times.append(now)

    @property
    def done(self) -> bool:
        return len(self.times) >= self.chunks


async def pace(start: float, sent: list[float], interval: float) -> None:
    """Wait for the next chunk's slot (none unpaced), then note when it goes out."""
    if interval:
        await asyncio.sleep(max(0.0, start + len(sent) * interval - time.perf_counter()))
    sent.append(time.perf_counter())


def latency_and_rate(sent: list[float], arrivals: Arrivals, start: float) -> tuple[list[float], float]:
    """Per-chunk latency in ms and MB/s over the run."""
    got = arrivals.times
    return [(g - s) * 1000 for s, g in zip(sent, got)], arrivals.chunks * arrivals.size / (got[-1] - start) / 1e6


async def trickle_run(chunks: int, size: int, per_segment: int, interval: float) -> tuple[list[float], float]:
    ts = TrickleServer()
    ts.create_channel("bench", "video/MP2T")
    port, server, task = await serve(ts)
    url = f"http://127.0.0.1:{port}/bench"
    pub, sub = TricklePublisher(url, "video/MP2T"), TrickleSubscriber(url, start_seq=0)
    sent: list[float] = []
    arrivals = Arrivals(chunks, size)
    payload = b"\x47" * size

    async def read():
        while not arrivals.done:
            seg = await sub.next_segment()
            async for data in seg:
                arrivals.add(len(data))

    reader = asyncio.ensure_future(read())
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    for first in range(0, chunks, per_segment):
        async with pub.next() as seg:
            for _ in range(min(per_segment, chunks - first)):
                await pace(start, sent, interval)
                await seg.write(payload)
    await reader
    await pub.close()
    await sub.close()
    await ts.stop()
    server.should_exit = True
    with contextlib.suppress(Exception):
        await task
    return latency_and_rate(sent, arrivals, start)


async def tcp_run(chunks: int, size: int, interval: float) -> tuple[list[float], float]:
    """The baseline: the same chunks through a TCP relay on loopback."""
    subscriber_ready: asyncio.Future = asyncio.get_running_loop().create_future()

    finished, relayed = asyncio.Event(), asyncio.Event()

    async def handle(reader, writer):
        if not subscriber_ready.done():  # the first connection is the subscriber
            subscriber_ready.set_result(writer)
            await finished.wait()  # hold the connection open while the run lasts
            return
        out = await subscriber_ready
        while data := await reader.read(65536):
            out.write(data)
            await out.drain()
        out.close()
        relayed.set()

    relay = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = relay.sockets[0].getsockname()[1]
    sub_reader, sub_writer = await asyncio.open_connection("127.0.0.1", port)  # (kept: a dropped writer closes)
    await asyncio.sleep(0.05)
    _, pub_writer = await asyncio.open_connection("127.0.0.1", port)
    sent: list[float] = []
    arrivals = Arrivals(chunks, size)
    payload = b"\x47" * size

    async def read():
        while not arrivals.done:
            arrivals.add(len(await sub_reader.read(65536)))

    reader = asyncio.ensure_future(read())
    start = time.perf_counter()
    for _ in range(chunks):
        await pace(start, sent, interval)
        pub_writer.write(payload)
        await pub_writer.drain()
    await reader
    pub_writer.close()
    await relayed.wait()
    sub_writer.close()
    finished.set()
    relay.close()
    return latency_and_rate(sent, arrivals, start)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--segment-frames", type=int, default=30)
    args = ap.parse_args()
    n = int(args.fps * args.seconds)
    t_lat, _ = await trickle_run(n, args.chunk, args.segment_frames, 1 / args.fps)
    b_lat, _ = await tcp_run(n, args.chunk, 1 / args.fps)
    print(f"paced {args.fps} fps, {n} chunks of {args.chunk} B, {args.segment_frames} per segment")
    print(f"  trickle   latency p50 {pct(t_lat, 50):7.2f} ms  p95 {pct(t_lat, 95):7.2f} ms")
    print(f"  tcp relay latency p50 {pct(b_lat, 50):7.2f} ms  p95 {pct(b_lat, 95):7.2f} ms")
    print(f"  trickle adds p50 {pct(t_lat, 50) - pct(b_lat, 50):+.2f} ms, p95 {pct(t_lat, 95) - pct(b_lat, 95):+.2f} ms")
    m = 10 * n
    _, t_mbs = await trickle_run(m, args.chunk, args.segment_frames, 0)
    _, b_mbs = await tcp_run(m, args.chunk, 0)
    print(f"unpaced, {m} chunks: trickle {t_mbs:8.1f} MB/s, tcp relay {b_mbs:8.1f} MB/s, ratio {t_mbs / b_mbs:.2f}")
    print(f"  trickle at {args.chunk} B/frame carries {t_mbs * 1e6 / args.chunk:.0f} frames/s")


if __name__ == "__main__":
    asyncio.run(main())
