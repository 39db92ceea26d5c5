"""The orchestrator's live video-to-video sessions (go-livepeer server/ai_http.go
StartLiveVideoToVideo): POST /live-video-to-video checks capacity and the payment, makes the
session's four trickle channels under /ai/trickle/ ({mid} input, {mid}-out output, {mid}-control,
{mid}-events), starts the live runner on them (ai-runner's POST /live-video-to-video) and watches
the input channel: each new input segment drives the live payment accounting (node.core.live_payment),
and the session ends, closing all four channels and freeing its capacity, when the input channel
ends, the balance runs out or its runner fails.

Capacity is go's (core/ai_orchestrator.go CheckAICapacity, ai/worker): runners started by the node
hold one stream each and are lent to one session at a time (go's one container per unit of
`capacity`); an external runner (`url` in aiModels.json) takes sessions up to the model's advertised
capacity. None free: 503 "insufficient capacity".
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from node.core.capabilities import Capabilities, CapabilityError, pipeline_capability
from node.core.live_payment import (
    LivePaymentProcessor,
    account_live_payment,
)
from node.net.headers import HeaderError
from node.net.trickle import TrickleError, TrickleServer
from node.net.trickle.local import LocalSubscriber

from .node import OrchestratorNode

log = logging.getLogger("lpnode.orchestrator.live")

PIPELINE = "live-video-to-video"
TRICKLE_PATH = "/ai/trickle/"
# channel suffix -> mime type (go creates all four with these)
CHANNELS = {"": "video/MP2T", "-out": "video/MP2T", "-control": "application/json", "-events": "application/json"}
RUNNER_START_TIMEOUT = 30.0  # seconds for the runner to accept a session
RUNNER_HEALTH_INTERVAL = 5.0  # seconds between checks of a session's runner (ai-runner GET /health)


def new_manifest_id(randbytes: Callable[[int], bytes] = os.urandom) -> str:
    """go's core.RandomManifestID: 4 random bytes as 8 hex digits."""
    return randbytes(4).hex()


@dataclass
class LiveSession:
    mid: str
    sender: str
    model_id: str
    price: Fraction  # per pixel, as the gateway's payment expects it (0: not charged)
    runner: str = ""  # the runner's base URL ("": this node has none)
    watcher: asyncio.Task | None = None
    health: asyncio.Task | None = None
    error: str = ""  # why it ended, when it ended badly


class LiveRunners:
    """The live runners sessions run on. A list: runners this node started (go's managed
    containers), one stream each, lent to one session at a time and given back when it ends (go's
    Borrow / returnContainer). A string: an external runner (`url` in aiModels.json) that takes
    every session (go assumes external runners scale themselves), within the model's capacity."""

    def __init__(self, urls: str | Sequence[str] | None) -> None:
        self.external = urls.rstrip("/") if isinstance(urls, str) else None
        self.free = [] if isinstance(urls, str) else [u.rstrip("/") for u in urls or ()]
        self.lent: list[str] = []

    @property
    def managed(self) -> bool:
        return self.external is None and bool(self.free or self.lent)

    def borrow(self) -> str | None:
        """A free managed runner, or None."""
        if not self.free:
            return None
        url = self.free.pop(0)
        self.lent.append(url)
        return url

    def give_back(self, url: str) -> None:
        if url in self.lent:
            self.lent.remove(url)
            self.free.append(url)


class LiveSessions:
    """The running live sessions of one orchestrator. `runner_url` is the external live runner's
    base URL, or the list of runners this node started (LiveRunners), or None: no runner;
    `payment_interval` (s) defaults to the node's -livePaymentInterval; `runner_trickle_base`
    replaces the service URI in the URLs handed to the runner (go's
    -liveAITrickleHostForRunner), for a runner that reaches the node another way."""

    def __init__(self, node: OrchestratorNode, trickle: TrickleServer, *,
                 runner_url: str | Sequence[str] | None,
                 client: httpx.AsyncClient, payment_interval: float | None = None,
                 runner_trickle_base: str | None = None,
                 randbytes: Callable[[int], bytes] | None = None) -> None:
        self.node = node
        self.trickle = trickle
        self.runners = LiveRunners(runner_url)
        self.client = client
        # go's -livePaymentInterval: the node's (OrchestratorConfig.live_payment_interval) unless given
        self.payment_interval = payment_interval or node.config.live_payment_interval
        self.runner_trickle_base = runner_trickle_base
        self.randbytes = randbytes or node.randbytes  # manifest ids from the node's injected randomness
        self.health_interval = RUNNER_HEALTH_INTERVAL
        self.sessions: dict[str, LiveSession] = {}

    def channel_url(self, mid: str, suffix: str = "", base: str | None = None) -> str:
        return (base or self.node.config.service_uri).rstrip("/") + TRICKLE_PATH + mid + suffix

    def reserve(self, model_id: str) -> str | None:
        """Capacity for a new session of an advertised model: the runner it gets ("" where this
        node has none: the start then fails with go's 500), or None: insufficient capacity."""
        with self.node.lock:
            if self._model(model_id) is None:
                return None
            if self.runners.managed:  # a free runner is the capacity (go's HasCapacity)
                return self.runners.borrow()
            try:
                self.node.capabilities.reserve_model(PIPELINE, model_id)
            except CapabilityError:
                return None
        return self.runners.external or ""

    def _model(self, model_id: str):
        """The advertised live model's constraint, or None (call under the node's lock)."""
        return self.node.capabilities.constraints.get(pipeline_capability(PIPELINE), {}).get(model_id)

    def release(self, model_id: str, runner: str) -> None:
        with self.node.lock:
            if self.runners.managed:
                self.runners.give_back(runner)
                return
            with contextlib.suppress(CapabilityError):
                self.node.capabilities.release_model(PIPELINE, model_id)

    def has_capacity(self, model_id: str) -> bool:
        """go's CheckAICapacity for live (without reserving): an advertised model with a free runner
        (runners this node started) or model capacity left (an external runner)."""
        with self.node.lock:
            model = self._model(model_id)
            if model is None:
                return False
            return bool(self.runners.free) if self.runners.managed else model.capacity > 0

    def capped(self, requested: Capabilities | None) -> bool:
        """go's checkLiveVideoToVideoCapacity: a GetOrchestrator request that constrains live models,
        none of which has capacity here (the gateway is answered OrchestratorCapped)."""
        models = requested.constraints.get(pipeline_capability(PIPELINE)) if requested is not None else None
        return bool(models) and not any(self.has_capacity(m) for m in models)

    def advertised(self, caps: Capabilities) -> Capabilities:
        """go's setLiveAICapacity: in GetOrchestrator's answer a live model's capacity is the idle
        runners and capacityInUse the lent ones (runners this node started; an external runner's
        model keeps its configured capacity). A copy: the node's own capabilities stay as they are."""
        cap = pipeline_capability(PIPELINE)
        models = caps.constraints.get(cap)
        if not models or not self.runners.managed:
            return caps
        with self.node.lock:
            idle, used = len(self.runners.free), len(self.runners.lent)
        live = {m: dataclasses.replace(c, capacity=idle, capacity_in_use=used) for m, c in models.items()}
        return dataclasses.replace(caps, constraints={**caps.constraints, cap: live})

    async def start(self, mid: str, sender: str, model_id: str, price: Fraction, request: dict,
                    runner: str = "") -> LiveSession:
        """Make the channels, start accounting and the runner (capacity already reserved, now the
        session's). Raises RuntimeError with what failed, after closing the session."""
        self.trickle.start()  # the idle sweep, on the serving loop
        for suffix, mime in CHANNELS.items():
            self.trickle.create_channel(mid + suffix, mime)
        session = self.sessions[mid] = LiveSession(mid, sender, model_id, price, runner=runner)
        loop = asyncio.get_running_loop()
        try:
            # go's LivePaymentProcessor, billing each input segment (node.core.live_payment)
            processor = LivePaymentProcessor(self.payment_interval, now=loop.time()) \
                if price > 0 and self.node.onchain else None
            session.watcher = loop.create_task(self._watch(session, processor))
            await self._start_runner(session, request)
        except RuntimeError as exc:
            self.close(mid, str(exc))
            raise
        if mid in self.sessions:
            session.health = loop.create_task(self._watch_runner(session))
        return session

    async def _start_runner(self, session: LiveSession, request: dict) -> None:
        if not session.runner:
            raise RuntimeError("no live runner for live-video-to-video")
        base = self.runner_trickle_base
        mid = session.mid
        params = {
            "model_id": session.model_id,
            "subscribe_url": self.channel_url(mid, "", base),  # the runner reads the input
            "publish_url": self.channel_url(mid, "-out", base),  # and writes the output
            "control_url": self.channel_url(mid, "-control", base),
            "events_url": self.channel_url(mid, "-events", base),
            "params": request.get("params") or {},
            "gateway_request_id": request.get("gateway_request_id", ""),
            "manifest_id": mid,
            "stream_id": request.get("stream_id", ""),
        }
        try:
            reply = await self.client.post(f"{session.runner}/{PIPELINE}", json=params, timeout=RUNNER_START_TIMEOUT)
        except httpx.HTTPError as exc:
            raise RuntimeError(f"live runner unreachable: {exc!r}") from exc
        if reply.status_code != 200:
            raise RuntimeError(f"live runner error {reply.status_code}: {reply.text.strip()}")

    async def _watch(self, session: LiveSession, processor) -> None:
        """Account for every input segment as it begins; end the session with its input."""
        loop = asyncio.get_running_loop()
        sub = LocalSubscriber(self.trickle, session.mid)
        try:
            while True:
                seg = await sub.next_data()  # the live edge each time, as go's SetSeq(-1)
                if seg is None:
                    continue
                if processor is not None:
                    units = processor.due(loop.time())
                    if units and (error := self._account(session, units)) is not None:
                        self.close(session.mid, error)
                        return
                await seg.wait_closed()
        except TrickleError as exc:
            log.info("live session %s input ended: %s", session.mid, exc)
        except Exception:
            log.exception("live session %s: accounting failed", session.mid)
        finally:
            self.close(session.mid)

    async def _watch_runner(self, session: LiveSession) -> None:
        """A runner that dies or reports ERROR fails the session: its channels close, so the
        gateway's output subscription ends and it swaps to another orchestrator. A runner of ours
        that is IDLE or LOADING no longer holds the stream (it stopped it, or its guardian is
        reloading the pipeline): go takes such a container back, so the session ends too."""
        ended = ("IDLE", "LOADING") if self.runners.managed else ()
        while True:
            await asyncio.sleep(self.health_interval)
            try:
                reply = await self.client.get(f"{session.runner}/health", timeout=max(self.health_interval, 1.0))
                status = reply.json().get("status") if reply.status_code == 200 else f"HTTP {reply.status_code}"
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                status = f"unreachable ({type(exc).__name__})"
            if status not in ("OK", "IDLE", "LOADING") or status in ended:
                self.close(session.mid, f"live runner failed: {status}")
                return

    def _account(self, session: LiveSession, units: int) -> str | None:
        """Debit `units` at the session's price with node.core.live_payment's
        `account_live_payment(balances, sender, mid, units, price)`; go's error ("insufficient
        balance, mid=…") that stops the stream, or None."""
        node = self.node
        if not node.onchain:
            return None
        with node.lock:
            return account_live_payment(node.receiver.balances, session.sender, session.mid, units, session.price)

    def close(self, mid: str, error: str = "") -> None:
        """End a session: close its four channels (readers get EOF), free its capacity."""
        session = self.sessions.pop(mid, None)
        if session is None:
            return
        session.error = error
        if error:
            log.warning("live session %s stopped: %s", mid, error)
        for suffix in CHANNELS:
            self.trickle.close_channel(mid + suffix)
        self.release(session.model_id, session.runner)
        for task in (session.watcher, session.health):
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    async def close_all(self) -> None:
        for mid in list(self.sessions):
            self.close(mid)


def _error(message: str, status: int) -> PlainTextResponse:
    return PlainTextResponse(message, status_code=status)


def live_router(sessions: LiveSessions, credentials: Callable) -> APIRouter:
    """POST /live-video-to-video. `credentials(request) -> (payment, segment metadata)` is the
    orchestrator's payment and seg creds check (HeaderError with go's 402/403)."""
    router = APIRouter()
    node = sessions.node

    @router.post("/" + PIPELINE)
    async def start_live_video_to_video(request: Request):
        try:
            req = json.loads(await request.body() or b"null")
        except ValueError as exc:
            return _error(str(exc), 400)
        if not isinstance(req, dict):
            return _error("request body must be a JSON object", 400)
        model_id = req.get("model_id") or ""
        if not isinstance(model_id, str) or not isinstance(req.get("params", {}), (dict, type(None))):
            return _error("model_id must be a string and params an object", 400)
        for key, header in (("stream_id", "streamID"), ("gateway_request_id", "requestID")):
            if not isinstance(req.get(key) or "", str):
                return _error(f"{key} must be a string", 400)
            if not req.get(key):  # the body's value wins over the header, as go
                req[key] = request.headers.get(header, "")
        runner = sessions.reserve(model_id)
        if runner is None:
            return _error("insufficient capacity", 503)
        started = False
        try:
            try:
                payment, _ = credentials(request)
            except HeaderError as exc:
                return _error(str(exc), exc.status)
            mid = new_manifest_id(sessions.randbytes)
            sender = payment.sender or ""
            got = await asyncio.to_thread(node.process_payment, payment, mid)
            if got.error is not None:
                return _error(str(got.error), 400)
            expected = payment.expected_price
            price = Fraction(expected.price_per_unit, expected.pixels_per_unit) \
                if expected is not None and expected.price_per_unit > 0 and expected.pixels_per_unit > 0 else Fraction(0)
            if price > 0 and not await asyncio.to_thread(node.sufficient_balance, sender, mid):
                return _error("Insufficient balance", 400)
            started = True  # from here the session owns the capacity (closing it releases it)
            try:
                await sessions.start(mid, sender, model_id, price, req, runner)
            except RuntimeError as exc:
                return _error(str(exc), 500)
        finally:
            if not started:
                sessions.release(model_id, runner)
        return JSONResponse({
            "publish_url": sessions.channel_url(mid), "subscribe_url": sessions.channel_url(mid, "-out"),
            "control_url": sessions.channel_url(mid, "-control"), "events_url": sessions.channel_url(mid, "-events"),
            "manifest_id": mid})

    return router
