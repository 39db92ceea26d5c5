"""Transcoding speed: segments per second for a 2 s 1280x720 30 fps H.264 MPEG-TS segment (with
AAC audio) to go's default profiles P360p30fps16x9 + P240p30fps16x9.

Prints, for several x264 presets (go's lpms uses "medium"; ours defaults to "veryfast"):
segments/s and seconds per segment in one thread, the real-time factor (seconds of video per
second of work), and the ratio to two baselines measured in the same run: decoding the input
alone (the floor of any transcode) and decode + scale (no encoding). Then the throughput with
one transcode per CPU core in parallel threads (PyAV releases the GIL), and the gateway's
pixel-count verification time.

    python benchmarks/bench_transcode.py [--n 8] [--presets ultrafast,veryfast,medium]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av  # noqa: E402

from node.worker.media import synthetic_segment  # noqa: E402
from node.worker.profiles import DEFAULT_TRANSCODING_OPTIONS, parse_transcoding_options  # noqa: E402
from node.worker.transcode import Transcoder, count_pixels, nvenc_available  # noqa: E402

SEGMENT_S = 2.0


CPU_MS: dict[str, float] = {}  # CPU time (all threads) per call of the last `timed` of each label


def timed(fn, n: int, label: str = "") -> float:
    """Median wall seconds of `n` calls (after one warm-up call); the process CPU seconds per
    call (all threads) go to CPU_MS[label] in ms, a figure that other load on the machine does
    not inflate as much as the wall time."""
    fn()
    samples = []
    cpu_start = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    CPU_MS[label] = (time.process_time() - cpu_start) / n * 1e3
    return statistics.median(samples)


def decode_only(data: bytes) -> None:
    with av.open(io.BytesIO(data)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in c.decode(stream):
            pass


def decode_and_scale(data: bytes, sizes) -> None:
    with av.open(io.BytesIO(data)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        graphs = []
        for w, h in sizes:
            g = av.filter.Graph()
            src = g.add_buffer(template=stream)
            scale = g.add("scale", f"w={w}:h={h}:flags=bicubic")
            sink = g.add("buffersink")
            src.link_to(scale)
            scale.link_to(sink)
            g.configure()
            graphs.append(g)
        for frame in c.decode(stream):
            for g in graphs:
                g.vpush(frame)
                g.vpull()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="timed runs per measurement (default 8)")
    ap.add_argument("--presets", default="ultrafast,veryfast,medium")
    args = ap.parse_args()
    profiles = parse_transcoding_options(DEFAULT_TRANSCODING_OPTIONS)
    data = synthetic_segment(SEGMENT_S, 1280, 720, 30, audio=True)
    cores = os.cpu_count() or 1
    print(f"input: {SEGMENT_S:.0f} s 1280x720 30 fps H.264 + AAC in MPEG-TS, {len(data) / 1e3:.0f} kB; "
          f"outputs: {DEFAULT_TRANSCODING_OPTIONS}; {cores} CPU cores; PyAV {av.__version__}; "
          f"nvenc {'available' if nvenc_available() else 'unavailable'}")

    t_decode = timed(lambda: decode_only(data), args.n, "decode")
    t_scale = timed(lambda: decode_and_scale(data, [(640, 360), (426, 240)]), args.n, "scale")
    print(f"baselines: decode only {t_decode * 1e3:.0f} ms/segment ({1 / t_decode:.1f} seg/s, "
          f"CPU {CPU_MS['decode']:.0f} ms); decode + scale to both sizes {t_scale * 1e3:.0f} ms "
          f"({1 / t_scale:.1f} seg/s, CPU {CPU_MS['scale']:.0f} ms)")
    print(f"{'preset':<10} {'seg/s':>6} {'ms/seg':>7} {'CPU ms':>7} {'x realtime':>10} "
          f"{'/decode':>8} {'CPU/decode':>10} {'/dec+scale':>10} {'kB out':>7}")
    results = {}
    for preset in args.presets.split(","):
        transcoder = Transcoder(preset=preset)
        out = transcoder.transcode(data, profiles)
        t = timed(lambda: transcoder.transcode(data, profiles), args.n, preset)
        results[preset] = t
        size = sum(len(r.data) for r in out.renditions) / 1e3
        cpu = CPU_MS[preset]
        print(f"{preset:<10} {1 / t:6.2f} {t * 1e3:7.0f} {cpu:7.0f} {SEGMENT_S / t:10.2f} "
              f"{t / t_decode:8.1f} {cpu / CPU_MS['decode']:10.1f} {t / t_scale:10.1f} {size:7.0f}")

    preset = "veryfast" if "veryfast" in results else next(iter(results))
    transcoder = Transcoder(preset=preset)
    jobs = cores * args.n
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(lambda _: transcoder.transcode(data, profiles), range(cores)))  # warm
        start = time.perf_counter()
        list(pool.map(lambda _: transcoder.transcode(data, profiles), range(jobs)))
        wall = time.perf_counter() - start
    print(f"parallel ({preset}, {cores} threads, {jobs} segments): {jobs / wall:.2f} seg/s "
          f"(x{(jobs / wall) * results[preset]:.2f} the single-thread rate), "
          f"{jobs * SEGMENT_S / wall:.1f} s of video per second")

    out = transcoder.transcode(data, profiles)
    t_verify = timed(lambda: [count_pixels(r.data) for r in out.renditions], args.n)
    print(f"gateway pixel-count verification of both renditions: {t_verify * 1e3:.0f} ms "
          f"({t_verify / results[preset]:.2f} of the {preset} transcode)")


if __name__ == "__main__":
    main()
