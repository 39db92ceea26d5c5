"""Real audio-to-text (Whisper) and text-to-speech (VITS) with transformers, from local files only.

audio-to-text follows ai-runner's transformers backend (pipelines/audio_to_text.py): the model is
loaded with AutoModelForSpeechSeq2Seq and AutoProcessor (openai/whisper-large-v3 by default) and
wrapped in transformers' automatic-speech-recognition pipeline with max_new_tokens=128; the upload
is decoded with PyAV to 16 kHz mono float32 (undecodable audio: AudioConversionError, 415); word
timestamps on more than 3600 s of audio are refused (400); audio longer than the model's chunk
length (30 s; distil-large-v3: 25 s) runs chunked in batches of 16 (4 for word timestamps over
200 s), shorter audio sequentially; `chunks` is always present. float16 on a GPU except
whisper-medium. (ai-runner's default BACKEND=faster-whisper is a CTranslate2 engine; the
transformers path is the one whose models `dl_checkpoints.sh` stages.)

text-to-speech: ai-runner runs Parler-TTS (parler-tts/parler-tts-large-v1), which is not part of
transformers; the nearest there is VITS (VitsModel, the architecture of Meta's MMS-TTS, e.g.
facebook/mms-tts-eng): one model from characters to waveform, no separate vocoder and no speaker
embedding to supply (SpeechT5 needs an x-vector per request). VITS has no speaker description, so
`description` is accepted and ignored. Its sampling noise comes from a generator seeded at load
(`seed`), one draw per request. The answer is a 16-bit WAV at 44.1 kHz as ai-runner writes; the
model's own rate (16 kHz for MMS) is resampled to it.
"""
from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

from .diffusion import load_lock, local_source, torch_device, use_threads
from .errors import AudioConversionError, InferenceError
from .media import wav_bytes
from .pipelines import Pipeline

log = logging.getLogger(__name__)

ASR_SAMPLE_RATE = 16000
TTS_SAMPLE_RATE = 44100  # ai-runner writes every WAV at 44.1 kHz
WORD_TIMESTAMPS_MAX_S = 3600


@dataclass(frozen=True)
class WhisperSettings:
    """ai-runner's per-model settings (chunk length in s, batch size, fp16 on a GPU)."""

    chunk_length_s: int = 30
    batch_size: int = 16
    fp16: bool = True


WHISPER_SETTINGS = {
    "openai/whisper-large-v3": WhisperSettings(),
    "openai/whisper-medium": WhisperSettings(fp16=False),
    "distil-whisper/distil-large-v3": WhisperSettings(chunk_length_s=25),
}


def decode_audio(data: bytes, sample_rate: int = ASR_SAMPLE_RATE) -> np.ndarray:
    """Any audio file PyAV reads → mono float32 samples in [-1, 1] at `sample_rate` (resampled
    through signed 16-bit like ai-runner's AudioConverter). AudioConversionError on failure."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioConversionError("no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
            parts = []
            for frame in container.decode(audio=0):
                parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    except AudioConversionError:
        raise
    except Exception as e:
        raise AudioConversionError(str(e)) from e
    if not parts:
        raise AudioConversionError("no audio samples")
    return np.concatenate(parts).astype(np.float32) / 32768.0


def _device_and_dtype(device: Optional[str], dtype: Optional[torch.dtype], fp16: bool):
    dev = torch.device(device) if device else torch_device()
    return dev, dtype or (torch.float16 if fp16 and dev.type == "cuda" else torch.float32)


class AudioToTextPipeline(Pipeline):
    name = "audio-to-text"
    mode = "real"
    max_new_tokens = 128

    def __init__(self, model_id: str, *, models_dir: Optional[Union[str, Path]] = None,
                 device: Optional[str] = None, dtype: Optional[torch.dtype] = None,
                 num_threads: Optional[int] = None):
        from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, pipeline

        self.model_id = model_id
        self.settings = WHISPER_SETTINGS.get(model_id, WhisperSettings())
        folder, source, kwargs = local_source(models_dir, model_id)
        self.model_path = folder
        self.device, self.dtype = _device_and_dtype(device, dtype, self.settings.fp16)
        use_threads(num_threads)
        with load_lock:
            model = AutoModelForSpeechSeq2Seq.from_pretrained(
                source, dtype=self.dtype, use_safetensors=True, attn_implementation="sdpa",
                **kwargs)
            processor = AutoProcessor.from_pretrained(source, **kwargs)
        self.asr = pipeline("automatic-speech-recognition", model=model.to(self.device),
                            tokenizer=processor.tokenizer,
                            feature_extractor=processor.feature_extractor,
                            max_new_tokens=self.max_new_tokens, dtype=self.dtype,
                            device=self.device)
        log.info("loaded %s (%s) from %s on %s/%s", model_id, type(model).__name__, folder,
                 self.device, self.dtype)

    def __call__(self, audio: bytes, duration: float,
                 return_timestamps: Union[bool, str] = True, **kwargs) -> Dict[str, Any]:
        samples = decode_audio(audio)
        call: Dict[str, Any] = dict(kwargs, return_timestamps=return_timestamps)
        batch_size, chunk_length_s = self.settings.batch_size, self.settings.chunk_length_s
        if return_timestamps == "word":
            if duration > WORD_TIMESTAMPS_MAX_S:
                raise InferenceError(
                    "Word timestamps are only supported for audio files up to 60 minutes for "
                    f"model {self.model_id}")
            if duration > 200:
                batch_size = 4
        if duration > chunk_length_s:  # else one sequential pass, no batching
            call.update(batch_size=batch_size, chunk_length_s=chunk_length_s)
        try:
            with torch.inference_mode():
                out = self.asr({"raw": samples, "sampling_rate": ASR_SAMPLE_RATE}, **call)
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as e:
            raise InferenceError(original_exception=e) from e
        out = dict(out)
        out["chunks"] = [{"timestamp": list(c["timestamp"]), "text": c["text"]}
                         for c in out.get("chunks", [])]
        return out


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear-interpolation resampling (upsampling speech: no aliasing to filter)."""
    if rate == target or samples.size == 0:
        return samples
    n = int(round(samples.size * target / rate))
    return np.interp(np.arange(n) * (rate / target), np.arange(samples.size), samples)


class TextToSpeechPipeline(Pipeline):
    name = "text-to-speech"
    mode = "real"

    def __init__(self, model_id: str, *, models_dir: Optional[Union[str, Path]] = None,
                 device: Optional[str] = None, dtype: Optional[torch.dtype] = None,
                 num_threads: Optional[int] = None, seed: int = 0):
        from transformers import AutoTokenizer, VitsModel

        self.model_id = model_id
        folder, source, kwargs = local_source(models_dir, model_id)
        self.model_path = folder
        # VITS's flows are run in float32 (MMS-TTS ships float32 weights only).
        self.device, self.dtype = _device_and_dtype(device, dtype, fp16=False)
        use_threads(num_threads)
        with load_lock:
            self.model = VitsModel.from_pretrained(source, dtype=self.dtype, **kwargs)
            self.tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        self.model.to(self.device).eval()
        self.sample_rate = int(self.model.config.sampling_rate)
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()
        log.info("loaded %s (VitsModel) from %s on %s/%s", model_id, folder, self.device,
                 self.dtype)

    def __call__(self, params) -> bytes:
        with self._rng_lock:
            seed = int(self._rng.integers(0, 2**63 - 1))
        try:
            inputs = self.tokenizer(params.text, return_tensors="pt").to(self.device)
            if inputs["input_ids"].shape[-1] == 0:
                raise ValueError("the text has no character the model knows")
            devices = [self.device.index or 0] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices), torch.inference_mode():
                torch.manual_seed(seed)  # VitsModel draws its noise from the global generator
                waveform = self.model(**inputs).waveform[0]
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as e:
            raise InferenceError(original_exception=e) from e
        samples = waveform.float().cpu().numpy()
        return wav_bytes(resample(samples, self.sample_rate, TTS_SAMPLE_RATE), TTS_SAMPLE_RATE)
