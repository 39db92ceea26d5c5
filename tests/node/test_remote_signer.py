"""The remote signer (node.signer, go-livepeer server/remote_signer.go): GetOrchestrator signatures,
live payments from signed client-held state (480 refresh, 482 skip, forged state refused), and the
tickets it signs are accepted by the orchestrator's payment check."""
from __future__ import annotations

import base64
import json
from fractions import Fraction

import httpx
import pytest
from eth_account import Account
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from node.core.ai_models import AIModelConfig
from node.core.capabilities import Capability, ai_job_capabilities
from node.core.pricing import LIVE_VIDEO_UNITS_PER_SECOND
from node.core.sender import Sender
from node.net.auth import verify_orchestrator_request
from node.net.headers import decode_payment_header, decode_segment_header
from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
from node.orchestrator.server import info_proto
from node.signer.server import RemoteSigner, create_signer_app
from tests.core.stubs import StubBroker, StubChain
from tests.net.trickle_serving import run

LIVE = "live-video-to-video"
O_KEY, G_KEY = bytes([21]) * 32, bytes([22]) * 32
O, G = Account.from_key(O_KEY).address, Account.from_key(G_KEY).address


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def network(max_price=None):
    chain = StubChain(price=1)
    chain.active.add(O)
    chain.fund(G, deposit=10**18, reserve=10**18)
    models = [AIModelConfig(LIVE, "noop", url="http://runner", capacity=2)]
    node = OrchestratorNode(OrchestratorConfig("https://o.example:8935", price_per_unit=Fraction(3), ai_models=models,
                                               transcoding=False, auto_adjust_price=False),
                            address=O, chain=chain, broker=StubBroker())
    clock = Clock()
    signer = RemoteSigner(G, G_KEY, Sender(G, G_KEY, chain), chain, max_price=max_price, clock=clock)
    return chain, node, signer, clock


def orch_b64(node: OrchestratorNode) -> str:
    caps = ai_job_capabilities(int(Capability.LiveVideoToVideo), "noop", with_defaults=True)
    return base64.b64encode(info_proto(node, node.offer(G, caps)).SerializeToString()).decode()


async def call(app, path: str, body=None, method: str = "POST") -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://signer") as c:
        return await c.request(method, path, json=body)


def test_sign_orchestrator_info():
    _, _, signer, _ = network()

    async def scenario():
        reply = (await call(create_signer_app(signer), "/sign-orchestrator-info")).json()
        assert reply["address"] == G
        assert verify_orchestrator_request(G, bytes.fromhex(reply["signature"][2:]))

    run(scenario())


def test_live_payments_round_trip_signed_state():
    chain, node, signer, clock = network()
    app = create_signer_app(signer)

    async def scenario():
        orch = orch_b64(node)
        first = await call(app, "/generate-live-payment", {"orchestrator": orch, "type": "lv2v", "ManifestID": "m1"})
        assert first.status_code == 200, first.text
        body = first.json()
        payment = decode_payment_header(body["payment"])
        assert payment.sender == G and payment.ticket_sender_params
        # the orchestrator accepts the tickets for 60 s of lv2v paid up front
        fee = 60 * LIVE_VIDEO_UNITS_PER_SECOND * Fraction(3)
        got = node.process_payment(payment, "m1")
        assert got.error is None and got.tickets == len(payment.ticket_sender_params) and got.ev >= fee
        creds = decode_segment_header(body["segCreds"])
        assert creds.manifest_id == "m1" and creds.auth_token is not None
        state = json.loads(base64.b64decode(body["state"]["State"]))
        assert state["SequenceNumber"] == 0 and Fraction(state["Balance"]) >= 0

        again = {"orchestrator": orch, "type": "lv2v", "ManifestID": "m1", "state": body["state"]}
        # a client cannot forge its balance: the state is signed by the signer
        forged = dict(state, Balance=str(10**30))
        blob = base64.b64encode(json.dumps(forged).encode()).decode()
        bad = await call(app, "/generate-live-payment", dict(again, state={"State": blob, "Sig": body["state"]["Sig"]}))
        assert bad.status_code == 400 and bad.json()["error"]["message"] == "invalid sig"
        # 10 minutes later the balance is spent: new tickets, nonce carried on
        clock.now += 600
        later = await call(app, "/generate-live-payment", again)
        assert later.status_code == 200, later.text
        new_state = json.loads(base64.b64decode(later.json()["state"]["State"]))
        assert new_state["SequenceNumber"] == 1 and new_state["SenderNonce"] > state["SenderNonce"]
        assert node.process_payment(decode_payment_header(later.json()["payment"]), "m1").error is None
        # the orchestrator's ticket params expire: 480 with its URL to refresh from
        chain.block += 10_000
        stale = await call(app, "/generate-live-payment", dict(again, state=later.json()["state"]))
        assert stale.status_code == 480 and stale.headers["Livepeer-Orchestrator-URL"] == "https://o.example:8935"
        # a later call without ManifestID on a running stream is refused, as go
        chain.block -= 10_000
        no_mid = await call(app, "/generate-live-payment", {"orchestrator": orch, "type": "lv2v",
                                                            "state": later.json()["state"]})
        assert no_mid.status_code == 400 and no_mid.json()["error"]["message"] == "missing manifestID"

    run(scenario())


def test_bad_requests_are_400_and_price_cap_481():
    _, node, signer, _ = network(max_price=Fraction(1))
    app = create_signer_app(signer)

    async def scenario():
        assert (await call(app, "/generate-live-payment", {})).json()["error"]["message"] == "missing orchestrator"
        assert (await call(app, "/generate-live-payment", {"orchestrator": "%%"})).status_code == 400
        assert (await call(app, "/generate-live-payment", [1])).status_code == 400
        orch = orch_b64(node)
        bad_type = await call(app, "/generate-live-payment", {"orchestrator": orch, "type": "nope"})
        assert bad_type.json()["error"]["message"] == "invalid job type"
        none = await call(app, "/generate-live-payment", {"orchestrator": orch})
        assert none.json()["error"]["message"] == "missing billable unit or job type"
        over = await call(app, "/generate-live-payment", {"orchestrator": orch, "type": "lv2v"})
        assert over.status_code == 481

    run(scenario())


def test_discover_orchestrators_lists_price_eligible_capabilities_and_filters_by_any_cap():
    """go's remote discovery (make_discover over GetOrchestrator answers): each orchestrator with the
    `<pipeline>/<model>` it offers at a price within the signer's maximum; one with no price, one
    over the maximum and one unreachable are left out; repeated `caps` match any one of them; an
    empty list is 503 "cache empty"; without -remoteDiscovery the route is not served."""
    import dataclasses

    from node.core.pricing import PriceInfo
    from node.net import wire
    from node.signer.launch import make_discover

    chain, live, signer, _ = network()
    t2i = OrchestratorNode(OrchestratorConfig("https://t.example:8935", price_per_unit=Fraction(2),
                                              ai_models=[AIModelConfig("text-to-image", "m", url="http://r")],
                                              transcoding=False, auto_adjust_price=False),
                           address=O, chain=chain, broker=StubBroker())

    def info(node, pipeline_cap, model, **change):
        caps = ai_job_capabilities(int(pipeline_cap), model, with_defaults=True)
        got = wire.orchestrator_info_from_proto(info_proto(node, node.offer(G, caps)))
        return dataclasses.replace(got, **change)

    answers = {
        "https://a:1": info(live, Capability.LiveVideoToVideo, "noop"),
        "https://b:2": info(t2i, Capability.TextToImage, "m"),
        "https://free:3": info(live, Capability.LiveVideoToVideo, "noop", price_info=None),
        "https://dear:4": info(live, Capability.LiveVideoToVideo, "noop", price_info=PriceInfo(10, 1)),
        # a per-model price below the maximum counts before the global one over it
        "https://model:5": info(live, Capability.LiveVideoToVideo, "noop", price_info=PriceInfo(10, 1),
                                capabilities_prices=(PriceInfo(4, 1, int(Capability.LiveVideoToVideo), "noop"),)),
    }

    class Gateway:
        async def get_orchestrator(self, uri, caps):
            if uri not in answers:
                raise ConnectionError("unreachable")
            return answers[uri]

    async def uris():
        return [*answers, "https://down:6"]

    async def scenario():
        app = create_signer_app(signer, make_discover(Gateway(), uris, max_price=Fraction(5)))
        every = (await call(app, "/discover-orchestrators", method="GET")).json()
        assert every == [{"address": "https://a:1", "score": 1.0, "capabilities": ["live-video-to-video/noop"]},
                         {"address": "https://b:2", "score": 1.0, "capabilities": ["text-to-image/m"]},
                         {"address": "https://model:5", "score": 1.0, "capabilities": ["live-video-to-video/noop"]}]
        live_only = await call(app, "/discover-orchestrators?caps=live-video-to-video/noop", method="GET")
        assert [o["address"] for o in live_only.json()] == ["https://a:1", "https://model:5"]
        either = await call(app, "/discover-orchestrators?caps=text-to-image/m&caps=llm/x", method="GET")
        assert [o["address"] for o in either.json()] == ["https://b:2"]
        none = await call(app, "/discover-orchestrators?caps=llm/x", method="GET")
        assert (none.status_code, none.json()) == (200, [])

        async def nobody():
            return []
        empty = await call(create_signer_app(signer, make_discover(Gateway(), nobody)), "/discover-orchestrators",
                           method="GET")
        assert (empty.status_code, empty.json()["error"]["message"]) == (503, "cache empty")
        assert (await call(create_signer_app(signer), "/discover-orchestrators", method="GET")).status_code == 404

    run(scenario())


def test_credit_left_from_the_state_covers_the_fee_482():
    """go's "no tickets": the balance carried in the state already covers max(fee, EV), here after
    the orchestrator lowered its ticket EV; the client skips this payment."""
    _, node, signer, clock = network()
    app = create_signer_app(signer)

    async def scenario():
        first = (await call(app, "/generate-live-payment", {"orchestrator": orch_b64(node), "type": "lv2v",
                                                            "ManifestID": "m"})).json()
        left = Fraction(json.loads(base64.b64decode(first["state"]["State"]))["Balance"])
        node.recipient.ev = max(1, int(left) // 10)
        clock.now += 1e-6  # a few units' fee
        skip = await call(app, "/generate-live-payment", {"orchestrator": orch_b64(node), "type": "lv2v",
                                                          "ManifestID": "m", "state": first["state"]})
        assert left > 0 and skip.status_code == 482 and skip.json()["error"]["message"] == "no tickets"

    run(scenario())


# ------------------------------------------------------------- go's state, job types and ceilings


def state_of(reply: httpx.Response) -> dict:
    return json.loads(base64.b64decode(reply.json()["state"]["State"]))


def signed_state(state: dict) -> dict:
    """A state blob signed with the signer's (the gateway's) key, as the signer would hand it out."""
    from node.net.auth import sign

    blob = json.dumps(state).encode()
    return {"State": base64.b64encode(blob).decode(), "Sig": base64.b64encode(sign(blob, G_KEY)).decode()}


def test_orchestrator_info_without_auth_token_or_with_refused_params_is_400():
    """go's shouldRefreshSession runs before billing: no auth token, or ticket params the sender
    refuses (here its deposit is gone), is the client's 400 with go's prefix."""
    import dataclasses

    from node.net import wire

    chain, node, signer, _ = network()
    app = create_signer_app(signer)

    async def scenario():
        info = wire.orchestrator_info_from_proto(pb_from_b64(orch_b64(node)))
        no_token = base64.b64encode(wire.orchestrator_info_to_proto(dataclasses.replace(info, auth_token=None))
                                    .SerializeToString()).decode()
        r = await call(app, "/generate-live-payment", {"orchestrator": no_token, "type": "lv2v"})
        assert (r.status_code, r.json()["error"]["message"]) == (
            400, "remote signer could not check whether to refresh session: missing auth token")
        chain.fund(G, deposit=0, reserve=10**18)
        drained = await call(app, "/generate-live-payment", {"orchestrator": orch_b64(node), "type": "lv2v"})
        assert (drained.status_code, drained.json()["error"]["message"]) == (
            400, "remote signer could not check whether to refresh session: no sender deposit")

    run(scenario())


def pb_from_b64(orch: str):
    from node.net.proto import lp_rpc_pb2 as pb

    return pb.OrchestratorInfo.FromString(base64.b64decode(orch))


def test_go_times_round_trip():
    from node.signer.server import ZERO_TIME, go_time, unix_time

    assert go_time(1_700_000_000.0) == "2023-11-14T22:13:20Z"
    assert go_time(1_700_000_000.25) == "2023-11-14T22:13:20.25Z"
    assert unix_time("2023-11-14T22:13:20.250000000Z") == 1_700_000_000.25  # go writes nanoseconds
    assert unix_time("2023-11-14T23:13:20+01:00") == 1_700_000_000.0
    assert unix_time(ZERO_TIME) == 0.0
    with pytest.raises(ValueError):
        unix_time("yesterday")


def test_state_is_gos_remote_payment_state_and_types_bill_their_units():
    """The state has go's RemotePaymentState fields in go's order (LastUpdate a Go time, App);
    `fixed` bills one unit, `live` 10 s on the first call and whole seconds after, inPixels as given."""
    _, node, signer, clock = network()
    app = create_signer_app(signer)

    async def scenario():
        orch = orch_b64(node)
        fixed = await call(app, "/generate-live-payment", {"orchestrator": orch, "type": "fixed", "app": "echo"})
        assert fixed.status_code == 200, fixed.text
        state = state_of(fixed)
        assert list(state) == ["StateID", "PMSessionID", "LastUpdate", "OrchestratorAddress", "App", "AuthExpiry",
                               "SenderNonce", "Balance", "InitialPricePerUnit", "InitialPixelsPerUnit", "Type",
                               "SequenceNumber", "AuthID"]
        assert state["LastUpdate"] == "2023-11-14T22:13:20Z" and state["App"] == "echo" and state["Type"] == "fixed"
        ev = decode_payment_header(fixed.json()["payment"]).ticket_params.ev  # one ticket's (exact) EV
        assert Fraction(state["Balance"]) == ev - 3  # one ticket of EV, one unit at 3 wei debited
        # the same state for another app, or with no app, is refused
        again = {"orchestrator": orch, "type": "fixed", "ManifestID": "m", "state": fixed.json()["state"]}
        wrong_app = await call(app, "/generate-live-payment", dict(again, app="other"))
        assert (wrong_app.status_code, wrong_app.json()["error"]["message"]) == (400, "app mismatch")
        assert (await call(app, "/generate-live-payment", again)).json()["error"]["message"] == "app mismatch"

        live = await call(app, "/generate-live-payment", {"orchestrator": orch, "type": "live"})
        first = Fraction(state_of(live)["Balance"])
        assert first == ev - 10 * 3  # 10 s preloaded at 3 wei a second
        clock.now += 2.5
        later = await call(app, "/generate-live-payment", {"orchestrator": orch, "type": "live", "ManifestID": "x",
                                                           "state": live.json()["state"]})
        assert later.status_code == 200  # go keeps a ticket's EV ahead: one more ticket, 3 s (ceil 2.5) debited
        assert Fraction(state_of(later)["Balance"]) == first + ev - 3 * 3

        pixels = await call(app, "/generate-live-payment", {"orchestrator": orch, "inPixels": 1000})
        assert Fraction(state_of(pixels)["Balance"]) == ev - 3000
        bad = await call(app, "/generate-live-payment", {"orchestrator": orch, "inPixels": "1000"})
        assert bad.status_code == 400

    run(scenario())


@pytest.mark.parametrize(("max_price", "job_type", "message"), [
    ({"price": 0, "currency": "wei", "unit": "fixed"}, "fixed", "maxPrice.price must be a positive decimal"),
    ({"price": "wat", "currency": "wei", "unit": "fixed"}, "fixed", "maxPrice.price must be a positive decimal"),
    ({"price": 1, "currency": "usd", "unit": "fixed"}, "fixed", "maxPrice.currency must be wei"),
    ({"price": 1, "unit": "fixed"}, "fixed", "maxPrice.currency must be wei"),
    ({"price": 1, "currency": "wei", "unit": "fixed"}, "live", "maxPrice.unit must be seconds for payment type live"),
    ({"price": 1, "currency": "wei", "unit": "fixed"}, "", "maxPrice requires payment type live, lv2v, or fixed"),
])
def test_a_bad_request_max_price_is_400(max_price, job_type, message):
    _, node, signer, _ = network()

    async def scenario():
        body = {"orchestrator": orch_b64(node), "type": job_type, "inPixels": 5, "maxPrice": max_price}
        r = await call(create_signer_app(signer), "/generate-live-payment", body)
        assert (r.status_code, r.json()["error"]["message"]) == (400, message)

    run(scenario())


def priced(orch: str, wei: int) -> str:
    """The OrchestratorInfo `orch` (base64) at another price per pixel."""
    from node.net.proto import lp_rpc_pb2 as pb

    info = pb.OrchestratorInfo.FromString(base64.b64decode(orch))
    info.price_info.pricePerUnit, info.price_info.pixelsPerUnit = wei, 1
    return base64.b64encode(info.SerializeToString()).decode()


def test_the_lowest_price_ceiling_counts_481():
    """The signer's -maxPricePerUnit, the request's maxPrice and the session's first price: the
    orchestrator's price over the lowest of them is 481 with go's message."""
    _, node, signer, _ = network(max_price=Fraction(5))
    app = create_signer_app(signer)

    async def scenario():
        orch = orch_b64(node)
        cap = {"price": "2.5", "currency": "wei", "unit": "fixed"}
        r = await call(app, "/generate-live-payment", {"orchestrator": orch, "type": "fixed", "maxPrice": cap})
        assert (r.status_code, r.json()["error"]["message"]) == (
            481, "orchestrator price 3.000 exceeds request maxPrice ceiling 2.500")
        ok = await call(app, "/generate-live-payment", {"orchestrator": orch, "type": "fixed",
                                                        "maxPrice": dict(cap, price=3)})
        assert ok.status_code == 200, ok.text
        # the orchestrator raises its price mid-session: over the session's initial price
        dearer = await call(app, "/generate-live-payment", {"orchestrator": priced(orch, 4), "type": "fixed",
                                                            "ManifestID": "m", "state": ok.json()["state"]})
        assert (dearer.status_code, dearer.json()["error"]["message"]) == (
            481, "orchestrator price 4.000 exceeds initial session price ceiling 3.000")
        over = await call(app, "/generate-live-payment", {"orchestrator": priced(orch, 6), "type": "fixed"})
        assert over.json()["error"]["message"] == "orchestrator price 6.000 exceeds configured maximum price ceiling 5.000"
        # a state (signed by the signer) whose initial price is not positive
        zero = dict(state_of(ok), InitialPricePerUnit=0)
        bad = await call(app, "/generate-live-payment", {"orchestrator": orch, "type": "fixed",
                                                         "ManifestID": "m", "state": signed_state(zero)})
        assert (bad.status_code, bad.json()["error"]["message"]) == (400, "invalid initial price in state")

    run(scenario())


# ------------------------------------------------------------------------------ the auth webhook


class Webhook:
    """An auth webhook (go's -remoteSignerWebhookUrl): records each call, answers `reply`."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, dict]] = []  # (request headers, JSON body)
        self.reply: object = {"status": 200}
        self.http_status = 200
        self.app = FastAPI()

        @self.app.post("/auth")
        async def auth(request: Request):
            self.calls.append((dict(request.headers), json.loads(await request.body())))
            if isinstance(self.reply, bytes):
                return Response(self.reply, status_code=self.http_status)
            if self.http_status != 200:
                return PlainTextResponse("down", status_code=self.http_status)
            return self.reply

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app))


def webhook_network():
    chain, node, _, clock = network()
    hook = Webhook()
    signer = RemoteSigner(G, G_KEY, Sender(G, G_KEY, chain), chain, clock=clock, webhook_url="http://hook/auth",
                          webhook_headers={"Authorization": "Bearer s3cret"}, http=hook.client())
    return node, signer, clock, hook


async def post(app, body: dict, headers: dict | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://signer") as c:
        return await c.post("/generate-live-payment", json=body, headers=headers or {})


def test_the_webhook_sees_the_updated_state_and_its_expiry_and_auth_id_are_kept():
    node, signer, clock, hook = webhook_network()
    app = create_signer_app(signer)

    async def scenario():
        orch = orch_b64(node)
        hook.reply = {"status": 200, "expiry": int(clock.now) + 60, "auth_id": "auth-456"}
        first = await post(app, {"orchestrator": orch, "type": "lv2v", "app": "echo"}, {"X-Request-Id": "abc"})
        assert first.status_code == 200, first.text
        (sent_headers, body), = hook.calls
        assert sent_headers["authorization"] == "Bearer s3cret"  # -remoteSignerWebhookHeaders
        assert body["headers"]["X-Request-Id"] == ["abc"]  # the gateway's headers, go's canonical names
        assert "Host" not in body["headers"] and body["headers"]["Content-Type"] == ["application/json"]
        seen = body["state"]  # after the update, before signing: balance, nonce and time are set
        assert seen["App"] == "echo" and seen["SenderNonce"] > 0 and seen["Balance"]
        assert seen["LastUpdate"] == "2023-11-14T22:13:20Z" and seen["AuthID"] == ""
        state = state_of(first)
        assert state["AuthExpiry"] == int(clock.now) + 60 and state["AuthID"] == "auth-456"

        again = {"orchestrator": orch, "type": "lv2v", "app": "echo", "ManifestID": "m"}
        clock.now += 30  # within the expiry: not asked again
        cached = await post(app, dict(again, state=first.json()["state"]))
        assert cached.status_code in (200, 482) and len(hook.calls) == 1
        clock.now += 600  # past it: asked again (and a different auth id is an error)
        hook.reply = {"status": 200, "auth_id": "someone-else"}
        changed = await post(app, dict(again, state=first.json()["state"]))
        assert (changed.status_code, changed.json()["error"]["message"]) == (500, "remote signer auth ID changed")
        assert len(hook.calls) == 2
        # the auth id may come from the request's Signer-Auth-Id when the webhook gives none
        hook.reply = {"status": 200}
        fresh = await post(app, {"orchestrator": orch, "type": "lv2v"}, {"Signer-Auth-Id": "from-header"})
        assert state_of(fresh)["AuthID"] == "from-header" and state_of(fresh)["AuthExpiry"] == 0

    run(scenario())


@pytest.mark.parametrize(("reply", "http_status", "status", "message"), [
    ({"status": 403, "reason": "denied"}, 200, 403, "denied"),
    ({"status": 429}, 200, 429, "signer auth rejected request with status 429"),
    ({"status": 200}, 503, 500, "signer auth error status 503"),
    ({"reason": "no status"}, 200, 500, "signer auth invalid status"),
    ({"status": 0}, 200, 500, "signer auth invalid status"),
    (b"{not json", 200, 500, "signer auth invalid response: "),
    ({"status": 200, "expiry": "soon"}, 200, 500, "signer auth invalid response: "),
    ({"status": 200, "maxPrice": {"price": 1, "currency": "usd", "unit": "720p-pixel-seconds"}}, 200, 502,
     "signer auth invalid maxPrice: maxPrice.currency must be wei"),
    ({"status": 200, "maxPrice": {"price": 2, "currency": "wei", "unit": "720p-pixel-seconds"}}, 200, 481,
     "orchestrator price 3.000 exceeds auth webhook maxPrice ceiling 2.000"),
])
def test_a_webhook_refusal_returns_its_status_and_no_state(reply, http_status, status, message):
    node, signer, _, hook = webhook_network()
    hook.reply, hook.http_status = reply, http_status

    async def scenario():
        r = await post(create_signer_app(signer), {"orchestrator": orch_b64(node), "type": "lv2v"})
        assert r.status_code == status and r.json()["error"]["message"].startswith(message), r.text
        assert "state" not in r.json() and len(hook.calls) == 1

    run(scenario())


def test_an_unreachable_webhook_is_500():
    chain, node, _, clock = network()
    signer = RemoteSigner(G, G_KEY, Sender(G, G_KEY, chain), chain, clock=clock, webhook_url="http://127.0.0.1:9/auth")

    async def scenario():
        r = await post(create_signer_app(signer), {"orchestrator": orch_b64(node), "type": "lv2v"})
        assert r.status_code == 500 and r.json()["error"]["message"].startswith("failed to call remote signer webhook")

    run(scenario())


# ------------------------------------------------------------------------------------ start-up


def test_header_map_and_the_public_address_rule():
    from node.signer.launch import check_auth, parse_header_map

    assert parse_header_map("Authorization:Bearer abc, X-API-Key:se:cret,bad,:x") == {
        "Authorization": "Bearer abc", "X-API-Key": "se:cret"}
    assert check_auth("127.0.0.1:8935", "127.0.0.1", "", False) is None
    assert check_auth("localhost:8935", "localhost", "", False) is None
    assert check_auth("[::1]:8935", "::1", "", False) is None
    assert check_auth("0.0.0.0:8935", "0.0.0.0", "https://auth/x", False) is None
    assert check_auth("0.0.0.0:8935", "0.0.0.0", "", True) is None
    assert check_auth("0.0.0.0:8935", "0.0.0.0", "", False).startswith(
        "Refusing to start: remote signer on public -httpAddr 0.0.0.0:8935 with no -remoteSignerWebhookUrl")


def test_lpnode_remote_signer_refuses_offchain_and_a_public_address_without_auth():
    import subprocess
    import sys

    def signer(*flags: str):
        return subprocess.run([sys.executable, "-m", "node.cli", "remote-signer", *flags], check=False,
                              capture_output=True, text=True, timeout=60)

    r = signer("-httpAddr", "127.0.0.1:0")
    assert r.returncode == 1 and "Remote signer mode requires on-chain network" in r.stderr
    # both refusals come before the chain is reached (nothing listens at this -ethUrl)
    r = signer("-httpAddr", "0.0.0.0:0", "-ethUrl", "http://127.0.0.1:9")
    assert r.returncode == 1 and "Refusing to start: remote signer on public -httpAddr 0.0.0.0:0" in r.stderr
    r = signer("-httpAddr", "0.0.0.0:0", "-ethUrl", "http://127.0.0.1:9", "-remoteSignerWebhookUrl", "ftp://x")
    assert r.returncode == 2 and "invalid -remoteSignerWebhookUrl" in r.stderr
