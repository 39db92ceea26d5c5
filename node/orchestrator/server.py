"""The orchestrator's network surfaces on one port (node.net.demux): gRPC GetOrchestrator, Ping and
EndTranscodingSession, and the HTTP endpoints /segment, /payment, the batch AI routes (proxied to
the node's AI runners or sent to attached AI workers, which fetch a multipart request's input from
/stream/<request id>/<name> and post results to /aiResults), /metrics — with go-livepeer's status
codes and bodies.

The request handlers only translate between the wire and node.orchestrator.node, which applies
the protocol core; the work itself is done by a transcoder (node.worker.transcode) or by an AI
runner reached over HTTP (node.worker.ai, or any ai-runner compatible service).
"""
from __future__ import annotations

import asyncio
import dataclasses
import contextlib
import logging
import time
from typing import Callable

import grpc
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from node.core.ai_sessions import selector_key
from node.core.capabilities import batch_ai_job_capabilities, pipeline_capability
from node.core.errors import PaymentError
from node.core.keccak import keccak
from node.core.pricing import AIRequestError, orchestrator_ai_units
from node.core.verification import sign_renditions
from node.eth.errors import ChainError
from node.metrics import CONTENT_TYPE_LATEST
from node.net import limits, wire
from node.net.auth import sign, token_matches, verify_orchestrator_request
from node.net.exact_routes import index_exact_routes
from node.net.fast_path import serve_fast
from node.net.headers import (PAYMENT_HEADER, SEGMENT_HEADER, HeaderError, decode_payment_header, segment_to_proto,
                              verify_seg_creds)
from node.net.http_client import HTTP_ERRORS, HTTPClient
from node.net.proto import lp_rpc_pb2 as pb
from node.net.proto import lp_rpc_pb2_grpc as pb_grpc
from node.net.serving import http_protocol, start_serving
from node.net.trickle import TrickleServer

from .byoc import ByocOrchestrator, byoc_router
from .byoc_stream import ByocStreams, byoc_stream_router
from .live import PIPELINE as LIVE_PIPELINE
from .live import TRICKLE_PATH, LiveSessions, live_router
from .node import OrchestratorNode
from .remote import AUTH_TYPE as REMOTE_AUTH
from .remote import ERROR_MIME as REMOTE_ERROR_MIME
from .remote import AI_AUTH_TYPE as AI_AUTH
from .remote import (AI_ERROR_MIME, AI_INPUT_PATH, AI_MULTIPART_FIELDS, RemoteAIWorkers, RemoteTranscoders,
                     ai_request_from_form, ai_result_from_multipart, parse_multipart)

log = logging.getLogger("lpnode.orchestrator")

AI_JSON_ROUTES = ("text-to-image", "llm", "text-to-speech")
AI_MULTIPART_ROUTES = ("image-to-image", "image-to-video", "upscale", "audio-to-text", "segment-anything-2",
                       "image-to-text")
RUNNER_TIMEOUT = 15 * 60.0  # remote AI worker request timeout
_RUNNING: set = set()


def info_proto(node: OrchestratorNode, offer) -> pb.OrchestratorInfo:
    return wire.orchestrator_info_to_proto(wire.OrchestratorInfo(
        transcoder=offer.transcoder, address=offer.address, ticket_params=offer.ticket_params,
        price_info=offer.price, capabilities=offer.capabilities, auth_token=offer.auth_token))


class TranscoderService(pb_grpc.TranscoderServicer):
    def __init__(self, remote: RemoteTranscoders) -> None:
        self.remote = remote

    async def RegisterTranscoder(self, request: pb.RegisterRequest, context):
        try:
            async for notify in self.remote.serve(request, context.peer()):
                yield notify
        except (PermissionError, ValueError) as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, str(exc))


class AIWorkerService(pb_grpc.AIWorkerServicer):
    def __init__(self, workers: RemoteAIWorkers) -> None:
        self.workers = workers

    async def RegisterAIWorker(self, request: pb.RegisterAIWorkerRequest, context):
        try:
            async for notify in self.workers.serve(request, context.peer()):
                yield notify
        except PermissionError as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, str(exc))


class OrchestratorService(pb_grpc.OrchestratorServicer):
    def __init__(self, node: OrchestratorNode, private_key: bytes | None) -> None:
        self.node, self.key = node, private_key
        self.live: LiveSessions | None = None  # the HTTP app's live sessions (their runners' capacity)

    async def GetOrchestrator(self, request: pb.OrchestratorRequest, context) -> pb.OrchestratorInfo:
        node = self.node
        sender = wire.address_from_bytes(request.address) if request.address else ""
        if node.onchain and not verify_orchestrator_request(request.address, request.sig):
            await context.abort(grpc.StatusCode.UNKNOWN, "Invalid orchestrator request: orchestrator req sig check failed")
        if not request.ignoreCapacityCheck and node.at_capacity():
            await context.abort(grpc.StatusCode.UNKNOWN, "Invalid orchestrator request: OrchestratorCapped")
        caps = wire.capabilities_from_proto(wire.optional(request, "capabilities"))
        if self.live is not None and not request.ignoreCapacityCheck and self.live.capped(caps):
            await context.abort(grpc.StatusCode.UNKNOWN, "Invalid orchestrator request: OrchestratorCapped")
        try:
            offer = await asyncio.to_thread(node.offer, sender, caps if caps and caps.constraints else None)
        except (PaymentError, ChainError) as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, str(exc))
        if self.live is not None:  # go's setLiveAICapacity
            offer = dataclasses.replace(offer, capabilities=self.live.advertised(offer.capabilities))
        return info_proto(node, offer)

    async def Ping(self, request: pb.PingPong, context) -> pb.PingPong:
        return pb.PingPong(value=sign(request.value, self.key) if self.key else b"")

    async def EndTranscodingSession(self, request, context):
        token = wire.auth_token_from_proto(wire.optional(request, "auth_token"))
        if not token_matches(self.node.secret, token):
            await context.abort(grpc.StatusCode.UNKNOWN, "Invalid auth token")
        self.node.end_session(token.session_id)
        return pb.EndTranscodingSessionResponse()


def create_http_app(node: OrchestratorNode, *, transcode: Callable | None, runners: dict[str, str],
                    remote: RemoteTranscoders | None = None, ai_workers: RemoteAIWorkers | None = None,
                    private_key: bytes | None = None, byoc_secret: str | None = None,
                    fast_path: bool = True) -> FastAPI:
    """`transcode(segment bytes, profiles) -> list[(bytes, pixels)]` runs a segment locally (None:
    this orchestrator does not transcode); `runners` maps a pipeline to its AI runner's base URL;
    `private_key` (on-chain) signs each segment's renditions (TranscodeData.sig); `fast_path`
    serves the paid routes without FastAPI's per-request work (node.net.fast_path; same answers)."""
    app = FastAPI(title="lpnode orchestrator")
    ai_limit = limits.MAX_UPLOAD + limits.MULTIPART_OVERHEAD
    limits.guard_app(app, limits.limit_by_prefix(
        limits.MAX_SMALL_BODY, segment=limits.MAX_SEGMENT_BYTES, transcodeResults=limits.MAX_SEGMENT_BYTES,
        aiResults=limits.MAX_SEGMENT_BYTES, **{r: ai_limit for r in AI_JSON_ROUTES + AI_MULTIPART_ROUTES},
        **{TRICKLE_PATH.strip("/"): limits.MAX_SEGMENT_BYTES, "process/request/": limits.MAX_UPLOAD}),
        unavailable=(ChainError,), streamed=(TRICKLE_PATH,))
    client = app.state.runner_client = httpx.AsyncClient(timeout=RUNNER_TIMEOUT)
    runner_hop = app.state.runner_hop = HTTPClient(RUNNER_TIMEOUT)  # the batch AI requests (node.net.http_client)
    metrics = node.metrics

    def credentials(request: Request, compatible=lambda caps: True):
        """Payment then seg creds, as go's order of checks: (payment, segment metadata)."""
        payment = decode_payment_header(request.headers.get(PAYMENT_HEADER, ""))
        md = verify_seg_creds(request.headers.get(SEGMENT_HEADER, ""), payment.sender, compatible=compatible,
                              secret=node.secret, now=time.time(), check_capacity=node.check_capacity,
                              offchain=not node.onchain)
        return payment, md

    def pay(payment, session, job_caps=None) -> Response | None:
        got = node.process_payment(payment, session)
        if got.error is not None:
            return PlainTextResponse(str(got.error), status_code=400)
        if not node.sufficient_balance(payment.sender or "", session, job_caps):
            return PlainTextResponse("Insufficient balance", status_code=400)
        return None

    async def locally(local: bool, work, *args):
        """`work(*args)` (the node's payment bookkeeping) on the loop when it is `local` (it needs
        nothing from the chain that the node's view lacks) and no thread holds the node's state (a
        redemption may hold it for seconds); on a thread otherwise. A thread hop costs ~0.15 ms."""
        if local and node.lock.acquire(blocking=False):
            try:
                return work(*args)
            finally:
                node.lock.release()
        return await asyncio.to_thread(work, *args)

    def refreshed_info(payment, session) -> pb.OrchestratorInfo:
        price, params = node.fresh_params(payment.sender or "", session)
        return wire.orchestrator_info_to_proto(wire.OrchestratorInfo(
            transcoder=node.config.service_uri, address=node.address, ticket_params=params, price_info=price,
            capabilities=node.capabilities))

    # live video-to-video: the session route and its trickle channels (node.orchestrator.live)
    trickle = app.state.trickle = TrickleServer()
    live = app.state.live = LiveSessions(node, trickle, runner_url=runners.get(LIVE_PIPELINE), client=client)
    app.include_router(live_router(live, credentials))
    app.mount(TRICKLE_PATH.rstrip("/"), trickle)

    # BYOC: capabilities registered by workers with the orchestrator secret (node.orchestrator.byoc)
    if byoc_secret is None:  # -orchSecret, as the remote transcoders and AI workers use it
        byoc_secret = remote.secret if remote is not None else ""
    byoc = app.state.byoc = ByocOrchestrator(node, byoc_secret)
    app.include_router(byoc_router(byoc))
    # BYOC streams on the same trickle server (node.orchestrator.byoc_stream)
    byoc_streams = app.state.byoc_streams = ByocStreams(byoc, trickle)
    app.include_router(byoc_stream_router(byoc_streams))

    @app.post("/segment")
    async def segment(request: Request):
        try:
            payment, md = credentials(request)
        except HeaderError as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        metrics.segment_source_appeared.inc()
        session = md.auth_token.session_id
        refused = await locally(node.payment_is_local(payment, session), pay, payment, session)
        if refused is not None:
            return refused
        data = await request.body()
        if keccak(data) != md.hash and md.hash != b"\x00" * 32:
            return PlainTextResponse("Forbidden", status_code=403)
        result = pb.TranscodeResult(seq=md.seq)
        if transcode is None and not remote:
            result.error = "no transcoder available"
        elif not node.use_session(session):  # every slot held by other running sessions
            result.error = "OrchestratorCapped"
        else:
            started = time.perf_counter()
            outputs = None
            try:
                if remote:  # attached transcoders first, as go's orchestrator does
                    outputs = await remote.transcode(data, segment_to_proto(md), md.duration)
                else:
                    outputs = await asyncio.to_thread(transcode, data, md.profiles)
            except Exception as exc:  # noqa: BLE001 - the error goes back in the result, as go does
                metrics.segment_transcode_failed.labels(type(exc).__name__).inc()
                result.error = str(exc)
            else:
                metrics.transcode_time.observe(time.perf_counter() - started)
                # go's transcodeSeg: one rendition per profile, each at least 25 bytes
                if len(outputs) != len(md.profiles):
                    result.error = "MismatchedSegments"
                elif any(len(segment_bytes) < 25 for segment_bytes, _ in outputs):
                    result.error = "ZeroSegments"
            if outputs is not None and not result.error:
                metrics.segment_transcoded.inc()
                pixels = sum(p for _, p in outputs)
                sender = payment.sender or ""
                await locally(node.debit_is_local(sender, session), node.debit, sender, session, pixels)
                for i, (segment_bytes, px) in enumerate(outputs):
                    result.data.segments.add(url=f"data:video/MP2T;base64,{_b64(segment_bytes)}", pixels=px)
                if node.onchain and private_key:  # go signs only with an Ethereum account
                    result.data.sig = sign_renditions([segment_bytes for segment_bytes, _ in outputs], private_key)
        result.info.CopyFrom(refreshed_info(payment, session))
        return Response(result.SerializeToString(), media_type="application/octet-stream")

    @app.get("/segment-data/{task}")
    async def segment_data(task: int):
        data = remote.segments.get(task) if remote else None
        if data is None:
            return PlainTextResponse("Not Found", status_code=404)
        return Response(data, media_type="video/MP2T")

    async def worker_result(request: Request, workers, auth: str, error_mime: str, parse) -> Response:
        """A remote worker's result upload (go's TranscodeResults / AIResults): the worker's
        auth type and the orchestrator's secret, a task id, then the result or the error."""
        if workers is None or request.headers.get("Authorization") != auth or \
                request.headers.get("Credentials") != workers.secret:
            return PlainTextResponse("Unauthorized", status_code=401)
        try:
            task = int(request.headers.get("TaskId", ""))
        except ValueError:
            return PlainTextResponse("Invalid Task ID", status_code=400)
        content_type = request.headers.get("Content-Type", "")
        body = await request.body()
        if content_type.startswith(error_mime):
            workers.result(task, None, body.decode(errors="replace"))
            return PlainTextResponse("OK")
        try:
            workers.result(task, parse(body, content_type.partition("boundary=")[2]), None)
        except ValueError as exc:
            workers.result(task, None, str(exc))
        return PlainTextResponse("OK")

    @app.post("/transcodeResults")
    async def transcode_results(request: Request):
        if remote is not None and request.headers.get("Content-Type", "").startswith("multipart/") and \
                not request.headers.get("Pixels", "").isdigit():
            return PlainTextResponse("Invalid Pixels", status_code=400)
        return await worker_result(request, remote, REMOTE_AUTH, REMOTE_ERROR_MIME, parse_multipart)

    @app.post("/aiResults")
    async def ai_results(request: Request):
        return await worker_result(request, ai_workers, AI_AUTH, AI_ERROR_MIME, ai_result_from_multipart)

    @app.get(AI_INPUT_PATH + "/{request_id}/{name}")
    async def ai_input(request_id: str, name: str):
        """A multipart AI request's input, for the remote AI worker running it (go serves it from
        its memory storage under /stream/): only while the task runs."""
        data = ai_workers.input(f"{request_id}/{name}") if ai_workers is not None else None
        if data is None:
            return PlainTextResponse("Not Found", status_code=404)
        return Response(data, media_type="application/octet-stream")

    @app.post("/payment")
    async def payment_only(request: Request):
        try:
            payment, md = credentials(request)
        except HeaderError as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        got = await asyncio.to_thread(node.process_payment, payment, md.manifest_id)
        if got.error is not None:
            return PlainTextResponse(str(got.error), status_code=400)
        result = pb.PaymentResult()
        result.info.CopyFrom(refreshed_info(payment, md.manifest_id))
        return Response(result.SerializeToString(), media_type="application/octet-stream")

    async def ai(pipeline: str, request: Request):
        try:
            payment, md = credentials(request)
        except HeaderError as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        runner = runners.get(pipeline)
        remote_ai = ai_workers is not None and ai_workers.serves(pipeline)
        if runner is None and not remote_ai:
            return JSONResponse({"error": {"message": f"pipeline {pipeline} not available"}}, status_code=400)
        body = await request.body()
        job = upload = None  # a multipart request's typed fields and its file, for remote AI workers
        try:
            if pipeline in AI_JSON_ROUTES:
                fields = limits.loads(body or b"{}")
                if not isinstance(fields, dict):
                    raise AIRequestError("request body must be a JSON object")
                # an LLM request names its model in `model` (go's ai_http.go reads v.Model)
                model = str(fields.get("model" if pipeline == "llm" else "model_id") or "")
                units = orchestrator_ai_units(pipeline, fields)
            else:
                units = 0  # multipart: counted from the runner's result below
                form, upload = await _multipart_job(pipeline, request, typed=remote_ai)
                job = form if remote_ai else None
                model = str(form.get("model_id") or "")
        except (AIRequestError, ValueError) as exc:
            return JSONResponse({"error": {"message": str(exc)}}, status_code=400)
        # go's batch AI accounting key, made here from the request (not the sender's header)
        cap = int(pipeline_capability(pipeline))
        session, job_caps = selector_key(cap, model), batch_ai_job_capabilities(cap, model)
        refused = await locally(node.payment_is_local(payment, session), pay, payment, session, job_caps)
        if refused is not None:
            return refused
        metrics.ai_models_requested.labels(pipeline, model).inc()
        started = time.perf_counter()
        try:
            if remote_ai:  # attached AI workers first, as go's orchestrator does
                try:
                    if job is not None:
                        result = await ai_workers.run(pipeline, job, input=upload,
                                                      service_uri=node.config.service_uri)
                    else:
                        result = await ai_workers.run(pipeline, body)
                except (RuntimeError, asyncio.TimeoutError) as exc:
                    metrics.ai_request_errors.labels(pipeline, model, "worker").inc()
                    return JSONResponse({"error": {"message": str(exc) or "AI worker timed out"}}, status_code=500)
                reply = httpx.Response(200, content=result, headers={"content-type": "application/json"})
            else:
                reply = await runner_hop.post(f"{runner}/{pipeline}", body,
                                              {"content-type": request.headers.get("content-type", "")})
        except (httpx.HTTPError, *HTTP_ERRORS) as exc:
            metrics.ai_request_errors.labels(pipeline, model, "runner").inc()
            return JSONResponse({"error": {"message": f"runner error: {exc}"}}, status_code=500)
        metrics.ai_request_latency.labels(pipeline, model).observe(time.perf_counter() - started)
        if reply.status_code != 200:
            metrics.ai_request_errors.labels(pipeline, model, str(reply.status_code)).inc()
            return Response(reply.content, status_code=reply.status_code,
                            media_type=reply.headers.get("content-type"))
        if not units:
            units = _units_from_result(pipeline, reply)
        sender = payment.sender or ""
        await locally(node.debit_is_local(sender, session), node.debit, sender, session, units, job_caps)
        return Response(reply.content, media_type=reply.headers.get("content-type"))

    for route in AI_JSON_ROUTES + AI_MULTIPART_ROUTES:
        app.add_api_route(f"/{route}", _route(ai, route), methods=["POST"])

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    index_exact_routes(app)  # the hot paid routes by dict, not a regex per route
    if fast_path:
        serve_fast(app, [f"/{r}" for r in AI_JSON_ROUTES + AI_MULTIPART_ROUTES] + ["/payment", "/segment"])
    return app


async def _multipart_job(pipeline: str, request: Request, typed: bool) -> tuple[dict, bytes | None]:
    """A multipart request's fields: typed, with the uploaded file, as go's orchestrator binds the
    form into its request body, for a remote AI worker (`typed`); else the form's text fields
    only (the body goes to the runner as it came). AIRequestError (400) when it cannot."""
    try:
        form = await request.form()
    except Exception as exc:  # noqa: BLE001 - a malformed body is the caller's mistake
        raise AIRequestError(f"invalid multipart body: {exc}") from None
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not typed:
        return fields, None
    file_field = AI_MULTIPART_FIELDS[pipeline][0]
    upload = form.get(file_field)
    if upload is None or isinstance(upload, str):
        raise AIRequestError(f"{file_field} field is required")
    data = await upload.read()
    try:
        return ai_request_from_form(pipeline, fields), data
    except ValueError as exc:
        raise AIRequestError(str(exc)) from None


def _units_from_result(pipeline: str, reply) -> int:
    """Units of a multipart request, from what the runner produced (image pixels; 1 otherwise)."""
    try:
        from node.worker.ai.media import decode_data_url, read_image

        image = reply.json()["images"][0]["url"]
        img = read_image(decode_data_url(image))
        return img.width * img.height
    except Exception:  # noqa: BLE001 - a result without an image is charged one unit
        return 1


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


async def serve_orchestrator(node: OrchestratorNode, host: str, port: int, *, private_key: bytes | None,
                             transcode: Callable | None, runners: dict[str, str],
                             remote: RemoteTranscoders | None = None, ai_workers: RemoteAIWorkers | None = None,
                             ssl_context=None, byoc_secret: str | None = None, fast_path: bool = True,
                             sock=None):
    """Start gRPC on a private port and HTTP behind one demuxed public port (TLS when ssl_context is
    given, node.net.tls; on `sock` when given: a socket node.net.serving.reserve_port bound to
    `port`): HTTP connections are served in this process by the HTTP server's protocol, gRPC ones
    piped to the gRPC server; returns a stopper."""
    import uvicorn

    from node.net.demux import serve_demux

    grpc_server = grpc.aio.server()
    service = OrchestratorService(node, private_key)
    pb_grpc.add_OrchestratorServicer_to_server(service, grpc_server)
    if remote is not None:
        pb_grpc.add_TranscoderServicer_to_server(TranscoderService(remote), grpc_server)
    if ai_workers is not None:
        pb_grpc.add_AIWorkerServicer_to_server(AIWorkerService(ai_workers), grpc_server)
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    await grpc_server.start()
    app = create_http_app(node, transcode=transcode, runners=runners, remote=remote, ai_workers=ai_workers,
                          private_key=private_key, byoc_secret=byoc_secret, fast_path=fast_path)
    service.live = app.state.live
    # no access log: at "warning" its lines were dropped, after formatting each request's (~0.5 % of the CPU)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", access_log=False)
    http_server = uvicorn.Server(config)
    http_task, _ = await start_serving(http_server)  # its own loopback port stays unused
    demux = await serve_demux(host, port, http_protocol(http_server), grpc_port, ssl_context, sock)
    _RUNNING.add(grpc_server)  # a grpc.aio server nobody references is collected and stops serving

    async def stop():
        _RUNNING.discard(grpc_server)
        demux.close()
        await app.state.live.close_all()
        await app.state.byoc_streams.close_all()
        await app.state.byoc.close()
        await app.state.trickle.stop()
        await app.state.runner_client.aclose()
        await app.state.runner_hop.aclose()
        http_server.should_exit = True
        with contextlib.suppress(Exception):
            await http_task
        await grpc_server.stop(0)

    return demux, stop


def _route(handler, pipeline: str):
    """A FastAPI endpoint for one pipeline (FastAPI reads the signature: `request` must be typed)."""
    async def endpoint(request: Request):
        return await handler(pipeline, request)

    endpoint.__name__ = pipeline.replace("-", "_")
    return endpoint
