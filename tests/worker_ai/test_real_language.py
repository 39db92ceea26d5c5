"""Real llm (a Llama causal LM, streamed) and image-to-text (BLIP) behind the runner's HTTP app, on
tiny models built from configs with random weights, saved with save_pretrained and loaded back
through `from_pretrained` with HF_HUB_OFFLINE=1 (sockets refused while they load and run)."""
from __future__ import annotations

import io
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from node.worker.ai import create_app  # noqa: E402
from node.worker.ai.tiny_language import (  # noqa: E402
    LLAMA_MAX_POSITIONS,
    TINY_BLIP_ID,
    TINY_LLAMA_ID,
    build_tiny_blip,
    build_tiny_llama,
)
from node.worker.ai.tiny_models import main as tiny_main  # noqa: E402
from tests.worker_ai.images import png as noise_png  # noqa: E402

CUDA = torch.cuda.is_available()
LLM_ERROR = {"detail": {"msg": "Internal server error during LLM processing."}}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("language-models")
    build_tiny_llama(root, layout="hub")  # ai-runner's llm looks in the hub-cache layout
    build_tiny_blip(root)
    return root


def llm_app(models_dir, seed=0):
    return TestClient(create_app("llm", TINY_LLAMA_ID, mode="real", models_dir=models_dir,
                                 num_threads=1, seed=seed))


@pytest.fixture(scope="module")
def llm(models_dir, offline):
    return llm_app(models_dir)


@pytest.fixture(scope="module")
def blip(models_dir, offline):
    return TestClient(create_app("image-to-text", TINY_BLIP_ID, mode="real",
                                 models_dir=models_dir, num_threads=1))


def chat(client, content="hello there", **body):
    req = {"model": TINY_LLAMA_ID, "messages": [{"role": "user", "content": content}],
           "max_tokens": 24, **body}
    return client.post("/llm", json=req)


def reply(r) -> str:
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"id", "model", "created", "usage", "choices"}
    assert body["id"].startswith("chatcmpl-") and body["model"] == TINY_LLAMA_ID
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 0 < usage["completion_tokens"] <= 24
    return choice["message"]["content"]


def sse(r):
    """The `data:` payloads of an event stream."""
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    return [line[len("data: "):] for line in r.text.split("\n\n") if line]


# ------------------------------------------------------------------------------ llm


def test_llm_real(llm, models_dir):
    greedy = reply(chat(llm, temperature=0))
    assert greedy and greedy == reply(chat(llm, temperature=0))  # greedy: reproducible
    assert greedy != reply(chat(llm, "something else entirely", temperature=0))  # input matters
    system = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
    assert reply(llm.post("/llm", json={"messages": system, "temperature": 0,
                                        "max_tokens": 24})) != greedy  # the whole chat counts
    # Sampling draws from the generator seeded at load: a fresh runner with the same seed
    # answers the same sequence of requests identically; another seed differently.
    fresh = llm_app(models_dir, seed=11)
    sampled = [reply(chat(fresh, top_p=0.9, top_k=50)) for _ in range(2)]
    assert sampled[0] != sampled[1]
    same = llm_app(models_dir, seed=11)
    assert [reply(chat(same, top_p=0.9, top_k=50)) for _ in range(2)] == sampled
    assert reply(chat(llm_app(models_dir, seed=12), top_p=0.9, top_k=50)) != sampled[0]


def test_llm_max_tokens(llm):
    r = chat(llm, temperature=0, max_tokens=3)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 3


def test_llm_streams_server_sent_events(llm):
    events = sse(chat(llm, temperature=0, stream=True))
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len(chunks) > 2
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    assert all(c["choices"][0]["delta"]["role"] == "assistant" for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [""] * (len(chunks) - 1) + ["stop"]
    assert chunks[-1]["choices"][0]["delta"]["content"] == ""
    counts = [c["usage"]["completion_tokens"] for c in chunks]
    assert counts == sorted(counts)  # running counts
    text = "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    assert text == reply(chat(llm, temperature=0))  # the same reply as the non-streamed one


def test_llm_bad_input(llm):
    r = llm.post("/llm", json={"model": TINY_LLAMA_ID})  # no messages
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "messages"]
    for bad in ({"temperature": 3}, {"top_p": 1.5}, {"max_tokens": 0}):
        r = chat(llm, **bad)
        assert r.status_code == 500 and r.json() == LLM_ERROR, bad
    r = llm.post("/llm", json={"messages": [{"role": "robot", "content": "hi"}]})
    assert r.status_code == 500 and r.json() == LLM_ERROR
    events = sse(llm.post("/llm", json={"messages": [{"role": "robot", "content": "hi"}],
                                        "stream": True}))
    assert events == [json.dumps({"error": "Invalid role in message: robot"})]
    r = chat(llm, "x" * (LLAMA_MAX_POSITIONS + 10))  # longer than the model
    assert r.status_code == 500 and r.json() == LLM_ERROR
    r = chat(llm, model="meta-llama/Meta-Llama-3.1-8B-Instruct")
    assert r.status_code == 400 and r.json()["detail"]["msg"] == (
        "pipeline configured with test/tiny-llama but called with "
        "meta-llama/Meta-Llama-3.1-8B-Instruct")
    assert reply(chat(llm, temperature=0))  # nothing lost: the runner still answers


# ------------------------------------------------------------------------------ image-to-text


def png(size=(48, 40), seed=0, color=None) -> bytes:
    if color is None:
        return noise_png(size, seed)
    img = Image.new("RGB", size, color)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def caption(blip, image=None, **form):
    data = {"model_id": TINY_BLIP_ID, **form}
    return blip.post("/image-to-text", data=data,
                     files={"image": ("in.png", image or png(), "image/png")})


def text_of(r) -> str:
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"text"}
    return r.json()["text"]


def test_image_to_text_real(blip):
    plain = text_of(caption(blip))
    assert plain.strip() and plain == text_of(caption(blip))  # greedy: reproducible
    assert plain != text_of(caption(blip, image=png(color=(200, 10, 10))))  # the image matters
    prompted = text_of(caption(blip, prompt="a picture of"))
    assert prompted.startswith("a picture of") and prompted != plain  # the prompt conditions


def test_image_to_text_bad_input(blip):
    r = blip.post("/image-to-text", data={"model_id": TINY_BLIP_ID})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "image"]
    r = caption(blip, image=b"not an image")
    assert r.status_code == 500
    assert r.json() == {"detail": {"msg": "Image-to-text pipeline error."}}
    r = caption(blip, model_id="Salesforce/blip-image-captioning-large")
    assert r.status_code == 400 and r.json()["detail"]["msg"] == (
        "pipeline configured with test/tiny-blip but called with "
        "Salesforce/blip-image-captioning-large")
    assert text_of(caption(blip))


# ------------------------------------------------------------------------------ loading


@pytest.mark.parametrize("pipeline", ["llm", "image-to-text"])
def test_missing_model_is_a_clear_load_error(pipeline, tmp_path, offline):
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        create_app(pipeline, "meta-llama/Meta-Llama-3.1-8B-Instruct", mode="real",
                   models_dir=tmp_path)


def test_tiny_models_cli_builds_llama_and_blip(tmp_path, capsys):
    assert tiny_main([str(tmp_path), "--model", "blip"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / TINY_BLIP_ID)
    assert (tmp_path / TINY_BLIP_ID / "config.json").is_file()


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="no CUDA device here")
def test_language_on_cuda(models_dir, offline):
    gpu_llm = TestClient(create_app("llm", TINY_LLAMA_ID, mode="real", models_dir=models_dir))
    assert gpu_llm.app.state.runner.pipeline.device.type == "cuda"
    assert sse(chat(gpu_llm, stream=True))[-1] == "[DONE]"
    gpu_blip = TestClient(create_app("image-to-text", TINY_BLIP_ID, mode="real",
                                     models_dir=models_dir))
    assert gpu_blip.app.state.runner.pipeline.dtype == torch.float16
    assert text_of(caption(gpu_blip, prompt="a picture of")).startswith("a picture of")
