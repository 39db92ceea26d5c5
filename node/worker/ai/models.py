"""Request and response bodies of the AI runner's HTTP API (livepeer/ai-runner, batch routes).

Field names, defaults and required/optional follow the runner's OpenAPI schema (spec runner.md
§1.4 and node.md §16), because go-livepeer's generated client (`ai/worker/runner.gen.go`) decodes
these exact shapes. Multipart routes take form fields, so their parameters are declared on the
route handlers (routes.py), not here.
"""
from __future__ import annotations

from typing import Dict, List, Literal, Optional, Tuple

from pydantic import BaseModel, Field

# ---------------------------------------------------------------------------------------------
# Errors and meta endpoints


class APIError(BaseModel):
    """The error message inside an HTTPError."""

    msg: str


class HTTPError(BaseModel):
    """The runner's error body: {"detail": {"msg": "..."}}."""

    detail: APIError


class HealthCheck(BaseModel):
    """GET /health. Batch pipelines answer OK once loaded; LOADING while a background load runs."""

    status: Literal["LOADING", "OK", "ERROR", "IDLE"]


class Version(BaseModel):
    """GET /version."""

    pipeline: str
    model_id: str
    version: str


class GPUComputeInfo(BaseModel):
    """One GPU in GET /hardware/info (memory in bytes, CUDA compute capability major.minor)."""

    id: str
    name: str
    memory_total: int
    memory_free: int
    major: int
    minor: int


class GPUUtilizationInfo(BaseModel):
    """One GPU in GET /hardware/stats (utilisation in percent)."""

    id: str
    name: str
    memory_total: int
    memory_free: int
    utilization_compute: int
    utilization_memory: int


class HardwareInformation(BaseModel):
    """GET /hardware/info: keys of gpu_info are device indices (strings once in JSON)."""

    pipeline: str
    model_id: str
    gpu_info: Dict[int, GPUComputeInfo]


class HardwareStats(BaseModel):
    """GET /hardware/stats."""

    pipeline: str
    model_id: str
    gpu_stats: Dict[int, GPUUtilizationInfo]


# ---------------------------------------------------------------------------------------------
# JSON request bodies


class TextToImageParams(BaseModel):
    """POST /text-to-image body. `prompt` is required (422 when absent, 400 when empty)."""

    model_id: str = ""
    loras: str = ""
    prompt: str
    height: int = 576
    width: int = 1024
    guidance_scale: float = 7.5
    negative_prompt: str = ""
    safety_check: bool = True
    seed: Optional[int] = None
    num_inference_steps: int = 50
    num_images_per_prompt: int = 1


DEFAULT_TTS_DESCRIPTION = (
    "A male speaker delivers a slightly expressive and animated speech with a moderate speed "
    "and pitch."
)


class TextToSpeechParams(BaseModel):
    """POST /text-to-speech body. An empty `text` is a 400, not a 422."""

    model_id: str = ""
    text: str = ""
    description: str = DEFAULT_TTS_DESCRIPTION


class LLMMessage(BaseModel):
    role: str
    content: str


class LLMRequest(BaseModel):
    """POST /llm body (OpenAI-like chat completion request)."""

    messages: List[LLMMessage]
    model: str = ""
    temperature: float = 0.7
    max_tokens: int = 256
    top_p: float = 1.0
    top_k: int = -1
    stream: bool = False


# ---------------------------------------------------------------------------------------------
# Response bodies


class MediaURL(BaseModel):
    url: str


class Media(MediaURL):
    """One generated image or frame: a data URL, the seed that made it and the NSFW flag."""

    seed: int
    nsfw: bool


class ImageResponse(BaseModel):
    images: List[Media]


class VideoResponse(BaseModel):
    """image-to-video: a list of batches, each a list of frames."""

    frames: List[List[Media]]


class AudioResponse(BaseModel):
    audio: MediaURL


class MasksResponse(BaseModel):
    """segment-anything-2: the Python string form of nested lists, sorted by descending score."""

    masks: str
    scores: str
    logits: str


class Chunk(BaseModel):
    timestamp: Tuple
    text: str


class TextResponse(BaseModel):
    """audio-to-text: the transcript and its timestamped chunks ([] when none)."""

    text: str
    chunks: List[Chunk] = Field(default_factory=list)


class ImageToTextResponse(BaseModel):
    text: str


class LLMTokenUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class LLMChoice(BaseModel):
    index: int
    finish_reason: str = ""
    delta: Optional[LLMMessage] = None
    message: Optional[LLMMessage] = None


class LLMResponse(BaseModel):
    """One streamed chunk (choices[0].delta) or the whole answer (choices[0].message)."""

    id: str
    model: str
    created: int
    usage: LLMTokenUsage
    choices: List[LLMChoice]
