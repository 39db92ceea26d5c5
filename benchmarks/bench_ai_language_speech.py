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

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from node.worker.ai import create_app  # noqa: E402
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

Request = Callable[[TestClient], object]


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


def measure(client: TestClient, request: Request, n: int):
    def one() -> float:
        t0 = time.perf_counter()
        r = request(client)
        r.raise_for_status()
        return time.perf_counter() - t0

    one()  # warm-up
    t0 = time.perf_counter()
    latencies = [one() for _ in range(n)]
    return n / (time.perf_counter() - t0), statistics.median(latencies)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--device", default=None, help="torch device (default: the runner's choice)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args()
    options = {"num_threads": args.threads}
    if args.device:
        options["device"] = args.device
    with tempfile.TemporaryDirectory() as models:
        print(f"{'pipeline':<16} {'real req/s':>10} {'real p50':>10} {'mock req/s':>10} "
              f"{'mock p50':>10} {'real/mock p50':>14}")
        for label, pipeline, model_id, build, request in cases():
            build(models)
            real = TestClient(create_app(pipeline, model_id, mode="real", models_dir=models,
                                         **options))
            mock = TestClient(create_app(pipeline, model_id, mode="mock"))
            r_rate, r_p50 = measure(real, request, args.requests)
            m_rate, m_p50 = measure(mock, request, args.requests)
            print(f"{label:<16} {r_rate:>10.1f} {r_p50 * 1e3:>8.1f}ms {m_rate:>10.1f} "
                  f"{m_p50 * 1e3:>8.1f}ms {r_p50 / m_p50:>13.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
