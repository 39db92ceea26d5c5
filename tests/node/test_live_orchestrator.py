"""The orchestrator's POST /live-video-to-video (go's StartLiveVideoToVideo) and its live sessions:
the response JSON, the four trickle channels under /ai/trickle/, the runner request, capacity (one
runner per session for runners the node started, the model's capacity for an external one, and
GetOrchestrator's live capacity), closing on session end or runner failure, and go's status codes
for bad input. The live runner here is a
small ai-runner-compatible test double that echoes input segments to the output channel."""
from __future__ import annotations

import asyncio
import contextlib
import re
from fractions import Fraction

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from node.core.ai_models import AIModelConfig
from node.core.capabilities import Capability
from node.core.keccak import keccak
from node.net.headers import SegMetadata, encode_segment_header
from node.net.trickle import (
    EndOfStream,
    StreamNotFound,
    TricklePublisher,
    TrickleSubscriber,
)
from node.orchestrator.live import CHANNELS
from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
from node.orchestrator.server import create_http_app
from tests.net.trickle_serving import eventually, run, served

LIVE = "live-video-to-video"
NODES: dict[str, OrchestratorNode] = {}  # base URL -> the orchestrator serving it


class EchoRunner:
    """ai-runner's live route as a test double: records each start and copies every input segment
    to the output channel (what the `noop` pipeline does, minus decoding)."""

    def __init__(self, fail: str = "") -> None:
        self.starts: list[dict] = []
        self.tasks: list[asyncio.Task] = []
        self.status = "OK"
        self.events: asyncio.Queue = asyncio.Queue()  # what report() publishes
        self.app = FastAPI()

        @self.app.get("/health")
        async def health():
            return {"status": self.status}

        @self.app.post("/" + LIVE)
        async def start(request: Request):
            params = await request.json()
            self.starts.append(params)
            if fail:
                return PlainTextResponse(fail, status_code=500)
            self.tasks.append(asyncio.ensure_future(self.echo(params["subscribe_url"], params["publish_url"])))
            if params.get("events_url"):  # ai-runner reports its status on the events channel
                self.tasks.append(asyncio.ensure_future(self.report(params["events_url"], params.get("params"))))
            return {}

    async def report(self, events_url: str, params) -> None:
        """Publishes on the events channel each segment put on `self.events` (JSON)."""
        import json

        pub = TricklePublisher(events_url, "application/json")
        try:
            while True:
                await pub.write(json.dumps(await self.events.get()).encode())
        except (StreamNotFound, EndOfStream):
            pass
        finally:
            await pub.close()

    async def echo(self, subscribe_url: str, publish_url: str) -> None:
        sub = TrickleSubscriber(subscribe_url, start_seq=0)
        pub = TricklePublisher(publish_url, "video/MP2T")
        try:
            async for seg in sub:
                await pub.write(b"echo:" + await seg.read())
        except (StreamNotFound, EndOfStream):
            pass
        finally:
            await sub.close()
            await pub.close()


def orchestrator(runner_url: str | None, capacity: int = 1) -> OrchestratorNode:
    models = [AIModelConfig(LIVE, "noop", url="http://runner", capacity=capacity)]
    return OrchestratorNode(OrchestratorConfig("http://placeholder", ai_models=models, transcoding=False))


@contextlib.asynccontextmanager
async def live_served(runner: EchoRunner | None, capacity: int = 1):
    """An offchain orchestrator app with its live runner, both served; (node, app, base URL, client)."""
    async with contextlib.AsyncExitStack() as stack:
        runner_url = await stack.enter_async_context(served(runner.app)) if runner else None
        node = orchestrator(runner_url, capacity)
        app = create_http_app(node, transcode=None, runners={LIVE: runner_url} if runner_url else {})
        base = await stack.enter_async_context(served(app, app.state.trickle))
        c = await stack.enter_async_context(httpx.AsyncClient())
        node.config.service_uri, NODES[base] = base, node
        yield node, app, base, c


@contextlib.asynccontextmanager
async def live_service_port(runner: EchoRunner, scheme: str = "http", **serve_kw):
    """The real start-up (node.orchestrator.server.serve_orchestrator) on a free port with `runner`
    as its live runner; yields the base URL the orchestrator hands out."""
    from node.orchestrator.server import serve_orchestrator
    from tests.ports import free_port

    async with served(runner.app) as runner_url:
        port = free_port()
        base = f"{scheme}://127.0.0.1:{port}"
        node = orchestrator(runner_url)
        node.config.service_uri, NODES[base] = base, node
        _, stop = await serve_orchestrator(node, "127.0.0.1", port, private_key=None, transcode=None,
                                           runners={LIVE: runner_url}, **serve_kw)
        try:
            yield base
        finally:
            await stop()


def seg_creds(node: OrchestratorNode) -> dict[str, str]:
    """An offchain gateway's Livepeer-Segment header: the orchestrator's auth token, unsigned."""
    md = SegMetadata("live", 0, keccak(b""), auth_token=node.offer("").auth_token)
    return {"Livepeer-Segment": encode_segment_header(md)}


async def start(c: httpx.AsyncClient, base: str, body=None, headers=None) -> httpx.Response:
    node = NODES[base]
    return await c.post(base + "/" + LIVE, json={"model_id": "noop", "params": {"prompt": "x"}} if body is None
                        else body, headers={**seg_creds(node), **(headers or {})})


def test_start_creates_channels_starts_runner_and_streams_through():
    async def scenario():
        runner = EchoRunner()
        async with live_served(runner) as (_, app, base, c):
            r = await start(c, base, headers={"streamID": "stream-1", "requestID": "req-1"})
            assert r.status_code == 200, r.text
            reply = r.json()
            mid = reply["manifest_id"]
            assert re.fullmatch(r"[0-9a-f]{8}", mid)
            prefix = f"{base}/ai/trickle/{mid}"
            assert reply == {"publish_url": prefix, "subscribe_url": prefix + "-out",
                             "control_url": prefix + "-control", "events_url": prefix + "-events", "manifest_id": mid}
            assert set(app.state.trickle.channels) == {mid + s for s in CHANNELS}
            assert app.state.trickle.channels[mid + "-control"].mime == "application/json"
            (params,) = runner.starts  # the runner reads our input and writes our output
            assert params == {"model_id": "noop", "subscribe_url": prefix, "publish_url": prefix + "-out",
                              "control_url": prefix + "-control", "events_url": prefix + "-events",
                              "params": {"prompt": "x"}, "gateway_request_id": "req-1", "manifest_id": mid,
                              "stream_id": "stream-1"}

            pub = TricklePublisher(reply["publish_url"], "video/MP2T")
            out = TrickleSubscriber(reply["subscribe_url"], start_seq=0)
            for i in range(3):
                await pub.write(b"segment %d" % i)
                seg = await out.next_segment()
                assert await seg.read() == b"echo:segment %d" % i
            await pub.close()  # the gateway ends the stream: the session ends, every channel closes
            await eventually(lambda: not app.state.trickle.channels and not app.state.live.sessions)
            await out.close()
    run(scenario())


def test_capability_and_model_are_advertised():
    node = orchestrator("http://runner")
    assert node.capabilities.bitstring.has(int(Capability.LiveVideoToVideo))
    assert node.capabilities.constraints[int(Capability.LiveVideoToVideo)]["noop"].capacity == 1


def test_capacity_per_runner_and_release_on_session_end():
    async def scenario():
        runner = EchoRunner()
        async with live_served(runner, capacity=1) as (_, app, base, c):
            first = (await start(c, base)).json()
            r = await start(c, base)
            assert (r.status_code, r.text) == (503, "insufficient capacity")
            assert len(runner.starts) == 1
            r = await start(c, base, body={"model_id": "other-model"})
            assert (r.status_code, r.text) == (503, "insufficient capacity")
            app.state.trickle.close_channel(first["manifest_id"])  # input gone (e.g. the idle sweep)
            await eventually(lambda: not app.state.live.sessions)
            assert not app.state.trickle.channels  # all four closed
            assert (await start(c, base)).status_code == 200  # the slot is free again
    run(scenario())


@contextlib.asynccontextmanager
async def pooled(runners: list[EchoRunner]):
    """An orchestrator with the runners it started itself (one stream each: go's one container per
    unit of capacity), as node.worker.ai.local_runner.start_live_runners hands them over."""
    async with contextlib.AsyncExitStack() as stack:
        urls = [await stack.enter_async_context(served(r.app)) for r in runners]
        models = [AIModelConfig(LIVE, "noop", capacity=len(runners))]  # no url: managed runners
        node = OrchestratorNode(OrchestratorConfig("http://placeholder", ai_models=models, transcoding=False))
        app = create_http_app(node, transcode=None, runners={LIVE: urls})
        base = await stack.enter_async_context(served(app, app.state.trickle))
        c = await stack.enter_async_context(httpx.AsyncClient())
        node.config.service_uri, NODES[base] = base, node
        yield app, base, c


async def echo_through(reply: dict, payload: bytes, stop: bool = True, seq: int = 0,
                       pub: TricklePublisher | None = None) -> TricklePublisher:
    """Writes one segment and reads its echo; returns the publisher when the stream goes on (reuse
    it: a second publisher on the same stream would race the first one's preconnect of the next
    segment, which go's server also treats as the segment's writer)."""
    pub = pub or TricklePublisher(reply["publish_url"], "video/MP2T", start_seq=seq)
    out = TrickleSubscriber(reply["subscribe_url"], start_seq=seq)
    await pub.write(payload)
    assert await (await out.next_segment()).read() == b"echo:" + payload
    await out.close()
    if stop:
        await pub.close()  # the gateway ends the stream
    return pub


def test_each_session_gets_its_own_runner_and_a_third_is_refused_until_one_ends():
    async def scenario():
        runners = [EchoRunner(), EchoRunner()]
        async with pooled(runners) as (app, base, c):
            first, second = [(await start(c, base)).json() for _ in range(2)]
            assert [len(r.starts) for r in runners] == [1, 1]  # one stream per runner: none cancels another
            _, second_pub = await asyncio.gather(echo_through(first, b"from first"),  # both at once; the first stops
                                                 echo_through(second, b"from second", stop=False))
            await eventually(lambda: first["manifest_id"] not in app.state.live.sessions)
            assert second["manifest_id"] in app.state.live.sessions  # the second still streams
            third = await start(c, base)
            assert third.status_code == 200, third.text  # on the runner the first gave back
            assert [len(r.starts) for r in runners] == [2, 1] or [len(r.starts) for r in runners] == [1, 2]
            r = await start(c, base)
            assert (r.status_code, r.text) == (503, "insufficient capacity")  # go's answer, no runner asked
            assert sum(len(r.starts) for r in runners) == 3
            await echo_through(third.json(), b"third")
            await echo_through(second, b"second again", seq=1, pub=second_pub)  # untouched by the third
    run(scenario())


def test_a_failed_runner_start_gives_the_runner_back():
    async def scenario():
        async with pooled([EchoRunner(fail="pipeline crashed")]) as (app, base, c):
            for _ in range(2):  # the same runner again: it was not kept by the failed session
                r = await start(c, base)
                assert r.status_code == 500 and "pipeline crashed" in r.text
            assert app.state.live.runners.free and not app.state.live.runners.lent
    run(scenario())


def test_a_managed_runner_that_stops_the_stream_ends_the_session_and_is_lent_again():
    async def scenario():
        runner = EchoRunner()
        async with pooled([runner]) as (app, base, c):
            app.state.live.health_interval = 0.05
            reply = (await start(c, base)).json()
            runner.status = "IDLE"  # it stopped the stream (ai-runner: 60 s without input)
            await eventually(lambda: not app.state.live.sessions)
            assert reply["manifest_id"] + "-out" not in app.state.trickle.channels
            runner.status = "OK"
            assert (await start(c, base)).status_code == 200
    run(scenario())


def test_runner_failure_is_500_and_leaves_nothing_behind():
    async def scenario():
        runner = EchoRunner(fail="pipeline crashed")
        async with live_served(runner) as (node, app, base, c):
            r = await start(c, base)
            assert r.status_code == 500 and "pipeline crashed" in r.text
            assert not app.state.trickle.channels and not app.state.live.sessions
            assert node.capabilities.constraints[int(Capability.LiveVideoToVideo)]["noop"].capacity == 1
    run(scenario())


def test_no_runner_is_500():
    async def scenario():
        async with live_served(None) as (_, app, base, c):
            r = await start(c, base)
            assert r.status_code == 500 and "no live runner" in r.text
            assert not app.state.trickle.channels
    run(scenario())


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400), (b"[1, 2]", 400), (b'{"model_id": 5}', 400), (b'{"model_id": "noop", "params": []}', 400),
    (b'{"model_id": "noop", "stream_id": 7}', 400),
])
def test_bad_request_bodies_are_400(body, status):
    async def scenario():
        async with live_served(None) as (node, app, base, c):
            r = await c.post(base + "/" + LIVE, content=body,
                             headers={"Content-Type": "application/json", **seg_creds(node)})
            assert r.status_code == status
            assert not app.state.trickle.channels
    run(scenario())


def test_bad_payment_and_segment_headers():
    async def scenario():
        runner = EchoRunner()
        async with live_served(runner) as (node, app, base, c):
            r = await start(c, base, headers={"Livepeer-Payment": "@@not base64@@"})
            assert r.status_code == 402
            r = await start(c, base, headers={"Livepeer-Segment": "garbage"})
            assert r.status_code == 403
            assert not runner.starts and not app.state.trickle.channels
            assert node.capabilities.constraints[int(Capability.LiveVideoToVideo)]["noop"].capacity == 1
    run(scenario())


def test_runner_reporting_error_fails_the_session():
    async def scenario():
        runner = EchoRunner()
        async with live_served(runner) as (node, app, base, c):
            app.state.live.health_interval = 0.05
            reply = (await start(c, base)).json()
            out = TrickleSubscriber(reply["subscribe_url"], start_seq=0)
            waiting = asyncio.ensure_future(out.next_segment())
            await asyncio.sleep(0.2)
            assert app.state.live.sessions  # healthy: still running
            runner.status = "ERROR"
            with pytest.raises(EndOfStream):  # the gateway's output subscription ends: it swaps
                await waiting
            assert not app.state.trickle.channels and not app.state.live.sessions
            assert node.capabilities.constraints[int(Capability.LiveVideoToVideo)]["noop"].capacity == 1
            await out.close()
    run(scenario())


def test_control_messages_reach_the_runner_through_the_orchestrator():
    async def scenario():
        runner = EchoRunner()
        async with live_served(runner) as (_, _, base, c):
            reply = (await start(c, base)).json()
            control = TricklePublisher(reply["control_url"], "application/json")
            reader = TrickleSubscriber(runner.starts[0]["control_url"], start_seq=-1)
            waiting = asyncio.ensure_future(reader.next_segment())
            await asyncio.sleep(0.1)
            await control.write(b'{"prompt": "a new prompt"}')
            seg = await waiting
            assert seg.mime == "application/json" and await seg.read() == b'{"prompt": "a new prompt"}'
            await control.close()
            await reader.close()
    run(scenario())


# ----------------------------------------------------------------- on-chain: the payment at start

def paid_orchestrator(runner_url: str):
    """An on-chain orchestrator (stub chain) charging 3 wei a pixel, and a funded gateway's sender."""
    from eth_account import Account

    from node.core.sender import Sender
    from tests.core.stubs import StubBroker, StubChain

    o_key, g_key = bytes([11]) * 32, bytes([12]) * 32
    o, g = Account.from_key(o_key).address, Account.from_key(g_key).address
    chain = StubChain(price=1)
    chain.active.add(o)
    chain.fund(g, deposit=10**18, reserve=10**18)
    models = [AIModelConfig(LIVE, "noop", url=runner_url, capacity=2)]
    config = OrchestratorConfig("http://placeholder", price_per_unit=Fraction(3), ai_models=models,
                                transcoding=False, auto_adjust_price=False)
    node = OrchestratorNode(config, address=o, chain=chain, broker=StubBroker())
    return node, Sender(g, g_key, chain), g_key


def paid_headers(node: OrchestratorNode, sender, g_key: bytes, fee: Fraction | None, tamper: bool = False) -> dict:
    """What a gateway sends to start a live session: tickets worth `fee` on the orchestrator's
    offer for live-video-to-video/noop (None: no tickets, only the expected price), and seg creds
    signed by the gateway."""
    import dataclasses

    from node.core.balances import Balances
    from node.core.capabilities import ai_job_capabilities
    from node.core.payment import Payment, new_payment
    from node.net.headers import encode_payment_header

    caps = ai_job_capabilities(int(Capability.LiveVideoToVideo), "noop", with_defaults=True)
    offer = node.offer(sender.address, caps)
    pm = sender.start_session(offer.ticket_params)
    payment = Payment(sender.address, expected_price=offer.price) if fee is None else \
        new_payment(sender, Balances(lambda: 0.0), node.address, "live", pm, fee, offer.price)[0]
    if tamper:  # a forged ticket: its signature no longer matches
        first = payment.ticket_sender_params[0]
        forged = dataclasses.replace(first, sig=bytes(65))
        payment = dataclasses.replace(payment, ticket_sender_params=(forged, *payment.ticket_sender_params[1:]))
    md = SegMetadata("live", 0, keccak(b""), capabilities=caps, auth_token=offer.auth_token)
    return {"Livepeer-Segment": encode_segment_header(md, g_key), "Livepeer-Payment": encode_payment_header(payment)}


@contextlib.asynccontextmanager
async def paid_network():
    runner = EchoRunner()
    async with served(runner.app) as runner_url:
        node, sender, g_key = paid_orchestrator(runner_url)
        app = create_http_app(node, transcode=None, runners={LIVE: runner_url})
        async with served(app, app.state.trickle) as base, httpx.AsyncClient() as c:
            node.config.service_uri = base
            yield node, sender, g_key, app, runner, base, c


UPFRONT = Fraction(3) * 1280 * 720 * 30 * 60  # go's 60 s at 720p30, at 3 wei a pixel


def test_bad_payments_are_refused_before_any_channel_or_runner():
    async def scenario():
        async with paid_network() as (node, sender, g_key, app, runner, base, c):
            body = {"model_id": "noop"}
            r = await c.post(base + "/" + LIVE, json=body, headers=paid_headers(node, sender, g_key, None))
            assert (r.status_code, r.text) == (400, "Insufficient balance")  # no tickets at a price
            r = await c.post(base + "/" + LIVE, json=body,
                             headers=paid_headers(node, sender, g_key, UPFRONT, tamper=True))
            assert r.status_code == 400 and r.text != "Insufficient balance"  # ProcessPayment's error
            assert not runner.starts and not app.state.trickle.channels and not app.state.live.sessions
            assert node.capabilities.constraints[int(Capability.LiveVideoToVideo)]["noop"].capacity == 2
    run(scenario())


def test_paid_session_is_charged_per_input_segment_and_closed_when_the_balance_runs_out():
    async def scenario():
        async with paid_network() as (node, sender, g_key, app, _runner, base, c):
            app.state.live.payment_interval = 0.05
            r = await c.post(base + "/" + LIVE, json={"model_id": "noop"},
                             headers=paid_headers(node, sender, g_key, UPFRONT))
            assert r.status_code == 200, r.text
            reply = r.json()
            mid = reply["manifest_id"]
            balance = lambda: node.receiver.balances.balance(sender.address, mid)
            credited = balance()
            assert credited is not None and credited > 0  # keyed by the new manifest id

            pub = TricklePublisher(reply["publish_url"], "video/MP2T")
            out = TrickleSubscriber(reply["subscribe_url"], start_seq=0)
            for i in range(3):  # each input segment past the interval is billed
                await asyncio.sleep(0.06)
                await pub.write(b"segment %d" % i)
                await (await out.next_segment()).read()
            charged = credited - balance()
            assert charged > 0 and charged % 3 == 0  # whole pixels at 3 wei

            node.receiver.balances.debit(sender.address, mid, balance() - 1)  # almost drained
            await asyncio.sleep(0.06)
            with contextlib.suppress(Exception):
                await pub.write(b"unpaid")
            await eventually(lambda: not app.state.live.sessions)
            assert not app.state.trickle.channels  # all four closed: the stream stops
            with pytest.raises((EndOfStream, StreamNotFound)):
                for _ in range(3):
                    await (await out.next_segment()).read()
            await out.close()
            await pub.close()
    run(scenario())


def test_through_the_orchestrators_service_port():
    """The real start-up (node.orchestrator.server.serve_orchestrator: gRPC and HTTP demuxed on one
    port, body limits): a session's segment-sized bytes stream through the mounted trickle server."""
    async def scenario():
        async with live_service_port(EchoRunner()) as base:
            async with httpx.AsyncClient() as c:
                reply = (await start(c, base)).json()
            pub = TricklePublisher(reply["publish_url"], "video/MP2T")
            out = TrickleSubscriber(reply["subscribe_url"], start_seq=-1)
            waiting = asyncio.ensure_future(out.next_segment())
            async with pub.next() as seg:
                await seg.write(b"x" * 300_000)  # together past the 1 MiB body limit of other routes:
                await seg.write(b"y" * 900_000)  # /ai/trickle/ takes segment-sized bodies
            got = await waiting
            assert await got.read() == b"echo:" + b"x" * 300_000 + b"y" * 900_000
            await out.close()
        await pub.close()
    run(scenario())


def test_manifest_ids_come_from_the_nodes_injected_randomness():
    import random

    from node.net.trickle import TrickleServer
    from node.orchestrator.live import LiveSessions, new_manifest_id

    assert new_manifest_id(lambda n: bytes(range(1, n + 1))) == "01020304"
    ids = []
    for _ in range(2):
        rng = random.Random(7)
        models = [AIModelConfig(LIVE, "noop", url="http://runner")]
        node = OrchestratorNode(OrchestratorConfig("http://o", ai_models=models), randbytes=rng.randbytes)
        sessions = LiveSessions(node, TrickleServer(), runner_url=None, client=None)
        ids.append(new_manifest_id(sessions.randbytes))
    assert ids[0] == ids[1] and re.fullmatch(r"[0-9a-f]{8}", ids[0])


def test_get_orchestrator_reports_idle_runners_and_is_capped_when_none_is_free():
    """go's setLiveAICapacity and checkLiveVideoToVideoCapacity on the service port: a live model's
    advertised capacity is its idle runners (capacityInUse the lent ones); a GetOrchestrator that
    asks for a live model with no runner free is refused OrchestratorCapped, unless it sets
    ignoreCapacityCheck."""
    import grpc

    from node.core.capabilities import ai_job_capabilities
    from node.net import wire
    from node.net.proto import lp_rpc_pb2 as pb
    from node.net.proto import lp_rpc_pb2_grpc as pb_grpc
    from node.net.tls import grpc_channel
    from node.orchestrator.server import serve_orchestrator
    from tests.ports import free_port

    cap = int(Capability.LiveVideoToVideo)

    async def get(stub, ignore: bool = False):
        req = pb.OrchestratorRequest(ignoreCapacityCheck=ignore)
        req.capabilities.CopyFrom(wire.capabilities_to_proto(ai_job_capabilities(cap, "noop", with_defaults=True)))
        info = wire.orchestrator_info_from_proto(await stub.GetOrchestrator(req, timeout=10))
        model = info.capabilities.constraints[cap]["noop"]
        return model.capacity, model.capacity_in_use

    async def scenario():
        async with contextlib.AsyncExitStack() as stack:
            urls = [await stack.enter_async_context(served(EchoRunner().app)) for _ in range(2)]
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            node = OrchestratorNode(OrchestratorConfig(base, transcoding=False,
                                                       ai_models=[AIModelConfig(LIVE, "noop", capacity=2)]))
            NODES[base] = node
            _, stop = await serve_orchestrator(node, "127.0.0.1", port, private_key=None, transcode=None,
                                               runners={LIVE: urls})
            stack.push_async_callback(stop)
            channel = await grpc_channel(base)
            stack.push_async_callback(channel.close)
            stub = pb_grpc.OrchestratorStub(channel)
            c = await stack.enter_async_context(httpx.AsyncClient())
            assert await get(stub) == (2, 0)
            assert (await start(c, base)).status_code == 200
            assert await get(stub) == (1, 1)
            assert (await start(c, base)).status_code == 200
            with pytest.raises(grpc.aio.AioRpcError, match="OrchestratorCapped"):
                await get(stub)
            assert await get(stub, ignore=True) == (0, 2)
            assert node.capabilities.constraints[cap]["noop"].capacity == 1  # the node's own: untouched
    run(scenario())
