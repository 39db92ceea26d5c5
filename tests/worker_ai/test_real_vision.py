"""Real image-to-video (Stable Video Diffusion), upscale (SD x4 upscaler) and segment-anything-2
(Sam2Model) behind the runner's HTTP app, on tiny models built from configs with random weights,
saved with save_pretrained and loaded back through `from_pretrained` with HF_HUB_OFFLINE=1 (no
network: sockets are refused while the models load)."""
from __future__ import annotations

import ast
import io
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from node.worker.ai import create_app  # noqa: E402
from node.worker.ai.media import decode_data_url  # noqa: E402
from node.worker.ai.tiny_models import main as tiny_main  # noqa: E402
from node.worker.ai.tiny_vision import (  # noqa: E402
    SAM2_SIZE,
    SVD_FRAMES,
    TINY_SAFETY_CHECKER_ID,
    TINY_SAM2_ID,
    TINY_SVD_ID,
    TINY_UPSCALER_ID,
    build_tiny_safety_checker,
    build_tiny_sam2,
    build_tiny_svd,
    build_tiny_upscaler,
)
from tests.worker_ai.images import decode, png, same  # noqa: E402


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision-models")
    build_tiny_svd(root)
    build_tiny_upscaler(root)
    build_tiny_sam2(root, layout="hub")  # the runner's hub-cache path
    build_tiny_safety_checker(root, threshold=-2.0)  # flags every image
    return root


def client(pipeline, model_id, models_dir):
    app = create_app(pipeline, model_id, mode="real", models_dir=models_dir, num_threads=1,
                     **({} if pipeline == "segment-anything-2" else
                        {"safety_checker_id": TINY_SAFETY_CHECKER_ID}))
    return TestClient(app)


@pytest.fixture(scope="module")
def i2v(models_dir, offline):
    return client("image-to-video", TINY_SVD_ID, models_dir)


@pytest.fixture(scope="module")
def upscale(models_dir, offline):
    return client("upscale", TINY_UPSCALER_ID, models_dir)


@pytest.fixture(scope="module")
def sam2(models_dir, offline):
    return client("segment-anything-2", TINY_SAM2_ID, models_dir)


# ------------------------------------------------------------------------------ image-to-video


def video(i2v, image=b"", **form):
    data = {"model_id": TINY_SVD_ID, "height": "32", "width": "32", "num_inference_steps": "2",
            "safety_check": "false", "seed": "7"}
    data.update({k: str(v) for k, v in form.items()})
    return i2v.post("/image-to-video", data=data,
                    files={"image": ("in.png", image or png(), "image/png")})


def test_image_to_video_real(i2v):
    r = video(i2v)
    assert r.status_code == 200, r.text
    batches = r.json()["frames"]
    assert len(batches) == 1 and len(batches[0]) == SVD_FRAMES
    assert all(set(f) == {"url", "seed", "nsfw"} and f["seed"] == 7 and f["nsfw"] is False
               for f in batches[0])
    frames = [decode(f["url"]) for f in batches[0]]
    assert all(f.size == (32, 32) for f in frames)
    assert not same(frames[0], frames[-1])  # frames differ over time

    again = [decode(f["url"]) for f in video(i2v).json()["frames"][0]]
    assert all(same(a, b) for a, b in zip(frames, again))  # a fixed seed reproduces the video
    other_seed = decode(video(i2v, seed=8).json()["frames"][0][0]["url"])
    assert not same(frames[0], other_seed)
    other_image = decode(video(i2v, image=png(seed=1)).json()["frames"][0][0]["url"])
    assert not same(frames[0], other_image)  # the input image conditions the video
    wide = video(i2v, width=48, motion_bucket_id=30, fps=12).json()["frames"][0]
    assert decode(wide[0]["url"]).size == (48, 32)


def test_image_to_video_frames_make_the_gateways_mp4(i2v):
    """The gateway turns the runner's frames into the MP4 clients get (go's ImageToVideo)."""
    av = pytest.importorskip("av")
    from node.gateway.media import frames_to_mp4

    frames = video(i2v, width=48).json()["frames"][0]
    mp4 = frames_to_mp4([decode_data_url(f["url"]) for f in frames], 48, 32, 6)
    with av.open(io.BytesIO(mp4)) as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == SVD_FRAMES and (decoded[0].width, decoded[0].height) == (48, 32)


def test_image_to_video_bad_input(i2v):
    r = video(i2v, height=60)
    assert r.status_code == 400
    assert r.json() == {"detail": {"msg": "`height` and `width` have to be divisible by 8 but "
                                          "are 60 and 32."}}
    r = i2v.post("/image-to-video", data={"model_id": TINY_SVD_ID})  # no image
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "image"]
    r = video(i2v, model_id="other/model")
    assert r.status_code == 400
    assert r.json()["detail"]["msg"] == ("pipeline configured with test/tiny-svd but called "
                                         "with other/model.")
    r = video(i2v, image=b"not an image")
    assert r.status_code == 500
    assert r.json() == {"detail": {"msg": "Image-to-video pipeline error."}}


# ------------------------------------------------------------------------------ upscale


def upscaled(upscale, image=b"", **form):
    data = {"prompt": "a red cat", "model_id": TINY_UPSCALER_ID, "num_inference_steps": "2",
            "safety_check": "false", "seed": "3"}
    data.update({k: str(v) for k, v in form.items()})
    return upscale.post("/upscale", data=data,
                        files={"image": ("in.png", image or png((24, 16)), "image/png")})


def test_upscale_real(upscale):
    r = upscaled(upscale)
    assert r.status_code == 200, r.text
    images = r.json()["images"]
    assert len(images) == 1 and images[0]["seed"] == 3 and images[0]["nsfw"] is False
    out = decode(images[0]["url"])
    assert out.size == (96, 64)  # 4× the 24×16 input
    assert same(out, decode(upscaled(upscale).json()["images"][0]["url"]))
    assert not same(out, decode(upscaled(upscale, seed=4).json()["images"][0]["url"]))
    other = upscaled(upscale, image=png((24, 16), seed=5)).json()["images"][0]["url"]
    assert not same(out, decode(other))
    prompt = upscaled(upscale, prompt="a blue dog").json()["images"][0]["url"]
    assert not same(out, decode(prompt))


def test_upscale_bad_input(upscale):
    r = upscale.post("/upscale", data={"model_id": TINY_UPSCALER_ID},
                     files={"image": ("in.png", png(), "image/png")})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "prompt"]
    r = upscaled(upscale, model_id="stabilityai/stable-diffusion-x4-upscaler")
    assert r.status_code == 400 and r.json()["detail"]["msg"].startswith(
        "pipeline configured with test/tiny-upscaler but called with")


# ------------------------------------------------------------------------------ segment-anything-2


def segment(sam2, image=b"", **form):
    data = {"model_id": TINY_SAM2_ID}
    data.update({k: (v if isinstance(v, str) else json.dumps(v)) for k, v in form.items()})
    return sam2.post("/segment-anything-2", data=data,
                     files={"image": ("in.png", image or png((40, 30)), "image/png")})


def parsed(r):
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"masks", "scores", "logits"}
    return {k: np.array(ast.literal_eval(v)) for k, v in body.items()}


def test_segment_anything_2_real(sam2):
    out = parsed(segment(sam2, point_coords=[[20, 15]], point_labels=[1]))
    assert out["masks"].shape == (3, 30, 40)  # multimask: 3 masks at the image's size
    assert out["masks"].dtype == np.float64  # return_logits (default): logits, not booleans
    low = SAM2_SIZE // 4
    assert out["scores"].shape == (3,) and out["logits"].shape == (3, low, low)
    assert list(out["scores"]) == sorted(out["scores"], reverse=True)
    assert np.abs(out["logits"]).max() <= 32

    again = parsed(segment(sam2, point_coords=[[20, 15]], point_labels=[1]))
    assert np.array_equal(out["masks"], again["masks"])
    moved = parsed(segment(sam2, point_coords=[[2, 3]], point_labels=[1]))
    assert not np.array_equal(out["masks"], moved["masks"])  # the prompt matters
    other = parsed(segment(sam2, image=png((40, 30), seed=9), point_coords=[[20, 15]],
                           point_labels=[1]))
    assert not np.array_equal(out["masks"], other["masks"])  # so does the image
    # normalize_coords=false takes coordinates in [0, 1]: the same point as above
    norm = parsed(segment(sam2, point_coords=[[0.5, 0.5]], point_labels=[1],
                          normalize_coords="false"))
    assert np.allclose(norm["masks"], out["masks"], atol=1e-4)

    single = parsed(segment(sam2, box=[5, 5, 30, 25], multimask_output="false",
                            return_logits="false"))
    assert single["masks"].shape == (1, 30, 40) and single["masks"].dtype == bool
    refined = parsed(segment(sam2, box=[5, 5, 30, 25], mask_input=out["logits"][:1].tolist()))
    assert refined["masks"].shape == (3, 30, 40)


def test_segment_anything_2_bad_input(sam2):
    r = segment(sam2, point_coords="[[1, 2]")
    assert r.status_code == 400
    assert r.json()["detail"]["msg"].startswith("Error parsing JSON for point_coords: ")
    r = segment(sam2, point_coords=[[1, 2]])
    assert r.status_code == 400
    # InferenceError's message is str(e) + "." and the predictor's text ends with one: "..",
    # as ai-runner answers
    assert r.json() == {"detail": {"msg": "Error during model execution: point_labels must be "
                                          "supplied if point_coords is supplied.."}}
    r = segment(sam2, box=[1, 2, 3])
    assert r.status_code == 400 and "box must have 4 values" in r.json()["detail"]["msg"]
    r = sam2.post("/segment-anything-2", data={"model_id": TINY_SAM2_ID})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "image"]


def test_tiny_models_command_builds_the_vision_models(tmp_path, capsys):
    assert tiny_main([str(tmp_path), "--model", "sam2", "--layout", "hub"]) == 0
    folder = capsys.readouterr().out.strip()
    assert folder.startswith(str(tmp_path / "models--test--tiny-sam2" / "snapshots"))
    assert (tmp_path / "models--test--tiny-sam2" / "refs" / "main").is_file()


def test_segment_anything_2_without_a_preprocessor_config(tmp_path, offline):
    """facebook/sam2-hiera-large-hf ships config.json and weights only: SAM2's own input size,
    mean and std apply, the same as the tiny model's preprocessor_config.json says."""
    from node.worker.ai.segmentation import SegmentAnything2Pipeline

    folder = build_tiny_sam2(tmp_path)
    image = Image.open(io.BytesIO(png((40, 30))))
    prompt = dict(point_coords=np.array([[20, 15]]), point_labels=np.array([1]))
    with_config = SegmentAnything2Pipeline(TINY_SAM2_ID, models_dir=tmp_path)(image, **prompt)
    (folder / "preprocessor_config.json").unlink()
    without = SegmentAnything2Pipeline(TINY_SAM2_ID, models_dir=tmp_path)
    assert without.input_size == SAM2_SIZE
    assert all(np.array_equal(a, b) for a, b in zip(with_config, without(image, **prompt)))


def test_runner_command_takes_a_device(models_dir, offline, monkeypatch):
    import uvicorn

    from node.worker.ai import app as app_module

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app))
    rc = app_module.main(["--pipeline", "segment-anything-2", "--model-id", TINY_SAM2_ID,
                          "--models-dir", str(models_dir), "--mode", "real", "--device", "cpu",
                          "--num-threads", "1"])
    assert rc == 0
    assert seen["app"].state.runner.pipeline.device == torch.device("cpu")
    with pytest.raises(RuntimeError):  # a device torch does not have is refused at load
        app_module.main(["--pipeline", "segment-anything-2", "--model-id", TINY_SAM2_ID,
                         "--models-dir", str(models_dir), "--mode", "real", "--device", "nope"])


def test_safety_check_flags_without_altering_the_images(i2v, upscale):
    """The tiny checker flags every image: safety_check=true reports it, false does not, and the
    images are the same either way (ai-runner reports, never blacks out)."""
    checked = upscaled(upscale, safety_check="true").json()["images"][0]
    unchecked = upscaled(upscale).json()["images"][0]
    assert checked["nsfw"] is True and unchecked["nsfw"] is False
    assert same(decode(checked["url"]), decode(unchecked["url"]))
    frames = video(i2v, safety_check="true").json()["frames"][0]
    assert all(f["nsfw"] is True for f in frames)  # the input image's flag, on every frame


def test_a_checker_that_flags_nothing_and_one_not_staged(models_dir, offline, tmp_path):
    from node.worker.ai.diffusion import UpscalePipeline

    build_tiny_safety_checker(tmp_path, threshold=2.0)  # flags nothing
    build_tiny_upscaler(tmp_path)
    image = Image.open(io.BytesIO(png((8, 8))))
    lenient = UpscalePipeline(TINY_UPSCALER_ID, models_dir=tmp_path,
                              safety_checker_id=TINY_SAFETY_CHECKER_ID)
    assert lenient("p", image, num_inference_steps=1, seed=1, safety_check=True)[1] == [False]
    absent = UpscalePipeline(TINY_UPSCALER_ID, models_dir=tmp_path)  # no CompVis checker here
    assert absent.safety_checker is None
    assert absent("p", image, num_inference_steps=1, seed=1, safety_check=True)[1] == [None]
