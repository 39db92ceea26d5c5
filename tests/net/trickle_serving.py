"""Serving a TrickleServer on a real loopback socket (uvicorn, port 0) for the trickle tests."""
from __future__ import annotations

import asyncio
import contextlib


def run(coro, timeout: float = 30.0):
    """Run one test scenario on a fresh loop; a hang fails within `timeout` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Counting:
    """ASGI wrapper counting requests by (method, path), to see preconnects and refreshes."""

    def __init__(self, app) -> None:
        self.app = app
        self.requests: list[tuple[str, str]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.requests.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def served(app, trickle=None, ssl_files: tuple[str, str] | None = None):
    """Yield the base URL of `app` served on 127.0.0.1; on exit close `trickle`'s channels (so
    that no reader holds the server open) and stop."""
    import uvicorn

    kw = {"ssl_certfile": ssl_files[0], "ssl_keyfile": ssl_files[1]} if ssl_files else {}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off",
                                           timeout_graceful_shutdown=2, **kw))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{'https' if ssl_files else 'http'}://127.0.0.1:{port}"
    finally:
        if trickle is not None:
            await trickle.stop()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task


@contextlib.asynccontextmanager
async def channel_served(name: str | None = "s", mime: str = "video/MP2T", counting: bool = False, **kw):
    """A TrickleServer with channel `name` created (None: none), served (through Counting when
    `counting`); yields (trickle server, served app, base URL)."""
    from node.net.trickle import TrickleServer

    ts = TrickleServer()
    if name is not None:
        ts.create_channel(name, mime)
    app = Counting(ts) if counting else ts
    async with served(app, ts, **kw) as base:
        yield ts, app, base


async def eventually(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)
