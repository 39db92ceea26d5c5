"""Hostile input to every HTTP and gRPC surface of a paid network on loopback (gateway,
orchestrator, runner): nesting bombs, oversize and streamed bodies, bad content types, garbage
protobuf, zero-ticket payments, bad requests and bursts. After each, the process answers honest
requests and nothing was credited or worked for free."""
import asyncio

import pytest

httpx = pytest.importorskip("httpx")
grpc = pytest.importorskip("grpc")

from tests.node.hostile import G, MODEL, O, PRICE, STRANGER_KEY, paid_network, raw_request, t2i  # noqa: E402

BOMB = b"[" * 400_000  # 400 KB: overflowed the C stack under py_ecc's recursion limit


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


async def honest(client: httpx.AsyncClient, gateway_uri: str) -> None:
    reply = await client.post(f"{gateway_uri}/text-to-image", json=t2i())
    assert reply.status_code == 200, reply.text
    assert reply.json()["images"]


def port_of(uri: str) -> int:
    return int(uri.rsplit(":", 1)[1])


def test_nesting_bombs_and_oversize_bodies_are_refused_before_parsing_or_buffering():
    async def scenario():
        async with paid_network() as net, httpx.AsyncClient(timeout=30) as client:
            for base in (net.gateway_uri, net.orchestrator_uri):
                for content_type in ("application/json", "text/plain"):
                    reply = await client.post(f"{base}/text-to-image", content=BOMB,
                                              headers={"content-type": content_type})
                    # the orchestrator checks credentials first: 402 or 403 without them
                    assert reply.status_code in (400, 402, 403), (base, content_type, reply.text)
                    assert "Traceback" not in reply.text
            # a 500 MB body announced: 413 at once, before a byte of it is sent
            for port, path in ((port_of(net.gateway_uri), "/image-to-image"),
                               (port_of(net.orchestrator_uri), "/text-to-image"),
                               (port_of(net.gateway_uri), "/live/s/0.ts")):
                head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                        f"Content-Length: {500 * 1024 * 1024}\r\n").encode()
                status, _ = await raw_request(port, head)
                assert status == 413, path
            # a streamed (chunked) upload is cut off once past the limit, not buffered to its end
            sent = 0

            async def chunks():
                nonlocal sent
                for _ in range(80):
                    sent += 1
                    yield b"\0" * (1024 * 1024)

            try:
                reply = await client.post(f"{net.gateway_uri}/image-to-image", content=chunks(),
                                          headers={"content-type": "multipart/form-data; boundary=x"})
                assert reply.status_code == 413
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
                pass  # the 413 and the close came while the client was still sending
            assert sent < 80
            await honest(client, net.gateway_uri)
            assert net.orchestrator.receiver.balances.balance(G, f"27_{MODEL}") is not None

    run(scenario())


def test_malformed_bodies_and_headers_get_4xx_not_tracebacks():
    async def scenario():
        async with paid_network() as net, httpx.AsyncClient(timeout=30) as client:
            gw = net.gateway_uri
            cases = [
                ("/text-to-image", b"\xff\xfe not json", "application/json"),
                ("/text-to-image", b'["a", "list"]', "application/json"),
                ("/text-to-image", b"{" * 100 + b"}" * 100, "application/json"),
                ("/image-to-image", b"--x\r\ngarbage", "multipart/form-data; boundary=x"),
                ("/image-to-image", b"plain", "text/plain"),
            ]
            for path, body, content_type in cases:
                reply = await client.post(f"{gw}{path}", content=body, headers={"content-type": content_type})
                assert 400 <= reply.status_code < 500, (path, body[:20], reply.status_code, reply.text)
                assert "Traceback" not in reply.text
            # go fills in its 2 s default for a Content-Duration that is not a number
            from node.gateway.server import content_duration

            assert content_duration("abc") == content_duration("") == content_duration("-5") == 2.0
            assert content_duration("4000") == 4.0
            status, response = await raw_request(port_of(gw), b"POST /live/s/0.ts HTTP/1.1\r\nHost: x\r\n"
                                                 b"Content-Duration: abc\r\nContent-Length: 3\r\n", b"abc")
            assert status != 500 or b"Traceback" not in response
            await honest(client, gw)

    run(scenario())


def test_a_bad_request_is_answered_400_at_once_without_suspending_or_rediscovering():
    """A field of the wrong type: the runner's 422 comes back as a 400, the orchestrator stays in
    the pool, and honest requests right after are served (no discovery storm, no 503)."""
    async def scenario():
        async with paid_network() as net, httpx.AsyncClient(timeout=30) as client:
            await honest(client, net.gateway_uri)
            offers = []
            offer = net.orchestrator.offer
            net.orchestrator.offer = lambda *a, **k: offers.append(1) or offer(*a, **k)
            reply = await client.post(f"{net.gateway_uri}/text-to-image", json=t2i(prompt=123))
            assert reply.status_code == 400, reply.text
            assert len(offers) <= 1
            for _ in range(5):
                await honest(client, net.gateway_uri)
            assert len(offers) <= 2

    run(scenario())


def test_zero_ticket_payments_get_no_work_and_take_no_slot():
    """A fresh key with no deposit sends a payment header with a sender and no tickets (with an
    auth token another gateway obtained: go does not tie tokens to a sender): AI and transcoding
    are refused with go's 400 "Insufficient balance", the runner never sees the request, and ten
    such payments leave the orchestrator's capacity untouched."""
    from eth_account import Account

    from node.core.capabilities import ai_job_capabilities, job_capabilities
    from node.core.keccak import keccak
    from node.core.payment import Payment
    from node.gateway.node import GatewayNode
    from node.net.headers import SegMetadata, VideoProfile

    async def scenario():
        async with paid_network(max_sessions=1) as net, httpx.AsyncClient(timeout=30) as client:
            caps = ai_job_capabilities(27, MODEL, with_defaults=True)
            info = await net.gateway.get_orchestrator(net.orchestrator_uri, caps)
            stranger = GatewayNode([net.orchestrator_uri], account=Account.from_key(STRANGER_KEY), chain=net.chain)
            price = info.price_info
            for manifest in (f"27_{MODEL}", "another-manifest"):
                md = SegMetadata(manifest, 0, keccak(b""), capabilities=caps, auth_token=info.auth_token)
                headers = stranger._headers(md, Payment(stranger.address, expected_price=price))
                reply = await client.post(f"{net.orchestrator_uri}/text-to-image", json=t2i(), headers=headers)
                assert (reply.status_code, reply.text) == (400, "Insufficient balance")
            profiles = (VideoProfile("P144p30fps16x9", 256, 144, 200_000, 30, 1),)
            md = SegMetadata("stream", 0, keccak(b"x"), profiles, 2.0, job_capabilities(profiles), info.auth_token)
            reply = await client.post(f"{net.orchestrator_uri}/segment", content=b"x",
                                      headers=stranger._headers(md, Payment(stranger.address, expected_price=price)))
            assert (reply.status_code, reply.text) == (400, "Insufficient balance")
            assert not net.runner_calls
            for _ in range(10):
                reply = await client.post(f"{net.orchestrator_uri}/segment", content=b"x",
                                          headers={"Livepeer-Segment": "garbage", "Livepeer-Payment": "@@"})
                assert reply.status_code in (400, 402, 403)
            assert not net.orchestrator.sessions and not net.orchestrator.at_capacity()
            assert net.orchestrator.receiver.balances.balance(stranger.address, f"27_{MODEL}") in (None, 0)
            await stranger.close()
            # garbage protobuf on gRPC: an error status, and the server goes on serving
            async with grpc.aio.insecure_channel(net.orchestrator_uri.split("://")[1]) as channel:
                call = channel.unary_unary("/net.Orchestrator/GetOrchestrator",
                                           request_serializer=lambda b: b, response_deserializer=lambda b: b)
                with pytest.raises(grpc.aio.AioRpcError):
                    await call(b"\xff" * 64, timeout=5)
            assert isinstance(await net.gateway.get_orchestrator(net.orchestrator_uri, caps), type(info))
            await honest(client, net.gateway_uri)

    run(scenario())


def test_a_burst_of_paid_ai_requests_takes_no_transcoding_slot():
    """200 AI requests at concurrency 50 on an orchestrator with 2 transcoding slots: no 503, and
    the orchestrator is not capped afterwards (AI requests never held a session slot)."""
    async def scenario():
        async with paid_network(max_sessions=2) as net, httpx.AsyncClient(timeout=60) as client:
            semaphore = asyncio.Semaphore(50)

            async def one(i):
                async with semaphore:
                    reply = await client.post(f"{net.gateway_uri}/text-to-image", json=t2i(prompt=f"p{i}"))
                    return reply.status_code

            statuses = await asyncio.gather(*(one(i) for i in range(200)))
            assert statuses.count(200) == 200, {s: statuses.count(s) for s in set(statuses)}
            assert not net.orchestrator.at_capacity()
            # every request was paid for: the orchestrator's balance for the gateway never went short
            assert net.orchestrator.receiver.balances.balance(G, f"27_{MODEL}") >= 0

    run(scenario())


def test_the_gateway_refuses_to_pay_an_orchestrator_that_more_than_doubled_its_price():
    """go's validatePrice on the gateway path: after discovery the orchestrator triples its price;
    the session's next refresh brings the new price and the gateway signs nothing at it (its
    staged balance stays whole) and drops the session; a new discovery may then pick the
    orchestrator again at its new price, as go's would."""
    from node.core.capabilities import ai_job_capabilities
    from node.core.errors import PaymentError

    async def scenario():
        async with paid_network() as net, httpx.AsyncClient(timeout=30) as client:
            await honest(client, net.gateway_uri)
            gateway = net.gateway
            caps = ai_job_capabilities(27, MODEL, with_defaults=True)
            session = next(iter(gateway.ai_selectors[("text-to-image", MODEL)].warm.sessions.values()))
            net.orchestrator.prices.set_capability_price("default", 27, MODEL, PRICE * 3)
            net.chain.block += 100  # the session's ticket params expire: the gateway refreshes them
            state = await gateway._refreshed(session.info, caps)
            assert state.info.price_info.price == PRICE * 3 and state.initial_price.price == PRICE
            key = (O, f"27_{MODEL}")
            before = gateway.balances.balance(*key)
            sent = gateway.metrics.tickets_sent.labels(O)._value.get()
            with pytest.raises(PaymentError, match="Orchestrator price has more than doubled"):
                gateway._payment(state, PRICE * 3 * 64 * 64, key[1])
            assert gateway.balances.balance(*key) == before
            assert gateway.metrics.tickets_sent.labels(O)._value.get() == sent
            # over the wire: the refreshed session is refused and dropped, a rediscovery serves it
            removed = gateway.metrics.ai_request_errors.labels("text-to-image", MODEL, "remove")._value.get()
            await honest(client, net.gateway_uri)
            assert gateway.metrics.ai_request_errors.labels("text-to-image", MODEL, "remove")._value.get() == removed + 1

    run(scenario())


def test_runner_refuses_bombs_and_oversize_bodies_and_stays_up():
    from node.worker.ai.app import create_app
    from tests.node.hostile import serve_app

    async def scenario():
        port, stop = await serve_app(create_app("text-to-image", MODEL, mode="mock"))
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                reply = await client.post(f"http://127.0.0.1:{port}/text-to-image", content=BOMB,
                                          headers={"content-type": "application/json"})
                assert reply.status_code == 400 and "detail" in reply.json()
                status, response = await raw_request(port, b"POST /text-to-image HTTP/1.1\r\nHost: x\r\n"
                                                     b"Content-Length: 524288000\r\n")
                assert status == 413 and b"File size exceeds limit." in response
                reply = await client.post(f"http://127.0.0.1:{port}/text-to-image", json=t2i())
                assert reply.status_code == 200
        finally:
            await stop()

    run(scenario())


def test_recursion_limit_is_put_back_after_the_chain_stack_is_loaded():
    import subprocess
    import sys

    code = ("import sys, node.eth, py_ecc; print(sys.getrecursionlimit()); import json\n"
            "from node.net.limits import loads\n"
            "try: loads(b'[' * 400000)\nexcept ValueError as e: print('refused')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["12288", "refused"]


def test_an_unreachable_chain_is_a_fast_named_503_not_a_hang_or_a_traceback():
    """The chain layer raises ChainUnavailable within its timeout (tests/eth cover the frozen and
    the closed endpoint); gateway and orchestrator answer it with 503 and its message."""
    from node.eth.errors import ChainUnavailable

    def dead(*args, **kwargs):
        raise ChainUnavailable("http://127.0.0.1:1", "eth_call", "no answer within 10 s")

    async def scenario():
        async with paid_network() as net, httpx.AsyncClient(timeout=30) as client:
            await honest(client, net.gateway_uri)
            net.chain.sender_info = dead  # the gateway reads its own deposit on every request
            reply = await client.post(f"{net.gateway_uri}/text-to-image", json=t2i())
            assert reply.status_code == 503 and "no answer within 10 s" in reply.json()["error"]["message"]
            del net.chain.sender_info
            net.chain.is_active = dead  # the orchestrator checks its own activity on every payment
            reply = await client.post(f"{net.gateway_uri}/text-to-image", json=t2i())
            assert reply.status_code in (400, 503) and "Traceback" not in reply.text
            del net.chain.is_active
            await honest(client, net.gateway_uri)

    run(scenario())


def test_state_a_client_names_is_forgotten_once_idle():
    """A client names any model and any stream; the gateway's selector per model and pool per
    stream are dropped once unused for AI_SESSION_TTL (checked at most once a minute from the
    request path), with its idle balances and the PM sessions of expired offers; past 256 model
    names its metrics count the rest as "other"."""
    from node.core.ai_sessions import AI_SESSION_TTL
    from node.gateway.node import MAX_MODEL_LABELS, STALE_CHECK_INTERVAL

    async def scenario():
        async with paid_network() as net, httpx.AsyncClient(timeout=30) as client:
            for i in range(5):
                reply = await client.post(f"{net.gateway_uri}/text-to-image", json=t2i(model_id=f"nobody-{i}"))
                assert reply.status_code == 503
            await honest(client, net.gateway_uri)
            gateway = net.gateway
            assert len(gateway.ai_selectors) == 6
            gateway.last_used = {k: v - AI_SESSION_TTL - 1 for k, v in gateway.last_used.items()}
            gateway._forgotten_at -= STALE_CHECK_INTERVAL
            await honest(client, net.gateway_uri)  # runs the pass, then uses its own model again
            assert list(gateway.ai_selectors) == [("text-to-image", MODEL)]
            # and its metrics keep at most MAX_MODEL_LABELS model names
            gateway._model_labels = {f"x{i}" for i in range(MAX_MODEL_LABELS)}
            reply = await client.post(f"{net.gateway_uri}/text-to-image", json=t2i(model_id="one-more"))
            assert reply.status_code == 503
            assert gateway.metrics.ai_models_requested.labels("text-to-image", "other")._value.get() == 1
            assert "one-more" not in gateway.metrics.exposition().decode()

    run(scenario())


def test_at_concurrency_64_every_credit_and_debit_is_counted_once():
    """200 paid requests, 64 at a time: the orchestrator's balance for the gateway is exactly the
    EV it credited less the fees it debited (one debit per request), and the gateway's mirror of
    that balance agrees to the wei."""
    from fractions import Fraction

    async def scenario():
        async with paid_network() as net, httpx.AsyncClient(timeout=60) as client:
            node = net.orchestrator
            credited, debited = [], []
            process_payment, debit = node.process_payment, node.debit
            node.process_payment = lambda *a: (lambda got: credited.append(got.ev) or got)(process_payment(*a))
            node.debit = lambda *a: (lambda fee: debited.append(fee) or fee)(debit(*a))
            semaphore = asyncio.Semaphore(64)

            async def one(i):
                async with semaphore:
                    return (await client.post(f"{net.gateway_uri}/text-to-image", json=t2i(prompt=f"p{i}"))).status_code

            statuses = await asyncio.gather(*(one(i) for i in range(200)))
            assert statuses == [200] * 200
            assert len(debited) == 200 and all(fee == PRICE * 64 * 64 for fee in debited)
            key = f"27_{MODEL}"
            balance = node.receiver.balances.balance(G, key)
            assert balance == sum(credited, Fraction(0)) - sum(debited, Fraction(0))
            assert net.gateway.balances.balance(O, key) == balance

    run(scenario())
