"""Real llm (chat completions with a causal LM) and image-to-text (BLIP) with transformers, loaded
from local files only (diffusion.local_source: plain folder or hub cache, never downloaded).

llm: ai-runner serves meta-llama/Llama-3.1-8B-Instruct with vLLM (GPU only); this runs any
transformers causal LM found in the models directory (AutoModelForCausalLM + AutoTokenizer) with
the same contract as ai-runner's pipeline:
- the request is validated inside the stream (chat.validate_chat), so errors surface when the
  stream is first read (500 on the route, `data: {"error": ...}` when streaming);
- the prompt is the tokenizer's chat template; a prompt longer than the model length
  (MAX_MODEL_LEN, default 8192, at most the model's positions) is a ValueError;
- decoding is token by token with the key/value cache, each new piece of text a chunk
  (choices[0].delta, running usage) as vLLM yields them, then an empty chunk with
  finish_reason "stop" (also when max_tokens cut the reply, as ai-runner reports);
- sampling as vLLM's: temperature 0 is greedy, top_k -1 is off, top_p keeps the smallest set of
  tokens reaching that mass; the draw comes from a torch.Generator seeded at load (`seed`), so
  a fresh runner answers a sequence of requests identically. (transformers' generate() draws from
  the global generator and streams only through a second thread; hence this loop.)
- the generation config's eos ids (and the tokenizer's) stop a reply; its suppress_tokens are
  honoured. Differences from ai-runner: the prompt ends with the assistant header
  (add_generation_prompt), which ai-runner omits; completion tokens are counted exactly.
- dtype: the checkpoint's own (bfloat16 for Llama 3.1) on a GPU, float32 on CPU.

image-to-text: BlipForConditionalGeneration + BlipProcessor like ai-runner
(Salesforce/blip-image-captioning-large): the prompt, when given, conditions the caption (its
prefix); float16 on a GPU; the model's default generation (greedy, its max_length).
"""
from __future__ import annotations

import inspect
import logging
import os
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Union

import torch

from .chat import chat_chunk, validate_chat
from .diffusion import load_lock, local_source, torch_device, use_threads
from .errors import InferenceError
from .models import LLMResponse
from .pipelines import Pipeline

log = logging.getLogger(__name__)

DEFAULT_MAX_MODEL_LEN = 8192  # ai-runner's MAX_MODEL_LEN default


def _as_list(ids) -> List[int]:
    if ids is None:
        return []
    return [int(i) for i in ids] if isinstance(ids, (list, tuple)) else [int(ids)]


class LLMPipeline(Pipeline):
    name = "llm"
    mode = "real"

    def __init__(self, model_id: str, *, models_dir: Optional[Union[str, Path]] = None,
                 device: Optional[str] = None, dtype: Optional[torch.dtype] = None,
                 num_threads: Optional[int] = None, seed: int = 0,
                 max_model_len: Optional[int] = None):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        self.model_id = model_id
        folder, source, kwargs = local_source(models_dir, model_id)
        self.model_path = folder
        self.device = torch.device(device) if device else torch_device()
        use_threads(num_threads)
        config = AutoConfig.from_pretrained(source, **kwargs)
        if dtype is None:
            own = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
            own = getattr(torch, own) if isinstance(own, str) else own
            dtype = (own if own in (torch.float16, torch.bfloat16) else torch.float16) \
                if self.device.type == "cuda" else torch.float32
        self.dtype = dtype
        with load_lock:
            self.model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
            self.tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        self.model.to(self.device).eval()
        gen = self.model.generation_config
        self.stop_ids = set(_as_list(gen.eos_token_id) + _as_list(config.eos_token_id)
                            + _as_list(self.tokenizer.eos_token_id))
        self.suppress = _as_list(gen.suppress_tokens)
        limit = max_model_len or int(os.environ.get("MAX_MODEL_LEN", DEFAULT_MAX_MODEL_LEN))
        positions = getattr(config, "max_position_embeddings", None) or limit
        self.max_model_len = min(limit, positions)
        self.generator = torch.Generator(self.device).manual_seed(seed)
        # transformers ≥ 5.25 names the key/value cache `cache` (before: `past_key_values`).
        params = inspect.signature(self.model.forward).parameters
        self._cache = "cache" if "cache" in params else "past_key_values"
        log.info("loaded %s (%s) from %s on %s/%s", model_id, type(self.model).__name__, folder,
                 self.device, self.dtype)

    def __call__(self, messages: List[Dict[str, str]], temperature: float = 0.7,
                 max_tokens: int = 256, top_p: float = 1.0, top_k: int = -1,
                 **kwargs) -> Iterator[LLMResponse]:
        """A lazy stream of chunks (nothing runs, not even validation, until it is read)."""
        return self._stream(messages, temperature, max_tokens, top_p, top_k)

    def _stream(self, messages, temperature, max_tokens, top_p, top_k) -> Iterator[LLMResponse]:
        validate_chat(messages, temperature, top_p, max_tokens)
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                    add_generation_prompt=True)
        ids = self.tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        n_prompt = ids.shape[1]
        if n_prompt > self.max_model_len:
            raise ValueError(f"Input sequence length ({n_prompt}) exceeds maximum allowed "
                             f"({self.max_model_len})")
        request_id = f"chatcmpl-{uuid.uuid4()}"
        generated: List[int] = []
        text, past, step = "", None, ids.to(self.device)
        for _ in range(min(max_tokens, self.max_model_len - n_prompt)):
            with torch.inference_mode():
                out = self.model(input_ids=step, use_cache=True, **{self._cache: past})
                token = self._pick(out.logits[0, -1].float(), temperature, top_p, top_k)
            past = getattr(out, self._cache)
            if token in self.stop_ids:
                break
            generated.append(token)
            step = torch.tensor([[token]], device=self.device)
            full = self.tokenizer.decode(generated, skip_special_tokens=True)
            if full.endswith("\ufffd"):  # a character cut between tokens: wait for the rest
                continue
            delta, text = full[len(text):], full
            if delta:
                yield chat_chunk(request_id, self.model_id, n_prompt, len(generated), delta)
        yield chat_chunk(request_id, self.model_id, n_prompt, len(generated), "", "stop")

    def _pick(self, logits: torch.Tensor, temperature: float, top_p: float, top_k: int) -> int:
        """The next token: greedy at temperature 0, else sampled after top-k and top-p."""
        if self.suppress:
            logits[self.suppress] = float("-inf")
        if temperature == 0:
            return int(logits.argmax())
        logits = logits / temperature
        if 0 < top_k < logits.numel():
            kth = torch.topk(logits, top_k).values[-1]
            logits[logits < kth] = float("-inf")
        if top_p < 1.0:
            ordered, order = logits.sort(descending=True)
            probs = ordered.softmax(-1)
            beyond = (probs.cumsum(-1) - probs) >= top_p  # mass before it already reaches top_p
            beyond[0] = False
            logits[order[beyond]] = float("-inf")
        probs = logits.softmax(-1)
        return int(torch.multinomial(probs, 1, generator=self.generator))


class ImageToTextPipeline(Pipeline):
    name = "image-to-text"
    mode = "real"

    def __init__(self, model_id: str, *, models_dir: Optional[Union[str, Path]] = None,
                 device: Optional[str] = None, dtype: Optional[torch.dtype] = None,
                 num_threads: Optional[int] = None):
        from transformers import BlipForConditionalGeneration, BlipProcessor

        self.model_id = model_id
        folder, source, kwargs = local_source(models_dir, model_id)
        self.model_path = folder
        self.device = torch.device(device) if device else torch_device()
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        use_threads(num_threads)
        with load_lock:
            self.model = BlipForConditionalGeneration.from_pretrained(
                source, dtype=self.dtype, use_safetensors=True, **kwargs)
            self.processor = BlipProcessor.from_pretrained(source, **kwargs)
        self.model.to(self.device).eval()
        log.info("loaded %s (BlipForConditionalGeneration) from %s on %s/%s", model_id, folder,
                 self.device, self.dtype)

    def __call__(self, prompt: str = "", image=None, **kwargs) -> str:
        try:
            inputs = self.processor(images=image, text=prompt or None, return_tensors="pt")
            inputs = inputs.to(self.device)
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
            with torch.inference_mode():
                out = self.model.generate(**inputs)
            return self.processor.decode(out[0], skip_special_tokens=True)
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as e:
            raise InferenceError(original_exception=e) from e
