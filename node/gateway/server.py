"""The gateway's client-facing HTTP API (server/ai_mediaserver.go, server/mediaserver.go): the batch
AI routes with go's request checks and error bodies ({"error": {"message": ...}} with 400, 503
"Service Unavailable Error", 500 "Internal Server Error"), transcoding ingest
(`/live/{manifestID}/{seq}.ts`, renditions as multipart/mixed), /healthz and /metrics."""
from __future__ import annotations

import json
import logging
import tempfile
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from node.eth.errors import ChainError
from node.metrics import CONTENT_TYPE_LATEST
from node.net import limits
from node.net.headers import VideoProfile

from .node import GatewayError, GatewayNode

log = logging.getLogger("lpnode.gateway")

JSON_ROUTES = ("text-to-image", "llm", "text-to-speech")
MULTIPART_ROUTES = ("image-to-image", "image-to-video", "upscale", "audio-to-text", "segment-anything-2",
                    "image-to-text")
DEFAULT_MODELS = {"text-to-image": "stabilityai/sdxl-turbo", "image-to-image": "stabilityai/sdxl-turbo",
                  "image-to-video": "stabilityai/stable-video-diffusion-img2vid-xt",
                  "upscale": "stabilityai/stable-diffusion-x4-upscaler", "audio-to-text": "openai/whisper-large-v3",
                  "llm": "meta-llama/llama-3.1-8B-Instruct", "segment-anything-2": "facebook/sam2-hiera-large",
                  "image-to-text": "Salesforce/blip-image-captioning-large",
                  "text-to-speech": "parler-tts/parler-tts-large-v1"}
SPOOL_IN_MEMORY = 1024 * 1024  # bytes of a multipart upload held in memory before it goes to a file
REQUIRED = {"text-to-image": "prompt", "image-to-image": "prompt", "text-to-speech": "text"}


def error(status: int, message: str) -> JSONResponse:
    """go's AI error body; 503 and 500 hide the cause (go replaces the message), except the
    "no orchestrators available" 503, which go passes through."""
    if status == 503 and not message.startswith("no orchestrators"):
        message = "Service Unavailable Error"
    elif status >= 500 and status != 503:
        message = "Internal Server Error"
    return JSONResponse({"error": {"message": message}}, status_code=status)


def create_app(gateway: GatewayNode, profiles: tuple[VideoProfile, ...]) -> FastAPI:
    app = FastAPI(title="lpnode gateway")
    limits.guard_app(app, limits.limit_by_prefix(limits.MAX_SMALL_BODY, live=limits.MAX_SEGMENT_BYTES,
                                                 **{r: limits.MAX_UPLOAD + limits.MULTIPART_OVERHEAD
                                                    for r in JSON_ROUTES + MULTIPART_ROUTES}),
                     unavailable=(ChainError,))

    async def ai(pipeline: str, request: Request):
        if pipeline in JSON_ROUTES:
            return await ai_request(pipeline, request, await request.body())
        # a multipart upload goes to a file past 1 MiB: a refused or slow one costs no memory
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as body:
            async for chunk in request.stream():
                body.write(chunk)
            return await ai_request(pipeline, request, body)

    async def ai_request(pipeline: str, request: Request, body):
        content_type = request.headers.get("content-type", "")
        image_size = None
        if pipeline in JSON_ROUTES:
            try:
                fields = limits.loads(body or b"{}")
            except ValueError as exc:
                return error(400, f"invalid JSON: {exc}")
            if not isinstance(fields, dict):
                return error(400, "request body must be a JSON object")
        else:
            try:
                form = await Request(request.scope, _replay(body)).form()
            except Exception:  # noqa: BLE001 - a malformed multipart body is the client's mistake
                return error(400, "invalid multipart body")
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            upload = form.get("image") or form.get("audio")
            if upload is None or isinstance(upload, str):
                return error(400, f"{'audio' if pipeline == 'audio-to-text' else 'image'} field is required")
            if pipeline != "audio-to-text":
                from PIL import Image

                try:
                    image_size = Image.open(upload.file).size
                except Exception:  # noqa: BLE001 - anything unreadable is the client's mistake
                    return error(400, "could not read the image")
        required = REQUIRED.get(pipeline)
        if required and not fields.get(required):
            return error(400, f"{required} field is required" if required == "text" else f"{required} is required")
        fields.setdefault("model_id", DEFAULT_MODELS.get(pipeline, ""))
        if pipeline in JSON_ROUTES:
            body = json.dumps(fields).encode()
        try:
            reply, media_type = await gateway.ai_request(pipeline, body, content_type or "application/json", fields,
                                                         image_size=image_size)
        except GatewayError as exc:
            return error(exc.status, str(exc))
        return Response(reply, media_type=media_type)

    for route in JSON_ROUTES + MULTIPART_ROUTES:
        app.add_api_route(f"/{route}", _route(ai, route), methods=["POST"])

    @app.api_route("/live/{manifest_id}/{segment}", methods=["PUT", "POST"])
    async def ingest(manifest_id: str, segment: str, request: Request):
        seq_text, _, ext = segment.partition(".")
        if ext not in ("ts", "mp4"):
            return PlainTextResponse("ignoring file extension", status_code=400)
        try:
            seq = int(seq_text)
        except ValueError:
            return PlainTextResponse("invalid sequence number", status_code=400)
        duration = content_duration(request.headers.get("Content-Duration", ""))
        data = await request.body()
        try:
            renditions = await gateway.transcode(manifest_id, seq, data, duration, profiles)
        except GatewayError as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        if "multipart/mixed" not in request.headers.get("Accept", ""):
            return PlainTextResponse("", status_code=200)
        boundary = uuid.uuid4().hex
        parts = []
        for name, data in renditions:
            filename = f"{name}_{seq}.{ext}"
            parts.append(f"--{boundary}\r\nContent-Type: video/MP2T; name=\"{filename}\"\r\n"
                         f"Content-Length: {len(data)}\r\nContent-Disposition: attachment; filename=\"{filename}\"\r\n"
                         f"Rendition-Name: {name}\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return Response(body, media_type=f"multipart/mixed; boundary={boundary}")

    @app.get("/healthz")
    async def healthz():
        return PlainTextResponse("")

    @app.get("/metrics")
    async def prometheus():
        return Response(gateway.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app


def _replay(file):
    """An ASGI `receive` that plays a spooled body back from its start."""
    file.seek(0)

    async def receive() -> dict:
        chunk = file.read(1 << 16)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunk)}

    return receive


def content_duration(header: str) -> float:
    """A segment's duration in seconds from Content-Duration (ms); go fills in its 2 s default
    when the header is missing or not a number (and so do we for a non-positive one)."""
    try:
        ms = int(header)
    except ValueError:
        ms = 0
    return ms / 1000 if 0 < ms <= 5 * 60 * 1000 else 2.0


def _route(handler, pipeline: str):
    """A FastAPI endpoint for one pipeline (FastAPI reads the signature: `request` must be typed)."""
    async def endpoint(request: Request):
        return await handler(pipeline, request)

    endpoint.__name__ = pipeline.replace("-", "_")
    return endpoint
