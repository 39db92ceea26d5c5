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


@dataclass(eq=False)
class RemoteTranscoder:
    address: str
    capacity: int
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    load: int = 0


class RemoteTranscoders:
    def __init__(self, secret: str, service_uri: str) -> None:
        self.secret, self.service_uri = secret, service_uri
        self.transcoders: list[RemoteTranscoder] = []
        self.pending: dict[int, asyncio.Future] = {}
        self.segments: dict[int, bytes] = {}  # task id -> segment bytes the transcoder downloads
        self._tasks = itertools.count(1)

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
        task = next(self._tasks)
        self.segments[task] = data
        future = asyncio.get_running_loop().create_future()
        self.pending[task] = future
        t.load += 1
        try:
            t.queue.put_nowait(pb.NotifySegment(url=f"{self.service_uri}/segment-data/{task}", segData=seg,
                                                taskId=task, profiles=b"invalid"))
            return await asyncio.wait_for(future, max(8.0, timeout_multiplier * duration))
        finally:
            t.load -= 1
            self.pending.pop(task, None)
            self.segments.pop(task, None)

    def result(self, task: int, renditions: list[tuple[bytes, int]] | None, error: str | None) -> bool:
        future = self.pending.get(task)
        if future is None or future.done():
            return False
        if error is not None:
            future.set_exception(RuntimeError(error))
        else:
            future.set_result(renditions)
        return True


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
