"""The orchestrator's BYOC streams (go-livepeer byoc/stream_orchestrator.go, core/external_capabilities.go
StreamInfo; spec node.md §1.3, §6.3): a gateway starts a stream of a registered capability, the
orchestrator opens its trickle channels under /ai/trickle/ and starts the worker on them, then
bills the stream by the second until it stops or its credit runs out.

- POST /ai/stream/start: the `Livepeer` job header (its id is the stream id) and `Livepeer-Payment`.
  Channels {id}-control and {id}-events always, {id} (input), {id}-out (output) and {id}-data
  (jsonl) as the job's parameters enable video ingress, video egress and data output. The body
  (a JSON object) goes to the worker's POST /stream/start with gateway_request_id and the *_url
  fields added; the answer is 200 with X-Control-Url, X-Events-Url, X-Publish-Url,
  X-Subscribe-Url, X-Data-Url and Livepeer-Balance. 402 when the payment leaves less than a
  minute of credit, 400 for a bad job, the worker's status when it refuses.
- POST /ai/stream/update: the body to the worker's /stream/params (go sends it by HTTP, not on
  the control channel, since base64 payloads broke the control publisher).
- POST /ai/stream/stop: the worker's /stream/stop, then the stream is removed.
- POST /ai/stream/payment: a top-up; answers the balance in Livepeer-Balance.
- The monitor: every 23 s (STREAM_DEBIT_INTERVAL) the stream is debited 23 s of compute; the first
  negative balance is a warning, the next one removes the stream (node.core.byoc.StreamBilling).

Choices beside go's:
- A removed stream (stopped, out of credit, its capability gone) always closes its channels,
  frees its capacity and tells the worker to stop; go's monitor returns without freeing the
  capacity when the credit runs out and keeps billing nothing but the channels open when the
  capability disappears.
- A stream id already running is refused before its channels are touched (go makes the channels
  anew over the running stream's, starts the worker, then answers 500).
- Stop and update are refused (403) for a stream another sender started (go lets any paying
  sender stop or update any stream id).
- Capacity reserved by a start that fails on a bad parameters text is freed (go keeps it).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from dataclasses import dataclass, field

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from node.core import byoc
from node.core.byoc import (
    BALANCE_HEADER,
    ERR_INSUFFICIENT_BALANCE,
    JOB_HEADER,
    PAYMENT_HEADER,
    STREAM_DEBIT_INTERVAL,
    JobError,
    StreamBilling,
)
from node.net.go_http import go_error
from node.net.trickle import TrickleServer

from .byoc import ByocOrchestrator, JobRefused, OrchJob

log = logging.getLogger("lpnode.orchestrator.byoc_stream")

TRICKLE_PATH = "/ai/trickle/"
# suffix -> (mime type, the worker's request field, the gateway's response header)
CONTROL = ("-control", "application/json", "control_url", "X-Control-Url")
EVENTS = ("-events", "application/json", "events_url", "X-Events-Url")
INPUT = ("", "video/MP2T", "subscribe_url", "X-Publish-Url")  # the gateway publishes, the worker reads
OUTPUT = ("-out", "video/MP2T", "publish_url", "X-Subscribe-Url")  # the worker publishes, the gateway reads
DATA = ("-data", "application/jsonl", "data_url", "X-Data-Url")


@dataclass(eq=False)
class ByocStream:
    id: str
    capability: str
    worker_url: str  # the capability's URL when the stream started
    job: OrchJob
    channels: list[str]
    billing: StreamBilling = field(default_factory=StreamBilling)
    monitor: asyncio.Task | None = None
    ended: str = ""  # why it was removed


class ByocStreams:
    """The streams of one orchestrator. `runner_trickle_base` replaces the service URI in the
    channel URLs (go's -liveAITrickleHostForRunner); `debit_interval` is the monitor's period in
    seconds of the running loop and `debit_seconds` what each tick debits (23 and 23 in go: tests
    shorten the first only)."""

    def __init__(self, orch: ByocOrchestrator, trickle: TrickleServer, *, runner_trickle_base: str | None = None,
                 debit_interval: float = STREAM_DEBIT_INTERVAL, debit_seconds: int = STREAM_DEBIT_INTERVAL) -> None:
        self.orch = orch
        self.trickle = trickle
        self.runner_trickle_base = runner_trickle_base
        self.debit_interval = debit_interval
        self.debit_seconds = debit_seconds
        self.streams: dict[str, ByocStream] = {}
        self._background: set[asyncio.Task] = set()  # stops on their way to workers (held till done)

    def channel_url(self, name: str) -> str:
        base = self.runner_trickle_base or self.orch.node.config.service_uri
        return base.rstrip("/") + TRICKLE_PATH + name

    def _free(self, capability: str) -> None:
        self.orch.free(capability)

    # ------------------------------------------------------------------ the worker

    def _worker_headers(self, capability: str, stream_id: str, content_type: str = "") -> dict:
        """go's createWorkerReq: X-Stream-Id for a proxy in front of workers, the bearer token."""
        headers = {"X-Stream-Id": stream_id} if stream_id else {}
        cap = self.orch.capabilities.get(capability)
        if cap is not None and cap.token:
            headers["Authorization"] = "Bearer " + cap.token
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def _to_worker(self, url: str, capability: str, stream_id: str, body: bytes, timeout: float,
                         content_type: str = "") -> httpx.Response:
        """POST to the worker (httpx.HTTPError / TimeoutError when it cannot be reached)."""
        async with asyncio.timeout(timeout):
            return await self.orch.client.post(url, content=body,
                                               headers=self._worker_headers(capability, stream_id, content_type))

    def _worker_answer(self, capability: str, resp: httpx.Response) -> tuple[int, bytes]:
        """go's processWorkerResp: a 401 removes the capability (its worker must register again)
        and is answered 500 "Orchestrator worker failure"."""
        if resp.status_code == 401:
            self.orch.remove(capability, "the worker answered 401")
            return 500, b"Orchestrator worker failure"
        return resp.status_code, resp.content

    # ------------------------------------------------------------------ lifecycle

    def add(self, stream: ByocStream) -> None:
        self.streams[stream.id] = stream
        self.trickle.start()  # the idle sweep, on the serving loop
        stream.monitor = asyncio.get_running_loop().create_task(self._monitor(stream))

    def remove(self, stream_id: str, why: str, *, tell_worker: bool = True) -> ByocStream | None:
        """End a stream: close its channels (readers get EOF), free its capacity, tell its worker."""
        stream = self.streams.pop(stream_id, None)
        if stream is None:
            return None
        stream.ended = why
        log.info("byoc stream %s removed: %s", stream_id, why)
        for name in stream.channels:
            self.trickle.close_channel(name)
        self._free(stream.capability)
        if stream.monitor is not None and stream.monitor is not asyncio.current_task():
            stream.monitor.cancel()
        if tell_worker:
            task = asyncio.get_running_loop().create_task(self._stop_worker(stream, why))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return stream

    async def _stop_worker(self, stream: ByocStream, why: str) -> None:
        with contextlib.suppress(httpx.HTTPError, TimeoutError):
            await self._to_worker(stream.worker_url + "/stream/stop", stream.capability, stream.id, why.encode(),
                                  float(stream.job.job.timeout_seconds))

    async def _monitor(self, stream: ByocStream) -> None:
        """go's monitorOrchStream: debit each interval, remove on the second negative balance."""
        orch, job = self.orch, stream.job
        while stream.id in self.streams:
            await asyncio.sleep(self.debit_interval)
            if stream.id not in self.streams:
                return
            if stream.capability not in orch.capabilities:
                self.remove(stream.id, f"capability {stream.capability} no longer registered")
                return
            if job.price.price <= 0:
                continue
            with orch.node.lock:
                orch.node.receiver.debit_fees(job.sender, stream.capability, job.price.price, self.debit_seconds)
                balance = orch.balance(job.sender, stream.capability)
            verdict = stream.billing.after_debit(balance)
            if verdict is StreamBilling.WARN:
                log.warning("byoc stream %s: insufficient balance %s, will stop next round if not replenished",
                            stream.id, byoc.balance_header(balance))
            elif verdict is StreamBilling.STOP:
                self.remove(stream.id, f"insufficient balance {byoc.balance_header(balance)}")
                return

    async def close_all(self) -> None:
        for stream_id in list(self.streams):
            self.remove(stream_id, "orchestrator shutting down", tell_worker=False)


def byoc_stream_router(streams: ByocStreams) -> APIRouter:
    router = APIRouter()
    orch = streams.orch

    def setup(request: Request, reserve: bool) -> OrchJob:
        return orch.setup_job(request.headers.get(JOB_HEADER, ""), request.headers.get(PAYMENT_HEADER, ""), reserve)

    def balance_headers(job: OrchJob) -> dict:
        return {BALANCE_HEADER: orch.balance_header(job.sender, job.job.capability)}

    def charge(job: OrchJob, seconds: float) -> None:
        orch.charge(job.sender, job.job.capability, job.price, math.ceil(seconds))

    def owner_mismatch(job: OrchJob) -> Response | None:
        stream = streams.streams.get(job.stream_id)
        if stream is not None and stream.job.sender != job.sender:
            return go_error(f"stream {job.stream_id} belongs to another sender", 403)
        return None

    @router.api_route("/ai/stream/start", methods=["POST"])
    async def start(request: Request):
        try:
            job = await asyncio.to_thread(setup, request, True)
        except JobRefused as exc:
            return go_error(str(exc), 402 if str(exc) == ERR_INSUFFICIENT_BALANCE else 400)
        mid, capability = job.job.id, job.job.capability
        worker = orch.capabilities.url(capability)
        created: list[str] = []
        ok = False
        try:
            try:
                params = byoc.parse_job_parameters(job.job.parameters)
            except JobError as exc:
                return go_error(str(exc), 400)
            if mid in streams.streams:
                return go_error("Error adding stream to external capabilities", 500)
            to_worker: dict = {"gateway_request_id": mid}
            headers = {}
            for suffix, mime, field_name, header in (CONTROL, EVENTS) + \
                    ((INPUT,) if params.enable_video_ingress else ()) + \
                    ((OUTPUT,) if params.enable_video_egress else ()) + \
                    ((DATA,) if params.enable_data_output else ()):
                streams.trickle.create_channel(mid + suffix, mime)
                created.append(mid + suffix)
                to_worker[field_name] = headers[header] = streams.channel_url(mid + suffix)
            try:
                body = json.loads(await request.body())
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return go_error("Invalid JSON body", 400)
            to_worker.update(body)  # the gateway's fields win, as go's map merge
            loop = asyncio.get_running_loop()
            began = loop.time()
            try:
                resp = await streams._to_worker(worker + "/stream/start", capability, mid,
                                                json.dumps(to_worker).encode(), float(job.job.timeout_seconds),
                                                request.headers.get("Content-Type", "application/json"))
            except (httpx.HTTPError, TimeoutError) as exc:
                log.warning("byoc stream %s: worker %s unreachable: %r", mid, worker, exc)
                return go_error("Error sending request to worker", 500)
            status, answer = streams._worker_answer(capability, resp)
            charge(job, loop.time() - began)
            if status > 399:
                return Response(answer, status, headers=balance_headers(job))
            streams.add(ByocStream(mid, capability, worker, job, created))
            ok = True
            log.info("byoc stream %s started capability=%s sender=%s channels=%s", mid, capability, job.sender,
                     created)
            return Response(b"", 200, headers={**headers, **balance_headers(job)})
        finally:
            if not ok:
                for name in created:
                    streams.trickle.close_channel(name)
                streams._free(capability)

    @router.api_route("/ai/stream/stop", methods=["POST"])
    async def stop(request: Request):
        try:
            job = await asyncio.to_thread(setup, request, False)
        except JobRefused as exc:
            return go_error(f"Failed to stop stream, request not valid err={exc}", 400)
        if (refused := owner_mismatch(job)) is not None:
            return refused
        body = await request.body()
        capability = job.job.capability
        status, answer = 200, b""  # go: 200 when the worker cannot be reached
        try:
            resp = await streams._to_worker(orch.capabilities.url(capability) + "/stream/stop", capability,
                                            job.stream_id, body, float(job.job.timeout_seconds))
            status, answer = streams._worker_answer(capability, resp)
        except (httpx.HTTPError, TimeoutError) as exc:
            log.info("byoc stream %s: stop not delivered to the worker: %r", job.stream_id, exc)
        streams.remove(job.stream_id, "stopped by the gateway", tell_worker=False)
        return Response(answer, status)

    @router.api_route("/ai/stream/update", methods=["POST"])
    async def update(request: Request):
        try:
            job = await asyncio.to_thread(setup, request, False)
        except JobRefused as exc:
            return go_error(f"Failed to stop stream, request not valid err={exc}", 400)  # go's text
        if (refused := owner_mismatch(job)) is not None:
            return refused
        capability = job.job.capability
        try:
            resp = await streams._to_worker(orch.capabilities.url(capability) + "/stream/params", capability,
                                            job.stream_id, await request.body(), float(job.job.timeout_seconds),
                                            "application/json")
        except (httpx.HTTPError, TimeoutError) as exc:
            log.info("byoc stream %s: update not delivered to the worker: %r", job.stream_id, exc)
            return go_error("Error sending request to worker", 500)
        status, answer = streams._worker_answer(capability, resp)
        return Response(answer, status)

    @router.api_route("/ai/stream/payment", methods=["POST"])
    async def payment(request: Request):
        try:
            job = await asyncio.to_thread(setup, request, False)
        except JobRefused as exc:
            return go_error(f"Failed to process payment, request not valid err={exc}", 400)
        balance = orch.balance(job.sender, job.job.capability)
        return Response(b"", 200, headers={BALANCE_HEADER: str(byoc.token_balance(balance))})

    return router
