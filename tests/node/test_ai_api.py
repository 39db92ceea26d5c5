"""The gateway's batch AI API as clients see it (go's server/ai_mediaserver.go, ai_process.go):
image-to-video answers {"images": [{url of an MP4}]} (sync and `Prefer: respond-async`),
audio-to-text is measured and charged by its duration, llm is routed by `model`.

One offchain network for the module: a mock runner per pipeline (threads, loopback), one
orchestrator serving all of them, and the gateway's FastAPI app driven in-process."""
from __future__ import annotations

import asyncio
import io
import json
import threading

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("av")

from node.core.ai_models import DEFAULT_MODEL_IDS
from tests.ports import free_port

MODELS = {p: m for p, m in DEFAULT_MODEL_IDS.items() if p != "live-video-to-video"}  # what each mock serves


class Network:
    """Runners and orchestrator on a private event loop in a thread; the gateway app is called on it."""

    def __init__(self, runner_models: dict[str, str] | None = None) -> None:
        """`runner_models`: a runner configured with another model than the orchestrator declares."""
        from node.core.ai_models import AIModelConfig
        from node.gateway.node import GatewayNode
        from node.gateway.server import create_app as gateway_app
        from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
        from node.orchestrator.server import serve_orchestrator
        from node.worker.ai.app import create_app
        from node.net.serving import serve_in_thread

        runners = {}
        for pipeline, model in MODELS.items():
            opts = {"num_frames": 4} if pipeline == "image-to-video" else {}
            runner_model = (runner_models or {}).get(pipeline, model)
            _, port = serve_in_thread(create_app(pipeline, runner_model, mode="mock", **opts), "127.0.0.1")
            runners[pipeline] = f"http://127.0.0.1:{port}"
        self.runners = runners
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        port = free_port()
        self.orch = OrchestratorNode(OrchestratorConfig(
            f"http://127.0.0.1:{port}", transcoding=False,
            ai_models=[AIModelConfig(p, m, warm=True) for p, m in MODELS.items()]))

        async def start():
            _, stop = await serve_orchestrator(self.orch, "127.0.0.1", port, private_key=None, transcode=None,
                                               runners=runners)
            gateway = GatewayNode([f"http://127.0.0.1:{port}"])
            return stop, gateway

        self._stop, self.gateway = self.run(start())
        self.app = gateway_app(self.gateway, ())

    def run(self, coro, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def stop():
            await self.gateway.close()
            await self._stop()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def net():
    n = Network()
    yield n
    n.close()


def call(net: Network, method: str, path: str, **kw):
    import httpx

    async def go():
        transport = httpx.ASGITransport(app=net.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.request(method, path, **kw)

    return net.run(go())


def png(size=(64, 48), color=(200, 30, 60)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def wav(seconds: float) -> bytes:
    import numpy as np

    from node.worker.ai.media import wav_bytes

    return wav_bytes(np.zeros(int(16000 * seconds), dtype=np.float32), 16000)


def probe_video(data: bytes) -> tuple[str, int, int, int]:
    import av

    with av.open(io.BytesIO(data)) as c:
        s = c.streams.video[0]
        frames = sum(1 for _ in c.decode(s))
        return s.codec_context.name, s.width, s.height, frames


def test_image_to_video_answers_images_with_an_mp4_url(net):
    reply = call(net, "POST", "/image-to-video", files={"image": ("i.png", png(), "image/png")},
                 data={"model_id": MODELS["image-to-video"], "width": "128", "height": "96", "seed": "7"})
    assert reply.status_code == 200, reply.text
    doc = reply.json()
    assert set(doc) == {"images"} and len(doc["images"]) == 1
    item = doc["images"][0]
    assert item["seed"] == 7 and item["nsfw"] is False and item["url"].startswith("/stream/")
    video = call(net, "GET", item["url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert probe_video(video.content) == ("h264", 128, 96, 4)  # the mock's 4 frames at the asked size
    assert call(net, "GET", "/stream/nope/x.mp4").status_code == 404


def test_image_to_video_async_then_its_result(net):
    reply = call(net, "POST", "/image-to-video", headers={"Prefer": "respond-async"},
                 files={"image": ("i.png", png(), "image/png")},
                 data={"model_id": MODELS["image-to-video"], "width": "64", "height": "64", "seed": "1"})
    assert reply.status_code == 202, reply.text
    request_id = reply.json()["request_id"]
    for _ in range(300):
        result = call(net, "POST", "/image-to-video/result", json={"request_id": request_id})
        if result.status_code != 202:
            break
        assert result.json() == {"status": "processing"}
        net.run(asyncio.sleep(0.05))
    assert result.status_code == 200, result.text
    doc = result.json()
    assert doc["status"] == "complete" and doc["result"]["images"][0]["seed"] == 1
    assert probe_video(call(net, "GET", doc["result"]["images"][0]["url"]).content)[1:3] == (64, 64)
    bad = call(net, "POST", "/image-to-video/result", json={"request_id": "unknown"})
    assert bad.status_code == 400 and bad.json() == {"error": {"message": "invalid request ID"}}


def test_audio_to_text_is_measured_and_charged_by_duration(net, monkeypatch):
    import node.gateway.node as gnode

    seen = []
    real = gnode.gateway_ai_units

    def spy(pipeline, fields, **kw):
        units = real(pipeline, fields, **kw)
        seen.append((pipeline, fields.get("metadata"), units))
        return units

    monkeypatch.setattr(gnode, "gateway_ai_units", spy)
    reply = call(net, "POST", "/audio-to-text", files={"audio": ("a.wav", wav(3.5), "audio/wav")},
                 data={"model_id": MODELS["audio-to-text"]})
    assert reply.status_code == 200, reply.text
    assert "text" in reply.json() and "chunks" in reply.json()
    # go truncates to whole seconds, pays seconds × 1000 units, sends {"duration": "3"}
    assert seen == [("audio-to-text", '{"duration":"3"}', 3000)]


def test_audio_shorter_than_a_second_is_go_400(net):
    reply = call(net, "POST", "/audio-to-text", files={"audio": ("a.wav", wav(0.5), "audio/wav")},
                 data={"model_id": MODELS["audio-to-text"]})
    assert reply.status_code == 400
    assert reply.json() == {"error": {"message": "audio duration calculation failed"}}


def test_unreadable_audio_is_go_503_after_every_session_fails():
    # its own network: go suspends each orchestrator the codec-info error reaches
    n = Network()
    try:
        reply = call(n, "POST", "/audio-to-text", files={"audio": ("a.wav", b"not audio at all", "audio/wav")},
                     data={"model_id": MODELS["audio-to-text"]})
        assert reply.status_code == 503
        assert reply.json() == {"error": {"message": "Service Unavailable Error"}}
    finally:
        n.close()


def llm_body(**kw):
    return dict({"model": MODELS["llm"], "messages": [{"role": "user", "content": "hi"}],
                 "stream": False, "max_tokens": 16}, **kw)


def test_llm_is_routed_by_model(net):
    reply = call(net, "POST", "/llm", json=llm_body())
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["role"] == "assistant"
    # a model nobody serves: go's 503, the orchestrator is never asked
    other = call(net, "POST", "/llm", json=llm_body(model="nobody/serves-this"))
    assert other.status_code == 503
    assert other.json() == {"error": {"message": "Service Unavailable Error"}}
    # go checks model, messages, stream and max_tokens are present
    for missing in ("model", "messages", "stream", "max_tokens"):
        body = llm_body()
        del body[missing]
        bad = call(net, "POST", "/llm", json=body)
        assert bad.status_code == 400 and bad.json() == {"error": {"message": "missing required fields"}}


def test_llm_stream_relays_server_sent_events_as_they_come(net):
    import httpx

    body = llm_body(stream=True, max_tokens=40)
    direct = httpx.post(net.runners["llm"] + "/llm", json=body, timeout=30)
    runner_events = [line for line in direct.text.splitlines() if line.startswith("data: ")]
    assert runner_events[-1] == "data: [DONE]"  # the runner ends with [DONE]; go's gateway does not relay it

    async def stream():
        transport = httpx.ASGITransport(app=net.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client, \
                client.stream("POST", "/llm", json=body) as reply:
            assert reply.status_code == 200
            assert reply.headers["content-type"].startswith("text/event-stream")
            assert reply.headers["cache-control"] == "no-cache"
            return [raw async for raw in reply.aiter_raw()]

    raw = b"".join(net.run(stream())).decode()
    assert raw.endswith("\n\n") and "[DONE]" not in raw
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    chunks = [json.loads(e[len("data: "):]) for e in events]
    # every chunk the runner sent, in order, the last one with its finish_reason
    assert [c["choices"][0]["delta"] for c in chunks] == \
        [json.loads(e[len("data: "):])["choices"][0]["delta"] for e in runner_events[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] and not chunks[0]["choices"][0]["finish_reason"]


def test_llm_error_from_the_orchestrator_is_not_a_bad_request(net):
    """go's submitLLM reports "unexpected status code: 400, body: ..." (not "returned 400"), so the
    orchestrator is suspended and the request ends as 503 once none is left. Here the runner is
    configured with another model than the orchestrator advertises: it answers 400."""
    import httpx

    n = Network(runner_models={"llm": "some/other-model"})
    try:
        direct = httpx.post(n.runners["llm"] + "/llm", json=llm_body(), timeout=30)
        assert direct.status_code == 400 and "called with" in direct.text
        reply = call(n, "POST", "/llm", json=llm_body())
        assert reply.status_code == 503, reply.text
        assert reply.json() == {"error": {"message": "Service Unavailable Error"}}
    finally:
        n.close()
