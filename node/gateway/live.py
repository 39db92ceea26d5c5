"""The gateway's live video-to-video streams (go-livepeer server/ai_mediaserver.go, ai_live_video.go,
live_payment.go): /live/video-to-video/{stream}/start, /update and /status.

Ingest and egress are trickle channels on the gateway itself, mounted at /live/trickle/: the client
publishes MPEG-TS segments to `{stream}` and reads the output from `{stream}-out`. go ingests with
RTMP/WHIP through MediaMTX and re-segments into the same MPEG-TS trickle segments it sends to the
orchestrator; taking those segments directly is the closest transport that needs no media server.

Per orchestrator: the start call pays 60 s up front (5 s timeout), input segments are relayed to its
publish_url (each one drives the live payment processor: POST {o}/payment every interval), its
output channel is relayed back. When it is lost the stream swaps to another one, and stops on the
third swap within 3 minutes; one with 3 input segments in flight is suspended (penalty 5).

The orchestrator's events channel is read as go's startEventsSubscribe does: each event is tagged
with the stream and orchestrator, logged and counted; the latest `status` event (its once-sent
last_params / last_restart_logs carried over) is what /status serves, with the gateway's own view
under `gateway_status`; no event for 30 s loses the orchestrator (go's event heartbeat).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from fractions import Fraction

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from node.core.ai_sessions import AISessionSelector
from node.core.capabilities import Capability, ai_job_capabilities
from node.core.errors import PaymentError
from node.core.keccak import keccak
from node.core.live_payment import (
    LIVE_INITIAL_UNITS,
    LIVE_PAYMENT_INTERVAL,
    LIVE_PAYMENT_TIMEOUT,
    LIVE_SLOW_PENALTY,
    LIVE_START_TIMEOUT,
    LivePaymentProcessor,
    record_swap,
    too_slow,
)
from node.metrics import NodeMetrics
from node.net import wire
from node.net.headers import SegMetadata
from node.net.trickle import (
    TricklePublisher,
    TrickleServer,
    TrickleSubscriber,
    make_client,
)
from node.net.trickle.errors import EndOfStream, StreamNotFound, TrickleError
from node.net.trickle.local import LocalSubscriber

from .trickle_relay import copy_segment, write_segment

log = logging.getLogger("lpnode.gateway.live")

PIPELINE = "live-video-to-video"
TRICKLE_PATH = "/live/trickle"
MAX_UPDATE_BYTES = 100 * 1024  # go's cap on an /update body
EVENT_CHECK_INTERVAL = 10.0  # go: the events heartbeat is checked this often (s) ...
MAX_EVENT_GAP = 30.0  # ... and a gap this long loses the orchestrator
MAX_EVENT_BYTES = 1024 * 1024  # a bigger events segment is skipped, not parsed


@dataclass(eq=False)
class LiveStream:
    stream_id: str
    model_id: str
    params: dict
    orchestrator: str = ""  # the current one's URI
    manifest_id: str = ""  # its session id
    control_url: str = ""
    swaps: list[float] = field(default_factory=list)
    payments: int = 0
    error: str = ""
    task: asyncio.Task | None = None
    status: dict | None = None  # the runner's latest status event (go's StreamStatusStore)
    events: int = 0
    segments_in: int = 0  # input segments sent to orchestrators
    segments_out: int = 0  # output segments relayed back
    first_in_at: float | None = None  # loop time the current orchestrator got its first input segment

    def gateway_status(self) -> dict:
        return {"stream_id": self.stream_id, "orchestrator": self.orchestrator, "manifest_id": self.manifest_id,
                "swaps": len(self.swaps), "payments": self.payments, "error": self.error,
                "running": self.task is not None and not self.task.done(),
                "events": self.events, "segments_in": self.segments_in, "segments_out": self.segments_out}


class OrchestratorLost(Exception):
    """The current orchestrator's part of the stream ended (swap to another)."""


class LiveStreams:
    def __init__(self, gateway, *, payment_interval: float | None = None) -> None:
        self.gateway = gateway
        # go's -livePaymentInterval: the gateway node's unless given
        self.payment_interval = payment_interval or (gateway.live_payment_interval if gateway is not None
                                                     else LIVE_PAYMENT_INTERVAL)
        self.trickle = TrickleServer()
        self.streams: dict[str, LiveStream] = {}
        self.client = make_client(verify=False)  # trickle with go's InsecureSkipVerify
        self._payments: set[asyncio.Task] = set()  # in flight (held so none is collected early)
        self.metrics = getattr(gateway, "metrics", None) or NodeMetrics("gateway", "gateway")

    # ------------------------------------------------------------------ routes

    def router(self) -> APIRouter:
        r = APIRouter()

        @r.post("/live/video-to-video/{stream}/start")
        async def start(stream: str, request: Request):
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return PlainTextResponse("invalid JSON body", status_code=400)
            if not isinstance(body, dict) or not isinstance(body.get("params", {}), dict) \
                    or not isinstance(body.get("model_id", ""), str):
                return PlainTextResponse("expected {\"model_id\": str, \"params\": object}", status_code=400)
            if stream in self.streams:
                return PlainTextResponse(f"stream {stream} already exists", status_code=409)
            s = self.start(stream, body.get("model_id", ""), body.get("params", {}))
            base = str(request.base_url).rstrip("/") + TRICKLE_PATH
            return JSONResponse({"stream_id": s.stream_id, "publish_url": f"{base}/{stream}",
                                 "subscribe_url": f"{base}/{stream}-out"})

        @r.post("/live/video-to-video/{stream}/update")
        async def update(stream: str, request: Request):
            body = await request.body()
            if len(body) > MAX_UPDATE_BYTES:
                return PlainTextResponse("request body too large", status_code=413)
            s = self.streams.get(stream)
            if s is None or not s.control_url:
                return PlainTextResponse("Stream not found", status_code=404)
            try:
                await TricklePublisher(s.control_url, "application/json", start_seq=-1, client=self.client).write(body)
            except TrickleError as exc:
                return PlainTextResponse(f"control channel: {exc}", status_code=500)
            return PlainTextResponse("")

        @r.get("/live/video-to-video/{stream}/status")
        async def status(stream: str):
            s = self.streams.get(stream)
            if s is None:
                return PlainTextResponse("Stream not found", status_code=404)
            # go: the runner's latest status event, with the gateway's own view under gateway_status
            return JSONResponse({**(s.status or {}), "gateway_status": s.gateway_status()})
        return r

    def start(self, stream_id: str, model_id: str, params: dict) -> LiveStream:
        self.trickle.create_channel(stream_id, "video/MP2T")
        self.trickle.create_channel(f"{stream_id}-out", "video/MP2T")
        s = self.streams[stream_id] = LiveStream(stream_id, model_id, params)
        s.task = asyncio.get_running_loop().create_task(self._run(s))
        self.metrics.ai_live_attempts.labels(self.gateway._model_label(model_id)).inc()
        self._count_running()
        s.task.add_done_callback(lambda _: self._count_running())
        return s

    def _count_running(self) -> None:
        running = sum(1 for s in self.streams.values() if s.task is not None and not s.task.done())
        self.metrics.ai_current_live_pipelines.labels(PIPELINE).set(running)

    async def close(self) -> None:
        for s in list(self.streams.values()):
            if s.task:
                s.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await s.task
        await self.client.aclose()

    # ------------------------------------------------------------------ one stream

    def _selector(self, model_id: str) -> AISessionSelector:
        gw = self.gateway
        key = (PIPELINE, model_id)
        if key not in gw.ai_selectors:
            gw.ai_selectors[key] = AISessionSelector(int(Capability.LiveVideoToVideo), model_id, choose=gw._choose)
        return gw.ai_selectors[key]

    async def _run(self, s: LiveStream) -> None:
        loop = asyncio.get_running_loop()
        selector = self._selector(s.model_id)
        try:
            while s.stream_id in self.trickle.channels:
                session, reply = await self._start_on_orchestrator(s, selector)
                if session is None:
                    s.error = "no orchestrators available"
                    return
                try:
                    await self._relay(s, session, reply, selector)
                    selector.complete(session)
                    return  # the input ended: the stream is over
                except OrchestratorLost as exc:
                    selector.remove(session)
                    s.swaps, stop = record_swap(s.swaps, loop.time())
                    self.metrics.orchestrator_swaps.inc()
                    log.warning("live stream %s lost %s: %s", s.stream_id, session.uri, exc)
                    if stop:
                        s.error = f"too many swaps: {exc}"
                        return
        finally:
            self.trickle.close_channel(s.stream_id)
            self.trickle.close_channel(f"{s.stream_id}-out")

    async def _start_on_orchestrator(self, s: LiveStream, selector: AISessionSelector):
        """go's processAIRequest for a live start: select, pay 60 s up front, POST with a 5 s
        timeout; the reply must carry control_url. (session, reply JSON) or (None, None)."""
        gw = self.gateway
        loop = asyncio.get_running_loop()
        caps = ai_job_capabilities(int(Capability.LiveVideoToVideo), s.model_id, with_defaults=True)
        await gw.refresh_pool()  # an on-chain gateway without -orchAddr: the active set (as batch AI does)
        for _ in range(max(gw.max_attempts, 1)):
            if selector.wants_refresh(loop.time(), len(gw.orch_addrs)):
                selector.refresh(loop.time(), await gw.discover(caps, selector.suspender.suspended))
            session = selector.select(loop.time(), gw.rng)
            if session is None:
                return None, None
            update = None
            try:
                state = session.info = await gw._refreshed(session.info, caps)
                fee = LIVE_INITIAL_UNITS * (wire.price_per_pixel(state.info.price_info) or Fraction(0))
                key = f"{gw.rng.getrandbits(64):016x}"  # go's fresh random balance key
                payment, update = gw._payment(state, fee, key)
                md = SegMetadata(key, 0, keccak(b""), capabilities=caps, auth_token=state.info.auth_token)
                body = {"model_id": s.model_id, "params": s.params, "stream_id": s.stream_id,
                        "gateway_request_id": s.stream_id}
                r = await gw.http.post(f"{state.info.transcoder}/{PIPELINE}", json=body,
                                       headers=gw._headers(md, payment), timeout=LIVE_START_TIMEOUT)
                reply = r.json() if r.status_code == 200 else None
                if not isinstance(reply, dict) or not reply.get("control_url"):
                    raise ValueError(f"returned {r.status_code}: {r.text[:200]}")
            except (PaymentError, httpx.HTTPError, ValueError) as exc:
                gw._settle(update, None)
                log.warning("live start on %s failed: %s", session.uri, exc)
                selector.remove(session)
                continue
            gw._settle(update, fee)
            s.orchestrator, s.manifest_id, s.control_url = session.uri, reply["manifest_id"], reply["control_url"]
            return session, reply
        return None, None

    async def _relay(self, s: LiveStream, session, reply: dict, selector: AISessionSelector) -> None:
        """Relay input out and output back, and read the events, until the input ends (return) or
        this orchestrator is lost (OrchestratorLost)."""
        lost: asyncio.Future = asyncio.get_running_loop().create_future()  # why this orchestrator is lost
        s.first_in_at = None

        def losing(reason: str) -> None:
            if not lost.done():
                lost.set_result(reason)

        def output_ended(task: asyncio.Task) -> None:
            if not task.cancelled():
                losing(f"output ended: {task.exception() or 'EOS'}")

        output = asyncio.ensure_future(self._relay_output(s, reply["subscribe_url"]))
        output.add_done_callback(output_ended)
        helpers = [output]
        if isinstance(reply.get("events_url"), str) and reply["events_url"]:
            helpers.append(asyncio.ensure_future(self.read_events(s, session, reply["events_url"], losing)))
        try:
            await self._relay_input(s, session, reply, selector, lost)
        finally:
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def read_events(self, s: LiveStream, session, url: str, losing) -> None:
        """go's startEventsSubscribe: every event tagged, logged and counted, the latest status kept;
        the channel's end ends the reading; no event for MAX_EVENT_GAP loses the orchestrator."""
        loop = asyncio.get_running_loop()
        last = loop.time()

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(EVENT_CHECK_INTERVAL)
                if loop.time() - last > MAX_EVENT_GAP:
                    losing("timeout waiting for events")
                    return

        beating = loop.create_task(heartbeat())
        sub = TrickleSubscriber(url, client=self.client)
        try:
            async for seg in sub:
                body = await seg.read(MAX_EVENT_BYTES)
                if body is None:
                    log.info("live stream %s: events segment over %d bytes skipped", s.stream_id, MAX_EVENT_BYTES)
                    continue
                last = loop.time()
                self._on_event(s, session, body)
        except TrickleError as exc:  # 404 (the channel is gone) ends it as EOS does; too many errors, as go
            if not isinstance(exc, StreamNotFound):
                losing(f"too many errors reading events: {exc}")
        except Exception:
            log.exception("live stream %s: reading events failed", s.stream_id)
            raise
        finally:
            beating.cancel()
            await sub.close()

    def _on_event(self, s: LiveStream, session, body: bytes) -> None:
        try:
            wrapper = json.loads(body)
        except ValueError:
            log.info("live stream %s: events segment is not JSON", s.stream_id)
            return
        if not isinstance(wrapper, dict):
            return
        event = wrapper.get("event")
        if not isinstance(event, dict):  # go: a bare event is the event itself
            event = wrapper
        kind = event.get("type") if isinstance(event.get("type"), str) else "unknown"
        event = {**event, "stream_id": s.stream_id, "request_id": s.stream_id,
                 "orchestrator_info": {"address": _address(session), "url": s.orchestrator}}
        s.events += 1
        self.metrics.ai_live_events.labels(kind).inc()
        log.info("live stream %s event %s from %s", s.stream_id, kind, s.orchestrator)
        if kind == "status":  # go carries the once-sent fields over from the last status
            now, before = event.get("inference_status"), (s.status or {}).get("inference_status")
            if isinstance(now, dict) and isinstance(before, dict):
                now = event["inference_status"] = dict(now)
                for key in ("last_params", "last_restart_logs"):
                    if now.get(key) is None:
                        now[key] = before.get(key)
            s.status = event

    async def _relay_input(self, s: LiveStream, session, reply: dict, selector, lost: asyncio.Future) -> None:
        loop = asyncio.get_running_loop()
        channel = self.trickle.channels.get(s.stream_id)
        if channel is None:  # the client's input already ended
            return
        pub = TricklePublisher(reply["publish_url"], "video/MP2T", client=self.client)
        processor = LivePaymentProcessor(self.payment_interval, now=loop.time())
        sub = LocalSubscriber(self.trickle, s.stream_id)
        copies: set[asyncio.Task] = set()
        begun = completed = 0
        failed: list[BaseException] = []

        def done(task: asyncio.Task) -> None:
            nonlocal completed
            completed += 1
            copies.discard(task)
            if not task.cancelled() and task.exception() is not None:
                failed.append(task.exception())

        try:
            while True:
                waiting = asyncio.ensure_future(sub.next_data())
                await asyncio.wait({waiting, lost}, return_when=asyncio.FIRST_COMPLETED)
                if lost.done():  # the orchestrator closed its output, or went silent
                    waiting.cancel()
                    raise OrchestratorLost(lost.result())
                try:
                    seg = waiting.result()
                except (StreamNotFound, EndOfStream):
                    return  # the client's input ended
                if failed:
                    raise OrchestratorLost(f"input publish failed: {failed[0]}")
                if seg is None:
                    continue
                if too_slow(begun, completed):
                    selector.suspender.suspend(session.uri, LIVE_SLOW_PENALTY)
                    raise OrchestratorLost(f"slow: {begun - completed} input segments in flight")
                if not begun:
                    s.first_in_at = loop.time()
                begun += 1
                s.segments_in += 1
                self.metrics.ai_live_segments.labels("in").inc()
                task = asyncio.ensure_future(self._copy(seg, pub.next(),
                                                        lambda n=seg.seq: channel.next_write > n + 1))
                copies.add(task)
                task.add_done_callback(done)
                if units := processor.due(loop.time()):
                    self._pay(s, session, reply["manifest_id"], units)
        finally:
            for task in list(copies):
                task.cancel()
            with contextlib.suppress(Exception):
                await pub.close()

    _copy = staticmethod(copy_segment)  # an attribute: tests replace it

    async def _relay_output(self, s: LiveStream, url: str) -> None:
        """The orchestrator's output segments into the gateway's {stream}-out channel; returns
        (or raises) when that output ends."""
        loop = asyncio.get_running_loop()
        sub = TrickleSubscriber(url, start_seq=0, client=self.client)
        first = True
        try:
            while True:
                reader = await sub.next_segment()
                if first and s.first_in_at is not None:  # go's first segment delay, per orchestrator
                    self.metrics.ai_first_segment_delay.observe((loop.time() - s.first_in_at) * 1000)
                    first = False
                s.segments_out += 1
                self.metrics.ai_live_segments.labels("out").inc()
                ch = self.trickle.channels.get(f"{s.stream_id}-out")
                if ch is None:
                    return
                await write_segment(ch, reader)
        finally:
            await sub.close()

    def _pay(self, s: LiveStream, session, mid: str, units: int) -> None:
        """POST {o}/payment for `units` (in the background: the relay never waits on it)."""
        gw = self.gateway
        state = session.info
        fee = units * (wire.price_per_pixel(state.info.price_info) or Fraction(0))
        if not fee:
            return

        async def pay() -> None:
            update = None
            try:
                payment, update = gw._payment(state, fee, mid)
                caps = ai_job_capabilities(int(Capability.LiveVideoToVideo), s.model_id, with_defaults=True)
                md = SegMetadata(mid, 0, keccak(b""), capabilities=caps, auth_token=state.info.auth_token)
                r = await gw.http.post(f"{state.info.transcoder}/payment", headers=gw._headers(md, payment),
                                       timeout=LIVE_PAYMENT_TIMEOUT)
                if r.status_code != 200:
                    raise ValueError(f"returned {r.status_code}: {r.text[:200]}")
            except (PaymentError, httpx.HTTPError, ValueError) as exc:
                gw._settle(update, None)
                self.metrics.ai_live_payments.labels("failed").inc()
                log.warning("live payment to %s failed: %s", session.uri, exc)
                return
            gw._settle(update, fee)
            s.payments += 1
            self.metrics.ai_live_payments.labels("ok").inc()
        task = asyncio.get_running_loop().create_task(pay())
        self._payments.add(task)
        task.add_done_callback(self._payments.discard)


def _address(session) -> str:
    """The orchestrator's ETH address (go's sess.Address()), or ""."""
    raw = getattr(getattr(getattr(session, "info", None), "info", None), "address", b"")
    return wire.address_from_bytes(raw) if isinstance(raw, bytes) and raw else str(raw or "")
