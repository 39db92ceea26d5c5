"""The real image-to-video, upscale and segment-anything-2 pipelines on their tiny models, through
the runner's HTTP route (in process), against the same route with the declared mock pipeline
measured in the same run (the baseline: routing, form parsing, PNG encoding and the response),
so "model" below is what the model itself costs.

    python benchmarks/bench_ai_vision.py [--requests 20] [--device cpu|cuda] [--threads 1]

Prints, per pipeline: requests per second and p50 for the real model and for the mock, and their
ratio. Sizes are the tests' (32×32 six-frame video with 2 steps, 24×16 → 96×64 upscale with 2
steps, one point on a 40×30 image); `--size` scales the video and the upscale input.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from node.worker.ai import create_app  # noqa: E402
from node.worker.ai.tiny_vision import (  # noqa: E402
    TINY_SAM2_ID, TINY_SVD_ID, TINY_UPSCALER_ID, build_tiny_sam2, build_tiny_svd,
    build_tiny_upscaler,
)


def png(w: int, h: int) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def cases(size: int):
    """(pipeline, model id, builder, form fields, upload)."""
    return [
        ("image-to-video", TINY_SVD_ID, build_tiny_svd,
         {"height": size, "width": size, "num_inference_steps": 2, "seed": 1}, png(64, 64)),
        ("upscale", TINY_UPSCALER_ID, build_tiny_upscaler,
         {"prompt": "a cat", "num_inference_steps": 2, "seed": 1}, png(3 * size // 4, size // 2)),
        ("segment-anything-2", TINY_SAM2_ID, build_tiny_sam2,
         {"point_coords": "[[20, 15]]", "point_labels": "[1]"}, png(40, 30)),
    ]


def measure(client: TestClient, pipeline: str, form: dict, upload: bytes, n: int):
    def one() -> float:
        t0 = time.perf_counter()
        r = client.post(f"/{pipeline}", data={k: str(v) for k, v in form.items()},
                        files={"image": ("in.png", upload, "image/png")})
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
    ap.add_argument("--size", type=int, default=32, help="video side and upscale input scale")
    args = ap.parse_args()
    options = {"num_threads": args.threads}
    if args.device:
        options["device"] = args.device
    with tempfile.TemporaryDirectory() as models:
        print(f"{'pipeline':<20} {'real req/s':>10} {'real p50':>10} {'mock req/s':>10} "
              f"{'mock p50':>10} {'real/mock p50':>14}")
        for pipeline, model_id, build, form, upload in cases(args.size):
            build(models)
            real = TestClient(create_app(pipeline, model_id, mode="real", models_dir=models,
                                         **options))
            mock = TestClient(create_app(pipeline, model_id, mode="mock"))
            r_rate, r_p50 = measure(real, pipeline, form, upload, args.requests)
            m_rate, m_p50 = measure(mock, pipeline, form, upload, args.requests)
            print(f"{pipeline:<20} {r_rate:>10.1f} {r_p50 * 1e3:>8.1f}ms {m_rate:>10.1f} "
                  f"{m_p50 * 1e3:>8.1f}ms {r_p50 / m_p50:>13.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
