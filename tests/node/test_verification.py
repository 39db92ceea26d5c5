"""The gateway's local verification end to end (spec §8.3, go's -localVerify): an orchestrator that
misreports its pixel counts is caught ("PixelMismatch"), dropped from the stream's pool and the
segment goes to an honest one; with verification off the lie is accepted."""
import asyncio
import io
import time

import pytest
from tests.ports import free_port

httpx = pytest.importorskip("httpx")
av = pytest.importorskip("av")
pytest.importorskip("grpc")


def frame_sizes(renditions) -> list:
    sizes = []
    for _, data in renditions:
        with av.open(io.BytesIO(data)) as c:
            frame = next(c.decode(video=0))
            sizes.append((frame.width, frame.height))
    return sizes


async def _orchestrator(pixels_factor: int):
    from node.devnet import _transcoder
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from node.orchestrator.server import serve_orchestrator

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    node = OrchestratorNode(OrchestratorConfig(uri))
    _, stop = await serve_orchestrator(node, "127.0.0.1", port, private_key=None,
                                       transcode=_transcoder(pixels_factor=pixels_factor), runners={})
    return uri, node, stop


def test_offchain_a_lying_orchestrator_is_caught_with_local_verify_and_accepted_without():
    from node.gateway.node import GatewayError, GatewayNode
    from node.net.headers import VideoProfile
    from node.worker.media import synthetic_segment
    from node.worker.transcode import count_pixels

    profiles = (VideoProfile("P240p30fps16x9", 426, 240, 250_000, 30, 1),
                VideoProfile("P360p30fps16x9", 640, 360, 400_000, 30, 1))
    segment = synthetic_segment(1.0, 640, 360)

    def transcoded(node) -> float:
        return node.metrics.segment_transcoded._value.get()

    def counts(gateway, liar, honest) -> tuple:
        m = gateway.metrics
        return (transcoded(liar), transcoded(honest), m.segment_transcode_failed.labels("retryable")._value.get(),
                m.orchestrator_swaps._value.get())

    async def scenario():
        (liar_uri, liar, stop_liar), (honest_uri, honest, stop_honest) = \
            await _orchestrator(2), await _orchestrator(1)
        checking = GatewayNode([liar_uri, honest_uri], local_verify=True)
        trusting = GatewayNode([liar_uri, honest_uri])  # offchain: -localVerify is off by default
        assert checking.local_verify and not trusting.local_verify
        try:
            # each stream discovers afresh; go on until the liar got the stream's first segment
            for stream in range(10):
                before = counts(checking, liar, honest)
                try:
                    renditions = await checking.transcode(f"v{stream}", 0, segment, 1.0, profiles)
                except GatewayError as exc:  # discovery heard only the liar in time: dropped, nobody left
                    delta = [a - b for a, b in zip(counts(checking, liar, honest), before)]
                    assert exc.status == 503 and delta[:2] == [1, 0], (exc, delta)
                    continue
                delta = [a - b for a, b in zip(counts(checking, liar, honest), before)]
                if delta[0]:
                    break
                assert delta == [0, 1, 0, 0]
            else:
                pytest.fail("the lying orchestrator was never selected")
            # caught: one failed attempt, a swap, the liar out of the stream's pool (not suspended)
            assert delta == [1, 1, 1, 1]  # liar, honest transcoded; failed attempts; swaps
            pool = checking.streams[f"v{stream}"].untrusted
            assert liar_uri not in pool.sessions and honest_uri in pool.sessions
            assert pool.suspender.suspended(liar_uri) == 0
            # the client got the honest orchestrator's renditions: 30 frames each
            assert frame_sizes(renditions) == [(426, 240), (640, 360)]
            assert [count_pixels(data) for _, data in renditions] == [426 * 240 * 30, 640 * 360 * 30]

            # verification off: the liar's answer is taken as it is, nobody is dropped
            for stream in range(10):
                before = counts(trusting, liar, honest)
                renditions = await trusting.transcode(f"t{stream}", 0, segment, 1.0, profiles)
                delta = [a - b for a, b in zip(counts(trusting, liar, honest), before)]
                if delta[0]:
                    break
            else:
                pytest.fail("the lying orchestrator was never selected")
            assert delta == [1, 0, 0, 0]  # the liar's renditions, no failure, no swap
            assert liar_uri in trusting.streams[f"t{stream}"].untrusted.sessions
            assert frame_sizes(renditions) == [(426, 240), (640, 360)]
        finally:
            await checking.close()
            await trusting.close()
            await stop_liar()
            await stop_honest()

    asyncio.run(scenario())


def test_onchain_devnet_a_lying_orchestrator_is_swapped_for_an_honest_one(tmp_path):
    """`lpnode devnet --lying-transcoders 1`: on-chain, so the gateway verifies by default — the
    honest orchestrator's signature over its renditions, and every rendition's pixel count."""
    from node.worker.media import synthetic_segment

    from node.eth import JsonRpcChain, attach_protocol, dev_accounts

    from .test_devnet import metric, start_devnet, stop

    # one long round: both orchestrators call reward once at its start, and the gateway's view of
    # the active set (read once per round) is taken after that, with both in it
    proc, urls, addresses = start_devnet(tmp_path, "--orchestrators", "2", "--lying-transcoders", "1",
                                         "--round-length", "1000")
    try:
        protocol = attach_protocol(JsonRpcChain(urls["devchain"]), addresses)
        deadline = time.time() + 30
        while time.time() < deadline and any(
                protocol.BondingManager.getTranscoder(a.address)[0] != protocol.RoundsManager.currentRound()
                for a in dev_accounts(3)[1:3]):
            time.sleep(0.2)
        # warm-up: the first GetOrchestrator to each orchestrator can outlast discovery's 500 ms
        # (go returns whoever answered), which would leave a stream with the liar alone
        httpx.post(f"{urls['gateway']}/text-to-image", json={"prompt": "warm-up", "model_id": "test/tiny-sd"},
                   timeout=60)
        segment = synthetic_segment(1.0, 640, 360)

        def counts():
            return [metric(urls[name], "segment_transcoded_total") for name in ("orchestrator-0", "orchestrator-1")] \
                + [metric(urls["gateway"], "orchestrator_swaps_total")]

        for stream in range(10):  # equal stakes: either orchestrator first; go on until the liar was
            before = counts()
            r = httpx.post(f"{urls['gateway']}/live/s{stream}/0.ts", content=segment,
                           headers={"Accept": "multipart/mixed", "Content-Duration": "1000"}, timeout=60)
            liar, honest, swaps = (a - b for a, b in zip(counts(), before))
            if r.status_code == 503 and (liar, honest) == (1, 0):
                continue  # discovery got only the liar's answer in time: dropped, nobody left (go's 503)
            assert r.status_code == 200 and r.content.count(b"Rendition-Name: ") == 2, (stream, r.text)
            if liar:
                break
            assert (honest, swaps) == (1, 0)
        else:
            pytest.fail("the lying orchestrator was never selected")
        # the liar transcoded it, the gateway found the lie, swapped, and the honest one delivered
        assert (liar, honest, swaps) == (1, 1, 1)
        # the liar was paid for what it claimed (go debits before verifying) but the client got the
        # honest renditions
        boundary = r.headers["content-type"].split("boundary=")[1].encode()
        parts = [p.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n") for p in r.content.split(b"--" + boundary)
                 if b"Rendition-Name" in p]
        assert sorted(frame_sizes([(None, p) for p in parts])) == [(426, 240), (640, 360)]
    finally:
        stop(proc)


def test_local_verify_flag_is_gos_boolean_and_defaults_by_network():
    from node.cli import build_parser
    from node.gateway.node import GatewayNode

    parser = build_parser()

    def flag(*argv):
        return parser.parse_args(["gateway", "-orchAddr", "127.0.0.1:8935", *argv]).localVerify

    assert flag() is None and flag("-localVerify") is True
    assert flag("-localVerify=false") is False and flag("-localVerify=true") is True and flag("-localVerify=0") is False
    with pytest.raises(SystemExit):
        flag("-localVerify=maybe")
    # unset: off offchain (on on-chain, see the devnet test); set: as given
    assert not GatewayNode(["http://127.0.0.1:8935"]).local_verify
    assert GatewayNode(["http://127.0.0.1:8935"], local_verify=True).local_verify
