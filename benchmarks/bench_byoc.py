"""BYOC batch jobs: jobs per second and added latency through gateway → orchestrator → worker
against the worker alone, in the same run (offchain; all three served on loopback in this
process, each on its own uvicorn server).

    python benchmarks/bench_byoc.py [--jobs 60] [--concurrency 4] [--size 64]
"""
from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's node, not an installed one


def _png(size: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), (200, 120, 40)).save(buf, format="png")
    return buf.getvalue()


async def _run(url: str, body: bytes, headers: dict, jobs: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:
        async def one():
            async with sem:
                t = time.perf_counter()
                r = await client.post(url, content=body, headers=headers)
                assert r.status_code == 200, r.text
                latencies.append(time.perf_counter() - t)
        await one()  # warm-up
        latencies.clear()
        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(jobs)))
        return jobs / (time.perf_counter() - start), latencies


async def main(args) -> None:
    from node.core import byoc
    from node.gateway.node import GatewayNode
    from node.gateway.server import create_app as gateway_app
    from node.net.serving import serve_in_thread
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from node.orchestrator.remote import RemoteTranscoders
    from node.orchestrator.server import create_http_app
    from node.worker.byoc.app import create_app as worker_app
    from node.worker.byoc.app import register
    from node.worker.byoc.examples import ImageFilter

    _, wport = serve_in_thread(worker_app(ImageFilter()))
    worker = f"http://127.0.0.1:{wport}"
    node = OrchestratorNode(OrchestratorConfig("http://127.0.0.1:0", transcoding=False))
    oapp = create_http_app(node, transcode=None, runners={}, remote=RemoteTranscoders("s", "http://127.0.0.1:0"))
    _, oport = serve_in_thread(oapp)
    node.config.service_uri = orch = f"http://127.0.0.1:{oport}"
    async with httpx.AsyncClient() as c:
        await register(c, orch, "s", ImageFilter().registration(worker))
    gw = GatewayNode([orch])
    _, gport = serve_in_thread(gateway_app(gw, ()))
    body = _png(args.size)
    job = byoc.job_request_header(byoc.JobRequest(request="{}", parameters="{}", capability="image-filter",
                                                  timeout_seconds=30))
    base_rate, base_lat = await _run(f"{worker}/sepia", body, {"Content-Type": "image/png"},
                                     args.jobs, args.concurrency)
    node_rate, node_lat = await _run(f"http://127.0.0.1:{gport}/process/request/sepia", body,
                                     {"Content-Type": "image/png", "Livepeer": job}, args.jobs, args.concurrency)
    p50 = lambda xs: statistics.median(xs) * 1000
    print(f"image-filter sepia {args.size}x{args.size}, {args.jobs} jobs, concurrency {args.concurrency}")
    print(f"worker alone (baseline):        {base_rate:7.1f} jobs/s  p50 {p50(base_lat):6.1f} ms")
    print(f"gateway -> orchestrator -> worker: {node_rate:7.1f} jobs/s  p50 {p50(node_lat):6.1f} ms")
    print(f"ratio {node_rate / base_rate:.2f} of the worker's rate; added p50 latency "
          f"{p50(node_lat) - p50(base_lat):.1f} ms (token discovery + two proxy hops)")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=60)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--size", type=int, default=64)
    asyncio.run(main(p.parse_args()))
