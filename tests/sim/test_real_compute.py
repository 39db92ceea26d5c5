"""lpsim's `mode: real` compute: the scenario's request through the runner's route (its size and
steps honoured, the runner's defaults for the rest), warm-up runs before the first timed job."""
from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from PIL import Image  # noqa: E402

from lpsim import compute  # noqa: E402
from node.worker.ai.media import decode_data_url  # noqa: E402


@pytest.fixture
def answers(tmp_path_factory, monkeypatch):
    """The runner's answers to every request RealCompute sends (models built once per module)."""
    monkeypatch.setattr(compute, "MODELS_DIR", tmp_path_factory.getbasetemp() / "real-compute-models")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    seen = []
    real_client = compute._runner_client

    def spying_client(*args):
        client = real_client(*args)
        post = client.post

        def recorded(*a, **kw):
            r = post(*a, **kw)
            seen.append(r)
            return r

        monkeypatch.setattr(client, "post", recorded)
        return client

    monkeypatch.setattr(compute, "_runner_client", spying_client)
    yield seen
    torch.set_num_threads(threads)


def size_of(response) -> tuple[int, int]:
    body = response.json()
    entry = body["images"][0] if "images" in body else body["frames"][0][0]
    return Image.open(io.BytesIO(decode_data_url(entry["url"]))).size


def test_text_to_image_takes_the_scenarios_size_and_warms_up(answers):
    real = compute.RealCompute("text-to-image", "test/tiny-sd",
                               {"width": 96, "height": 64, "num_inference_steps": 2}, warmup=2)
    seconds = real.sample(None)
    assert seconds > 0
    assert len(answers) == 3  # two warm-up runs, then the timed one
    assert all(r.status_code == 200 for r in answers)
    assert size_of(answers[-1]) == (96, 64)
    real.sample(None)
    assert len(answers) == 4  # warm-up only once


def test_image_pipelines_get_an_image_of_the_requests_image_size(answers):
    real = compute.RealCompute("upscale", "test/tiny-upscaler",
                               {"image_size": [16, 24], "num_inference_steps": 2}, warmup=0)
    real.sample(None)
    assert size_of(answers[-1]) == (64, 96)
    video = compute.RealCompute("image-to-video", "test/tiny-svd",
                                {"width": 32, "height": 32, "num_inference_steps": 1}, warmup=0)
    video.sample(None)
    assert size_of(answers[-1]) == (32, 32)


def test_a_request_the_runner_refuses_is_an_error(answers):
    bad = compute.RealCompute("image-to-video", "test/tiny-svd", {"height": 60, "width": 32},
                              warmup=0)
    with pytest.raises(RuntimeError, match="answered 400.*divisible by 8"):
        bad.sample(None)


def test_the_request_comes_from_the_scenarios_workload():
    other = SimpleNamespace(type="transcoding", model_id="")
    wanted = SimpleNamespace(type="batch_ai", pipeline="upscale", model_id="m/x",
                             request={"num_inference_steps": 3})
    scenario = SimpleNamespace(gateways=[SimpleNamespace(demand=[other, wanted])])
    assert compute.RealCompute.for_scenario(scenario, "upscale", "m/x").request == \
        {"num_inference_steps": 3}
    assert compute.RealCompute.for_scenario(scenario, "upscale", "m/y").request == {}
    with pytest.raises(ValueError, match="mode: real is available for"):
        compute.RealCompute("llm", "m/x")
