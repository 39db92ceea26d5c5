"""The decode → pipeline → encode loop, free of HTTP: it takes an async iterator of input
MPEG-TS segments and an async sink for output segments, so tests drive it in memory.

Frames pass a bounded queue between decoding and the pipeline: when the pipeline is slower than
the input the oldest waiting frame is dropped (counted), never buffered without limit. Each input
segment becomes one output segment with the same frame timestamps.
"""
from __future__ import annotations

import asyncio
import io
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import av
import numpy as np

from .pipelines import LivePipeline

log = logging.getLogger("lpnode.live")

QUEUE_FRAMES = 30  # frames (1 s at 30 fps) waiting for the pipeline before the oldest is dropped
_END_SEGMENT = object()


@dataclass
class StreamStats:
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    errors: int = 0  # frames the pipeline failed on (dropped, reported)
    peak_waiting: int = 0  # most frames ever waiting for the pipeline (≤ the queue bound)
    # seconds, decode done → encoded (ai-runner's frame_init → frame_end); the last 10000 frames
    latencies: deque = field(default_factory=lambda: deque(maxlen=10_000))


def encoder_name(device: str | None) -> str:
    """h264_nvenc where a CUDA device is chosen and the codec exists, else libx264."""
    if device and device.startswith("cuda") and "h264_nvenc" in av.codecs_available:
        return "h264_nvenc"
    return "libx264"


def decode_segment(data: bytes) -> list[tuple[np.ndarray, int, object]]:
    """The RGB frames of one MPEG-TS segment with their pts and time base."""
    frames = []
    with av.open(io.BytesIO(data), format="mpegts") as container:
        if not container.streams.video:
            return frames
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            frames.append((frame.to_ndarray(format="rgb24"), frame.pts or 0, frame.time_base or stream.time_base))
    return frames


class SegmentEncoder:
    """One output MPEG-TS segment (a fresh muxer per segment, so each starts on a keyframe)."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self.buf = io.BytesIO()
        self.container = av.open(self.buf, mode="w", format="mpegts")
        self.stream = None
        self.last_pts: int | None = None

    def add(self, rgb: np.ndarray, pts: int, time_base) -> bool:
        """Encode a frame; False (dropped) when its pts is not after the last one's: the encoder and
        muxer refuse such a frame with EINVAL, which would end the whole stream (input segments cut
        by the publisher, or frames without a pts, bring them)."""
        if self.last_pts is not None and pts <= self.last_pts:
            return False
        self.last_pts = pts
        if self.stream is None:
            options = {"tune": "zerolatency", "preset": "ultrafast"} if self.codec == "libx264" else {}
            self.stream = self.container.add_stream(self.codec, rate=30, options=options)
            self.stream.height, self.stream.width = rgb.shape[:2]
            self.stream.pix_fmt = "yuv420p"
            # the input's time base for the codec too: at the default 1/rate, frames closer than 1/30 s
            # (a live source stamps by its clock) would round to one pts and the muxer refuse the second
            self.stream.time_base = self.stream.codec_context.time_base = time_base
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        return True

    def finish(self) -> bytes:
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()
        return self.buf.getvalue()


async def run_stream(segments: AsyncIterator[bytes], sink: Callable[[bytes], Awaitable[None]],
                     pipeline: LivePipeline, params: Callable[[], dict], *,
                     on_frame: Callable[[float, StreamStats], None] | None = None,
                     on_input: Callable[[], None] | None = None,
                     on_error: Callable[[Exception], None] | None = None,
                     codec: str = "libx264", queue_frames: int = QUEUE_FRAMES) -> StreamStats:
    """Run until `segments` ends. A frame the pipeline fails on is reported to `on_error` and
    dropped, the stream going on (ai-runner's process loop: the guardian turns a pipeline that
    stops producing into ERROR); without `on_error` the pipeline's exception ends the stream."""
    loop = asyncio.get_running_loop()
    stats = StreamStats()
    queue: asyncio.Queue = asyncio.Queue()  # bounded by hand: frames beyond queue_frames drop

    async def decode() -> None:
        try:
            async for data in segments:
                try:
                    decoded = await asyncio.to_thread(decode_segment, data)
                except av.FFmpegError as exc:  # a corrupt segment is skipped, the stream goes on
                    log.warning("live input: undecodable segment skipped: %s", exc)
                    continue
                for rgb, pts, tb in decoded:
                    stats.frames_in += 1
                    if on_input is not None:
                        on_input()
                    frames_waiting = sum(1 for item in queue._queue if item is not _END_SEGMENT)
                    if frames_waiting >= queue_frames:
                        _drop_oldest_frame(queue)
                        stats.dropped += 1
                    queue.put_nowait((rgb, pts, tb, loop.time()))
                    waiting = sum(1 for item in queue._queue if item is not _END_SEGMENT)
                    stats.peak_waiting = max(stats.peak_waiting, waiting)
                queue.put_nowait(_END_SEGMENT)
        except Exception as exc:  # noqa: BLE001 - a vanished publisher ends the stream, as ai-runner
            log.warning("live input ended: %r", exc)
        finally:
            queue.put_nowait(None)

    async def process() -> None:
        encoder = SegmentEncoder(codec)
        while (item := await queue.get()) is not None:
            if item is _END_SEGMENT:
                if encoder.stream is not None:
                    await sink(await asyncio.to_thread(encoder.finish))
                    encoder = SegmentEncoder(codec)
                continue
            rgb, pts, tb, t_in = item
            try:
                out = await asyncio.to_thread(pipeline.process, rgb, params())
            except Exception as exc:
                if on_error is None:
                    raise
                stats.errors += 1
                on_error(exc)
                continue
            if not await asyncio.to_thread(encoder.add, np.ascontiguousarray(out), pts, tb):
                stats.dropped += 1  # a timestamp out of order in this segment
                continue
            stats.frames_out += 1
            latency = loop.time() - t_in
            stats.latencies.append(latency)
            if on_frame is not None:
                on_frame(latency, stats)
        if encoder.stream is not None:
            await sink(await asyncio.to_thread(encoder.finish))

    decoder = asyncio.create_task(decode())
    try:
        await process()
    finally:
        decoder.cancel()
        await asyncio.gather(decoder, return_exceptions=True)
    return stats


def _drop_oldest_frame(queue: asyncio.Queue) -> None:
    items = queue._queue
    for i, item in enumerate(items):
        if item is not _END_SEGMENT and item is not None:
            del items[i]
            return
