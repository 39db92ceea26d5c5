"""Remote transcoders attached to an orchestrator (core/orchestrator.go RemoteTranscoderManager,
server/ot_rpc.go): a transcoder registers over gRPC (RegisterTranscoder with the orchestrator's
secret and its capacity) and receives NotifySegment messages on that stream; it downloads the
segment from the URL given, transcodes it and posts the renditions to /transcodeResults
(Authorization `Livepeer-Transcoder-1.0`, Credentials = the secret, TaskId, Pixels; multipart/mixed
with a Pixels header per part, or Content-Type `livepeer/transcoding-error`). Segments go to the
least-loaded transcoder with room; the orchestrator waits max(8 s, 4 × duration) for the result.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import re
import secrets
from dataclasses import dataclass, field
from typing import Mapping

from node.net.proto import lp_rpc_pb2 as pb
from node.net.tls import grpc_channel

AUTH_TYPE = "Livepeer-Transcoder-1.0"
ERROR_MIME = "livepeer/transcoding-error"
ERR_SECRET = "invalid secret"
ERR_ZERO_CAPACITY = "zero capacity"
ERR_NO_TRANSCODERS = "no transcoders available"


class _Tasks:
    """Jobs handed to remote workers and awaiting their results, by task id."""

    def __init__(self) -> None:
        self.pending: dict[int, asyncio.Future] = {}
        self._tasks = itertools.count(1)

    def _new_task(self) -> tuple[int, asyncio.Future]:
        task = next(self._tasks)
        future = self.pending[task] = asyncio.get_running_loop().create_future()
        return task, future

    def result(self, task: int, value, error: str | None) -> bool:
        """Deliver a worker's result (or its error); False for an unknown or finished task."""
        future = self.pending.get(task)
        if future is None or future.done():
            return False
        if error is not None:
            future.set_exception(RuntimeError(error))
        else:
            future.set_result(value)
        return True


@dataclass(eq=False)
class RemoteTranscoder:
    address: str
    capacity: int
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    load: int = 0


class RemoteTranscoders(_Tasks):
    def __init__(self, secret: str, service_uri: str) -> None:
        super().__init__()
        self.secret, self.service_uri = secret, service_uri
        self.transcoders: list[RemoteTranscoder] = []
        self.segments: dict[int, bytes] = {}  # task id -> segment bytes the transcoder downloads

    def __bool__(self) -> bool:
        return bool(self.transcoders)

    async def serve(self, request: pb.RegisterRequest, address: str):
        """The RegisterTranscoder stream: yields NotifySegments until the transcoder goes away."""
        if request.secret != self.secret:
            raise PermissionError(ERR_SECRET)
        if request.capacity <= 0:
            raise ValueError(ERR_ZERO_CAPACITY)
        t = RemoteTranscoder(address, request.capacity)
        self.transcoders.append(t)
        try:
            while True:
                yield await t.queue.get()
        finally:
            self.transcoders.remove(t)

    async def transcode(self, data: bytes, seg: pb.SegData, duration: float, timeout_multiplier: float = 4.0):
        """Send one segment to a transcoder; returns pb-free [(bytes, pixels)] or raises."""
        free = [t for t in self.transcoders if t.load < t.capacity]
        if not free:
            raise RuntimeError(ERR_NO_TRANSCODERS)
        t = min(free, key=lambda x: x.load / x.capacity)
        task, future = self._new_task()
        self.segments[task] = data
        t.load += 1
        try:
            t.queue.put_nowait(pb.NotifySegment(url=f"{self.service_uri}/segment-data/{task}", segData=seg,
                                                taskId=task, profiles=b"invalid"))
            return await asyncio.wait_for(future, max(8.0, timeout_multiplier * duration))
        finally:
            t.load -= 1
            self.pending.pop(task, None)
            self.segments.pop(task, None)


async def run_transcoder(orch_addr: str, secret: str, capacity: int, transcode) -> None:
    """The remote transcoder's side (`lpnode transcoder`): register, then for every NotifySegment
    download, transcode (`transcode(bytes, profiles) -> [(bytes, pixels)]`) and post the result."""
    import uuid

    import grpc
    import httpx

    from node.net.headers import segment_from_proto
    from node.net.proto import lp_rpc_pb2_grpc as pb_grpc

    base = orch_addr if "://" in orch_addr else f"http://{orch_addr}"
    # https:// orchestrators: TLS without verification as go's workers, gRPC pinned (node.net.tls)
    async with await grpc_channel(base) as channel, httpx.AsyncClient(timeout=60, verify=False) as http:
        stub = pb_grpc.TranscoderStub(channel)
        stream = stub.RegisterTranscoder(pb.RegisterRequest(secret=secret, capacity=capacity))
        sem = asyncio.Semaphore(capacity)

        async def handle(notify: pb.NotifySegment) -> None:
            async with sem:
                headers = {"Authorization": AUTH_TYPE, "Credentials": secret, "TaskId": str(notify.taskId)}
                try:
                    md = segment_from_proto(notify.segData)
                    data = (await http.get(notify.url)).raise_for_status().content
                    outputs = await asyncio.to_thread(transcode, data, md.profiles)
                except Exception as exc:  # noqa: BLE001 - the error goes back to the orchestrator
                    await http.post(f"{base}/transcodeResults", content=str(exc).encode(),
                                    headers={**headers, "Content-Type": ERROR_MIME})
                    return
                boundary = uuid.uuid4().hex
                body = b"".join(f"--{boundary}\r\nContent-Type: video/MP2T\r\nPixels: {px}\r\n\r\n".encode() + seg
                                + b"\r\n" for seg, px in outputs) + f"--{boundary}--\r\n".encode()
                await http.post(f"{base}/transcodeResults", content=body,
                                headers={**headers, "Pixels": str(sum(px for _, px in outputs)),
                                         "Content-Type": f"multipart/mixed; boundary={boundary}"})

        tasks = set()
        async for notify in stream:
            task = asyncio.create_task(handle(notify))
            tasks.add(task)
            task.add_done_callback(tasks.discard)


def parse_multipart(body: bytes, boundary: str) -> list[tuple[bytes, int]]:
    """The renditions of a /transcodeResults body: (bytes, the part's Pixels header)."""
    out = []
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.partition(b"\r\n\r\n")
        pixels = 0
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "pixels":
                pixels = int(value.strip())
        out.append((data[:-2] if data.endswith(b"\r\n") else data, pixels))
    return out


# ------------------------------------------------------------------------------- remote AI workers
# (core/ai_orchestrator.go RemoteAIWorkerManager, server/ai_worker.go): an AI worker registers with
# RegisterAIWorker (the orchestrator's secret, its capabilities); jobs go down the stream as
# NotifyAIJob{AIJobData{pipeline, requestData = JSON {"input_url", "request"}}, taskId}; the worker
# runs them on its runner and posts /aiResults (Authorization `Livepeer-AI-Worker-1.0`,
# Credentials, TaskId, Pipeline): multipart/mixed with each file of the result (images, video
# frames, audio) as a part (the JSON's url replaced by the part's filename) and the JSON response
# as a part, or `livepeer/ai-worker-error`.
#
# Multipart pipelines (image-to-image, upscale, image-to-video, audio-to-text, segment-anything-2,
# image-to-text) need the uploaded file. As go's orchestrator (core/ai_orchestrator.go
# SaveAIRequestInput) it is kept in memory and served at
# `<serviceURI>/stream/<request id>/<name>.tempfile` (go-tools' memory storage under the HLS
# `/stream/` handler), here for as long as the task runs; that URL is `input_url`. `request` holds
# the other form fields typed as go's request bodies (ai/worker/runner.gen.go Body*: unknown
# fields dropped, the file field null). The worker downloads input_url and rebuilds the form for
# its runner as go's multipart writers do (ai/worker/multipart.go): the file under the name and
# filename "image" ("audio" for audio-to-text), ints in decimal, floats as %f, bools true/false.

AI_AUTH_TYPE = "Livepeer-AI-Worker-1.0"
AI_ERROR_MIME = "livepeer/ai-worker-error"
AI_INPUT_PATH = "/stream"
AI_PIPELINES = ("text-to-image", "image-to-image", "llm", "text-to-speech", "upscale", "image-to-video",
                "audio-to-text", "segment-anything-2", "image-to-text")

# pipeline -> (the file field, {field: JSON type}, fields always in the request (go's non-pointer ones))
AI_MULTIPART_FIELDS: dict[str, tuple[str, dict[str, type], tuple[str, ...]]] = {
    "image-to-image": ("image", {"prompt": str, "model_id": str, "loras": str, "strength": float,
                                 "guidance_scale": float, "image_guidance_scale": float, "negative_prompt": str,
                                 "safety_check": bool, "seed": int, "num_images_per_prompt": int,
                                 "num_inference_steps": int}, ("prompt",)),
    "image-to-video": ("image", {"model_id": str, "height": int, "width": int, "fps": int, "motion_bucket_id": int,
                                 "noise_aug_strength": float, "seed": int, "safety_check": bool,
                                 "num_inference_steps": int}, ()),
    "upscale": ("image", {"prompt": str, "model_id": str, "safety_check": bool, "seed": int,
                          "num_inference_steps": int}, ("prompt",)),
    "audio-to-text": ("audio", {"model_id": str, "return_timestamps": str, "metadata": str}, ()),
    "segment-anything-2": ("image", {"model_id": str, "point_coords": str, "point_labels": str, "box": str,
                                     "mask_input": str, "multimask_output": bool, "return_logits": bool,
                                     "normalize_coords": bool}, ()),
    "image-to-text": ("image", {"prompt": str, "model_id": str}, ()),
}

_INT = re.compile(r"[+-]?[0-9]+")
_TRUE, _FALSE = ("1", "t", "T", "TRUE", "true", "True"), ("0", "f", "F", "FALSE", "false", "False")


def _form_value(kind: type, name: str, text: str):
    """One form field as go binds it into the request body (strconv's syntax); ValueError if not."""
    if kind is str:
        return text
    if kind is bool and text in _TRUE + _FALSE:
        return text in _TRUE
    if kind is int and _INT.fullmatch(text):
        return int(text)
    if kind is float:
        with contextlib.suppress(ValueError):
            value = float(text)
            if math.isfinite(value):
                return value
    raise ValueError(f"invalid value for {name}: {text!r}")


def ai_request_from_form(pipeline: str, form: Mapping[str, str]) -> dict:
    """The `request` of a multipart pipeline's job: the form's known fields, typed; the file null."""
    file_field, types, always = AI_MULTIPART_FIELDS[pipeline]
    request: dict = {file_field: None}
    for name, kind in types.items():
        text = form.get(name)
        if text is None:
            if name in always:
                request[name] = ""
            continue
        request[name] = _form_value(kind, name, text)
    return request


def ai_form_from_request(pipeline: str, request: dict) -> tuple[str, dict[str, str]]:
    """The worker's side: (the file field, the runner's form fields) from a job's `request`."""
    file_field, types, _ = AI_MULTIPART_FIELDS[pipeline]
    fields = {}
    for name, kind in types.items():
        value = request.get(name)
        if value is None:
            continue
        if kind is bool and isinstance(value, bool):
            fields[name] = "true" if value else "false"
        elif kind is int and not isinstance(value, bool) and (
                isinstance(value, int) or isinstance(value, float) and value.is_integer()):
            fields[name] = str(int(value))
        elif kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            fields[name] = f"{value:f}"
        elif kind is str and isinstance(value, str):
            fields[name] = value
        else:
            raise ValueError(f"invalid value for {name}: {value!r}")
    return file_field, fields


def _result_files(doc) -> list[dict]:
    """The entries of a runner's result whose url may hold a file: images, video frames, audio."""
    if not isinstance(doc, dict):
        return []
    entries = [e for e in doc.get("images") or [] if isinstance(e, dict)]
    entries += [e for batch in doc.get("frames") or [] if isinstance(batch, list) for e in batch if isinstance(e, dict)]
    if isinstance(doc.get("audio"), dict):
        entries.append(doc["audio"])
    return entries


@dataclass(eq=False)
class RemoteAIWorker:
    address: str
    pipelines: frozenset
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    load: int = 0


class RemoteAIWorkers(_Tasks):
    def __init__(self, secret: str, service_uri: str = "") -> None:
        super().__init__()
        self.secret, self.service_uri = secret, service_uri
        self.workers: list[RemoteAIWorker] = []
        self.inputs: dict[str, bytes] = {}  # "<request id>/<name>.tempfile" -> the input a worker downloads

    def serves(self, pipeline: str) -> bool:
        return any(pipeline in w.pipelines for w in self.workers)

    def input(self, path: str) -> bytes | None:
        """The stored input at `<request id>/<name>` under /stream/; None once its task is over."""
        return self.inputs.get(path)

    async def serve(self, request: pb.RegisterAIWorkerRequest, address: str):
        from node.core.capabilities import pipeline_capability
        from node.net import wire

        if request.secret != self.secret:
            raise PermissionError(ERR_SECRET)
        caps = wire.capabilities_from_proto(wire.optional(request, "capabilities"))
        ai = {int(c) for c in (caps.constraints if caps else {})}
        pipelines = frozenset(p for p in AI_PIPELINES if int(pipeline_capability(p)) in ai)
        w = RemoteAIWorker(address, pipelines)
        self.workers.append(w)
        try:
            while True:
                yield await w.queue.get()
        finally:
            self.workers.remove(w)

    async def run(self, pipeline: str, request: bytes | dict, *, input: bytes | None = None, service_uri: str = "",
                  timeout: float = 15 * 60.0) -> bytes:
        """Send a job to the least-loaded worker serving `pipeline`; the runner's JSON back.
        `request` is the JSON body (or the typed fields of a multipart one, see
        ai_request_from_form); `input`, the uploaded file, is served to the worker meanwhile."""
        import json

        able = [w for w in self.workers if pipeline in w.pipelines]
        if not able:
            raise RuntimeError("no AI workers available")
        w = min(able, key=lambda x: x.load)
        task, future = self._new_task()
        path, input_url = None, ""
        if input is not None:
            path = f"{secrets.token_hex(4)}/{secrets.token_hex(4)}.tempfile"
            self.inputs[path] = input
            input_url = f"{(service_uri or self.service_uri).rstrip('/')}{AI_INPUT_PATH}/{path}"
        w.load += 1
        try:
            fields = request if isinstance(request, dict) else json.loads(request or b"{}")
            data = json.dumps({"input_url": input_url, "request": fields}).encode()
            w.queue.put_nowait(pb.NotifyAIJob(AIJobData=pb.AIJobData(pipeline=pipeline, requestData=data), taskId=task))
            return await asyncio.wait_for(future, timeout)
        finally:
            w.load -= 1
            self.pending.pop(task, None)
            if path is not None:
                self.inputs.pop(path, None)


def ai_result_from_multipart(body: bytes, boundary: str) -> bytes:
    """Reassemble the runner's JSON from an /aiResults body: each filename back to a data URL of
    its part's type (the gateway's clients get data URLs, as from a local runner)."""
    import base64
    import json

    files, doc = {}, None
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in head.decode("latin-1").split("\r\n") if ":" in line)}
        content_type = headers.get("content-type", "")
        if content_type.startswith("application/json"):
            doc = json.loads(data)
        else:
            name = headers.get("content-disposition", "").partition("filename=")[2].strip('"')
            files[name] = (content_type or "image/png", data)
    if doc is None:
        raise ValueError("no JSON part in the AI worker's result")
    for entry in _result_files(doc):
        if entry.get("url") in files:
            content_type, data = files[entry["url"]]
            entry["url"] = f"data:{content_type};base64," + base64.b64encode(data).decode()
    return json.dumps(doc).encode()


def _ai_worker_capabilities(pipelines: list[str], model_id: str):
    """The worker's registration: the default capabilities and each pipeline with its model, warm."""
    from node.core.capabilities import DEFAULT_CAPABILITIES, Capabilities, ModelConstraint, pipeline_capability

    caps = [int(pipeline_capability(p)) for p in pipelines]
    out = Capabilities.new([*DEFAULT_CAPABILITIES, *caps])
    out.constraints = {cap: {model_id: ModelConstraint(warm=True)} for cap in caps}
    return out


async def run_ai_worker(orch_addr: str, secret: str, runner_url: str, pipeline: str, model_id: str) -> None:
    """The remote AI worker's side (`lpnode ai-worker`): register for (pipeline, model), run each
    job on the runner at `runner_url`, post the result as go's worker does. `pipeline` may be a
    comma-separated list; `runner_url` then one URL for all or one per pipeline, in order."""
    import base64
    import json
    import uuid

    import grpc
    import httpx

    from node.net import wire
    from node.net.proto import lp_rpc_pb2_grpc as pb_grpc

    pipelines = [p.strip() for p in pipeline.split(",") if p.strip()]
    urls = [u.strip().rstrip("/") for u in runner_url.split(",") if u.strip()]
    if len(urls) not in (1, len(pipelines)):
        raise ValueError(f"{len(urls)} runner URLs for {len(pipelines)} pipelines")
    runners = dict(zip(pipelines, urls * len(pipelines) if len(urls) == 1 else urls))
    base = orch_addr if "://" in orch_addr else f"http://{orch_addr}"
    caps = wire.capabilities_to_proto(_ai_worker_capabilities(pipelines, model_id))
    # https:// orchestrators: TLS without verification as go's workers, gRPC pinned (node.net.tls)
    async with await grpc_channel(base) as channel, httpx.AsyncClient(timeout=15 * 60, verify=False) as http:
        stream = pb_grpc.AIWorkerStub(channel).RegisterAIWorker(
            pb.RegisterAIWorkerRequest(secret=secret, capabilities=caps))

        async def call_runner(pipeline: str, job: dict) -> httpx.Response:
            url = f"{runners[pipeline]}/{pipeline}"
            if pipeline not in AI_MULTIPART_FIELDS:
                return await http.post(url, json=job["request"])
            try:
                file_field, fields = ai_form_from_request(pipeline, job["request"])
            except ValueError as exc:
                raise ValueError(f"AI request validation failed for {pipeline} pipeline err={exc}") from None
            data = (await http.get(job.get("input_url") or "")).raise_for_status().content
            return await http.post(url, data=fields,
                                   files={file_field: (file_field, data, "application/octet-stream")})

        async def handle(notify: pb.NotifyAIJob) -> None:
            job = notify.AIJobData
            headers = {"Authorization": AI_AUTH_TYPE, "Credentials": secret, "TaskId": str(notify.taskId),
                       "Pipeline": job.pipeline}
            try:
                if job.pipeline not in runners:
                    raise RuntimeError("AI request pipeline type not supported")
                reply = await call_runner(job.pipeline, json.loads(job.requestData))
                if reply.status_code != 200:
                    raise RuntimeError(f"runner returned {reply.status_code}: {reply.text[:200]}")
                doc = reply.json()
            except Exception as exc:  # noqa: BLE001 - the error goes back to the orchestrator
                await http.post(f"{base}/aiResults", content=str(exc).encode(),
                                headers={**headers, "Content-Type": AI_ERROR_MIME})
                return
            boundary, parts = uuid.uuid4().hex, []
            for entry in _result_files(doc):
                url = entry.get("url", "")
                if isinstance(url, str) and url.startswith("data:") and ";base64," in url:
                    content_type, _, payload = url[len("data:"):].partition(";base64,")
                    name = f"{uuid.uuid4().hex[:8]}.{content_type.rpartition('/')[2] or 'bin'}"
                    blob = base64.b64decode(payload)
                    entry["url"] = name
                    parts.append(f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Length: {len(blob)}\r\n"
                                 f"Content-Disposition: attachment; filename={name}\r\n\r\n".encode() + blob + b"\r\n")
            payload = json.dumps(doc).encode()
            parts.append(f"--{boundary}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
                         .encode() + payload + b"\r\n")
            await http.post(f"{base}/aiResults", content=b"".join(parts) + f"--{boundary}--\r\n".encode(),
                            headers={**headers, "Content-Type": f"multipart/mixed; boundary={boundary}"})

        tasks = set()
        async for notify in stream:
            task = asyncio.create_task(handle(notify))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
