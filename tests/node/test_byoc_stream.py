"""BYOC streams end to end on loopback: a gateway (node.gateway.byoc_stream) and an orchestrator
(node.orchestrator.byoc_stream) served by uvicorn in this process, paid in real tickets against a
node.core stub chain (the live tests' set-up; test_byoc_stream_devnet.py runs a paid stream on a
devnet, its tickets redeemed on chain), and the example worker
(StreamingImageFilter) registered with the orchestrator: in this process, or as its own
`lpnode byoc-worker` process where it must die mid-stream. The periods (23 s debit, 50 s payment,
30 s event gap) are shortened; what each tick debits is go's 23 s."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import subprocess
import sys
from fractions import Fraction

import httpx
import pytest
from eth_account import Account
from PIL import Image

from node.core import byoc
from node.net.auth import sign
from node.net.trickle import TricklePublisher, TrickleSubscriber
from tests.net.trickle_serving import eventually, run, served

O_KEY, G_KEY = bytes([31]) * 32, bytes([32]) * 32
O, G = Account.from_key(O_KEY).address, Account.from_key(G_KEY).address
SECRET = "s3cret"
PRICE = 100  # wei per second
TICKET_EV = 1000  # wei: a minute of this capability is 6 tickets
CAP = "image-filter"


def png(color=(200, 20, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(out, "PNG")
    return out.getvalue()


def job_header(stream_id: str = "", timeout: int = 60, capability: str = CAP, signed: bool = True, **params) -> str:
    job = byoc.JobRequest(id=stream_id, request=json.dumps({"stream_id": stream_id}), parameters=json.dumps(params),
                          capability=capability, timeout_seconds=timeout)
    if signed:
        job = byoc.sign_job(job, G, lambda m: sign(m, G_KEY))
    return byoc.job_request_header(job)


def counter(metric, label: str) -> float:
    return metric.labels(label)._value.get()


@contextlib.asynccontextmanager
async def byoc_network(*, debit_interval: float, payment_interval: float, worker: bool = True, n: int = 1):
    """(gateway URL, gateway app, orchestrator URL, orchestrator app, orchestrator node, worker app,
    client, [(URL, app, node, worker app)] of all n orchestrators, each with its own worker)."""
    from node.gateway.node import GatewayNode
    from node.gateway.server import create_app as gateway_app
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from node.orchestrator.server import create_http_app
    from node.worker.byoc.app import create_app as worker_app
    from node.worker.byoc.app import register
    from node.worker.byoc.examples import StreamingImageFilter
    from tests.core.stubs import StubBroker, StubChain

    chain = StubChain(price=1)
    chain.fund(G, deposit=10**18, reserve=10**18)
    orchs = []
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        for i in range(n):
            key = O_KEY if i == 0 else bytes([40 + i]) * 32
            address = Account.from_key(key).address
            chain.active.add(address)
            node = OrchestratorNode(OrchestratorConfig("http://pending", transcoding=False, auto_adjust_price=False,
                                                       ticket_ev=TICKET_EV), address=address, chain=chain,
                                    broker=StubBroker())
            o_app = create_http_app(node, transcode=None, runners={}, byoc_secret=SECRET, private_key=key)
            o_app.state.byoc_streams.debit_interval = debit_interval
            cap = StreamingImageFilter()
            cap.status_interval = 0.2
            w_app = worker_app(cap)
            o_url = await stack.enter_async_context(served(o_app))
            w_url = await stack.enter_async_context(served(w_app))
            node.config.service_uri = o_url
            if worker:
                await register(http, o_url, SECRET, cap.registration(w_url, price_per_unit=PRICE))
            orchs.append((o_url, o_app, node, w_app))
        gateway = GatewayNode([o[0] for o in orchs], account=Account.from_key(G_KEY), chain=chain)
        g_app = gateway_app(gateway, ())
        g_app.state.byoc_streams.payment_interval = payment_interval
        try:
            async with served(g_app) as g_url:
                o_url, o_app, node, w_app = orchs[0]
                yield g_url, g_app, o_url, o_app, node, w_app, http, orchs
        finally:
            await g_app.state.byoc_streams.close()
            await g_app.state.live.close()
            for _, o_app, _, w_app in orchs:
                await o_app.state.byoc_streams.close_all()
                await o_app.state.trickle.stop()
                await w_app.state.streams.stop_all()
            await gateway.close()


def start_body(**fields) -> dict:
    return {"stream_name": "cam", "params": json.dumps({"filter": "invert"}), **fields}


async def sse_lines(http: httpx.AsyncClient, url: str, out: list) -> None:
    async with http.stream("GET", url, timeout=None) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line:
                out.append(line)


def test_a_paid_stream_runs_filters_data_takes_an_update_and_stop_closes_every_channel():
    async def scenario():
        async with byoc_network(debit_interval=0.3, payment_interval=0.2) as (g, g_app, o, o_app, node, w_app, http, _):
            r = await http.post(f"{g}/process/stream/start", json=start_body(),
                                headers={"Livepeer": job_header(enable_video_ingress=True, enable_video_egress=True,
                                                                enable_data_output=True)})
            assert r.status_code == 200, r.text
            urls = r.json()
            sid = urls["stream_id"]
            assert sid.startswith("cam-") and urls["data_url"].endswith(f"/process/stream/{sid}/data")
            gs = g_app.state.byoc_streams.pipelines[sid]
            await eventually(lambda: gs.token is not None and sid in w_app.state.streams.running)
            ostream = o_app.state.byoc_streams.streams[sid]
            assert sorted(ostream.channels) == sorted([sid, f"{sid}-out", f"{sid}-control", f"{sid}-events",
                                                       f"{sid}-data"])
            assert w_app.state.streams.running[sid][0].params == {"filter": "invert"}

            lines: list[str] = []
            reader = asyncio.ensure_future(sse_lines(http, urls["data_url"], lines))
            out = TrickleSubscriber(urls["subscribe_url"], start_seq=0)
            inp = TricklePublisher(urls["publish_url"], "video/MP2T")
            try:
                await asyncio.sleep(0.2)
                await inp.write(png())
                await eventually(lambda: lines)
                assert json.loads(lines[0][len("data: "):]) == {"seq": 0, "filter": "invert", "width": 8, "height": 6,
                                                                "mean": [55.0, 235.0, 235.0]}
                img = Image.open(io.BytesIO(await (await out.next_segment()).read()))
                assert img.getpixel((0, 0)) == (55, 235, 235)

                # an update reaches the worker through the orchestrator
                r = await http.post(urls["update_url"], json={"filter": "grayscale"},
                                    headers={"Livepeer": job_header(sid)})
                assert r.status_code == 200 and r.json()["params"] == {"filter": "grayscale"}
                await inp.write(png())
                await eventually(lambda: len(lines) >= 2)
                assert json.loads(lines[1][len("data: "):])["filter"] == "grayscale"

                # the worker's status events reach /status; payments keep the balance positive
                await eventually(lambda: (gs.status or {}).get("segments_in", 0) >= 2)
                r = await http.get(urls["status_url"])
                assert r.status_code == 200 and r.json()["type"] == "status" and r.json()["segments_in"] >= 2
                assert r.json()["orchestrator_info"]["url"] == o
                await eventually(lambda: gs.payments >= 2 and ostream.billing is not None, timeout=10)
                await asyncio.sleep(0.7)  # a few debits (23 s each) against the payments
                balance = node.receiver.balances.balance(G, CAP)
                assert balance is not None and balance > 0 and not ostream.billing.warned
                r = await http.post(urls["stop_url"], content=b"bye")
            finally:
                await inp.close()
                await out.close()
            assert r.status_code == 200 and r.json()["status"] == "success"  # the worker's answer, relayed
            assert sid not in o_app.state.byoc_streams.streams and ostream.ended == "stopped by the gateway"
            assert not [n for n in o_app.state.trickle.channels if n.startswith(sid)]  # every channel closed
            assert sid not in w_app.state.streams.running
            assert sid not in g_app.state.byoc_streams.pipelines
            await asyncio.wait_for(reader, 5)  # /data ends with go's end event
            assert lines[-2:] == ["event: end", 'data: {"type":"stream_ended"}']
            r = await http.post(urls["update_url"], json={}, headers={"Livepeer": job_header(sid)})
            assert (r.status_code, r.text) == (404, "Stream not found\n")

            # nothing credited that was not paid: the orchestrator's credit is exactly the EV the
            # gateway sent; its balance is that credit less the seconds it charged
            sent = counter(g_app.state.byoc_streams.bg.gateway.metrics.ticket_value_sent, O)
            received = counter(node.metrics.ticket_value_recv, G)
            assert sent == received > 0
    run(scenario(), timeout=60)


def test_two_negative_balances_remove_the_stream_and_tell_the_worker():
    async def scenario():
        async with byoc_network(debit_interval=0.1, payment_interval=1000) as (g, g_app, _o, o_app, node, w_app, http, _):
            debits: list[Fraction] = []
            real = node.receiver.debit_fees

            def spy(sender, session, price, units):
                debits.append(Fraction(price) * units)
                return real(sender, session, price, units)
            node.receiver.debit_fees = spy

            r = await http.post(f"{g}/process/stream/start", json=start_body(),
                                headers={"Livepeer": job_header(enable_data_output=True)})
            assert r.status_code == 200, r.text
            sid = r.json()["stream_id"]
            await eventually(lambda: sid in o_app.state.byoc_streams.streams)
            ostream = o_app.state.byoc_streams.streams[sid]
            await eventually(lambda: sid not in o_app.state.byoc_streams.streams, timeout=10)
            assert ostream.billing.warned and ostream.ended.startswith("insufficient balance")
            assert not [n for n in o_app.state.trickle.channels if n.startswith(sid)]
            await eventually(lambda: sid not in w_app.state.streams.running)  # the worker was told to stop
            assert o_app.state.byoc.capabilities.get(CAP).load == 0  # capacity given back
            # the debits: the start's second, then 23 s a tick; removed at the second negative balance
            assert debits[1:] == [23 * PRICE] * (len(debits) - 1)
            at_removal = int(ostream.ended.rsplit(" ", 1)[1])
            assert at_removal < 0 and at_removal + 23 * PRICE < 0 <= at_removal + 2 * 23 * PRICE
            # the gateway sees the data channel end and, with no other orchestrator, ends the stream
            # (its stop, paid with a ticket, is refused: the balance is under a minute, as go)
            await eventually(lambda: sid not in g_app.state.byoc_streams.pipelines, timeout=10)
            assert g_app.state.byoc_streams.statuses[sid].error == "All Orchestrators exhausted, restart the stream"
            # what was credited (the balance before the debits) is the tickets' EV the gateway sent
            credited = node.receiver.balances.balance(G, CAP) + sum(debits)
            assert float(credited) == pytest.approx(counter(node.metrics.ticket_value_recv, G), rel=1e-12)
            assert float(credited) == pytest.approx(
                counter(g_app.state.byoc_streams.bg.gateway.metrics.ticket_value_sent, O), rel=1e-12)
    run(scenario(), timeout=60)


def test_a_worker_that_dies_mid_stream_ends_the_stream(monkeypatch, tmp_path):
    from node.gateway import live
    from tests.ports import free_port

    monkeypatch.setattr(live, "MAX_EVENT_GAP", 2.5)
    monkeypatch.setattr(live, "EVENT_CHECK_INTERVAL", 0.25)

    async def scenario(log):
        async with byoc_network(debit_interval=60, payment_interval=1000, worker=False) as \
                (g, g_app, o, o_app, _node, _w_app, http, _):
            worker = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "node.cli", "byoc-worker", "--capability",
                "node.worker.byoc.examples:StreamingImageFilter", "--port", str(free_port()), "--orch-url", o,
                "--orch-secret", SECRET, "--reregister", "0", "--price-per-unit", str(PRICE), "--status-interval", "0.3",
                stdout=log, stderr=subprocess.STDOUT)
            try:
                await eventually(lambda: CAP in o_app.state.byoc.capabilities, timeout=30)
                r = await http.post(f"{g}/process/stream/start", json=start_body(),
                                    headers={"Livepeer": job_header(enable_video_ingress=True,
                                                                    enable_data_output=True)})
                assert r.status_code == 200, r.text
                urls = r.json()
                sid = urls["stream_id"]
                gs = g_app.state.byoc_streams.pipelines[sid]
                await eventually(lambda: gs.status is not None, timeout=10)  # the worker's first status event
                lines: list[str] = []
                reader = asyncio.ensure_future(sse_lines(http, urls["data_url"], lines))
                inp = TricklePublisher(urls["publish_url"], "video/MP2T")
                await asyncio.sleep(0.2)
                await inp.write(png())
                await eventually(lambda: lines)

                worker.kill()  # mid-stream
                await worker.wait()
                await eventually(lambda: sid not in g_app.state.byoc_streams.pipelines, timeout=15)
                assert sid not in o_app.state.byoc_streams.streams  # stopped there too, channels closed
                assert not [n for n in o_app.state.trickle.channels if n.startswith(sid)]
                await asyncio.wait_for(reader, 5)
                assert lines[-1] == 'data: {"type":"stream_ended"}'
                # go's answers once the stream is gone: the last status (with the error) stays
                r = await http.get(urls["status_url"])
                assert r.status_code == 200 and r.json()["type"] == "status"
                assert r.json()["error"]["error_message"] == "no orchestrators available, ending stream"
                for route in ("stop", "update"):
                    r = await http.post(urls[f"{route}_url"], headers={"Livepeer": job_header(sid)})
                    assert (r.status_code, r.text) == (404, "Stream not found\n")
                await inp.close()
            finally:
                if worker.returncode is None:
                    worker.kill()
                    await worker.wait()
    with open(tmp_path / "worker.log", "w") as log:
        run(scenario(log), timeout=90)


def test_bad_stream_requests_get_gos_errors_and_credit_nothing():
    async def scenario():
        async with byoc_network(debit_interval=60, payment_interval=1000) as (g, g_app, o, o_app, node, _w, http, _):
            # the orchestrator: no job, an unknown capability, a job without payment
            r = await http.post(f"{o}/ai/stream/start", json={})
            assert (r.status_code, r.text) == (400, byoc.ERR_NO_JOB_CREDS + "\n")
            r = await http.post(f"{o}/ai/stream/start", json={}, headers={"Livepeer": job_header("x", capability="nope")})
            assert (r.status_code, r.text) == (400, byoc.ERR_NO_CAPACITY + "\n")
            r = await http.post(f"{o}/ai/stream/start", json={}, headers={"Livepeer": job_header("x")})
            assert (r.status_code, r.text) == (402, byoc.ERR_INSUFFICIENT_BALANCE + "\n")
            r = await http.post(f"{o}/ai/stream/payment", headers={"Livepeer": job_header("x", signed=False)})
            assert r.status_code == 400 and byoc.ERR_NO_JOB_CREDS in r.text
            assert o_app.state.byoc.capabilities.get(CAP).load == 0 and not o_app.state.byoc_streams.streams
            # the gateway: no orchestrator for the capability, bad bodies, unknown streams
            r = await http.post(f"{g}/process/stream/start", json=start_body(),
                                headers={"Livepeer": job_header(capability="nope")})
            assert (r.status_code, r.text) == (400, "No orchestrators found for capability nope\n")
            r = await http.post(f"{g}/process/stream/start", json=start_body(params="{nope"),
                                headers={"Livepeer": job_header()})
            assert (r.status_code, r.text) == (400, "invalid model params\n")
            r = await http.post(f"{g}/process/stream/start", json=start_body(stream_name="x-out"),
                                headers={"Livepeer": job_header()})
            assert r.status_code == 400
            r = await http.post(f"{g}/process/stream/start", content=b"[",
                                headers={"Livepeer": job_header()})
            assert r.status_code == 400 and r.text.startswith("invalid JSON request body")
            r = await http.post(f"{g}/process/stream/start", json=start_body(),
                                headers={"Livepeer": base64.b64encode(b'{"capability":"image-filter"}').decode()})
            assert (r.status_code, r.text) == (400, f"Unable to parse job request, err={byoc.ERR_NO_TIMEOUT}\n")
            for method, route in (("GET", "status"), ("GET", "data"), ("POST", "stop"), ("POST", "update")):
                r = await http.request(method, f"{g}/process/stream/none/{route}")
                assert (r.status_code, r.text) == (404, "Stream not found\n")
            assert not g_app.state.byoc_streams.pipelines
            # a stream without data output has no /data
            r = await http.post(f"{g}/process/stream/start", json=start_body(), headers={"Livepeer": job_header()})
            sid = r.json()["stream_id"]
            r = await http.get(f"{g}/process/stream/{sid}/data")
            assert (r.status_code, r.text) == (503, "Stream data not available\n")
            await eventually(lambda: sid in o_app.state.byoc_streams.streams)  # its paid start has landed
            assert counter(g_app.state.byoc_streams.bg.gateway.metrics.ticket_value_sent, O) == \
                counter(node.metrics.ticket_value_recv, G)
    run(scenario(), timeout=60)


@pytest.mark.parametrize("missing", ["gateway_request_id"])
def test_the_orchestrator_passes_the_workers_refusal_back(missing):
    """A worker refusing the start (here: its body replaced by one without gateway_request_id, which
    the gateway's fields override) is answered with its status, and the channels are gone."""
    async def scenario():
        async with byoc_network(debit_interval=60, payment_interval=1000) as (_g, g_app, _o, o_app, _n, _w, _h, _):
            gw = g_app.state.byoc_streams
            token = (await gw.bg.tokens(CAP, byoc.JobParameters()))[0]
            job = gw.bg.sign(byoc.JobRequest(id="s1", request="{}", parameters="{}", capability=CAP,
                                             timeout_seconds=60))
            r = await gw.send_job(job, token, "/ai/stream/start", json.dumps({missing: ""}).encode())
            assert r.status_code == 400 and r.json()["message"] == "gateway_request_id is required"
            assert r.headers[byoc.BALANCE_HEADER] != ""
            assert not [n for n in o_app.state.trickle.channels if n.startswith("s1")]
            assert o_app.state.byoc.capabilities.get(CAP).load == 0
    run(scenario(), timeout=60)



def test_a_lost_orchestrator_is_stopped_and_the_stream_moves_to_the_next():
    async def scenario():
        async with byoc_network(debit_interval=60, payment_interval=1000, n=2) as \
                (g, g_app, _o, _oa, _n, _w, http, orchs):
            r = await http.post(f"{g}/process/stream/start", json=start_body(),
                                headers={"Livepeer": job_header(enable_video_ingress=True, enable_data_output=True)})
            assert r.status_code == 200, r.text
            urls = r.json()
            sid = urls["stream_id"]
            gs = g_app.state.byoc_streams.pipelines[sid]
            await eventually(lambda: gs.token is not None)
            first = next(o for o in orchs if o[0] == gs.orchestrator)
            second = next(o for o in orchs if o is not first)
            await eventually(lambda: sid in first[3].state.streams.running)
            lines: list[str] = []
            reader = asyncio.ensure_future(sse_lines(http, urls["data_url"], lines))
            inp = TricklePublisher(urls["publish_url"], "video/MP2T")
            try:
                await asyncio.sleep(0.2)
                await inp.write(png())
                await eventually(lambda: lines)

                # the first orchestrator drops the stream (its channels close): the gateway swaps
                first[1].state.byoc_streams.remove(sid, "dropped for the test")
                await eventually(lambda: gs.orchestrator == second[0] and sid in second[3].state.streams.running)
                assert sid not in first[3].state.streams.running
                assert urls["status_url"] and (await http.get(urls["status_url"])).status_code == 200
                r = await http.post(urls["update_url"], json={"filter": "blur"}, headers={"Livepeer": job_header(sid)})
                assert r.status_code == 200  # the update goes to the new orchestrator's worker
                await inp.write(png())
                await eventually(lambda: any('"blur"' in line for line in lines))
                assert sid in g_app.state.byoc_streams.pipelines and not gs.error
                r = await http.post(urls["stop_url"])
                assert r.status_code == 200 and sid not in second[1].state.byoc_streams.streams
            finally:
                await inp.close()
                reader.cancel()
    run(scenario(), timeout=60)
