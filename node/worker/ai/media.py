"""Media helpers of the runner: data URLs, decoding uploads, WAV writing, audio probing."""
from __future__ import annotations

import base64
import io
import json
import wave
from typing import Dict, Optional

import numpy as np
from PIL import Image, ImageFile

from .errors import AudioConversionError, LoraLoadingError

# As ai-runner does: truncated uploads are decoded as far as they go instead of failing.
ImageFile.LOAD_TRUNCATED_IMAGES = True

LORA_LIMIT = 4


def image_to_data_url(img: Image.Image) -> str:
    """PNG data URL (`data:image/png;base64,...`), the runner's image encoding."""
    buf = io.BytesIO()
    img.save(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def audio_to_data_url(data: bytes, fmt: str = "wav") -> str:
    return f"data:audio/{fmt};base64," + base64.b64encode(data).decode("ascii")


def decode_data_url(url: str) -> bytes:
    """The bytes inside a base64 data URL (tests and clients)."""
    header, _, payload = url.partition(",")
    if not header.startswith("data:") or not header.endswith(";base64"):
        raise ValueError("not a base64 data URL")
    return base64.b64decode(payload)


def read_image(data: bytes) -> Image.Image:
    """Decode an uploaded image and convert it to RGB (PIL raises on garbage)."""
    img = Image.open(io.BytesIO(data))
    return img.convert("RGB")


def wav_bytes(samples: np.ndarray, sample_rate: int = 44100) -> bytes:
    """16-bit PCM mono WAV from float samples in [-1, 1]."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def audio_duration(data: bytes) -> float:
    """Duration in seconds of an audio file, probed with PyAV (the runner shells out to ffprobe,
    which this testbed does not require). Raises AudioConversionError when it cannot be decoded."""
    try:
        import av
    except ImportError as e:  # pragma: no cover - av is a node dependency
        raise AudioConversionError(f"PyAV is not installed: {e}") from e
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            streams = container.streams.audio
            if not streams:
                raise AudioConversionError("no audio stream")
            stream = streams[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000.0
            samples = 0
            rate = stream.rate or stream.codec_context.sample_rate
            for frame in container.decode(stream):
                samples += frame.samples
            if not rate:
                raise AudioConversionError("unknown sample rate")
            return samples / float(rate)
    except AudioConversionError:
        raise
    except Exception as e:
        raise AudioConversionError(str(e)) from e


def parse_metadata_key(metadata: str, key: str, expected_type: type):
    """A key of the `metadata` JSON form field (audio-to-text), converted to expected_type."""
    try:
        values = json.loads(metadata)
    except json.JSONDecodeError as e:
        raise ValueError(f"Invalid JSON: {e}") from e
    if not isinstance(values, dict):
        raise ValueError("metadata must be a JSON object")
    value = values.get(key)
    if value is None:
        return None
    if isinstance(value, expected_type):
        return value
    try:
        return expected_type(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"Invalid {key} value. Must be of type {expected_type.__name__}.") from e


def json_to_array(data: Optional[str], name: str) -> Optional[np.ndarray]:
    """A JSON-array form field as a NumPy array (segment-anything-2); None when empty."""
    if not data:
        return None
    try:
        return np.array(json.loads(data))
    except json.JSONDecodeError as e:
        raise ValueError(f"Error parsing JSON for {name}: {e}") from e


def parse_loras(loras_json: str) -> Dict[str, float]:
    """Validate the `loras` field ({"repo": weight, ...}) with the runner's messages."""
    if not loras_json:
        return {}
    try:
        loras = json.loads(loras_json)
    except json.JSONDecodeError:
        raise LoraLoadingError(f"Unable to parse '{loras_json}' as JSON.") from None
    if not isinstance(loras, dict):
        raise LoraLoadingError(f"Unable to parse '{loras_json}' as JSON.")

    def numeric(v) -> bool:
        if isinstance(v, bool):
            return False
        try:
            float(v)
            return True
        except (TypeError, ValueError):
            return False

    if any(not numeric(v) or float(v) < 0.0 for v in loras.values()):
        raise LoraLoadingError("All strengths must be numbers greater than or equal to 0.0.")
    if len(loras) > LORA_LIMIT:
        raise LoraLoadingError(f"Too many LoRas provided. Maximum is {LORA_LIMIT}.")
    return {k: float(v) for k, v in loras.items()}


def split_prompt(text: str, key_prefix: str = "prompt", max_splits: int = 3) -> Dict[str, str]:
    """'a | b | c' → {prompt: a, prompt_2: b, prompt_3: c} (empty parts dropped), as the runner
    maps `|`-separated prompts onto a pipeline's extra text encoders."""
    parts = [p.strip() for p in text.split("|", max_splits) if p.strip()]
    if not parts:
        return {}
    start = max(1, len(parts) - max_splits) if max_splits >= 0 else 1
    out = {key_prefix: parts[0]}
    for i, part in enumerate(parts[1:], start=start):
        out[f"{key_prefix}_{i + 1}"] = part
    return out
