"""The runner's exceptions and its exception → (status, message) mapping (spec runner.md §1.1).

Mapping rules, as ai-runner's `handle_pipeline_exception` applies them:
1. an exact match on the exception's class name in the table (route overrides first merged in);
2. otherwise the first table key found, case-insensitively, as a substring of str(exception);
3. otherwise the route's default message with status 500.
A table message of None means "str(exception) followed by a period"; "" means "the route's default
message". Generic inference failures are wrapped in InferenceError and so answer 400, not 500.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from fastapi.responses import JSONResponse

# message (None: str(e) + ".", "": route default), status code
ErrorConfig = Dict[str, Tuple[Optional[str], int]]


class InferenceError(Exception):
    """A failure inside the model call (everything but out-of-memory). Maps to 400."""

    def __init__(self, message: str = "Error during model execution", original_exception=None):
        if original_exception is not None:
            message = f"{message}: {original_exception}"
        super().__init__(message)
        self.original_exception = original_exception


class LoraLoadingError(Exception):
    """A bad `loras` request field. Maps to 400 with the exception's text."""


class AudioConversionError(Exception):
    """The uploaded audio cannot be decoded. Maps to 415 on the audio-to-text route."""


ERROR_CONFIG: ErrorConfig = {
    "LoraLoadingError": (None, 400),
    "InferenceError": (None, 400),
    "ValueError": ("", 400),
    "OutOfMemoryError": ("GPU out of memory.", 500),
    "out of memory": ("Out of memory.", 500),
    "CUDA out of memory": ("GPU out of memory.", 500),  # unreachable upstream too: kept for parity
}


def http_error(msg: str) -> dict:
    """The runner's error body."""
    return {"detail": {"msg": msg}}


def error_response(status_code: int, msg: str, headers: Optional[dict] = None) -> JSONResponse:
    return JSONResponse(status_code=status_code, content=http_error(msg), headers=headers)


def map_exception(
    exc: BaseException,
    default_message: str,
    default_status: int = 500,
    overrides: Optional[ErrorConfig] = None,
) -> Tuple[int, str]:
    """(status code, message) for a pipeline exception, by the runner's rules."""
    config = dict(ERROR_CONFIG)
    if overrides:
        config.update(overrides)
    message: Optional[str] = default_message
    status = default_status
    name = type(exc).__name__
    if name in config:
        message, status = config[name]
    else:
        text = str(exc).lower()
        for pattern, (msg, code) in config.items():
            if pattern.lower() in text:
                message, status = msg, code
                break
    if message is None:
        message = f"{exc}."
    elif message == "":
        message = default_message
    return status, message


def pipeline_error_response(
    exc: BaseException, default_message: str, overrides: Optional[ErrorConfig] = None
) -> JSONResponse:
    status, message = map_exception(exc, default_message, overrides=overrides)
    return error_response(status, message)
