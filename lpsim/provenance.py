"""Provenance of a result: which code (lpsim version, git commit when run from a checkout), which
scenario (sha256 of its resolved YAML) and which seed made it, so a summary.json can be traced back
and a rerun checked."""
from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]  # the checkout, when lpsim is imported from one


def sha256_text(text: str | bytes) -> str:
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


@functools.lru_cache(maxsize=1)
def version() -> str | None:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("lpsim")
    except PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def git_commit() -> dict[str, Any] | None:
    """HEAD of the checkout lpsim is imported from and whether its tracked files differ from it;
    None for an installed package (no .git beside it) or without git. Once per process: a sweep's
    runs then agree even if the checkout changes under a long sweep."""
    if not (_ROOT / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=_ROOT,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": bool(dirty)}


def provenance(scenario_yaml: str | bytes | None, seed: Any) -> dict[str, Any]:
    """What a summary.json records of where it came from."""
    git = git_commit()
    return {"lpsim_version": version(),
            "git_commit": git["commit"] if git else None,
            "git_dirty": git["dirty"] if git else None,
            "scenario_sha256": None if scenario_yaml is None else sha256_text(scenario_yaml),
            "seed": seed}
