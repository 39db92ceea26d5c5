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

from node.worker.ai.tiny_vision import (  # noqa: E402
    TINY_SAM2_ID,
    TINY_SVD_ID,
    TINY_UPSCALER_ID,
    build_tiny_sam2,
    build_tiny_svd,
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


def post_image(pipeline: str, form: dict, upload: bytes) -> Request:
    data = {k: str(v) for k, v in form.items()}
    return lambda c: c.post(f"/{pipeline}", data=data,
                            files={"image": ("in.png", upload, "image/png")})


def main() -> int:
    args = parse_args(__doc__, lambda ap: ap.add_argument(
        "--size", type=int, default=32, help="video side and upscale input scale"))
    with tempfile.TemporaryDirectory() as models:
        header(20)
        for pipeline, model_id, build, form, upload in cases(args.size):
            build(models)
            compare(pipeline, 20, pipeline, model_id, models, args,
                    post_image(pipeline, form, upload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
