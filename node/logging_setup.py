"""One logging set-up for every lpnode command: one line format, go's -v levels, third-party noise off.

go-livepeer logs with glog: Info, Warning and Error lines always print, and `glog.V(n)` lines print
when -v >= n; go-livepeer's own levels are common.SHORT = 4, DEBUG = 5, VERBOSE = 6 (common/log.go)
and its -v defaults to 3 (cmd/livepeer/livepeer.go). Python has fewer levels, so -v maps as:

    -v 0..4  INFO for lpnode's loggers (glog's Info lines); third-party libraries WARNING
    -v 5     DEBUG for lpnode's loggers (go's DEBUG lines)
    -v 6     DEBUG for everything, third-party libraries included (httpx request lines,
             uvicorn access logs, transformers/diffusers), go's VERBOSE

A line: `2026-12-04T16:20:01.123Z INFO lpnode.orchestrator: message key=value ...` (UTC time, level,
logger, message; values the code logs go as key=value in the message).
"""
from __future__ import annotations

import logging
import os
import sys
import time

DEFAULT_VERBOSITY = 3  # go-livepeer's -v default
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# loggers whose INFO lines are per request or per download: quiet unless -v 6
NOISY = ("httpx", "httpcore", "uvicorn.access", "uvicorn.error", "transformers", "diffusers", "huggingface_hub",
         "urllib3", "filelock", "PIL", "grpc", "asyncio", "multipart", "python_multipart", "web3", "matplotlib")


class _UtcFormatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record, datefmt=None):
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + f".{int(record.msecs):03d}Z"


def python_level(verbosity: int) -> int:
    """The level lpnode's own loggers get at go's -v `verbosity`."""
    return logging.DEBUG if verbosity >= 5 else logging.INFO


def setup_logging(verbosity: int = DEFAULT_VERBOSITY, *, level: int | None = None, stream=None) -> None:
    """Configure the root logger once for the process (a second call reconfigures it). `level`, when
    given, overrides what `verbosity` maps to (lpnode's --log-level)."""
    own = python_level(verbosity) if level is None else level
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_UtcFormatter(FORMAT))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(own)
    loud = verbosity >= 6
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.NOTSET if loud else max(own, logging.WARNING))
    quiet_third_party(loud)


def quiet_third_party(verbose: bool = False) -> None:
    """Progress bars and library warnings off (unless `verbose`): set before the libraries are
    imported (environment) and after, for those already imported."""
    if verbose:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if "transformers" in sys.modules:
        sys.modules["transformers"].logging.set_verbosity_error()
    if "diffusers" in sys.modules:
        diffusers_logging = sys.modules["diffusers"].utils.logging
        diffusers_logging.set_verbosity_error()
        diffusers_logging.disable_progress_bar()


def log_level(text: str) -> int:
    """--log-level's value: debug, info, warning, error (any case)."""
    levels = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
    if text.lower() not in levels:
        raise ValueError("not one of debug, info, warning, error")
    return levels[text.lower()]


def verbosity(text: str) -> int:
    """-v's value: glog's level, 0 and up (lpnode distinguishes up to 6)."""
    from node.goflags import parse_int

    value = parse_int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value
