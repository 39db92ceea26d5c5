"""The node under hostile load, on a two-orchestrator devnet (mock runners) on loopback: memory
while four clients upload 200 MB at once (each refused with 413 before it is buffered), and
paid requests at concurrency 64 (none may get a 503).

    python benchmarks/bench_robustness.py [--requests 640] [--concurrency 64]

The devnet is one process (devchain, gateway, orchestrators, runners), so its RSS is that of
gateway and orchestrators together; the baseline is its idle RSS measured in the same run.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time

import httpx
from devnet_process import devnet

UPLOAD = 200 * 1024 * 1024
CHUNK = 1024 * 1024
BODY = {"prompt": "a cat", "model_id": "test/tiny-sd", "width": 64, "height": 64}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRSS:
    """Samples a process's RSS every 10 ms in a thread; `peak` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def upload(client: httpx.AsyncClient, url: str, declare_length: bool) -> str:
    """POST 200 MB of multipart to `url`, with or without a Content-Length (chunked)."""
    head = b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n\r\n"

    async def body():
        yield head
        for _ in range(UPLOAD // CHUNK):
            yield b"\0" * CHUNK

    headers = {"content-type": "multipart/form-data; boundary=b"}
    if declare_length:
        headers["content-length"] = str(len(head) + UPLOAD)
    try:
        reply = await client.post(url, content=body(), headers=headers)
        return str(reply.status_code)
    except httpx.HTTPError as exc:  # the server answered 413 and closed while we were sending
        return type(exc).__name__


async def uploads(urls: list[str], declare_length: bool) -> list[str]:
    async with httpx.AsyncClient(timeout=120, verify=False) as client:  # orchestrators: self-signed TLS
        return await asyncio.gather(*(upload(client, u, declare_length) for u in urls))


async def paid_load(url: str, n: int, concurrency: int) -> tuple[float, dict[int, int]]:
    sem = asyncio.Semaphore(concurrency)
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits, verify=False) as client:
        async def one():
            async with sem:
                r = await client.post(url, json=BODY)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return time.perf_counter() - t0, statuses


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=640)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    with devnet("--orchestrators", "2") as (proc, urls):
        gateway = urls["gateway"]
        orchestrators = [u for name, u in urls.items() if name.startswith("orchestrator")]
        httpx.post(f"{gateway}/text-to-image", json=BODY, timeout=60).raise_for_status()  # warm-up
        time.sleep(1)
        idle = rss_mb(proc.pid)
        print(f"devnet (gateway + {len(orchestrators)} orchestrators + runners), idle RSS {idle:.0f} MB")
        print(f"{'four concurrent 200 MB uploads':<44} {'answers':<36} {'peak RSS above idle':>20}")
        targets = {"to the gateway": [f"{gateway}/image-to-image"] * 4,
                   "to the orchestrators": [f"{o}/image-to-image" for o in orchestrators] * 2}
        for where, to in targets.items():
            for declared in (True, False):
                with PeakRSS(proc.pid) as peak:
                    answers = asyncio.run(uploads(to, declared))
                label = f"{where}, {'Content-Length' if declared else 'chunked'}"
                print(f"{label:<44} {','.join(answers):<36} {peak.peak - idle:>17.0f} MB")
        wall, statuses = asyncio.run(paid_load(f"{gateway}/text-to-image", args.requests, args.concurrency))
        print(f"{args.requests} paid text-to-image requests at concurrency {args.concurrency}: "
              f"{args.requests / wall:.0f} req/s, statuses {statuses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
