"""node.net.demux: one port, HTTP/1.1 served in-process by the HTTP server's own protocol (no
second hop), anything opening with the HTTP/2 preface piped to the gRPC port, and a connection
that never says what it is closed after FIRST_BYTES_TIMEOUT."""
import asyncio

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from node.net import demux
from node.net.serving import http_protocol, start_serving


async def whoami(request):
    return PlainTextResponse(f"http {request.url.path} from {request.client.host}")


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The stand-in gRPC backend: echoes what it gets, prefixed."""
    data = await reader.read(1 << 16)
    writer.write(b"grpc:" + data)
    await writer.drain()
    writer.close()


def run(scenario, first_bytes_timeout: float | None = None):
    async def main():
        server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/who", whoami)]), host="127.0.0.1", port=0,
                                               log_level="critical", lifespan="off"))
        task, _ = await start_serving(server)
        grpc = await asyncio.start_server(_echo, "127.0.0.1", 0)
        public = await demux.serve_demux("127.0.0.1", 0, http_protocol(server), grpc.sockets[0].getsockname()[1])
        try:
            await scenario(public.sockets[0].getsockname()[1], server)
        finally:
            public.close()
            grpc.close()
            server.should_exit = True
            await task

    old = demux.FIRST_BYTES_TIMEOUT
    if first_bytes_timeout is not None:
        demux.FIRST_BYTES_TIMEOUT = first_bytes_timeout
    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        demux.FIRST_BYTES_TIMEOUT = old


async def exchange(port: int, *parts: bytes, pause: float = 0.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for part in parts:
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(pause)
    data = await asyncio.wait_for(reader.read(1 << 16), 10)
    writer.close()
    return data


def test_http_is_served_in_process_even_when_its_first_bytes_come_one_at_a_time():
    async def scenario(port, server):
        request = b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        reply = await exchange(port, request)
        assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"http /who from 127.0.0.1")
        # "P" could begin the HTTP/2 preface: the demux waits for the byte that says otherwise
        reply = await exchange(port, b"P", b"OST /who HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n", pause=0.05)
        assert reply.startswith(b"HTTP/1.1 405")  # Starlette's answer for POST on a GET route: it got there
        assert not server.server_state.connections or all(c.transport.is_closing()
                                                           for c in server.server_state.connections)

    run(scenario)


def test_the_http2_preface_goes_to_the_grpc_port_whole():
    async def scenario(port, server):
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        assert await exchange(port, preface) == b"grpc:" + preface
        # in two parts: nothing is decided (or lost) until the preface is complete
        assert await exchange(port, preface[:5], preface[5:], pause=0.05) == b"grpc:" + preface

    run(scenario)


def test_a_silent_connection_is_closed():
    async def scenario(port, server):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the demux, nothing sent
        writer.close()

    run(scenario, first_bytes_timeout=0.2)
