"""The node's own cost: gateway → orchestrator → mock AI runner on loopback, paid in tickets on a
devnet, against the runner alone measured in the same run (the baseline), so what is printed as
"added by the node" excludes the pipeline's own time.

    python benchmarks/bench_node.py [--requests 200] [--concurrency 4]

Prints requests per second and latency p50/p95 through the gateway, straight to the runner, and
the difference (discovery, selection, payment signing and checking, seg creds, two extra hops).
Segments transcoded per second are in benchmarks/bench_transcode.py.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

import httpx
from devnet_process import devnet

GOAL_ADDED_MS, GOAL_RATE = 5.0, 600  # issue 15: the node's own cost and its throughput
BODY = {"prompt": "a cat", "model_id": "test/tiny-sd", "width": 64, "height": 64}


async def load(url: str, n: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:
        async def one():
            async with sem:
                t0 = time.perf_counter()
                r = await client.post(url, json=BODY)
                r.raise_for_status()
                latencies.append(time.perf_counter() - t0)

        await one()  # warm-up: discovery and the first payment session
        latencies.clear()
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return time.perf_counter() - t0, latencies


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[int(q) - 1] if len(xs) > 1 else xs[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--check", action="store_true",
                    help="also print the figures against issue 15's goals (<= 5 ms p50 added, >= 600 req/s)")
    args = ap.parse_args()
    with devnet("--block-time", "0.5") as (_, urls):
        # the runner behind orchestrator-0: ask the orchestrator's metrics-free route table? The
        # devnet does not print it, so start a second mock runner as the baseline.
        runner = subprocess.Popen([sys.executable, "-m", "node.cli", "ai-runner", "--pipeline", "text-to-image",
                                   "--model-id", "test/tiny-sd", "--mode", "mock", "--port", "18991"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    httpx.get("http://127.0.0.1:18991/health")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            base_wall, base = asyncio.run(load("http://127.0.0.1:18991/text-to-image", args.requests,
                                               args.concurrency))
            node_wall, node = asyncio.run(load(f"{urls['gateway']}/text-to-image", args.requests, args.concurrency))
        finally:
            runner.terminate()
    print(f"{args.requests} requests, concurrency {args.concurrency}, text-to-image 64x64 on a mock runner")
    print(f"{'path':<28} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for name, wall, lat in (("runner alone (baseline)", base_wall, base), ("gateway -> orch -> runner", node_wall, node)):
        print(f"{name:<28} {args.requests / wall:>8.1f} {1000 * pct(lat, 50):>8.1f} {1000 * pct(lat, 95):>8.1f}")
    print(f"{'added by the node':<28} {'':>8} {1000 * (pct(node, 50) - pct(base, 50)):>8.1f} "
          f"{1000 * (pct(node, 95) - pct(base, 95)):>8.1f}   ({pct(node, 50) / pct(base, 50):.1f}x the runner's p50)")
    if args.check:
        added_ms, rate = 1000 * (pct(node, 50) - pct(base, 50)), args.requests / node_wall
        print(f"check: added p50 {added_ms:.1f} ms = {added_ms / GOAL_ADDED_MS:.1f}x the {GOAL_ADDED_MS:g} ms goal; "
              f"{rate:.0f} req/s = {rate / GOAL_RATE:.2f} of the {GOAL_RATE} req/s goal; "
              f"through the node {rate / (args.requests / base_wall):.2f} of the runner alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
