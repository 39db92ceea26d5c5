"""Live path benchmark: noop at 512×512, 30 fps, through gateway → orchestrator → live runner.

Setup (all in one process, loopback sockets): the gateway's HTTP app (node.gateway.server) with its
live routes, one orchestrator (serve_orchestrator: gRPC + HTTP, its trickle server) on the stub
chain of tests/core/stubs.py (payments are made and checked, as in tests/node/test_live_gateway.py),
and node.worker.live's real runner with the `noop` pipeline as the orchestrator's live runner.
A client starts a stream at the gateway (POST /live/video-to-video/{stream}/start), publishes paced
MPEG-TS segments (bench_live's segments and pacing) into the gateway's input channel and reads the
gateway's output channel. Output frames are decoded and matched to input frames by pts, so the
per-frame latency is: input segment holding the frame published → output segment holding it
received. Baseline: PyAV decode + encode of the same segments alone (bench_live.baseline), same run.
Then 1, 2, 4, … concurrent streams through the one orchestrator until frames drop; the orchestrator
has one live runner per stream (go's one runner container per unit of capacity), each in-process,
so every stream's decode, noop and encode share this machine's cores. Per session count: frames
in (published after the runner joined) and out, per stream.
`python benchmarks/bench_live_path.py [--seconds 4] [--max-sessions 4] [--first-sessions 1]`
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_live import FPS, SEG_FRAMES, SIZE, baseline, pct
from node.net.trickle import (
    EndOfStream,
    StreamNotFound,
    TrickleError,
    TricklePublisher,
    TrickleSubscriber,
)
from node.worker.live.stream import decode_segment
from tests.worker.test_live_runner import make_segment

LIVE = "live-video-to-video"
O_KEY, G_KEY = bytes([21]) * 32, bytes([12]) * 32
LATE = 3.0  # seconds after the last input segment: a frame not out by then counts as lost


@contextlib.asynccontextmanager
async def live_path(capacity: int):
    """The gateway's base URL, in front of one paid orchestrator with `capacity` live runners of
    node.worker.live (noop), lent one per session."""
    import httpx
    from eth_account import Account

    from node.core.ai_models import AIModelConfig
    from node.gateway.node import GatewayNode
    from node.gateway.server import create_app as gateway_app
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from node.orchestrator.server import serve_orchestrator
    from node.worker.live.app import LiveRunner
    from node.worker.live.app import create_app as runner_app
    from node.worker.live.pipelines import NoopPipeline
    from tests.core.stubs import StubBroker, StubChain
    from tests.net.trickle_serving import served
    from tests.node.hostile import free_port, serve_app

    chain = StubChain(price=1)
    chain.fund(Account.from_key(G_KEY).address, deposit=10**18, reserve=10**18)
    o = Account.from_key(O_KEY).address
    chain.active.add(o)
    async with contextlib.AsyncExitStack() as runners:
        runner_urls = [await runners.enter_async_context(served(runner_app(LiveRunner(NoopPipeline()))))
                       for _ in range(capacity)]
        port = free_port()
        config = OrchestratorConfig(f"http://127.0.0.1:{port}", price_per_unit=Fraction(3), transcoding=False,
                                    auto_adjust_price=False,
                                    ai_models=[AIModelConfig(LIVE, "noop", capacity=capacity)])
        node = OrchestratorNode(config, address=o, chain=chain, broker=StubBroker())
        _, stop_o = await serve_orchestrator(node, "127.0.0.1", port, private_key=O_KEY, transcode=None,
                                             runners={LIVE: runner_urls})
        gateway = GatewayNode([config.service_uri], account=Account.from_key(G_KEY), chain=chain)
        app = gateway_app(gateway, ())
        gport, stop_g = await serve_app(app)
        try:
            async with httpx.AsyncClient() as client:
                yield f"http://127.0.0.1:{gport}", client
        finally:
            await app.state.live.close()
            await stop_g()
            await gateway.close()
            await stop_o()


async def stream(base: str, client, name: str, segs: list[bytes], in_pts: list[list[int]]) -> dict:
    """One paced stream through the gateway: per-frame latencies (s), output fps from the first
    output frame on, frames lost after it, frames published before the runner joined (warm)."""
    r = await client.post(f"{base}/live/video-to-video/{name}/start", json={"model_id": "noop"})
    r.raise_for_status()
    urls = r.json()
    pub = TricklePublisher(urls["publish_url"], "video/MP2T")
    sub = TrickleSubscriber(urls["subscribe_url"], start_seq=0)
    sent: dict[int, float] = {}  # input pts -> publish time
    received: dict[int, float] = {}  # output pts -> receive time

    async def reader():
        with contextlib.suppress(EndOfStream, StreamNotFound):
            while len(received) < sum(map(len, in_pts)):
                seg = await sub.next_segment()
                data = await seg.read()
                t = time.perf_counter()
                for _, pts, _ in await asyncio.to_thread(decode_segment, data):
                    received.setdefault(pts, t)

    rd = asyncio.create_task(reader())
    start = time.perf_counter()
    with contextlib.suppress(TrickleError):  # the gateway gave the stream up: the rest counts as lost
        for k, seg in enumerate(segs):  # paced at 30 fps, SEG_FRAMES frames a segment
            await asyncio.sleep(max(0.0, start + k * SEG_FRAMES / FPS - time.perf_counter()))
            for pts in in_pts[k]:
                sent[pts] = time.perf_counter()
            await pub.write(seg)
    with contextlib.suppress(asyncio.TimeoutError, TrickleError):
        await asyncio.wait_for(rd, LATE)
    rd.cancel()
    for end in (pub, sub):
        with contextlib.suppress(TrickleError):
            await end.close()
    n_frames = sum(map(len, in_pts))
    # the runner joins the input at its live edge (as ai-runner's subscriber does): frames published
    # before it subscribed are warm-up, not drops; the stream's loss counts from its first output frame
    first = min(received, default=float("inf"))
    warm = [p for p in sent if p < first] if received else []
    lat = [received[p] - sent[p] for p in sent if p in received]
    # sustained output rate: frames after the first output segment over the time since it arrived
    t = sorted(received.values())
    fps = (len(t) - SEG_FRAMES) / (t[-1] - t[0]) if len(t) > SEG_FRAMES and t[-1] > t[0] else 0.0
    return {"lat": lat, "fps": fps, "warm": len(warm), "in": n_frames - len(warm), "out": len(lat),
            "lost": n_frames - len(warm) - len(lat)}


async def sweep_point(n: int, segs, in_pts) -> list[dict]:
    async with live_path(capacity=n) as (base, client):
        return await asyncio.gather(*(stream(base, client, f"s{i}", segs, in_pts) for i in range(n)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--max-sessions", type=int, default=4)
    ap.add_argument("--first-sessions", type=int, default=1, help="the sweep's first session count")
    a = ap.parse_args()
    segs = [make_segment(SEG_FRAMES, SEG_FRAMES * k, SIZE) for k in range(int(a.seconds * FPS / SEG_FRAMES))]
    in_pts = [[pts for _, pts, _ in decode_segment(s)] for s in segs]  # as the runner decodes them
    base = baseline(segs)
    [one] = asyncio.run(sweep_point(1, segs, in_pts))
    base += baseline(segs)  # before and after: the baseline sees the same machine load as the path
    lat, b50 = one["lat"], statistics.median(base)
    print(f"decode+encode alone per segment ({SEG_FRAMES} frames, {SIZE[0]}×{SIZE[1]}): "
          f"p50 {b50*1000:.1f} ms  p95 {pct(base, .95)*1000:.1f} ms  "
          f"(per frame {b50 / SEG_FRAMES * 1000:.1f} ms: {SEG_FRAMES / b50:.0f} fps on one core)")
    if not lat:
        print(f"gateway → orchestrator → runner: no frame came back ({one['warm']} published)")
        return
    l50 = statistics.median(lat)
    print(f"gateway → orchestrator → runner per frame ({len(lat)} frames, {one['lost']} lost, "
          f"{one['warm']} published before the runner joined): "
          f"p50 {l50*1000:.1f} ms  p95 {pct(lat, .95)*1000:.1f} ms  ({l50 / b50:.2f}× decode+encode alone)")
    print(f"added by the path (p50): {(l50 - b50)*1000:.1f} ms (goal ≤ 50)")
    print(f"sustained output fps: {one['fps']:.1f} (goal {FPS})")
    held, n = 0, a.first_sessions
    while n <= a.max_sessions:
        res = asyncio.run(sweep_point(n, segs, in_pts))
        lost = sum(r["lost"] for r in res)
        print(f"{n} concurrent noop streams through one orchestrator: frames in/out "
              f"{sum(r['in'] for r in res)}/{sum(r['out'] for r in res)} ({lost} lost; per stream "
              + ", ".join(f"{r['in']}/{r['out']}" for r in res) + f"), {sum(r['warm'] for r in res)} warm-up, "
              f"p50 latency {statistics.median([x for r in res for x in r['lat']] or [0])*1000:.0f} ms, "
              f"output fps per stream " + ", ".join(f"{r['fps']:.1f}" for r in res))
        if lost:
            break
        held, n = n, n * 2
    print(f"concurrent noop streams held without loss: {held}")


if __name__ == "__main__":
    main()
