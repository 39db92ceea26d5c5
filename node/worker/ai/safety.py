"""The NSFW safety checker of the diffusers pipelines (ai-runner's SafetyChecker).

ai-runner loads diffusers' StableDiffusionSafetyChecker (CompVis/stable-diffusion-safety-checker)
when a text-to-image, image-to-image, image-to-video or upscale pipeline starts, on
$SAFETY_CHECKER_DEVICE (default cuda; an unavailable device falls back), and reports one flag per
image; the images themselves are returned as generated (never blacked out). image-to-video checks
its input image, the others their outputs. The CLIP features use the checker's own
preprocessor_config.json when it has one, else CLIP's standard preprocessing (224 px, CLIP's mean
and std), which is what ai-runner's openai/clip-vit-base-patch32 feature extractor does.

Like every model here it is read from the models directory and never downloaded. Where it has not
been staged the pipelines still start, log that the check is off, and report nsfw false. The
pipelines' `safety_checker_id` option names another checker (the tests' tiny one).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)

SAFETY_CHECKER_ID = "CompVis/stable-diffusion-safety-checker"


def checker_device(default: torch.device) -> torch.device:
    """$SAFETY_CHECKER_DEVICE when set and usable, else the pipeline's device."""
    wanted = os.environ.get("SAFETY_CHECKER_DEVICE", "").lower()
    if not wanted:
        return default
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        log.warning("SAFETY_CHECKER_DEVICE=%s is not available: using %s", wanted, default)
        return default
    return torch.device(wanted)


class SafetyChecker:
    def __init__(self, folder: Path, source: str, kwargs: dict, device: torch.device):
        from diffusers.pipelines.stable_diffusion.safety_checker import (
            StableDiffusionSafetyChecker,
        )
        from transformers import CLIPImageProcessor

        self.device = device
        self.dtype = torch.float16 if device.type == "cuda" else torch.float32
        self.model = StableDiffusionSafetyChecker.from_pretrained(source, **kwargs)
        self.model.to(device, self.dtype).eval()
        if (folder / "preprocessor_config.json").is_file():
            self.processor = CLIPImageProcessor.from_pretrained(source, **kwargs)
        else:
            self.processor = CLIPImageProcessor()

    @classmethod
    def load(cls, models_dir: Optional[str | Path], device: torch.device,
             model_id: str = SAFETY_CHECKER_ID) -> Optional["SafetyChecker"]:
        """The checker staged in models_dir as model_id, or None (logged) when it is not there."""
        from .diffusion import local_source

        try:
            folder, source, kwargs = local_source(models_dir, model_id)
        except FileNotFoundError:
            log.warning("no %s in the models directory: the safety check is off (nsfw is "
                        "reported false)", model_id)
            return None
        return cls(folder, source, kwargs, checker_device(device))

    def __call__(self, images: Sequence[Image.Image]) -> List[bool]:
        """One NSFW flag per image."""
        pixels = self.processor([im.convert("RGB") for im in images], return_tensors="pt")
        clip_input = pixels.pixel_values.to(self.device, self.dtype)
        # the checker blacks out flagged images in what it is given: give it copies
        arrays = [np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0 for im in images]
        with torch.inference_mode():
            _, flags = self.model(clip_input=clip_input, images=arrays)
        return [bool(f) for f in flags]
