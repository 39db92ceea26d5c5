"""Real segment-anything-2 with transformers' Sam2Model, loaded from local files only.

ai-runner runs facebook/sam2-hiera-large through the `sam2` package's SAM2ImagePredictor
(`set_image`, then `predict`); this is the same computation with transformers' port of the model
(config.json + model.safetensors: facebook/sam2-hiera-large-hf staged under the model id the
orchestrator advertises; the original repo holds only the sam2 package's .pt), loaded like the
diffusers pipelines (diffusion.local_source: plain folder or hub cache, never downloaded), on the
same device.

What `predict` does and this reproduces:
- the image is resized to the model's square input, rescaled to [0, 1] and normalised with the
  mean and std of the checkpoint's preprocessor_config.json when it has one, else SAM2's
  (ImageNet's, at the prompt encoder's input size) (transformers' Sam2ImageProcessor would do the
  same but needs torchvision, which has no CPU build on PyPI for this torch);
- point_coords (N×2, with point_labels N) and box (XYXY) are pixel coordinates of the original
  image when normalize_coords is true, else already in [0, 1]; both are scaled to the input size;
  mask_input is a previous call's low-resolution logits (1×H×W);
- masks are the low-resolution logits upsampled (bilinear) to the image size, thresholded at 0
  unless return_logits; the low-resolution logits are clamped to [-32, 32];
- a missing point_labels is the predictor's assertion error, a failure of the model an
  InferenceError (400 with "Error during model execution: ...").
Returns (masks C×H×W, scores C, low-res logits C×h×w) as NumPy arrays; the route sorts them.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .diffusion import load_lock, local_source, torch_device, use_threads
from .errors import InferenceError
from .pipelines import Pipeline

log = logging.getLogger(__name__)

MASK_THRESHOLD = 0.0
LOGIT_CLAMP = 32.0  # the predictor clamps low-resolution logits to ±32


class SegmentAnything2Pipeline(Pipeline):
    name = "segment-anything-2"
    mode = "real"

    def __init__(
        self,
        model_id: str,
        *,
        models_dir: Optional[str | Path] = None,
        device: Optional[str] = None,
        dtype: Optional[torch.dtype] = None,
        num_threads: Optional[int] = None,
    ):
        from transformers import Sam2Model

        self.model_id = model_id
        folder, source, kwargs = local_source(models_dir, model_id)
        self.model_path = folder
        self.device = torch.device(device) if device else torch_device()
        self.dtype = dtype or torch.float32  # the predictor runs in float32 too
        use_threads(num_threads)
        with load_lock:
            self.model = Sam2Model.from_pretrained(source, dtype=self.dtype, **kwargs)
        self.model.to(self.device).eval()
        prep_file = folder / "preprocessor_config.json"  # facebook/sam2-hiera-large-hf has none
        prep = json.loads(prep_file.read_text()) if prep_file.is_file() else {}
        size = prep.get("size", {})
        self.input_size = int(size.get("height") or size.get("longest_edge")
                              or self.model.config.prompt_encoder_config.image_size)
        self.rescale = float(prep.get("rescale_factor", 1 / 255))
        self.mean = torch.tensor(prep.get("image_mean", [0.485, 0.456, 0.406])).view(3, 1, 1)
        self.std = torch.tensor(prep.get("image_std", [0.229, 0.224, 0.225])).view(3, 1, 1)
        log.info("loaded %s (Sam2Model) from %s on %s/%s", model_id, folder, self.device,
                 self.dtype)

    def _pixels(self, image: Image.Image) -> torch.Tensor:
        s = self.input_size
        rgb = image.convert("RGB").resize((s, s), Image.Resampling.BILINEAR)
        x = torch.from_numpy(np.asarray(rgb, dtype=np.float32)).permute(2, 0, 1) * self.rescale
        x = (x - self.mean) / self.std
        return x.unsqueeze(0).to(self.device, self.dtype)

    def _scale(self, coords: np.ndarray, image: Image.Image, normalize: bool) -> np.ndarray:
        """(…, 2) x,y coordinates → the model's input pixels."""
        coords = coords.astype(np.float32)
        if normalize:
            coords = coords / np.array([image.width, image.height], dtype=np.float32)
        return coords * self.input_size

    def __call__(
        self,
        image: Image.Image,
        point_coords: Optional[np.ndarray] = None,
        point_labels: Optional[np.ndarray] = None,
        box: Optional[np.ndarray] = None,
        mask_input: Optional[np.ndarray] = None,
        multimask_output: bool = True,
        return_logits: bool = True,
        normalize_coords: bool = True,
        **kwargs,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        try:
            inputs = {"pixel_values": self._pixels(image)}
            if point_coords is not None:
                if point_labels is None:
                    raise AssertionError(
                        "point_labels must be supplied if point_coords is supplied."
                    )
                points = np.asarray(point_coords).reshape(-1, 2)
                labels = np.asarray(point_labels).reshape(-1)
                if len(labels) != len(points):
                    raise ValueError(f"{len(points)} points but {len(labels)} point_labels")
                inputs["input_points"] = torch.as_tensor(
                    self._scale(points, image, normalize_coords)).view(1, 1, -1, 2)
                inputs["input_labels"] = torch.as_tensor(labels.astype(np.int64)).view(1, 1, -1)
            if box is not None:
                if np.asarray(box).size != 4:
                    raise ValueError("box must have 4 values (XYXY)")
                corners = self._scale(np.asarray(box).reshape(2, 2), image, normalize_coords)
                inputs["input_boxes"] = torch.as_tensor(corners).view(1, 1, 4)
            if mask_input is not None:
                m = np.asarray(mask_input, dtype=np.float32)
                inputs["input_masks"] = torch.as_tensor(m).view(1, 1, *m.shape[-2:])
            inputs = {k: v.to(self.device, self.dtype) if v.is_floating_point() else
                      v.to(self.device) for k, v in inputs.items()}
            with torch.inference_mode():
                out = self.model(**inputs, multimask_output=multimask_output)
            low_res = out.pred_masks[0, 0].float().clamp(-LOGIT_CLAMP, LOGIT_CLAMP)  # C×h×w
            scores = out.iou_scores[0, 0].float()
            masks = F.interpolate(low_res[None], size=(image.height, image.width),
                                  mode="bilinear", align_corners=False)[0]
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as e:
            raise InferenceError(original_exception=e) from e
        if not return_logits:
            masks = masks > MASK_THRESHOLD
        return masks.cpu().numpy(), scores.cpu().numpy(), low_res.cpu().numpy()
