"""Live pipelines: a frame (RGB numpy array) and the stream's params in, a frame out."""
from __future__ import annotations

from pathlib import Path

import numpy as np


class LivePipeline:
    name = ""

    def process(self, frame: np.ndarray, params: dict) -> np.ndarray:
        raise NotImplementedError


class NoopPipeline(LivePipeline):
    """Pass-through (ai-runner's `noop`)."""
    name = "noop"

    def process(self, frame: np.ndarray, params: dict) -> np.ndarray:
        return frame


class SlowPipeline(LivePipeline):
    """Pass-through that takes `delay_ms` (param, default 100) per frame: a declared test pipeline
    for a pipeline slower than its input (frames must drop, never pile up)."""
    name = "slow"

    def process(self, frame: np.ndarray, params: dict) -> np.ndarray:
        import time

        time.sleep(float(params.get("delay_ms", 100)) / 1000)
        return frame


class ImageToImageLive(LivePipeline):
    """Per-frame img2img through node.worker.ai.diffusion's loader (the tiny SD on CPU in tests,
    a real model on a GPU). Params: prompt, strength, num_inference_steps, seed."""
    name = "image-to-image"

    def __init__(self, model_id: str, models_dir: str | Path | None = None, device: str | None = None):
        from node.worker.ai.diffusion import ImageToImagePipeline

        self.inner = ImageToImagePipeline(model_id, models_dir=models_dir, device=device)

    def process(self, frame: np.ndarray, params: dict) -> np.ndarray:
        from PIL import Image

        image = Image.fromarray(frame)
        out, _ = self.inner(params.get("prompt", ""), image, safety_check=False,
                            strength=float(params.get("strength", 0.5)),
                            num_inference_steps=int(params.get("num_inference_steps", 2)),
                            seed=int(params.get("seed", 0)))
        result = out[0].convert("RGB")
        if result.size != image.size:
            result = result.resize(image.size)
        return np.asarray(result)


def load_live_pipeline(name: str, model_id: str = "", models_dir=None, device=None) -> LivePipeline:
    if name == "noop":
        return NoopPipeline()
    if name == "slow":
        return SlowPipeline()
    if name in ("image-to-image", "img2img"):
        return ImageToImageLive(model_id, models_dir, device)
    raise ValueError(f"unknown live pipeline {name!r} (noop, slow, image-to-image)")
