"""The gateway's BYOC streams (go-livepeer byoc/stream_gateway.go, byoc/trickle.go; spec node.md
§1.4, §6.3): a client starts a stream of a capability, the gateway runs it on one orchestrator
after another until it stops, pays for it every 50 s, and relays its channels.

    POST /process/stream/start          `Livepeer` job header (timeout_seconds, parameters with
                                        enable_video_ingress / _egress / enable_data_output);
                                        body {"stream_name", "stream_id", "params": "<JSON text>"}
        200 {"stream_id", "update_url", "status_url", "stop_url", "data_url", ...}
    POST /process/stream/{id}/update    `Livepeer` job header; the body goes to the worker's params
    POST /process/stream/{id}/stop      the body is the reason handed to the worker
    GET  /process/stream/{id}/status    the worker's last status event (go's status store)
    GET  /process/stream/{id}/data      the data channel as server-sent events, one per JSON line

For each orchestrator that answered a job token (node.gateway.byoc), in turn: the job is signed,
paid for its whole timeout unless two minutes of credit are in hand (node.core.byoc) and POSTed to
{o}/ai/stream/start; the trickle URLs come back in X-*-Url headers. The gateway then publishes the
control channel (cached params, {"keep":"alive"} every 10 s), reads the events channel (the
live gateway's reader: no event for 30 s loses the orchestrator), reads the data channel into a
ring of 5 lines for /data, and relays input and output. When the orchestrator is lost the stream
is stopped there and moves to the next; too many swaps (node.core.byoc.StreamSwaps), or no
orchestrator left, end it ("All Orchestrators exhausted, restart the stream"). Every 50 s a fresh job token is
fetched and, unless the orchestrator already holds two minutes of credit, a payment for 70 s is
POSTed to {o}/ai/stream/payment.

go ingests video by RTMP/WHIP through MediaMTX; here, as for the live gateway (node.gateway.live),
the client publishes input segments on a trickle channel of the gateway ({id} under TRICKLE_PATH)
and reads output from {id}-out: their URLs are in the start answer's publish_url/subscribe_url.

Choices beside go's:
- An orchestrator that answers the start with an error status is passed over for the next one
  (go goes on with empty channel URLs, fails on them and ends the stream without trying others).
- A stop sends one stop to the orchestrator (go sends up to three: the handler's, the stream
  loop's and the payment loop's).
- A stream name ending in "-out" is a 400 (go answers with a nil error and status 0).
- The /data end event is a well-formed server-sent event (go writes the "\\n"s literally).
- The start answer's URLs use the request's own scheme and host (go: https:// and -gatewayHost).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from node.core import byoc
from node.core.byoc import (
    BALANCE_HEADER,
    CAPABILITY_HEADER,
    ETH_ADDRESS_HEADER,
    GATEWAY_TIMEOUT_MARGIN,
    JOB_HEADER,
    PAYMENT_HEADER,
    STREAM_PAYMENT_INTERVAL,
    STREAM_PAYMENT_SECONDS,
    JobError,
    JobRequest,
    JobToken,
)
from node.net.go_http import go_error
from node.net.trickle import (
    EndOfStream,
    StreamNotFound,
    TrickleError,
    TricklePublisher,
    TrickleServer,
    TrickleSubscriber,
)
from node.net.trickle.local import LocalSubscriber

from .byoc import ByocGateway, NoPayment, parse_job
from .live import LiveStreams
from .trickle_relay import copy_segment, write_segment

log = logging.getLogger("lpnode.gateway.byoc_stream")

TRICKLE_PATH = "/live/byoc-trickle"  # the client's input/output channels (under /live: segment-sized bodies)
MAX_BODY = 10 << 20  # go's MaxBytesReader on start and update bodies
TOKEN_TIMEOUT = 3.0  # s, go's getNewTokenTimeout
STOP_TIMEOUT_SECONDS = 10  # the stop job's timeout_seconds
PAYMENT_HTTP_TIMEOUT = 10.0  # s, POST /ai/stream/payment
CONTROL_KEEPALIVE = 10.0  # s between {"keep":"alive"} control messages
DATA_RING = 5  # data lines kept for /data readers (go's SegmentWriter(5))
KEEPALIVE = b'{"keep":"alive"}'


class DataLines:
    """go's SegmentWriter for the data channel: the last DATA_RING lines; a reader starts at the
    latest line written and follows."""

    def __init__(self, keep: int = DATA_RING) -> None:
        self.lines: deque[bytes] = deque(maxlen=keep)
        self.written = 0
        self.closed = False
        self._changed = asyncio.Event()

    def write(self, line: bytes) -> None:
        self.lines.append(line)
        self.written += 1
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def follow(self):
        pos = max(self.written - 1, 0)
        while True:
            while pos >= self.written and not self.closed:
                await self._changed.wait()
            if pos >= self.written:
                return
            oldest = self.written - len(self.lines)
            pos = max(pos, oldest)  # a slow reader skips what fell out of the ring
            line = self.lines[pos - oldest]
            pos += 1
            yield line


@dataclass(eq=False)
class GatewayStream:
    stream_id: str
    request_id: str
    capability: str
    job: JobRequest  # the client's job, its id set to the stream id
    params: byoc.JobParameters
    start_body: bytes  # {"params": ...}, sent to each orchestrator's /ai/stream/start
    tokens: list[JobToken]
    token: JobToken | None = None  # the orchestrator now running it
    orchestrator: str = ""
    urls: dict = field(default_factory=dict)  # the current orchestrator's X-*-Url headers
    keys: dict = field(default_factory=dict)  # go's status store entry before the first status event
    status: dict | None = None  # the worker's last status event
    events: int = 0
    cached_params: bytes | None = None  # the last update, replayed on the next orchestrator's control
    data: DataLines | None = None
    payments: int = 0
    error: str = ""
    stopping: bool = False  # the client stopped it: no swap from here
    task: asyncio.Task | None = None
    payer: asyncio.Task | None = None
    lost: asyncio.Future | None = None  # resolved with why the current orchestrator was lost

    def status_entry(self) -> dict:
        return self.status if self.status is not None else self.keys


class GatewayStreams:
    """The gateway's BYOC streams. `payment_interval` (50 s) and the live gateway's event gap are
    the periods tests shorten."""

    def __init__(self, bg: ByocGateway, live: LiveStreams, *, payment_interval: float = STREAM_PAYMENT_INTERVAL,
                 randbytes=os.urandom) -> None:
        self.bg = bg
        self.live = live  # its events reader and input copy rules are go's, shared by both
        self.payment_interval = payment_interval
        self.randbytes = randbytes
        self.trickle = TrickleServer()
        self.client = live.client
        self.pipelines: dict[str, GatewayStream] = {}  # running
        self.statuses: dict[str, GatewayStream] = {}  # go's status store: kept after the end
        self._background: set[asyncio.Task] = set()  # stops begun by a relay (held till done)

    # ------------------------------------------------------------------ the job

    def _control_job(self, s: GatewayStream, timeout: int, parameters: str = "") -> JobRequest:
        """The jobs the gateway makes itself for a stream (stop, payment): its stream id as the
        request details, signed."""
        details = json.dumps({"stream_id": s.stream_id}, separators=(",", ":"))
        return self.bg.sign(JobRequest(request=details, parameters=parameters, capability=s.capability,
                                       timeout_seconds=timeout))

    async def token(self, url: str, capability: str) -> JobToken:
        """go's getToken: GET {o}/process/token, 3 attempts (100 ms, 200 ms apart) within 3 s."""
        headers = {ETH_ADDRESS_HEADER: self.bg.job_sender().header(), CAPABILITY_HEADER: capability}
        loop = asyncio.get_running_loop()
        deadline, backoff, last = loop.time() + TOKEN_TIMEOUT, 0.1, "no attempt"
        for attempt in range(3):
            try:
                async with asyncio.timeout(TOKEN_TIMEOUT):
                    resp = await self.bg.client.get(url.rstrip("/") + "/process/token", headers=headers)
                if resp.status_code == 200:
                    return byoc.parse_job_token(resp.content)
                last = f"status {resp.status_code}"
            except (httpx.HTTPError, TimeoutError, JobError) as exc:
                last = repr(exc)
            if attempt < 2 and loop.time() + backoff < deadline:
                await asyncio.sleep(backoff)
                backoff *= 2
            else:
                break
        raise RuntimeError(f"failed to get token from Orchestrator {url}: {last}")

    async def send_job(self, job: JobRequest, token: JobToken, route: str, body: bytes,
                       content_type: str = "application/json") -> httpx.Response:
        """go's sendJobToOrch: the signed job, a payment when the capability has a price,
        timeout_seconds + 5 s. Raises NoPayment (no payment possible) or httpx/Timeout errors."""
        headers = {"Content-Type": content_type, JOB_HEADER: byoc.job_request_header(job)}
        priced = token.price is not None and token.price.price_per_unit > 0
        if priced and (payment := self.bg.payment_header(job, token)):
            headers[PAYMENT_HEADER] = payment
        async with asyncio.timeout(job.timeout_seconds + GATEWAY_TIMEOUT_MARGIN):
            return await self.bg.client.post(token.service_addr + route, content=body, headers=headers)

    # ------------------------------------------------------------------ a stream's life

    def start(self, s: GatewayStream) -> None:
        self.pipelines[s.stream_id] = self.statuses[s.stream_id] = s
        if s.params.enable_video_ingress:
            self.trickle.create_channel(s.stream_id, "video/MP2T")
        if s.params.enable_video_egress:
            self.trickle.create_channel(s.stream_id + "-out", "video/MP2T")
        if s.params.enable_data_output:
            s.data = DataLines()
        loop = asyncio.get_running_loop()
        s.task = loop.create_task(self._run(s))
        s.payer = loop.create_task(self._pay_loop(s))

    def _end(self, s: GatewayStream, error: str = "") -> None:
        if self.pipelines.get(s.stream_id) is not s:
            return
        del self.pipelines[s.stream_id]
        if error:
            s.error = error
            log.warning("byoc stream %s ended: %s", s.stream_id, error)
            # go's kickInput → sendErrorEvent: the error joins the status entry once
            s.status_entry().setdefault("error", {"error_message": error, "error_time": int(time.time() * 1000)})
        for name in (s.stream_id, s.stream_id + "-out"):
            self.trickle.close_channel(name)
        if s.data is not None:
            s.data.close()
        if s.lost is not None and not s.lost.done():
            s.lost.set_result("stream ended")
        if s.payer is not None and s.payer is not asyncio.current_task():
            s.payer.cancel()

    async def stop(self, s: GatewayStream, reason: bytes) -> bytes:
        """The client's stop, in go's order: stop on the orchestrator, then end the stream here;
        the orchestrator's answer."""
        s.stopping = True
        answer = await self._stop_on(s, s.token, reason) if s.token is not None else None
        self._end(s)
        if s.task is not None:
            s.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await s.task
        return answer or b""

    async def _stop_on(self, s: GatewayStream, token: JobToken, reason: bytes) -> bytes | None:
        """go's sendStopStreamToOrch: a fresh token, then the signed stop job (paid if priced)."""
        try:
            fresh = await self.token(token.service_addr, s.capability)
            resp = await self.send_job(self._control_job(s, STOP_TIMEOUT_SECONDS), fresh, "/ai/stream/stop", reason)
        except (RuntimeError, NoPayment, httpx.HTTPError, TimeoutError) as exc:
            log.warning("byoc stream %s: stop not sent to %s: %r", s.stream_id, token.service_addr, exc)
            return None
        if resp.status_code != 200:
            log.warning("byoc stream %s: stop answered %d by %s: %s", s.stream_id, resp.status_code,
                        token.service_addr, resp.text.strip())
            return None
        return resp.content

    async def _run(self, s: GatewayStream) -> None:
        """go's runStream: one orchestrator after another until the stream stops."""
        loop = asyncio.get_running_loop()
        swaps = byoc.StreamSwaps(loop.time())
        error = "All Orchestrators exhausted, restart the stream"
        try:
            for token in s.tokens:
                if swaps.swapping:  # confirm capacity and get new ticket params
                    with contextlib.suppress(RuntimeError):
                        token = await self.token(token.service_addr, s.capability)
                if not await self._start_on(s, token):
                    continue
                s.lost = loop.create_future()
                helpers = self._process(s, token)
                try:
                    why = await s.lost
                finally:
                    for task in helpers:
                        task.cancel()
                    await asyncio.gather(*helpers, return_exceptions=True)
                if s.stopping or s.stream_id not in self.pipelines:
                    return
                s.token = None
                log.warning("byoc stream %s lost %s: %s", s.stream_id, token.service_addr, why)
                await self._stop_on(s, token, why.encode())
                if swaps.lost(loop.time()):
                    error = "Orchestrator swaps happening too quickly, stopping stream"
                    break
            if s.stream_id in self.pipelines and s.params.enable_video_ingress:
                error = "no orchestrators available, ending stream"  # go's kickInput error
        finally:
            if not s.stopping and s.stream_id in self.pipelines:
                self._end(s, error)

    async def _start_on(self, s: GatewayStream, token: JobToken) -> bool:
        job = self.bg.sign(s.job)
        try:
            resp = await self.send_job(job, token, "/ai/stream/start", s.start_body)
        except (NoPayment, httpx.HTTPError, TimeoutError) as exc:
            log.warning("byoc stream %s not started on %s: %r", s.stream_id, token.service_addr, exc)
            return False
        if resp.status_code != 200:
            log.warning("byoc stream %s not started on %s: %d %s", s.stream_id, token.service_addr,
                        resp.status_code, resp.text.strip())
            return False
        base = token.service_addr.rstrip("/") + "/"
        s.urls = {h: urljoin(base, resp.headers[h]) for h in ("X-Publish-Url", "X-Subscribe-Url", "X-Control-Url",
                                                               "X-Events-Url", "X-Data-Url") if resp.headers.get(h)}
        s.token, s.orchestrator = token, token.service_addr
        s.keys["orchestrator"] = token.service_addr
        log.info("byoc stream %s started on %s balance=%s", s.stream_id, token.service_addr,
                 resp.headers.get(BALANCE_HEADER, ""))
        return True

    def _process(self, s: GatewayStream, token: JobToken) -> list[asyncio.Task]:
        """go's startStreamProcessing: the channels' relays; each may lose the orchestrator."""
        loop = asyncio.get_running_loop()
        lost = s.lost

        def losing(why: str) -> None:
            if not lost.done():
                lost.set_result(why)

        jobs = []
        if "X-Publish-Url" in s.urls and s.params.enable_video_ingress:
            jobs.append(self._relay_input(s, s.urls["X-Publish-Url"], losing))
        if "X-Subscribe-Url" in s.urls and s.params.enable_video_egress:
            jobs.append(self._relay_output(s, s.urls["X-Subscribe-Url"], losing))
        if "X-Data-Url" in s.urls and s.data is not None:
            jobs.append(self._read_data(s, s.urls["X-Data-Url"], losing))
        if "X-Control-Url" not in s.urls or "X-Events-Url" not in s.urls:
            losing("invalid url from orch")
        else:
            jobs.append(self._publish_control(s, s.urls["X-Control-Url"], losing))
            jobs.append(self.live.read_events(s, None, s.urls["X-Events-Url"], losing))
        return [loop.create_task(j) for j in jobs]

    async def _publish_control(self, s: GatewayStream, url: str, losing) -> None:
        pub = TricklePublisher(url, "application/json", client=self.client)
        try:
            if s.cached_params is not None:
                await pub.write(s.cached_params)
            while True:
                await asyncio.sleep(CONTROL_KEEPALIVE)
                try:
                    await pub.write(KEEPALIVE)
                except StreamNotFound:
                    losing("control channel does not exist")
                    return
                except TrickleError as exc:  # go retries on the next tick
                    log.info("byoc stream %s: control keepalive failed: %s", s.stream_id, exc)
        except TrickleError as exc:
            losing(f"control write failed: {exc}")
        finally:
            with contextlib.suppress(Exception):
                await pub.close()

    async def _read_data(self, s: GatewayStream, url: str, losing) -> None:
        """go's startDataSubscribe: each line of each data segment into the ring for /data."""
        sub = TrickleSubscriber(url, start_seq=0, client=self.client)
        try:
            async for seg in sub:
                for line in (await seg.read()).splitlines():
                    if line:
                        s.data.write(line)
            losing("data subscribe stopping, stream not found, err=End of stream")
        except (StreamNotFound, EndOfStream) as exc:
            losing(f"data subscribe stopping, stream not found, err={exc}")
        except TrickleError as exc:
            losing(f"data subscribe stopping, retries exceeded: {exc}")
        finally:
            await sub.close()

    async def _relay_input(self, s: GatewayStream, url: str, losing) -> None:
        """The client's input segments to the orchestrator, with the live gateway's copy rules."""
        channel = self.trickle.channels.get(s.stream_id)
        if channel is None:
            return
        pub = TricklePublisher(url, "video/MP2T", client=self.client)
        local = LocalSubscriber(self.trickle, s.stream_id)
        copies: set[asyncio.Task] = set()
        try:
            while True:
                try:
                    seg = await local.next_data()
                except (StreamNotFound, EndOfStream):
                    # the client's input ended, and so does the stream (go's WHIP/RTMP ingest closing)
                    if not s.stopping:
                        task = asyncio.get_running_loop().create_task(self.stop(s, b"input ended"))
                        self._background.add(task)
                        task.add_done_callback(self._background.discard)
                    return
                if seg is None:
                    continue
                task = asyncio.ensure_future(copy_segment(seg, pub.next(),
                                                               lambda n=seg.seq: channel.next_write > n + 1))
                copies.add(task)

                def done(t: asyncio.Task) -> None:
                    copies.discard(t)
                    if not t.cancelled() and isinstance(t.exception(), StreamNotFound):
                        losing("stream no longer exists on orchestrator; terminating")
                task.add_done_callback(done)
        finally:
            for task in list(copies):
                task.cancel()
            with contextlib.suppress(Exception):
                await pub.close()

    async def _relay_output(self, s: GatewayStream, url: str, losing) -> None:
        """The orchestrator's output segments into the client's {id}-out channel."""
        sub = TrickleSubscriber(url, start_seq=0, client=self.client)
        try:
            async for reader in sub:
                ch = self.trickle.channels.get(s.stream_id + "-out")
                if ch is None:
                    return
                await write_segment(ch, reader)
            losing("trickle subscribe stopping, stream not found, err=End of stream")
        except TrickleError as exc:
            losing(f"trickle subscribe stopping, stream not found, err={exc}")
        finally:
            await sub.close()

    async def _pay_loop(self, s: GatewayStream) -> None:
        """go's monitorStream: every payment interval, a fresh token and (when the orchestrator
        holds less than two minutes of credit) a payment for 70 s."""
        while s.stream_id in self.pipelines:
            await asyncio.sleep(self.payment_interval)
            token = s.token
            if token is None or s.stream_id not in self.pipelines:
                continue
            try:
                fresh = await self.token(token.service_addr, s.capability)
                if s.token is token:
                    s.token = fresh
                if fresh.price is None or fresh.price.price_per_unit <= 0:
                    continue
                job = self._control_job(s, STREAM_PAYMENT_SECONDS, "{}")
                header = self.bg.payment_header(job, fresh)
                if not header:
                    continue
                async with asyncio.timeout(PAYMENT_HTTP_TIMEOUT):
                    resp = await self.bg.client.post(
                        fresh.service_addr + "/ai/stream/payment",
                        headers={"Content-Type": "application/json", JOB_HEADER: byoc.job_request_header(job),
                                 PAYMENT_HEADER: header})
                if resp.status_code != 200:
                    raise RuntimeError(f"unexpected status code {resp.status_code}: {resp.text.strip()}")
                s.payments += 1
            except (RuntimeError, NoPayment, httpx.HTTPError, TimeoutError) as exc:
                log.warning("byoc stream %s: payment to %s failed: %r", s.stream_id, token.service_addr, exc)

    async def close(self) -> None:
        for s in list(self.pipelines.values()):
            self._end(s, "gateway shutting down")
            for task in (s.task, s.payer):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        await self.trickle.stop()


async def _body(request: Request) -> bytes:
    """The request body, at most MAX_BODY bytes (ValueError beyond)."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY:
            raise ValueError(f"request body too large (max {MAX_BODY} bytes)")
    return bytes(data)


def byoc_stream_router(streams: GatewayStreams) -> APIRouter:
    r = APIRouter()

    @r.post("/process/stream/start")
    async def start(request: Request):
        try:
            job, params = parse_job(request.headers.get(JOB_HEADER, ""))
        except JobError as exc:
            return go_error(str(exc), 400)
        tokens = await streams.bg.tokens(job.capability, params)
        if not tokens:
            return go_error(f"No orchestrators found for capability {job.capability}", 400)
        try:
            body = await _body(request)
        except ValueError as exc:
            return go_error(str(exc), 413)
        try:
            req = json.loads(body)
        except ValueError as exc:
            return go_error(f"invalid JSON request body: {exc}", 400)
        fields = [req.get(k) or "" for k in ("stream_name", "stream_id", "params")] if isinstance(req, dict) else []
        if not fields or not all(isinstance(v, str) for v in fields):
            return go_error("invalid JSON request body: expected an object with string stream_name, stream_id "
                            "and params", 400)
        name, stream_id, raw = fields
        if name.endswith("-out"):
            return go_error(f"stream {name}: names ending in -out are outputs", 400)
        pipeline_params = None
        if raw:
            try:
                pipeline_params = json.loads(raw)
            except ValueError:
                pipeline_params = None
            if not isinstance(pipeline_params, dict):
                return go_error("invalid model params", 400)
        stream_id = stream_id or streams.randbytes(4).hex()
        if name:
            stream_id = f"{name}-{stream_id}"
        if stream_id in streams.pipelines:
            return go_error(f"stream already exists: {stream_id}", 400)
        s = GatewayStream(stream_id, streams.randbytes(4).hex(), job.capability,
                          JobRequest(**{**{k: getattr(job, k) for k in job.__dataclass_fields__}, "id": stream_id}),
                          params, json.dumps({"params": pipeline_params}).encode(), tokens)
        streams.start(s)
        base = str(request.base_url).rstrip("/")
        urls = {"stream_id": stream_id, "whip_url": "", "whep_url": "", "rtmp_url": "", "rtmp_output_url": "",
                "update_url": f"{base}/process/stream/{stream_id}/update",
                "status_url": f"{base}/process/stream/{stream_id}/status",
                "data_url": f"{base}/process/stream/{stream_id}/data" if params.enable_data_output else "",
                "stop_url": f"{base}/process/stream/{stream_id}/stop"}
        if params.enable_video_ingress:
            urls["publish_url"] = f"{base}{TRICKLE_PATH}/{stream_id}"
        if params.enable_video_egress:
            urls["subscribe_url"] = f"{base}{TRICKLE_PATH}/{stream_id}-out"
        return JSONResponse(urls)

    @r.post("/process/stream/{stream_id}/update")
    async def update(stream_id: str, request: Request):
        s = streams.pipelines.get(stream_id)
        if s is None:
            return go_error("Stream not found", 404)
        try:
            job, _ = parse_job(request.headers.get(JOB_HEADER, ""))
        except JobError as exc:
            return go_error(str(exc), 400)
        if s.token is None:
            return go_error("stream has no orchestrator now", 503)
        try:
            token = await streams.token(s.token.service_addr, job.capability)
        except RuntimeError as exc:
            return go_error(str(exc), 400)
        try:
            data = await _body(request)
        except ValueError as exc:
            return go_error(str(exc), 413)
        s.cached_params = data
        try:
            resp = await streams.send_job(streams.bg.sign(job), token, "/ai/stream/update", data,
                                          request.headers.get("Content-Type", ""))
        except NoPayment as exc:
            return go_error(f"Unable to create payment err={exc}", 500)
        except (httpx.HTTPError, TimeoutError) as exc:
            return go_error(repr(exc), 400)
        return Response(resp.content, resp.status_code, media_type=resp.headers.get("content-type"))

    @r.post("/process/stream/{stream_id}/stop")
    async def stop(stream_id: str, request: Request):
        s = streams.pipelines.get(stream_id)
        if s is None:
            return go_error("Stream not found", 404)
        answer = await streams.stop(s, await request.body())
        return Response(answer, 200)

    @r.get("/process/stream/{stream_id}/status")
    async def status(stream_id: str):
        s = streams.statuses.get(stream_id)
        if s is None:
            return go_error("Stream not found", 404)
        return JSONResponse(s.status_entry())

    @r.get("/process/stream/{stream_id}/data")
    async def data(stream_id: str):
        s = streams.pipelines.get(stream_id)
        if s is None:
            return go_error("Stream not found", 404)
        if s.data is None:
            return go_error("Stream data not available", 503)

        async def events():
            async for line in s.data.follow():
                yield b"data: " + line + b"\n\n"
            yield b'event: end\ndata: {"type":"stream_ended"}\n\n'

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "Connection": "keep-alive"})

    return r
