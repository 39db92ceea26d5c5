"""Tiny audio-to-text (Whisper) and text-to-speech (VITS) models from configs with random weights.

The same idea as tiny_models.py: nothing is downloaded, the classes are those of the real
checkpoints, and everything is written with save_pretrained where the runner loads models from,
so the real `from_pretrained` path runs:

- audio-to-text: a WhisperForConditionalGeneration (2+2 layers, d_model 32, the real 80 mel bins
  and 30 s / 1500-frame encoder window) with a WhisperProcessor: the feature extractor is built
  from its config (its mel filters are computed, not loaded) and the byte-level tokenizer holds the
  256 byte symbols, Whisper's special tokens and the 1501 timestamp tokens <|0.00|> … <|30.00|>,
  so sentence and word timestamps (cross-attention alignment heads) run for real;
- text-to-speech: a VitsModel (MMS-TTS's architecture: text encoder, flow, duration predictor and
  HiFi-GAN decoder with 256× upsampling at 16 kHz) with a character VitsTokenizer, no phonemizer.

    build_tiny_whisper(models_dir)   # <models_dir>/test/tiny-whisper/
    build_tiny_vits(models_dir)      # <models_dir>/test/tiny-vits/

Command line: `python -m node.worker.ai.tiny_models MODELS_DIR --model whisper|vits`.
"""
from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

from .tiny_models import byte_to_unicode, save_tiny
from .tiny_vision import _seeded

TINY_WHISPER_ID = "test/tiny-whisper"
TINY_VITS_ID = "test/tiny-vits"

WHISPER_SPECIALS = ("<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>",
                    "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
                    "<|notimestamps|>")
WHISPER_TIMESTAMPS = tuple(f"<|{i * 0.02:.2f}|>" for i in range(1501))  # 0.00 … 30.00 s
# Weights drawn wider than Whisper's 0.02 so that random outputs depend on the audio; bytes
# outside printable ASCII are suppressed so that transcripts are readable noise.
WHISPER_INIT_STD = 1.0
UNPRINTABLE_BYTES = [b for b in range(256) if not 0x20 <= b < 0x7F]
VITS_CHARS = " " + string.ascii_lowercase + string.digits + ",.!?'-"


def tiny_whisper_tokenizer():
    """A WhisperTokenizer over the byte alphabet (no merges), Whisper's specials and timestamps."""
    from transformers import WhisperTokenizer

    vocab = {s: i for i, s in enumerate(byte_to_unicode().values())}
    for token in WHISPER_SPECIALS + WHISPER_TIMESTAMPS:
        vocab[token] = len(vocab)
    with tempfile.TemporaryDirectory() as tmp:  # files: the loading path of every version
        (Path(tmp) / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
        (Path(tmp) / "merges.txt").write_text("#version: 0.2\n")
        tokenizer = WhisperTokenizer.from_pretrained(
            tmp, unk_token="<|endoftext|>", bos_token="<|endoftext|>",
            eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": list(WHISPER_SPECIALS[1:])})
    tokenizer.add_tokens(list(WHISPER_TIMESTAMPS))  # decoded as text when asked, like the real
    return tokenizer


def build_tiny_whisper(models_dir, model_id: str = TINY_WHISPER_ID, *, layout: str = "plain",
                       seed: int = 0, overwrite: bool = False) -> Path:
    """A tiny Whisper with its processor and generation config, saved as `model_id`."""
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    def write(folder: Path) -> None:
        tokenizer = tiny_whisper_tokenizer()
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in WHISPER_SPECIALS}
        eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
        config = WhisperConfig(
            vocab_size=len(tokenizer), num_mel_bins=80, d_model=32,
            encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
            max_source_positions=1500, max_target_positions=448,
            decoder_start_token_id=sot, pad_token_id=eot, bos_token_id=eot, eos_token_id=eot,
            init_std=WHISPER_INIT_STD,
        )
        with _seeded(seed):
            model = WhisperForConditionalGeneration(config)
        model.generation_config = GenerationConfig(
            decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
            begin_suppress_tokens=[eot], suppress_tokens=UNPRINTABLE_BYTES,
            no_timestamps_token_id=ids["<|notimestamps|>"],
            prev_sot_token_id=ids["<|startofprev|>"], max_initial_timestamp_index=50,
            is_multilingual=True, lang_to_id={"<|en|>": ids["<|en|>"]},
            task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
            alignment_heads=[[1, 0], [1, 1], [1, 2], [1, 3]], return_timestamps=False,
        )
        model.save_pretrained(folder, safe_serialization=True)
        extractor = WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160,
                                            chunk_length=30, n_fft=400)
        WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)

    return save_tiny(models_dir, model_id, write, layout=layout, seed=seed, overwrite=overwrite)


def tiny_vits_tokenizer():
    """A character VitsTokenizer (lower-cased, blanks between characters, no phonemizer)."""
    from transformers import VitsTokenizer

    vocab = {"<pad>": 0, "<unk>": 1}
    for ch in VITS_CHARS:
        vocab[ch] = len(vocab)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.json").write_text(json.dumps(vocab))
        return VitsTokenizer(str(Path(tmp) / "vocab.json"), pad_token="<pad>", unk_token="<unk>",
                             add_blank=True, normalize=True, phonemize=False)


def build_tiny_vits(models_dir, model_id: str = TINY_VITS_ID, *, layout: str = "plain",
                    seed: int = 0, overwrite: bool = False) -> Path:
    """A tiny VITS (16 kHz, 256 samples per spectrogram frame like facebook/mms-tts-eng)."""
    from transformers import VitsConfig, VitsModel

    def write(folder: Path) -> None:
        tokenizer = tiny_vits_tokenizer()
        config = VitsConfig(
            vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2,
            num_attention_heads=2, window_size=4, ffn_dim=32, flow_size=16,
            spectrogram_bins=33, prior_encoder_num_flows=2, prior_encoder_num_wavenet_layers=1,
            posterior_encoder_num_wavenet_layers=1, duration_predictor_filter_channels=16,
            duration_predictor_num_flows=2, depth_separable_num_layers=2,
            upsample_initial_channel=32, upsample_rates=[8, 8, 4],
            upsample_kernel_sizes=[16, 16, 8], resblock_kernel_sizes=[3],
            resblock_dilation_sizes=[[1, 3]], sampling_rate=16000,
        )
        with _seeded(seed):
            model = VitsModel(config)
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)

    return save_tiny(models_dir, model_id, write, layout=layout, seed=seed, overwrite=overwrite)
