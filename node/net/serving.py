"""Starting an ASGI app under uvicorn and learning its real port (port 0 works everywhere)."""
from __future__ import annotations

import asyncio
import socket
import threading
import time


def reserve_port(host: str) -> socket.socket:
    """A socket bound to a free port of `host`, held until a server listens on it (pass it as
    `sock`): a server that must know its port before it serves (an orchestrator registers its
    URI first) keeps it, where a probe socket closed at once could see the port taken meanwhile
    by another listener or an outgoing connection's ephemeral source port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    return sock


def bound_port(server) -> int:
    """The port a started uvicorn server listens on."""
    return server.servers[0].sockets[0].getsockname()[1]


async def start_serving(server) -> tuple[asyncio.Task, int | None]:
    """Run `server.serve()` on the running loop until it listens: (its task, its port). The port is
    None when the task ended first: it could not bind, and uvicorn has logged why."""
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            return task, None
        await asyncio.sleep(0.01)
    return task, bound_port(server)


def serve_in_thread(app, host: str = "127.0.0.1") -> tuple[object, int]:
    """Run an ASGI app under uvicorn in a daemon thread on an ephemeral port; (server, port)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="on"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server, bound_port(server)


def http_protocol(server):
    """A factory of the started uvicorn `server`'s connection protocol, for connections accepted
    elsewhere (node.net.demux hands its HTTP/1.1 ones over): served by the same app, counted
    among the server's connections and closed with them at shutdown."""
    config = server.config

    def make():
        return config.http_protocol_class(config=config, server_state=server.server_state,
                                          app_state=server.lifespan.state)

    return make
