"""Separate processes on loopback, offchain (go's -network offchain): an AI runner, an orchestrator
with a PyAV transcoder, and a gateway, started with go-livepeer's flag names."""
import json
import subprocess
import sys
import time

import pytest
from tests.ports import free_port

httpx = pytest.importorskip("httpx")


def stop_all(procs) -> None:
    """Terminate the processes and wait for each (10 s at most)."""
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(10)


def wait_http(url: str, deadline: float) -> None:
    while time.time() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not come up")


def test_runner_orchestrator_gateway_as_processes(tmp_path):
    from node.worker.media import synthetic_segment

    runner, orch, gw = free_port(), free_port(), free_port()
    models = tmp_path / "aiModels.json"
    models.write_text(json.dumps([{"pipeline": "text-to-image", "model_id": "m", "warm": True,
                                   "url": f"http://127.0.0.1:{runner}"}]))
    lpnode = [sys.executable, "-m", "node.cli"]
    procs = [
        subprocess.Popen(lpnode + ["ai-runner", "--pipeline", "text-to-image", "--model-id", "m", "--mode", "mock",
                                   "--port", str(runner)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(lpnode + ["orchestrator", "-serviceAddr", f"127.0.0.1:{orch}", "-aiModels", str(models),
                                   "-transcoder"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(lpnode + ["gateway", "-httpAddr", f"127.0.0.1:{gw}", "-orchAddr", f"127.0.0.1:{orch}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        deadline = time.time() + 60
        for port in (runner, orch, gw):
            wait_http(f"http://127.0.0.1:{port}/metrics" if port != runner else f"http://127.0.0.1:{port}/health",
                      deadline)
        r = httpx.post(f"http://127.0.0.1:{gw}/text-to-image", json={"prompt": "x", "model_id": "m", "width": 64,
                                                                      "height": 64}, timeout=30)
        assert r.status_code == 200 and r.json()["images"][0]["url"].startswith("data:image/png;base64,")
        r = httpx.post(f"http://127.0.0.1:{gw}/live/s/0.ts", content=synthetic_segment(2.0, 1280, 720),
                       headers={"Accept": "multipart/mixed"}, timeout=60)
        assert r.status_code == 200 and r.content.count(b"Rendition-Name: ") == 2
        text = httpx.get(f"http://127.0.0.1:{orch}/metrics").text
        assert "livepeer_segment_transcoded_total 1.0" in text
    finally:
        stop_all(procs)


def test_a_remote_transcoder_attached_with_the_orchestrators_secret(tmp_path):
    from node.worker.media import synthetic_segment

    orch, gw = free_port(), free_port()
    lpnode = [sys.executable, "-m", "node.cli"]
    procs = [subprocess.Popen(lpnode + ["orchestrator", "-serviceAddr", f"127.0.0.1:{orch}", "-orchSecret", "s3cret"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen(lpnode + ["gateway", "-httpAddr", f"127.0.0.1:{gw}", "-orchAddr", f"127.0.0.1:{orch}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        wait_http(f"http://127.0.0.1:{orch}/metrics", deadline)
        wait_http(f"http://127.0.0.1:{gw}/healthz", deadline)
        # a wrong secret is refused: the transcoder process exits with go's message
        bad = subprocess.run(lpnode + ["transcoder", "-orchAddr", f"127.0.0.1:{orch}", "-orchSecret", "nope"],
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and "invalid secret" in bad.stdout
        procs.append(subprocess.Popen(lpnode + ["transcoder", "-orchAddr", f"127.0.0.1:{orch}", "-orchSecret",
                                                "s3cret"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(3)  # registration
        r = httpx.post(f"http://127.0.0.1:{gw}/live/s/0.ts", content=synthetic_segment(2.0, 1280, 720),
                       headers={"Accept": "multipart/mixed"}, timeout=60)
        assert r.status_code == 200 and r.content.count(b"Rendition-Name: ") == 2
        assert "livepeer_segment_transcoded_total 1.0" in httpx.get(f"http://127.0.0.1:{orch}/metrics").text
    finally:
        stop_all(procs)


def _png(color: tuple, size: int = 64) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="png")
    return buf.getvalue()


def test_a_remote_ai_worker_attached_with_the_orchestrators_secret():
    """One worker for two pipelines: text-to-image (JSON) and image-to-image (multipart: the
    orchestrator serves the upload at go's /stream/ path for the worker to fetch)."""
    runner, runner_i2i, orch, gw = free_port(), free_port(), free_port(), free_port()
    lpnode = [sys.executable, "-m", "node.cli"]
    procs = [
        subprocess.Popen(lpnode + ["ai-runner", "--pipeline", "text-to-image", "--model-id", "m", "--mode", "mock",
                                   "--port", str(runner)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(lpnode + ["ai-runner", "--pipeline", "image-to-image", "--model-id", "m", "--mode", "mock",
                                   "--port", str(runner_i2i)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(lpnode + ["orchestrator", "-serviceAddr", f"127.0.0.1:{orch}", "-orchSecret", "s3cret",
                                   "-aiModels", "text-to-image:m:true,image-to-image:m:true"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(lpnode + ["gateway", "-httpAddr", f"127.0.0.1:{gw}", "-orchAddr", f"127.0.0.1:{orch}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        wait_http(f"http://127.0.0.1:{runner}/health", deadline)
        wait_http(f"http://127.0.0.1:{runner_i2i}/health", deadline)
        wait_http(f"http://127.0.0.1:{orch}/metrics", deadline)
        wait_http(f"http://127.0.0.1:{gw}/healthz", deadline)
        worker = lpnode + ["ai-worker", "-orchAddr", f"127.0.0.1:{orch}", "-pipeline", "text-to-image,image-to-image",
                           "-runnerUrl", f"http://127.0.0.1:{runner},http://127.0.0.1:{runner_i2i}",
                           "-modelID", "m", "-orchSecret"]
        bad = subprocess.run(worker + ["nope"], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and "invalid secret" in bad.stdout
        body = {"prompt": "x", "model_id": "m", "width": 64, "height": 64, "seed": 5}
        # no worker attached and no runner configured: the orchestrator cannot serve it
        r = httpx.post(f"http://127.0.0.1:{gw}/text-to-image", json=body, timeout=30)
        assert r.status_code != 200
        procs.append(subprocess.Popen(worker + ["s3cret"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(3)  # registration
        r = httpx.post(f"http://127.0.0.1:{gw}/text-to-image", json=body, timeout=30)
        assert r.status_code == 200, r.text
        image = r.json()["images"][0]
        assert image["seed"] == 5 and image["url"].startswith("data:image/png;base64,")
        direct = httpx.post(f"http://127.0.0.1:{runner}/text-to-image", json=body).json()["images"][0]
        assert image["url"] == direct["url"]  # the worker's PNG part, reassembled byte for byte

        # image-to-image: the mock blends the input's mean colour into its output, so the result
        # equals the runner's own answer only if the worker fetched the very input uploaded
        form = {"prompt": "x", "model_id": "m", "seed": "7", "strength": "0.5", "num_inference_steps": "2"}
        upload = {"image": ("in.png", _png((200, 30, 90)), "image/png")}
        r = httpx.post(f"http://127.0.0.1:{gw}/image-to-image", data=form, files=upload, timeout=30)
        assert r.status_code == 200, r.text
        image = r.json()["images"][0]
        direct = httpx.post(f"http://127.0.0.1:{runner_i2i}/image-to-image", data=form, files=upload).json()
        other = httpx.post(f"http://127.0.0.1:{runner_i2i}/image-to-image", data=form,
                           files={"image": ("in.png", _png((10, 220, 40)), "image/png")}).json()
        assert image == direct["images"][0] and image["url"] != other["images"][0]["url"]
        # the input is served only to a running task: an unknown one is 404
        r = httpx.get(f"http://127.0.0.1:{orch}/stream/0badc0de/0badc0de.tempfile")
        assert r.status_code == 404
    finally:
        stop_all(procs)


def test_an_orchestrator_with_ai_worker_runs_the_models_itself(tmp_path):
    """`-aiWorker`: the orchestrator loads each -aiModels entry without a `url` from -aiModelsDir
    (the tiny Stable Diffusion, real diffusers through from_pretrained, offline) and serves it."""
    pytest.importorskip("diffusers")
    from node.worker.ai.tiny_models import TINY_SD_ID, build_tiny_sd

    build_tiny_sd(tmp_path / "models")
    orch, gw = free_port(), free_port()
    lpnode = [sys.executable, "-m", "node.cli"]
    missing = subprocess.run(lpnode + ["orchestrator", "-serviceAddr", f"127.0.0.1:{free_port()}", "-aiWorker",
                                       "-aiModels", "text-to-image:test/absent:true", "-aiModelsDir",
                                       str(tmp_path / "models")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "cannot load text-to-image model test/absent" in missing.stderr
    procs = [
        subprocess.Popen(lpnode + ["orchestrator", "-serviceAddr", f"127.0.0.1:{orch}", "-aiWorker", "-aiModels",
                                   f"text-to-image:{TINY_SD_ID}:true", "-aiModelsDir", str(tmp_path / "models")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(lpnode + ["gateway", "-httpAddr", f"127.0.0.1:{gw}", "-orchAddr", f"127.0.0.1:{orch}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 120
        wait_http(f"http://127.0.0.1:{orch}/metrics", deadline)
        wait_http(f"http://127.0.0.1:{gw}/healthz", deadline)
        body = {"prompt": "a lighthouse", "model_id": TINY_SD_ID, "width": 64, "height": 64, "seed": 3,
                "num_inference_steps": 2}
        r = httpx.post(f"http://127.0.0.1:{gw}/text-to-image", json=body, timeout=120)
        assert r.status_code == 200, r.text
        image = r.json()["images"][0]
        assert image["seed"] == 3 and image["url"].startswith("data:image/png;base64,")
        import base64
        import io

        from PIL import Image

        png = Image.open(io.BytesIO(base64.b64decode(image["url"].split(",", 1)[1])))
        assert png.size == (64, 64)
    finally:
        stop_all(procs)
