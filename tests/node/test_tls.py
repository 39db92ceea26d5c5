"""TLS on the orchestrator's service port (node.net.tls, node.net.demux): go's self-signed
certificate in the data directory, gRPC (ALPN h2, pinned on first contact) and HTTP/1.1 on one port."""
from __future__ import annotations

import asyncio
import ssl

import grpc
import httpx
import pytest

from node.core.ai_models import AIModelConfig
from node.net.proto import lp_rpc_pb2 as pb
from node.net.proto import lp_rpc_pb2_grpc as pb_grpc
from node.net.tls import (
    PinnedChannels,
    cert_host,
    grpc_channel,
    new_cert,
    server_context,
)
from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
from node.orchestrator.server import serve_orchestrator
from tests.net.trickle_serving import run
from tests.ports import free_port

pytest.importorskip("cryptography")


def test_a_new_cert_in_datadir_at_every_start(tmp_path):
    """go's getCert writes a fresh pair each start (its reuse check is disabled)."""
    cert, key = new_cert(tmp_path, "127.0.0.1")
    assert (cert.name, key.name) == ("cert.pem", "key.pem")
    first = cert.read_bytes()
    assert cert_host(first) == "127.0.0.1" and (key.stat().st_mode & 0o777) == 0o600
    assert new_cert(tmp_path, "127.0.0.1")[0].read_bytes() != first


async def _orchestrator(tmp_path):
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    models = [AIModelConfig("text-to-image", "m", url="http://runner", capacity=1)]
    node = OrchestratorNode(OrchestratorConfig(base, ai_models=models, transcoding=False))
    ctx = server_context(*new_cert(tmp_path, "127.0.0.1"))
    _, stop = await serve_orchestrator(node, "127.0.0.1", port, private_key=None, transcode=None, runners={},
                                       ssl_context=ctx)
    return base, port, stop


def test_grpc_and_http_share_the_tls_port(tmp_path):
    async def scenario():
        base, port, stop = await _orchestrator(tmp_path)
        try:
            async with await grpc_channel(base) as channel:  # ALPN h2 → gRPC
                info = await pb_grpc.OrchestratorStub(channel).GetOrchestrator(pb.OrchestratorRequest(), timeout=10)
            assert info.transcoder == base
            async with httpx.AsyncClient(verify=False) as c:  # http/1.1 → the HTTP app
                reply = await c.get(base + "/metrics")
            assert reply.status_code == 200 and reply.http_version == "HTTP/1.1"
            async with httpx.AsyncClient() as c:  # a verifying client refuses the self-signed certificate
                with pytest.raises(httpx.ConnectError):
                    await c.get(base + "/metrics")
            with pytest.raises(httpx.RemoteProtocolError):  # plaintext on the TLS port is not served
                async with httpx.AsyncClient() as c:
                    await c.get(f"http://127.0.0.1:{port}/metrics")
        finally:
            await stop()

    run(scenario())


def test_pinned_channel_refuses_another_certificate(tmp_path):
    """Trust on first use: a channel pinned to one certificate does not accept a server that
    presents a different one at the same address."""
    async def scenario():
        _, port, stop = await _orchestrator(tmp_path / "a")
        pins = PinnedChannels()
        await pins.apin("127.0.0.1", port)
        await stop()
        _, port2, stop = await _orchestrator(tmp_path / "b")
        try:
            pins._pins[("127.0.0.1", port2)] = pins._pins[("127.0.0.1", port)]  # the old pin at the new address
            async with pins.channel("127.0.0.1", port2) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await pb_grpc.OrchestratorStub(channel).GetOrchestrator(pb.OrchestratorRequest(), timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            await stop()

    run(scenario())


def test_server_context_offers_h2_then_http1(tmp_path):
    ctx = server_context(*new_cert(tmp_path, "localhost"))
    assert isinstance(ctx, ssl.SSLContext)

    async def scenario():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=ctx)
        port = server.sockets[0].getsockname()[1]
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
        for offer, chosen in ((["h2"], "h2"), (["http/1.1"], "http/1.1")):
            client.set_alpn_protocols(offer)
            _, w = await asyncio.open_connection("127.0.0.1", port, ssl=client)
            assert w.get_extra_info("ssl_object").selected_alpn_protocol() == chosen
            w.close()
        server.close()

    run(scenario())


def test_gateway_reaches_an_https_orchestrator(tmp_path):
    """The gateway node discovers (gRPC, pinned) and sends an AI job (HTTP, unverified) over TLS."""
    import json

    from node.gateway.node import GatewayNode
    from node.worker.ai.app import create_app
    from node.net.serving import serve_in_thread

    _, runner_port = serve_in_thread(create_app("text-to-image", "m", mode="mock"), "127.0.0.1")

    async def scenario():
        port = free_port()
        base = f"https://127.0.0.1:{port}"
        node = OrchestratorNode(OrchestratorConfig(base, transcoding=False,
                                                   ai_models=[AIModelConfig("text-to-image", "m", warm=True)]))
        _, stop = await serve_orchestrator(node, "127.0.0.1", port, private_key=None, transcode=None,
                                           runners={"text-to-image": f"http://127.0.0.1:{runner_port}"},
                                           ssl_context=server_context(*new_cert(tmp_path, "127.0.0.1")))
        gateway = GatewayNode([base])
        try:
            fields = {"prompt": "a dog", "model_id": "m", "width": 64, "height": 64, "seed": 3}
            body, _ = await gateway.ai_request("text-to-image", json.dumps(fields).encode(), "application/json",
                                               fields)
            assert json.loads(body)["images"][0]["seed"] == 3
        finally:
            await gateway.close()
            await stop()

    run(scenario())


def test_processes_over_tls_orchestrator_remote_transcoder_gateway(tmp_path):
    """`lpnode orchestrator -serviceAddr https://...` makes its certificate in -dataDir; a remote
    transcoder and a gateway given the https:// address reach it (gRPC pinned, HTTP unverified)."""
    import subprocess
    import sys
    import time

    from node.worker.media import synthetic_segment
    from tests.node.test_processes import stop_all, wait_http

    orch, gw = free_port(), free_port()
    base = f"https://127.0.0.1:{orch}"
    lpnode = [sys.executable, "-m", "node.cli"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen(lpnode + ["orchestrator", "-serviceAddr", base, "-orchSecret", "s3cret",
                                        "-dataDir", str(tmp_path)], **quiet),
             subprocess.Popen(lpnode + ["gateway", "-httpAddr", f"127.0.0.1:{gw}", "-orchAddr", base], **quiet)]
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (tmp_path / "cert.pem").exists():
            time.sleep(0.2)
        wait_http(f"http://127.0.0.1:{gw}/healthz", deadline)
        while time.time() < deadline:
            try:
                httpx.get(base + "/metrics", verify=False, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        procs.append(subprocess.Popen(lpnode + ["transcoder", "-orchAddr", base, "-orchSecret", "s3cret"], **quiet))
        time.sleep(3)  # registration
        r = httpx.post(f"http://127.0.0.1:{gw}/live/s/0.ts", content=synthetic_segment(2.0, 1280, 720),
                       headers={"Accept": "multipart/mixed"}, timeout=60)
        assert r.status_code == 200 and r.content.count(b"Rendition-Name: ") == 2
        assert "livepeer_segment_transcoded_total 1.0" in httpx.get(base + "/metrics", verify=False).text
    finally:
        stop_all(procs)


def test_gateway_repins_after_the_orchestrator_changes_its_certificate(tmp_path):
    """Unreachable at first contact, then up, then restarted with a new certificate: each failure
    is an RPC error to discovery, and the next call pins what the orchestrator now presents."""
    from node.gateway.node import GatewayNode

    async def scenario():
        port = free_port()
        base = f"https://127.0.0.1:{port}"
        gateway = GatewayNode([base])
        try:
            with pytest.raises(grpc.aio.AioRpcError):
                await gateway.get_orchestrator(base, None)  # nothing listens yet
            for datadir in ("a", "b"):  # two certificates at the same address
                node = OrchestratorNode(OrchestratorConfig(base, transcoding=False))
                ctx = server_context(*new_cert(tmp_path / datadir, "127.0.0.1"))
                _, stop = await serve_orchestrator(node, "127.0.0.1", port, private_key=None, transcode=None,
                                                   runners={}, ssl_context=ctx)
                try:
                    if datadir == "b":
                        with pytest.raises(grpc.aio.AioRpcError):  # the old pin no longer fits
                            await gateway.get_orchestrator(base, None)
                    assert (await gateway.get_orchestrator(base, None)).transcoder == base
                finally:
                    await stop()
        finally:
            await gateway.close()

    run(scenario())


def test_a_live_session_over_tls(tmp_path):
    """POST /live-video-to-video and its trickle channels on the TLS service port: the URLs the
    orchestrator hands out are https:// and the trickle clients (unverified, as go's) stream on them."""
    from node.net.trickle import TricklePublisher, TrickleSubscriber
    from tests.node.test_live_orchestrator import EchoRunner, live_service_port, start

    async def scenario():
        tls = server_context(*new_cert(tmp_path, "127.0.0.1"))
        async with live_service_port(EchoRunner(), "https", ssl_context=tls) as base:
            async with httpx.AsyncClient(verify=False) as c:
                reply = (await start(c, base)).json()
            assert reply["publish_url"].startswith(base + "/") and reply["subscribe_url"].startswith(base)
            pub = TricklePublisher(reply["publish_url"], "video/MP2T")
            out = TrickleSubscriber(reply["subscribe_url"], start_seq=-1)
            waiting = asyncio.ensure_future(out.next_segment())
            async with pub.next() as seg:
                await seg.write(b"frame")
            got = await waiting
            assert await got.read() == b"echo:frame"
            await out.close()
            await pub.close()

    run(scenario())
