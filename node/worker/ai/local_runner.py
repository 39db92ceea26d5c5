"""An AI runner inside the calling process, served on loopback from a thread: what an orchestrator
does for an -aiModels entry that names no runner `url` (go starts one runner container per
pipeline and model there; for live-video-to-video one per unit of `capacity`, each holding one
stream), and what `lpnode devnet` runs beside each orchestrator."""
from __future__ import annotations

import os
from pathlib import Path

from node.net.serving import serve_in_thread

from .app import create_app

LIVE = "live-video-to-video"


def live_app(model_id: str, *, mode: str = "real", models_dir=None, device: str | None = None):
    """node.worker.live's runner for a live-video-to-video entry. As in ai-runner, the model id names
    the live pipeline: `noop` passes frames through (any mode); any other id is a diffusion model run
    per frame as image-to-image (real mode only: there is no declared mock of it)."""
    from node.worker.live.app import LiveRunner
    from node.worker.live.app import create_app as create_live_app
    from node.worker.live.pipelines import load_live_pipeline

    if model_id != "noop" and mode != "real":
        raise ValueError(f"live-video-to-video model {model_id!r}: only `noop` has no weights to load "
                         f"(mode {mode!r}); use -aiRunnerMode real for a diffusion model")

    def load():  # again on a restart after ERROR, as ai-runner's guardian restarts its process
        if model_id == "noop":
            return load_live_pipeline("noop")
        return load_live_pipeline("image-to-image", model_id, models_dir, device)

    return create_live_app(LiveRunner(load(), device=device, load=load))


def start_local_runner(pipeline: str, model_id: str, *, mode: str = "real", models_dir: str | Path | None = None,
                       host: str = "127.0.0.1", **options) -> str:
    """Load `model_id` for `pipeline` (real: from `models_dir` through from_pretrained, offline;
    mock: the declared deterministic mocks) and serve it; returns the runner's base URL."""
    if mode == "real":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub at run time
    if pipeline == LIVE:
        app = live_app(model_id, mode=mode, models_dir=models_dir, device=options.get("device"))
    else:
        app = create_app(pipeline, model_id, mode=mode, models_dir=models_dir, **options)
    _, port = serve_in_thread(app, host)
    return f"http://{host}:{port}"


def start_live_runners(model_id: str, capacity: int = 1, **options) -> list[str]:
    """`capacity` live runners for a live-video-to-video entry without `url` (go warms one runner
    container per unit of capacity; the orchestrator lends each to one session at a time); their
    base URLs. `options` as start_local_runner's."""
    return [start_local_runner(LIVE, model_id, **options) for _ in range(max(capacity, 1))]
