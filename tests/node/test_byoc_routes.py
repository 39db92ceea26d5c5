"""BYOC routes in one process: the orchestrator's SSE billing on an on-chain node over the core's
stub chain (5-second debits, the remainder at the end, the stream cut when the balance goes
negative), and the gateway's failover and include/exclude over two offchain orchestrators."""
from __future__ import annotations

import asyncio
import json
import math
import random

import httpx
import pytest
from fastapi import FastAPI

from node.core import byoc
from node.eth import dev_accounts
from node.net.auth import sign
from node.net.serving import serve_in_thread
from node.orchestrator.byoc import ByocOrchestrator, byoc_router
from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
from node.worker.byoc import BatchResponse, Capability, EventStream
from node.worker.byoc.app import create_app as worker_app
from node.worker.byoc.app import register

from ..core.stubs import StubBroker, StubChain

PRICE = 1000  # wei per second


class Ticker(Capability):
    """Emits an event every 0.5 s for the seconds the path names (POST /process/request/<seconds>)."""

    name = "ticker"

    async def handle(self, request):
        seconds = float(request.path or 1)

        async def events():
            for i in range(int(seconds * 2)):
                await asyncio.sleep(0.5)
                yield json.dumps({"tick": i})
        return EventStream(events())


class Echo(Capability):
    """Answers its body, or the status the path names (for failover drills)."""

    name = "echo"

    async def handle(self, request):
        if request.path.isdigit():
            return BatchResponse(b"failed here", "text/plain", status=int(request.path))
        return BatchResponse(request.body, "application/octet-stream", metadata=request.path)


@pytest.fixture
def onchain_orchestrator():
    orch_acct, gw_acct = dev_accounts(3)[1:3]
    chain = StubChain()
    chain.active.add(orch_acct.address)
    chain.fund(gw_acct.address, 10**18, 10**18)
    node = OrchestratorNode(OrchestratorConfig("http://127.0.0.1:1"), address=orch_acct.address, chain=chain,
                            broker=StubBroker())
    orch = ByocOrchestrator(node, "s3cret")
    app = FastAPI()
    app.include_router(byoc_router(orch))
    server, port = serve_in_thread(worker_app(Ticker()))
    yield node, orch, app, gw_acct, f"http://127.0.0.1:{port}"
    server.should_exit = True


def _signed(account, capability: str, timeout: int = 30) -> dict:
    job = byoc.JobRequest(id="j", request="{}", parameters="{}", capability=capability, timeout_seconds=timeout)
    return {"Livepeer": byoc.job_request_header(byoc.sign_job(job, account.address, lambda m: sign(m, account.key)))}


async def _stream(app, headers, path, during=None):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://o") as client:
        if during is not None:
            asyncio.get_running_loop().call_later(1.0, during)
        loop = asyncio.get_running_loop()
        start = loop.time()
        r = await client.post(f"/process/request/{path}", headers=headers, timeout=60)
        return r, loop.time() - start


def test_sse_is_debited_by_the_second_and_reports_the_balance(onchain_orchestrator):
    node, orch, app, gw, worker = onchain_orchestrator
    orch.register(Ticker().registration(worker, price_per_unit=PRICE).to_json())
    balances = node.receiver.balances
    balances.credit(gw.address, "ticker", 100 * PRICE)  # as a payment's tickets would
    r, took = asyncio.run(_stream(app, _signed(gw, "ticker"), "6"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["livepeer-payment-balance"] == str(100 * PRICE)
    lines = [line for line in r.text.splitlines() if line]
    assert lines[:2] == ['data: {"tick": 0}', 'data: {"tick": 1}'] and lines[-1] == "data: [DONE]"
    left = balances.balance(gw.address, "ticker")
    assert left == (100 - math.ceil(took)) * PRICE or left == (100 - math.ceil(took) + 1) * PRICE
    assert lines[-2] == f'data: {{"balance": {left}.000}}'
    assert orch.capabilities.available("ticker") == 1  # the load came back when the stream ended


def test_sse_ends_with_insufficient_balance_when_the_credit_runs_out(onchain_orchestrator):
    node, orch, app, gw, worker = onchain_orchestrator
    orch.register(Ticker().registration(worker, price_per_unit=PRICE).to_json())
    balances = node.receiver.balances
    balances.credit(gw.address, "ticker", 60 * PRICE)  # just the minute the orchestrator wants
    # another job of the same sender spends most of it meanwhile: the 5-second debit then goes negative
    r, took = asyncio.run(_stream(app, _signed(gw, "ticker"), "20",
                                  during=lambda: balances.debit(gw.address, "ticker", 57 * PRICE)))
    assert r.status_code == 200 and 4.5 < took < 9
    assert r.text.endswith(byoc.SSE_INSUFFICIENT_BALANCE)
    assert balances.balance(gw.address, "ticker") == -2 * PRICE


def test_a_job_without_credit_for_a_minute_is_refused(onchain_orchestrator):
    node, orch, app, gw, worker = onchain_orchestrator
    orch.register(Ticker().registration(worker, price_per_unit=PRICE).to_json())
    node.receiver.balances.credit(gw.address, "ticker", 60 * PRICE - 1)
    r, _ = asyncio.run(_stream(app, _signed(gw, "ticker"), "1"))
    assert (r.status_code, r.text) == (400, byoc.ERR_INSUFFICIENT_BALANCE + "\n")
    assert node.receiver.balances.balance(gw.address, "ticker") == 60 * PRICE - 1  # nothing charged
    assert orch.capabilities.available("ticker") == 1


def test_gateway_fails_over_on_5xx_returns_4xx_and_honours_include_exclude():
    from node.gateway.node import GatewayNode
    from node.gateway.server import create_app as gateway_app
    from node.orchestrator.remote import RemoteTranscoders
    from node.orchestrator.server import create_http_app

    servers, orchs = [], []
    worker, wport = serve_in_thread(worker_app(Echo()))
    servers.append(worker)
    for _ in range(2):
        node = OrchestratorNode(OrchestratorConfig("http://127.0.0.1:0", transcoding=False))
        server, port = serve_in_thread(create_http_app(node, transcode=None, runners={},
                                                       remote=RemoteTranscoders("s", "http://127.0.0.1:0")))
        node.config.service_uri = f"http://127.0.0.1:{port}"
        orchs.append(node.config.service_uri)
        servers.append(server)

    async def register_all():
        async with httpx.AsyncClient() as c:
            for o in orchs:
                await register(c, o, "s", Echo().registration(f"http://127.0.0.1:{wport}"))
    asyncio.run(register_all())
    gw = GatewayNode(orchs, rng=random.Random(7))
    gserver, gport = serve_in_thread(gateway_app(gw, ()))
    servers.append(gserver)
    try:
        def job(parameters: dict | None = None) -> dict:
            return {"Livepeer": byoc.job_request_header(byoc.JobRequest(
                request="{}", parameters=json.dumps(parameters or {}), capability="echo", timeout_seconds=5))}
        url = f"http://127.0.0.1:{gport}/process/request"
        r = httpx.post(f"{url}/hello", content=b"body", headers=job())
        assert (r.status_code, r.content, r.headers["x-metadata"]) == (200, b"body", "hello")
        # a worker's 5xx at every orchestrator: tried on each, then go's 503 with the last failure
        r = httpx.post(f"{url}/502", content=b"x", headers=job())
        assert r.status_code == 503 and "502 failed here" in r.text
        # a 4xx is the client's: passed back at once
        r = httpx.post(f"{url}/418", content=b"x", headers=job())
        assert (r.status_code, r.text) == (418, "failed here\n\n")  # http.Error at both hops, as go
        for target in orchs:
            r = httpx.post(f"{url}/x", content=b"x", headers=job({"orchestrators": {"include": [target]}}))
            assert r.headers["x-orchestrator-url"] == target
            other = next(o for o in orchs if o != target)
            r = httpx.post(f"{url}/x", content=b"x", headers=job({"orchestrators": {"exclude": [other]}}))
            assert r.headers["x-orchestrator-url"] == target
        r = httpx.post(f"{url}/x", content=b"x", headers=job({"orchestrators": {"exclude": orchs}}))
        assert (r.status_code, r.text) == (400, "No orchestrators found for capability echo\n")
    finally:
        for s in servers:
            s.should_exit = True
