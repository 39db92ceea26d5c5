"""The BYOC worker: serves one `Capability` over HTTP and registers it with an orchestrator.

    app = create_app(ImageFilter(), token="s3cret")           # an ASGI app (FastAPI)
    await register(client, "https://o:8935", "orch-secret", cap.registration(url, token))

    lpnode byoc-worker --capability node.worker.byoc.examples:ImageFilter \\
        --orch-url https://127.0.0.1:8935 --orch-secret SECRET --port 9876

Routes: `POST /{path}` runs the handler (401 when a token is set and the request does not carry
`Authorization: Bearer <token>`), `GET /health`. At start the worker loads the capability, starts
listening, then registers (retrying until the orchestrator answers "ok"); it registers again every
`--reregister` seconds, because the orchestrator forgets a capability whose worker could not be
reached once (go's rule) and learns of it again only that way. On exit it unregisters.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import importlib
import logging
import signal
from collections.abc import Sequence

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from node.core.byoc import SSE_DONE, ExternalCapability

from .capability import (
    BatchRequest,
    Capability,
    CapabilityError,
    EventStream,
)
from .stream import StreamingCapability, Streams, stream_router

log = logging.getLogger("lpnode.byoc_worker")

REGISTER_PATH = "/capability/register"
UNREGISTER_PATH = "/capability/unregister"
REGISTER_RETRY = 1.0  # s between attempts while the orchestrator is unreachable
REREGISTER_INTERVAL = 30.0  # s
SHUTDOWN_GRACE = 2.0  # s


def create_app(capability: Capability, token: str = "") -> FastAPI:
    """The worker's HTTP app for `capability` (loaded already, or loaded by `serve`)."""
    app = FastAPI(title=f"BYOC worker: {capability.name}", docs_url=None, redoc_url=None)
    app.state.capability = capability

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse(capability.health())

    if isinstance(capability, StreamingCapability):  # /stream/* ahead of the batch catch-all
        streams = app.state.streams = Streams(capability)
        app.include_router(stream_router(streams, lambda request: not token or hmac.compare_digest(
            request.headers.get("authorization", ""), f"Bearer {token}")))
        app.router.on_shutdown.append(streams.stop_all)

    @app.post("/{path:path}")
    async def run(path: str, request: Request) -> Response:
        if token and not hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {token}"):
            return JSONResponse({"error": "invalid token"}, status_code=401)
        job = BatchRequest(path, await request.body(), request.headers.get("content-type", ""),
                           dict(request.headers))
        try:
            result = await capability.handle(job)
        except CapabilityError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        headers = {"X-Metadata": result.metadata} if result.metadata else {}
        if isinstance(result, EventStream):
            return StreamingResponse(_sse(result), media_type="text/event-stream", headers=headers)
        return Response(result.body, status_code=result.status, media_type=result.content_type, headers=headers)

    return app


async def _sse(stream: EventStream):
    async for event in stream.events:
        yield f"data: {event}\n\n"
    yield SSE_DONE


# ----------------------------------------------------------------------------- registration

async def register(client: httpx.AsyncClient, orch_url: str, secret: str, cap: ExternalCapability) -> None:
    """POST the capability to the orchestrator; RuntimeError with its answer when refused."""
    resp = await client.post(orch_url.rstrip("/") + REGISTER_PATH, content=cap.to_json(),
                             headers={"Authorization": secret, "Content-Type": "application/json"})
    if resp.status_code != 200:
        raise RuntimeError(f"registration refused: {resp.status_code} {resp.text.strip()}")


async def unregister(client: httpx.AsyncClient, orch_url: str, secret: str, name: str) -> None:
    resp = await client.post(orch_url.rstrip("/") + UNREGISTER_PATH, content=name.encode(),
                             headers={"Authorization": secret})
    if resp.status_code != 200:
        raise RuntimeError(f"unregistration refused: {resp.status_code} {resp.text.strip()}")


async def keep_registered(client: httpx.AsyncClient, orch_url: str, secret: str, cap: ExternalCapability, *,
                          interval: float = REREGISTER_INTERVAL, retry: float = REGISTER_RETRY,
                          registered: asyncio.Event | None = None) -> None:
    """Register now (retrying while the orchestrator cannot be reached), then again every
    `interval` seconds (0: never again). A refusal (bad secret, bad price) is not retried: it
    raises. Sets `registered` after the first success."""
    while True:
        try:
            await register(client, orch_url, secret, cap)
        except httpx.TransportError as exc:
            log.warning("orchestrator %s unreachable (%s); retrying in %.1fs", orch_url, exc, retry)
            await asyncio.sleep(retry)
            continue
        if registered is not None and not registered.is_set():
            log.info("registered capability %s at %s (worker %s)", cap.name, orch_url, cap.url)
            registered.set()
        if interval <= 0:
            return
        await asyncio.sleep(interval)


# ------------------------------------------------------------------------------------ serving

def load_capability(spec: str) -> Capability:
    """"module:Class" (or "module.Class") → an instance."""
    module, _, attr = spec.partition(":") if ":" in spec else spec.rpartition(".")
    cls = getattr(importlib.import_module(module), attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Capability)):
        raise SystemExit(f"--capability {spec}: not a node.worker.byoc.Capability subclass")
    return cls()


async def serve(capability: Capability, *, host: str, port: int, orch_url: str = "", secret: str = "",
                token: str = "", public_url: str = "", reregister: float = REREGISTER_INTERVAL,
                overrides: dict | None = None, stop: asyncio.Event | None = None) -> None:
    """Load, listen, register (when `orch_url` is given), serve until `stop` is set or the
    process is interrupted, then unregister."""
    import uvicorn

    from node.net.serving import start_serving

    await capability.load()
    # jobs still running at exit get SHUTDOWN_GRACE seconds (a hung handler must not keep it up)
    server = uvicorn.Server(uvicorn.Config(create_app(capability, token), host=host, port=port,
                                           log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=SHUTDOWN_GRACE))
    task, bound = await start_serving(server)
    if bound is None:
        raise SystemExit(f"byoc worker: could not listen on {host}:{port}")
    url = public_url or f"http://{host}:{bound}"
    print(f"byoc worker {capability.name} listening on {url}", flush=True)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with httpx.AsyncClient(timeout=10.0, verify=False) as client:  # go's workers skip verification
        failed: list[BaseException] = []
        keeper = None
        if orch_url:
            cap = capability.registration(url, token, **(overrides or {}))
            keeper = asyncio.create_task(keep_registered(client, orch_url, secret, cap, interval=reregister))

            def refused(t: asyncio.Task) -> None:
                if not t.cancelled() and t.exception() is not None:
                    failed.append(t.exception())
                    stop.set()

            keeper.add_done_callback(refused)
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if keeper is not None:
            keeper.cancel()
            if not failed:
                with contextlib.suppress(Exception):  # best effort: the orchestrator may be gone
                    await unregister(client, orch_url, secret, cap.name)
        server.should_exit = True
        await task
        if failed:
            raise SystemExit(f"byoc worker: {failed[0]}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lpnode byoc-worker",
                                description="Serve a BYOC capability and register it with an orchestrator.")
    p.add_argument("--capability", default="node.worker.byoc.examples:ImageFilter",
                   help="module:Class of a node.worker.byoc.Capability subclass (default: the image filter)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--url", default="", help="the URL the orchestrator reaches this worker at "
                   "(default http://HOST:PORT)")
    p.add_argument("--orch-url", default="", help="the orchestrator's service URL (https://host:8935)")
    p.add_argument("--orch-secret", default="", help="the orchestrator's -orchSecret")
    p.add_argument("--token", default="", help="a bearer token the orchestrator must send with jobs")
    p.add_argument("--name", help="register under this capability name")
    p.add_argument("--capacity", type=int, help="jobs at once (default: the capability's)")
    p.add_argument("--price-per-unit", type=int, help="wei (or --currency units) per second")
    p.add_argument("--price-scaling", type=int, help="price_per_unit is divided by this")
    p.add_argument("--currency", help='"" or wei, eth, or a currency with a price feed')
    p.add_argument("--reregister", type=float, default=REREGISTER_INTERVAL,
                   help="seconds between re-registrations (0: register once)")
    p.add_argument("--status-interval", type=float, default=None,
                   help="seconds between a stream's status events (streaming capabilities; default 10)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.orch_url and not args.orch_secret:
        _parser().error("--orch-url needs --orch-secret")
    overrides = {k: getattr(args, k) for k in ("name", "capacity", "price_per_unit", "price_scaling", "currency")
                 if getattr(args, k) is not None}
    capability = load_capability(args.capability)
    if args.status_interval is not None and isinstance(capability, StreamingCapability):
        capability.status_interval = args.status_interval
    asyncio.run(serve(capability, host=args.host, port=args.port, orch_url=args.orch_url,
                      secret=args.orch_secret, token=args.token, public_url=args.url,
                      reregister=args.reregister, overrides=overrides))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
