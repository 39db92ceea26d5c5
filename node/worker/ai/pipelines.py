"""The batch pipeline interface and the loader that picks an implementation.

A pipeline is what an ai-runner container holds: one pipeline name (its route), one model id,
loaded eagerly in __init__, called with the route's parameters and returning plain Python objects
(PIL images and NSFW flags, a transcript dict, mask arrays, ...). The HTTP adapter lives in
routes.py. Two kinds of implementation exist:

- mode "real": models run for real, loaded from a local models directory, never downloaded
  (REAL_IMPLEMENTATIONS below: diffusion.py, segmentation.py, ...);
- mode "mock": deterministic outputs with a configurable simulated compute time (mock.py), for
  every batch pipeline.

The mode is always chosen by the caller; a missing dependency or an unimplemented real pipeline is
an error, never a silent switch to the mock.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Optional

from .models import HealthCheck

# The batch pipelines of ai-runner (and their go-livepeer host ports, for reference).
BATCH_PIPELINES = (
    "text-to-image",
    "image-to-image",
    "image-to-video",
    "upscale",
    "audio-to-text",
    "llm",
    "segment-anything-2",
    "image-to-text",
    "text-to-speech",
)
# Real implementations: pipeline -> "module:Class" under this package, imported only when loaded
# (so a mock runner needs neither torch nor diffusers).
REAL_IMPLEMENTATIONS = {
    "text-to-image": "diffusion:TextToImagePipeline",
    "image-to-image": "diffusion:ImageToImagePipeline",
    "image-to-video": "diffusion:ImageToVideoPipeline",
    "upscale": "diffusion:UpscalePipeline",
    "segment-anything-2": "segmentation:SegmentAnything2Pipeline",
    "audio-to-text": "speech:AudioToTextPipeline",
    "llm": "language:LLMPipeline",
    "image-to-text": "language:ImageToTextPipeline",
    "text-to-speech": "speech:TextToSpeechPipeline",
}
REAL_PIPELINES = tuple(REAL_IMPLEMENTATIONS)
MODES = ("real", "mock")


class Pipeline(ABC):
    """One loaded pipeline. Subclasses set `name` and `model_id` and implement __call__."""

    name: str = ""
    model_id: str = ""
    mode: str = ""

    @abstractmethod
    def __call__(self, **kwargs) -> Any:
        """Run the model on one request's parameters (see routes.py for each pipeline's)."""

    def get_health(self) -> HealthCheck:
        return HealthCheck(status="OK")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r})"


def load_pipeline(
    pipeline: str,
    model_id: str,
    *,
    mode: str,
    models_dir: Optional[str | Path] = None,
    **options: Any,
) -> Pipeline:
    """Build the pipeline for (pipeline, model_id) in the given mode.

    mode "real": `models_dir` (default $MODEL_DIR, then ~/.lpData/models) holds the model, either
    as `<models_dir>/<model_id>/` (save_pretrained output) or in the Hugging Face hub cache layout
    (`models--org--name/snapshots/<rev>/`); options go to the diffusers pipeline class (device,
    dtype). mode "mock": options go to the mock class (compute_time, ...).
    Raises ValueError for an unknown pipeline or mode.
    """
    if not pipeline or not model_id:
        raise ValueError("both a pipeline and a model id are required")
    if pipeline not in BATCH_PIPELINES:
        raise ValueError(f"{pipeline} is not a valid pipeline for model {model_id}")
    if mode == "mock":
        from .mock import MOCK_PIPELINES

        return MOCK_PIPELINES[pipeline](model_id, **options)
    if mode == "real":
        module, _, cls = REAL_IMPLEMENTATIONS[pipeline].partition(":")
        implementation = getattr(importlib.import_module(f"{__package__}.{module}"), cls)
        return implementation(model_id, models_dir=models_dir, **options)
    raise ValueError(f"unknown mode {mode!r} (expected one of {MODES})")
