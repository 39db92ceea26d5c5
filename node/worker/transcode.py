"""The transcoder: one input segment in, one rendition per profile out, with PyAV (spec node.md §8).

What it does, following lpms (the library go-livepeer transcodes with):
- decodes the input's video once and, for each profile, scales, converts the frame rate and
  encodes with libx264 (CPU) or h264_nvenc (NVIDIA GPU); the audio is copied (go's transcoder
  asks lpms for AudioEncoder "copy"), or dropped when the output container cannot carry it;
- the output size follows lpms' rule, which keeps the INPUT's aspect ratio: the input's longer
  side is scaled to max(profile width, profile height) and the other side in proportion, rounded
  to an even number (1280x720 -> 426x240 for P240p30fps16x9, but 960x540 for P720p30fps4x3);
- the frame rate follows ffmpeg's fps filter (each output slot takes the latest input frame
  at or before it: frames are dropped or duplicated); fps 0 passes the input's timestamps through;
- the rate control is lpms': min = average = max bitrate = VBV buffer = the profile's bitrate;
  B-frames 3 (0 for baseline / constrained high, and on nvenc without a profile);
- each rendition reports the pixels it encoded (width x height x frames), the number the
  orchestrator debits and the gateway verifies (`count_pixels`, `verify_pixels`).

Errors raise TranscodeError whose str() is go's message (lpms' names: "TranscoderInvalidVideo",
"No keyframes in input", ...), so node.core.sessions.is_non_retryable_error classifies it as the
gateway would; the human explanation is in `.detail` (and shown in tracebacks as a note).

Deliberate differences from lpms: the output is always 8-bit 4:2:0 (yuv420p); frames are
rate-converted before scaling (same output, less work: lpms scales first to blunt a DoS that our
runaway check below also blocks); the x264 preset defaults to "veryfast" (go uses "medium");
undecodable packets inside an otherwise good segment are skipped, as ffmpeg's CLI does.
"""
from __future__ import annotations

import functools
import io
import logging
import math
import os
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Optional, Sequence

import av
from av.video.frame import PictureType

from node.worker.profiles import (
    GOP_INTRA_ONLY, EncoderProfile, Format, VideoCodec, VideoProfile, as_profiles,
)

__all__ = [
    "ACCELERATIONS", "PRESETS_X264", "SCALERS", "HardwareUnavailableError", "Rendition", "TranscodeError",
    "TranscodeResult", "Transcoder", "count_pixels", "nvenc_available", "output_size",
    "transcode", "verify_pixels", "verify_renditions",
]

log = logging.getLogger(__name__)

# --- errors (lpms' messages) ---------------------------------------------------------------------

ERR_INVALID_VIDEO = "TranscoderInvalidVideo"  # no video stream / unreadable input (non-retryable)
ERR_INVALID_DURATION = "TranscoderInvalidDuration"  # > 5 minutes (retryable in go)
ERR_INVALID_RESOLUTION = "TranscoderInvalidResolution"
ERR_UNRECOGNIZED_FORMAT = "TranscoderUnrecognizedFormat"
ERR_UNRECOGNIZED_PROFILE = "TranscoderUnrecognizedProfile"
ERR_INVALID_GOP = "TranscoderInvalidGOP"
ERR_INVALID_HARDWARE = "TranscoderInvalidHardware"
ERR_NO_KEYFRAMES = "No keyframes in input"
ERR_DECODER_NOT_FOUND = "Decoder not found"
ERR_ENCODER_NOT_FOUND = "Encoder not found"
ERR_RUNAWAY = "Encoded frames runaway"

MAX_DURATION_S = 300  # lpms refuses inputs longer than 5 minutes
RUNAWAY_FACTOR = 25  # lpms: more than 25 encoded frames per decoded frame is a runaway


class TranscodeError(Exception):
    """A failed transcode. str(err) is go's error message (what the orchestrator puts in
    TranscodeResult.error); `.detail` says what happened in words."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail
        if detail:
            self.add_note(detail)

    def __str__(self) -> str:
        return self.message

    @property
    def non_retryable(self) -> bool:
        """True when go's gateway would give up on the segment (and answer 422) without
        retrying on another orchestrator."""
        from node.core.sessions import is_non_retryable_error
        return is_non_retryable_error(self)


class HardwareUnavailableError(TranscodeError):
    """NVENC was asked for and cannot be used here (no NVIDIA GPU or driver)."""

    def __init__(self, detail: str):
        super().__init__(ERR_INVALID_HARDWARE, detail)


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendition:
    profile: VideoProfile
    data: bytes  # the encoded segment (MPEG-TS, or MP4 for Format.MP4)
    width: int
    height: int
    frames: int  # frames encoded
    pixels: int  # width x height x frames: what go reports for this rendition

    def file_name(self, seq: int) -> str:
        """The rendition's name in the gateway's multipart answer: "<profile>_<seq><ext>"."""
        return f"{self.profile.name}_{seq}{self.profile.extension}"


@dataclass(frozen=True, slots=True)
class TranscodeResult:
    renditions: list[Rendition]  # one per profile, in the profiles' order
    decoded_frames: int
    decoded_pixels: int  # go's TranscodeData.Pixels (input pixels decoded)
    duration: float  # seconds of video in the input (first frame to end of last frame)

    @property
    def pixels(self) -> int:
        """Total encoded pixels: what the orchestrator debits (pixels x price)."""
        return sum(r.pixels for r in self.renditions)


# --- lpms' output size rule ----------------------------------------------------------------------

# lpms applies nvenc's (7th gen) size limits to every encoder: (min w, min h, max w, max h).
# Codecs without an entry get (0, 0, 0, 0), which makes lpms keep the input size (VP8/VP9).
_SIZE_LIMITS = {VideoCodec.H264: (146, 50, 4096, 4096), VideoCodec.H265: (132, 40, 8192, 8192)}


def _rescale(a: int, b: int, c: int) -> int:
    """ffmpeg av_rescale: a*b/c rounded to nearest, halves away from zero."""
    n = a * b
    q, r = divmod(abs(n), c)
    if 2 * r >= c:
        q += 1
    return q if n >= 0 else -q


def _clamp(value: int, low: int, high: int) -> int:
    """lpms clamp (the lower bound wins when low >= high, as with the all-zero limits)."""
    return low if value <= low else high if value >= high else value


def output_size(in_width: int, in_height: int, width: int, height: int,
                codec: VideoCodec = VideoCodec.H264) -> tuple[int, int]:
    """The rendition size lpms' scale expression gives for an input of in_width x in_height and a
    profile of width x height: the input's longer side becomes max(width, height) (clamped to the
    codec's limits), the other side follows the input's aspect ratio, both even; if that would
    put the shorter side under the minimum, the shorter side is the minimum instead."""
    wmin, hmin, wmax, hmax = _SIZE_LIMITS.get(codec, (0, 0, 0, 0))
    w, h = _clamp(width, wmin, wmax), _clamp(height, hmin, hmax)
    max_d = max(w, h)
    iw, ih = float(in_width), float(in_height)
    if iw >= ih:
        w_expr = max_d if max_d * ih / iw >= hmin else -2
    else:
        w_expr = wmin if wmin >= max_d * iw / ih else -2
    if ih > iw:
        h_expr = max_d if max_d * iw / ih >= wmin else -2
    else:
        h_expr = hmin if hmin >= max_d * ih / iw else -2
    out_w = math.trunc(w_expr / 2) * 2 or in_width  # ffmpeg's scale: 0 means the input's size
    out_h = math.trunc(h_expr / 2) * 2 or in_height
    # ffmpeg scale_eval: -n keeps the aspect ratio with a multiple of n
    factor_w = -out_w if out_w < -1 else 1
    factor_h = -out_h if out_h < -1 else 1
    if out_w < 0 and out_h < 0:
        out_w, out_h = in_width, in_height
    if out_w < 0:
        out_w = _rescale(out_h, in_width, in_height * factor_w) * factor_w
    if out_h < 0:
        out_h = _rescale(out_w, in_height, in_width * factor_h) * factor_h
    return out_w, out_h


# --- encoders ------------------------------------------------------------------------------------

ACCELERATIONS = ("software", "nvidia", "auto")
SCALERS = ("bicubic", "bilinear", "fast_bilinear", "area", "neighbor", "lanczos", "spline")
PRESETS_X264 = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow")
# x264 speed names -> NVENC presets p1 (fastest) .. p7 (best)
_NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p1", "veryfast": "p2", "faster": "p3",
                  "fast": "p3", "medium": "p4", "slow": "p5", "slower": "p6", "veryslow": "p7"}
_ENCODERS = {  # lpms FfEncoderLookup
    "software": {VideoCodec.H264: "libx264", VideoCodec.H265: "libx265",
                 VideoCodec.VP8: "libvpx", VideoCodec.VP9: "libvpx-vp9"},
    "nvidia": {VideoCodec.H264: "h264_nvenc", VideoCodec.H265: "hevc_nvenc"},
}


@functools.lru_cache(maxsize=None)
def _probe_encoder(name: str, device: Optional[int]) -> Optional[str]:
    """None when `name` opens here on a small frame size, else why not."""
    if name not in av.codecs_available:
        return f"this FFmpeg build has no {name} encoder"
    try:
        ctx = av.CodecContext.create(name, "w")
        ctx.width, ctx.height, ctx.pix_fmt = 256, 144, "yuv420p"
        ctx.time_base = Fraction(1, 30)
        if device is not None:
            ctx.options = {"gpu": str(device)}
        ctx.open()
    except av.FFmpegError as exc:
        return f"{name} failed to open ({exc.strerror}): no usable NVIDIA GPU/driver"
    return None


def nvenc_available(device: Optional[int] = None) -> bool:
    """Whether h264_nvenc can encode here (an NVIDIA GPU with its driver); probed once."""
    return _probe_encoder("h264_nvenc", device) is None


def _encoder_options(profile: VideoProfile, accel: str, preset: str) -> dict[str, str]:
    """lpms' defaults for an encoder given by acceleration (forced-idr, preset, B-frames,
    profile, CRF/CQ, GOP), with the preset ours to choose."""
    opts = {"forced-idr": "1"}
    if accel == "nvidia":
        opts["preset"] = _NVENC_PRESETS.get(preset, preset)
    elif profile.encoder in (VideoCodec.H264, VideoCodec.H265):
        opts["preset"] = preset
    if profile.quality:
        if accel == "nvidia":
            if profile.quality + 7 <= 51:
                opts["cq"] = str(profile.quality + 7)
        elif profile.quality <= 63:
            opts["crf"] = str(profile.quality)
    try:
        enc_profile = EncoderProfile(profile.profile)
    except ValueError:
        raise TranscodeError(ERR_UNRECOGNIZED_PROFILE,
                             f"profile {profile.name}: unknown encoder profile {profile.profile!r}")
    if enc_profile in (EncoderProfile.H264_BASELINE, EncoderProfile.H264_CONSTRAINED_HIGH):
        opts["profile"], opts["bf"] = enc_profile.encoder_option, "0"
    elif enc_profile in (EncoderProfile.H264_MAIN, EncoderProfile.H264_HIGH):
        opts["profile"], opts["bf"] = enc_profile.encoder_option, "3"
    else:
        opts["bf"] = "0" if accel == "nvidia" else "3"
    if accel == "nvidia" and profile.fps == 0:
        opts["bf"] = "0"  # lpms: nvenc mis-computes DTS with B-frames under pts passthrough
    if profile.gop == GOP_INTRA_ONLY:
        opts["g"] = "0"
    elif profile.gop < 0:
        raise TranscodeError(ERR_INVALID_GOP, f"profile {profile.name}: gop {profile.gop}")
    elif profile.gop > 0 and profile.fps > 0:
        opts["g"] = str(int(profile.gop * profile.fps))  # lpms uses the numerator alone
    return opts


# --- the per-rendition output --------------------------------------------------------------------


class _Output:
    """One rendition being written: encoder, muxer, frame-rate slots, counters."""

    def __init__(self, profile: VideoProfile, accel: str, preset: str, threads: int,
                 device: Optional[int], scaler: str, in_stream, audio_stream, in_width: int,
                 in_height: int):
        self.profile = profile
        try:
            fmt = Format(profile.format)
        except ValueError:
            raise TranscodeError(ERR_UNRECOGNIZED_FORMAT,
                                 f"profile {profile.name}: unknown format {profile.format!r}")
        if profile.width < 0 or profile.height < 0:
            raise TranscodeError(ERR_INVALID_RESOLUTION,
                                 f"profile {profile.name}: resolution {profile.resolution}")
        encoder_name = _ENCODERS[accel].get(profile.encoder)
        if encoder_name is None or encoder_name not in av.codecs_available:
            raise TranscodeError(ERR_ENCODER_NOT_FOUND,
                                 f"profile {profile.name}: no {accel} encoder for codec "
                                 f"{profile.encoder!r} in this FFmpeg build")
        self.width, self.height = output_size(in_width, in_height, profile.width,
                                              profile.height, profile.encoder)
        self.rate = Fraction(profile.fps, profile.fps_den or 1) if profile.fps > 0 else None
        self.path: Optional[str] = None
        self.container = None
        try:
            self._open(fmt, encoder_name, accel, preset, threads, device, scaler, in_stream,
                       audio_stream)
        except BaseException:
            self.close_quietly()
            raise

    def _open(self, fmt: Format, encoder_name: str, accel: str, preset: str, threads: int,
              device: Optional[int], scaler: str, in_stream, audio_stream) -> None:
        profile = self.profile
        if fmt is Format.MP4:
            # lpms' "faststart" (moov first) rewrites the file by name: needs a real file
            fd, self.path = tempfile.mkstemp(prefix="lpsim-", suffix=".mp4")
            os.close(fd)
            self.container = av.open(self.path, "w", format="mp4",
                                     options={"movflags": "faststart"})
        else:
            self.buffer = io.BytesIO()
            self.container = av.open(self.buffer, "w", format=fmt.muxer)
        if self.rate is not None:
            time_base = 1 / self.rate
            framerate = self.rate
        else:  # passthrough: the input's timestamps, in its time base
            time_base = in_stream.time_base
            framerate = in_stream.average_rate or in_stream.guessed_rate or Fraction(30)
        self.stream = self.container.add_stream(encoder_name, rate=framerate)
        cc = self.stream.codec_context
        cc.width, cc.height, cc.pix_fmt = self.width, self.height, "yuv420p"
        cc.time_base = time_base
        self.stream.time_base = time_base
        cc.framerate = framerate
        if threads:
            cc.thread_count = threads
        opts = _encoder_options(profile, accel, preset)
        if profile.bitrate > 0:
            cc.bit_rate = profile.bitrate
            rate = str(profile.bitrate)
            opts.update(minrate=rate, maxrate=rate, bufsize=rate)
        if accel == "nvidia" and device is not None:
            opts["gpu"] = str(device)
        cc.options = opts
        self.time_base = time_base
        # GOP by time when the frame rate is passed through (lpms gop_time)
        self.gop_pts = (int(profile.gop / time_base) if profile.gop > 0 and self.rate is None
                        else 0)
        self.next_kf_pts: Optional[int] = None
        self.audio = None
        if audio_stream is not None:
            try:
                self.audio = self.container.add_stream_from_template(audio_stream)
            except (av.FFmpegError, ValueError) as exc:  # the container cannot take this codec
                log.warning("dropping audio for %s: %s", profile.name, exc)
        self.scaler = _Scaler(self.width, self.height, scaler)
        self.frames = 0
        # frame-rate conversion (ffmpeg's fps filter): the held frame and the next output slot;
        # slot k (time k / rate) shows the latest input frame whose own slot is <= k
        self.pending = None
        self.next_slot: Optional[int] = None

    # -- video
    def _scaled(self, frame):
        """The frame at the rendition's size in yuv420p (the frame itself if it already is).
        Encoders take their own reference to what they are sent, so one scaled frame may be
        sent several times (duplicates) with different timestamps."""
        if (frame.width, frame.height, frame.format.name) == (self.width, self.height, "yuv420p"):
            return frame
        return self.scaler.scale(frame)

    def _send(self, frame, pts: int) -> None:
        frame.pts = pts
        frame.time_base = self.time_base
        key = self.frames == 0  # lpms makes the first frame of a segment a keyframe
        if self.gop_pts:  # keyframes every `gop` seconds under timestamp passthrough
            if self.next_kf_pts is None or pts >= self.next_kf_pts:
                key = True
                self.next_kf_pts = pts + self.gop_pts
        frame.pict_type = PictureType.I if key else PictureType.NONE
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def _emit_pending(self, upto_slot: int) -> None:
        """Send the held frame for every slot before `upto_slot` (scaled once)."""
        if self.next_slot >= upto_slot:
            return
        scaled = self._scaled(self.pending)
        while self.next_slot < upto_slot:
            self._send(scaled, self.next_slot)
            self.next_slot += 1

    def add_frame(self, frame, t: Fraction) -> None:
        """A decoded frame presented at `t` seconds."""
        if self.rate is None:
            self._send(self._scaled(frame), _round_half_away(t / self.time_base))
            return
        slot = _round_half_away(t * self.rate)
        if self.pending is None:
            self.next_slot = slot
        else:
            self._emit_pending(slot)  # the held frame fills the slots before this one
        self.pending = frame

    def slots_needed(self, t: Fraction) -> int:
        """Frames the held frame would add if the next frame came at `t` (runaway check)."""
        if self.rate is None or self.pending is None:
            return 1
        return max(0, _round_half_away(t * self.rate) - self.next_slot)

    def finish(self, end: Fraction) -> None:
        """End of input at `end` seconds (end of the last frame): flush and close."""
        if self.rate is not None and self.pending is not None:
            end_slot = _round_half_away(end * self.rate)
            if self.frames == 0 and end_slot <= self.next_slot:
                end_slot = self.next_slot + 1  # lpms flushes at least one frame out
            self._emit_pending(end_slot)
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        if self.path is not None:
            with open(self.path, "rb") as fh:
                self.data = fh.read()
        else:
            self.data = self.buffer.getvalue()

    # -- audio
    def add_audio(self, packet) -> None:
        if self.audio is None:
            return
        copy = _clone_packet(packet)  # muxing consumes a packet: each output gets its own
        copy.stream = self.audio
        self.container.mux(copy)

    def close_quietly(self) -> None:
        try:
            if self.container is not None:
                self.container.close()
        except Exception:  # noqa: BLE001 - best effort after a failure
            pass
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass


class _Scaler:
    """libavfilter's scale (what lpms uses: bicubic by default) to a fixed size and yuv420p.
    Much faster than VideoFrame.reformat here (about 1.2 vs 6 ms for 720p -> 360p bicubic). The
    graph is rebuilt if the input's size or pixel format changes mid-segment (lpms too)."""

    def __init__(self, width: int, height: int, flags: str):
        self.width, self.height, self.flags = width, height, flags
        self.key = None
        self.graph = None

    def scale(self, frame):
        key = (frame.width, frame.height, frame.format.name)
        if key != self.key:
            graph = av.filter.Graph()
            src = graph.add_buffer(width=frame.width, height=frame.height,
                                   format=frame.format.name, time_base=Fraction(1, 90000))
            scale = graph.add("scale", f"w={self.width}:h={self.height}:flags={self.flags}")
            fmt = graph.add("format", "yuv420p")
            sink = graph.add("buffersink")
            src.link_to(scale)
            scale.link_to(fmt)
            fmt.link_to(sink)
            graph.configure()
            self.graph, self.key = graph, key
        pts = frame.pts
        frame.pts = None
        try:
            self.graph.vpush(frame)
        finally:
            frame.pts = pts
        return self.graph.vpull()


def _round_half_away(x: Fraction) -> int:
    """ffmpeg's AV_ROUND_NEAR_INF on an exact rational."""
    n = math.floor(abs(x) + Fraction(1, 2))
    return n if x >= 0 else -n


# --- the transcoder ------------------------------------------------------------------------------


class Transcoder:
    """A configured transcoder; `transcode` may be called from several threads at once (PyAV
    releases the GIL while decoding and encoding).

    accel: "software" (libx264), "nvidia" (h264_nvenc; HardwareUnavailableError right here if it
    cannot be used, like go refusing to start with -nvidia on a machine without a GPU) or "auto"
    (nvidia when available, else software). preset: x264's speed preset (go uses "medium";
    default "veryfast"); on nvenc it maps to p1..p7. threads: encoder threads (0 = FFmpeg's
    choice). device: the GPU index for nvenc. scaler: swscale's algorithm (lpms: "bicubic",
    FFmpeg's default; "bilinear" / "fast_bilinear" are cheaper)."""

    def __init__(self, accel: str = "software", preset: str = "veryfast", threads: int = 0,
                 device: Optional[int] = None, scaler: str = "bicubic"):
        if accel not in ACCELERATIONS:
            raise ValueError(f"unknown acceleration {accel!r} (expected one of {ACCELERATIONS})")
        if preset not in PRESETS_X264:
            raise ValueError(f"unknown preset {preset!r} (expected one of {PRESETS_X264})")
        if scaler not in SCALERS:
            raise ValueError(f"unknown scaler {scaler!r} (expected one of {SCALERS})")
        if accel in ("nvidia", "auto"):
            reason = _probe_encoder("h264_nvenc", device)
            if reason is None:
                accel = "nvidia"
            elif accel == "nvidia":
                raise HardwareUnavailableError(f"h264_nvenc was requested but cannot be used: "
                                               f"{reason}; use accel='software' (libx264)")
            else:
                accel = "software"
        self.accel = accel
        self.preset = preset
        self.threads = threads
        self.device = device
        self.scaler = scaler

    @property
    def encoder_name(self) -> str:
        return _ENCODERS[self.accel][VideoCodec.H264]

    def transcode(self, segment: bytes, profiles: Sequence[VideoProfile | str] | str,
                  input_format: Optional[str] = None) -> TranscodeResult:
        """Transcode one segment (bytes of MPEG-TS, or any container FFmpeg reads; input_format
        forces the demuxer, e.g. "mpegts") into one rendition per profile (profile objects or
        preset names). Raises TranscodeError."""
        profiles = as_profiles(profiles)
        container = _open_input(segment, input_format)
        outputs: list[_Output] = []
        try:
            return self._run(container, profiles, outputs)
        except av.FFmpegError as exc:
            raise TranscodeError(exc.strerror or str(exc), f"FFmpeg: {exc}") from exc
        finally:
            for out in outputs:
                out.close_quietly()
            container.close()

    def _run(self, container, profiles: list[VideoProfile], outputs: list) -> TranscodeResult:
        video = container.streams.video[0]
        if video.codec_context is None:
            name = getattr(getattr(video, "codec", None), "name", "unknown")
            raise TranscodeError(ERR_DECODER_NOT_FOUND,
                                 f"no decoder for the input's video codec ({name})")
        video.thread_type = "AUTO"
        audio = container.streams.audio[0] if container.streams.audio else None
        if container.duration is not None and container.duration / 1e6 > MAX_DURATION_S:
            raise TranscodeError(ERR_INVALID_DURATION,
                                 f"input lasts {container.duration / 1e6:.0f} s (> 300 s)")
        time_base = video.time_base
        default_step = (1 / (video.average_rate or video.guessed_rate)
                        if (video.average_rate or video.guessed_rate) else Fraction(1, 30))
        decoded_frames = decoded_pixels = 0
        first_t: Optional[Fraction] = None
        last_t = Fraction(0)
        last_step = default_step
        pending_audio = []  # audio packets seen before the outputs exist
        bad_packets = 0
        streams = [video] + ([audio] if audio is not None else [])
        for packet in container.demux(streams):
            if packet.stream.type == "audio":
                if packet.dts is None or packet.pts is None:
                    continue
                if outputs:
                    for out in outputs:
                        out.add_audio(packet)
                else:
                    pending_audio.append(_clone_packet(packet))
                continue
            try:
                frames = packet.decode()
            except av.InvalidDataError:
                bad_packets += 1
                continue
            for frame in frames:
                if not outputs:  # built on the first frame: its size decides the output sizes
                    for p in profiles:
                        outputs.append(_Output(p, self.accel, self.preset, self.threads,
                                               self.device, self.scaler, video, audio,
                                               frame.width, frame.height))
                    for pkt in pending_audio:
                        for out in outputs:
                            out.add_audio(pkt)
                    pending_audio.clear()
                if frame.pts is not None:
                    t = Fraction(frame.pts) * time_base
                else:
                    t = last_t + last_step if first_t is not None else Fraction(0)
                if frame.duration:
                    last_step = Fraction(frame.duration) * time_base
                decoded_frames += 1
                decoded_pixels += frame.width * frame.height
                for out in outputs:
                    if out.frames + out.slots_needed(t) > RUNAWAY_FACTOR * decoded_frames:
                        raise TranscodeError(ERR_RUNAWAY, f"{out.profile.name}: the frame rate "
                                             f"conversion would emit more than {RUNAWAY_FACTOR} "
                                             f"frames per decoded frame (timestamp gap at {float(t):.3f} s)")
                    out.add_frame(frame, t)
                if first_t is None:
                    first_t = t
                last_t = max(last_t, t)
        if decoded_frames == 0:
            raise TranscodeError(ERR_NO_KEYFRAMES, "no video frame could be decoded from the input"
                                 + (f" ({bad_packets} undecodable packets)" if bad_packets else ""))
        if bad_packets:
            log.warning("skipped %d undecodable video packets", bad_packets)
        end = last_t + last_step
        for out in outputs:
            out.finish(end)
        renditions = [Rendition(out.profile, out.data, out.width, out.height,
                                out.frames, out.width * out.height * out.frames)
                      for out in outputs]
        return TranscodeResult(renditions, decoded_frames, decoded_pixels,
                               float(end - (first_t or 0)))


def _clone_packet(packet):
    copy = av.Packet(bytes(packet))
    copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
    if packet.duration:
        copy.duration = packet.duration
    copy.is_keyframe = packet.is_keyframe
    return copy


def _open_input(segment: bytes, input_format: Optional[str]):
    """Open the segment, or raise go's error for an input without video (lpms: GetCodecInfo
    finds no video codec -> TranscoderInvalidVideo, non-retryable)."""
    if not segment:
        raise TranscodeError(ERR_INVALID_VIDEO, "the segment is empty")
    try:
        container = av.open(io.BytesIO(segment), "r", format=input_format)
    except av.FFmpegError as exc:
        raise TranscodeError(ERR_INVALID_VIDEO, f"the segment is not readable media: "
                             f"{exc.strerror}") from exc
    if not container.streams.video:
        container.close()
        raise TranscodeError(ERR_INVALID_VIDEO, "the segment has no video stream")
    return container


_default_transcoders: dict[tuple, Transcoder] = {}
_default_lock = threading.Lock()


def transcode(segment: bytes, profiles: Sequence[VideoProfile | str] | str, *,
              accel: str = "software", preset: str = "veryfast", threads: int = 0,
              device: Optional[int] = None, scaler: str = "bicubic",
              input_format: Optional[str] = None) -> TranscodeResult:
    """Transcode one segment into one rendition per profile (see Transcoder)."""
    key = (accel, preset, threads, device, scaler)
    with _default_lock:
        transcoder = _default_transcoders.get(key)
        if transcoder is None:
            transcoder = _default_transcoders[key] = Transcoder(accel, preset, threads, device,
                                                                scaler)
    return transcoder.transcode(segment, profiles, input_format)


# --- verification (gateway side) -----------------------------------------------------------------


def count_pixels(data: bytes) -> int:
    """Decode a rendition and sum width x height over its video frames (lpms' decoded pixel
    count, which go's verifier compares with the orchestrator's report). Raises TranscodeError
    if the data cannot be decoded."""
    container = _open_input(data, None)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        pixels = 0
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.InvalidDataError:
                continue
            for frame in frames:
                pixels += frame.width * frame.height
        return pixels
    except av.FFmpegError as exc:
        raise TranscodeError(exc.strerror or str(exc), f"FFmpeg: {exc}") from exc
    finally:
        container.close()


def verify_pixels(data: bytes, reported_pixels: int) -> tuple[bool, int]:
    """go's pixel-count verification of one rendition: (decoded pixels == reported, decoded
    pixels). A rendition that does not decode fails with 0 pixels counted."""
    try:
        counted = count_pixels(data)
    except TranscodeError:
        return False, 0
    return counted == reported_pixels, counted


def verify_renditions(renditions: Iterable[bytes], reported: Sequence[int]) -> tuple[bool, list[int]]:
    """All renditions of a segment: go requires as many renditions as reported results (else
    "PixelsAbsent") and every count to match ("PixelMismatch" otherwise)."""
    renditions = list(renditions)
    if len(renditions) != len(reported):
        return False, []
    counts = [verify_pixels(data, pixels)[1] for data, pixels in zip(renditions, reported)]
    return counts == list(reported), counts
