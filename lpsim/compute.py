"""Real pipelines inside a simulation (scenario `mode: real`): the node's own workers run in wall
time and the measured duration is what the simulated job takes.

- transcoding: PyAV on a synthetic 2 s 720p segment into 360p and 240p, with libx264, or NVENC on
  the GPUs named by $LPSIM_NVIDIA (go's -nvidia syntax: `0,1` or `all`), a GPU per job in turn;
- batch AI (text-to-image, image-to-image, image-to-video, upscale, segment-anything-2): the
  runner's own app (node.worker.ai.create_app, mode real) answers the scenario's request through
  its HTTP route in process, so the request's fields (width, height, num_inference_steps, ...)
  and the runner's defaults for the others apply as they would on a node, PNG encoding included.
  Image inputs are a synthetic image of the request's `image_size` ([width, height], a simulator
  field: the upload's size; default 256×256). A seed is fixed (1) unless the request has one.
  The models load from $LPSIM_MODELS_DIR (default ~/.cache/lpsim/models); a tiny test model
  (test/tiny-sd, test/tiny-svd, ...) is built there when it is the model asked for. The device is
  the runner's choice (CUDA when present).

Loading and `warmup` runs (CUDA/cuDNN initialisation, allocator, kernel selection) happen before
the first timed job and are not charged. Each job runs the pipeline once, so keep such scenarios
small: a real job costs its real time.
"""
from __future__ import annotations

import importlib
import io
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

MODELS_DIR = Path(os.environ.get("LPSIM_MODELS_DIR", Path.home() / ".cache" / "lpsim" / "models"))
TRANSCODING = "transcoding"
# pipeline -> its runner route's body: JSON or multipart form with an `image` upload
AI_ROUTES = {
    "text-to-image": "json",
    "image-to-image": "form",
    "image-to-video": "form",
    "upscale": "form",
    "segment-anything-2": "form",
}
REAL_PIPELINES = (TRANSCODING, *AI_ROUTES)
DEFAULT_IMAGE_SIZE = (256, 256)
DEFAULT_PROMPT = "a test image"
TRANSCODE_RENDITIONS = ("P360p30fps16x9", "P240p30fps16x9")

_apps: Dict[Tuple[str, str, str], Any] = {}  # one loaded runner per (pipeline, model, models dir)
_apps_lock = threading.Lock()


def _runner_client(pipeline: str, model_id: str, models_dir: Path):
    """An in-process client of the runner app serving (pipeline, model_id), loaded once."""
    key = (pipeline, model_id, str(models_dir))
    with _apps_lock:
        if key not in _apps:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from fastapi.testclient import TestClient

            from node.worker.ai import create_app

            _build_if_tiny(model_id, models_dir)
            _apps[key] = TestClient(create_app(pipeline, model_id, mode="real", models_dir=models_dir))
        return _apps[key]


def _build_if_tiny(model_id: str, models_dir: Path) -> None:
    from node.worker.ai.tiny_models import TINY_BUILDERS

    for target, default_id in TINY_BUILDERS.values():
        if model_id == default_id:
            module, _, name = target.partition(":")
            getattr(importlib.import_module(f"node.worker.ai.{module}"), name)(models_dir, model_id)


def _png(size: Tuple[int, int]) -> bytes:
    import numpy as np
    from PIL import Image

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // max(1, w - 1), yy * 255 // max(1, h - 1), (xx + yy) % 256], -1)
    buf = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def ai_call(pipeline: str, model_id: str, request: Mapping[str, Any],
            models_dir: Optional[Path] = None) -> Callable[[], None]:
    """One request of the scenario through the runner's route; raises on a non-200 answer."""
    client = _runner_client(pipeline, model_id, Path(models_dir or MODELS_DIR))
    fields = {k: v for k, v in request.items() if k != "image_size"}
    fields.setdefault("seed", 1)
    if pipeline in ("text-to-image", "image-to-image", "upscale"):
        fields.setdefault("prompt", DEFAULT_PROMPT)
    if AI_ROUTES[pipeline] == "json":
        send = dict(json=fields)
    else:
        size = tuple(request.get("image_size") or DEFAULT_IMAGE_SIZE)
        send = dict(data={k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()},
                    files={"image": ("image.png", _png(size), "image/png")})

    def run() -> None:
        r = client.post(f"/{pipeline}", **send)
        if r.status_code != 200:
            raise RuntimeError(f"mode: real {pipeline} request answered {r.status_code}: {r.text}")

    return run


def transcode_call(gpus: Optional[list[str]] = None) -> Callable[[], None]:
    """A 2 s 720p segment into 360p + 240p: libx264, or NVENC on `gpus` in turn."""
    import itertools

    from node.worker.media import synthetic_segment
    from node.worker.transcode import transcode

    segment = synthetic_segment(2.0, 1280, 720)
    if not gpus:
        return lambda: transcode(segment, list(TRANSCODE_RENDITIONS), preset="veryfast")
    devices = itertools.cycle(int(g) for g in gpus)
    return lambda: transcode(segment, list(TRANSCODE_RENDITIONS), accel="nvidia",
                             device=next(devices))


def nvidia_gpus() -> Optional[list[str]]:
    """$LPSIM_NVIDIA in go's -nvidia syntax, or None (software transcoding)."""
    text = os.environ.get("LPSIM_NVIDIA", "")
    if not text:
        return None
    from node.launch import parse_nvidia

    return parse_nvidia(text)


class RealCompute:
    """Quacks like a duration distribution: `sample(rng)` runs the pipeline once and returns the
    seconds it took (the rng is unused: real time is what it is)."""

    def __init__(self, pipeline: str, model_id: str, request: Optional[Mapping[str, Any]] = None,
                 *, warmup: int = 1, models_dir: Optional[Path] = None) -> None:
        if pipeline not in REAL_PIPELINES:
            raise ValueError(f"mode: real is available for {', '.join(REAL_PIPELINES)}, not {pipeline}")
        self.pipeline, self.model_id = pipeline, model_id
        self.request = dict(request or {})
        self.warmup, self.models_dir = warmup, models_dir
        self._run: Optional[Callable[[], None]] = None

    @classmethod
    def for_scenario(cls, scenario, pipeline: str, model_id: str) -> "RealCompute":
        """With the request of the scenario's first batch_ai workload for (pipeline, model_id)."""
        for group in scenario.gateways:
            for w in group.demand:
                if getattr(w, "pipeline", None) == pipeline and w.model_id == model_id:
                    return cls(pipeline, model_id, w.request)
        return cls(pipeline, model_id)

    def _load(self) -> Callable[[], None]:
        if self.pipeline == TRANSCODING:
            run = transcode_call(nvidia_gpus())
        else:
            run = ai_call(self.pipeline, self.model_id, self.request, self.models_dir)
        for _ in range(self.warmup):
            run()
        return run

    def sample(self, rng) -> float:
        if self._run is None:
            self._run = self._load()
        t0 = time.perf_counter()
        self._run()
        return time.perf_counter() - t0
