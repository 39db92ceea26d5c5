"""The live runner's FastAPI app and `lpnode live-runner` (see the package docstring for the API).

States as ai-runner's: LOADING while the pipeline loads, IDLE with no stream, OK while a stream
runs, ERROR once the pipeline has crashed (sticky; the orchestrator's health watch fails the
session)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from .pipelines import LivePipeline, load_live_pipeline
from .stream import StreamStats, encoder_name, run_stream

log = logging.getLogger("lpnode.live")
EVENT_EVERY = 1.0  # seconds between status events


class LiveRunner:
    def __init__(self, pipeline: LivePipeline, *, device: str | None = None) -> None:
        self.pipeline = pipeline
        self.codec = encoder_name(device)
        self.state = "IDLE"
        self.error = ""
        self.tasks: set[asyncio.Task] = set()

    def health(self) -> str:
        return self.state

    async def start(self, req: dict) -> None:
        task = asyncio.create_task(self._session(req))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _session(self, req: dict) -> None:
        from node.net.trickle.client import TricklePublisher, TrickleSubscriber

        loop = asyncio.get_running_loop()
        params = dict(req.get("params") or {})
        sub = TrickleSubscriber(req["subscribe_url"])
        pub = TricklePublisher(req["publish_url"], "video/MP2T")
        events = TricklePublisher(req["events_url"], "application/json") if req.get("events_url") else None
        control = TrickleSubscriber(req["control_url"]) if req.get("control_url") else None
        pending: list[dict] = []
        last_status = [0.0]

        async def segments():
            async for seg in sub:
                yield await seg.read()

        def on_frame(latency: float, stats: StreamStats) -> None:
            pending.append({"type": "frame_latency", "latency_ms": round(latency * 1000, 3),
                            "frame": stats.frames_out})
            if loop.time() - last_status[0] >= EVENT_EVERY:
                last_status[0] = loop.time()
                pending.append(self._status_event(req, stats))

        async def flush_events() -> None:
            while events is not None:
                await asyncio.sleep(0.2)
                if pending:
                    batch, pending[:] = list(pending), []
                    await events.write("".join(json.dumps(e) + "\n" for e in batch).encode())

        async def read_control() -> None:
            async for seg in control:
                try:
                    update = json.loads(await seg.read() or b"{}")
                except ValueError:
                    log.warning("live control: not JSON, ignored")
                    continue
                if isinstance(update, dict):
                    params.update(update.get("params", update))

        helpers = [loop.create_task(flush_events())]
        if control is not None:
            helpers.append(loop.create_task(read_control()))
        self.state = "OK" if self.state != "ERROR" else self.state
        stats = StreamStats()
        try:
            stats = await run_stream(segments(), pub.write, self.pipeline, lambda: params,
                                     on_frame=on_frame, codec=self.codec)
        except Exception as exc:
            log.exception("live stream failed")
            self.state, self.error = "ERROR", repr(exc)
        finally:
            if self.state != "ERROR" and len(self.tasks) <= 1:
                self.state = "IDLE"
            for t in helpers:
                t.cancel()
            if events is not None:
                pending.append(self._status_event(req, stats))
                with contextlib.suppress(Exception):  # the events channel may be gone already
                    await events.write("".join(json.dumps(e) + "\n" for e in pending).encode())
            for closer in (pub, events, sub, control):
                if closer is not None:
                    with contextlib.suppress(Exception):
                        await closer.close()

    def _status_event(self, req: dict, stats: StreamStats) -> dict:
        return {"type": "status", "state": self.state, "stream_id": req.get("stream_id", ""),
                "manifest_id": req.get("manifest_id", ""), "frames_in": stats.frames_in,
                "frames_out": stats.frames_out, "dropped_frames": stats.dropped,
                "last_error": self.error, "timestamp": int(time.time() * 1000)}


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
        if runner.state == "ERROR":
            return JSONResponse({"detail": {"msg": f"pipeline error: {runner.error}"}}, status_code=500)
        await runner.start(req)
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
    runner = LiveRunner(load_live_pipeline(args.pipeline, args.model_id, args.models_dir, args.device),
                        device=args.device)
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
