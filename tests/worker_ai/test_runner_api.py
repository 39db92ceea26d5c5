"""The AI runner's HTTP API in mock mode: every batch route, its bodies, its errors.

Status codes and messages are ai-runner's (spec runner.md §1): HTTPError {"detail": {"msg"}},
FastAPI's stock 422 for schema errors, 400 for a wrong model id or an inference error, 413 for
oversize uploads, 415 for undecodable audio, 500 for pipeline failures.
"""
from __future__ import annotations

import ast
import asyncio
import io
import json
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from node.worker.ai import BATCH_PIPELINES, create_app
from node.worker.ai import app as app_module
from node.worker.ai.errors import InferenceError, LoraLoadingError, map_exception
from node.worker.ai.media import decode_data_url, wav_bytes
from node.worker.ai.mock import MockTextToImagePipeline

MODEL = "org/some-model"


def client(pipeline: str, **kw) -> TestClient:
    return TestClient(create_app(pipeline, MODEL, mode="mock", **kw))


def png(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(decode_data_url(url)))
    assert img.format == "PNG"
    return img


def image_upload(w: int = 40, h: int = 24, color=(200, 10, 10), fmt: str = "png") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format=fmt)
    return buf.getvalue()


def wav_upload(seconds: float = 1.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return wav_bytes(0.3 * np.sin(2 * np.pi * 440 * t), rate)


def msg(resp) -> str:
    body = resp.json()
    assert set(body) == {"detail"} and set(body["detail"]) == {"msg"}, body
    return body["detail"]["msg"]


# ---------------------------------------------------------------------------------------------
# Meta endpoints, app construction


def test_health_hardware_version_metrics():
    c = client("text-to-image")
    for path in ("/health", "/health/"):
        r = c.get(path)
        assert r.status_code == 200 and r.json() == {"status": "OK"}
    for path, key in (("/hardware/info", "gpu_info"), ("/hardware/stats", "gpu_stats")):
        body = c.get(path).json()
        assert body["pipeline"] == "text-to-image" and body["model_id"] == MODEL
        assert isinstance(body[key], dict)
        for gpu in body[key].values():  # only on a machine with a GPU
            assert {"id", "name", "memory_total", "memory_free"} <= set(gpu)
    assert c.get("/version").json() == {"pipeline": "text-to-image", "model_id": MODEL,
                                        "version": "undefined"}
    r = c.get("/metrics")
    assert r.status_code == 200 and 'version{app="ai-runner",version="undefined"} 1.0' in r.text


def test_only_the_loaded_pipeline_route_is_mounted():
    c = client("text-to-image")
    assert c.post("/llm", json={"messages": [{"role": "user", "content": "x"}]}).status_code == 404
    assert c.post("/image-to-image").status_code == 404
    paths = set(c.app.openapi()["paths"])
    assert "/text-to-image" in paths and "/text-to-image/" not in paths  # alias hidden
    assert {"/health", "/hardware/info", "/hardware/stats", "/version"} <= paths


def test_create_app_requires_an_explicit_mode_and_a_known_pipeline():
    with pytest.raises(ValueError, match="mode must be given"):
        create_app("text-to-image", MODEL)
    with pytest.raises(ValueError, match="not a valid pipeline"):
        create_app("frame-interpolation", MODEL, mode="mock")
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        create_app("llm", MODEL, mode="real")  # real, but no weights staged for MODEL


def test_app_from_a_pipeline_instance():
    c = TestClient(create_app(MockTextToImagePipeline("my/model")))
    assert c.get("/version").json()["model_id"] == "my/model"
    r = c.post("/text-to-image", json={"prompt": "p", "width": 16, "height": 16, "seed": 1})
    assert r.status_code == 200 and png(r.json()["images"][0]["url"]).size == (16, 16)


def test_background_load_reports_loading_then_ok(monkeypatch):
    import threading

    release = threading.Event()
    real_load = app_module.load_pipeline

    def slow_load(*a, **kw):
        release.wait(5)
        return real_load(*a, **kw)

    monkeypatch.setattr(app_module, "load_pipeline", slow_load)
    c = TestClient(create_app("text-to-image", MODEL, mode="mock", background_load=True))
    assert c.get("/health").json() == {"status": "LOADING"}
    r = c.post("/text-to-image", json={"prompt": "p"})
    assert r.status_code == 503 and msg(r) == "Pipeline is loading."
    release.set()
    for _ in range(100):
        if c.get("/health").json()["status"] == "OK":
            break
        time.sleep(0.02)
    assert c.get("/health").json() == {"status": "OK"}


def test_background_load_failure_reports_error(monkeypatch):
    def broken(*a, **kw):
        raise FileNotFoundError("model org/some-model not found")

    monkeypatch.setattr(app_module, "load_pipeline", broken)
    c = TestClient(create_app("text-to-image", MODEL, mode="mock", background_load=True))
    for _ in range(100):
        if c.get("/health").json()["status"] != "LOADING":
            break
        time.sleep(0.02)
    assert c.get("/health").json() == {"status": "ERROR"}
    r = c.post("/text-to-image", json={"prompt": "p"})
    assert r.status_code == 500 and "not found" in msg(r)


def test_main_parses_flags_and_serves_with_uvicorn(monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    rc = app_module.main(["--pipeline", "llm", "--model-id", MODEL, "--mode", "mock",
                          "--port", "8123", "--compute-time", "0.01"])
    assert rc == 0 and seen["port"] == 8123 and seen["host"] == "127.0.0.1"
    st = seen["app"].state.runner
    assert (st.pipeline_name, st.model_id, st.mode) == ("llm", MODEL, "mock")
    assert st.pipeline.compute_time == 0.01


# ---------------------------------------------------------------------------------------------
# Error mapping


def test_exception_mapping_follows_the_runner_table():
    assert map_exception(InferenceError(original_exception=RuntimeError("boom")), "D.") == (
        400, "Error during model execution: boom.")
    assert map_exception(LoraLoadingError("bad lora"), "D.") == (400, "bad lora.")
    assert map_exception(ValueError("x"), "Default.") == (400, "Default.")
    assert map_exception(RuntimeError("CUDA out of memory. Tried"), "D.") == (500, "Out of memory.")
    assert map_exception(RuntimeError("other"), "Route default.") == (500, "Route default.")

    class OutOfMemoryError(Exception):
        pass

    oom = {"OutOfMemoryError": ("Out of memory error. Try less.", 500)}
    assert map_exception(OutOfMemoryError(), "D.", overrides=oom) == (500, "Out of memory error. Try less.")


# ---------------------------------------------------------------------------------------------
# text-to-image (JSON)


def test_text_to_image_images_seeds_and_determinism():
    c = client("text-to-image")
    body = {"prompt": "a cat", "width": 64, "height": 48, "seed": 42, "num_images_per_prompt": 3}
    r = c.post("/text-to-image", json=body)
    assert r.status_code == 200
    images = r.json()["images"]
    assert [im["seed"] for im in images] == [42, 43, 44]
    assert all(im["nsfw"] is False and set(im) == {"url", "seed", "nsfw"} for im in images)
    assert all(png(im["url"]).size == (64, 48) for im in images)
    assert len({im["url"] for im in images}) == 3  # one colour per seed
    again = c.post("/text-to-image/", json=body).json()["images"]
    assert [im["url"] for im in again] == [im["url"] for im in images]
    other = c.post("/text-to-image", json=dict(body, prompt="a dog")).json()["images"]
    assert other[0]["url"] != images[0]["url"]
    # without a seed the runner draws one; each image still carries its own
    drawn = c.post("/text-to-image", json={"prompt": "a cat", "width": 8, "height": 8}).json()
    assert 0 <= drawn["images"][0]["seed"] < 2**32


def test_text_to_image_request_errors():
    c = client("text-to-image")
    r = c.post("/text-to-image", json={"width": 64})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "prompt"]
    r = c.post("/text-to-image", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)
    r = c.post("/text-to-image", json={"prompt": ""})
    assert r.status_code == 400 and msg(r) == "Prompt must be provided."
    r = c.post("/text-to-image", json={"prompt": "p", "model_id": "other/model"})
    assert r.status_code == 400
    assert msg(r) == f"pipeline configured with {MODEL} but called with other/model."
    assert c.post("/text-to-image", json={"prompt": "p", "model_id": MODEL, "width": 8,
                                          "height": 8}).status_code == 200
    r = c.post("/text-to-image", json={"prompt": "p", "width": 50, "height": 64})
    assert r.status_code == 400 and msg(r).startswith("Error during model execution: `height` and")
    r = c.post("/text-to-image", json={"prompt": "p", "width": 8192, "height": 8192})
    assert r.status_code == 500 and msg(r) == "Out of memory."
    r = c.post("/text-to-image", json={"prompt": "p", "loras": "{oops", "width": 8, "height": 8})
    assert r.status_code == 400 and msg(r) == "Unable to parse '{oops' as JSON.."


def test_bearer_token():
    c = client("text-to-image", auth_token="s3cret")
    r = c.post("/text-to-image", json={"prompt": "", "width": 8, "height": 8})
    assert r.status_code == 400  # the empty-prompt check comes before auth, as in the runner
    r = c.post("/text-to-image", json={"prompt": "p", "width": 8, "height": 8})
    assert r.status_code == 401 and msg(r) == "Invalid bearer token."
    assert r.headers["www-authenticate"] == "Bearer"
    r = c.post("/text-to-image", json={"prompt": "p", "width": 8, "height": 8},
               headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200
    assert c.get("/health").status_code == 200  # meta routes stay open


# ---------------------------------------------------------------------------------------------
# multipart image routes


def test_image_to_image():
    c = client("image-to-image")
    files = {"image": ("in.png", image_upload(44, 30), "image/png")}
    data = {"prompt": "make it blue", "seed": "5", "strength": "0.5", "num_images_per_prompt": "2"}
    r = c.post("/image-to-image", data=data, files=files)
    assert r.status_code == 200, r.text
    images = r.json()["images"]
    assert [im["seed"] for im in images] == [5, 6]
    assert png(images[0]["url"]).size == (40, 24)  # rounded down to multiples of 8
    assert c.post("/image-to-image", data=data, files=files).json() == r.json()
    r0 = c.post("/image-to-image", data=dict(data, strength="0.0"), files=files).json()
    assert png(r0["images"][0]["url"]).getpixel((0, 0)) == (200, 10, 10)  # strength 0: the input

    r = c.post("/image-to-image", data={"prompt": "p"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "image"]
    r = c.post("/image-to-image", data={"image": "x"}, files=files)
    assert r.status_code == 422
    r = c.post("/image-to-image", data={"prompt": "p", "model_id": "x/y"}, files=files)
    assert r.status_code == 400 and msg(r) == f"pipeline configured with {MODEL} but called with x/y."
    r = c.post("/image-to-image", data={"prompt": "p"},
               files={"image": ("in.png", b"not an image", "image/png")})
    assert r.status_code == 500 and msg(r) == "Image-to-image pipeline error."
    r = c.post("/image-to-image", data={"prompt": "p", "strength": "1.5"}, files=files)
    assert r.status_code == 400 and "strength" in msg(r)


def test_image_to_video():
    c = client("image-to-video", num_frames=3)
    files = {"image": ("in.jpg", image_upload(fmt="jpeg"), "image/jpeg")}
    r = c.post("/image-to-video", data={"width": "32", "height": "16", "seed": "9"}, files=files)
    assert r.status_code == 200
    frames = r.json()["frames"]
    assert len(frames) == 1 and len(frames[0]) == 3
    assert all(f["seed"] == 9 and f["nsfw"] is False for f in frames[0])
    assert {png(f["url"]).size for f in frames[0]} == {(32, 16)}
    r = c.post("/image-to-video", data={"width": "30", "height": "16"}, files=files)
    assert r.status_code == 400
    assert msg(r) == "`height` and `width` have to be divisible by 8 but are 16 and 30."


def test_upscale_returns_one_image_four_times_larger():
    c = client("upscale")
    files = {"image": ("in.png", image_upload(16, 12), "image/png")}
    r = c.post("/upscale", data={"prompt": "sharper", "seed": "3"}, files=files)
    assert r.status_code == 200
    (image,) = r.json()["images"]
    assert image["seed"] == 3 and png(image["url"]).size == (64, 48)
    r = c.post("/upscale", data={"prompt": "sharper", "seed": "0"}, files=files)
    assert r.json()["images"][0]["seed"] != 0  # the runner treats seed 0 as "random"
    assert c.post("/upscale", files=files).status_code == 422  # prompt is required


def test_segment_anything_2():
    c = client("segment-anything-2")
    files = {"image": ("in.png", image_upload(20, 10), "image/png")}
    r = c.post("/segment-anything-2", data={"box": "[2, 2, 10, 8]"}, files=files)
    assert r.status_code == 200
    body = r.json()
    # str() of float lists is valid JSON (json is much faster than ast on 200k numbers)
    masks, scores = json.loads(body["masks"]), json.loads(body["scores"])
    logits = np.array(json.loads(body["logits"]))
    assert np.array(masks).shape == (3, 10, 20) and logits.shape == (3, 256, 256)
    assert scores == sorted(scores, reverse=True)
    assert masks[0][5][5] > 0 > masks[0][0][19]
    assert c.post("/segment-anything-2", data={"box": "[2, 2, 10, 8]"}, files=files).json() == body
    r = c.post("/segment-anything-2", data={"point_coords": "[[5, 5]]", "point_labels": "[1]",
                                            "multimask_output": "false", "return_logits": "false"},
               files=files)
    assert r.status_code == 200 and len(ast.literal_eval(r.json()["scores"])) == 1
    assert ast.literal_eval(r.json()["masks"])[0][5][5] is True
    r = c.post("/segment-anything-2", data={"point_coords": "[[5, 5"}, files=files)
    assert r.status_code == 400 and msg(r).startswith("Error parsing JSON for point_coords:")
    r = c.post("/segment-anything-2", data={"point_coords": "[[5, 5]]"}, files=files)
    assert r.status_code == 400 and "point_labels must be supplied" in msg(r)


def test_image_to_text():
    c = client("image-to-text", max_upload_bytes=10_000)
    files = {"image": ("in.png", image_upload(32, 16, (255, 0, 0)), "image/png")}
    r = c.post("/image-to-text", data={"prompt": "a photo of"}, files=files)
    assert r.status_code == 200
    assert r.json() == {"text": "a photo of a mock caption of a 32x16 image, mean colour #ff0000"}
    r = c.post("/image-to-text", data={"model_id": "x/y"}, files=files)
    assert r.status_code == 400 and msg(r) == f"pipeline configured with {MODEL} but called with x/y"
    big = {"image": ("big.bmp", image_upload(100, 100, fmt="bmp"), "image/bmp")}
    r = c.post("/image-to-text", files=big)
    assert r.status_code == 413 and msg(r) == "File size exceeds limit"


# ---------------------------------------------------------------------------------------------
# audio-to-text


def test_audio_to_text():
    pytest.importorskip("av")  # audio is probed and decoded with PyAV
    c = client("audio-to-text", max_upload_bytes=200_000)
    files = {"audio": ("a.wav", wav_upload(1.5), "audio/wav")}
    r = c.post("/audio-to-text", files=files)  # duration probed from the file
    assert r.status_code == 200
    body = r.json()
    assert body["text"].strip() == "This is a mock transcription."
    assert body["chunks"] == [{"timestamp": [0.0, 1.5], "text": " This is a mock transcription."}]
    r = c.post("/audio-to-text", data={"metadata": json.dumps({"duration": 65}),
                                       "return_timestamps": "false"}, files=files)
    assert r.status_code == 200 and r.json()["chunks"] == []
    assert r.json()["text"].count("mock transcription") == 3  # one per 30 s window
    r = c.post("/audio-to-text", data={"return_timestamps": "word"}, files=files)
    assert [ch["text"] for ch in r.json()["chunks"]] == [" This", " is", " a", " mock", " transcription."]


def test_audio_to_text_errors():
    pytest.importorskip("av")
    c = client("audio-to-text", max_upload_bytes=200_000)
    junk = {"audio": ("a.mp3", b"\x00junk" * 100, "audio/mpeg")}
    r = c.post("/audio-to-text", files=junk)
    assert r.status_code == 400 and msg(r) == "Unable to calculate duration of file"
    r = c.post("/audio-to-text", data={"metadata": "{bad"}, files=junk)
    assert r.status_code == 400 and msg(r) == "Unable to calculate duration of file"
    r = c.post("/audio-to-text", data={"metadata": '{"duration": 3}'}, files=junk)
    assert r.status_code == 415 and msg(r) == "Unsupported audio format or malformed file."
    r = c.post("/audio-to-text", files={"audio": ("a.wav", wav_upload(10.0), "audio/wav")})
    assert r.status_code == 413 and msg(r) == "File size exceeds limit."
    r = c.post("/audio-to-text", data={"model_id": "x/y"}, files=junk)
    assert r.status_code == 400 and msg(r).endswith("but called with x/y.")
    assert c.post("/audio-to-text", data={"model_id": MODEL}).status_code == 422


# ---------------------------------------------------------------------------------------------
# llm


def test_llm_completion_and_stream():
    c = client("llm")
    req = {"messages": [{"role": "system", "content": "be brief"},
                        {"role": "user", "content": "hello there"}], "max_tokens": 5}
    r = c.post("/llm", json=req)
    assert r.status_code == 200
    body = r.json()
    assert body["id"].startswith("chatcmpl-") and body["model"] == MODEL
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "stop" and choice["index"] == 0
    assert choice["message"] == {"role": "assistant", "content": "This is a mock reply"}
    assert body["usage"]["completion_tokens"] == 5
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 5

    r = c.post("/llm", json=dict(req, stream=True, max_tokens=256))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [line[len("data: "):] for line in r.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    text = "".join(ch["choices"][0]["delta"]["content"] for ch in chunks)
    assert text == f"This is a mock reply from {MODEL} to: hello there"


def test_llm_errors():
    c = client("llm")
    ok = [{"role": "user", "content": "hi"}]
    r = c.post("/llm", json={"messages": ok, "model": "x/y"})
    assert r.status_code == 400 and msg(r) == f"pipeline configured with {MODEL} but called with x/y"
    assert c.post("/llm", json={"model": MODEL}).status_code == 422
    for bad in ({"messages": ok, "temperature": 3}, {"messages": []},
                {"messages": [{"role": "robot", "content": "hi"}]}):
        r = c.post("/llm", json=bad)
        assert r.status_code == 500 and msg(r) == "Internal server error during LLM processing."
    r = c.post("/llm", json={"messages": [{"role": "robot", "content": "hi"}], "stream": True})
    assert r.status_code == 200  # the stream has started when the generator fails
    assert r.text == 'data: {"error": "Invalid role in message: robot"}\n\n'


# ---------------------------------------------------------------------------------------------
# text-to-speech


def test_text_to_speech():
    c = client("text-to-speech")
    r = c.post("/text-to-speech", json={"text": "hello world"})
    assert r.status_code == 200
    url = r.json()["audio"]["url"]
    assert url.startswith("data:audio/wav;base64,")
    import wave

    with wave.open(io.BytesIO(decode_data_url(url))) as w:
        assert w.getframerate() == 44100 and w.getnchannels() == 1 and w.getnframes() > 0
    assert c.post("/text-to-speech", json={"text": "hello world"}).json() == r.json()
    r = c.post("/text-to-speech", json={"description": "calm"})
    assert r.status_code == 400 and msg(r) == "Text input must be provided."
    r = c.post("/text-to-speech", json={"text": "x", "model_id": "x/y"})
    assert r.status_code == 400 and msg(r) == f"pipeline configured with {MODEL} but called with x/y"


# ---------------------------------------------------------------------------------------------
# simulated compute time and concurrency


def test_compute_time_is_simulated_and_health_answers_meanwhile():
    app = create_app("text-to-image", MODEL, mode="mock", compute_time=0.6)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://runner") as ac:
            t0 = time.perf_counter()
            job = asyncio.create_task(
                ac.post("/text-to-image", json={"prompt": "p", "width": 8, "height": 8}))
            await asyncio.sleep(0.05)
            health = await ac.get("/health")
            job_was_running = not job.done()
            resp = await job
            return health, job_was_running, resp, time.perf_counter() - t0

    health, job_was_running, resp, total = asyncio.run(scenario())
    assert health.json() == {"status": "OK"} and job_was_running  # not blocked by the model
    assert resp.status_code == 200 and total >= 0.6


def test_compute_time_function_and_injected_sleep():
    slept = []
    app = create_app("text-to-image", MODEL, mode="mock", sleep=slept.append,
                     compute_time=lambda name, kw: kw["width"] * kw["height"] * 1e-6)
    c = TestClient(app)
    c.post("/text-to-image", json={"prompt": "p", "width": 800, "height": 400, "num_images_per_prompt": 2})
    assert slept == [pytest.approx(0.32), pytest.approx(0.32)]  # one call per image
    assert app.state.runner.pipeline.calls == 2


@pytest.mark.parametrize("pipeline", BATCH_PIPELINES)
def test_every_batch_pipeline_has_a_mock_route(pipeline):
    c = client(pipeline)
    assert c.get("/health").json() == {"status": "OK"}
    assert f"/{pipeline}" in c.app.openapi()["paths"]
