"""The remote signer (node.signer, go-livepeer server/remote_signer.go): GetOrchestrator signatures,
live payments from signed client-held state (480 refresh, 482 skip, forged state refused), and the
tickets it signs are accepted by the orchestrator's payment check."""
from __future__ import annotations

import base64
import json
from fractions import Fraction

import httpx
from eth_account import Account

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


def test_discover_orchestrators_filters_by_caps():
    _, _, signer, _ = network()
    offers = {"https://a:1": ["live-video-to-video/noop"], "https://b:2": ["text-to-image/m"]}

    async def discover(caps):
        return [{"address": url, "score": 1.0, "capabilities": have} for url, have in offers.items()
                if all(c in have for c in caps)]

    async def scenario():
        app = create_signer_app(signer, discover)
        every = (await call(app, "/discover-orchestrators", method="GET")).json()
        assert [o["address"] for o in every] == ["https://a:1", "https://b:2"]
        live = await call(app, "/discover-orchestrators?caps=live-video-to-video/noop", method="GET")
        assert [o["address"] for o in live.json()] == ["https://a:1"]
        none = await call(app, "/discover-orchestrators?caps=llm/x", method="GET")
        assert none.status_code == 503
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
