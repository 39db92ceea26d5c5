"""Streaming BYOC capabilities: the worker side of go-livepeer's /ai/stream/* (byoc/stream_*.go),
on trickle channels the orchestrator owns.

    class Sepia(StreamingCapability):
        name = "sepia-stream"

        async def run_stream(self, stream: Stream) -> None:
            async for segment in stream.inputs():            # whole input segments (bytes)
                out = apply_sepia(segment)
                await stream.publish(out)                    # one output segment
                await stream.send_data({"bytes": len(out)})  # one JSON line on the data channel

The orchestrator calls the worker's HTTP routes (node.worker.byoc.app mounts them ahead of the
batch route); each carries `X-Stream-Id` and, when the capability registered a token,
`Authorization: Bearer <token>`:

    POST /stream/start   {"gateway_request_id", "control_url", "events_url", and per the job's
                          parameters "subscribe_url" (input), "publish_url" (output), "data_url"
                          (jsonl), plus the gateway's body, e.g. "params": {...}}
                          200 {"status": "success", "request_id"}; 400 a bad body; 503 when
                          `max_streams` streams run already (pytrickle's "Pipeline is still in use")
    POST /stream/params  a JSON object of params for the running stream (go's /ai/stream/update)
    POST /stream/stop    ends the stream (the body is the gateway's reason, any text)
    GET  /stream/status  the running streams

While a stream runs the kit reads its control channel (each segment a JSON object of params,
go's {"keep": "alive"} ignored) into `update_params`, and writes a status event to its events
channel every `status_interval` seconds: go's gateway ends a stream whose events stop for 30 s,
and answers its /status with the last one. Events are ai-runner's segments, {"event": {...},
"queue_event_type": ...}. The stream ends when `run_stream` returns or raises (an error event),
when /stream/stop comes, or when the orchestrator closes the control channel; its output
channels are closed then, so downstream readers see the end.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from node.net.trickle import (
    TrickleError,
    TricklePublisher,
    TrickleSubscriber,
    make_client,
)
from node.worker.live.app import KEEPALIVE, event_segment

from .capability import Capability

log = logging.getLogger("lpnode.byoc_worker.stream")

STATUS_INTERVAL = 10.0  # s between status events (pytrickle's heartbeat, ai-runner's status cadence)
MAX_CONTROL_BYTES = 64 * 1024  # a bigger control message is reported, not parsed
URL_FIELDS = ("subscribe_url", "publish_url", "control_url", "events_url", "data_url")


@dataclass
class StreamStats:
    segments_in: int = 0
    segments_out: int = 0
    data_lines: int = 0
    param_updates: int = 0


@dataclass(eq=False)
class Stream:
    """One running stream as `run_stream` sees it: its id (the gateway's stream id), its params
    (updated in place by `update_params`' default), and the channels the job asked for."""

    id: str
    params: dict
    request: dict  # the whole /stream/start body
    stats: StreamStats = field(default_factory=StreamStats)
    _pubs: dict = field(default_factory=dict)
    _subs: list = field(default_factory=list)
    _client: Any = None

    def url(self, name: str) -> str:
        return self.request.get(name) or ""

    def _publisher(self, name: str, mime: str) -> TricklePublisher:
        if not self.url(name):
            raise RuntimeError(f"this stream has no {name} (the job did not enable that channel)")
        if name not in self._pubs:
            self._pubs[name] = TricklePublisher(self.url(name), mime, client=self._client)
        return self._pubs[name]

    async def inputs(self) -> AsyncIterator[bytes]:
        """The input channel's segments, whole, until it ends (none without video ingress)."""
        if not self.url("subscribe_url"):
            return
        sub = TrickleSubscriber(self.url("subscribe_url"), start_seq=0, client=self._client)
        self._subs.append(sub)
        async for segment in sub:
            data = await segment.read()
            self.stats.segments_in += 1
            yield data

    async def publish(self, data: bytes, mime: str = "video/MP2T") -> None:
        """One segment on the output channel (video egress)."""
        await self._publisher("publish_url", mime).write(data)
        self.stats.segments_out += 1

    async def send_data(self, *items: Any) -> None:
        """One data-channel segment holding each item as a JSON line (go relays each line to the
        gateway's /data subscribers as one server-sent event)."""
        lines = "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in items)
        await self._publisher("data_url", "application/jsonl").write(lines.encode())
        self.stats.data_lines += len(items)

    async def emit(self, event: dict, queue_event_type: str = "ai_stream_events") -> None:
        """One event on the events channel."""
        if self.url("events_url"):
            await self._publisher("events_url", "application/json").write(event_segment(event, queue_event_type))

    def status(self) -> dict:
        return {"type": "status", "stream_id": self.id, "state": "ONLINE", "params": self.params,
                "segments_in": self.stats.segments_in, "segments_out": self.stats.segments_out,
                "data_lines": self.stats.data_lines, "param_updates": self.stats.param_updates}

    async def _close(self) -> None:
        for sub in self._subs:
            await sub.close()
        for pub in self._pubs.values():
            await pub.close()


class StreamingCapability(Capability):
    """A capability that also serves streams: override `run_stream` (and `update_params` to react
    to new params in another way than updating `stream.params`)."""

    max_streams = 1  # streams at once (ai-runner and pytrickle run one)
    status_interval = STATUS_INTERVAL

    async def run_stream(self, stream: Stream) -> None:
        raise NotImplementedError

    async def update_params(self, stream: Stream, params: dict) -> None:
        stream.params.update(params)


class StreamStartError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Streams:
    """The worker's running streams: start, params, stop, each stream's control and status tasks."""

    def __init__(self, capability: StreamingCapability) -> None:
        self.capability = capability
        self.running: dict[str, tuple[Stream, list[asyncio.Task]]] = {}
        self.client = None
        self._background: set[asyncio.Task] = set()  # stops begun by a stream's own tasks

    async def start(self, body: dict) -> Stream:
        request_id = body.get("gateway_request_id")
        if not isinstance(request_id, str) or not request_id:
            raise StreamStartError("gateway_request_id is required", 400)
        if not isinstance(body.get("params") or {}, dict):
            raise StreamStartError("params must be an object", 400)
        for name in URL_FIELDS:
            if not isinstance(body.get(name) or "", str):
                raise StreamStartError(f"{name} must be a string", 400)
        if request_id in self.running:
            await self.stop(request_id, "replaced by a new start")
        if len(self.running) >= self.capability.max_streams:
            raise StreamStartError("Pipeline is still in use", 503)
        if self.client is None:
            self.client = make_client(verify=False)  # the orchestrator's certificate is self-signed
        stream = Stream(request_id, dict(body.get("params") or {}), body, _client=self.client)
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self._run(stream)), loop.create_task(self._heartbeat(stream))]
        if stream.url("control_url"):
            tasks.append(loop.create_task(self._control(stream)))
        self.running[request_id] = (stream, tasks)
        return stream

    async def update(self, stream_id: str, params: dict) -> Stream:
        stream = self._one(stream_id)
        await self.capability.update_params(stream, params)
        stream.stats.param_updates += 1
        with contextlib.suppress(TrickleError):
            await stream.emit({"type": "params_updated", "stream_id": stream.id, "params": params})
        return stream

    def _one(self, stream_id: str) -> Stream:
        """The stream named by X-Stream-Id, or the only one running; KeyError when none."""
        if stream_id:
            return self.running[stream_id][0]
        if len(self.running) == 1:
            return next(iter(self.running.values()))[0]
        raise KeyError(stream_id)

    async def stop(self, stream_id: str, reason: str = "") -> Stream:
        stream = self._one(stream_id)
        stream, tasks = self.running.pop(stream.id)
        log.info("stream %s stopping: %s", stream.id, reason or "stop requested")
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        await asyncio.gather(*(t for t in tasks if t is not current), return_exceptions=True)
        with contextlib.suppress(TrickleError):
            await stream.emit({"type": "stream_stopped", "stream_id": stream.id, "reason": reason})
        await stream._close()
        return stream

    async def stop_all(self) -> None:
        for stream_id in list(self.running):
            await self.stop(stream_id, "worker shutting down")
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def _ended(self, stream: Stream, reason: str) -> None:
        if stream.id in self.running and self.running[stream.id][0] is stream:
            task = asyncio.get_running_loop().create_task(self.stop(stream.id, reason))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _run(self, stream: Stream) -> None:
        try:
            await self.capability.run_stream(stream)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("stream %s failed", stream.id)
            with contextlib.suppress(TrickleError):
                await stream.emit({"type": "error", "stream_id": stream.id, "message": str(exc)})
            self._ended(stream, f"error: {exc}")
            return
        self._ended(stream, "run_stream returned")

    async def _heartbeat(self, stream: Stream) -> None:
        while True:
            try:
                await stream.emit(stream.status(), "ai_stream_status")
            except TrickleError as exc:
                log.info("stream %s: status event not written: %s", stream.id, exc)
            await asyncio.sleep(self.capability.status_interval)

    async def _control(self, stream: Stream) -> None:
        """Params from the control channel; its end (the orchestrator closed the stream) ends it."""
        sub = TrickleSubscriber(stream.url("control_url"), start_seq=0, client=self.client)
        stream._subs.append(sub)
        try:
            async for segment in sub:
                data = await segment.read(MAX_CONTROL_BYTES)  # an oversize one is never held in full
                params, problem = None, f"control message over {MAX_CONTROL_BYTES} bytes refused"
                if data is not None:
                    try:
                        params = json.loads(data)
                    except ValueError as exc:
                        problem = f"control message is not JSON: {exc}"
                    else:
                        problem = "control message is not a JSON object"
                if not isinstance(params, dict):
                    with contextlib.suppress(TrickleError):
                        await stream.emit({"type": "error", "stream_id": stream.id, "message": problem})
                    continue
                if params != KEEPALIVE:
                    await self.update(stream.id, params)
        except TrickleError as exc:
            log.info("stream %s control channel: %s", stream.id, exc)
        self._ended(stream, "control channel closed")


def stream_router(streams: Streams, authorized) -> APIRouter:
    """The /stream/* routes; `authorized(request)` checks the bearer token."""
    r = APIRouter()

    def refused() -> JSONResponse:
        return JSONResponse({"error": "invalid token"}, status_code=401)

    async def json_object(request: Request) -> dict:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError as exc:
            raise StreamStartError(f"invalid JSON: {exc}", 400) from None
        if not isinstance(body, dict):
            raise StreamStartError("body must be a JSON object", 400)
        return body

    @r.post("/stream/start")
    async def start(request: Request):
        if not authorized(request):
            return refused()
        try:
            stream = await streams.start(await json_object(request))
        except StreamStartError as exc:
            return JSONResponse({"status": "error", "message": str(exc)}, status_code=exc.status)
        return JSONResponse({"status": "success", "message": "Stream started successfully", "request_id": stream.id})

    @r.post("/stream/params")
    async def params(request: Request):
        if not authorized(request):
            return refused()
        try:
            stream = await streams.update(request.headers.get("x-stream-id", ""), await json_object(request))
        except StreamStartError as exc:
            return JSONResponse({"status": "error", "message": str(exc)}, status_code=exc.status)
        except KeyError:
            return JSONResponse({"status": "error", "message": "No active stream to update"}, status_code=400)
        return JSONResponse({"status": "success", "message": "Parameters updated successfully",
                             "params": stream.params})

    @r.post("/stream/stop")
    async def stop(request: Request):
        if not authorized(request):
            return refused()
        reason = (await request.body()).decode("utf-8", "replace")[:1000]
        try:
            await streams.stop(request.headers.get("x-stream-id", ""), reason)
        except KeyError:
            return JSONResponse({"status": "error", "message": "No active stream to stop"}, status_code=400)
        return JSONResponse({"status": "success", "message": "Stream stopped successfully"})

    @r.get("/stream/status")
    async def status():
        return JSONResponse({"streams": [s.status() for s, _ in streams.running.values()]})

    return r
