"""An aiModels.json `live-video-to-video` entry without a `url` (lpnode orchestrator -aiWorker, the
devnet): node.worker.ai.local_runner serves node.worker.live's runner for it, the model id naming
the live pipeline as in ai-runner."""
from __future__ import annotations

import httpx
import pytest

from node.worker.ai.local_runner import start_local_runner


def test_a_live_entry_without_url_starts_the_live_runner():
    url = start_local_runner("live-video-to-video", "noop", mode="mock")
    assert httpx.get(url + "/health").json() == {"status": "IDLE"}
    # ai-runner's live API: a start without the trickle URLs is refused, the runner stays IDLE
    bad = httpx.post(url + "/live-video-to-video", json={"model_id": "noop"})
    assert bad.status_code == 400 and "subscribe_url" in bad.text
    assert httpx.get(url + "/health").json() == {"status": "IDLE"}


def test_a_live_diffusion_model_has_no_mock():
    with pytest.raises(ValueError, match="only `noop`"):
        start_local_runner("live-video-to-video", "test/tiny-sd", mode="mock")


def test_capacity_starts_one_live_runner_per_unit():
    from node.worker.ai.local_runner import start_live_runners

    urls = start_live_runners("noop", 3, mode="mock")
    assert len(set(urls)) == 3  # three runners, one stream each (go: one container per unit)
    assert all(httpx.get(u + "/health").json() == {"status": "IDLE"} for u in urls)
    assert len(start_live_runners("noop", 0, mode="mock")) == 1  # capacity 0 means 1, as aiModels.json


def test_the_orchestrators_runners_give_a_live_entry_one_runner_per_unit_of_capacity():
    """lpnode orchestrator -aiWorker (node.launch.start_runners): a live entry's capacity becomes a
    list of runners (the orchestrator's pool), other pipelines keep one runner URL."""
    import argparse

    from node.core.ai_models import AIModelConfig
    from node.launch import start_runners

    models = [AIModelConfig("live-video-to-video", "noop", capacity=2), AIModelConfig("text-to-image", "m")]
    runners = start_runners(models, "mock", None, argparse.ArgumentParser(), live_pools=True)
    assert len(set(runners["live-video-to-video"])) == 2 and isinstance(runners["text-to-image"], str)
    assert all(httpx.get(u + "/health").json() == {"status": "IDLE"} for u in runners["live-video-to-video"])


def test_devnet_live_capacity_flag():
    """`lpnode devnet --live-capacity N`: N live runners per orchestrator (DevnetConfig.live_capacity); 0 refused."""
    import subprocess
    import sys

    from node.cli import build_parser

    assert build_parser().parse_args(["devnet", "--live-capacity", "3"]).live_capacity == 3
    assert build_parser().parse_args(["devnet"]).live_capacity == 1
    out = subprocess.run([sys.executable, "-m", "node.cli", "devnet", "--live-capacity", "0"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 2 and "--live-capacity must be at least 1" in out.stderr
