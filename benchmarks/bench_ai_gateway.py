"""Every batch AI pipeline through gateway → orchestrator → runner, against the runner alone,
measured in the same run with the same request bodies (the baseline: a client posting straight
to the runner over loopback HTTP).

    python benchmarks/bench_ai_gateway.py [--requests 30] [--concurrency 1] [--compute-time 0]

The runners are the declared mock pipelines (zero model time unless --compute-time), so the
ratio is what the node's path adds: the gateway's request checks, discovery and session
selection, the orchestrator's capability and capacity checks, the extra hops with the body,
and the gateway's own work per route (image-to-video: encoding the frames to an MP4 and storing
it; audio-to-text: measuring the audio with PyAV and rebuilding the multipart body). Offchain
(no tickets); benchmarks/bench_robustness.py measures paid requests.

Prints, per pipeline: requests per second and p50 (ms) through the gateway and for the runner
alone, and the gateway/runner p50 ratio.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from node.core.ai_models import DEFAULT_MODEL_IDS  # noqa: E402

PIPELINES = [p for p in DEFAULT_MODEL_IDS if p != "live-video-to-video"]


def png(w: int = 64, h: int = 48) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def wav(seconds: float) -> bytes:
    from node.worker.ai.media import wav_bytes

    rng = np.random.default_rng(1)
    return wav_bytes((rng.standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32), 16000)


def requests() -> dict[str, dict]:
    """httpx keyword arguments of one request per pipeline (small sizes: the path, not the model)."""
    image = {"image": ("in.png", png(), "image/png")}
    return {
        "text-to-image": {"json": {"prompt": "a fox", "width": 64, "height": 64, "seed": 1}},
        "image-to-image": {"data": {"prompt": "paint it", "seed": "1"}, "files": image},
        "image-to-video": {"data": {"width": "64", "height": "64", "seed": "1"}, "files": image},
        "upscale": {"data": {"prompt": "sharper", "seed": "1"}, "files": image},
        "audio-to-text": {"files": {"audio": ("a.wav", wav(2.2), "audio/wav")}},
        "llm": {"json": {"model": DEFAULT_MODEL_IDS["llm"], "messages": [{"role": "user", "content": "hi"}],
                         "max_tokens": 12, "stream": False}},
        "segment-anything-2": {"data": {"point_coords": "[[10, 10]]", "point_labels": "[1]"}, "files": image},
        "image-to-text": {"data": {"prompt": "what is it"}, "files": image},
        "text-to-speech": {"json": {"text": "hello there"}},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Network:
    """A mock runner per pipeline, one offchain orchestrator serving them all and a gateway, each
    on loopback HTTP (runners in threads; orchestrator and gateway on one event loop)."""

    def __init__(self, compute_time: float) -> None:
        import uvicorn

        from node.core.ai_models import AIModelConfig
        from node.gateway.node import GatewayNode
        from node.gateway.server import create_app as gateway_app
        from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
        from node.orchestrator.server import serve_orchestrator
        from node.worker.ai.app import create_app
        from node.net.serving import serve_in_thread

        self.runners = {}
        for pipeline in PIPELINES:
            opts = {"num_frames": 4} if pipeline == "image-to-video" else {}
            app = create_app(pipeline, DEFAULT_MODEL_IDS[pipeline], mode="mock", compute_time=compute_time, **opts)
            self.runners[pipeline] = f"http://127.0.0.1:{serve_in_thread(app)[1]}"
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        port, gw_port = free_port(), free_port()
        orch = OrchestratorNode(OrchestratorConfig(
            f"http://127.0.0.1:{port}", transcoding=False,
            ai_models=[AIModelConfig(p, DEFAULT_MODEL_IDS[p], warm=True) for p in PIPELINES]))

        async def start():
            _, stop = await serve_orchestrator(orch, "127.0.0.1", port, private_key=None, transcode=None,
                                               runners=self.runners)
            gateway = GatewayNode([f"http://127.0.0.1:{port}"])
            server = uvicorn.Server(uvicorn.Config(gateway_app(gateway, ()), host="127.0.0.1", port=gw_port,
                                                   log_level="warning", lifespan="off"))
            task = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.01)
            return stop, gateway, server, task

        self._stop, self._gateway, self._server, self._task = self._run(start())
        self.gateway = f"http://127.0.0.1:{gw_port}"

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        async def stop():
            self._server.should_exit = True
            await self._task
            await self._gateway.close()
            await self._stop()

        self._run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)


def measure(client: httpx.Client, url: str, kwargs: dict, n: int, concurrency: int) -> tuple[float, float]:
    """(requests per second, p50 ms) of n requests, `concurrency` at a time, after one warm-up."""

    def one(_=None) -> float:
        t0 = time.perf_counter()
        res = client.post(url, **kwargs)
        if res.status_code != 200:
            raise SystemExit(f"{url}: {res.status_code} {res.text[:200]}")
        return time.perf_counter() - t0

    one()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        times = list(pool.map(one, range(n)))
    return n / (time.perf_counter() - t0), statistics.median(times) * 1000


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=30, help="requests per pipeline and path")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--compute-time", type=float, default=0.0, help="mock seconds per pipeline call")
    p.add_argument("--pipelines", default=",".join(PIPELINES))
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)

    net = Network(args.compute_time)
    bodies = requests()
    rows = []
    try:
        limits = httpx.Limits(max_connections=args.concurrency)
        with httpx.Client(timeout=120, limits=limits) as client:
            print(f"{args.requests} requests per path, concurrency {args.concurrency}, mock compute "
                  f"{args.compute_time * 1000:.0f} ms")
            print(f"{'pipeline':<20} {'gateway rps':>11} {'p50 ms':>8} {'runner rps':>11} {'p50 ms':>8} {'p50 ratio':>10}")
            for pipeline in args.pipelines.split(","):
                kw = bodies[pipeline]
                g_rps, g_p50 = measure(client, f"{net.gateway}/{pipeline}", kw, args.requests, args.concurrency)
                r_rps, r_p50 = measure(client, f"{net.runners[pipeline]}/{pipeline}", kw, args.requests,
                                       args.concurrency)
                rows.append({"pipeline": pipeline, "gateway_rps": g_rps, "gateway_p50_ms": g_p50,
                             "runner_rps": r_rps, "runner_p50_ms": r_p50, "p50_ratio": g_p50 / r_p50})
                print(f"{pipeline:<20} {g_rps:>11.1f} {g_p50:>8.1f} {r_rps:>11.1f} {r_p50:>8.1f} "
                      f"{g_p50 / r_p50:>9.1f}x")
    finally:
        net.close()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
