"""Where a sweep's runs execute: in this process, in a local process pool, or on a Ray cluster.

A backend takes a picklable top-level function and a list of work units and yields the results as
they finish (in any order). The function is expected to catch its own errors and return them as
results, so that one failed run never loses the others; a backend only moves work and results.
"""
from __future__ import annotations

import os
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterable, Iterator


class LocalBackend:
    """One unit after another in this process (debugging, notebooks, tiny sweeps)."""

    name = "local"

    def map(self, fn: Callable, units: Iterable, *args: Any) -> Iterator:
        for unit in units:
            yield fn(unit, *args)


class ProcessBackend:
    """A pool of worker processes on this machine (default: one per core). Workers are spawned,
    not forked, so each starts clean (no EVM or SimPy state inherited from the parent). Ctrl-C
    reaches only the parent (workers ignore SIGINT, which the terminal sends to them all), which
    then stops the workers: an interrupted sweep ends at once, without a traceback per worker."""

    name = "process"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def map(self, fn: Callable, units: Iterable, *args: Any) -> Iterator:
        import multiprocessing

        pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))
        try:
            futures = [pool.submit(fn, unit, *args) for unit in units]
            for future in as_completed(futures):
                yield future.result()
        except BaseException:  # interrupted (or abandoned): the running units are not waited for
            for process in list((getattr(pool, "_processes", None) or {}).values()):  # (no public way before 3.14)
                process.terminate()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class RayBackend:
    """Ray tasks: `address` None starts or joins a local Ray (ray.init's default); "auto" or
    "ray://host:port" joins a cluster, where the same sweep runs unchanged. Results (summaries)
    come back through Ray; each run writes its own files, so on a cluster `out` should be a
    shared filesystem path."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.address, self.num_cpus = address, num_cpus

    def map(self, fn: Callable, units: Iterable, *args: Any) -> Iterator:
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"ignore_reinit_error": True, "include_dashboard": False,
                                      "log_to_driver": False}
            if self.address is not None:
                kwargs["address"] = self.address
            elif self.num_cpus is not None:
                kwargs["num_cpus"] = self.num_cpus
            ray.init(**kwargs)
        remote = ray.remote(fn)
        pending = [remote.remote(unit, *args) for unit in units]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])


def make_backend(name: str, workers: int | None = None, address: str | None = None):
    if name == "local":
        return LocalBackend()
    if name == "process":
        return ProcessBackend(workers)
    if name == "ray":
        return RayBackend(address, num_cpus=workers)
    raise ValueError(f"unknown backend {name!r}: choose local, process or ray")
