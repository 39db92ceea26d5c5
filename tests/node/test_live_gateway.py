"""The gateway's live video-to-video streams (node.gateway.live) against real orchestrators
(serve_orchestrator: gRPC and HTTP, T's live route and trickle server) whose live runner is the
echo double of tests/node/test_live_orchestrator.py (node.worker.live's runner proper is driven by
tests/worker/test_live_runner.py and, end to end, by the SDK test and benchmarks/bench_live_path.py):
relay, payments, swaps on a lost orchestrator or a failed runner, the events channel, /status, /metrics."""
from __future__ import annotations

import asyncio
import contextlib
from fractions import Fraction

import httpx
import pytest

from node.core.ai_models import AIModelConfig
from node.core.live_payment import LIVE_SLOW_PENALTY
from node.core.pricing import LIVE_INITIAL_UNITS, LIVE_VIDEO_UNITS_PER_SECOND
from node.gateway.live import LiveStream, LiveStreams, OrchestratorLost
from node.net.trickle import EndOfStream, TricklePublisher, TrickleSubscriber
from tests.net.trickle_serving import eventually, run
from tests.node.test_live_orchestrator import LIVE, EchoRunner, served

PRICE = Fraction(3)
O_KEYS = [bytes([21 + i]) * 32 for i in range(2)]
G_KEY = bytes([12]) * 32


@contextlib.asynccontextmanager
async def live_network(n_orchestrators: int = 1, interval: float = 0.05, runner_delay: float = 0.0):
    """n paid orchestrators (stub chain, 3 wei a pixel, echo runners), an on-chain gateway app."""
    from eth_account import Account

    from node.gateway.node import GatewayNode
    from node.gateway.server import create_app as gateway_app
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from node.orchestrator.server import serve_orchestrator
    from tests.core.stubs import StubBroker, StubChain
    from tests.node.hostile import serve_app
    from tests.ports import free_port

    chain = StubChain(price=1)
    g = Account.from_key(G_KEY).address
    chain.fund(g, deposit=10**18, reserve=10**18)
    stops, nodes, runners = [], [], []
    async with contextlib.AsyncExitStack() as stack:
        for key in O_KEYS[:n_orchestrators]:
            runner = EchoRunner()
            if runner_delay:
                @runner.app.middleware("http")
                async def slow(request, call_next):
                    await asyncio.sleep(runner_delay)
                    return await call_next(request)
            runner_url = await stack.enter_async_context(served(runner.app))
            port = free_port()
            uri = f"http://127.0.0.1:{port}"
            o = Account.from_key(key).address
            chain.active.add(o)
            config = OrchestratorConfig(uri, price_per_unit=PRICE, transcoding=False, auto_adjust_price=False,
                                        ai_models=[AIModelConfig(LIVE, "noop", url=runner_url, capacity=2)])
            node = OrchestratorNode(config, address=o, chain=chain, broker=StubBroker())
            _, stop = await serve_orchestrator(node, "127.0.0.1", port, private_key=key, transcode=None,
                                               runners={LIVE: runner_url})
            stops.append(stop)
            nodes.append(node)
            runners.append(runner)
        gateway = GatewayNode([n.config.service_uri for n in nodes], account=Account.from_key(G_KEY), chain=chain)
        app = gateway_app(gateway, ())
        app.state.live.payment_interval = interval
        port, stop_gateway = await serve_app(app)
        try:
            yield gateway, app, f"http://127.0.0.1:{port}", nodes, runners
        finally:
            await app.state.live.close()
            await stop_gateway()
            await gateway.close()
            for stop in stops:
                await stop()


def recording_payments(live: LiveStreams) -> list[int]:
    units: list[int] = []
    pay = live._pay

    def record(s, session, mid, n):
        units.append(n)
        pay(s, session, mid, n)
    live._pay = record
    return units


def test_a_paid_stream_relays_frames_and_pays_every_interval_in_exact_units():
    async def scenario():
        async with live_network() as (gateway, app, base, nodes, runners), httpx.AsyncClient() as c:
            live: LiveStreams = app.state.live
            units = recording_payments(live)
            fees: list[tuple[str, Fraction]] = []
            make_payment = gateway._payment
            gateway._payment = lambda state, fee, key: (fees.append((key, fee)), make_payment(state, fee, key))[1]
            r = await c.post(base + "/live/video-to-video/s1/start", json={"model_id": "noop", "params": {"a": 1}})
            assert r.status_code == 200, r.text
            urls = r.json()
            await eventually(lambda: live.streams["s1"].manifest_id != "")
            stream = live.streams["s1"]
            node = nodes[0]
            assert runners[0].starts[0]["params"] == {"a": 1}
            addr = gateway.address
            credited = node.receiver.balances.balance(addr, stream.manifest_id)
            assert credited is not None and credited > 0  # 60 s paid up front on the start call

            pub = TricklePublisher(urls["publish_url"], "video/MP2T")
            out = TrickleSubscriber(urls["subscribe_url"], start_seq=0)
            for i in range(4):
                await asyncio.sleep(0.06)
                await pub.write(b"frame %d" % i)
                assert await (await out.next_segment()).read() == b"echo:frame %d" % i
            await eventually(lambda: stream.payments == len(units) >= 3)
            assert all(u >= 0.05 * LIVE_VIDEO_UNITS_PER_SECOND for u in units)  # never before the interval
            assert fees[0][1] == LIVE_INITIAL_UNITS * PRICE  # 60 s with the start call ...
            assert fees[1:] == [(stream.manifest_id, u * PRICE) for u in units]  # ... then units × price each
            # the orchestrator received every payment and debited the same stream by its own processor
            st = (await c.get(base + "/live/video-to-video/s1/status")).json()["gateway_status"]
            assert st["orchestrator"] == node.config.service_uri and st["payments"] == len(units) and not st["error"]
            assert node.receiver.balances.balance(addr, stream.manifest_id) is not None

            r = await c.post(base + "/live/video-to-video/s1/update", content=b'{"prompt": "b"}')
            assert r.status_code == 200
            assert (await c.post(base + "/live/video-to-video/nope/update", content=b"{}")).status_code == 404
            assert (await c.post(base + "/live/video-to-video/s1/update", content=b"x" * 200_000)).status_code == 413
            assert (await c.post(base + "/live/video-to-video/s1/start", json={})).status_code == 409
            assert (await c.post(base + "/live/video-to-video/s2/start", content=b"{bad")).status_code == 400

            await pub.close()  # the client's input ends: the stream ends, nothing swaps
            await eventually(lambda: live.streams["s1"].task.done())
            assert not stream.swaps and not stream.error
            with pytest.raises(EndOfStream):
                await (await out.next_segment()).read()
            await out.close()
    run(scenario(), timeout=60)


def test_a_start_that_takes_longer_than_the_timeout_fails_the_orchestrator(monkeypatch):
    import node.gateway.live as gateway_live

    monkeypatch.setattr(gateway_live, "LIVE_START_TIMEOUT", 0.3)  # go's 5 s, shortened

    async def scenario():
        async with live_network(runner_delay=1.0) as (_gateway, app, base, _nodes, _runners), httpx.AsyncClient() as c:
            live: LiveStreams = app.state.live
            assert (await c.post(base + "/live/video-to-video/s1/start", json={"model_id": "noop"})).status_code == 200
            await eventually(lambda: live.streams["s1"].task.done(), timeout=10)
            stream = live.streams["s1"]
            assert stream.error == "no orchestrators available" and stream.manifest_id == ""
            assert "s1" not in live.trickle.channels  # the client's channels are closed
            st = (await c.get(base + "/live/video-to-video/s1/status")).json()["gateway_status"]
            assert st["error"] == "no orchestrators available" and not st["running"]
    run(scenario(), timeout=60)


def test_a_lost_orchestrator_is_swapped_for_another():
    async def scenario():
        async with live_network(2) as (_gateway, app, base, _nodes, runners), httpx.AsyncClient() as c:
            live: LiveStreams = app.state.live
            urls = (await c.post(base + "/live/video-to-video/s1/start", json={"model_id": "noop"})).json()
            await eventually(lambda: live.streams["s1"].manifest_id != "")
            stream = live.streams["s1"]
            first = stream.orchestrator
            pub = TricklePublisher(urls["publish_url"], "video/MP2T")
            out = TrickleSubscriber(urls["subscribe_url"], start_seq=0)
            await pub.write(b"one")
            assert await (await out.next_segment()).read() == b"echo:one"
            assert sum(bool(r.starts) for r in runners) == 1
            # the orchestrator's output channel ends (as when its runner fails and it closes the session)
            await c.delete(f"{first}/ai/trickle/{stream.manifest_id}-out")
            await eventually(lambda: stream.orchestrator not in ("", first), timeout=10)
            assert len(stream.swaps) == 1 and not stream.error
            await eventually(lambda: all(r.starts for r in runners))
            got = b""
            for _ in range(20):  # segments published while the swap was under way may be lost
                await pub.write(b"two")
                with contextlib.suppress(asyncio.TimeoutError):
                    got = await asyncio.wait_for((await out.next_segment()).read(), 2)
                if got == b"echo:two":
                    break
            assert got == b"echo:two"  # through the other orchestrator
            await pub.close()
            await out.close()
    run(scenario(), timeout=60)


def test_the_third_swap_within_three_minutes_stops_the_stream():
    async def scenario():
        live = LiveStreams(gateway=None)
        started = []

        class Session:
            uri = "https://o.example"

        async def start(s, selector):
            started.append(1)
            return Session(), {}

        async def relay(s, session, reply, selector):
            raise OrchestratorLost("runner crashed")

        class Selector:
            def remove(self, session):
                pass
        live._selector = lambda model_id: Selector()
        live._start_on_orchestrator = start
        live._relay = relay
        live.trickle.create_channel("s")
        s = LiveStream("s", "noop", {})
        await live._run(s)
        assert len(started) == 3 and len(s.swaps) == 3 and s.error == "too many swaps: runner crashed"
        assert "s" not in live.trickle.channels  # the client's channels are closed
        await live.client.aclose()
    run(scenario())


def test_three_input_segments_in_flight_suspend_the_orchestrator():
    async def scenario():
        from node.core.suspension import Suspender

        stack = contextlib.AsyncExitStack()
        live = LiveStreams(gateway=None, payment_interval=3600)
        live.trickle.create_channel("s")
        never = asyncio.Event()

        async def stuck(seg, writer, superseded):  # the orchestrator accepts no input
            await never.wait()
        live._copy = stuck

        class Session:
            uri = "https://o.example"

        class Selector:
            suspender = Suspender(offset_by_refresh_count=True)
        from node.net.trickle import TrickleServer

        orchestrator_trickle = TrickleServer(autocreate=True)
        o_base = await stack.enter_async_context(served(orchestrator_trickle, orchestrator_trickle))
        output = asyncio.get_running_loop().create_future()
        relay = asyncio.ensure_future(live._relay_input(LiveStream("s", "noop", {}), Session(),
                                                        {"publish_url": f"{o_base}/x", "manifest_id": "m"},
                                                        Selector(), output))
        ch = live.trickle.channels["s"]
        for seq in range(4):
            await asyncio.sleep(0.02)
            seg = ch.for_write(seq)
            ch.next_write = seq + 1
            seg.write(b"x")
        with pytest.raises(OrchestratorLost, match="slow: 3 input segments in flight"):
            await asyncio.wait_for(relay, 5)
        assert Selector.suspender.suspended(Session.uri) == LIVE_SLOW_PENALTY
        await live.client.aclose()
        await stack.aclose()
    run(scenario())


def live_payment_headers(node, sender, g_key: bytes, mid: str, fee: Fraction, tamper: bool = False) -> dict:
    """A gateway's POST /payment for live session `mid`: tickets worth `fee`, seg creds for `mid`."""
    import dataclasses

    from node.core.balances import Balances
    from node.core.capabilities import Capability, ai_job_capabilities
    from node.core.keccak import keccak
    from node.core.payment import new_payment
    from node.net.headers import (
        SegMetadata,
        encode_payment_header,
        encode_segment_header,
    )

    caps = ai_job_capabilities(int(Capability.LiveVideoToVideo), "noop", with_defaults=True)
    offer = node.offer(sender.address, caps)
    payment, _ = new_payment(sender, Balances(lambda: 0.0), node.address, mid,
                             sender.start_session(offer.ticket_params), fee, offer.price)
    if tamper:
        forged = dataclasses.replace(payment.ticket_sender_params[0], sig=bytes(65))
        payment = dataclasses.replace(payment, ticket_sender_params=(forged, *payment.ticket_sender_params[1:]))
    md = SegMetadata(mid, 0, keccak(b""), capabilities=caps, auth_token=offer.auth_token)
    return {"Livepeer-Segment": encode_segment_header(md, g_key), "Livepeer-Payment": encode_payment_header(payment)}


def test_live_payments_credit_the_session_and_forged_or_replayed_ones_are_refused():
    from tests.node.test_live_orchestrator import UPFRONT, paid_headers, paid_network

    async def scenario():
        async with paid_network() as (node, sender, g_key, _app, _runner, base, c):
            r = await c.post(base + "/" + LIVE, json={"model_id": "noop"},
                             headers=paid_headers(node, sender, g_key, UPFRONT))
            assert r.status_code == 200, r.text
            mid = r.json()["manifest_id"]
            balance = lambda: node.receiver.balances.balance(sender.address, mid)
            before = balance()
            fee = PRICE * 5 * LIVE_VIDEO_UNITS_PER_SECOND  # one interval
            headers = live_payment_headers(node, sender, g_key, mid, fee)
            r = await c.post(base + "/payment", headers=headers)
            assert r.status_code == 200, r.text
            paid = balance()
            assert paid > before  # credited to the live session's key (its manifest id)
            r = await c.post(base + "/payment", headers=headers)  # the same tickets again
            assert r.status_code == 400 and balance() == paid
            r = await c.post(base + "/payment", headers=live_payment_headers(node, sender, g_key, mid, fee,
                                                                             tamper=True))
            assert r.status_code == 400 and balance() == paid
            # seg creds not signed by the payment's sender: refused before any ticket is looked at
            stranger = live_payment_headers(node, sender, bytes([13]) * 32, mid, fee)
            r = await c.post(base + "/payment", headers=stranger)
            assert r.status_code >= 400 and balance() == paid
    run(scenario())


def test_a_stream_whose_balance_runs_out_is_closed_by_the_orchestrator_and_the_gateway_moves_on(monkeypatch):
    from node.orchestrator.live import LiveSessions

    init = LiveSessions.__init__

    def short_interval(self, *args, **kwargs):  # the orchestrators account every 50 ms
        init(self, *args, **kwargs)
        self.payment_interval = 0.05
    monkeypatch.setattr(LiveSessions, "__init__", short_interval)

    async def scenario():
        async with live_network() as (gateway, app, base, nodes, _runners), httpx.AsyncClient() as c:
            live: LiveStreams = app.state.live
            live._pay = lambda *args: None  # a gateway that stops paying after the start
            urls = (await c.post(base + "/live/video-to-video/s1/start", json={"model_id": "noop"})).json()
            await eventually(lambda: live.streams["s1"].manifest_id != "")
            stream, node = live.streams["s1"], nodes[0]
            mid = stream.manifest_id
            pub = TricklePublisher(urls["publish_url"], "video/MP2T")
            await pub.write(b"paid")
            left = node.receiver.balances.balance(gateway.address, mid)
            node.receiver.balances.debit(gateway.address, mid, left - 1)  # the 60 s are used up
            for _ in range(3):
                await asyncio.sleep(0.06)
                with contextlib.suppress(Exception):
                    await pub.write(b"unpaid")
            gone = False
            for _ in range(100):  # the orchestrator closed the session's channels ("insufficient balance")
                gone = (await c.get(f"{node.config.service_uri}/ai/trickle/{mid}/next")).status_code == 404
                if gone:
                    break
                await asyncio.sleep(0.05)
            assert gone
            # the gateway lost it: it swapped (here back to the only orchestrator, a fresh session)
            await eventually(lambda: len(stream.swaps) == 1, timeout=10)
            await eventually(lambda: stream.manifest_id not in ("", mid) or stream.error != "", timeout=10)
            await pub.close()
    run(scenario(), timeout=60)



def metric(text: str, name: str, labels: str = "") -> float:
    """One sample of the gateway's /metrics exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(f"livepeer_{name}{'{' + labels + '}' if labels else ''} "):
            return float(line.split()[-1])
    return 0.0


def test_status_serves_the_runners_latest_status_and_metrics_count_the_stream():
    """go's events subscription: the runner's status event, tagged with the stream and orchestrator,
    its once-sent last_params carried over by a later status; /metrics as go's monitor names them."""
    async def scenario():
        async with live_network() as (_gateway, app, base, nodes, runners), httpx.AsyncClient() as c:
            live: LiveStreams = app.state.live
            urls = (await c.post(base + "/live/video-to-video/s1/start",
                                 json={"model_id": "noop", "params": {"prompt": "a"}})).json()
            status = {"type": "status", "state": "ONLINE", "inference_status": {"last_params": {"prompt": "a"}}}
            for _ in range(50):  # the gateway reads from the live edge (go's -1): until it has subscribed
                runners[0].events.put_nowait({"event": status, "queue_event_type": "ai_stream_events"})
                await asyncio.sleep(0.1)
                if live.streams["s1"].status is not None:
                    break
            seen = live.streams["s1"].events
            st = (await c.get(base + "/live/video-to-video/s1/status")).json()
            assert st["type"] == "status" and st["state"] == "ONLINE" and st["stream_id"] == "s1"
            assert st["inference_status"]["last_params"] == {"prompt": "a"}
            assert st["orchestrator_info"]["url"] == nodes[0].config.service_uri
            assert st["orchestrator_info"]["address"] == nodes[0].address
            assert st["gateway_status"]["orchestrator"] == nodes[0].config.service_uri
            assert st["gateway_status"]["running"] and "running" not in st  # the gateway's view only there

            later = {"type": "status", "state": "DEGRADED_INPUT", "inference_status": {"last_params": None}}
            runners[0].events.put_nowait({"event": later, "queue_event_type": "ai_stream_events"})
            runners[0].events.put_nowait({"type": "error", "message": "a bare event"})  # go: the body is the event
            await eventually(lambda: live.streams["s1"].events == seen + 2)
            st = (await c.get(base + "/live/video-to-video/s1/status")).json()
            assert st["state"] == "DEGRADED_INPUT" and st["inference_status"]["last_params"] == {"prompt": "a"}

            pub = TricklePublisher(urls["publish_url"], "video/MP2T")
            out = TrickleSubscriber(urls["subscribe_url"], start_seq=0)
            for i in range(2):
                await pub.write(b"frame %d" % i)
                await (await out.next_segment()).read()
            text = (await c.get(base + "/metrics")).text
            assert metric(text, "ai_live_attempt_total", 'model_name="noop"') == 1
            assert metric(text, "ai_current_live_pipelines", f'pipeline="{LIVE}"') == 1
            assert metric(text, "ai_live_segments_total", 'direction="in"') == 2
            assert metric(text, "ai_live_segments_total", 'direction="out"') == 2
            assert metric(text, "ai_first_segment_delay_ms_count") == 1
            assert metric(text, "ai_live_events_total", 'type="status"') == seen + 1
            assert metric(text, "ai_live_events_total", 'type="error"') == 1
            await pub.close()
            await eventually(lambda: live.streams["s1"].task.done())
            text = (await c.get(base + "/metrics")).text
            assert metric(text, "ai_current_live_pipelines", f'pipeline="{LIVE}"') == 0
            assert (await c.get(base + "/live/video-to-video/nope/status")).status_code == 404
            await out.close()
    run(scenario(), timeout=60)


def test_a_runner_that_fails_makes_the_orchestrator_end_the_session_and_the_gateway_swap(monkeypatch):
    import node.orchestrator.live as orchestrator_live

    monkeypatch.setattr(orchestrator_live, "RUNNER_HEALTH_INTERVAL", 0.05)

    async def scenario():
        async with live_network(2) as (_gateway, app, base, _nodes, runners), httpx.AsyncClient() as c:
            live: LiveStreams = app.state.live
            urls = (await c.post(base + "/live/video-to-video/s1/start", json={"model_id": "noop"})).json()
            await eventually(lambda: live.streams["s1"].manifest_id != "")
            stream = live.streams["s1"]
            first = stream.orchestrator
            failing = next(r for r in runners if r.starts)
            failing.status = "ERROR"  # ai-runner's /health after its pipeline failed for good
            await eventually(lambda: stream.orchestrator not in ("", first), timeout=10)
            assert len(stream.swaps) == 1 and not stream.error
            assert all(r.starts for r in runners)
            text = (await c.get(base + "/metrics")).text
            assert metric(text, "orchestrator_swaps_total") == 1
            pub = TricklePublisher(urls["publish_url"], "video/MP2T")
            out = TrickleSubscriber(urls["subscribe_url"], start_seq=-1)
            got = b""
            for _ in range(20):
                await pub.write(b"after")
                with contextlib.suppress(asyncio.TimeoutError):
                    got = await asyncio.wait_for((await out.next_segment()).read(), 2)
                if got == b"echo:after":
                    break
            assert got == b"echo:after"  # through the other orchestrator
            await pub.close()
            await out.close()
    run(scenario(), timeout=60)


def test_an_orchestrator_whose_events_stop_is_swapped(monkeypatch, caplog):
    """go's events heartbeat: no event for 30 s (checked every 10 s; shortened here) loses it."""
    import node.gateway.live as gateway_live

    monkeypatch.setattr(gateway_live, "EVENT_CHECK_INTERVAL", 0.1)
    monkeypatch.setattr(gateway_live, "MAX_EVENT_GAP", 0.5)

    async def scenario():
        async with live_network(2) as (_gateway, app, base, _nodes, _runners), httpx.AsyncClient() as c:
            live: LiveStreams = app.state.live
            await c.post(base + "/live/video-to-video/s1/start", json={"model_id": "noop"})
            await eventually(lambda: live.streams["s1"].manifest_id != "")
            stream = live.streams["s1"]
            await eventually(lambda: stream.swaps, timeout=10)  # no event at all
            assert any("timeout waiting for events" in r.getMessage() for r in caplog.records)
    with caplog.at_level("WARNING", logger="lpnode.gateway.live"):
        run(scenario(), timeout=60)


def test_live_payment_interval_is_gos_flag_on_both_sides():
    """-livePaymentInterval (go: [B,O], a duration, default 5s) reaches the gateway's live streams
    (how often they pay) and the orchestrator's live sessions (how often they charge)."""
    from node.launch import gateway_flags, orchestrator_flags
    from node.net.trickle import TrickleServer
    from node.orchestrator.live import LiveSessions
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode

    assert orchestrator_flags().parse_args([]).livePaymentInterval == 5.0
    assert gateway_flags().parse_args(["-livePaymentInterval", "500ms"]).livePaymentInterval == 0.5
    assert orchestrator_flags().parse_args(["-livePaymentInterval", "1m"]).livePaymentInterval == 60.0
    with pytest.raises(SystemExit):
        gateway_flags().parse_args(["-livePaymentInterval", "0s"])  # go's ticker needs a positive interval

    node = OrchestratorNode(OrchestratorConfig("http://o", live_payment_interval=0.5))
    assert LiveSessions(node, TrickleServer(), runner_url=None, client=None).payment_interval == 0.5
    assert LiveStreams(gateway=None).payment_interval == 5.0

    async def gateway_side():
        from node.gateway.node import GatewayNode

        gateway = GatewayNode(["http://o"], live_payment_interval=0.5)
        try:
            return LiveStreams(gateway).payment_interval
        finally:
            await gateway.close()
    assert run(gateway_side()) == 0.5
