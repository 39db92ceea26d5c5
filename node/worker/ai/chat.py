"""The llm route's request rules and response chunks, shared by every llm pipeline (no torch).

ai-runner's llm pipeline validates inside its async generator (so a failure surfaces when the
stream is first iterated: a 500 on the route, `data: {"error": ...}` when streaming):
messages non-empty, each a {role, content} with role system/user/assistant; temperature in
[0, 2], top_p in [0, 1], max_tokens ≥ 1.
"""
from __future__ import annotations

import time
from typing import Dict, List

from .models import LLMChoice, LLMMessage, LLMResponse, LLMTokenUsage

ROLES = ("system", "user", "assistant")


def validate_chat(messages: List[Dict[str, str]], temperature: float, top_p: float,
                  max_tokens: int) -> None:
    """Raise ValueError with ai-runner's message for the first bad field."""
    if not messages:
        raise ValueError("Messages cannot be empty")
    for m in messages:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ValueError(f"Invalid message format: {m}")
        if m["role"] not in ROLES:
            raise ValueError(f"Invalid role in message: {m['role']}")
    if not 0 <= temperature <= 2:
        raise ValueError("Temperature must be between 0 and 2")
    if not 0 <= top_p <= 1:
        raise ValueError("Top_p must be between 0 and 1")
    if max_tokens < 1:
        raise ValueError("Max_tokens must be positive")


def chat_chunk(request_id: str, model: str, prompt_tokens: int, completion_tokens: int,
               content: str, finish_reason: str = "") -> LLMResponse:
    """One streamed chunk: the new text in choices[0].delta and the running token counts."""
    return LLMResponse(
        id=request_id, model=model, created=int(time.time()),
        usage=LLMTokenUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                            total_tokens=prompt_tokens + completion_tokens),
        choices=[LLMChoice(index=0, finish_reason=finish_reason,
                           delta=LLMMessage(role="assistant", content=content))],
    )
