"""Real audio-to-text (Whisper) and text-to-speech (VITS) behind the runner's HTTP app, on tiny
models built from configs with random weights, saved with save_pretrained and loaded back through
`from_pretrained` with HF_HUB_OFFLINE=1 (sockets refused while they load and run)."""
from __future__ import annotations

import io
import json
import wave

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("av")

from fastapi.testclient import TestClient  # noqa: E402

from node.worker.ai import create_app  # noqa: E402
from node.worker.ai.media import decode_data_url, wav_bytes  # noqa: E402
from node.worker.ai.speech import decode_audio  # noqa: E402
from node.worker.ai.tiny_models import main as tiny_main  # noqa: E402
from node.worker.ai.tiny_speech import (  # noqa: E402
    TINY_VITS_ID,
    TINY_WHISPER_ID,
    build_tiny_vits,
    build_tiny_whisper,
)

CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech-models")
    build_tiny_whisper(root, layout="hub")  # the runner's hub-cache path
    build_tiny_vits(root)
    return root


@pytest.fixture(scope="module")
def asr(models_dir, offline):
    return TestClient(create_app("audio-to-text", TINY_WHISPER_ID, mode="real",
                                 models_dir=models_dir, num_threads=1))


@pytest.fixture(scope="module")
def tts(models_dir, offline):
    return TestClient(create_app("text-to-speech", TINY_VITS_ID, mode="real",
                                 models_dir=models_dir, num_threads=1, seed=7))


def tone(seconds=2.0, freq=440.0, rate=16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return wav_bytes((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)


def noise(seconds=2.0, rate=22050, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    return wav_bytes((0.3 * rng.standard_normal(int(seconds * rate))).astype(np.float32), rate)


def transcribe(asr, audio=None, **form):
    data = {"model_id": TINY_WHISPER_ID}
    data.update({k: str(v) for k, v in form.items()})
    return asr.post("/audio-to-text", data=data,
                    files={"audio": ("in.wav", audio or tone(), "audio/wav")})


# ------------------------------------------------------------------------------ audio-to-text


def test_decode_audio_resamples_to_16k_mono():
    samples = decode_audio(noise(seconds=1.5, rate=22050))
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size - 24000) <= 512 and np.abs(samples).max() <= 1.0


def test_audio_to_text_real(asr):
    r = transcribe(asr)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"text", "chunks"} and body["text"].strip()
    assert body["chunks"], "sentence timestamps by default"
    for c in body["chunks"]:
        assert set(c) == {"timestamp", "text"} and len(c["timestamp"]) == 2
        start, end = c["timestamp"]
        assert 0 <= start and (end is None or start <= end)
    assert transcribe(asr).json() == body  # greedy decoding: reproducible
    other = transcribe(asr, audio=noise()).json()
    assert other["text"] != body["text"]  # the audio matters

    plain = transcribe(asr, return_timestamps="false").json()
    assert plain["chunks"] == [] and plain["text"].strip()
    words = transcribe(asr, return_timestamps="word").json()
    assert words["chunks"] and all(len(c["timestamp"]) == 2 for c in words["chunks"])
    assert len(words["chunks"]) >= len(body["chunks"])


def test_audio_to_text_long_audio_runs_chunked(asr):
    r = transcribe(asr, audio=noise(seconds=35, rate=16000), return_timestamps="false")
    assert r.status_code == 200, r.text
    assert r.json()["text"].strip()


def test_audio_to_text_bad_input(asr):
    r = transcribe(asr, audio=b"definitely not audio", metadata=json.dumps({"duration": 2}))
    assert r.status_code == 415
    assert r.json() == {"detail": {"msg": "Unsupported audio format or malformed file."}}
    r = transcribe(asr, audio=b"definitely not audio")  # no duration: probing fails first
    assert r.status_code == 400
    assert r.json() == {"detail": {"msg": "Unable to calculate duration of file"}}
    r = transcribe(asr, return_timestamps="word", metadata=json.dumps({"duration": 3700}))
    assert r.status_code == 400
    assert r.json()["detail"]["msg"].startswith(
        "Word timestamps are only supported for audio files up to 60 minutes")
    r = asr.post("/audio-to-text", data={"model_id": TINY_WHISPER_ID})  # no file
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "audio"]
    r = transcribe(asr, model_id="openai/whisper-large-v3")
    assert r.status_code == 400 and r.json()["detail"]["msg"] == (
        "pipeline configured with test/tiny-whisper but called with openai/whisper-large-v3.")


# ------------------------------------------------------------------------------ text-to-speech


def speak(tts, text, **body):
    return tts.post("/text-to-speech", json={"model_id": TINY_VITS_ID, "text": text, **body})


def wav_of(r):
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"audio"} and set(body["audio"]) == {"url"}
    assert body["audio"]["url"].startswith("data:audio/wav;base64,")
    with wave.open(io.BytesIO(decode_data_url(body["audio"]["url"]))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 44100)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_text_to_speech_real(tts):
    short = wav_of(speak(tts, "hello world"))
    assert short.size > 0 and np.abs(short).max() > 0  # not silence
    longer = wav_of(speak(tts, "hello world, this sentence is a good deal longer"))
    assert longer.size > short.size  # the text matters
    # The sampling noise is drawn from the seeded generator: a fresh runner with the same seed
    # answers the same requests with the same audio.
    again = TestClient(create_app("text-to-speech", TINY_VITS_ID, mode="real",
                                  models_dir=tts.app.state.runner.pipeline.model_path.parents[1],
                                  num_threads=1, seed=7))
    assert np.array_equal(wav_of(speak(again, "hello world")), short)


def test_text_to_speech_bad_input(tts):
    r = speak(tts, "")
    assert r.status_code == 400 and r.json() == {"detail": {"msg": "Text input must be provided."}}
    r = speak(tts, "hi", model_id="parler-tts/parler-tts-large-v1")
    assert r.status_code == 400 and r.json()["detail"]["msg"] == (
        "pipeline configured with test/tiny-vits but called with parler-tts/parler-tts-large-v1")
    r = tts.post("/text-to-speech", json={"text": 5})
    assert r.status_code == 422
    r = speak(tts, "日本語")  # nothing the model can say: ai-runner's InferenceError, a 400
    assert r.status_code == 400 and r.json() == {"detail": {"msg": (
        "Error during model execution: the text has no character the model knows.")}}
    assert wav_of(speak(tts, "still here")).size > 0  # nothing lost


# ------------------------------------------------------------------------------ loading


@pytest.mark.parametrize("pipeline", ["audio-to-text", "text-to-speech"])
def test_missing_model_is_a_clear_load_error(pipeline, tmp_path, offline):
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        create_app(pipeline, "openai/whisper-large-v3", mode="real", models_dir=tmp_path)


def test_tiny_models_cli_builds_whisper_and_vits(models_dir, capsys):
    assert tiny_main([str(models_dir), "--model", "vits"]) == 0  # already there: kept
    assert capsys.readouterr().out.strip() == str(models_dir / TINY_VITS_ID)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="no CUDA device here")
def test_speech_on_cuda(models_dir, offline):
    asr = TestClient(create_app("audio-to-text", TINY_WHISPER_ID, mode="real",
                                models_dir=models_dir))
    assert asr.app.state.runner.pipeline.dtype == torch.float16
    assert transcribe(asr, return_timestamps="word").status_code == 200
    tts = TestClient(create_app("text-to-speech", TINY_VITS_ID, mode="real",
                                models_dir=models_dir))
    assert wav_of(speak(tts, "hello on the gpu")).size > 0
