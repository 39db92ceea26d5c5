"""The scenario files, shipped as package data so that an installed lpsim finds them.

`scenario_path("fee-flow")` is `scenarios/fee-flow.yaml` in an installed package or a checkout alike.
"""
from pathlib import Path

SCENARIO_DIR = Path(__file__).resolve().parent


def scenario_path(name: str) -> Path:
    path = SCENARIO_DIR / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no scenario named {name!r} in {SCENARIO_DIR}")
    return path
