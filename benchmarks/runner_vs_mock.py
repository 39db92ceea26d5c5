"""What the runner benchmarks share: their options, and one pipeline's real model timed against
the declared mock on the same route in the same run (the mock is the baseline)."""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from node.worker.ai import create_app

Request = Callable[[TestClient], object]


def parse_args(doc: str, extra: Callable[[argparse.ArgumentParser], None] = lambda ap: None):
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--device", default=None, help="torch device (default: the runner's choice)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    extra(ap)
    return ap.parse_args()


def measure(client: TestClient, request: Request, n: int):
    """(requests per second, p50 seconds) over n requests after one warm-up."""
    def one() -> float:
        t0 = time.perf_counter()
        request(client).raise_for_status()
        return time.perf_counter() - t0

    one()  # warm-up
    t0 = time.perf_counter()
    latencies = [one() for _ in range(n)]
    return n / (time.perf_counter() - t0), statistics.median(latencies)


def header(width: int) -> None:
    print(f"{'pipeline':<{width}} {'real req/s':>10} {'real p50':>10} {'mock req/s':>10} "
          f"{'mock p50':>10} {'real/mock p50':>14}")


def compare(label: str, width: int, pipeline: str, model_id: str, models: str, args,
            request: Request) -> None:
    """Print one row: the real pipeline loaded from `models` against the mock one."""
    options = {"num_threads": args.threads}
    if args.device:
        options["device"] = args.device
    real = TestClient(create_app(pipeline, model_id, mode="real", models_dir=models, **options))
    mock = TestClient(create_app(pipeline, model_id, mode="mock"))
    r_rate, r_p50 = measure(real, request, args.requests)
    m_rate, m_p50 = measure(mock, request, args.requests)
    print(f"{label:<{width}} {r_rate:>10.1f} {r_p50 * 1e3:>8.1f}ms {m_rate:>10.1f} "
          f"{m_p50 * 1e3:>8.1f}ms {r_p50 / m_p50:>13.1f}x")
