"""Tiny llm (Llama) and image-to-text (BLIP) models from configs with random weights.

The same idea as tiny_models.py: nothing is downloaded, the classes are those of the real
checkpoints, written with save_pretrained where the runner loads models from:

- llm: a LlamaForCausalLM (2 layers, hidden 32, grouped-query attention like Llama 3.1) with a
  byte-level BPE tokenizer (the 256 byte symbols, no merges) carrying Llama 3's special tokens
  and a chat template in Llama 3's header format; `<|eot_id|>` ends a reply;
- image-to-text: a BlipForConditionalGeneration (ViT + BERT decoder, 32-pixel input instead of
  384) with a BlipProcessor whose BERT tokenizer has a generated word-piece vocabulary (specials,
  [DEC] as BLIP's decoder start, letters, digits, a few words).

Weights are drawn wider than the models' own initialiser ranges so that the (noise) outputs
depend on the input, and bytes outside printable ASCII are suppressed through the generation
config so that replies are readable noise.

    build_tiny_llama(models_dir)   # <models_dir>/test/tiny-llama/
    build_tiny_blip(models_dir)    # <models_dir>/test/tiny-blip/

Command line: `python -m node.worker.ai.tiny_models MODELS_DIR --model llama|blip`.
"""
from __future__ import annotations

import string
import tempfile
from pathlib import Path

from .tiny_models import byte_to_unicode, save_tiny
from .tiny_vision import _seeded

TINY_LLAMA_ID = "test/tiny-llama"
TINY_BLIP_ID = "test/tiny-blip"

LLAMA_SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                  "<|end_header_id|>", "<|eot_id|>")
# Llama 3's prompt format: each message as a role header, its trimmed content and <|eot_id|>.
LLAMA3_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)
LLAMA_MAX_POSITIONS = 512
UNPRINTABLE_BYTES = [b for b in range(256) if not 0x20 <= b < 0x7F]
BLIP_WORDS = ("a", "an", "the", "of", "picture", "photo", "image", "with", "on", "in", "red",
              "green", "blue", "cat", "dog", "sky", "tree", "house", "person")
BLIP_IMAGE_SIZE = 32


def tiny_llama_tokenizer():
    """A byte-level BPE PreTrainedTokenizerFast with Llama 3's specials and chat format."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {s: i for i, s in enumerate(byte_to_unicode().values())}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
        pad_token="<|end_of_text|>", model_max_length=LLAMA_MAX_POSITIONS,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(LLAMA_SPECIALS)})
    tokenizer.chat_template = LLAMA3_CHAT_TEMPLATE
    return tokenizer


def build_tiny_llama(models_dir, model_id: str = TINY_LLAMA_ID, *, layout: str = "plain",
                     seed: int = 0, overwrite: bool = False) -> Path:
    """A tiny Llama chat model with its tokenizer and generation config, saved as `model_id`."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    def write(folder: Path) -> None:
        tokenizer = tiny_llama_tokenizer()
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in LLAMA_SPECIALS}
        stops = [ids["<|end_of_text|>"], ids["<|eot_id|>"]]
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=LLAMA_MAX_POSITIONS, rope_theta=500000.0,
            bos_token_id=ids["<|begin_of_text|>"], eos_token_id=stops,
            pad_token_id=ids["<|end_of_text|>"], tie_word_embeddings=False, initializer_range=0.5,
        )
        with _seeded(seed):
            model = LlamaForCausalLM(config)
        model.generation_config = GenerationConfig(
            bos_token_id=config.bos_token_id, eos_token_id=stops,
            pad_token_id=config.pad_token_id, suppress_tokens=UNPRINTABLE_BYTES,
        )
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)

    return save_tiny(models_dir, model_id, write, layout=layout, seed=seed, overwrite=overwrite)


def blip_vocab() -> dict:
    """BERT word pieces: specials, [DEC], letters and digits (whole and ##), a few words."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    chars = string.ascii_lowercase + string.digits + ".,!?'-"
    tokens += list(chars) + ["##" + c for c in chars] + list(BLIP_WORDS)
    return {t: i for i, t in enumerate(tokens)}


def build_tiny_blip(models_dir, model_id: str = TINY_BLIP_ID, *, layout: str = "plain",
                    seed: int = 0, overwrite: bool = False) -> Path:
    """A tiny BLIP captioner with its processor, saved as `model_id`."""
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    def write(folder: Path) -> None:
        vocab = blip_vocab()
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "vocab.txt").write_text("\n".join(vocab) + "\n")
            tokenizer = BertTokenizer.from_pretrained(tmp, do_lower_case=True,
                                                      bos_token="[DEC]", model_max_length=64)
        config = BlipConfig(
            text_config=dict(
                vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64,
                encoder_hidden_size=32, bos_token_id=vocab["[DEC]"], pad_token_id=vocab["[PAD]"],
                sep_token_id=vocab["[SEP]"], eos_token_id=vocab["[SEP]"], initializer_range=0.5,
            ),
            vision_config=dict(
                hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, image_size=BLIP_IMAGE_SIZE, patch_size=8,
                initializer_range=0.5,
            ),
            projection_dim=32,
        )
        with _seeded(seed):
            model = BlipForConditionalGeneration(config)
        model.save_pretrained(folder, safe_serialization=True)
        processor = BlipProcessor(
            image_processor=BlipImageProcessor(
                size={"height": BLIP_IMAGE_SIZE, "width": BLIP_IMAGE_SIZE}),
            tokenizer=tokenizer,
        )
        processor.save_pretrained(folder)

    return save_tiny(models_dir, model_id, write, layout=layout, seed=seed, overwrite=overwrite)
