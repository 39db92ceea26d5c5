"""The paid request path's caches serve nothing stale: the gateway's seg creds per session and auth
token, the orchestrator's decoded seg creds (every check that depends on the sender, the clock or
capacity still made on each request), and the chain view's once-a-round answers."""
import asyncio
from dataclasses import replace

import httpx
import pytest
from eth_account import Account

from node.core.ai_sessions import selector_key
from node.core.capabilities import ai_job_capabilities, pipeline_capability
from node.eth.payments import CachedChainView
from node.net.auth import issue_auth_token
from node.net.headers import (SEGMENT_HEADER, HeaderError, SegMetadata, decode_segment_header, encode_segment_header,
                              verify_seg_creds)
from node.core.keccak import keccak
from tests.core.stubs import StubChain
from tests.eth.test_cached_chain_view import settled
from tests.node.hostile import G, G_KEY, MODEL, O, STRANGER, STRANGER_KEY, paid_network, t2i

CAP = int(pipeline_capability("text-to-image"))
MANIFEST = selector_key(CAP, MODEL)
SECRET = bytes(range(32))
NOW = 1_800_000_000.0


def seg_creds(token, key=G_KEY) -> str:
    caps = ai_job_capabilities(CAP, MODEL, with_defaults=True)
    return encode_segment_header(SegMetadata(MANIFEST, 0, keccak(b""), capabilities=caps, auth_token=token), key)


def verify(header, sender=G, now=NOW, capacity=True):
    return verify_seg_creds(header, sender, compatible=lambda caps: True, secret=SECRET, now=now,
                            check_capacity=lambda session: capacity)


def test_a_session_makes_its_seg_creds_once_and_anew_with_a_new_auth_token():
    from node.gateway.node import GatewayNode, OrchInfo
    from node.net import wire

    gateway = GatewayNode(["http://o"], account=Account.from_key(G_KEY), chain=StubChain(price=1))
    caps = ai_job_capabilities(CAP, MODEL, with_defaults=True)
    token = issue_auth_token(SECRET, "aaaa", NOW)
    state = OrchInfo("http://o", wire.OrchestratorInfo(transcoder="http://o", address=O, auth_token=token), NOW)
    first = gateway._ai_seg_creds(state, MANIFEST, caps)
    assert first == seg_creds(token)  # go's genSegCreds bytes
    assert gateway._ai_seg_creds(state, MANIFEST, caps) is first  # made once
    assert verify(first).auth_token == token

    # the session's auth token renewed (in place, not only through a new OrchInfo): the next request's
    # seg creds carry the new one
    new = issue_auth_token(SECRET, "bbbb", NOW + 60)
    state.info = replace(state.info, auth_token=new)
    second = gateway._ai_seg_creds(state, MANIFEST, caps)
    assert second != first and second == seg_creds(new) and verify(second).auth_token == new
    other = selector_key(CAP, "another-model")  # another job on the same session: its own manifest
    assert decode_segment_header(gateway._ai_seg_creds(state, other, caps)).manifest_id == other
    asyncio.run(gateway.close())


def test_a_cached_seg_creds_value_is_still_checked_against_each_sender_clock_and_capacity():
    token = issue_auth_token(SECRET, "cccc", NOW)
    good = seg_creds(token)
    assert verify(good).auth_token == token
    assert verify(good).auth_token == token  # decoded once, answered again
    with pytest.raises(HeaderError, match="ErrSegSig"):  # the same bytes from another payment's sender
        verify(good, sender=STRANGER)
    forged = seg_creds(token, key=STRANGER_KEY)  # signed by someone else, claiming G's payment
    with pytest.raises(HeaderError, match="ErrSegSig"):
        verify(forged)
    assert verify(forged, sender=STRANGER).auth_token == token  # but good for its own signer
    with pytest.raises(HeaderError, match="OrchestratorCapped"):
        verify(good, capacity=False)
    with pytest.raises(HeaderError, match="expired auth token"):  # the token's 30 minutes are over
        verify(good, now=NOW + 31 * 60)
    with pytest.raises(HeaderError, match="invalid auth token"):  # another orchestrator's secret
        verify_seg_creds(good, G, compatible=lambda caps: True, secret=bytes(32), now=NOW)
    with pytest.raises(HeaderError, match="incompatible capabilities"):
        verify_seg_creds(good, G, compatible=lambda caps: False, secret=SECRET, now=NOW)


def test_paid_requests_send_the_refreshed_sessions_seg_creds(monkeypatch):
    """Through the real servers: the gateway's requests of one session carry the same seg creds;
    once the session is refreshed (its auth token due), the next request carries the new token's,
    and the orchestrator accepts it."""
    import node.gateway.node as gateway_module

    async def scenario():
        async with paid_network() as net, httpx.AsyncClient(timeout=60) as client:
            sent = []
            post = net.gateway.hop.post

            async def recording(url, body, headers, **kw):
                sent.append(headers[SEGMENT_HEADER])
                return await post(url, body, headers, **kw)

            net.gateway.hop.post = recording
            for i in range(2):
                assert (await client.post(f"{net.gateway_uri}/text-to-image", json=t2i(seed=i))).status_code == 200
            due = iter([True])  # the next request finds its auth token due once
            monkeypatch.setattr(gateway_module, "auth_token_needs_refresh", lambda now, exp: next(due, False))
            for i in range(2):
                assert (await client.post(f"{net.gateway_uri}/text-to-image", json=t2i(seed=9 + i))).status_code == 200
            return sent

    sent = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert len(sent) == 4
    tokens = [decode_segment_header(h).auth_token for h in sent]
    assert sent[0] == sent[1] and sent[2] == sent[3]
    assert tokens[2].session_id != tokens[0].session_id  # the refreshed session's new token


class Rounds:
    """A chain whose round, active set and pool the test moves; counts its reads."""

    def __init__(self) -> None:
        self.round, self.active, self.pool, self.block, self.funds = 7, True, 3, 100, 10
        self.reads: dict[str, int] = {}

    def _read(self, name, value):
        self.reads[name] = self.reads.get(name, 0) + 1
        return value

    def last_initialized_round(self):
        return self._read("round", self.round)

    def is_active(self, orchestrator):
        return self._read("active", self.active)

    def transcoder_pool_size(self):
        return self._read("pool", self.pool)

    def block_hash_for_round(self, round_):
        return self._read("hash", bytes([round_]) * 32)

    def last_seen_block(self):
        return self._read("block", self.block)

    def sender_info(self, sender):
        return self._read("sender", self.funds)


def test_round_answers_are_read_once_a_round_and_anew_in_the_next():
    base, now = Rounds(), [100.0]
    view = CachedChainView(base, ttl=1.0, clock=lambda: now[0], max_age=5.0)
    assert view.is_active(O) and view.transcoder_pool_size() == 3 and view.block_hash_for_round(7) == bytes([7]) * 32
    assert view.answered(("active", O), "pool", "round")
    base.active, base.pool = False, 4  # changed on chain, effective from the next round (go: NewRound)
    for _ in range(5):  # many seconds of the same round: the round re-read, nothing else
        now[0] += 1.1
        view.last_initialized_round()
        settled(view)
        assert view.is_active(O) and view.transcoder_pool_size() == 3
        assert view.answered(("active", O), "pool")
    assert base.reads["active"] == base.reads["pool"] == base.reads["hash"] == 1 and base.reads["round"] > 3

    base.round = 8  # the next round: the first question after the round's answer moved reads anew
    now[0] += 1.1
    view.last_initialized_round()
    settled(view)
    assert not view.answered(("active", O))  # the request path must not serve round 7's answer
    assert not view.is_active(O) and view.transcoder_pool_size() == 4 and base.reads["active"] == 2
    assert view.answered(("active", O), "pool")
    base.active = True
    view.invalidate()  # after a transaction of our own: everything is read again
    assert view.is_active(O) and base.reads["active"] == 3


def test_the_shared_job_capabilities_are_left_as_made_by_paid_requests():
    """Both nodes make a batch AI job's capabilities once (node.core.capabilities'
    batch_ai_job_capabilities) and share them between requests: a request must leave them
    exactly as a fresh ai_job_capabilities makes them."""
    from node.core.capabilities import batch_ai_job_capabilities as shared_caps

    async def scenario():
        async with paid_network() as net, httpx.AsyncClient(timeout=60) as client:
            for i in range(2):
                assert (await client.post(f"{net.gateway_uri}/text-to-image", json=t2i(seed=i))).status_code == 200

    asyncio.run(asyncio.wait_for(scenario(), 60))
    fresh = ai_job_capabilities(CAP, MODEL, with_defaults=True)
    assert shared_caps(CAP, MODEL) == fresh
    assert shared_caps(CAP, MODEL) is shared_caps(CAP, MODEL)


def test_an_answer_is_reread_only_once_a_new_block_is_seen():
    base, now = Rounds(), [100.0]
    view = CachedChainView(base, ttl=1.0, clock=lambda: now[0], max_age=5.0)
    assert view.last_seen_block() == 100 and view.sender_info(G) == 10
    for _ in range(8):  # past max_age without a block: the block polled every ttl, the funds not re-read
        now[0] += 1.1
        view.last_seen_block()
        settled(view)
        assert view.sender_info(G) == 10 and view.answered(("sender", G))
    assert base.reads["sender"] == 1 and base.reads["block"] == 9

    base.block, base.funds = 101, 7  # a new block, in which the sender's funds changed
    now[0] += 1.1
    view.last_seen_block()
    settled(view)
    assert view.sender_info(G) == 10  # served while it is re-read, as before
    settled(view)
    assert view.sender_info(G) == 7 and base.reads["sender"] == 2
    base.funds = 5
    now[0] += 1.1  # the last seen block's own answer is old: no telling, so re-read (the ttl rule)
    view.sender_info(G)
    settled(view)
    assert view.sender_info(G) == 5 and base.reads["sender"] == 3
