"""Where models live on disk and how a model id is found there (never downloaded).

Two layouts are accepted under a models directory:
- plain: `<models_dir>/<model_id>/` holding save_pretrained output (e.g. `<dir>/test/tiny-sd/`);
- hub cache: `<models_dir>/models--<org>--<name>/snapshots/<revision>/` with `refs/main` naming
  the revision, which is what ai-runner's images use (`cache_dir=MODEL_DIR`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple

MARKER_FILES = ("model_index.json", "config.json")


def default_models_dir() -> Path:
    """$MODEL_DIR, else ~/.lpData/models (ai-runner's default)."""
    return Path(os.environ.get("MODEL_DIR") or Path.home() / ".lpData" / "models")


def hub_folder_name(model_id: str) -> str:
    """The hub cache folder of a model repo: 'org/name' → 'models--org--name'."""
    return "models--" + model_id.replace("/", "--")


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in MARKER_FILES)


def locate_model(models_dir: Optional[str | Path], model_id: str) -> Tuple[Path, str]:
    """(model folder, layout) with layout "plain" or "hub"; FileNotFoundError when absent."""
    root = Path(models_dir) if models_dir is not None else default_models_dir()
    if not model_id or model_id.startswith("/") or ".." in Path(model_id).parts:
        raise FileNotFoundError(f"invalid model id {model_id!r}")
    plain = root / model_id
    if _is_model_dir(plain):
        return plain, "plain"
    hub = root / hub_folder_name(model_id)
    snapshots = hub / "snapshots"
    ref = hub / "refs" / "main"
    if ref.is_file():
        rev = ref.read_text().strip()
        if _is_model_dir(snapshots / rev):
            return snapshots / rev, "hub"
    if snapshots.is_dir():
        candidates = sorted(
            (p for p in snapshots.iterdir() if _is_model_dir(p)), key=lambda p: p.stat().st_mtime
        )
        if candidates:
            return candidates[-1], "hub"
    raise FileNotFoundError(
        f"model {model_id} not found under {root} (looked for {plain} and {hub}); "
        "models are never downloaded: build or copy them there first"
    )


def find_model_dir(models_dir: Optional[str | Path], model_id: str) -> Path:
    """The folder holding model_id's files under models_dir (either layout)."""
    return locate_model(models_dir, model_id)[0]
