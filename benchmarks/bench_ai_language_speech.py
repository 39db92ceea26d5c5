"""The real audio-to-text, llm, image-to-text and text-to-speech pipelines on their tiny models,
through the runner's HTTP route (in process), against the same route with the declared mock
pipeline measured in the same run (the baseline: routing, body parsing, audio probing and the
response), so the difference is what the model itself costs.

    python benchmarks/bench_ai_language_speech.py [--requests 20] [--device cpu|cuda] [--threads 1]

Prints, per pipeline: requests per second and p50 for the real model and for the mock, and their
ratio. Requests are the tests': a 2 s tone with sentence timestamps (at most 128 tokens), a
one-message chat with max_tokens 24 (also streamed), a 48×40 image with a prompt, one sentence
of speech.
"""
from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from runner_vs_mock import Request, compare, header, parse_args  # noqa: E402

from node.worker.ai.media import wav_bytes  # noqa: E402
from node.worker.ai.tiny_language import (  # noqa: E402
    TINY_BLIP_ID,
    TINY_LLAMA_ID,
    build_tiny_blip,
    build_tiny_llama,
)
from node.worker.ai.tiny_speech import (  # noqa: E402
    TINY_VITS_ID,
    TINY_WHISPER_ID,
    build_tiny_vits,
    build_tiny_whisper,
)


def tone() -> bytes:
    t = np.arange(32000) / 16000
    return wav_bytes((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)


def png() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def chat(stream: bool) -> Request:
    body = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 24,
            "stream": stream}
    return lambda c: c.post("/llm", json=body)


def cases():
    """(label, pipeline, model id, builder, request)."""
    audio, image = tone(), png()
    return [
        ("audio-to-text", "audio-to-text", TINY_WHISPER_ID, build_tiny_whisper,
         lambda c: c.post("/audio-to-text", files={"audio": ("a.wav", audio, "audio/wav")})),
        ("llm", "llm", TINY_LLAMA_ID, build_tiny_llama, chat(False)),
        ("llm (stream)", "llm", TINY_LLAMA_ID, build_tiny_llama, chat(True)),
        ("image-to-text", "image-to-text", TINY_BLIP_ID, build_tiny_blip,
         lambda c: c.post("/image-to-text", data={"prompt": "a picture of"},
                          files={"image": ("in.png", image, "image/png")})),
        ("text-to-speech", "text-to-speech", TINY_VITS_ID, build_tiny_vits,
         lambda c: c.post("/text-to-speech", json={"text": "hello world, how are you?"})),
    ]


def main() -> int:
    args = parse_args(__doc__)
    with tempfile.TemporaryDirectory() as models:
        header(16)
        for label, pipeline, model_id, build, request in cases():
            build(models)
            compare(label, 16, pipeline, model_id, models, args, request)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
