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
import itertools
from dataclasses import dataclass, field

from node.net.proto import lp_rpc_pb2 as pb

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

    target = orch_addr.split("://", 1)[-1]
    base = orch_addr if "://" in orch_addr else f"http://{orch_addr}"
    async with grpc.aio.insecure_channel(target) as channel, httpx.AsyncClient(timeout=60) as http:
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
# Credentials, TaskId, Pipeline): multipart/mixed with each image as a PNG part (the JSON's url
# replaced by the part's filename) and the JSON response as a part, or `livepeer/ai-worker-error`.

AI_AUTH_TYPE = "Livepeer-AI-Worker-1.0"
AI_ERROR_MIME = "livepeer/ai-worker-error"


@dataclass(eq=False)
class RemoteAIWorker:
    address: str
    pipelines: frozenset
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    load: int = 0


class RemoteAIWorkers(_Tasks):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret
        self.workers: list[RemoteAIWorker] = []

    def serves(self, pipeline: str) -> bool:
        return any(pipeline in w.pipelines for w in self.workers)

    async def serve(self, request: pb.RegisterAIWorkerRequest, address: str):
        from node.core.capabilities import pipeline_capability
        from node.net import wire

        if request.secret != self.secret:
            raise PermissionError(ERR_SECRET)
        caps = wire.capabilities_from_proto(wire.optional(request, "capabilities"))
        ai = {int(c) for c in (caps.constraints if caps else {})}
        pipelines = frozenset(p for p in ("text-to-image", "image-to-image", "llm", "text-to-speech", "upscale",
                                          "image-to-video", "audio-to-text", "segment-anything-2", "image-to-text")
                              if int(pipeline_capability(p)) in ai)
        w = RemoteAIWorker(address, pipelines)
        self.workers.append(w)
        try:
            while True:
                yield await w.queue.get()
        finally:
            self.workers.remove(w)

    async def run(self, pipeline: str, request_json: bytes, timeout: float = 15 * 60.0) -> bytes:
        """Send a JSON request to the least-loaded worker serving `pipeline`; the runner's JSON back."""
        import json

        able = [w for w in self.workers if pipeline in w.pipelines]
        if not able:
            raise RuntimeError("no AI workers available")
        w = min(able, key=lambda x: x.load)
        task, future = self._new_task()
        w.load += 1
        try:
            data = json.dumps({"input_url": "", "request": json.loads(request_json or b"{}")}).encode()
            w.queue.put_nowait(pb.NotifyAIJob(AIJobData=pb.AIJobData(pipeline=pipeline, requestData=data), taskId=task))
            return await asyncio.wait_for(future, timeout)
        finally:
            w.load -= 1
            self.pending.pop(task, None)


def ai_result_from_multipart(body: bytes, boundary: str) -> bytes:
    """Reassemble the runner's JSON from an /aiResults body: each image filename back to a PNG
    data URL (the gateway's clients get data URLs, as from a local runner)."""
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
        if headers.get("content-type", "").startswith("application/json"):
            doc = json.loads(data)
        else:
            name = headers.get("content-disposition", "").partition("filename=")[2].strip('"')
            files[name] = data
    if doc is None:
        raise ValueError("no JSON part in the AI worker's result")
    for image in doc.get("images", []):
        if image.get("url") in files:
            image["url"] = "data:image/png;base64," + base64.b64encode(files[image["url"]]).decode()
    return json.dumps(doc).encode()


async def run_ai_worker(orch_addr: str, secret: str, runner_url: str, pipeline: str, model_id: str) -> None:
    """The remote AI worker's side (`lpnode ai-worker`): register for (pipeline, model), run each
    job on the runner at `runner_url`, post the result as go's worker does."""
    import base64
    import json
    import uuid

    import grpc
    import httpx

    from node.core.capabilities import ai_job_capabilities, pipeline_capability
    from node.net import wire
    from node.net.proto import lp_rpc_pb2_grpc as pb_grpc

    target = orch_addr.split("://", 1)[-1]
    base = orch_addr if "://" in orch_addr else f"http://{orch_addr}"
    caps = wire.capabilities_to_proto(ai_job_capabilities(int(pipeline_capability(pipeline)), model_id,
                                                          warm=True, with_defaults=True))
    async with grpc.aio.insecure_channel(target) as channel, httpx.AsyncClient(timeout=15 * 60) as http:
        stream = pb_grpc.AIWorkerStub(channel).RegisterAIWorker(
            pb.RegisterAIWorkerRequest(secret=secret, capabilities=caps))

        async def handle(notify: pb.NotifyAIJob) -> None:
            job = notify.AIJobData
            headers = {"Authorization": AI_AUTH_TYPE, "Credentials": secret, "TaskId": str(notify.taskId),
                       "Pipeline": job.pipeline}
            try:
                request = json.loads(job.requestData)["request"]
                reply = await http.post(f"{runner_url}/{job.pipeline}", json=request)
                if reply.status_code != 200:
                    raise RuntimeError(f"runner returned {reply.status_code}: {reply.text[:200]}")
                doc = reply.json()
            except Exception as exc:  # noqa: BLE001 - the error goes back to the orchestrator
                await http.post(f"{base}/aiResults", content=str(exc).encode(),
                                headers={**headers, "Content-Type": AI_ERROR_MIME})
                return
            boundary, parts = uuid.uuid4().hex, []
            for image in doc.get("images", []):
                url = image.get("url", "")
                if url.startswith("data:"):
                    name = f"{uuid.uuid4().hex[:8]}.png"
                    png = base64.b64decode(url.split(",", 1)[1])
                    image["url"] = name
                    parts.append(f"--{boundary}\r\nContent-Type: image/png\r\nContent-Length: {len(png)}\r\n"
                                 f"Content-Disposition: attachment; filename={name}\r\n\r\n".encode() + png + b"\r\n")
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
