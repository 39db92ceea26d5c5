"""Real diffusers pipelines behind the runner API, on a tiny Stable Diffusion built from configs
with random weights, saved with save_pretrained and loaded back through `from_pretrained` with
HF_HUB_OFFLINE=1 and local files only (no network: sockets are blocked while loading)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from fastapi.testclient import TestClient  # noqa: E402

from node.worker.ai import create_app, find_model_dir  # noqa: E402
from node.worker.ai.media import decode_data_url  # noqa: E402
from node.worker.ai.tiny_models import (  # noqa: E402
    TINY_SD_ID,
    build_tiny_sd,
    clip_byte_vocab,
    tiny_clip_tokenizer,
)
from tests.worker_ai.images import decode, same  # noqa: E402

STEPS = 2


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    build_tiny_sd(root)  # plain layout: <root>/test/tiny-sd
    return root


def load_app(pipeline, models_dir, offline, model_id=TINY_SD_ID):
    app = create_app(pipeline, model_id, mode="real", models_dir=models_dir, num_threads=1)
    return TestClient(app)


@pytest.fixture(scope="module")
def t2i(models_dir, offline):
    return load_app("text-to-image", models_dir, offline)


@pytest.fixture(scope="module")
def i2i(models_dir, offline):
    return load_app("image-to-image", models_dir, offline)


def test_tokenizer_is_built_locally():
    vocab = clip_byte_vocab()
    assert len(vocab) == 514 and vocab["<|endoftext|>"] == 513
    tok = tiny_clip_tokenizer()
    ids = tok("a cat").input_ids
    assert ids[0] == vocab["<|startoftext|>"] and ids[-1] == vocab["<|endoftext|>"]
    assert len(tok("x", padding="max_length", max_length=77).input_ids) == 77


def test_model_folder_layout(models_dir):
    path = find_model_dir(models_dir, TINY_SD_ID)
    assert path == models_dir / "test" / "tiny-sd"
    for part in ("model_index.json", "unet/config.json", "vae/config.json",
                 "text_encoder/config.json", "tokenizer/vocab.json", "scheduler/scheduler_config.json"):
        assert (path / part).is_file(), part
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        find_model_dir(models_dir, "stabilityai/sd-turbo")


def test_text_to_image_real(t2i):
    body = {"prompt": "a tiny cat", "width": 64, "height": 64, "num_inference_steps": STEPS,
            "seed": 7, "guidance_scale": 7.5}
    r = t2i.post("/text-to-image", json=body)
    assert r.status_code == 200, r.text
    (entry,) = r.json()["images"]
    assert entry["seed"] == 7 and entry["nsfw"] is False
    img = decode(entry["url"])
    assert img.size == (64, 64)
    assert np.asarray(img).std() > 0  # a real decode, not a flat colour

    again = decode(t2i.post("/text-to-image", json=body).json()["images"][0]["url"])
    assert same(img, again)  # same seed, same image
    other = decode(t2i.post("/text-to-image", json=dict(body, seed=8)).json()["images"][0]["url"])
    assert not same(img, other)

    two = t2i.post("/text-to-image", json=dict(body, num_images_per_prompt=2)).json()["images"]
    assert [e["seed"] for e in two] == [7, 8]
    assert same(decode(two[0]["url"]), img) and same(decode(two[1]["url"]), other)

    wide = t2i.post("/text-to-image", json=dict(body, width=96, height=64)).json()["images"][0]
    assert decode(wide["url"]).size == (96, 64)


def test_text_to_image_real_errors(t2i):
    r = t2i.post("/text-to-image", json={"prompt": "p", "model_id": "stabilityai/sd-turbo"})
    assert r.status_code == 400
    assert r.json() == {"detail": {"msg": f"pipeline configured with {TINY_SD_ID} but called with "
                                          "stabilityai/sd-turbo."}}
    r = t2i.post("/text-to-image", json={"prompt": "p", "width": 60, "height": 64,
                                         "num_inference_steps": 1})
    assert r.status_code == 400 and r.json()["detail"]["msg"].startswith("Error during model execution")
    r = t2i.post("/text-to-image", json={"prompt": "p", "loras": '{"some/lora": 1.0}'})
    assert r.status_code == 400 and "not supported" in r.json()["detail"]["msg"]


def test_image_to_image_real(t2i, i2i):
    src = t2i.post("/text-to-image", json={"prompt": "a tiny cat", "width": 64, "height": 64,
                                           "num_inference_steps": STEPS, "seed": 1}).json()
    png = decode_data_url(src["images"][0]["url"])
    data = {"prompt": "a tiny dog", "strength": "0.6", "num_inference_steps": str(STEPS + 2),
            "seed": "11", "guidance_scale": "7.5"}
    files = {"image": ("in.png", png, "image/png")}
    r = i2i.post("/image-to-image", data=data, files=files)
    assert r.status_code == 200, r.text
    (entry,) = r.json()["images"]
    out = decode(entry["url"])
    assert out.size == (64, 64) and entry["seed"] == 11 and entry["nsfw"] is False
    again = decode(i2i.post("/image-to-image", data=data, files=files).json()["images"][0]["url"])
    assert same(out, again)
    assert not same(out, decode(src["images"][0]["url"]))


@pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks` argument is deprecated")
def test_hub_cache_layout_loads_through_the_hub_path(tmp_path, offline):
    path = build_tiny_sd(tmp_path, "test/tiny-sd-hub", layout="hub")
    assert path.parent.name == "snapshots" and path.parents[1].name == "models--test--tiny-sd-hub"
    assert (path.parents[1] / "refs" / "main").read_text() == path.name
    c = load_app("text-to-image", tmp_path, offline, model_id="test/tiny-sd-hub")
    r = c.post("/text-to-image", json={"prompt": "p", "width": 64, "height": 64,
                                       "num_inference_steps": STEPS, "seed": 3})
    assert r.status_code == 200 and decode(r.json()["images"][0]["url"]).size == (64, 64)
    assert c.app.state.runner.pipeline.model_path == path


def test_missing_model_fails_at_startup(tmp_path, offline):
    with pytest.raises(FileNotFoundError):
        create_app("text-to-image", "nobody/nothing", mode="real", models_dir=tmp_path)
