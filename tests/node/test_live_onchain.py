"""Live video-to-video paid on chain (issue 12): a devnet (devchain with the protocol deployed, an
orchestrator with a noop live runner, a funded gateway and its remote signer), live sessions paid in
tickets that win (the orchestrator's -maxFaceValue just above its -ticketEV), winners redeemed and
the fees on chain; a sender whose deposit is drained by those redemptions can no longer pay and
the orchestrator ends its stream; forged, replayed, misdirected and expired live payments on
/payment are refused and never credited.

The remote-signer client here does what the livepeer-gateway SDK does (sign-orchestrator-info,
GetOrchestrator over TLS, generate-live-payment with its opaque state and 480 refresh, the start
call and /payment with the signer's headers), written with this package's own gRPC and HTTP.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import logging
import re
import time
from fractions import Fraction

import pytest

httpx = pytest.importorskip("httpx")
av = pytest.importorskip("av")


from node.core.capabilities import Capability, ai_job_capabilities
from node.core.pricing import LIVE_VIDEO_UNITS_PER_SECOND
from node.net import wire
from node.net.headers import decode_payment_header, encode_payment_header
from node.net.proto import lp_rpc_pb2 as pb
from node.net.proto import lp_rpc_pb2_grpc as pb_grpc
from node.net.trickle import TricklePublisher, TrickleSubscriber
from node.net.trickle.errors import EndOfStream, StreamNotFound, TrickleError

pytestmark = pytest.mark.devchain

LIVE = "live-video-to-video"
ETH = 10**18
EV = 3 * 10**16  # the orchestrator's -ticketEV
FACE_VALUE = EV + 2**11  # its -maxFaceValue: win probability 1 - 2^11/face value, every ticket wins
# wei a pixel: one ticket's EV pays ~3 s of 720p30 (go's live rate), so balances run out in seconds
PRICE = Fraction(360_000_000)
SECONDS_PER_TICKET = EV / (PRICE * LIVE_VIDEO_UNITS_PER_SECOND)
INTERVAL = 0.5  # s, -livePaymentInterval on both sides (go's default is 5 s)
CAPS = ai_job_capabilities(int(Capability.LiveVideoToVideo), "noop", with_defaults=True)


@pytest.fixture(scope="module")
def net():
    from node.testing.devnet import mock_config, start_devnet

    # the devnet's live sessions pay and are charged every INTERVAL (-livePaymentInterval on both sides)
    config = mock_config(live_model="noop", transcoding=False, ticket_ev=EV, max_face_value=FACE_VALUE,
                         price_per_pixel=PRICE, live_payment_interval=INTERVAL)
    with start_devnet(config) as running:
        yield running


def run(coro, timeout: float = 120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def wait_until(condition, timeout: float, what: str, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(step)


def segments(n: int, seconds: float = 0.5) -> list[bytes]:
    from node.worker.media import synthetic_segment

    return [synthetic_segment(seconds, 160, 96, 30, start_time=i * seconds) for i in range(n)]


def frames(data: bytes) -> int:
    with av.open(io.BytesIO(data), format="mpegts") as c:
        return sum(1 for _ in c.decode(video=0))


async def read_output(sub: TrickleSubscriber, until) -> int:
    """Frames read from `sub` until `until()` or the stream ends; EOS/404 end it."""
    total = 0
    with contextlib.suppress(EndOfStream, StreamNotFound):
        while not until():
            seg = await sub.next_segment()
            total += frames(await seg.read())
    return total


# ---------------------------------------------------------------------------------- the gateway


def test_a_live_stream_through_the_gateway_pays_tickets_that_are_redeemed_on_chain(net):
    """The devnet gateway's own live path (/live/video-to-video/{stream}/start): 60 s paid up front
    then every interval, every ticket wins, the orchestrator redeems them once their params expire:
    the gateway's deposit goes down by the face values redeemed and they are the orchestrator's fees."""
    p, orch = net.protocol, net.orchestrators[0].address
    gateway, node = net.gateway.address, net.orchestrator_nodes[0]
    (deposit0, _), _ = p.TicketBroker.getSenderInfo(gateway)
    fees0 = p.BondingManager.pendingFees(orch, p.current_round())

    async def scenario():
        async with httpx.AsyncClient(timeout=30) as c:
            r = await c.post(net.gateway_url + "/live/video-to-video/chain-1/start", json={"model_id": "noop"})
            assert r.status_code == 200, r.text
            urls = r.json()
            pub = TricklePublisher(urls["publish_url"], "video/MP2T")
            out = TrickleSubscriber(urls["subscribe_url"], start_seq=0)
            reading = asyncio.ensure_future(read_output(out, lambda: False))
            for seg in segments(6):  # 3 s of frames, paced
                await pub.write(seg)
                await asyncio.sleep(0.5)
            status = (await c.get(net.gateway_url + "/live/video-to-video/chain-1/status")).json()["gateway_status"]
            await pub.close()  # the input ends: the stream ends
            got = await asyncio.wait_for(reading, 30)
            await out.close()
            return status, got

    status, got = run(scenario())
    assert got > 0 and not status["error"], status
    assert status["payments"] >= 1, status  # interval payments after the 60 s up front
    sent = net.metric("gateway", "tickets_sent_total")
    assert sent >= 20  # 60 s at PRICE is 20 tickets of EV ...
    assert net.metric("orchestrator-0", "tickets_recv_total") == sent
    assert net.metric("orchestrator-0", "winning_tickets_recv_total") == sent  # ... and each one won
    assert node.receiver.balances.balance(gateway, status["manifest_id"]) is not None

    # redeemed once the params expire (40 blocks, 4 s here): the fees are on chain
    deadline = time.time() + 60
    while time.time() < deadline and net.metric("orchestrator-0", "value_redeemed_total") < sent * FACE_VALUE:
        time.sleep(0.5)
    time.sleep(1)  # a redemption in flight lands
    redeemed = int(net.metric("orchestrator-0", "value_redeemed_total"))
    assert redeemed == sent * FACE_VALUE
    (deposit, _), _ = p.TicketBroker.getSenderInfo(gateway)
    assert deposit0 - deposit == redeemed
    # the orchestrator (its own delegator) has fees to claim: its share of the pool's fees by stake
    assert 0 < p.BondingManager.pendingFees(orch, p.current_round()) - fees0 <= redeemed


# ------------------------------------------------------------------------- a remote-signer client


class SignerClient:
    """What the livepeer-gateway SDK does with a remote signer, against one orchestrator."""

    def __init__(self, signer_app_or_url, orchestrator: str) -> None:
        if isinstance(signer_app_or_url, str):
            self.signer = httpx.AsyncClient(base_url=signer_app_or_url, timeout=30)
        else:
            self.signer = httpx.AsyncClient(transport=httpx.ASGITransport(app=signer_app_or_url),
                                            base_url="http://signer", timeout=30)
        self.orch = orchestrator
        self.http = httpx.AsyncClient(verify=False, timeout=30)  # the orchestrator's self-signed TLS
        self.info: bytes = b""
        self.state: dict | None = None
        self.manifest_id = ""

    async def close(self) -> None:
        await self.signer.aclose()
        await self.http.aclose()

    async def orchestrator_info(self) -> bytes:
        from node.net.tls import grpc_channel

        sig = (await self.signer.post("/sign-orchestrator-info")).json()
        req = pb.OrchestratorRequest(address=bytes.fromhex(sig["address"][2:]), sig=bytes.fromhex(sig["signature"][2:]),
                                     ignoreCapacityCheck=True)
        req.capabilities.CopyFrom(wire.capabilities_to_proto(CAPS))
        channel = await grpc_channel(self.orch)
        try:
            info = await pb_grpc.OrchestratorStub(channel).GetOrchestrator(req, timeout=10)
        finally:
            await channel.close()
        self.info = info.SerializeToString()
        return self.info

    async def sign(self, **fields) -> httpx.Response:
        """POST /generate-live-payment; on 480 fetch fresh OrchestratorInfo and retry (3 times, as
        the SDK). The state of a 200 is kept for the next call."""
        for _ in range(4):
            body = {"orchestrator": base64.b64encode(self.info or await self.orchestrator_info()).decode(), **fields}
            if self.state is not None:
                body["state"] = self.state
            if self.manifest_id:
                body["ManifestID"] = self.manifest_id
            r = await self.signer.post("/generate-live-payment", json=body)
            if r.status_code != 480:
                break
            await self.orchestrator_info()
        if r.status_code == 200:
            self.state = r.json()["state"]
        return r

    @staticmethod
    def headers(signed: httpx.Response) -> dict:
        body = signed.json()
        return {"Livepeer-Payment": body["payment"], "Livepeer-Segment": body["segCreds"]}

    async def start(self, **fields) -> dict:
        signed = await self.sign(**fields)
        assert signed.status_code == 200, signed.text
        r = await self.http.post(f"{self.orch}/{LIVE}", json={"model_id": "noop"}, headers=self.headers(signed))
        assert r.status_code == 200, r.text
        reply = r.json()
        self.manifest_id = reply["manifest_id"]
        return reply

    async def pay(self, **fields) -> tuple[httpx.Response, httpx.Response | None]:
        """(signer's answer, orchestrator's /payment answer or None when the signer gave no payment)."""
        signed = await self.sign(**fields)
        if signed.status_code != 200:
            return signed, None
        return signed, await self.http.post(f"{self.orch}/payment", headers=self.headers(signed))


def funded_sender(net, deposit: int, reserve: int):
    """A sender on the devnet's chain that no node uses: the deployer's account (genesis-funded),
    with this TicketBroker deposit and reserve."""
    from node.eth import JsonRpcChain, attach_protocol
    from node.eth.payments import ProtocolBroker

    account = net.accounts[0]
    protocol = attach_protocol(JsonRpcChain(net.devchain_url, accounts=[account]), net.addresses)
    ProtocolBroker(protocol, account).fund_deposit_and_reserve(deposit, reserve)
    return account, protocol


def in_test_signer(protocol, account):
    """lpnode remote-signer's RemoteSigner for `account`, as the devnet builds its own."""
    from node.core.sender import Sender
    from node.eth.payments import CachedChainView, ProtocolChainView
    from node.signer.server import RemoteSigner, create_signer_app

    view = CachedChainView(ProtocolChainView(protocol))
    sender = Sender(account.address, account.key, view)
    sender.max_ev = sender.max_total_ev = Fraction(100 * EV)
    return create_signer_app(RemoteSigner(account.address, account.key, sender, view))


def test_a_drained_sender_cannot_pay_and_the_orchestrator_ends_the_stream(net, caplog):
    """A sender whose deposit covers one face value and a half, paying as it goes through its remote
    signer (units since its last billed payment, go's inPixels). The orchestrator redeems the
    winners once their params expire: the deposit left is under one face value, so the signer
    refuses every further payment, 400 ("ticket faceValue > max faceValue", or "no sender deposit"
    once a second winner took the rest); the orchestrator keeps charging
    each interval until the balance is short, then closes all four channels with go's
    "insufficient balance" and the client's output ends."""
    account, protocol = funded_sender(net, deposit=FACE_VALUE + FACE_VALUE // 2, reserve=2 * FACE_VALUE)
    node = net.orchestrator_nodes[0]
    caplog.set_level(logging.WARNING, logger="lpnode.orchestrator.live")

    async def scenario():
        client = SignerClient(in_test_signer(protocol, account), net.orchestrator_urls[0])
        second = int(LIVE_VIDEO_UNITS_PER_SECOND)
        media = segments(60)  # up to 30 s of frames, made before the stream starts; it ends well before
        try:
            urls = await client.start(inPixels=second)  # a second up front: one ticket, ~3 s of credit
            mid = urls["manifest_id"]
            assert node.receiver.balances.balance(account.address, mid) >= EV
            pub = TricklePublisher(urls["publish_url"], "video/MP2T")
            out = TrickleSubscriber(urls["subscribe_url"], start_seq=0)
            ended = asyncio.Event()
            reading = asyncio.ensure_future(read_output(out, lambda: False))
            reading.add_done_callback(lambda _: ended.set())
            refused, paid, last, t0 = [], 0, time.monotonic(), time.monotonic()
            for seg in media:
                if ended.is_set():
                    break
                with contextlib.suppress(TrickleError):
                    await pub.write(seg)
                now = time.monotonic()
                signed, got = await client.pay(inPixels=int((now - last) * LIVE_VIDEO_UNITS_PER_SECOND))
                if got is not None:  # billed up to now (a 482 bills nothing: the time stays unbilled)
                    assert got.status_code == 200, got.text
                    paid, last = paid + 1, now
                elif signed.status_code != 482:  # 482: the credit held still covers the fee
                    refused.append((signed.status_code, signed.json()["error"]["message"]))
                await asyncio.sleep(0.5)
            await asyncio.wait_for(ended.wait(), 30)
            lasted = time.monotonic() - t0
            await out.close()
            with contextlib.suppress(Exception):
                await pub.close()
            return mid, refused, paid, lasted, reading.result()
        finally:
            await client.close()

    mid, refused, paid, lasted, got = run(scenario())
    assert got > 0 and paid >= 1  # frames came back while it was paid
    # the redemptions left less than a face value (or nothing): the signer refused to sign more
    # tickets with go's ValidateTicketParams errors (400 from its shouldRefreshSession)
    prefix = "remote signer could not check whether to refresh session: "
    assert refused and all(status == 400 for status, _ in refused), refused
    drained = (prefix + "no sender deposit", prefix + "no sender reserve")  # redemptions take the reserve too
    odd = [m for _, m in refused
           if m not in drained and not m.startswith(f"{prefix}ticket faceValue {FACE_VALUE} > max faceValue ")]
    assert not odd, odd
    (deposit, _), _ = protocol.TicketBroker.getSenderInfo(account.address)
    assert deposit < FACE_VALUE
    assert lasted < 40
    stopped = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage() and mid in r.getMessage()]
    assert stopped and f"insufficient balance, mid={mid}, fee=" in stopped[0], stopped
    for suffix in ("", "-out", "-control", "-events"):  # every channel of the session is gone
        r = httpx.get(f"{net.orchestrator_urls[0]}/ai/trickle/{mid}{suffix}/next", verify=False, timeout=10)
        assert r.status_code == 404, (suffix, r.status_code)


def _tampered(headers: dict, **change) -> dict:
    """`headers` with its Livepeer-Payment changed: `sig` (every ticket's signature zeroed) or
    `recipient` (the ticket params made out to another address)."""
    payment = decode_payment_header(headers["Livepeer-Payment"])
    if "sig" in change:
        tickets = tuple(dataclasses.replace(t, sig=bytes(65)) for t in payment.ticket_sender_params)
        payment = dataclasses.replace(payment, ticket_sender_params=tickets)
    if "recipient" in change:
        payment = dataclasses.replace(payment, ticket_params=dataclasses.replace(payment.ticket_params,
                                                                                 recipient=change["recipient"]))
    return {**headers, "Livepeer-Payment": encode_payment_header(payment)}


def test_forged_replayed_misdirected_and_expired_live_payments_are_refused_and_never_credited(net):
    """/payment for a running live session (the devnet's remote signer and the gateway's funds, the
    SDK's lv2v payments): a good payment credits the session; the same headers again, tickets
    re-signed from a replayed signer state (the same nonces), zeroed signatures, tickets made out to
    another recipient, params that expired before they arrived, and seg creds signed by another key
    are each refused with go's status and error and change nothing."""
    node, gateway = net.orchestrator_nodes[0], net.gateway.address
    orch = net.orchestrator_urls[0]
    errors0 = net.metric("orchestrator-0", "payment_recv_errors_total")

    async def scenario():
        client = SignerClient(net.urls["remote-signer"], orch)
        try:
            mid = (await client.start(type="lv2v"))["manifest_id"]  # 60 s up front, no input: no charges
            balance = lambda: node.receiver.balances.balance(gateway, mid)
            before_state = client.state
            signed = await client.sign(type="lv2v")
            assert signed.status_code == 200, signed.text
            good = client.headers(signed)
            credited = balance()
            r = await client.http.post(f"{orch}/payment", headers=good)
            assert r.status_code == 200, r.text
            assert balance() > credited  # credited to the live session's manifest id
            paid = balance()
            results = {}

            async def refused(name: str, headers: dict) -> None:
                r = await client.http.post(f"{orch}/payment", headers=headers)
                results[name] = (r.status_code, r.text.strip())
                assert balance() == paid, name

            await refused("replayed headers", good)
            client.state = before_state  # the client replays the signer state it held before `good`
            again = await client.sign(type="lv2v")
            assert again.status_code == 200, again.text
            await refused("replayed signer state", client.headers(again))

            async def fresh() -> dict:
                """Tickets on new params (a new recipientRandHash: nonces of their own) for a new
                signer state: 60 s worth, as the SDK's first call."""
                await client.orchestrator_info()
                held, client.state = client.state, None
                try:
                    signed = await client.sign(type="lv2v")
                finally:
                    client.state = held
                assert signed.status_code == 200, signed.text
                return client.headers(signed)

            await refused("zeroed signatures", _tampered(await fresh(), sig=True))
            await refused("another recipient", _tampered(await fresh(), recipient=net.gateway.address))
            stale = await fresh()  # its params expire 40 blocks (4 s) on
            expiry = decode_payment_header(stale["Livepeer-Payment"]).ticket_params.expiration_block
            await wait_until(lambda: node.chain.last_seen_block() >= expiry, 30, "the params to expire")
            await refused("expired params", stale)
            from node.core.keccak import keccak
            from node.net.headers import SegMetadata, encode_segment_header

            stranger = encode_segment_header(SegMetadata(mid, 0, keccak(b""), capabilities=CAPS), bytes([0x77]) * 32)
            await refused("seg creds of another key", {**await fresh(), "Livepeer-Segment": stranger})
            return results
        finally:
            await client.close()

    results = run(scenario())
    nonce_seen = f"invalid ticket senderNonce: already seen sender={gateway} nonce="
    assert results["replayed headers"][0] == 400 and results["replayed headers"][1].startswith(nonce_seen), results
    assert results["replayed signer state"][0] == 400, results
    assert results["replayed signer state"][1].startswith(nonce_seen), results
    assert results["zeroed signatures"] == (400, "invalid ticket signature"), results
    # go's ProcessPayment asks first whether the tickets' recipient is an active orchestrator (the
    # validator's "invalid ticket recipient" follows for one that is): the gateway's address is not
    assert results["another recipient"][0] == 400, results
    assert re.fullmatch(f"orchestrator {gateway} is inactive in round [0-9]+, cannot process payments",
                        results["another recipient"][1]), results
    assert results["expired params"] == (400, "TicketParams expired"), results
    assert results["seg creds of another key"][0] == 403, results
    assert net.metric("orchestrator-0", "payment_recv_errors_total") - errors0 >= 5
