"""A paid network in one process for hostile-input tests: a mock AI runner, an on-chain
orchestrator (real servers, its chain a node.core stub) with transcoding, and a gateway app, all
on loopback. Requests here are bounded in count and time."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from fractions import Fraction

from eth_account import Account

from tests.core.stubs import StubBroker, StubChain
from tests.ports import free_port

O_KEY, G_KEY, STRANGER_KEY = (bytes([i]) * 32 for i in (11, 12, 13))
O, G, STRANGER = (Account.from_key(k).address for k in (O_KEY, G_KEY, STRANGER_KEY))
MODEL = "m"
PRICE = Fraction(3)  # wei per pixel, transcoding and AI


async def serve_app(app) -> tuple[int, object]:
    """uvicorn on this loop, an ephemeral port; returns (port, stop coroutine function)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)

    async def stop():
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task

    return server.servers[0].sockets[0].getsockname()[1], stop


@dataclass
class Network:
    chain: StubChain
    orchestrator: object  # OrchestratorNode
    orchestrator_uri: str
    gateway: object  # GatewayNode
    gateway_uri: str
    runner_calls: list


@contextlib.asynccontextmanager
async def paid_network(max_sessions: int = 10, transcoding: bool = False):
    from node.core.ai_models import AIModelConfig
    from node.gateway.node import GatewayNode
    from node.gateway.server import create_app as gateway_app
    from node.net.headers import VideoProfile
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from node.orchestrator.server import serve_orchestrator
    from node.worker.ai.app import create_app as runner_app

    runner = runner_app("text-to-image", MODEL, mode="mock")
    calls: list = []

    @runner.middleware("http")
    async def count(request, call_next):
        calls.append(request.url.path)
        return await call_next(request)

    runner_port, stop_runner = await serve_app(runner)
    chain = StubChain(price=1)
    chain.active.add(O)
    chain.fund(G, deposit=10**18, reserve=10**18)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    config = OrchestratorConfig(uri, price_per_unit=PRICE, max_sessions=max_sessions, transcoding=transcoding,
                                ai_models=[AIModelConfig("text-to-image", MODEL, warm=True)], auto_adjust_price=False)
    node = OrchestratorNode(config, address=O, chain=chain, broker=StubBroker())
    transcode = None
    if transcoding:
        from node.devnet import _transcoder

        transcode = _transcoder()
    _, stop_orchestrator = await serve_orchestrator(node, "127.0.0.1", port, private_key=O_KEY, transcode=transcode,
                                                    runners={"text-to-image": f"http://127.0.0.1:{runner_port}"})
    gateway = GatewayNode([uri], account=Account.from_key(G_KEY), chain=chain)
    profiles = (VideoProfile("P144p30fps16x9", 256, 144, 200_000, 30, 1),)
    gateway_port, stop_gateway = await serve_app(gateway_app(gateway, profiles))
    try:
        yield Network(chain, node, uri, gateway, f"http://127.0.0.1:{gateway_port}", calls)
    finally:
        await stop_gateway()
        await gateway.close()
        await stop_orchestrator()
        await stop_runner()


def t2i(prompt="a cat", **extra) -> dict:
    return {"prompt": prompt, "model_id": MODEL, "width": 64, "height": 64, **extra}


async def raw_request(port: int, head: bytes, body: bytes = b"", timeout: float = 10.0) -> tuple[int, bytes]:
    """Send `head` (request line and headers, CRLF-terminated) and `body` on a fresh connection;
    (status, response bytes). For bodies a client library would refuse to send as they are."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + b"\r\n" + body)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(1 << 16), timeout)
    finally:
        writer.close()
    return int(response.split(b" ", 2)[1]), response
