"""GPU smoke tests (`pytest -m gpu`): every real pipeline on CUDA in float16, NVENC transcoding, the
runner's /hardware routes and a `mode: real` simulation on the GPU. Each is skipped, with the
reason, on a machine without CUDA (or without an NVENC engine: the H100/H200 have none)."""
from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")

CUDA = torch.cuda.is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="no CUDA device here")]

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from node.worker.ai import create_app  # noqa: E402
from node.worker.ai.media import decode_data_url  # noqa: E402
from tests.worker_ai.images import png  # noqa: E402


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    if not CUDA:
        pytest.skip("no CUDA device here")
    from node.worker.ai.tiny_models import build_tiny_sd
    from node.worker.ai.tiny_vision import (
        build_tiny_safety_checker, build_tiny_sam2, build_tiny_svd, build_tiny_upscaler,
    )

    root = tmp_path_factory.mktemp("gpu-models")
    for build in (build_tiny_sd, build_tiny_svd, build_tiny_upscaler, build_tiny_sam2,
                  build_tiny_safety_checker):
        build(root)
    return root


def fp16_client(pipeline, model_id, models_dir):
    checker = {} if pipeline == "segment-anything-2" else {
        "safety_checker_id": "test/tiny-safety-checker"}  # runs in float16 on CUDA too
    app = create_app(pipeline, model_id, mode="real", models_dir=models_dir, device="cuda",
                     dtype=torch.float16, **checker)
    c = TestClient(app)
    pipe = app.state.runner.pipeline
    assert pipe.device.type == "cuda" and pipe.dtype == torch.float16
    return c


def image(url: str) -> Image.Image:
    return Image.open(io.BytesIO(decode_data_url(url)))


def test_text_to_image_fp16_variant_chosen_on_cuda(tmp_path):
    """With *.fp16.safetensors files present, the runner's rule picks float16 on its own."""
    from diffusers import StableDiffusionPipeline

    from node.worker.ai.tiny_models import build_tiny_sd

    folder = build_tiny_sd(tmp_path)
    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    pipe.to(torch.float16).save_pretrained(folder, variant="fp16", safe_serialization=True)
    app = create_app("text-to-image", "test/tiny-sd", mode="real", models_dir=tmp_path)
    assert app.state.runner.pipeline.dtype == torch.float16
    r = TestClient(app).post("/text-to-image", json={
        "model_id": "test/tiny-sd", "prompt": "a cat", "width": 64, "height": 64,
        "num_inference_steps": 2, "seed": 1})
    assert r.status_code == 200, r.text
    assert image(r.json()["images"][0]["url"]).size == (64, 64)


def test_text_and_image_to_image_on_cuda(models_dir):
    t2i = fp16_client("text-to-image", "test/tiny-sd", models_dir)
    body = {"model_id": "test/tiny-sd", "prompt": "a cat", "width": 512, "height": 512,
            "num_inference_steps": 2, "seed": 1, "safety_check": True}
    r = t2i.post("/text-to-image", json=body)
    assert r.status_code == 200, r.text
    assert image(r.json()["images"][0]["url"]).size == (512, 512)
    i2i = fp16_client("image-to-image", "test/tiny-sd", models_dir)
    r = i2i.post("/image-to-image", data={"prompt": "a dog", "num_inference_steps": "2",
                                          "seed": "1"},
                 files={"image": ("in.png", png((128, 128)), "image/png")})
    assert r.status_code == 200, r.text


def test_image_to_video_on_cuda(models_dir):
    c = fp16_client("image-to-video", "test/tiny-svd", models_dir)
    r = c.post("/image-to-video", data={"height": "256", "width": "256",
                                        "num_inference_steps": "2", "seed": "1"},
               files={"image": ("in.png", png(), "image/png")})
    assert r.status_code == 200, r.text
    frames = r.json()["frames"][0]
    assert image(frames[0]["url"]).size == (256, 256)


def test_upscale_on_cuda(models_dir):
    c = fp16_client("upscale", "test/tiny-upscaler", models_dir)
    r = c.post("/upscale", data={"prompt": "sharp", "num_inference_steps": "2", "seed": "1"},
               files={"image": ("in.png", png((128, 96)), "image/png")})
    assert r.status_code == 200, r.text
    assert image(r.json()["images"][0]["url"]).size == (512, 384)


def test_segment_anything_2_on_cuda(models_dir):
    c = fp16_client("segment-anything-2", "test/tiny-sam2", models_dir)
    r = c.post("/segment-anything-2", data={"point_coords": "[[10, 20]]", "point_labels": "[1]"},
               files={"image": ("in.png", png((80, 60)), "image/png")})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"masks", "scores", "logits"}


def test_hardware_routes_report_the_gpu():
    c = TestClient(create_app("text-to-image", "any/model", mode="mock"))
    info = c.get("/hardware/info").json()["gpu_info"]
    assert info, "a CUDA machine reports its GPUs"
    first = info["0"]
    assert first["name"] and first["memory_total"] > 0 and first["major"] >= 1
    stats = c.get("/hardware/stats").json()["gpu_stats"]
    assert 0 <= stats["0"]["utilization_compute"] <= 100


def test_nvenc_720p_to_360p_and_240p():
    from node.worker.media import synthetic_segment
    from node.worker.transcode import nvenc_available, transcode

    if not nvenc_available():
        pytest.skip("this GPU has no NVENC engine (H100/H200 have none) or no driver for it")
    segment = synthetic_segment(2.0, 1280, 720)
    result = transcode(segment, ["P360p30fps16x9", "P240p30fps16x9"], accel="nvidia", device=0)
    assert [(r.width, r.height) for r in result.renditions] == [(640, 360), (426, 240)]
    assert all(r.frames == 60 and r.data for r in result.renditions)


def test_real_mode_simulation_on_cuda(tmp_path, monkeypatch):
    """lpsim's `mode: real` runs the pipeline at the request's size on the GPU and charges the
    measured (post warm-up) time."""
    from lpsim import compute

    monkeypatch.setattr(compute, "MODELS_DIR", tmp_path)
    real = compute.RealCompute("text-to-image", "test/tiny-sd",
                               {"width": 512, "height": 512, "num_inference_steps": 4})
    seconds = [real.sample(None) for _ in range(2)]
    assert all(0 < s < 30 for s in seconds)
