"""Synthetic test media made in memory with PyAV: a moving test pattern (diagonal gradient that
scrolls, a bright square that crosses the picture, slowly cycling colours) encoded as H.264 in
MPEG-TS, with an optional AAC sine tone. Tests and benchmarks need no files.

Deterministic: the same arguments give the same bytes (libx264 is deterministic; results are
cached per argument set, so a test suite pays for each segment once).
"""
from __future__ import annotations

import functools
import io
from fractions import Fraction

import av
import numpy as np

__all__ = ["synthetic_segment", "audio_only_segment"]


def _pattern_frames(width: int, height: int, count: int):
    """Yield yuv420p planes (Y, U, V) for `count` frames of the moving pattern."""
    y = np.arange(height, dtype=np.int32)[:, None]
    x = np.arange(width, dtype=np.int32)[None, :]
    base = ((x + y) % 256).astype(np.uint8)
    cy = np.arange(height // 2, dtype=np.int32)[:, None]
    cx = np.arange(width // 2, dtype=np.int32)[None, :]
    chroma = (height // 2, width // 2)
    u_base = np.broadcast_to((cx * 256) // max(1, width // 2), chroma).astype(np.uint8)
    v_base = np.broadcast_to((cy * 256) // max(1, height // 2), chroma).astype(np.uint8)
    box = max(8, min(width, height) // 6) & ~1
    for i in range(count):
        luma = base + np.uint8((i * 6) % 256)  # uint8 arithmetic wraps: the gradient scrolls
        bx = (i * 12) % max(1, width - box) & ~1
        by = (i * 5) % max(1, height - box) & ~1
        luma[by:by + box, bx:bx + box] = 235
        u = u_base + np.uint8((i * 2) % 256)
        v = v_base + np.uint8((i * 3) % 256)
        yield luma, u, v


def _frame(luma, u, v, width: int, height: int):
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, data in zip(frame.planes, (luma, u, v)):
        rows, cols = data.shape  # full-size planes; the frame's rows may be padded
        np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)[:rows, :cols] = data
    return frame


@functools.lru_cache(maxsize=32)
def synthetic_segment(duration: float = 2.0, width: int = 1280, height: int = 720,
                      fps: float = 30, *, audio: bool = False, start_time: float = 0.0,
                      container: str = "mpegts", preset: str = "ultrafast",
                      bitrate: int = 2_000_000, gop: int = 0) -> bytes:
    """One segment of the moving test pattern: `duration` seconds at `fps` (frames =
    round(duration x fps)), H.264 (libx264, `bitrate` bits/s, one keyframe per `gop` frames,
    default one at the start only) in `container` ("mpegts" or "mp4"), timestamps starting at
    `start_time` seconds (as segment N of a stream starts at N x duration), optionally with a
    stereo 48 kHz AAC 440 Hz tone."""
    if width % 2 or height % 2:
        raise ValueError("width and height must be even (yuv420p)")
    rate = Fraction(fps).limit_denominator(1001)
    count = max(1, round(duration * rate))
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = 1 / rate
        video.codec_context.bit_rate = bitrate
        video.codec_context.options = {"preset": preset, "bf": "0",
                                       "g": str(gop if gop > 0 else count + 1)}
        astream = None
        if audio:
            astream = out.add_stream("aac", rate=48000)
            astream.layout = "stereo"
            astream.bit_rate = 128_000
        first = round(start_time * rate)
        for i, planes in enumerate(_pattern_frames(width, height, count)):
            frame = _frame(*planes, width, height)
            frame.pts = first + i
            frame.time_base = 1 / rate
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if astream is not None:
            _encode_tone(out, astream, float(count / rate), start_time)
    return buf.getvalue()


def _encode_tone(out, stream, duration: float, start_time: float, sample_rate: int = 48000):
    n = int(round(duration * sample_rate))
    t = np.arange(n) / sample_rate
    tone = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    first = int(round(start_time * sample_rate))
    for k in range(0, n, 1024):
        chunk = tone[k:k + 1024]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.stack([chunk, chunk])),
                                           format="fltp", layout="stereo")
        frame.sample_rate = sample_rate
        frame.pts = first + k
        frame.time_base = Fraction(1, sample_rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


@functools.lru_cache(maxsize=4)
def audio_only_segment(duration: float = 2.0) -> bytes:
    """An MPEG-TS segment with an AAC track and no video (go rejects these:
    TranscoderInvalidVideo)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "stereo"
        _encode_tone(out, stream, duration, 0.0)
    return buf.getvalue()
