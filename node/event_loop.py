"""The event loop the node's processes run on: uvloop where it is installed (a dependency; about
twice the requests per second of asyncio's own loop through uvicorn), asyncio's otherwise."""
from __future__ import annotations

import asyncio
from typing import Any, Coroutine


def run(main: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but the node runs without it
        return asyncio.run(main)
    return uvloop.run(main)
