"""The live runner's FastAPI app and `lpnode live-runner` (see the package docstring for the API).

States and /health as ai-runner's (status.py): OFFLINE → IDLE, LOADING, ERROR, every other state →
OK. A frame the pipeline fails on is dropped and reported (an error event, DEGRADED_INFERENCE); a
stream that goes to ERROR (a crash, or no output while input flows) is stopped and the pipeline
reloaded, as ai-runner's process guardian restarts its process, up to MAX_RESTARTS times; then
ERROR stays (go's worker restarts such a container). The orchestrator's health watch fails a
session whose runner leaves OK."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from .pipelines import LivePipeline, load_live_pipeline
from .status import ERROR, MAX_RESTARTS, PipelineStatus, health_of
from .stream import StreamStats, encoder_name, run_stream

log = logging.getLogger("lpnode.live")
STATUS_EVERY = 10.0      # seconds between status events (ai-runner's streamer)
GUARD_EVERY = 1.0        # seconds between state checks (ai-runner's process guardian)
STOP_TIMEOUT = 10.0      # a new start waits this long for the previous stream to stop, else 400
MAX_CONTROL_BYTES = 64 * 1024  # a bigger control message is refused (an error event), not parsed
KEEPALIVE = {"keep": "alive"}  # sent every 10 s by go-livepeer and the gateway SDK; ignored


def event_segment(event: dict, queue_event_type: str = "ai_stream_events") -> bytes:
    """One events-channel segment as ai-runner writes it."""
    return json.dumps({"event": {**event, "timestamp": int(time.time() * 1000)},
                       "queue_event_type": queue_event_type}).encode()


class LiveRunner:
    """One stream at a time, as ai-runner: a new start stops the previous stream first. `load`
    makes the pipeline anew for a restart (None: the same one is kept)."""

    def __init__(self, pipeline: LivePipeline, *, device: str | None = None,
                 load: Callable[[], LivePipeline] | None = None) -> None:
        self.pipeline = pipeline
        self.load = load
        self.codec = encoder_name(device)
        self.status: PipelineStatus | None = None
        self.task: asyncio.Task | None = None
        self.restarting: asyncio.Task | None = None

    def _status(self) -> PipelineStatus:
        if self.status is None:  # made on the running loop, whose clock it keeps
            now = asyncio.get_running_loop().time()
            self.status = PipelineStatus(self.pipeline.name, now)
            self.status.loaded(now)  # the pipeline was loaded before the app served
        return self.status

    @property
    def state(self) -> str:
        status = self._status()
        status.update(asyncio.get_running_loop().time())
        return status.state

    def health(self) -> str:
        return health_of(self.state)

    async def start(self, req: dict) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            done, _ = await asyncio.wait({self.task}, timeout=STOP_TIMEOUT)
            if not done:
                raise TimeoutError("previous stream did not stop")
        if self.restarting is not None and not self.restarting.done():  # the guardian is reloading
            done, _ = await asyncio.wait({self.restarting}, timeout=STOP_TIMEOUT)
            if not done:
                raise TimeoutError("pipeline is reloading")
        self._status().stream_started(asyncio.get_running_loop().time())
        self.task = asyncio.create_task(self._session(req))

    async def _session(self, req: dict) -> None:
        from node.net.trickle import TrickleError
        from node.net.trickle.client import TricklePublisher, TrickleSubscriber

        loop = asyncio.get_running_loop()
        status = self._status()
        params = dict(req.get("params") or {})
        sub = TrickleSubscriber(req["subscribe_url"])
        pub = TricklePublisher(req["publish_url"], "video/MP2T")
        events = TricklePublisher(req["events_url"], "application/json") if req.get("events_url") else None
        control = TrickleSubscriber(req["control_url"]) if req.get("control_url") else None
        outbox: asyncio.Queue = asyncio.Queue(maxsize=100)  # events beyond it are dropped
        latencies: list[float] = []  # ms, frames since the last status event
        firsts = {"in": False, "out": False}

        def emit(event: dict, kind: str = "ai_stream_events") -> None:
            if events is not None and not outbox.full():
                outbox.put_nowait(event_segment(event, kind))

        def trace(name: str) -> None:
            emit({"type": name, "stream_id": req.get("stream_id", ""),
                  "request_id": req.get("gateway_request_id", ""),
                  "manifest_id": req.get("manifest_id", "")}, "stream_trace")

        def status_event() -> dict:
            event = status.to_json(loop.time())
            lat = sorted(latencies)
            # lpsim addition to ai-runner's status: per-frame latency (decoded → encoded, ai-runner's
            # frame_init → frame_end) over the frames since the last status event
            event["inference_status"]["latency_ms"] = (
                {"frames": len(lat), "p50": lat[len(lat) // 2], "p95": lat[min(len(lat) - 1, int(len(lat) * 0.95))]}
                if lat else {"frames": 0})
            event["last_status_timestamp"] = int(time.time() * 1000)
            latencies.clear()
            status.last_params = None  # reported once, as ai-runner
            return event

        async def segments():
            async for seg in sub:
                data = await seg.read()
                if not firsts["in"]:
                    firsts["in"] = True
                    trace("runner_receive_first_ingest_segment")
                yield data

        async def sink(data: bytes) -> None:
            await pub.write(data)
            if not firsts["out"]:
                firsts["out"] = True
                trace("runner_send_first_processed_segment")

        def on_error(exc: Exception) -> None:
            """ai-runner reports a failed frame and goes on; one error event a second at most."""
            now = loop.time()
            quiet = status.last_error_time is None or now - status.last_error_time >= GUARD_EVERY
            status.error(f"Error processing frame: {exc!r}", now)
            if quiet:
                log.warning("live: frame failed: %r", exc)
                emit({"type": "error", "pipeline": status.pipeline, "message": status.last_error,
                      "time": int(time.time() * 1000)})

        def on_frame(latency: float, stats: StreamStats) -> None:
            status.output_frame(loop.time())
            latencies.append(round(latency * 1000, 3))

        async def write_events() -> None:
            while True:
                await events.write(await outbox.get())

        async def report_status() -> None:
            while True:
                await asyncio.sleep(STATUS_EVERY)
                emit(status_event())

        async def guard() -> None:
            while True:
                await asyncio.sleep(GUARD_EVERY)
                if status.update(loop.time()) or status.state == ERROR:
                    return  # input gone too long, or ERROR: the stream stops

        async def read_control() -> None:
            async for seg in control:
                data = await seg.read(MAX_CONTROL_BYTES)
                if data is None:
                    self._error(status, emit, f"control message over {MAX_CONTROL_BYTES} bytes refused")
                    continue
                try:
                    update = json.loads(data or b"{}")
                except ValueError:
                    self._error(status, emit, "control message is not JSON")
                    continue
                if update == KEEPALIVE or not isinstance(update, dict):
                    continue
                params.clear()  # ai-runner takes each message as the complete params
                params.update(update)
                status.params_updated(dict(update), loop.time())

        helpers = [loop.create_task(report_status())]
        if events is not None:
            helpers.append(loop.create_task(write_events()))
        if control is not None:
            helpers.append(loop.create_task(read_control()))
        trace("runner_receive_stream_request")
        stream = loop.create_task(run_stream(segments(), sink, self.pipeline, lambda: params,
                                             on_frame=on_frame, on_input=lambda: status.input_frame(loop.time()),
                                             on_error=on_error, codec=self.codec))
        guardian = loop.create_task(guard())
        try:
            await asyncio.wait({stream, guardian}, return_when=asyncio.FIRST_COMPLETED)
            # a trickle error (EndOfStream, or the output channel closed under a write): the
            # orchestrator ended the session or is gone, a normal end that leaves the runner IDLE
            # for the next stream, not a pipeline error
            if stream.done() and stream.exception() is not None and not isinstance(stream.exception(), TrickleError):
                exc = stream.exception()
                log.error("live stream failed: %r", exc, exc_info=exc)
                status.fail(repr(exc), loop.time())
                emit({"type": "error", "pipeline": status.pipeline, "message": repr(exc),
                      "time": int(time.time() * 1000)})
        finally:
            for t in (stream, guardian):
                t.cancel()
            await asyncio.gather(stream, guardian, return_exceptions=True)
            status.streaming = False
            status.update(loop.time())
            restart = status.state == ERROR and status.restart_count < MAX_RESTARTS
            if restart:
                log.error("live pipeline in ERROR, stream stopped, restarting (%d before)", status.restart_count)
                emit({"type": "restart", "pipeline": status.pipeline, "restart_count": status.restart_count + 1,
                      "restart_time": int(time.time() * 1000), "restart_logs": None})
            for t in helpers:
                t.cancel()
            if events is not None:
                with contextlib.suppress(Exception):  # the events channel may be gone already
                    while not outbox.empty():
                        await events.write(outbox.get_nowait())
                    await events.write(event_segment(status_event()))
            for closer in (pub, events, sub, control):
                if closer is not None:
                    with contextlib.suppress(Exception):
                        await closer.close()
            if restart:  # its own task: a new start waits for it, never cancels it half-loaded
                self.restarting = asyncio.get_running_loop().create_task(self._restart(status))

    async def _restart(self, status: PipelineStatus) -> None:
        """ai-runner's _restart_process: LOADING while the pipeline is made anew, then ready."""
        loop = asyncio.get_running_loop()
        status.restarted(loop.time())
        try:
            if self.load is not None:
                self.pipeline = await asyncio.to_thread(self.load)
        except Exception as exc:
            log.exception("live pipeline reload failed")
            status.fail(f"reload failed: {exc!r}", loop.time())
            return
        status.loaded(loop.time())
        status.update(loop.time())

    @staticmethod
    def _error(status: PipelineStatus, emit, message: str) -> None:
        log.warning("live: %s", message)
        now = asyncio.get_running_loop().time()
        status.error(message, now)
        emit({"type": "error", "pipeline": status.pipeline, "message": message, "time": int(time.time() * 1000)})


def create_app(runner: LiveRunner) -> FastAPI:
    app = FastAPI(title="lpsim live runner")

    @app.get("/health")
    async def health():
        return {"status": runner.health()}

    @app.post("/live-video-to-video")
    async def start(req: dict):
        missing = [k for k in ("subscribe_url", "publish_url") if not req.get(k)]
        if missing:
            return JSONResponse({"detail": {"msg": f"missing {', '.join(missing)}"}}, status_code=400)
        if runner.state == ERROR:
            return JSONResponse({"detail": {"msg": f"pipeline error: {runner.status.last_error}"}}, status_code=500)
        try:
            await runner.start(req)
        except TimeoutError as exc:
            return JSONResponse({"detail": {"msg": f"Error starting stream: {exc}"}}, status_code=400)
        return {"status": "ok"}

    app.state.runner = runner
    return app


def main(argv: Sequence[str] | None = None) -> int:
    import os

    p = argparse.ArgumentParser(prog="lpnode live-runner", description=__doc__)
    p.add_argument("-pipeline", "--pipeline", default="noop")
    p.add_argument("-modelId", "--model-id", dest="model_id", default="")
    p.add_argument("-modelsDir", "--models-dir", dest="models_dir", default=None)
    p.add_argument("-device", "--device", default=None)
    p.add_argument("-host", "--host", default="127.0.0.1")
    p.add_argument("-port", "--port", type=int, default=8000, help="0: any free port (printed)")
    p.add_argument("-readyFile", "--ready-file", dest="ready_file", default=None,
                   help="write JSON {\"url\": ...} here once listening")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO)
    def load() -> LivePipeline:
        return load_live_pipeline(args.pipeline, args.model_id, args.models_dir, args.device)

    runner = LiveRunner(load(), device=args.device, load=load)
    return asyncio.run(_serve(create_app(runner), args))


async def _serve(app: FastAPI, args) -> int:
    import socket

    import uvicorn

    from node.launch import write_ready_file

    sock = socket.socket()
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    url = f"http://{args.host}:{port}"
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    print(f"live runner serving {url}", flush=True)
    if args.ready_file:
        write_ready_file(args.ready_file, {"url": url})
    await serving
    return 0
