"""node.net.http_client, the paid hops' HTTP/1.1 client, against a real uvicorn server: whole and
chunked replies, error statuses passed through, keep-alive reuse, a server that closes idle
connections, request bodies as bytes or as iterators (with and without a length), a reply before
the body is sent, streamed lines, TLS without verification, and each transport failure raised as
one of HTTP_ERRORS (refused, timed out, cut off, not HTTP)."""
from __future__ import annotations

import asyncio
import contextlib

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from node.net.http_client import HTTP_ERRORS, ConnectError, HTTPClient, ReadTimeout, ServerDisconnected
from tests.ports import free_port


def app() -> FastAPI:
    api = FastAPI()
    seen = api.state.connections = []

    @api.post("/echo")
    async def echo(request: Request):
        seen.append(request.scope["client"])
        body = await request.body()
        return Response(body, media_type=request.headers.get("content-type"),
                        headers={"x-length": request.headers.get("content-length", "none"),
                                 "x-chunked": request.headers.get("transfer-encoding", "none")})

    @api.post("/refuse")
    async def refuse(request: Request):
        return JSONResponse({"error": {"message": "no"}}, status_code=413)

    @api.post("/chunked")
    async def chunked(request: Request):
        async def parts():
            for i in range(3):
                yield f"data: {i}\n\n".encode()
                await asyncio.sleep(0.01)
        return StreamingResponse(parts(), media_type="text/event-stream")

    @api.post("/slow")
    async def slow(request: Request):
        await asyncio.sleep(1.0)
        return Response(b"late")

    return api


@contextlib.asynccontextmanager
async def served(ssl_files=None, keep_alive: float = 5):
    import uvicorn

    kwargs = {"ssl_certfile": ssl_files[0], "ssl_keyfile": ssl_files[1]} if ssl_files else {}
    server = uvicorn.Server(uvicorn.Config(app(), host="127.0.0.1", port=0, log_level="critical", lifespan="off",
                                           timeout_keep_alive=keep_alive, **kwargs))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{'https' if ssl_files else 'http'}://127.0.0.1:{port}", server.config.app.state.connections
    finally:
        server.should_exit = True
        await task


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_replies_whole_and_chunked_with_statuses_and_headers_and_connections_reused():
    async def scenario():
        async with served() as (base, connections):
            client = HTTPClient(10)
            r = await client.post(f"{base}/echo", b'{"a": 1}', {"content-type": "application/json"})
            assert (r.status_code, r.content, r.json()) == (200, b'{"a": 1}', {"a": 1})
            assert r.headers["Content-Type"] == r.headers["content-type"] == "application/json"
            assert r.headers["x-length"] == "8"
            refused = await client.post(f"{base}/refuse", b"x", {})
            assert refused.status_code == 413 and refused.json() == {"error": {"message": "no"}}
            streamed = await client.post(f"{base}/chunked", b"", {})  # read whole: the chunks joined
            assert streamed.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
            await asyncio.gather(*(client.post(f"{base}/echo", b"%d" % i, {}) for i in range(8)))
            for _ in range(5):
                await client.post(f"{base}/echo", b"again", {})
            assert len({c for c in connections}) <= 8  # kept alive: no new connection a request
            assert connections[-1] == connections[-2] == connections[-3]
            await client.aclose()
    run(scenario())


def test_bodies_from_iterators_with_and_without_a_length_and_a_reply_before_the_body_is_sent():
    async def parts(n, size=1000):
        for _ in range(n):
            yield b"x" * size
            await asyncio.sleep(0)

    async def scenario():
        async with served() as (base, _):
            client = HTTPClient(10)
            r = await client.post(f"{base}/echo", parts(5), {"Content-Length": "5000"})
            assert (r.content, r.headers["x-length"], r.headers["x-chunked"]) == (b"x" * 5000, "5000", "none")
            r = await client.post(f"{base}/echo", parts(3), {})
            assert (r.content, r.headers["x-chunked"]) == (b"x" * 3000, "chunked")
            # the server answers without reading a 64 MB body: the answer comes back, the rest is not sent
            r = await client.post(f"{base}/refuse", parts(1024, 1 << 16), {"Content-Length": str(1 << 26)})
            assert r.status_code == 413
            assert (await client.post(f"{base}/echo", b"next", {})).content == b"next"
            await client.aclose()
    run(scenario())


def test_streamed_lines_and_an_unread_stream_closes_its_connection():
    async def scenario():
        async with served() as (base, connections):
            client = HTTPClient(10)
            reply = await client.post(f"{base}/chunked", b"", {}, stream=True)
            assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
            assert [line async for line in reply.aiter_lines()] == ["data: 0", "", "data: 1", "", "data: 2", ""]
            await reply.aclose()
            await reply.aclose()  # twice: the connection goes back to the pool once
            assert sum(len(conns) for conns in client._idle.values()) == 1
            unread = await client.post(f"{base}/chunked", b"", {}, stream=True)
            await unread.aclose()  # not read to its end: the connection cannot take another request
            assert (await client.post(f"{base}/echo", b"ok", {})).content == b"ok"
            await client.aclose()
    run(scenario())


def test_a_connection_the_server_closed_while_idle_is_not_reused():
    async def scenario():
        async with served(keep_alive=0.2) as (base, connections):
            client = HTTPClient(10)
            await client.post(f"{base}/echo", b"1", {})
            await asyncio.sleep(0.5)  # the server closed it
            assert (await client.post(f"{base}/echo", b"2", {})).content == b"2"
            assert connections[0] != connections[1]
            await client.aclose()
    run(scenario())


def test_failures_are_http_errors():
    async def not_http(reader, writer):
        await reader.read(100)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        writer.close()

    async def hang_up(reader, writer):
        await reader.read(100)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    async def scenario():
        client = HTTPClient(0.3)
        with pytest.raises(ConnectError):
            await client.post(f"http://127.0.0.1:{free_port()}/x", b"", {})
        async with served() as (base, _):
            with pytest.raises(ReadTimeout) as timed_out:
                await client.post(f"{base}/slow", b"", {})
            assert isinstance(timed_out.value, asyncio.TimeoutError)
        for handler, error in ((not_http, "invalid HTTP response"), (hang_up, "server disconnected")):
            server = await asyncio.start_server(handler, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(HTTP_ERRORS, match=error):
                await client.post(f"http://127.0.0.1:{port}/x", b"", {})
            server.close()
        with pytest.raises(ValueError):
            await client.post("ftp://127.0.0.1/x", b"", {})
        with pytest.raises(ValueError):
            await client.post(f"{base}/echo", b"", {"x": "a\r\nInjected: 1"})
        assert issubclass(ServerDisconnected, HTTP_ERRORS[0])
        await client.aclose()
    run(scenario())


def test_tls_without_verification_as_the_gateway_reaches_orchestrators(tmp_path):
    from node.net.tls import generate_cert

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_cert("127.0.0.1", cert, key)

    async def scenario():
        async with served((str(cert), str(key))) as (base, _):
            r = await HTTPClient(10, verify=False).post(f"{base}/echo", b"secret", {})
            assert r.content == b"secret"
            with pytest.raises(ConnectError):  # a self-signed certificate, verified
                await HTTPClient(10).post(f"{base}/echo", b"secret", {})
    run(scenario())


def test_a_reply_delimited_by_the_connection_end():
    async def until_close(reader, writer):
        await reader.read(100)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()
        writer.close()

    async def scenario():
        server = await asyncio.start_server(until_close, "127.0.0.1", 0)
        client = HTTPClient(5)
        for _ in range(2):  # the second on a new connection: the first one ended
            r = await client.post(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x", b"", {})
            assert (r.status_code, r.text) == (200, "all of it")
        server.close()
        await client.aclose()
    run(scenario())
