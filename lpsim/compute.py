"""Real pipelines inside a simulation (scenario `mode: real`): the node's own workers run in wall
time and the measured duration is what the simulated job takes. Transcoding runs PyAV on a
synthetic 2 s 720p segment into the default renditions; text-to-image and image-to-image run the
diffusers pipeline (the tiny Stable Diffusion is built locally when it is the model asked for).
Each job runs the pipeline once, so keep such scenarios small: a real job costs its real time."""
from __future__ import annotations

import os
import time
from pathlib import Path

MODELS_DIR = Path(os.environ.get("LPSIM_MODELS_DIR", Path.home() / ".cache" / "lpsim" / "models"))
REAL_PIPELINES = ("transcoding", "text-to-image", "image-to-image")


class RealCompute:
    """Quacks like a duration distribution: `sample(rng)` runs the pipeline once and returns the
    seconds it took (the rng is unused: real time is what it is)."""

    def __init__(self, pipeline: str, model_id: str) -> None:
        if pipeline not in REAL_PIPELINES:
            raise ValueError(f"mode: real is available for {', '.join(REAL_PIPELINES)}, not {pipeline}")
        self.pipeline, self.model_id = pipeline, model_id
        self._run = None

    def _load(self):
        if self.pipeline == "transcoding":
            from node.worker.media import synthetic_segment
            from node.worker.transcode import transcode

            segment = synthetic_segment(2.0, 1280, 720)
            return lambda: transcode(segment, ["P240p30fps16x9", "P360p30fps16x9"], preset="veryfast")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from node.worker.ai.pipelines import load_pipeline
        from node.worker.ai.tiny_models import TINY_SD_ID, build_tiny_sd

        if self.model_id == TINY_SD_ID:
            build_tiny_sd(MODELS_DIR, TINY_SD_ID)
        pipe = load_pipeline(self.pipeline, self.model_id, mode="real", models_dir=MODELS_DIR)
        args = {"width": 64, "height": 64, "num_inference_steps": 2, "seed": 1}
        if self.pipeline == "image-to-image":
            from PIL import Image

            image = Image.new("RGB", (64, 64), (120, 80, 40))
            return lambda: pipe("a test image", image, **args)
        return lambda: pipe("a test image", **args)

    def sample(self, rng) -> float:
        if self._run is None:
            self._run = self._load()
        t0 = time.perf_counter()
        self._run()
        return time.perf_counter() - t0
