"""Compile the Vyper contracts, caching the output by source hash and compiler version.

Compiling BondingManager takes seconds; deployments in tests and simulations happen many
times, so the ABI and bytecode are kept on disk (LPSIM_CACHE_DIR, default ~/.cache/lpsim)
and in memory, keyed by the sha256 of the source and the Vyper version.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import vyper

from contracts import source_path


@dataclass(frozen=True)
class CompiledContract:
    name: str
    abi: list
    bytecode: bytes
    runtime_size: int


_memory: dict[str, CompiledContract] = {}
_lock = threading.Lock()


def cache_dir() -> Path:
    return Path(os.environ.get("LPSIM_CACHE_DIR", Path.home() / ".cache" / "lpsim")) / "vyper"


def compile_contract(name: str) -> CompiledContract:
    """ABI and deployment bytecode of `contracts/<name>.vy`."""
    return compile_source(name, source_path(name).read_text())


def compile_source(name: str, source: str) -> CompiledContract:
    """ABI and deployment bytecode of Vyper `source` (cached like the protocol's contracts)."""
    key = hashlib.sha256(f"{vyper.__version__}\0{source}".encode()).hexdigest()
    with _lock:
        if key in _memory:
            return _memory[key]
        path = cache_dir() / f"{name}-{key[:24]}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            out = vyper.compile_code(source, output_formats=["abi", "bytecode", "bytecode_runtime"])
            data = {
                "abi": out["abi"],
                "bytecode": out["bytecode"],
                "runtime_size": (len(out["bytecode_runtime"]) - 2) // 2,
            }
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data))
                tmp.replace(path)  # atomic: concurrent test workers never read half a file
            except OSError:
                pass  # a read-only home still compiles, just without the disk cache
        compiled = CompiledContract(name, data["abi"], bytes.fromhex(data["bytecode"][2:]), data["runtime_size"])
        _memory[key] = compiled
        return compiled
