"""Media helpers of the gateway's batch AI API (PyAV in place of go's lpms/ffmpeg):

- `audio_seconds`: an upload's duration as go's common.CalculateAudioDuration measures it (the
  container's duration, truncated to whole seconds); an unreadable file raises CodecInfoError
  ("Error getting codec info", go's message);
- `frames_to_mp4`: image-to-video frames (data URLs) encoded into one H.264 MP4, as go's
  orchestrator does (core/ai_orchestrator.go ImageToVideo: fps from the request, default 7;
  the requested width x height, default 1024x576; 6000k);
- `MediaStore`: go's gateway-side memory object store (drivers.NewMemoryDriver with an empty base
  URI): data saved under a request id is served at /stream/<request id>/<name>;
- `multipart_body`: a multipart/form-data body rebuilt with extra fields (go re-encodes the
  audio-to-text request with its `metadata` field)."""
from __future__ import annotations

import io
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from fractions import Fraction
from typing import IO

CODEC_INFO_ERROR = "Error getting codec info"  # common.CalculateAudioDuration
VIDEO_FPS = 7  # go's default framerate for image-to-video
VIDEO_BITRATE = 6_000_000


class CodecInfoError(Exception):
    pass


def audio_seconds(file: IO[bytes]) -> int:
    """Whole seconds of an audio upload (go: int64(mediaFormat.DurSecs)); CodecInfoError when
    the container cannot be read; 0 when it has no known duration (go then answers
    "audio duration calculation failed")."""
    import av

    file.seek(0)
    try:
        with av.open(file, mode="r") as container:
            duration = container.duration
    except Exception as exc:  # noqa: BLE001 - anything unreadable is go's codec-info error
        raise CodecInfoError(CODEC_INFO_ERROR) from exc
    finally:
        file.seek(0)
    return int(duration / 1_000_000) if duration and duration > 0 else 0


def frames_to_mp4(frames: Iterable[bytes], width: int, height: int, fps: int) -> bytes:
    """Encode image frames (PNG/JPEG bytes) as an H.264 MP4 of width x height at fps."""
    import av
    from PIL import Image

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps or VIDEO_FPS))
        stream.width, stream.height = width & ~1, height & ~1
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = VIDEO_BITRATE
        for data in frames:
            img = Image.open(io.BytesIO(data)).convert("RGB")
            if img.size != (stream.width, stream.height):
                img = img.resize((stream.width, stream.height))
            frame = av.VideoFrame.from_image(img)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


class MediaStore:
    """A bounded memory store of request outputs (go's MemoryOS keeps a few sessions too)."""

    def __init__(self, max_sessions: int = 64) -> None:
        self.max_sessions = max_sessions
        self.sessions: OrderedDict[str, dict[str, bytes]] = OrderedDict()

    def save(self, request_id: str, name: str, data: bytes) -> str:
        session = self.sessions.setdefault(request_id, {})
        self.sessions.move_to_end(request_id)
        session[name] = data
        while len(self.sessions) > self.max_sessions:
            self.sessions.popitem(last=False)
        return f"/stream/{request_id}/{name}"

    def read(self, request_id: str, name: str) -> bytes | None:
        return self.sessions.get(request_id, {}).get(name)


def multipart_body(fields: dict[str, str], file_name: str, filename: str, file: IO[bytes],
                   file_type: str) -> tuple[IO[bytes], str]:
    """A multipart/form-data body (spooled) of `fields` and one file part; returns (body, content type)."""
    boundary = uuid.uuid4().hex
    out = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 - returned to the caller, who closes it
    filename = filename.replace('"', "")
    out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_name}"; filename="{filename}"\r\n'
              f"Content-Type: {file_type}\r\n\r\n".encode())
    file.seek(0)
    while chunk := file.read(1 << 16):
        out.write(chunk)
    out.write(b"\r\n")
    for key, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode()
                  + str(value).encode() + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    out.seek(0)
    return out, f"multipart/form-data; boundary={boundary}"
