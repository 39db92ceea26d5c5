"""Offchain mode (go-livepeer's `-network offchain`): no chain, no payments — gateway and
orchestrator in this process, over real sockets, with a mock AI runner."""
import asyncio
import json

import pytest
from tests.ports import free_port

pytest.importorskip("grpc")
pytest.importorskip("fastapi")


async def ai_orchestrator(runner_port: int):
    """An offchain orchestrator (no transcoder) whose text-to-image model "m" is the runner on
    `runner_port`; returns (uri, node, stop)."""
    from node.core.ai_models import AIModelConfig
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from node.orchestrator.server import serve_orchestrator

    port = free_port()
    node = OrchestratorNode(OrchestratorConfig(f"http://127.0.0.1:{port}", transcoding=False,
                                               ai_models=[AIModelConfig("text-to-image", "m", warm=True)]))
    _, stop = await serve_orchestrator(node, "127.0.0.1", port, private_key=None, transcode=None,
                                       runners={"text-to-image": f"http://127.0.0.1:{runner_port}"})
    return f"http://127.0.0.1:{port}", node, stop


def test_offchain_ai_request_and_a_failed_segment_without_a_transcoder():
    from node.net.serving import serve_in_thread
    from node.gateway.node import GatewayError, GatewayNode
    from node.net.headers import VideoProfile
    from node.worker.ai.app import create_app

    _, runner_port = serve_in_thread(create_app("text-to-image", "m", mode="mock"), "127.0.0.1")

    async def scenario():
        uri, node, stop = await ai_orchestrator(runner_port)
        gateway = GatewayNode([uri])
        try:
            fields = {"prompt": "a dog", "model_id": "m", "width": 64, "height": 64, "seed": 3}
            body, media_type = await gateway.ai_request("text-to-image", json.dumps(fields).encode(),
                                                        "application/json", fields)
            assert media_type.startswith("application/json")
            assert json.loads(body)["images"][0]["seed"] == 3
            assert not node.onchain and gateway.sender is None  # nothing paid, nothing to pay with
            # a model nobody serves: discovery finds no compatible orchestrator
            with pytest.raises(GatewayError) as exc:
                other = dict(fields, model_id="other")
                await gateway.ai_request("text-to-image", json.dumps(other).encode(), "application/json", other)
            assert exc.value.status == 503
            # this orchestrator runs no transcoder: the attempt fails, the orchestrator is suspended
            # and removed, and with nobody left the segment gets go's 503
            profile = VideoProfile("P240p30fps16x9", 426, 240, 250_000, 30, 1)
            with pytest.raises(GatewayError) as exc:
                await gateway.transcode("s", 0, b"not video", 2.0, (profile,))
            assert exc.value.status == 503 and str(exc.value) == "No sessions available"
            failed = gateway.metrics.segment_transcode_failed.labels("retryable")._value.get()
            assert failed == 1
        finally:
            await gateway.close()
            await stop()

    asyncio.run(scenario())


def test_an_unreachable_orchestrator_is_skipped_and_one_that_goes_down_is_swapped():
    """The failure table's first row: an -orchAddr entry where nothing listens never gets work, and
    an orchestrator that stops answering after discovery fails the attempt, which is retried on
    another orchestrator; the client sees only successes."""
    from node.gateway.node import GatewayNode
    from node.worker.ai.app import create_app
    from node.net.serving import serve_in_thread

    _, runner_port = serve_in_thread(create_app("text-to-image", "m", mode="mock"), "127.0.0.1")
    fields = {"prompt": "a dog", "model_id": "m", "width": 64, "height": 64, "seed": 3}

    def served(node) -> float:
        return node.metrics.ai_models_requested.labels("text-to-image", "m")._value.get()

    async def scenario():
        (uri_a, a, stop_a), (uri_b, b, stop_b) = await ai_orchestrator(runner_port), await ai_orchestrator(runner_port)
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        gateway = GatewayNode([dead, uri_a, uri_b])
        stopped = set()
        try:
            request = json.dumps(fields).encode()
            await gateway.ai_request("text-to-image", request, "application/json", fields)
            assert served(a) + served(b) == 1 and gateway.metrics.discovery_errors._value.get() == 1
            # whoever served it goes down; the gateway still holds its session
            first, stop_first, other = (a, stop_a, b) if served(a) else (b, stop_b, a)
            await stop_first()
            stopped.add(stop_first)
            for _ in range(3):
                body, _ = await gateway.ai_request("text-to-image", request, "application/json", fields)
                assert json.loads(body)["images"][0]["seed"] == 3
            assert (served(first), served(other)) == (1, 3)
            errors = sum(x.value for m in gateway.metrics.ai_request_errors.collect() for x in m.samples
                         if x.name.endswith("_total"))
            assert errors >= 1  # the attempt on the stopped orchestrator failed and was retried
        finally:
            await gateway.close()
            for stop in (stop_a, stop_b):
                if stop not in stopped:
                    await stop()

    asyncio.run(scenario())
