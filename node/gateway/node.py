"""The gateway: discovery over gRPC, selection and sessions, payments, retries and swaps — all
decided by the protocol core (node.core) — driving real HTTP requests to orchestrators.

Batch AI follows go's processAIRequest (node.core.ai_sessions: warm before cold, a 2 s retry
window, suspensions); transcoding follows go's segment path (node.core.sessions: session reuse,
up to 3 attempts per segment, suspend-and-swap on errors).
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import IO, Any

import grpc
import httpx

from node.core.ai_sessions import (AI_SESSION_TTL, AIErrorAction, AIRequestRetry, AISessionSelector,
                                   ServiceUnavailableError, selector_key)
from node.core.balances import Balances, UpdateStatus, complete_update
from node.core.capabilities import Capabilities, batch_ai_job_capabilities, job_capabilities, pipeline_capability
from node.core.discovery import Discovery, db_pool_predicate
from node.core.errors import PaymentError
from node.core.keccak import keccak
from node.core.live_payment import LIVE_PAYMENT_INTERVAL
from node.core.payment import Payment, new_payment
from node.core.pricing import PriceError, PriceInfo, estimate_transcode_fee, gateway_ai_units, validate_price
from node.core.selection import ProbabilitySelectionAlgorithm, select_session
from node.core.sender import PARAMS_EXPIRY_BUFFER, Sender
from node.core.sessions import (SegmentAction, SegmentAttempts, Session, TranscodeSessions, auth_token_needs_refresh,
                                latency_score, segment_http_timeout)
from node.core.verification import SegmentResult, SegmentVerifier, Verdict, local_verify_default
from node.metrics import NodeMetrics
from node.net import wire
from node.net.auth import orchestrator_request_sig
from node.net.headers import (PAYMENT_HEADER, SEGMENT_HEADER, SegMetadata, VideoProfile, encode_payment_header,
                              encode_segment_header)
from node.net.http_client import HTTP_ERRORS, HTTPClient
from node.net.proto import lp_rpc_pb2 as pb
from node.net.proto import lp_rpc_pb2_grpc as pb_grpc
from node.net.tls import PinnedChannels, grpc_channel

log = logging.getLogger("lpnode.gateway")

GRPC_TIMEOUT = 8.0
MAX_AI_DISCOVERIES = 2  # discovery rounds one AI request may start
STALE_CHECK_INTERVAL = 60.0  # seconds between the gateway's forget_stale passes
MAX_MODEL_LABELS = 256  # distinct model ids in the gateway's metrics labels
AI_AUTHORIZATION = "Livepeer-AI-Worker-1.0"


class GatewayError(Exception):
    """What the gateway answers its client: go's status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class OrchInfo:
    """A session's view of an orchestrator: the last OrchestratorInfo and when it was fetched."""

    uri: str
    info: wire.OrchestratorInfo
    fetched: float
    pm_session: str | None = None
    initial_price: PriceInfo | None = None  # the price at discovery: go's session InitialPrice
    seg_creds: dict = field(default_factory=dict)  # (AI manifest, auth token) -> Livepeer-Segment value


def grpc_target(uri: str) -> str:
    return uri.split("://", 1)[-1].rstrip("/")


class GatewayNode:
    def __init__(self, orch_addrs: list[str] | None = None, *, account=None, chain=None, pool=None,
                 metrics: NodeMetrics | None = None, selection: ProbabilitySelectionAlgorithm | None = None,
                 max_attempts: int = 3, max_price: Fraction | None = None, stakes: dict[str, int] | None = None,
                 rng=None, local_verify: bool | None = None,
                 live_payment_interval: float = LIVE_PAYMENT_INTERVAL) -> None:
        """Orchestrators come from `orch_addrs` (go's -orchAddr) or, when that is empty, from `pool`
        (node.eth.orchestrator_pool.ChainOrchestratorPool: the chain's active set and service URIs,
        whose stakes then weight selection). `local_verify` is go's -localVerify (None: on on-chain,
        off offchain): signature and pixel-count checks of every transcoded segment.
        `live_payment_interval` is go's -livePaymentInterval: a live stream pays every that many seconds."""
        import random

        if not orch_addrs and pool is None:
            raise ValueError("a gateway needs -orchAddr or an on-chain orchestrator pool")
        self.orch_addrs = list(orch_addrs or [])
        self.pool = None if self.orch_addrs else pool
        self._pool_round: int | None = None  # the round the pool was last read in
        self.account = account
        self.address = account.address if account else ""
        self.chain = chain
        self.onchain = chain is not None
        self.local_verify = local_verify_default(self.onchain, local_verify)
        self.live_payment_interval = live_payment_interval
        self.metrics = metrics or NodeMetrics("gateway", "gateway")
        self.selection = selection or ProbabilitySelectionAlgorithm()
        self.max_attempts = max_attempts
        self.max_price = max_price
        self.stakes = stakes or {}
        self.rng = rng or random.Random(int.from_bytes(os.urandom(8), "big"))
        self.sender = Sender(self.address, account.key, chain) if self.onchain else None
        self._predicate = db_pool_predicate(lambda p: p is None or self.sender.validate_ticket_params(p))
        self.balances = Balances(time.time)
        self.ai_selectors: dict[tuple[str, str], AISessionSelector] = {}
        self.streams: dict[str, TranscodeSessions] = {}
        self.last_used: dict[tuple, float] = {}  # ("ai", pipeline, model) / ("stream", id) -> monotonic time
        self._forgotten_at = time.monotonic()
        self._model_labels: set[str] = set()
        self.stream_refreshes: dict[str, asyncio.Future] = {}  # manifest id -> its discovery under way
        self.selector_refreshes: dict[tuple[str, str], asyncio.Future] = {}  # a new AI selector's first discovery
        self.http = httpx.AsyncClient(timeout=60.0, verify=False)  # go's InsecureSkipVerify on https://
        self.hop = HTTPClient(60.0, verify=False)  # the paid requests to orchestrators (node.net.http_client)
        self.tls_pins = PinnedChannels()
        self.channels: dict[str, grpc.aio.Channel] = {}

    async def close(self) -> None:
        await self.http.aclose()
        await self.hop.aclose()
        for channel in self.channels.values():
            await channel.close()

    def _model_label(self, model_id: str) -> str:
        """The model's metrics label: clients name any model, and every label is kept for the
        process's life, so past MAX_MODEL_LABELS distinct names the rest count as "other"."""
        if model_id in self._model_labels or len(self._model_labels) < MAX_MODEL_LABELS:
            self._model_labels.add(model_id)
            return model_id
        return "other"

    def _use(self, *key) -> None:
        """Note that a model's selector or a stream's pool is in use (and forget what is stale)."""
        self.forget_stale()
        self.last_used[key] = time.monotonic()

    def forget_stale(self) -> None:
        """go's cleanup loops, run from the request path at most once a minute: balances idle past
        their TTL, PM sessions on expired offers, and the AI selectors and stream pools nobody has
        used for AI_SESSION_TTL (a client names any model and any stream: each would otherwise be
        kept for ever)."""
        now = time.monotonic()
        if now - self._forgotten_at < STALE_CHECK_INTERVAL:
            return
        self._forgotten_at = now
        self.balances.cleanup()
        if self.onchain:
            self.sender.cleanup_expired(self.chain.last_seen_block())
        for key in [k for k, used in self.last_used.items() if now - used > AI_SESSION_TTL]:
            del self.last_used[key]
            kind, *name = key
            if kind == "ai":
                self.ai_selectors.pop(tuple(name), None)
            elif name[0] not in self.stream_refreshes:
                self.streams.pop(name[0], None)

    # ------------------------------------------------------------------ discovery

    async def get_orchestrator(self, uri: str, caps: Capabilities | None) -> wire.OrchestratorInfo:
        channel = self.channels.get(uri)
        if channel is None:
            channel = self.channels[uri] = await self.open_channel(uri)
        stub = pb_grpc.OrchestratorStub(channel)
        req = pb.OrchestratorRequest(address=wire.address_bytes(self.address) if self.address else b"")
        if self.onchain:
            req.sig = orchestrator_request_sig(self.address, self.account.key)
        caps_msg = wire.capabilities_to_proto(caps)
        if caps_msg is not None:
            req.capabilities.CopyFrom(caps_msg)
        try:
            info = await stub.GetOrchestrator(req, timeout=GRPC_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE and uri.startswith("https://"):
                # perhaps a new certificate (go's gateway verifies none): pin afresh next time, as the SDK's TOFU
                host, _, port = grpc_target(uri).rpartition(":")
                self.tls_pins.forget(host, int(port))
                if (stale := self.channels.pop(uri, None)) is not None:
                    await stale.close()
            raise
        return wire.orchestrator_info_from_proto(info)

    async def open_channel(self, uri: str):
        """gRPC to an orchestrator: over TLS pinned on first contact for https:// (go's gateway skips
        verification; Python's gRPC cannot, node.net.tls), h2c for http://."""
        return await grpc_channel(uri, self.tls_pins)

    async def refresh_pool(self) -> list[str]:
        """The orchestrator URIs to discover: -orchAddr as given, else the chain's active set (go's
        DB pool, re-read each round), whose stakes become the selection's."""
        # the pool changes with the round: asked of the cached chain view on the request path, the
        # pool itself (chain reads, on a thread) only when it moved
        if self.pool is not None and (round_ := self.pool.last_round()) != self._pool_round:
            members = await asyncio.to_thread(self.pool.orchestrators)
            # as registered: an https:// orchestrator serves TLS (node.net.tls), an http:// one plaintext
            self.orch_addrs = [m.service_uri for m in members]
            self.stakes = {m.address: m.stake for m in members}
            self._pool_round = round_
        return self.orch_addrs

    async def discover(self, caps: Capabilities | None, suspended=None) -> list[Session]:
        """The core's Discovery over the orchestrator pool, with real concurrency and timers."""
        disc = Discovery(self.orch_addrs, len(self.orch_addrs), self.rng, suspended=suspended,
                         predicate=self._acceptable, compatible=lambda oc: caps is None or caps.compatible_with(oc),
                         legacy_only=caps is None)
        started = time.monotonic()
        tasks = {asyncio.create_task(self._timed(uri, caps)): uri for uri in disc.to_query}
        infos: dict[str, wire.OrchestratorInfo] = {}
        pending = set(tasks)
        while pending and not disc.done:
            timeout = max(0.0, disc.deadline - (time.monotonic() - started))
            done, pending = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                disc.timer_fired()
                continue
            for task in done:
                uri = tasks[task]
                latency, info, error = task.result()
                if error is not None:
                    self.metrics.discovery_errors.inc()
                    disc.error(uri)
                else:
                    infos[uri] = info
                    disc.response(uri, info.discovery_info(), latency)
        for task in pending:
            task.cancel()
        sessions = []
        for d in disc.result():
            info = infos[d.url]
            sessions.append(self._session(d.url, info, d.latency, caps))
        return sessions

    async def _timed(self, uri: str, caps):
        t0 = time.monotonic()
        try:
            info = await self.get_orchestrator(uri, caps)
            return time.monotonic() - t0, info, None
        except Exception as exc:  # noqa: BLE001 - any RPC failure is a discovery error
            return time.monotonic() - t0, None, exc

    def _acceptable(self, info) -> bool:
        """Offchain anyone; on-chain the DB pool's predicate (free orchestrators send no params)."""
        return not self.onchain or self._predicate(info)

    def _session(self, uri: str, info: wire.OrchestratorInfo, latency: float, caps) -> Session:
        state = OrchInfo(uri, info, time.time(), initial_price=info.price_info)
        if self.onchain and info.ticket_params is not None:
            state.pm_session = self.sender.start_session(info.ticket_params)
        warm = None
        if caps is not None and caps.constraints and info.capabilities is not None:
            cap, models = next(iter(caps.constraints.items()))
            model = (info.capabilities.constraints.get(cap) or {}).get(next(iter(models)))
            warm = None if model is None else model.warm
        return Session(info.transcoder or uri, info.address, initial_latency=latency, info=state, warm=warm)

    def _choose(self, sessions: list[Session]) -> Session | None:
        if not self.onchain:  # offchain go has no selection algorithm: the lowest latency first
            return min(sessions, key=lambda s: s.latency_score, default=None)
        return select_session(self.selection, sessions, self.stakes, self.rng,
                              lambda s: wire.price_per_pixel(s.info.info.price_info), self.max_price)

    # ------------------------------------------------------------------ payments

    def check_funds(self) -> None:
        """A gateway whose deposit or reserve is drained (or unlocking) cannot pay anyone: end the
        request with that reason rather than a generic "no orchestrators available"."""
        if not self.onchain:
            return
        info = self.chain.sender_info(self.address)
        self.metrics.gateway_deposit.set(info.deposit)
        self.metrics.gateway_reserve.set(info.reserve.funds_remaining)
        try:
            self.sender.validate_sender(info)
        except PaymentError as exc:
            raise GatewayError(402, f"cannot pay orchestrators: {exc}") from None

    async def _refreshed(self, state: OrchInfo, caps) -> OrchInfo:
        """Refresh the session's OrchestratorInfo when its params or auth token run out."""
        info = state.info
        stale = self.onchain and info.ticket_params is not None and \
            info.ticket_params.expiration_block - self.chain.last_seen_block() <= PARAMS_EXPIRY_BUFFER
        if not stale and not auth_token_needs_refresh(time.time(), info.auth_token.expiration):
            return state
        fresh = await self.get_orchestrator(state.uri, caps)
        return self._renew(state, fresh)

    def _renew(self, state: OrchInfo, info: wire.OrchestratorInfo) -> OrchInfo:
        if self.onchain and state.pm_session:
            self.sender.cleanup_session(state.pm_session)
        new = OrchInfo(state.uri, info, time.time(), initial_price=state.initial_price)
        if self.onchain and info.ticket_params is not None:
            new.pm_session = self.sender.start_session(info.ticket_params)
        return new

    def _payment(self, state: OrchInfo, fee: Fraction, session_key: str):
        info = state.info
        if not self.onchain or info.ticket_params is None or info.price_info is None:
            return Payment(self.address or None, expected_price=info.price_info), None
        try:  # go's validatePrice: nothing is reserved or signed for an orchestrator that refuses
            validate_price(info.price_info, state.initial_price)
        except PriceError as exc:
            raise PaymentError(str(exc)) from None
        payment, update = new_payment(self.sender, self.balances, info.address, session_key, state.pm_session, fee,
                                      info.price_info)
        n = len(payment.ticket_sender_params)
        self.metrics.tickets_sent.labels(info.address).inc(n)
        self.metrics.ticket_value_sent.labels(info.address).inc(float(n * info.ticket_params.ev))
        return payment, update

    def _headers(self, md: SegMetadata | str, payment: Payment) -> dict[str, str]:
        """The Livepeer-Segment (from `md`, or as already encoded) and Livepeer-Payment headers."""
        seg = md if isinstance(md, str) else encode_segment_header(md, self.account.key if self.onchain else None)
        return {SEGMENT_HEADER: seg,
                PAYMENT_HEADER: encode_payment_header(payment if payment.ticket_params or payment.sender else None)}

    def _ai_seg_creds(self, state: OrchInfo, manifest: str, caps: Capabilities) -> str:
        """go's genSegCreds for an AI request (prepareAIPayment): re-signed on every request there,
        but of the same bytes (the session's manifest and auth token, seq 0, the empty hash; the
        job's capabilities follow from the manifest; RFC 6979 signatures are deterministic), so made
        once per session and token here. A refreshed session is a new OrchInfo: an empty cache."""
        key = (manifest, state.info.auth_token)
        creds = state.seg_creds.get(key)
        if creds is None:
            md = SegMetadata(manifest, 0, keccak(b""), capabilities=caps, auth_token=state.info.auth_token)
            creds = state.seg_creds[key] = encode_segment_header(md, self.account.key if self.onchain else None)
        return creds

    # ------------------------------------------------------------------ batch AI

    async def ai_request(self, pipeline: str, body: bytes | IO[bytes], content_type: str, fields: dict[str, Any],
                         image_size: tuple[int, int] | None = None, audio_seconds: int | None = None,
                         audio_error: str | None = None) -> tuple[bytes, str]:
        """Process one batch AI request (go's processAIRequest); returns (body, content type) or
        raises GatewayError with go's status. audio-to-text: `audio_seconds` is the measured
        duration, or `audio_error` why it could not be measured; go measures inside each try
        (submitAudioToText), so that error is each selected session's submit error: "audio duration
        calculation failed" answers 400, "Error getting codec info" suspends the session (and
        so ends in 503 once none is left)."""
        model_id = str(fields.get("model_id") or "")
        cap = int(pipeline_capability(pipeline))
        key = (pipeline, model_id)
        self._use("ai", *key)
        selector = self.ai_selectors.get(key)
        if selector is None:
            selector = self.ai_selectors[key] = AISessionSelector(cap, model_id, choose=self._choose)
        caps = batch_ai_job_capabilities(cap, model_id)
        try:
            units = 0 if audio_error else gateway_ai_units(pipeline, fields, image_size=image_size,
                                                          audio_seconds=audio_seconds)
        except ValueError as exc:
            raise GatewayError(400, str(exc)) from None
        label = self._model_label(model_id)
        self.metrics.ai_models_requested.labels(pipeline, label).inc()
        self.check_funds()
        await self.refresh_pool()
        await self._first_discovery(key, selector, caps)
        retry = AIRequestRetry(time.monotonic())
        discoveries = 0
        try:
            while retry.begin_try(time.monotonic()):
                # go rediscovers whenever the pool runs low, so a request that empties it fans out
                # GetOrchestrator on every try; one request gets at most MAX_AI_DISCOVERIES here
                if discoveries < MAX_AI_DISCOVERIES and selector.wants_refresh(time.monotonic(), len(self.orch_addrs)):
                    discoveries += 1
                    selector.refresh(time.monotonic(), await self.discover(caps, selector.suspender.suspended))
                session = selector.select(time.monotonic(), self.rng)
                if session is None:
                    break
                if audio_error:
                    error, reply = audio_error, None
                else:
                    error, reply = await self._submit_ai(session, pipeline, body, content_type, units, caps, model_id,
                                                         stream=pipeline == "llm" and fields.get("stream") is True)
                action = retry.on_result(session, error)
                if action is AIErrorAction.COMPLETE:
                    selector.complete(session)
                    for s in retry.finish():
                        selector.complete(s)
                    return reply
                self.metrics.ai_request_errors.labels(pipeline, label, action.value).inc()
                if action is AIErrorAction.BAD_REQUEST:
                    # the request's fault, not the orchestrator's: go suspends it all the same,
                    # so one malformed request would take orchestrators away from everyone
                    selector.complete(session)
                    raise GatewayError(400, str(retry.bad_request(error)))
                if action is AIErrorAction.RETRY_SAME:
                    selector.complete(session)
                elif action is AIErrorAction.REMOVE:
                    selector.remove(session)
            for s in retry.finish():
                selector.complete(s)
        except ServiceUnavailableError as exc:
            raise GatewayError(503, str(exc)) from None
        raise GatewayError(503, "no orchestrators available")

    async def _first_discovery(self, key, selector: AISessionSelector, caps) -> None:
        """go makes a selector with its first discovery under its session manager's lock, so a
        burst of first requests for a model waits for that one discovery (and one PM session per
        orchestrator) instead of each starting its own."""
        if selector.last_refresh is not None:
            return
        task = self.selector_refreshes.get(key)
        if task is None:
            async def refresh() -> None:
                try:
                    selector.refresh(time.monotonic(), await self.discover(caps, selector.suspender.suspended))
                finally:
                    self.selector_refreshes.pop(key, None)

            task = self.selector_refreshes[key] = asyncio.ensure_future(refresh())
        await asyncio.shield(task)

    async def _submit_ai(self, session: Session, pipeline, body, content_type, units, caps, model_id,
                         stream: bool = False):
        """One try; `stream` (llm with "stream": true): the reply's server-sent events are relayed
        as they come (go's handleSSEStream)."""
        state: OrchInfo = session.info
        update = None
        try:
            state = session.info = await self._refreshed(state, caps)
            price = wire.price_per_pixel(state.info.price_info) or Fraction(0)
            manifest = selector_key(int(pipeline_capability(pipeline)), model_id)  # go's AI accounting key
            payment, update = self._payment(state, units * price, manifest)
            headers = {**self._headers(self._ai_seg_creds(state, manifest, caps), payment), "Content-Type": content_type,
                       "Authorization": AI_AUTHORIZATION}
            t0 = time.monotonic()
            reply = await self.hop.post(f"{state.info.transcoder}/{pipeline}", _content(body),
                                        {**headers, "Content-Length": str(_length(body))}, stream=stream)
            if stream and reply.status_code != 200:
                await reply.aread()
                await reply.aclose()
        except PaymentError as exc:
            self.metrics.payment_create_errors.inc()
            self._settle(update, None)
            return f"payment error: {exc}", None
        except (*HTTP_ERRORS, grpc.RpcError) as exc:
            self._settle(update, None)
            return f"{type(exc).__name__}: {exc}", None
        self.metrics.ai_request_latency.labels(pipeline, self._model_label(model_id)).observe(time.monotonic() - t0)
        if reply.status_code != 200:
            self._settle(update, Fraction(0), spent=True)
            if pipeline == "llm":  # go's submitLLM: not "returned 400", so never a bad request
                return f"unexpected status code: {reply.status_code}, body: {reply.text[:200]}", None
            return f"returned {reply.status_code}: {reply.text[:200]}", None
        self._settle(update, units * (wire.price_per_pixel(state.info.price_info) or Fraction(0)))
        if stream:
            return None, (_sse_chunks(reply), "text/event-stream")
        return None, (reply.content, reply.headers.get("content-type", "application/json"))

    def _settle(self, update, debit: Fraction | None, spent: bool = False) -> None:
        if update is None:
            return
        if debit is not None and not spent:
            update.status, update.debit = UpdateStatus.RECEIVED_CHANGE, debit
        elif spent:
            update.status = UpdateStatus.CREDIT_SPENT
        complete_update(self.balances, update)

    # ------------------------------------------------------------------ transcoding

    async def transcode(self, manifest_id: str, seq: int, data: bytes, duration: float,
                        profiles: tuple[VideoProfile, ...]) -> list[tuple[str, bytes]]:
        """Transcode one ingested segment: (rendition name, bytes) per profile; GatewayError 503
        when no orchestrator is available, 500/422 when every attempt failed.

        With local verification (`-localVerify`) each successful reply is checked as go's
        downloadResults/verify do (node.core.verification): the session is completed first, then a
        retryable failure ("PixelMismatch") drops the orchestrator from the pool (no suspension)
        and the attempt counts as failed; after more than 2 failed verifications of the segment
        the best retryable result is accepted."""
        self.metrics.segment_source_appeared.inc()
        self.check_funds()
        await self.refresh_pool()
        caps = job_capabilities(profiles)
        self._use("stream", manifest_id)
        sessions = self.streams.get(manifest_id)
        if sessions is None:
            sessions = self.streams[manifest_id] = TranscodeSessions(0, len(self.orch_addrs), choose_unknown=self._choose)
        pool = sessions.untrusted
        if pool.needs_refresh() or pool.refresh_wanted or manifest_id in self.stream_refreshes:
            await self._refresh_stream(manifest_id, pool, caps)
        attempts = SegmentAttempts(self.max_attempts)
        verifier = SegmentVerifier() if self.local_verify else None  # go: one per segment
        started = time.monotonic()
        while True:
            session = sessions.select(time.monotonic())
            if session is None:
                raise GatewayError(503, "No sessions available")
            pool.push_in_flight(session, time.monotonic(), duration)
            t0 = time.monotonic()
            error, result = await self._submit_segment(session, manifest_id, seq, data, duration, profiles, caps)
            verdict = None
            if error is None:
                sessions.complete(session, latency_score(time.monotonic() - t0, duration))
                if verifier is not None:
                    verdict = await self._verify(verifier, result, session)
                    if verdict.drop:  # go's removeSession: out of the pool, not suspended
                        sessions.drop(session)
                    if verdict.accepted is not None:
                        result = verdict.accepted  # this result, or an earlier one once retries are spent
                    else:
                        error = str(verdict.error)
            action = attempts.record(error)
            if action is SegmentAction.DONE:
                self.metrics.transcode_overall_latency.observe(time.monotonic() - started)
                self.metrics.segment_transcoded.inc()
                return result.payload
            self.metrics.segment_transcode_failed.labels("retryable" if action is SegmentAction.RETRY else "final").inc()
            if verdict is None:  # a submission failure; a failed verification was handled above
                sessions.fail(session, error)
            if action is not SegmentAction.RETRY:
                raise GatewayError(422 if "max transcode attempts" in str(attempts.error) else 500, str(attempts.error))
            self.metrics.orchestrator_swaps.inc()

    async def _refresh_stream(self, manifest_id: str, pool, caps) -> None:
        """Discover for a stream's pool; a segment that arrives while a discovery is under way waits
        for it instead of finding the pool empty (a stream's first segments come together)."""
        task = self.stream_refreshes.get(manifest_id)
        if task is None:
            if pool.begin_refresh() is None:
                return

            async def refresh() -> None:
                found = []
                try:
                    found = await self.discover(caps, pool.suspender.suspended)
                finally:
                    pool.end_refresh(found)
                    self.stream_refreshes.pop(manifest_id, None)

            task = self.stream_refreshes[manifest_id] = asyncio.ensure_future(refresh())
        await asyncio.shield(task)

    async def _verify(self, verifier: SegmentVerifier, result: SegmentResult, session: Session) -> Verdict:
        """go's verify: the signature (on-chain), then each rendition decoded and its pixels counted
        against the reported ones; the policy says what to do."""
        verdict = await asyncio.to_thread(verifier.verify, result, lambda: _count_pixels(result.renditions))
        if verdict.error is not None:
            log.warning("verification of a segment from %s failed: %s%s", session.uri, verdict.error,
                        "; accepting the best result" if verdict.accepted is not None else "")
        return verdict

    async def _submit_segment(self, session, manifest_id, seq, data, duration, profiles, caps):
        """One attempt: (error, None) or (None, SegmentResult whose payload is the renditions as
        (profile name, bytes))."""
        state: OrchInfo = session.info
        update = None
        try:
            state = session.info = await self._refreshed(state, caps)
            price = wire.price_per_pixel(state.info.price_info)
            fee = estimate_transcode_fee(profiles, duration, price) or Fraction(0)
            payment, update = self._payment(state, fee, state.info.auth_token.session_id)
            md = SegMetadata(manifest_id, seq, keccak(data), profiles, duration, caps, state.info.auth_token)
            headers = {**self._headers(md, payment), "Content-Type": "video/MP2T"}
            reply = await self.hop.post(f"{state.info.transcoder}/segment", data, headers,
                                        timeout=segment_http_timeout(duration))  # go: max(8 s, 4 x duration)
        except PaymentError as exc:
            self._settle(update, None)
            return f"payment error: {exc}", None
        except HTTP_ERRORS as exc:
            self._settle(update, None)
            return f"{type(exc).__name__}: {exc}", None
        if reply.status_code != 200:
            self._settle(update, None, spent=True)
            return f"{reply.status_code}: {reply.text[:200]}", None
        result = pb.TranscodeResult.FromString(reply.content)
        if result.HasField("info"):
            session.info = self._renew(state, replace(wire.orchestrator_info_from_proto(result.info),
                                                      auth_token=state.info.auth_token))
        if result.WhichOneof("result") == "error":
            self._settle(update, None, spent=True)
            return result.error, None
        # go debits the reported pixels before downloading or verifying anything
        pixels = sum(s.pixels for s in result.data.segments)
        self._settle(update, Fraction(pixels) * (price or 0))
        renditions = [base64.b64decode(seg.url.split(",", 1)[1]) for seg in result.data.segments]
        info = session.info.info  # the OrchestratorInfo it answered with (go's updateSession)
        return None, SegmentResult(
            renditions, [seg.pixels for seg in result.data.segments], sig=result.data.sig, address=info.address,
            ticket_recipient=info.ticket_params.recipient if info.ticket_params is not None else None,
            payload=[(profile.name, r) for profile, r in zip(profiles, renditions)])


async def _sse_chunks(reply):
    """go's handleSSEStream and LLM handler: each `data: ` line that parses as a chunk is sent on
    as `data: <json>` and a blank line; the relay stops after the chunk with a finish_reason
    (so the runner's closing `data: [DONE]` is not relayed), and unparsable lines are skipped."""
    try:
        async for line in reply.aiter_lines():
            if not line.startswith("data: "):
                continue
            try:
                chunk = json.loads(line[len("data: "):])
                finished = bool(chunk["choices"][0].get("finish_reason"))
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                continue
            yield f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()
            if finished:
                break
    finally:
        await reply.aclose()


def _content(body):
    """A request body for the HTTP client: bytes as they are; a file (a spooled upload) read from its start
    in chunks, so that each try sends it whole without holding it in memory."""
    if isinstance(body, (bytes, bytearray)):
        return body

    async def chunks():
        body.seek(0)
        while chunk := body.read(1 << 16):
            yield chunk

    return chunks()


def _length(body) -> int:
    if isinstance(body, (bytes, bytearray)):
        return len(body)
    body.seek(0, 2)
    return body.tell()


def _count_pixels(renditions) -> tuple[list[int] | None, str | None]:
    """Decode each rendition and count its pixels (lpms' decoded pixels): (counts, None), or
    (None, the decoder's error) when one does not decode."""
    from node.worker.transcode import TranscodeError, count_pixels

    try:
        return [count_pixels(r) for r in renditions], None
    except TranscodeError as exc:
        return None, str(exc)
