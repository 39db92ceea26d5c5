"""Live runner benchmark: noop at 512×512, 30 fps, through the runner over trickle on a socket.

Prints per-segment latency (input segment published → output segment received; each segment holds
SEG_FRAMES frames written at once, so this is the per-frame latency of a segment's last frame)
p50/p95, the sustained output fps, the runner's own per-frame latency (decoded → encoded, from
its final status event), and the baseline: PyAV decode + encode of the same segment
alone, measured in the same run. Then how many concurrent paced noop sessions one process holds
before frames drop. `python benchmarks/bench_live.py [--seconds 4] [--max-sessions 4]`
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.net.trickle import TricklePublisher, TrickleSubscriber
from node.net.trickle.server import TrickleServer
from node.worker.live.app import LiveRunner, create_app
from node.worker.live.pipelines import NoopPipeline
from node.worker.live.stream import SegmentEncoder, decode_segment, run_stream
from tests.net.trickle_serving import served
from tests.worker.test_live_runner import collect_events, make_segment

SIZE = (512, 512)
FPS = 30
SEG_FRAMES = 10


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def baseline(segs) -> list[float]:
    out = []
    for seg in segs:
        t = time.perf_counter()
        enc = SegmentEncoder("libx264")
        for rgb, pts, tb in decode_segment(seg):
            enc.add(rgb, pts, tb)
        enc.finish()
        out.append(time.perf_counter() - t)
    return out


async def over_trickle(segs) -> tuple[list[float], float, dict]:
    trickle = TrickleServer()
    for s in ("", "-out", "-events"):
        trickle.create_channel("b" + s)
    runner = LiveRunner(NoopPipeline())
    async with served(trickle, trickle) as tbase, served(create_app(runner)) as rbase:
        import httpx
        async with httpx.AsyncClient() as c:
            await c.post(f"{rbase}/live-video-to-video", json={"subscribe_url": f"{tbase}/b",
                                                                "publish_url": f"{tbase}/b-out",
                                                                "events_url": f"{tbase}/b-events"})
        events: list[dict] = []
        collector = asyncio.create_task(collect_events(TrickleSubscriber(f"{tbase}/b-events", start_seq=0), events))
        sub = TrickleSubscriber(f"{tbase}/b-out", start_seq=0)
        pub = TricklePublisher(f"{tbase}/b", "video/MP2T")
        await asyncio.sleep(0.3)
        sent, got = {}, []
        start = time.perf_counter()

        async def reader():
            for k in range(len(segs)):
                seg = await sub.next_segment()
                await seg.read()
                got.append(time.perf_counter() - sent[k])

        rd = asyncio.create_task(reader())
        for k, seg in enumerate(segs):  # paced at 30 fps
            await asyncio.sleep(max(0.0, start + k * SEG_FRAMES / FPS - time.perf_counter()))
            sent[k] = time.perf_counter()
            await pub.write(seg)
        await asyncio.wait_for(rd, 30)
        fps = len(segs) * SEG_FRAMES / (time.perf_counter() - start)
        await pub.close()
        await sub.close()
        await asyncio.wait_for(runner.task, 30)  # its final status event carries the frame latencies
        await asyncio.wait_for(collector, 10)
    status = [e["event"] for e in events if e["event"]["type"] == "status"]
    return got, fps, status[-1]["inference_status"]["latency_ms"] if status else {}


async def sessions(n: int, segs) -> int:
    async def paced():
        t0 = time.perf_counter()
        for k, seg in enumerate(segs):
            await asyncio.sleep(max(0.0, t0 + k * SEG_FRAMES / FPS - time.perf_counter()))
            yield seg

    async def sink(_):
        pass

    stats = await asyncio.gather(*(run_stream(paced(), sink, NoopPipeline(), dict, queue_frames=SEG_FRAMES)
                                   for _ in range(n)))
    return sum(s.dropped for s in stats)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--max-sessions", type=int, default=8)
    a = ap.parse_args()
    segs = [make_segment(SEG_FRAMES, SEG_FRAMES * k, SIZE) for k in range(int(a.seconds * FPS / SEG_FRAMES))]
    base = baseline(segs)
    lat, fps, frame_lat = asyncio.run(over_trickle(segs))
    print(f"decode+encode alone per segment: p50 {statistics.median(base)*1000:.1f} ms  p95 {pct(base, .95)*1000:.1f} ms")
    print(f"runner over trickle per segment: p50 {statistics.median(lat)*1000:.1f} ms  p95 {pct(lat, .95)*1000:.1f} ms")
    print(f"added by the runner (p50): {(statistics.median(lat) - statistics.median(base))*1000:.1f} ms (goal ≤ 50)")
    print(f"sustained output fps: {fps:.1f} (goal 30)")
    if frame_lat.get("frames"):  # from the runner's status event (ai-runner frame_init → frame_end)
        print(f"runner per-frame latency, decoded → encoded, {frame_lat['frames']} frames: "
              f"p50 {frame_lat['p50']:.1f} ms  p95 {frame_lat['p95']:.1f} ms")
    for n in range(1, a.max_sessions + 1):
        dropped = asyncio.run(sessions(n, segs))
        print(f"{n} concurrent noop sessions: {dropped} frames dropped")
        if dropped:
            break


if __name__ == "__main__":
    main()
