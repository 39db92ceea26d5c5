"""Declared mock pipelines: deterministic outputs for every batch pipeline, no model, no torch.

They follow the CPU test configuration of spec runner.md §6 (mock tier): each mock takes the
same parameters as the real pipeline and returns the same kind of objects, so routing,
validation, error mapping, seeds and serialisation are exercised for real.

- images (text-to-image, image-to-image, upscale, image-to-video frames): solid-colour images whose
  colour is a hash of the seed and the prompt (image-to-image blends the input's mean colour in by
  `1 - strength`); sizes are what the real pipeline would return (requested width × height,
  input size rounded down to a multiple of 8, 4× input for upscale);
- audio-to-text: the upload is decoded (PyAV) so malformed audio still answers 415; one fixed
  sentence per 30 s window of audio, with timestamps;
- segment-anything-2: K = 3 (multimask) or 1 rectangular masks at image size around the box, the
  points or the image centre, fixed scores, 256×256 low-resolution logits;
- llm: a fixed reply (built from the last user message) streamed word by word, with the real
  pipeline's validation (bad temperature, role, ...);
- image-to-text: a caption naming the image's size and mean colour, prefixed by the prompt;
- text-to-speech: a silent 44.1 kHz mono WAV whose length grows with the text.

`compute_time` simulates the model's time: seconds per call, or a function
(pipeline name, call kwargs) → seconds; default 0. It is spent with `sleep` (injectable).
"""
from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
from PIL import Image

from .errors import InferenceError
from .media import audio_duration, parse_loras, wav_bytes
from .chat import chat_chunk, validate_chat
from .models import LLMResponse, TextToSpeechParams
from .pipelines import Pipeline

ComputeTime = Union[float, Callable[[str, Dict[str, Any]], float]]

MAX_PIXELS = 4096 * 4096  # a bigger request "runs out of memory", as a GPU would
MOCK_SENTENCE = "This is a mock transcription."
ASR_WINDOW_S = 30.0


def mock_color(*parts: Any) -> Tuple[int, int, int]:
    """A deterministic RGB colour from any values (seed, prompt, ...)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return digest[0], digest[1], digest[2]


def mean_color(image: Image.Image) -> Tuple[int, int, int]:
    r, g, b = image.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    return int(r), int(g), int(b)


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0 or width % 8 or height % 8:
        raise InferenceError(
            original_exception=ValueError(
                f"`height` and `width` have to be divisible by 8 but are {height} and {width}."
            )
        )
    if width * height > MAX_PIXELS:
        raise MemoryError(f"out of memory: {width}x{height} is more than the mock's limit")


class MockPipeline(Pipeline):
    """Common part of the mocks: model id, simulated compute time."""

    mode = "mock"

    def __init__(
        self,
        model_id: str,
        *,
        compute_time: ComputeTime = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.model_id = model_id
        self.compute_time = compute_time
        self._sleep = sleep
        self.calls = 0

    def simulated_time(self, kwargs: Dict[str, Any]) -> float:
        t = self.compute_time(self.name, kwargs) if callable(self.compute_time) else self.compute_time
        return max(0.0, float(t))

    def _simulate(self, kwargs: Dict[str, Any]) -> None:
        self.calls += 1
        t = self.simulated_time(kwargs)
        if t > 0:
            self._sleep(t)


class MockTextToImagePipeline(MockPipeline):
    name = "text-to-image"

    def __call__(
        self,
        prompt: str,
        height: int = 576,
        width: int = 1024,
        seed: Optional[int] = None,
        num_images_per_prompt: int = 1,
        loras: str = "",
        **kwargs,
    ) -> Tuple[List[Image.Image], List[Optional[bool]]]:
        parse_loras(loras)
        _check_size(width, height)
        self._simulate(dict(kwargs, prompt=prompt, height=height, width=width, seed=seed))
        base = 0 if seed is None else seed
        images = [
            Image.new("RGB", (width, height), mock_color(self.name, base + i, prompt))
            for i in range(max(1, num_images_per_prompt))
        ]
        return images, [False] * len(images)


class MockImageToImagePipeline(MockPipeline):
    name = "image-to-image"

    def __call__(
        self,
        prompt: str,
        image: Image.Image,
        strength: float = 0.8,
        seed: Optional[int] = None,
        num_images_per_prompt: int = 1,
        loras: str = "",
        **kwargs,
    ) -> Tuple[List[Image.Image], List[Optional[bool]]]:
        parse_loras(loras)
        if not 0.0 <= strength <= 1.0:
            raise InferenceError(
                original_exception=ValueError(
                    f"The value of strength should in [0.0, 1.0] but is {strength}"
                )
            )
        width, height = image.width - image.width % 8, image.height - image.height % 8
        _check_size(width, height)
        self._simulate(dict(kwargs, prompt=prompt, strength=strength, seed=seed))
        src = mean_color(image)
        base = 0 if seed is None else seed
        images = []
        for i in range(max(1, num_images_per_prompt)):
            target = mock_color(self.name, base + i, prompt)
            color = tuple(round((1 - strength) * s + strength * t) for s, t in zip(src, target))
            images.append(Image.new("RGB", (width, height), color))
        return images, [False] * len(images)


class MockUpscalePipeline(MockPipeline):
    name = "upscale"
    factor = 4

    def __call__(
        self, prompt: str, image: Image.Image, seed: Optional[int] = None, **kwargs
    ) -> Tuple[List[Image.Image], List[Optional[bool]]]:
        width, height = image.width * self.factor, image.height * self.factor
        if width * height > MAX_PIXELS:
            raise MemoryError(f"out of memory: {width}x{height} is more than the mock's limit")
        self._simulate(dict(kwargs, prompt=prompt, seed=seed))
        color = mock_color(self.name, seed, prompt, mean_color(image))
        return [Image.new("RGB", (width, height), color)], [False]


class MockImageToVideoPipeline(MockPipeline):
    name = "image-to-video"

    def __init__(self, model_id: str, *, num_frames: int = 25, **kw):
        super().__init__(model_id, **kw)
        self.num_frames = num_frames

    def __call__(
        self,
        image: Image.Image,
        height: int = 576,
        width: int = 1024,
        seed: Optional[int] = None,
        **kwargs,
    ) -> Tuple[List[List[Image.Image]], List[Optional[bool]]]:
        _check_size(width, height)
        self._simulate(dict(kwargs, height=height, width=width, seed=seed))
        r, g, b = mock_color(self.name, seed, mean_color(image))
        frames = [
            Image.new("RGB", (width, height), ((r + 4 * i) % 256, (g + 2 * i) % 256, b))
            for i in range(self.num_frames)
        ]
        return [frames], [False]


class MockAudioToTextPipeline(MockPipeline):
    name = "audio-to-text"

    def __call__(
        self, audio: bytes, duration: float, return_timestamps: Union[bool, str] = True, **kwargs
    ) -> Dict[str, Any]:
        audio_duration(audio)  # raises AudioConversionError (415) on undecodable audio
        if return_timestamps == "word" and duration > 3600:
            raise InferenceError(
                original_exception=ValueError("word timestamps are limited to 3600 s of audio")
            )
        self._simulate(dict(kwargs, duration=duration, return_timestamps=return_timestamps))
        n = max(1, int(np.ceil(duration / ASR_WINDOW_S)))
        texts = [MOCK_SENTENCE] * n
        chunks: List[Dict[str, Any]] = []
        if return_timestamps == "word":
            words = MOCK_SENTENCE.split()
            for k in range(n):
                start, end = k * ASR_WINDOW_S, min(duration, (k + 1) * ASR_WINDOW_S)
                step = (end - start) / len(words)
                for j, word in enumerate(words):
                    t0 = round(start + j * step, 2)
                    chunks.append({"timestamp": [t0, round(t0 + step, 2)], "text": " " + word})
        elif return_timestamps:
            for k in range(n):
                start, end = k * ASR_WINDOW_S, min(duration, (k + 1) * ASR_WINDOW_S)
                chunks.append({"timestamp": [round(start, 2), round(end, 2)], "text": " " + texts[k]})
        return {"text": " " + " ".join(texts), "chunks": chunks}


class MockSegmentAnything2Pipeline(MockPipeline):
    name = "segment-anything-2"
    SCORES = (0.9, 0.6, 0.3)
    LOGIT_SIZE = 256

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
        if point_coords is not None and point_labels is None:
            raise InferenceError(
                original_exception=AssertionError(
                    "point_labels must be supplied if point_coords is supplied."
                )
            )
        if point_coords is not None and (point_coords.ndim != 2 or point_coords.shape[-1] != 2):
            raise InferenceError(original_exception=ValueError("point_coords must be N×2"))
        if box is not None and box.size != 4:
            raise InferenceError(original_exception=ValueError("box must have 4 values (XYXY)"))
        self._simulate(dict(kwargs, multimask_output=multimask_output))
        w, h = image.size
        if box is not None:
            x0, y0, x1, y1 = (float(v) for v in box.reshape(-1)[:4])
        elif point_coords is not None:
            xs, ys = point_coords[:, 0].astype(float), point_coords[:, 1].astype(float)
            pad = max(1.0, 0.1 * min(w, h))
            x0, y0, x1, y1 = xs.min() - pad, ys.min() - pad, xs.max() + pad, ys.max() + pad
        else:
            x0, y0, x1, y1 = w / 4, h / 4, 3 * w / 4, 3 * h / 4
        k = 3 if multimask_output else 1
        yy, xx = np.mgrid[0:h, 0:w]
        masks = []
        for i in range(k):  # nested rectangles, the first the tightest
            grow = i * 0.1 * min(w, h)
            inside = (xx >= x0 - grow) & (xx < x1 + grow) & (yy >= y0 - grow) & (yy < y1 + grow)
            masks.append(np.where(inside, 10.0, -10.0) if return_logits else inside)
        s = self.LOGIT_SIZE
        ly, lx = np.mgrid[0:s, 0:s]
        logits = np.stack(
            [
                np.where(
                    (lx >= x0 * s / w) & (lx < x1 * s / w) & (ly >= y0 * s / h) & (ly < y1 * s / h),
                    10.0 - i,
                    -10.0 + i,
                )
                for i in range(k)
            ]
        ).astype(np.float32)
        scores = np.array(self.SCORES[:k], dtype=np.float32)
        return np.stack(masks), scores, logits


class MockLLMPipeline(MockPipeline):
    name = "llm"

    def reply(self, messages: List[Dict[str, str]]) -> str:
        last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        return f"This is a mock reply from {self.model_id} to: {last}"

    def __call__(
        self,
        messages: List[Dict[str, str]],
        temperature: float = 0.7,
        max_tokens: int = 256,
        top_p: float = 1.0,
        top_k: int = -1,
        **kwargs,
    ) -> Iterator[LLMResponse]:
        """A lazy stream of chunks; validation errors surface when it is first iterated, as
        with the runner's async generator."""
        return self._generate(messages, temperature, max_tokens, top_p, top_k, kwargs)

    def _generate(self, messages, temperature, max_tokens, top_p, top_k, kwargs):
        validate_chat(messages, temperature, top_p, max_tokens)
        request_id = f"chatcmpl-{uuid.uuid4()}"
        prompt_tokens = sum(len(m["content"].split()) + 2 for m in messages)
        words = self.reply(messages).split()[:max_tokens]
        deltas = [w if i == 0 else " " + w for i, w in enumerate(words)]
        per_token = self.simulated_time(dict(kwargs, max_tokens=max_tokens)) / max(1, len(deltas))
        self.calls += 1
        completion = 0

        for d in deltas:
            if per_token > 0:
                self._sleep(per_token)
            completion += 1
            yield chat_chunk(request_id, self.model_id, prompt_tokens, completion, d)
        yield chat_chunk(request_id, self.model_id, prompt_tokens, completion, "", "stop")


class MockImageToTextPipeline(MockPipeline):
    name = "image-to-text"

    def __call__(self, prompt: str = "", image: Optional[Image.Image] = None, **kwargs) -> str:
        self._simulate(dict(kwargs, prompt=prompt))
        r, g, b = mean_color(image)
        caption = f"a mock caption of a {image.width}x{image.height} image, mean colour #{r:02x}{g:02x}{b:02x}"
        return f"{prompt} {caption}" if prompt else caption


class MockTextToSpeechPipeline(MockPipeline):
    name = "text-to-speech"
    SAMPLE_RATE = 44100

    def __call__(self, params: TextToSpeechParams) -> bytes:
        self._simulate({"text": params.text, "description": params.description})
        seconds = min(30.0, max(0.5, 0.06 * len(params.text)))
        return wav_bytes(np.zeros(int(seconds * self.SAMPLE_RATE), dtype=np.float32), self.SAMPLE_RATE)


MOCK_PIPELINES = {
    cls.name: cls
    for cls in (
        MockTextToImagePipeline,
        MockImageToImagePipeline,
        MockImageToVideoPipeline,
        MockUpscalePipeline,
        MockAudioToTextPipeline,
        MockLLMPipeline,
        MockSegmentAnything2Pipeline,
        MockImageToTextPipeline,
        MockTextToSpeechPipeline,
    )
}
