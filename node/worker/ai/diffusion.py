"""Real diffusers pipelines (text-to-image, image-to-image, image-to-video, upscale), loaded from
local files only.

Loading goes through the real `from_pretrained` path: diffusers' AutoPipelineForText2Image /
AutoPipelineForImage2Image read model_index.json and build whatever pipeline class it names
(StableDiffusionPipeline for the tiny test model; SDXL and others work the same way);
image-to-video loads a StableVideoDiffusionPipeline and upscale a StableDiffusionUpscalePipeline,
as ai-runner does (stabilityai/stable-video-diffusion-img2vid-xt, .../stable-diffusion-x4-upscaler).
The model is looked up under the models directory (model_dirs.py) in either the plain or the
hub-cache layout, always with `local_files_only=True`, and HF_HUB_OFFLINE=1 is set for the process unless
the caller already chose otherwise: nothing is ever downloaded.

Like ai-runner: the device is CUDA, then MPS, then CPU; the dtype is float16 only on a GPU and
only when `*.fp16.safetensors` files are present (float32 otherwise, always on CPU); a request's
seed becomes a torch.Generator; num_inference_steps < 1 falls back to the pipeline default;
sd-turbo / sdxl-turbo force guidance 0 (and image-to-image strength ≥ 1/steps); SDXL-Lightning
ids force guidance 0 and their 2/4/8 steps; '|' splits prompts onto extra text encoders when the
pipeline has them; `safety_check` runs the NSFW checker (safety.py) on the outputs (image-to-video:
on the input image) and reports flags without altering images. Differences: the checker is used
only where it has been staged in the models directory (else nsfw is reported False), and LoRA
requests are validated but loading adapters is not supported (400).
"""
from __future__ import annotations

import inspect
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, List, Optional, Tuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from .errors import InferenceError, LoraLoadingError  # noqa: E402
from .media import parse_loras, split_prompt  # noqa: E402
from .model_dirs import locate_model  # noqa: E402
from .pipelines import Pipeline  # noqa: E402
from .safety import SAFETY_CHECKER_ID, SafetyChecker  # noqa: E402

log = logging.getLogger(__name__)

load_lock = threading.Lock()  # one model load at a time per process


def torch_device() -> torch.device:
    """cuda, then mps, then cpu (ai-runner's get_torch_device)."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _is_turbo(model_id: str) -> bool:
    return re.search(r"[-_]turbo", model_id, re.IGNORECASE) is not None


def _lightning_steps(model_id: str) -> Optional[int]:
    if "SDXL-Lightning" not in model_id:
        return None
    for steps in (2, 4, 8):
        if f"{steps}step" in model_id:
            return steps
    return 8


def _has_fp16_files(folder: Path) -> bool:
    return any(".fp16." in p.name for p in folder.rglob("*.safetensors"))


def local_source(models_dir: Optional[str | Path], model_id: str) -> Tuple[Path, str, dict]:
    """(model folder, from_pretrained's first argument, its kwargs) for a model in the models
    directory: in a hub cache the repo id with cache_dir (the runner's path), else the folder;
    always local_files_only. FileNotFoundError when the model is not there."""
    folder, layout = locate_model(models_dir, model_id)
    kwargs: dict[str, Any] = {"local_files_only": True}
    if layout == "hub":
        return folder, model_id, dict(kwargs, cache_dir=str(folder.parents[2]))
    return folder, str(folder), kwargs


def use_threads(num_threads: Optional[int]) -> None:
    """torch's CPU threads for this process (1 is much faster on a busy small CPU)."""
    if num_threads:
        torch.set_num_threads(num_threads)


class _DiffusersPipeline(Pipeline):
    mode = "real"
    auto_class_name = ""  # the diffusers class whose from_pretrained loads the model

    def __init__(
        self,
        model_id: str,
        *,
        models_dir: Optional[str | Path] = None,
        device: Optional[str] = None,
        dtype: Optional[torch.dtype] = None,
        num_threads: Optional[int] = None,
        safety_checker_id: str = SAFETY_CHECKER_ID,
    ):
        import diffusers
        from diffusers.utils import is_accelerate_available

        self.model_id = model_id
        folder, source, kwargs = local_source(models_dir, model_id)
        self.model_path = folder
        self.device = torch.device(device) if device else torch_device()
        use_threads(num_threads)
        fp16 = self.device.type != "cpu" and _has_fp16_files(folder)
        self.dtype = dtype or (torch.float16 if fp16 else torch.float32)

        # diffusers ≥ 0.36 spells the argument `dtype`; older ones `torch_dtype`.
        from diffusers.pipelines import pipeline_utils

        kwargs["dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"] = self.dtype
        if fp16 and dtype is None:
            kwargs["variant"] = "fp16"
        if not is_accelerate_available():
            kwargs["low_cpu_mem_usage"] = False
        auto = getattr(diffusers, self.auto_class_name)
        with load_lock:
            self.ldm = auto.from_pretrained(source, **kwargs).to(self.device)
        self.ldm.set_progress_bar_config(disable=True)
        if getattr(self.ldm, "safety_checker", None) is not None:
            self.ldm.safety_checker = None  # flags come from self.safety_checker; images untouched
        self.safety_checker = SafetyChecker.load(models_dir, self.device, safety_checker_id)
        params = inspect.signature(self.ldm.__call__).parameters
        self._accepts = set(params)
        log.info("loaded %s (%s) from %s on %s/%s", model_id, type(self.ldm).__name__, folder,
                 self.device, self.dtype)

    # -- the parameters every diffusers pipeline shares

    def _prepare_common(self, kwargs: dict) -> dict:
        """seed → generator, steps < 1 → the pipeline's default (safety_check is the caller's)."""
        seed = kwargs.pop("seed", None)
        kwargs.pop("safety_check", None)
        if seed is not None:
            gen_device = "cpu" if self.device.type == "mps" else self.device
            kwargs["generator"] = torch.Generator(gen_device).manual_seed(int(seed))
        steps = kwargs.get("num_inference_steps", 0)
        if "num_inference_steps" in kwargs and (steps is None or steps < 1):
            del kwargs["num_inference_steps"]
        return kwargs

    def _prepare(self, prompt: str, kwargs: dict) -> dict:
        """The common parameters, then LoRAs, turbo / Lightning overrides and the prompts."""
        kwargs = self._prepare_common(kwargs)
        loras = parse_loras(kwargs.pop("loras", "") or "")
        if loras:
            raise LoraLoadingError("LoRA adapters are not supported by this runner.")
        if _is_turbo(self.model_id):
            kwargs["guidance_scale"] = 0.0
        lightning = _lightning_steps(self.model_id)
        if lightning is not None:
            kwargs["guidance_scale"] = 0.0
            kwargs["num_inference_steps"] = lightning
        for key, text in (("prompt", prompt), ("negative_prompt", kwargs.pop("negative_prompt", ""))):
            parts = split_prompt(text or "", key)
            if len(parts) > 1 and all(k in self._accepts for k in parts):
                kwargs.update(parts)  # one part per text encoder
            else:  # a single text encoder: the text as written
                kwargs[key] = text or ""
        return {k: v for k, v in kwargs.items() if k in self._accepts}

    def _call_model(self, kwargs: dict) -> Any:
        try:
            with torch.inference_mode():
                return self.ldm(**kwargs)
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as e:
            raise InferenceError(original_exception=e) from e

    def nsfw_flags(self, images: List[Image.Image], check: bool) -> List[Optional[bool]]:
        """One flag per image when asked and a checker is staged, else None each."""
        if not check or self.safety_checker is None:
            return [None] * len(images)
        return self.safety_checker(images)

    def _run(self, kwargs: dict, check: bool) -> Tuple[List[Image.Image], List[Optional[bool]]]:
        images = list(self._call_model(kwargs).images)
        return images, self.nsfw_flags(images, check)


class TextToImagePipeline(_DiffusersPipeline):
    """text-to-image with any diffusers text-to-image pipeline found in the models directory."""

    name = "text-to-image"
    auto_class_name = "AutoPipelineForText2Image"

    def __call__(self, prompt: str, **kwargs) -> Tuple[List[Image.Image], List[Optional[bool]]]:
        kwargs = dict(kwargs)
        check = kwargs.pop("safety_check", True)
        return self._run(self._prepare(prompt, kwargs), check)


class ImageToImagePipeline(_DiffusersPipeline):
    """image-to-image (strength-controlled img2img) with the same models."""

    name = "image-to-image"
    auto_class_name = "AutoPipelineForImage2Image"

    def __call__(
        self, prompt: str, image: Image.Image, **kwargs
    ) -> Tuple[List[Image.Image], List[Optional[bool]]]:
        kwargs = dict(kwargs)
        check = kwargs.pop("safety_check", True)
        if _is_turbo(self.model_id) and "num_inference_steps" in kwargs:
            steps = kwargs["num_inference_steps"] or 1
            kwargs["strength"] = max(1.0 / max(1, steps), kwargs.get("strength", 0.5))
        call = self._prepare(prompt, kwargs)
        call["image"] = image
        return self._run(call, check)


class ImageToVideoPipeline(_DiffusersPipeline):
    """image-to-video with Stable Video Diffusion: the image conditions every frame; fps,
    motion_bucket_id and noise_aug_strength go to the model's added time embedding. Returns
    (batches of frames, one nsfw flag per batch), like ai-runner; the gateway makes the MP4."""

    name = "image-to-video"
    auto_class_name = "StableVideoDiffusionPipeline"
    decode_chunk_size = 4  # ai-runner's: frames decoded by the VAE at a time

    def __call__(
        self, image: Image.Image, **kwargs
    ) -> Tuple[List[List[Image.Image]], List[Optional[bool]]]:
        call = dict(kwargs)
        flags = self.nsfw_flags([image], call.pop("safety_check", True))  # the input is checked
        call = self._prepare_common(call)
        call.setdefault("decode_chunk_size", self.decode_chunk_size)
        call["image"] = image
        call = {k: v for k, v in call.items() if k in self._accepts}
        frames = self._call_model(call).frames
        return [list(batch) for batch in frames], flags


class UpscalePipeline(_DiffusersPipeline):
    """upscale with a Stable Diffusion upscaler: the output is the input times the VAE's scale
    (4× for stabilityai/stable-diffusion-x4-upscaler), guided by the prompt."""

    name = "upscale"
    auto_class_name = "StableDiffusionUpscalePipeline"

    def __call__(
        self, prompt: str, image: Image.Image, **kwargs
    ) -> Tuple[List[Image.Image], List[Optional[bool]]]:
        kwargs = dict(kwargs)
        check = kwargs.pop("safety_check", True)
        call = self._prepare(prompt, kwargs)
        call["image"] = image
        return self._run(call, check)
