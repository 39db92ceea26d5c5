"""The gateway's client-facing HTTP API (server/ai_mediaserver.go, server/mediaserver.go): the batch
AI routes with go's request checks and error bodies ({"error": {"message": ...}} with 400, 503
"Service Unavailable Error", 500 "Internal Server Error"), transcoding ingest
(`/live/{manifestID}/{seq}.ts`, renditions as multipart/mixed), /healthz and /metrics."""
from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import uuid

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import (
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from node.core.ai_models import DEFAULT_MODEL_IDS
from node.core.ai_sessions import AUDIO_DURATION_ERROR
from node.eth.errors import ChainError
from node.metrics import CONTENT_TYPE_LATEST
from node.net import limits
from node.net.exact_routes import index_exact_routes
from node.net.fast_path import serve_fast
from node.net.headers import VideoProfile
from node.worker.ai.media import decode_data_url

from . import media
from .byoc import ByocGateway, byoc_gateway_router
from .byoc_stream import MAX_BODY as BYOC_STREAM_MAX_BODY
from .byoc_stream import TRICKLE_PATH as BYOC_TRICKLE_PATH
from .byoc_stream import GatewayStreams, byoc_stream_router
from .live import TRICKLE_PATH as LIVE_TRICKLE_PATH
from .live import LiveStreams
from .node import GatewayError, GatewayNode
from .openapi import gateway_openapi

log = logging.getLogger("lpnode.gateway")

JSON_ROUTES = ("text-to-image", "llm", "text-to-speech")
MULTIPART_ROUTES = ("image-to-image", "image-to-video", "upscale", "audio-to-text", "segment-anything-2",
                    "image-to-text")
SPOOL_IN_MEMORY = 1024 * 1024  # bytes of a multipart upload held in memory before it goes to a file
REQUIRED = {"text-to-image": "prompt", "image-to-image": "prompt", "text-to-speech": "text"}


def error(status: int, message: str) -> JSONResponse:
    """go's AI error body (server/handlers.go handleAPIError): 503 and 500 hide the cause, every
    503 (a "no orchestrators available" one too) reads "Service Unavailable Error"."""
    if status == 503:
        message = "Service Unavailable Error"
    elif status >= 500 and status != 503:
        message = "Internal Server Error"
    return JSONResponse({"error": {"message": message}}, status_code=status)


def create_app(gateway: GatewayNode, profiles: tuple[VideoProfile, ...], *, fast_path: bool = True) -> FastAPI:
    """`fast_path` serves the AI routes without FastAPI's per-request work (node.net.fast_path;
    the same answers)."""
    app = FastAPI(title="lpnode gateway")
    limits.guard_app(app, limits.limit_by_prefix(limits.MAX_SMALL_BODY, live=limits.MAX_SEGMENT_BYTES,
                                                 **{r: limits.MAX_UPLOAD + limits.MULTIPART_OVERHEAD
                                                    for r in JSON_ROUTES + MULTIPART_ROUTES},
                                                 **{"process/request/": limits.MAX_UPLOAD,
                                                    "process/stream/": BYOC_STREAM_MAX_BODY}),
                     unavailable=(ChainError,), streamed=(LIVE_TRICKLE_PATH,))

    # live video-to-video (node.gateway.live): its routes and the client's trickle channels,
    # ahead of /live/{manifestID}/{seq}
    live = app.state.live = LiveStreams(gateway)
    app.include_router(live.router())
    app.mount(LIVE_TRICKLE_PATH, live.trickle)
    app.router.on_shutdown.append(live.close)

    # BYOC batch jobs (node.gateway.byoc)
    app.include_router(byoc_gateway_router(ByocGateway(gateway)))

    # BYOC streams (node.gateway.byoc_stream): /process/stream/* and the client's trickle channels
    byoc_streams = app.state.byoc_streams = GatewayStreams(ByocGateway(gateway), live)
    app.include_router(byoc_stream_router(byoc_streams))
    app.mount(BYOC_TRICKLE_PATH, byoc_streams.trickle)
    app.router.on_shutdown.append(byoc_streams.close)

    store = media.MediaStore()
    app.state.media = store
    background: set[asyncio.Task] = set()

    async def ai(pipeline: str, request: Request):
        if pipeline == "image-to-video" and request.headers.get("prefer") == "respond-async":
            # go: the request runs in the background; 202 {"request_id"}, result at /image-to-video/result
            request_id = uuid.uuid4().hex[:8]
            body = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by run()
            async for chunk in request.stream():
                body.write(chunk)
            store.save(request_id, "request.json", b"{}")

            async def run():
                try:
                    with body:
                        reply = (await ai_request(pipeline, request, body, request_id)).body
                except Exception:  # the result must appear, or the client polls forever
                    log.exception("image-to-video request %s failed", request_id)
                    reply = error(500, "").body
                store.save(request_id, "result.json", reply)

            task = asyncio.create_task(run())
            background.add(task)
            task.add_done_callback(background.discard)
            return JSONResponse({"request_id": request_id}, status_code=202)
        if pipeline in JSON_ROUTES:
            return await ai_request(pipeline, request, await request.body())
        # a multipart upload goes to a file past 1 MiB: a refused or slow one costs no memory
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as body:
            async for chunk in request.stream():
                body.write(chunk)
            return await ai_request(pipeline, request, body)

    async def ai_request(pipeline: str, request: Request, body, request_id: str | None = None):
        content_type = request.headers.get("content-type", "")
        image_size = None
        audio = {}
        rebuilt = None  # audio-to-text's re-encoded body, closed when the request is done
        if pipeline in JSON_ROUTES:
            try:
                fields = limits.loads(body or b"{}")
            except ValueError as exc:
                return error(400, f"invalid JSON: {exc}")
            if not isinstance(fields, dict):
                return error(400, "request body must be a JSON object")
            if pipeline == "llm" and any(fields.get(k) is None for k in ("model", "messages", "stream", "max_tokens")) \
                    or pipeline == "llm" and not fields["messages"]:
                return error(400, "missing required fields")  # go's LLM handler
        else:
            try:
                form = await Request(request.scope, _replay(body)).form()
            except Exception:  # noqa: BLE001 - a malformed multipart body is the client's mistake
                return error(400, "invalid multipart body")
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            upload = form.get("image") or form.get("audio")
            if upload is None or isinstance(upload, str):
                return error(400, f"{'audio' if pipeline == 'audio-to-text' else 'image'} field is required")
            if pipeline == "audio-to-text":
                # go's submitAudioToText: measure (lpms; PyAV here), pay duration × 1000 units and
                # send the duration to the runner in the re-encoded request's `metadata` field
                try:
                    seconds = media.audio_seconds(upload.file)
                except media.CodecInfoError as exc:
                    audio = {"audio_error": str(exc)}
                else:
                    audio = {"audio_seconds": seconds} if seconds > 0 else {"audio_error": AUDIO_DURATION_ERROR}
                    fields["metadata"] = json.dumps({"duration": str(seconds)}, separators=(",", ":"))
                    fields.setdefault("model_id", DEFAULT_MODEL_IDS[pipeline])
                    body, content_type = media.multipart_body(
                        fields, "audio", upload.filename or "audio", upload.file,
                        upload.content_type or "application/octet-stream")
                    rebuilt = body
            else:
                from PIL import Image

                try:
                    image_size = Image.open(upload.file).size
                except Exception:  # noqa: BLE001 - anything unreadable is the client's mistake
                    return error(400, "could not read the image")
        required = REQUIRED.get(pipeline)
        if required and not fields.get(required):
            return error(400, f"{required} field is required" if required == "text" else f"{required} is required")
        if pipeline == "llm":
            # go routes an llm request by its `model` (GenLLMJSONRequestBody has no model_id)
            fields["model_id"] = str(fields["model"])
        else:
            fields.setdefault("model_id", DEFAULT_MODEL_IDS.get(pipeline, ""))
            if pipeline in JSON_ROUTES:
                body = json.dumps(fields).encode()
        try:
            reply, media_type = await gateway.ai_request(pipeline, body, content_type or "application/json", fields,
                                                         image_size=image_size, **audio)
            if pipeline == "image-to-video":
                reply, media_type = await videos(reply, fields, request_id or uuid.uuid4().hex[:8]), "application/json"
        except GatewayError as exc:
            if pipeline == "llm" and exc.status != 503:
                return error(500, str(exc))  # go's LLM handler answers 503 or 500, nothing else
            return error(exc.status, str(exc))
        finally:
            if rebuilt is not None:
                rebuilt.close()
        if not isinstance(reply, bytes):  # llm's server-sent events, relayed as they come
            return StreamingResponse(reply, media_type=media_type,
                                     headers={"Cache-Control": "no-cache", "Connection": "keep-alive"})
        return Response(reply, media_type=media_type)

    async def videos(reply: bytes, fields: dict, request_id: str) -> bytes:
        """go's processImageToVideo: each video of the orchestrator's ImageResponse is saved to the
        gateway's object store and answered by that URL. An orchestrator that passes the runner's
        `frames` through gets them encoded here as go's orchestrator would have (ImageToVideo)."""
        try:
            doc = json.loads(reply)
            out = []
            if doc.get("frames") is not None:
                width, height = int(fields.get("width") or 1024), int(fields.get("height") or 576)
                fps = int(fields.get("fps") or media.VIDEO_FPS)
                for batch in doc["frames"]:
                    frames = [decode_data_url(f["url"]) for f in batch]
                    data = await asyncio.to_thread(media.frames_to_mp4, frames, width, height, fps)
                    first = batch[0] if batch else {}
                    out.append((f"{uuid.uuid4().hex[:8]}.mp4", data, first.get("seed"), first.get("nsfw", False)))
            else:
                for item in doc["images"]:
                    url = item["url"]
                    data = decode_data_url(url) if url.startswith("data:") else \
                        (await gateway.http.get(url)).raise_for_status().content
                    out.append((url.rsplit("/", 1)[-1] if not url.startswith("data:") else
                                f"{uuid.uuid4().hex[:8]}.mp4", data, item.get("seed"), item.get("nsfw", False)))
        except GatewayError:
            raise
        except Exception as exc:  # noqa: BLE001 - a reply we cannot turn into videos is go's 500
            raise GatewayError(500, f"error saving video: {exc}") from None
        images = [{"url": store.save(request_id, name, data), "seed": seed, "nsfw": nsfw}
                  for name, data, seed, nsfw in out]
        return json.dumps({"images": images}).encode()

    @app.api_route("/image-to-video/result", methods=["GET", "POST"])  # go's mux takes any method
    async def image_to_video_result(request: Request):
        try:
            request_id = str(json.loads(await request.body())["request_id"])
        except Exception as exc:  # noqa: BLE001 - go: the JSON decoder's error, 400
            return error(400, f"invalid request: {exc}")
        if store.read(request_id, "request.json") is None:
            return error(400, "invalid request ID")
        result = store.read(request_id, "result.json")
        if result is None:
            return JSONResponse({"status": "processing"}, status_code=202)
        return JSONResponse({"result": json.loads(result), "status": "complete"})

    @app.get("/stream/{request_id}/{name}")
    async def stream_data(request_id: str, name: str):
        data = store.read(request_id, name)
        if data is None:
            return PlainTextResponse("404 page not found", status_code=404)
        return Response(data, media_type="video/mp4" if name.endswith(".mp4") else "application/octet-stream")

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

    app.openapi = lambda: gateway_openapi(app)  # the AI routes' real schemas (the runner's models)

    @app.exception_handler(StarletteHTTPException)
    async def not_found(request: Request, exc: StarletteHTTPException):
        """An unknown path is go's ServeMux 404 (text, not FastAPI's JSON)."""
        if exc.status_code == 404:
            return PlainTextResponse("404 page not found\n", status_code=404,
                                     headers={"X-Content-Type-Options": "nosniff"})
        return await http_exception_handler(request, exc)

    @app.get("/healthz")
    async def healthz():
        return PlainTextResponse("")

    @app.get("/metrics")
    async def prometheus():
        return Response(gateway.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    index_exact_routes(app)  # the hot paid routes by dict, not a regex per route
    if fast_path:
        serve_fast(app, [f"/{r}" for r in JSON_ROUTES + MULTIPART_ROUTES])
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
