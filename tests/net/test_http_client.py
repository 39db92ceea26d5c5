"""node.net.http_client, the paid request path's client, against a real server on loopback: bodies
(bytes and chunks with their Content-Length), a streamed reply read as lines, no redirect
followed, a timeout and a refused connection raised as HTTP_ERRORS."""
import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from node.net.http_client import HTTP_ERRORS, HTTPClient, Reply, StreamedReply
from tests.node.hostile import serve_app
from tests.ports import free_port


async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body, status_code=201, headers={"x-length": request.headers.get("content-length", ""),
                                                    "x-encoding": request.headers.get("transfer-encoding", "")},
                    media_type=request.headers.get("content-type"))


async def events(request: Request) -> StreamingResponse:
    async def lines():
        for i in range(3):
            yield f"data: {i}\n\n".encode()
            await asyncio.sleep(0.01)

    return StreamingResponse(lines(), media_type="text/event-stream")


async def slow(request: Request) -> Response:
    await asyncio.sleep(2)
    return Response(b"late")


APP = Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/events", events, methods=["POST"]),
                        Route("/slow", slow, methods=["POST"]),
                        Route("/moved", lambda r: RedirectResponse("/echo", status_code=307), methods=["POST"])])


def run(scenario):
    async def main():
        port, stop = await serve_app(APP)
        client = HTTPClient(10.0)
        try:
            await scenario(client, f"http://127.0.0.1:{port}")
        finally:
            await client.aclose()
            await stop()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_bodies_go_whole_with_their_length_and_replies_come_back_whole():
    async def scenario(client, base):
        reply = await client.post(f"{base}/echo", b'{"a": 1}', {"content-type": "application/json"})
        assert isinstance(reply, Reply) and reply.status_code == 201 and reply.json() == {"a": 1}
        assert reply.headers["Content-Type"] == "application/json" and reply.headers["x-length"] == "8"

        async def chunks():
            for part in (b"abc", b"def"):
                yield part

        reply = await client.post(f"{base}/echo", chunks(), {"content-type": "application/octet-stream",
                                                              "Content-Length": "6"})
        assert reply.content == b"abcdef" and reply.text == "abcdef"
        assert reply.headers["x-length"] == "6" and reply.headers["x-encoding"] == ""  # not chunked

    run(scenario)


def test_a_streamed_reply_is_read_as_lines():
    async def scenario(client, base):
        reply = await client.post(f"{base}/events", b"", {}, stream=True)
        assert isinstance(reply, StreamedReply) and reply.status_code == 200
        lines = [line async for line in reply.aiter_lines()]
        await reply.aclose()
        assert lines == ["data: 0", "", "data: 1", "", "data: 2", ""]

    run(scenario)


def test_no_redirect_is_followed_and_failures_raise_http_errors():
    async def scenario(client, base):
        reply = await client.post(f"{base}/moved", b"x", {})
        assert reply.status_code == 307 and reply.headers["location"].endswith("/echo")
        with pytest.raises(HTTP_ERRORS):
            await client.post(f"{base}/slow", b"", {}, timeout=0.2)
        with pytest.raises(HTTP_ERRORS):
            await client.post(f"http://127.0.0.1:{free_port()}/echo", b"", {})

    run(scenario)
