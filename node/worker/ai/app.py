"""The AI runner app: one FastAPI app serves one pipeline and one model, like an ai-runner
container (`PIPELINE` + `MODEL_ID`). Only that pipeline's route is mounted (any other pipeline
route is a 404), next to /health, /hardware/info, /hardware/stats, /version and /metrics.

    app = create_app("text-to-image", "test/tiny-sd", mode="real", models_dir=tmp)
    app = create_app("llm", "meta-llama/Llama-3.1-8B-Instruct", mode="mock", compute_time=0.05)

An orchestrator that serves several (pipeline, model) pairs runs several apps (processes or
mounted ASGI apps), as go-livepeer runs several containers.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Optional, Sequence

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from node.net.limits import MULTIPART_OVERHEAD, guard_app

from .errors import http_error
from .pipelines import BATCH_PIPELINES, MODES, Pipeline, load_pipeline
from .routes import MAX_UPLOAD_BYTES, PIPELINE_ROUTERS, RunnerState, meta_router

log = logging.getLogger(__name__)


def create_app(
    pipeline: str | Pipeline,
    model_id: Optional[str] = None,
    *,
    mode: Optional[str] = None,
    models_dir: Optional[str | Path] = None,
    auth_token: Optional[str] = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    version: str = "undefined",
    background_load: bool = False,
    **pipeline_options: Any,
) -> FastAPI:
    """Build the runner app for one pipeline.

    pipeline: a batch pipeline name (then `model_id` and `mode` — "real" or "mock" — are
    required, and the pipeline is loaded here, before the app serves anything, as the runner
    does) or an already built Pipeline instance.
    models_dir: where real models are found (default $MODEL_DIR, then ~/.lpData/models).
    auth_token: when set, pipeline routes require `Authorization: Bearer <token>` (AUTH_TOKEN).
    max_upload_bytes: the 413 limit of audio-to-text and image-to-text (50 MiB).
    background_load: load in a thread instead; /health answers LOADING (then OK, or ERROR if
    the load fails) and pipeline routes answer 503 meanwhile.
    pipeline_options: passed to the pipeline class (mock: compute_time, sleep, num_frames; real:
    device, dtype, num_threads).
    """
    if isinstance(pipeline, Pipeline):
        state = RunnerState(pipeline_name=pipeline.name, model_id=pipeline.model_id,
                            mode=getattr(pipeline, "mode", "") or "custom")
        state.set_loaded(pipeline)
    else:
        if pipeline not in BATCH_PIPELINES:
            raise ValueError(f"{pipeline} is not a valid pipeline for model {model_id}")
        if not model_id:
            raise ValueError("a model id is required")
        if mode not in MODES:
            raise ValueError(f"mode must be given explicitly: one of {MODES}, not {mode!r}")
        state = RunnerState(pipeline_name=pipeline, model_id=model_id, mode=mode)

        def load():
            return load_pipeline(pipeline, model_id, mode=mode, models_dir=models_dir,
                                 **pipeline_options)

        if background_load:
            def load_in_background():
                try:
                    state.set_loaded(load())
                    log.info("loaded %s %s (%s)", pipeline, model_id, mode)
                except Exception as e:  # reported by /health and by the routes
                    log.exception("loading %s %s failed", pipeline, model_id)
                    state.load_error = f"{type(e).__name__}: {e}"
                    state.status = "ERROR"

            threading.Thread(target=load_in_background, name=f"load-{pipeline}", daemon=True).start()
        else:
            state.set_loaded(load())

    state.auth_token = auth_token or None
    state.max_upload_bytes = max_upload_bytes
    state.version = version

    app = FastAPI(title=TITLE, description=DESCRIPTION, version=version)
    # ai-runner has no body limit but its file limit; this one refuses an oversize body before
    # reading it, and JSON nested past what any route takes (FastAPI would parse it)
    guard_app(app, lambda path: max_upload_bytes + MULTIPART_OVERHEAD, runner_error,
              too_large="File size exceeds limit.")
    app.state.runner = state
    app.include_router(meta_router())
    app.include_router(PIPELINE_ROUTERS[state.pipeline_name]())
    app.openapi = lambda: app.openapi_schema or _cache(app, openapi_document(
        app.routes, title=TITLE, description=DESCRIPTION, version=version))
    return app


TITLE, DESCRIPTION = "Livepeer AI Runner", "An application to run AI pipelines"


def _cache(app: FastAPI, doc: dict) -> dict:
    app.openapi_schema = doc
    return doc


def openapi_document(routes, **info: Any) -> dict:
    """The OpenAPI document of `routes` as ai-runner publishes it: uploads are `format: binary`
    (FastAPI now writes `contentMediaType`, which the SDK generators built from ai-runner's
    document do not read as a file), with the HTTPBearer scheme its routes declare."""
    doc = get_openapi(routes=routes, **info)
    for schema in doc.get("components", {}).get("schemas", {}).values():
        for prop in schema.get("properties", {}).values():
            if prop.get("contentMediaType") == "application/octet-stream":
                del prop["contentMediaType"]
                prop["format"] = "binary"
    return doc


def runner_error(status: int, message: str) -> tuple[bytes, str]:
    return json.dumps(http_error(message)).encode(), "application/json"


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="lpnode ai-runner",
        description="Serve one AI pipeline with ai-runner's HTTP API (like a runner container).",
    )
    p.add_argument("--pipeline", default=env("PIPELINE", ""), choices=BATCH_PIPELINES,
                   help="batch pipeline to serve (env PIPELINE)")
    p.add_argument("--model-id", default=env("MODEL_ID", ""), help="model id (env MODEL_ID)")
    p.add_argument("--models-dir", default=env("MODEL_DIR"),
                   help="local models directory (env MODEL_DIR; default ~/.lpData/models)")
    default_mode = "mock" if env("MOCK_PIPELINE", "").lower() == "true" else "real"
    p.add_argument("--mode", choices=MODES, default=default_mode,
                   help="real models or declared mocks (default real; MOCK_PIPELINE=true: mock)")
    p.add_argument("--compute-time", type=float, default=0.0,
                   help="mock mode: simulated seconds per pipeline call")
    p.add_argument("--num-threads", type=int, default=None,
                   help="real mode: torch CPU threads (1 is much faster on a busy small CPU)")
    p.add_argument("--device", default=env("DEVICE") or None,
                   help="real mode: torch device (cuda, cuda:1, mps, cpu; env DEVICE; default: "
                        "cuda when present, then mps, then cpu)")
    p.add_argument("--host", default=env("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env("PORT", "8000")))
    p.add_argument("--auth-token", default=env("AUTH_TOKEN"), help="bearer token (env AUTH_TOKEN)")
    p.add_argument("--background-load", action="store_true",
                   help="listen at once and report LOADING on /health until the model is loaded")
    p.add_argument("--log-level", default="info")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve the runner with uvicorn until interrupted; returns the exit status."""
    args = _parser().parse_args(argv)
    if not args.pipeline or not args.model_id:
        _parser().error("--pipeline and --model-id are required (or PIPELINE and MODEL_ID)")
    if args.mode == "real":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub is imported
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import uvicorn

    options: dict[str, Any] = {}
    if args.mode == "mock":
        options["compute_time"] = args.compute_time
    else:
        options.update({k: v for k, v in (("num_threads", args.num_threads),
                                          ("device", args.device)) if v})
    app = create_app(args.pipeline, args.model_id, mode=args.mode, models_dir=args.models_dir,
                     auth_token=args.auth_token, version=os.environ.get("VERSION", "undefined"),
                     background_load=args.background_load, **options)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower())
    return 0
