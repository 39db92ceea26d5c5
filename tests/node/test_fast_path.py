"""node.net.fast_path, as a differential: the same requests, sent as raw bytes over the real
servers (uvicorn, the orchestrator's demultiplexed port) to the gateway and orchestrator built with
and without the fast path, in two worlds that start from the same seeds, get the same responses to
the byte (the Date header aside), and leave the same metrics, log records and balances behind.

The requests are the paid hot routes' good and bad input: paid and chunked requests, a missing,
malformed or stranger's payment, bad seg creds, bad and too deep JSON, declared and streamed
oversize bodies, a bad Content-Length, wrong methods, HEAD and OPTIONS, an unknown model or
pipeline, a dead chain (503) and a failing handler (a bare 500, logged)."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
from fractions import Fraction

import pytest
from eth_account import Account
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse

from node.core.ai_sessions import selector_key
from node.core.balances import Balances
from node.core.capabilities import ai_job_capabilities, pipeline_capability
from node.core.keccak import keccak
from node.core.payment import new_payment
from node.core.pricing import orchestrator_ai_units
from node.eth.errors import ChainError
from node.net.fast_path import serve_fast
from node.net.headers import SegMetadata, encode_payment_header, encode_segment_header
from tests.core.stubs import StubBroker, StubChain
from tests.node.hostile import G, G_KEY, MODEL, O, O_KEY, PRICE, STRANGER_KEY, serve_app, t2i
from tests.ports import free_port

T0 = 1_800_000_000.0  # both worlds' orchestrator clock: the same auth tokens
T2I = int(pipeline_capability("text-to-image"))
CAPS = ai_job_capabilities(T2I, MODEL, with_defaults=True)
SESSION = selector_key(T2I, MODEL)
FEE = PRICE * orchestrator_ai_units("text-to-image", t2i()) * 3


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def http(method: str, path: str, body: bytes = b"", headers: dict | None = None, *, length: str | None = None,
         chunks: list[bytes] | None = None) -> bytes:
    """One request's bytes; `chunks` sends the body chunked, `length` overrides Content-Length."""
    head = {"Host": "node", "Connection": "close", **(headers or {})}
    if chunks is not None:
        head["Transfer-Encoding"] = "chunked"
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    elif body or method in ("POST", "PUT") or length is not None:
        head["Content-Length"] = length if length is not None else str(len(body))
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in head.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def exchange(port: int, request: bytes) -> bytes:
    """The whole response (the server closes: Connection: close), without its Date header. The
    request is written while the response is read: a server that answers 413 part way through a
    body closes on the rest (a reset), after its answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def write() -> None:
        with contextlib.suppress(ConnectionError):
            for start in range(0, len(request), 1 << 16):
                writer.write(request[start:start + (1 << 16)])
                await writer.drain()

    sending = asyncio.create_task(write())
    chunks = []
    try:
        while chunk := await asyncio.wait_for(reader.read(1 << 16), 30):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    finally:
        sending.cancel()
        writer.close()
    return re.sub(rb"\r\ndate: [^\r]*", b"", b"".join(chunks), count=1)


def json_body(doc) -> bytes:
    return json.dumps(doc).encode()


def metrics_text(metrics) -> list[str]:
    """A node's metrics, less what measures time (latency histograms, creation stamps)."""
    return [line for line in metrics.exposition().decode().splitlines()
            if not re.search(r"_(bucket|sum|created)\b|latency|_time_seconds", line)]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, int, str]] = []

    def emit(self, record) -> None:
        if record.name.startswith(("lpnode", "uvicorn.error")):
            # the port differs between the worlds' gateway servers; nothing else may
            self.seen.append((record.name, record.levelno, re.sub(r":\d{4,5}\b", ":PORT", record.getMessage())))


@contextlib.contextmanager
def recorded_logs():
    handler, root = Records(), logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler.seen
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


@contextlib.asynccontextmanager
async def world(fast: bool, runner_url: str, orch_port: int):
    """An on-chain orchestrator (stub chain, seeded randomness, fixed clock) on `orch_port` and a
    gateway app paying it, both with or without the fast path."""
    from node.core.ai_models import AIModelConfig
    from node.core.sender import Sender
    from node.gateway.node import GatewayNode
    from node.gateway.server import create_app
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from node.orchestrator.server import serve_orchestrator

    chain = StubChain(price=1)
    chain.active.add(O)
    chain.fund(G, deposit=10**18, reserve=10**18)
    uri = f"http://127.0.0.1:{orch_port}"
    config = OrchestratorConfig(uri, price_per_unit=PRICE, ai_models=[AIModelConfig("text-to-image", MODEL, warm=True)],
                                auto_adjust_price=False)
    node = OrchestratorNode(config, address=O, chain=chain, broker=StubBroker(), clock=lambda: T0,
                            randbytes=random.Random(7).randbytes)
    failure = []  # an exception the next payment raises (a dead chain, a bug)
    process_payment = node.process_payment

    def payment_or_failure(payment, session):
        if failure:
            raise failure.pop()
        return process_payment(payment, session)

    node.process_payment = payment_or_failure
    _, stop_orchestrator = await serve_orchestrator(node, "127.0.0.1", orch_port, private_key=O_KEY, transcode=None,
                                                    runners={"text-to-image": runner_url}, fast_path=fast)
    gateway = GatewayNode([uri], account=Account.from_key(G_KEY), chain=chain, rng=random.Random(5))
    gateway_port, stop_gateway = await serve_app(create_app(gateway, (), fast_path=fast))
    try:
        yield node, Sender(G, G_KEY, chain), gateway, gateway_port, failure
    finally:
        await stop_gateway()
        await gateway.close()
        await stop_orchestrator()


def paid_headers(node, sender, fee=FEE, *, key=G_KEY, model=MODEL) -> dict:
    """A gateway's headers for one AI request: tickets worth `fee` and seg creds signed by `key`."""
    caps = ai_job_capabilities(T2I, model, with_defaults=True)
    offer = node.offer(sender.address, caps)
    payment, _ = new_payment(sender, Balances(lambda: T0), O, selector_key(T2I, model),
                             sender.start_session(offer.ticket_params), Fraction(fee), offer.price)
    md = SegMetadata(selector_key(T2I, model), 0, keccak(b""), capabilities=caps, auth_token=offer.auth_token)
    return {"Livepeer-Segment": encode_segment_header(md, key), "Livepeer-Payment": encode_payment_header(payment)}


JSON = {"Content-Type": "application/json"}
DEEP = b"[" * 300 + b"]" * 300


def orchestrator_requests(node, sender, failure):
    """(name, request bytes or a callable making them at their turn) for the orchestrator."""
    good = json_body(t2i(seed=1))

    def paid(**kw):
        return {**JSON, **paid_headers(node, sender, **kw)}

    def failing(exc):
        def make():
            failure.append(exc)
            return http("POST", "/text-to-image", good, paid())
        return make

    return [
        ("paid", lambda: http("POST", "/text-to-image", good, paid())),
        ("paid chunked", lambda: http("POST", "/text-to-image", headers=paid(), chunks=[good[:9], good[9:]])),
        ("no payment", lambda: http("POST", "/text-to-image", good,
                                    {**JSON, "Livepeer-Segment": paid()["Livepeer-Segment"]})),
        ("payment not base64", lambda: http("POST", "/text-to-image", good, {**paid(), "Livepeer-Payment": "!!"})),
        ("payment not protobuf", lambda: http("POST", "/text-to-image", good, {**paid(), "Livepeer-Payment": "AAAA"})),
        ("stranger's seg creds", lambda: http("POST", "/text-to-image", good, paid(key=STRANGER_KEY))),
        ("no seg creds", lambda: http("POST", "/text-to-image", good, {**JSON, "Livepeer-Payment": "",})),
        ("bad JSON", lambda: http("POST", "/text-to-image", b'{"prompt": ', paid())),
        ("JSON array", lambda: http("POST", "/text-to-image", b"[1]", paid())),
        ("JSON too deep", lambda: http("POST", "/text-to-image", DEEP, paid())),
        ("declared oversize", lambda: http("POST", "/text-to-image", headers=paid(), length=str(60 << 20))),
        ("streamed oversize", lambda: http("POST", "/text-to-image", headers=paid(),
                                           chunks=[b"[" + b" " * (1 << 20)] * 11)),
        ("bad Content-Length", lambda: http("POST", "/text-to-image", good, paid(), length="12x")),
        ("unknown model", lambda: http("POST", "/text-to-image", json_body(t2i(model_id="nope")),
                                       paid(model="nope"))),
        ("no runner for llm", lambda: http("POST", "/llm", json_body({"model": MODEL, "messages": []}), paid())),
        ("no runner, multipart", lambda: http("POST", "/image-to-image", b"--x--\r\n",
                                              {**paid(), "Content-Type": "multipart/form-data; boundary=x"})),
        ("dead chain", failing(ChainError("chain unreachable"))),
        ("handler bug", failing(RuntimeError("a bug"))),
        ("GET", lambda: http("GET", "/text-to-image")),
        ("HEAD", lambda: http("HEAD", "/text-to-image")),
        ("OPTIONS", lambda: http("OPTIONS", "/text-to-image")),
        ("trailing slash", lambda: http("POST", "/text-to-image/", good, paid())),
        ("payment", lambda: http("POST", "/payment", headers=paid())),
        ("payment, bad header", lambda: http("POST", "/payment", headers={"Livepeer-Payment": "!!"})),
        ("payment, stranger", lambda: http("POST", "/payment", headers=paid(key=STRANGER_KEY))),
        ("payment, dead chain", lambda: failure.append(ChainError("chain unreachable")) or
         http("POST", "/payment", headers=paid())),
        ("payment GET", lambda: http("GET", "/payment")),
        ("segment, no creds", lambda: http("POST", "/segment", b"x" * 10)),
        ("paid again", lambda: http("POST", "/text-to-image", json_body(t2i(seed=2)), paid())),
    ]


def gateway_requests():
    good = json_body(t2i(seed=3))
    return [
        ("paid", http("POST", "/text-to-image", good, JSON)),
        ("chunked", http("POST", "/text-to-image", headers=JSON, chunks=[good[:5], good[5:]])),
        ("bad JSON", http("POST", "/text-to-image", b"{", JSON)),
        ("JSON array", http("POST", "/text-to-image", b"[]", JSON)),
        ("JSON too deep", http("POST", "/text-to-image", DEEP, JSON)),
        ("no prompt", http("POST", "/text-to-image", json_body({"model_id": MODEL}), JSON)),
        ("declared oversize", http("POST", "/text-to-image", headers=JSON, length=str(60 << 20))),
        ("streamed oversize", http("POST", "/text-to-image", headers=JSON, chunks=[b"[" + b" " * (1 << 20)] * 11)),
        ("bad Content-Length", http("POST", "/text-to-image", good, JSON, length="-1")),
        ("llm missing fields", http("POST", "/llm", json_body({"model": MODEL}), JSON)),
        ("multipart, bad body", http("POST", "/image-to-image", b"--x\r\n",
                                     {"Content-Type": "multipart/form-data; boundary=x"})),
        ("multipart, no image", http("POST", "/upscale", b"--x\r\nContent-Disposition: form-data; name=\"prompt\""
                                     b"\r\n\r\nhi\r\n--x--\r\n", {"Content-Type": "multipart/form-data; boundary=x"})),
        ("GET", http("GET", "/text-to-image")),
        ("HEAD", http("HEAD", "/text-to-image")),
        ("OPTIONS", http("OPTIONS", "/llm")),
        ("unknown path", http("POST", "/text-to-imagine", good, JSON)),
        ("unknown model", http("POST", "/text-to-image", json_body(t2i(model_id="nope")), JSON)),
        ("paid again", http("POST", "/text-to-image", json_body(t2i(seed=4)), JSON)),
    ]


def test_the_fast_path_answers_every_request_as_the_fastapi_app_does(monkeypatch):
    from node.net import fast_path
    from node.worker.ai.app import create_app as runner_app

    served_fast = []
    call_endpoint = fast_path._call_endpoint

    async def counted(scope, receive, send):
        served_fast.append(scope["path"])
        await call_endpoint(scope, receive, send)

    monkeypatch.setattr(fast_path, "_call_endpoint", counted)

    async def scenario():
        runner_port, stop_runner = await serve_app(runner_app("text-to-image", MODEL, mode="mock"))
        orch_port = free_port()
        seen = {}
        try:
            for fast in (False, True):
                with recorded_logs() as logs:
                    async with world(fast, f"http://127.0.0.1:{runner_port}", orch_port) as (
                            node, sender, gateway, gateway_port, failure):
                        to_orchestrator = [(name, await exchange(orch_port, make()))
                                           for name, make in orchestrator_requests(node, sender, failure)]
                        to_gateway = [(name, await exchange(gateway_port, request))
                                      for name, request in gateway_requests()]
                        state = (metrics_text(node.metrics), metrics_text(gateway.metrics),
                                 node.receiver.balances.balance(G, SESSION), gateway.balances.balance(O, SESSION))
                seen[fast] = to_orchestrator, to_gateway, state, list(logs), list(served_fast)
        finally:
            await stop_runner()
        return seen

    seen = run(scenario())
    slow, fast = seen[False], seen[True]
    assert not slow[4] and {"/text-to-image", "/payment", "/llm", "/image-to-image", "/segment"} <= set(fast[4])
    for (name, want), (_, got) in zip(slow[0] + slow[1], fast[0] + fast[1]):
        assert want and got == want, name
    status = {name: int(r.split(b" ", 2)[1]) for name, r in slow[0]}
    # the differential covers what it means to: paid work, each refusal and the fall-through
    assert status["paid"] == status["paid chunked"] == status["payment"] == status["paid again"] == 200
    assert status["declared oversize"] == status["streamed oversize"] == 413
    assert status["JSON too deep"] == status["bad JSON"] == 400
    assert status["payment not base64"] == 402 and status["dead chain"] == 503 and status["handler bug"] == 500
    assert status["GET"] == 405 and status["no runner for llm"] == 400
    gateway_status = {name: int(r.split(b" ", 2)[1]) for name, r in slow[1]}
    assert gateway_status["paid"] == gateway_status["chunked"] == 200
    assert gateway_status["unknown path"] == 404 and gateway_status["unknown model"] == 503
    assert slow[2] == fast[2]  # metrics and both sides' balances
    assert slow[2][2] > 0
    assert slow[3] == fast[3]  # log records, the 500's traceback record included
    assert any(level == logging.ERROR for _, level, _ in slow[3])


def test_only_plain_request_endpoints_take_the_fast_path():
    app = FastAPI()

    @app.post("/typed")
    async def typed(n: int):
        return PlainTextResponse(str(n))

    serve_fast(app, ["/typed"])
    with pytest.raises(ValueError, match="not a plain endpoint"):
        TestClient(app).post("/typed?n=1")


def test_a_path_an_earlier_route_takes_stays_on_the_full_stack_and_added_routes_are_seen():
    app = FastAPI()

    @app.post("/{name}/x")
    async def shadow(name: str):
        return PlainTextResponse(f"param {name}")

    @app.post("/hot/x")
    async def shadowed(request: Request):
        return PlainTextResponse("static")

    @app.post("/hot")
    async def hot(request: Request):
        return PlainTextResponse(f"hot {request.scope['route'].path} {request.scope['path_params']}")

    serve_fast(app, ["/hot/x", "/hot", "/added"])
    client = TestClient(app)
    assert client.post("/hot/x").text == "param hot"  # the router's order, as without the fast path
    assert client.post("/hot").text == "hot /hot {}"
    assert client.post("/added").status_code == 404

    @app.post("/added")
    async def added(request: Request):
        return PlainTextResponse("added")

    assert client.post("/added").text == "added"
