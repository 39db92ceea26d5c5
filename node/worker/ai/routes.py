"""The runner's HTTP routes: meta endpoints and one router per batch pipeline.

Each pipeline route is the adapter of ai-runner's `routes/<pipeline>.py`: it parses the JSON body
or the multipart form, checks in the runner's order (required text → bearer token → model id →
route-specific checks), loops over seeds, calls the pipeline and serialises. Status codes and
messages are the runner's, including its small inconsistencies (llm, image-to-text and
text-to-speech drop the final period of some messages; generic inference failures are 400).

Pipeline calls run in a worker thread under one lock per app: like a runner container, one
request at a time reaches the model, while /health and /hardware/* keep answering.
"""
from __future__ import annotations

import json
import secrets
import sys
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Dict, List, Optional, Union

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPBearer
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from node.net.limits import MAX_UPLOAD

from . import hardware
from .errors import ErrorConfig, error_response, map_exception
from .media import (
    audio_duration,
    audio_to_data_url,
    image_to_data_url,
    json_to_array,
    parse_metadata_key,
    read_image,
)
from .models import (
    GUIDANCE_SCALE,
    LORAS,
    MODEL_ID,
    NEGATIVE_PROMPT,
    NUM_IMAGES_PER_PROMPT,
    NUM_INFERENCE_STEPS,
    SAFETY_CHECK,
    SEED,
    AudioResponse,
    HardwareInformation,
    HardwareStats,
    HealthCheck,
    HTTPError,
    ImageResponse,
    ImageToTextResponse,
    LLMChoice,
    LLMMessage,
    LLMRequest,
    LLMResponse,
    MasksResponse,
    TextResponse,
    TextToImageParams,
    TextToSpeechParams,
    Version,
    VideoResponse,
)
from .pipelines import Pipeline

MAX_UPLOAD_BYTES = MAX_UPLOAD  # audio-to-text and image-to-text: 413 above this

RESPONSES: Dict[Union[int, str], Dict[str, Any]] = {
    400: {"model": HTTPError},
    401: {"model": HTTPError},
    500: {"model": HTTPError},
}
# the SDK generator's name for a 200 body (ai-runner declares it on every route but llm)
DATA = {200: {"content": {"application/json": {"schema": {"x-speakeasy-name-override": "data"}}}}}
# the upload routes also declare these, as ai-runner's document does
TOO_LARGE = {413: {"model": HTTPError}}
UNSUPPORTED = {415: {"model": HTTPError}}
# declares the runner's security scheme (HTTPBearer) on pipeline routes; check_auth decides
BEARER = [Depends(HTTPBearer(auto_error=False))]


def _oom(hint: str) -> ErrorConfig:
    return {"OutOfMemoryError": (f"Out of memory error. Try reducing {hint}.", 500)}


AUDIO_FORMAT_ERROR_MESSAGE = "Unsupported audio format or malformed file."
AUDIO_ERRORS: ErrorConfig = {
    "AudioConversionError": (AUDIO_FORMAT_ERROR_MESSAGE, 415),
    "Soundfile is either not in the correct format or is malformed": (AUDIO_FORMAT_ERROR_MESSAGE, 415),
}


@dataclass
class RunnerState:
    """What one runner app holds: its pipeline (None while a background load runs) and config."""

    pipeline_name: str
    model_id: str
    mode: str
    pipeline: Optional[Pipeline] = None
    status: str = "LOADING"  # LOADING → OK, or ERROR when the background load failed
    load_error: str = ""
    auth_token: Optional[str] = None
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    version: str = "undefined"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def random_seed(self) -> int:
        """A seed for requests without one: uniform in [0, 2**32 - 1]."""
        return secrets.randbelow(2**32)

    def set_loaded(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.status = "OK"

    def call(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """Call into the model with the app's lock held (blocking: run it in a thread)."""
        with self.lock:
            return fn(*args, **kwargs)


def runner_state(request: Request) -> RunnerState:
    return request.app.state.runner


# ---------------------------------------------------------------------------------------------
# Checks shared by the pipeline routes


def _bearer(request: Request) -> Optional[str]:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def check_auth(st: RunnerState, request: Request, period: bool = True) -> Optional[JSONResponse]:
    if st.auth_token and _bearer(request) != st.auth_token:
        return error_response(
            401, "Invalid bearer token." if period else "Invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return None


def check_model(st: RunnerState, requested: str, period: bool = True) -> Optional[JSONResponse]:
    if requested != "" and requested != st.model_id:
        msg = f"pipeline configured with {st.model_id} but called with {requested}"
        return error_response(400, msg + ("." if period else ""))
    return None


def check_ready(st: RunnerState) -> Optional[JSONResponse]:
    """Not in ai-runner (it only listens once loaded): requests during a background load."""
    if st.pipeline is not None:
        return None
    if st.status == "ERROR":
        return error_response(500, f"Pipeline failed to load: {st.load_error}")
    return error_response(503, "Pipeline is loading.")


def _release_cuda_memory(exc: BaseException) -> None:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        torch.cuda.empty_cache()


def pipeline_error(exc: BaseException, default: str, overrides: Optional[ErrorConfig] = None):
    _release_cuda_memory(exc)
    status, message = map_exception(exc, default, overrides=overrides)
    return error_response(status, message)


def too_large(upload: UploadFile, limit: int) -> bool:
    size = upload.size
    if size is None:
        f = upload.file
        pos = f.tell()
        f.seek(0, 2)
        size = f.tell()
        f.seek(pos)
    return size > limit


def _image_entries(images, seeds, nsfw) -> List[dict]:
    return [
        {"url": image_to_data_url(img), "seed": sd, "nsfw": bool(flag or False)}
        for img, sd, flag in zip(images, seeds, nsfw)
    ]


async def _run_per_seed(st: RunnerState, seeds: List[int], call: Callable[[int], tuple]):
    """Call the pipeline once per seed (one image each, as the runner does to spare VRAM)."""

    def work():
        images, flags = [], []
        with st.lock:
            for seed in seeds:
                imgs, nsfw = call(seed)
                images.extend(imgs)
                flags.extend(nsfw)
        return images, flags

    return await run_in_threadpool(work)


async def _read_upload_image(upload: UploadFile):
    return read_image(await upload.read())


# ---------------------------------------------------------------------------------------------
# Meta routes


def meta_router() -> APIRouter:
    router = APIRouter()

    @router.get("/health", operation_id="health", response_model=HealthCheck)
    @router.get("/health/", response_model=HealthCheck, include_in_schema=False)
    def health(request: Request):
        st = runner_state(request)
        try:
            if st.pipeline is None:
                return HealthCheck(status=st.status)
            return st.pipeline.get_health()
        except Exception:
            return error_response(500, "Failed to retrieve pipeline status.")

    @router.get("/hardware/info", operation_id="hardware_info", response_model=HardwareInformation)
    @router.get("/hardware/info/", response_model=HardwareInformation, include_in_schema=False)
    async def hardware_info(request: Request):
        st = runner_state(request)
        info = await run_in_threadpool(hardware.gpu_compute_info)
        return HardwareInformation(pipeline=st.pipeline_name, model_id=st.model_id, gpu_info=info)

    @router.get("/hardware/stats", operation_id="hardware_stats", response_model=HardwareStats)
    @router.get("/hardware/stats/", response_model=HardwareStats, include_in_schema=False)
    async def hardware_stats(request: Request):
        st = runner_state(request)
        stats = await run_in_threadpool(hardware.gpu_utilization_stats)
        return HardwareStats(pipeline=st.pipeline_name, model_id=st.model_id, gpu_stats=stats)

    @router.get("/version", operation_id="version", response_model=Version)
    @router.get("/version/", response_model=Version, include_in_schema=False)
    def version(request: Request):
        st = runner_state(request)
        return Version(pipeline=st.pipeline_name, model_id=st.model_id, version=st.version)

    @router.get("/metrics", include_in_schema=False)
    def metrics(request: Request):
        st = runner_state(request)
        v = st.version.replace("\\", "\\\\").replace('"', '\\"')
        body = (
            "# HELP version Runner version\n# TYPE version gauge\n"
            f'version{{app="ai-runner",version="{v}"}} 1.0\n'
        )
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    return router


# ---------------------------------------------------------------------------------------------
# Pipeline routes


def _post(router: APIRouter, path: str, response_model, operation_id: str, summary: str,
          description: str, responses: Optional[dict] = None):
    """Register a handler on `path` and on its hidden trailing-slash alias."""

    def deco(fn):
        router.post(path, response_model=response_model, responses={**DATA, **RESPONSES, **(responses or {})},
                    operation_id=operation_id, summary=summary, description=description,
                    tags=["generate"], dependencies=BEARER, openapi_extra=_sdk_name(path))(fn)
        router.post(path + "/", response_model=response_model, responses=RESPONSES,
                    include_in_schema=False)(fn)
        return fn

    return deco


def _sdk_name(path: str) -> dict:
    """ai-runner's name for the SDK generator (Speakeasy): /image-to-video → imageToVideo."""
    head, *rest = path.strip("/").split("-")
    return {"x-speakeasy-name-override": head + "".join(w.capitalize() for w in rest)}


def text_to_image_router() -> APIRouter:
    router = APIRouter()

    @_post(router, "/text-to-image", ImageResponse, "genTextToImage", "Text To Image",
           "Generate images from text prompts.")
    async def text_to_image(params: TextToImageParams, request: Request):
        st = runner_state(request)
        if not params.prompt:
            return error_response(400, "Prompt must be provided.")
        for bad in (check_auth(st, request), check_model(st, params.model_id), check_ready(st)):
            if bad is not None:
                return bad
        seed = params.seed if params.seed is not None else st.random_seed()
        seeds = [seed + i for i in range(params.num_images_per_prompt)]
        kwargs = params.model_dump(exclude={"model_id", "seed"})
        kwargs["num_images_per_prompt"] = 1
        try:
            images, nsfw = await _run_per_seed(st, seeds, lambda s: st.pipeline(seed=s, **kwargs))
        except Exception as e:
            return pipeline_error(e, "Text-to-image pipeline error.", _oom("output image resolution"))
        return {"images": await run_in_threadpool(_image_entries, images, seeds, nsfw)}

    return router


def image_to_image_router() -> APIRouter:
    router = APIRouter()

    @_post(router, "/image-to-image", ImageResponse, "genImageToImage", "Image To Image",
           "Apply image transformations to a provided image.")
    async def image_to_image(
        request: Request,
        prompt: Annotated[str, Form(description="Text prompt(s) to guide image generation.")],
        image: Annotated[UploadFile, File(description="Uploaded image to modify with the pipeline.")],
        model_id: Annotated[str, Form(description=MODEL_ID % "image generation")] = "",
        loras: Annotated[str, Form(description=LORAS)] = "",
        strength: Annotated[float, Form(description="Degree of transformation applied to the "
                                        "reference image (0 to 1).")] = 0.8,
        guidance_scale: Annotated[float, Form(description=GUIDANCE_SCALE)] = 7.5,
        image_guidance_scale: Annotated[float, Form(description="Degree to which the generated "
                                                    "image is pushed towards the initial image.")] = 1.5,
        negative_prompt: Annotated[str, Form(description=NEGATIVE_PROMPT)] = "",
        safety_check: Annotated[bool, Form(description=SAFETY_CHECK)] = True,
        seed: Annotated[Optional[int], Form(description=SEED)] = None,
        num_inference_steps: Annotated[int, Form(description=NUM_INFERENCE_STEPS)] = 100,
        num_images_per_prompt: Annotated[int, Form(description=NUM_IMAGES_PER_PROMPT)] = 1,
    ):
        st = runner_state(request)
        for bad in (check_auth(st, request), check_model(st, model_id), check_ready(st)):
            if bad is not None:
                return bad
        seed = seed if seed is not None else st.random_seed()
        seeds = [seed + i for i in range(num_images_per_prompt)]
        default = "Image-to-image pipeline error."
        overrides = _oom("input image resolution")
        try:
            img = await _read_upload_image(image)
        except Exception as e:
            return pipeline_error(e, default, overrides)
        kwargs = dict(prompt=prompt, image=img, strength=strength, loras=loras,
                      guidance_scale=guidance_scale, image_guidance_scale=image_guidance_scale,
                      negative_prompt=negative_prompt, safety_check=safety_check,
                      num_images_per_prompt=1, num_inference_steps=num_inference_steps)
        try:
            images, nsfw = await _run_per_seed(st, seeds, lambda s: st.pipeline(seed=s, **kwargs))
        except Exception as e:
            return pipeline_error(e, default, overrides)
        return {"images": await run_in_threadpool(_image_entries, images, seeds, nsfw)}

    return router


def image_to_video_router() -> APIRouter:
    router = APIRouter()

    @_post(router, "/image-to-video", VideoResponse, "genImageToVideo", "Image To Video",
           "Generate a video from a provided image.")
    async def image_to_video(
        request: Request,
        image: Annotated[UploadFile, File(description="Uploaded image to generate a video from.")],
        model_id: Annotated[str, Form(description=MODEL_ID % "video generation")] = "",
        height: Annotated[int, Form(description="The height in pixels of the generated video.")] = 576,
        width: Annotated[int, Form(description="The width in pixels of the generated video.")] = 1024,
        fps: Annotated[int, Form(description="The frames per second of the generated video.")] = 6,
        motion_bucket_id: Annotated[int, Form(description=(
            "Used for conditioning the amount of motion for the generation. The higher the "
            "number the more motion will be in the video."))] = 127,
        noise_aug_strength: Annotated[float, Form(description=(
            "Amount of noise added to the conditioning image. Higher values reduce resemblance "
            "to the conditioning image and increase motion."))] = 0.02,
        safety_check: Annotated[bool, Form(description=SAFETY_CHECK)] = True,
        seed: Annotated[Optional[int], Form(description=SEED)] = None,
        num_inference_steps: Annotated[int, Form(description=NUM_INFERENCE_STEPS)] = 25,
    ):
        st = runner_state(request)
        for bad in (check_auth(st, request), check_model(st, model_id)):
            if bad is not None:
                return bad
        if height % 8 != 0 or width % 8 != 0:
            return error_response(
                400, f"`height` and `width` have to be divisible by 8 but are {height} and {width}."
            )
        if (bad := check_ready(st)) is not None:
            return bad
        if seed is None:
            seed = st.random_seed()
        default = "Image-to-video pipeline error."
        overrides = _oom("input or output video resolution")
        try:
            img = await _read_upload_image(image)
            batches, nsfw = await run_in_threadpool(
                st.call, st.pipeline, image=img, height=height, width=width, fps=fps,
                motion_bucket_id=motion_bucket_id, noise_aug_strength=noise_aug_strength,
                num_inference_steps=num_inference_steps, safety_check=safety_check, seed=seed,
            )
        except Exception as e:
            return pipeline_error(e, default, overrides)
        flag = bool(nsfw[0]) if nsfw else False

        def encode():
            return [[{"url": image_to_data_url(f), "seed": seed, "nsfw": flag} for f in frames]
                    for frames in batches]

        return {"frames": await run_in_threadpool(encode)}

    return router


def upscale_router() -> APIRouter:
    router = APIRouter()

    @_post(router, "/upscale", ImageResponse, "genUpscale", "Upscale",
           "Upscale an image by increasing its resolution.")
    async def upscale(
        request: Request,
        prompt: Annotated[str, Form(description="Text prompt(s) to guide upscaled image generation.")],
        image: Annotated[UploadFile, File(description="Uploaded image to modify with the pipeline.")],
        model_id: Annotated[str, Form(description=MODEL_ID % "upscaled image generation")] = "",
        safety_check: Annotated[bool, Form(description=SAFETY_CHECK)] = True,
        seed: Annotated[Optional[int], Form(description=SEED)] = None,
        num_inference_steps: Annotated[int, Form(description=NUM_INFERENCE_STEPS)] = 75,
    ):
        st = runner_state(request)
        for bad in (check_auth(st, request), check_model(st, model_id), check_ready(st)):
            if bad is not None:
                return bad
        seed = seed or st.random_seed()  # as the runner: seed 0 also means "random"
        default = "Upscale pipeline error."
        overrides = _oom("input image resolution")
        try:
            img = await _read_upload_image(image)
            images, nsfw = await run_in_threadpool(
                st.call, st.pipeline, prompt=prompt, image=img,
                num_inference_steps=num_inference_steps, safety_check=safety_check, seed=seed,
            )
        except Exception as e:
            return pipeline_error(e, default, overrides)
        # The runner zips with [seed]: only the first image is returned.
        return {"images": await run_in_threadpool(_image_entries, images, [seed], nsfw)}

    return router


def parse_return_timestamps(value: str) -> Union[bool, str]:
    v = value.lower()
    if v in ("true", "1", "sentence"):
        return True
    if v in ("false", "0"):
        return False
    return v


def audio_to_text_router() -> APIRouter:
    router = APIRouter()

    @_post(router, "/audio-to-text", TextResponse, "genAudioToText", "Audio To Text",
           "Transcribe audio files to text.", {**TOO_LARGE, **UNSUPPORTED})
    async def audio_to_text(
        request: Request,
        audio: Annotated[UploadFile, File(description="Uploaded audio file to be transcribed.")],
        model_id: Annotated[str, Form(description=MODEL_ID % "transcription")] = "",
        return_timestamps: Annotated[str, Form(description=(
            "Return timestamps for the transcribed text. Supported values: 'sentence', 'word', "
            "or a string boolean ('true' or 'false'). Default is 'true' ('sentence'). 'false' "
            "means no timestamps. 'word' means word-based timestamps."))] = "true",
        metadata: Annotated[str, Form(description=(
            "Additional job information to be passed to the pipeline."))] = "{}",
    ):
        st = runner_state(request)
        timestamps = parse_return_timestamps(return_timestamps)
        for bad in (check_auth(st, request), check_model(st, model_id)):
            if bad is not None:
                return bad
        if too_large(audio, st.max_upload_bytes):
            return error_response(413, "File size exceeds limit.")
        if (bad := check_ready(st)) is not None:
            return bad
        data = await audio.read()
        try:
            duration = parse_metadata_key(metadata, "duration", float)
            if duration is None:
                duration = await run_in_threadpool(audio_duration, data)
        except Exception:
            return error_response(400, "Unable to calculate duration of file")
        try:
            return await run_in_threadpool(
                st.call, st.pipeline, audio=data, return_timestamps=timestamps, duration=duration
            )
        except Exception as e:
            return pipeline_error(e, "Audio-to-text pipeline error.", AUDIO_ERRORS)

    return router


def segment_anything_2_router() -> APIRouter:
    router = APIRouter()

    @_post(router, "/segment-anything-2", MasksResponse, "genSegmentAnything2", "Segment Anything 2",
           "Segment objects in an image.")
    async def segment_anything_2(
        request: Request,
        image: Annotated[UploadFile, File(description="Image to segment.")],
        model_id: Annotated[str, Form(description=MODEL_ID % "image generation")] = "",
        point_coords: Annotated[Optional[str], Form(description=(
            "Nx2 array of point prompts to the model, where each point is in (X,Y) in pixels."))] = None,
        point_labels: Annotated[Optional[str], Form(description=(
            "Labels for the point prompts, where 1 indicates a foreground point and 0 indicates a "
            "background point."))] = None,
        box: Annotated[Optional[str], Form(description=(
            "A length 4 array given as a box prompt to the model, in XYXY format."))] = None,
        mask_input: Annotated[Optional[str], Form(description=(
            "A low-resolution mask input to the model, typically from a previous prediction "
            "iteration, with the form 1xHxW (H=W=256 for SAM)."))] = None,
        multimask_output: Annotated[bool, Form(description=(
            "If true, the model will return three masks for ambiguous input prompts, often "
            "producing better masks than a single prediction."))] = True,
        return_logits: Annotated[bool, Form(description=(
            "If true, returns un-thresholded mask logits instead of a binary mask."))] = True,
        normalize_coords: Annotated[bool, Form(description=(
            "If true, the point coordinates will be normalized to the range [0,1], with "
            "point_coords expected to be with respect to image dimensions."))] = True,
    ):
        st = runner_state(request)
        for bad in (check_auth(st, request), check_model(st, model_id)):
            if bad is not None:
                return bad
        try:
            arrays = {name: json_to_array(value, name) for name, value in (
                ("point_coords", point_coords), ("point_labels", point_labels),
                ("box", box), ("mask_input", mask_input))}
        except ValueError as e:
            return error_response(400, str(e))
        if (bad := check_ready(st)) is not None:
            return bad
        try:
            img = await _read_upload_image(image)
            masks, scores, logits = await run_in_threadpool(
                st.call, st.pipeline, img, multimask_output=multimask_output,
                return_logits=return_logits, normalize_coords=normalize_coords, **arrays,
            )
        except Exception as e:
            return pipeline_error(e, "Segment-anything-2 pipeline error.", _oom("input image resolution"))

        def encode():
            order = np.argsort(scores)[::-1]
            return {"masks": str(masks[order].tolist()), "scores": str(scores[order].tolist()),
                    "logits": str(logits[order].tolist())}

        return await run_in_threadpool(encode)

    return router


LLM_ERROR = "Internal server error during LLM processing."


def llm_router() -> APIRouter:
    router = APIRouter()

    @router.post("/llm", response_model=LLMResponse, responses=RESPONSES, operation_id="genLLM",
                 summary="LLM", tags=["generate"], dependencies=BEARER,
                 description="Generate text using a language model.", openapi_extra=_sdk_name("/llm"))
    @router.post("/llm/", response_model=LLMResponse, responses=RESPONSES, include_in_schema=False)
    async def llm(req: LLMRequest, request: Request):
        st = runner_state(request)
        for bad in (check_auth(st, request, period=False), check_model(st, req.model, period=False),
                    check_ready(st)):
            if bad is not None:
                return bad
        kwargs = dict(messages=[m.model_dump() for m in req.messages], temperature=req.temperature,
                      max_tokens=req.max_tokens, top_p=req.top_p, top_k=req.top_k)
        if req.stream:
            return StreamingResponse(_llm_stream(st, kwargs), media_type="text/event-stream")

        def complete():
            with st.lock:
                text, last = "", None
                for chunk in st.pipeline(**kwargs):
                    if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                        text += chunk.choices[0].delta.content
                    last = chunk
            if last is None:
                raise ValueError("No response generated")
            return LLMResponse(
                id=last.id, model=last.model, created=last.created, usage=last.usage,
                choices=[LLMChoice(index=0, finish_reason="stop",
                                   message=LLMMessage(role="assistant", content=text))],
            )

        try:
            return await run_in_threadpool(complete)
        except Exception as e:
            _release_cuda_memory(e)
            return error_response(500, LLM_ERROR)

    return router


async def _llm_stream(st: RunnerState, kwargs: dict):
    """SSE: one `data: <LLMResponse>` per chunk, stop after finish_reason "stop", then
    `data: [DONE]`; an error mid-stream becomes `data: {"error": ...}` (status stays 200)."""
    await run_in_threadpool(st.lock.acquire)
    try:
        async for chunk in iterate_in_threadpool(st.pipeline(**kwargs)):
            if chunk.choices:
                yield f"data: {chunk.model_dump_json()}\n\n"
                if chunk.choices[0].finish_reason == "stop":
                    break
        yield "data: [DONE]\n\n"
    except Exception as e:
        yield f"data: {json.dumps({'error': str(e)})}\n\n"
    finally:
        st.lock.release()


def image_to_text_router() -> APIRouter:
    router = APIRouter()

    @_post(router, "/image-to-text", ImageToTextResponse, "genImageToText", "Image To Text",
           "Transform image files to text.", TOO_LARGE)
    async def image_to_text(
        request: Request,
        image: Annotated[UploadFile, File(description="Uploaded image to transform with the pipeline.")],
        prompt: Annotated[str, Form(description="Text prompt(s) to guide transformation.")] = "",
        model_id: Annotated[str, Form(description=MODEL_ID % "transformation")] = "",
    ):
        st = runner_state(request)
        for bad in (check_auth(st, request, period=False), check_model(st, model_id, period=False)):
            if bad is not None:
                return bad
        if too_large(image, st.max_upload_bytes):
            return error_response(413, "File size exceeds limit")
        if (bad := check_ready(st)) is not None:
            return bad
        try:
            img = await _read_upload_image(image)
            text = await run_in_threadpool(st.call, st.pipeline, prompt=prompt, image=img)
        except Exception as e:
            return pipeline_error(e, "Image-to-text pipeline error.", _oom("input image resolution"))
        return ImageToTextResponse(text=text)

    return router


def text_to_speech_router() -> APIRouter:
    router = APIRouter()

    @_post(router, "/text-to-speech", AudioResponse, "genTextToSpeech", "Text To Speech",
           "Generate a text-to-speech audio file based on the provided text input and speaker "
           "description.")
    async def text_to_speech(params: TextToSpeechParams, request: Request):
        st = runner_state(request)
        if not params.text:
            return error_response(400, "Text input must be provided.")
        for bad in (check_auth(st, request), check_model(st, params.model_id, period=False),
                    check_ready(st)):
            if bad is not None:
                return bad
        try:
            wav = await run_in_threadpool(st.call, st.pipeline, params)
        except Exception as e:
            return pipeline_error(e, "Text-to-speech pipeline error.", _oom("text input length"))
        if hasattr(wav, "read"):  # a file-like buffer, as the runner's pipeline returns
            wav = wav.read()
        return {"audio": {"url": audio_to_data_url(wav)}}

    return router


PIPELINE_ROUTERS: Dict[str, Callable[[], APIRouter]] = {
    "text-to-image": text_to_image_router,
    "image-to-image": image_to_image_router,
    "image-to-video": image_to_video_router,
    "upscale": upscale_router,
    "audio-to-text": audio_to_text_router,
    "llm": llm_router,
    "segment-anything-2": segment_anything_2_router,
    "image-to-text": image_to_text_router,
    "text-to-speech": text_to_speech_router,
}
