"""The research notebooks (notebooks/*.ipynb) run headlessly, so that a notebook that breaks fails
the suite. Each notebook's first code cell is tagged `parameters`; the test replaces it with the
small values below (short horizons, few runs, outputs under tmp_path) and executes every cell in a
fresh python3 kernel with nbclient, from notebooks/ as a person opening them in Jupyter would.
The committed notebooks must carry no outputs."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CELL_TIMEOUT = 300  # seconds per cell


def small_parameters(out: Path) -> dict[str, dict]:
    """Per notebook, the whole of its parameters cell in small values (every knob, so that a
    renamed one fails here rather than silently running at full size)."""
    return {
        "quickstart.ipynb": {
            "scenario": "scenarios/quickstart.yaml",
            "duration": "30 min",  # two rounds of 20 min: one step, then to the end
            "seed": 1,
            "step_rounds": 1,
            "out_dir": str(out),
        },
        "economics.ipynb": {
            "scenario": "scenarios/economics.yaml",
            "rounds": 4,
            # ten orchestrators and ten delegators; the outside supply shrunk with them so that
            # the bonding rate still starts near 50 %
            "overrides": {"orchestrators[0].count": 8, "orchestrators[1].count": 2, "delegators[0].count": 10,
                          "chain.initial_supply": "1e6 LPT"},
            "target_bonding_rates": ["40%", "60%"],
            "inflation_changes": [500, 1000],
            "runs": 2,
            "common_seeds": True,
            "backend": "process",  # a spawned pool from inside a kernel: about a second more than "local"
            "workers": 2,
            "out_dir": str(out),
        },
        "selection_and_payments.ipynb": {
            "selection_scenario": "scenarios/selection-fairness.yaml",
            "selection_overrides": {"duration": "20 min", "metrics.sample_every": "5 min"},
            "payments_scenario": "scenarios/payments.yaml",
            "payments_overrides": {"duration": "30 min", "metrics.sample_every": "5 min"},
            "payment_runs": 2,
            "backend": "local",
            "workers": None,
            "out_dir": str(out),
        },
        "lip107.ipynb": {
            "scenario": "scenarios/lip107.yaml",
            "duration": "5 d",
            "overrides": {"orchestrators[0].count": 4, "delegators[0].count": 3, "delegators[1].count": 3,
                          "delegators[2].count": 2, "delegators[3].count": 2},
            "target_bonding_rates": ["45%", "50%"],
            "inflation_changes": [500, 1500],
            "runs": 2,
            "backend": "local",
            "workers": None,
            "out_dir": str(out),
            "held_duration": "3 d",
            "held_changes": [1500],
        },
        "validation.ipynb": {
            "runs": 1,
            "backend": "local",
            "quarter": "2026Q1",
            "out_dir": str(out),
        },
    }


# what each notebook must have written under its out_dir
EXPECTED_FILES = {
    "quickstart.ipynb": ["metrics.csv", "jobs.csv", "summary.json", "report.html"],
    "economics.ipynb": ["runs.csv", "metrics.csv", "summary.json", "report.html", "point-3/run-1/metrics.csv"],
    "selection_and_payments.ipynb": ["selection/jobs.csv", "selection/summary.json", "payments/runs.csv",
                                     "payments/point-0/run-1/metrics.csv"],
    "lip107.ipynb": ["runs.csv", "metrics.csv", "summary.json", "point-3/run-1/metrics.csv"],
    "validation.ipynb": ["fee-flow/runs.csv", "fee-flow/point-0/run-0/metrics.csv"],
}

NAMES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def _read(name: str):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _parameters_cell(nb):
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "a notebook needs exactly one cell tagged `parameters`"
    return tagged[0]


def _assigned_names(source: str) -> set[str]:
    return {t.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)}


def test_every_notebook_has_small_parameters():
    assert NAMES, f"no notebooks in {NOTEBOOKS}"
    assert set(NAMES) == set(small_parameters(Path("."))), "add small parameters for every notebook here"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_clean(name):
    nb = _read(name)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and code[0] is _parameters_cell(nb), "the parameters cell comes first"
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, "clear the outputs before committing"
    # the test replaces every knob of the parameters cell
    assert _assigned_names(code[0].source) == set(small_parameters(Path("."))[name])


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, tmp_path):
    out = tmp_path / "out"
    params = small_parameters(out)[name]
    nb = _read(name)
    _parameters_cell(nb).source = "\n".join(f"{key} = {value!r}" for key, value in params.items())
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{name}: a cell failed\n{exc}", pytrace=False)
    missing = [f for f in EXPECTED_FILES[name] if not (out / f).is_file()]
    assert not missing, f"{name} did not write {missing} under out_dir"
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images, f"{name} drew no plots"
