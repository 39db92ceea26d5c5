"""Request and response bodies of the AI runner's HTTP API (livepeer/ai-runner, batch routes).

Field names, defaults and required/optional follow the runner's OpenAPI schema (spec runner.md
§1.4 and node.md §16), because go-livepeer's generated client (`ai/worker/runner.gen.go`) decodes
these exact shapes. Multipart routes take form fields, so their parameters are declared on the
route handlers (routes.py), not here.
"""
from __future__ import annotations

from typing import Dict, List, Literal, Optional, Tuple

from pydantic import BaseModel, ConfigDict, Field

# ---------------------------------------------------------------------------------------------
# Errors and meta endpoints


class APIError(BaseModel):
    """The error message inside an HTTPError."""

    msg: str = Field(..., description="The error message.")


class HTTPError(BaseModel):
    """The runner's error body: {"detail": {"msg": "..."}}."""

    detail: APIError = Field(..., description="Detailed error information.")


class HealthCheck(BaseModel):
    """GET /health. Batch pipelines answer OK once loaded; LOADING while a background load runs."""

    status: Literal["LOADING", "OK", "ERROR", "IDLE"] = Field(
        ..., description="The health status of the pipeline")


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
# Parameter descriptions, worded as ai-runner's OpenAPI document (the SDKs' docstrings come from
# them); the multipart routes' form fields use them too.

MODEL_ID = "Hugging Face model ID used for %s."
LORAS = ('A LoRA (Low-Rank Adaptation) model and its corresponding weight for image generation. '
         'Example: { "latent-consistency/lcm-lora-sdxl": 1.0, "nerijs/pixel-art-xl": 1.2}.')
GUIDANCE_SCALE = ("Encourages model to generate images closely linked to the text prompt "
                  "(higher values may reduce image quality).")
NEGATIVE_PROMPT = ("Text prompt(s) to guide what to exclude from image generation. Ignored if "
                   "guidance_scale < 1.")
SAFETY_CHECK = ("Perform a safety check to estimate if generated images could be offensive or "
                "harmful.")
SEED = "Seed for random number generation."
NUM_INFERENCE_STEPS = ("Number of denoising steps. More steps usually lead to higher quality "
                       "images but slower inference. Modulated by strength.")
NUM_IMAGES_PER_PROMPT = "Number of images to generate per prompt."

# ---------------------------------------------------------------------------------------------
# JSON request bodies


class TextToImageParams(BaseModel):
    """POST /text-to-image body. `prompt` is required (422 when absent, 400 when empty)."""

    model_id: str = Field("", description=MODEL_ID % "image generation")
    loras: str = Field("", description=LORAS)
    prompt: str = Field(..., description="Text prompt(s) to guide image generation. Separate "
                        "multiple prompts with '|' if supported by the model.")
    height: int = Field(576, description="The height in pixels of the generated image.")
    width: int = Field(1024, description="The width in pixels of the generated image.")
    guidance_scale: float = Field(7.5, description=GUIDANCE_SCALE)
    negative_prompt: str = Field("", description=NEGATIVE_PROMPT)
    safety_check: bool = Field(True, description=SAFETY_CHECK)
    seed: Optional[int] = Field(None, description=SEED)
    num_inference_steps: int = Field(50, description=NUM_INFERENCE_STEPS)
    num_images_per_prompt: int = Field(1, description=NUM_IMAGES_PER_PROMPT)


DEFAULT_TTS_DESCRIPTION = (
    "A male speaker delivers a slightly expressive and animated speech with a moderate speed "
    "and pitch."
)


class TextToSpeechParams(BaseModel):
    """POST /text-to-speech body. An empty `text` is a 400, not a 422."""

    model_id: str = Field("", description=MODEL_ID % "text to speech generation")
    text: str = Field("", description="Text input for speech generation.")
    description: str = Field(DEFAULT_TTS_DESCRIPTION,
                             description="Description of speaker to steer text to speech generation.")


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
    """A URL from which media can be accessed."""

    url: str = Field(..., description="The URL where the media can be accessed.")


class Media(MediaURL):
    """One generated image or frame: a data URL, the seed that made it and the NSFW flag."""

    seed: int = Field(..., description="The seed used to generate the media.")
    nsfw: bool = Field(..., description="Whether the media was flagged as NSFW.")


class ImageResponse(BaseModel):
    """Response model for image generation."""

    images: List[Media] = Field(..., description="The generated images.")


class VideoResponse(BaseModel):
    """image-to-video: a list of batches, each a list of frames."""

    frames: List[List[Media]] = Field(..., description="The generated video frames.")


class AudioResponse(BaseModel):
    """Response model for audio generation."""

    audio: MediaURL = Field(..., description="The generated audio.")


class MasksResponse(BaseModel):
    """segment-anything-2: the Python string form of nested lists, sorted by descending score."""

    masks: str = Field(..., description="The generated masks.")
    scores: str = Field(..., description="The model's confidence scores for each generated mask.")
    logits: str = Field(..., description="The raw, unnormalized predictions (logits) for the masks.")


class Chunk(BaseModel):
    """A chunk of text with a timestamp."""

    timestamp: Tuple = Field(..., description="The timestamp of the chunk.")
    text: str = Field(..., description="The text of the chunk.")


class TextResponse(BaseModel):
    """audio-to-text: the transcript and its timestamped chunks ([] when none)."""

    # always in the body, so required in the document (as upstream) though it defaults to []
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    text: str = Field(..., description="The generated text.")
    chunks: List[Chunk] = Field(default_factory=list, description="The generated text chunks.")


class ImageToTextResponse(BaseModel):
    """Response model for text generation."""

    text: str = Field(..., description="The generated text.")


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
