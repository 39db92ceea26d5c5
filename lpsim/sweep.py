"""Sweeps and Monte Carlo: one scenario expanded into points (parameter values, as a grid or
zipped) × runs, each (point, run) a unit of work with its own seed from the seed tree, run by a
backend (lpsim.backends), gathered into one tidy table with the swept values as columns.

Results folder:
    point-<i>/run-<j>/          each run's own results folder (as `lpsim run` writes it) + unit.json
    runs.csv                    one row per (point, run): values, seed, status, error, headline figures
    metrics.csv                 every run's metric rows with point, run, seed and the values as columns
    summary.json                per point: the values, runs ok/failed, mean and 95 % CI of each figure
    report.html                 fan charts over time and box plots per point (lpsim.sweep_report)

A failed run is recorded with its seed and traceback and the others go on; rerunning the same
sweep into the same folder skips the runs already done (same values and seed): it resumes.
"""
from __future__ import annotations

import copy
import csv
import itertools
import json
import math
import statistics
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from pydantic import ValidationError

from .scenario import (Problem, Scenario, ScenarioError, check_sweep_size,  # noqa: F401 (set_path: public here too)
                       set_path)
from .seeds import SeedTree
from .units import FieldError

# Headline figures of a run, read from its summary.json: name -> path of keys.
FIGURES: dict[str, tuple[str, ...]] = {
    "jobs": ("jobs", "total"),
    "success_rate": ("jobs", "success_rate"),
    "latency_p50": ("latency", "p50"),
    "latency_p95": ("latency", "p95"),
    "latency_p99": ("latency", "p99"),
    "tickets_sent": ("tickets", "sent"),
    "tickets_won": ("tickets", "won"),
    "tickets_won_expected": ("tickets", "won_expected"),
    "tickets_redeemed": ("tickets", "redeemed"),
    "fees_expected_wei": ("fees", "expected_wei"),
    "fees_realised_wei": ("fees", "realised_wei"),
    "minted_lpt": ("economics", "minted_lpt", "total"),
    "treasury_minted_lpt": ("economics", "treasury_minted_lpt", "total"),
    "inflation_last": ("economics", "inflation", "last"),
    "bonding_rate_last": ("economics", "bonding_rate", "last"),
    "total_supply_last": ("economics", "total_supply_lpt", "last"),
    "stake_job_tvd": ("selection", "total_variation"),
}


@dataclass(frozen=True)
class Unit:
    """One run of one point: what a backend ships to a worker."""

    point: int
    run: int
    seed: int
    values: dict[str, Any]
    scenario: dict[str, Any]  # the point's resolved scenario (Scenario.to_data), sweep removed

    @property
    def folder(self) -> str:
        return f"point-{self.point}/run-{self.run}"

    def identity(self) -> dict[str, Any]:
        """What must match for a finished run to be reused when a sweep is resumed."""
        return {"point": self.point, "run": self.run, "seed": self.seed, "values": self.values,
                "scenario": self.scenario}


# ---------------------------------------------------------------------------------- expansion

def points(scenario: Scenario) -> Iterator[dict[str, Any]]:
    """The sweep's points, one at a time: one dict of path -> value per point."""
    sweep = scenario.sweep
    if sweep is None:
        yield {}
        return
    names, lists = list(sweep.parameters), list(sweep.parameters.values())
    combos = zip(*lists) if sweep.mode == "zip" else itertools.product(*lists)
    for combo in combos:
        yield dict(zip(names, combo))


def expand(scenario: Scenario, runs: int | None = None, seed: int | None = None) -> list[Unit]:
    """Every (point, run) of the scenario's sweep as units, each point validated (`iter_units`)."""
    return list(iter_units(scenario, runs, seed))


def iter_units(scenario: Scenario, runs: int | None = None, seed: int | None = None) -> Iterator[Unit]:
    """The units of `expand` one point at a time (what `lpsim validate` counts, keeping none);
    invalid points raise one ScenarioError listing them all at the end. Seeds: run r of point p
    draws SeedTree(seed).child("sweep").seed_of(p, r) (or of r alone with common seeds)."""
    base = scenario.to_data()
    base.pop("sweep", None)
    sweep = scenario.sweep
    runs = runs or (sweep.runs if sweep else 1)
    try:  # (again: `runs` may override the file's)
        check_sweep_size(sweep.point_count if sweep else 1, runs)
    except FieldError as exc:
        raise ScenarioError(scenario.name, [Problem(None, f"sweep.{exc.path[0]}", str(exc))]) from None
    tree = SeedTree(scenario.seed if seed is None else seed).child("sweep")
    common = bool(sweep and sweep.common_seeds)
    problems = []
    for p, values in enumerate(points(scenario)):
        data = copy.deepcopy(base)
        try:
            for path, value in values.items():
                set_path(data, path, value)
            resolved = Scenario.model_validate(data).to_data()
        except (ValueError, ValidationError) as exc:
            message = str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else \
                "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            problems.append(Problem(None, f"sweep point {p} {values}", message))
            continue
        for r in range(runs):
            path = ("run", r) if common else ("point", p, "run", r)
            s = int(tree.seed_sequence(*path).generate_state(1, dtype="uint64")[0] >> 1)
            yield Unit(p, r, s, values, resolved)
    if problems:
        raise ScenarioError(scenario.name, problems)


# ---------------------------------------------------------------------------------- running

def run_unit(unit: Unit, out: str) -> dict[str, Any]:
    """Run one unit into its folder (or reuse a finished identical one); never raises."""
    from .engine import run_scenario
    from .summary import read_summary

    folder = Path(out) / unit.folder
    marker = folder / "unit.json"
    result = {"point": unit.point, "run": unit.run, "seed": unit.seed, "values": unit.values}
    try:
        if marker.exists() and json.loads(marker.read_text()) == json.loads(json.dumps(unit.identity())):
            summary = read_summary(folder)
            if summary is not None:
                return {**result, "status": "ok", "resumed": True, "summary": summary}
        summary = run_scenario(Scenario.model_validate(unit.scenario), folder, seed=unit.seed)
        marker.write_text(json.dumps(unit.identity(), sort_keys=True) + "\n")
        return {**result, "status": "ok", "resumed": False, "summary": summary}
    except Exception as exc:  # noqa: BLE001 - a failed run is a result, not the end of the sweep
        return {**result, "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()}


@dataclass
class SweepResult:
    out: Path
    units: list[Unit]
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] != "ok"]

    def runs_table(self) -> list[dict[str, Any]]:
        return read_rows(self.out / "runs.csv")

    def frame(self, table: str = "metrics"):
        """A pandas DataFrame of `metrics` or `runs` (pandas needed)."""
        import pandas as pd

        return pd.read_csv(self.out / f"{table}.csv")


def run_sweep(scenario: Scenario, out: str | Path, backend=None, runs: int | None = None,
              seed: int | None = None, progress: Callable[[dict], None] | None = None) -> SweepResult:
    """Expand, run every unit on `backend` (default: this process), gather the tables."""
    from .backends import LocalBackend

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    units = expand(scenario, runs=runs, seed=seed)
    (out / "scenario.yaml").write_text(scenario.to_yaml())
    result = SweepResult(out, units)
    for r in (backend or LocalBackend()).map(run_unit, units, str(out)):
        result.results.append(r)
        if progress is not None:
            progress(r)
    result.results.sort(key=lambda r: (r["point"], r["run"]))
    gather(result)
    return result


# ---------------------------------------------------------------------------------- tables

def _figure(summary: dict, keys: tuple[str, ...]) -> Any:
    value: Any = summary
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _columns(units: list[Unit]) -> list[str]:
    return list(dict.fromkeys(path for u in units for path in u.values))


def gather(result: SweepResult) -> None:
    """Write runs.csv, metrics.csv and summary.json from the finished runs."""
    out, params = result.out, _columns(result.units)
    with (out / "runs.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["point", "run", "seed", *params, "status", "error", *FIGURES])
        for r in result.results:
            summary = r.get("summary") or {}
            w.writerow([r["point"], r["run"], r["seed"], *(r["values"].get(p, "") for p in params), r["status"],
                        r.get("error", ""), *(_cell(_figure(summary, keys)) for keys in FIGURES.values())])
    with (out / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["point", "run", "seed", *params, "time", "round", "entity", "metric", "value"])
        for r in result.results:
            path = out / f"point-{r['point']}/run-{r['run']}" / "metrics.csv"
            if r["status"] != "ok" or not path.exists():
                continue
            prefix = [r["point"], r["run"], r["seed"], *(r["values"].get(p, "") for p in params)]
            with path.open(newline="") as src:
                reader = csv.reader(src)
                header = next(reader)
                skip = header.index("time")  # drop the run's own run/seed columns
                for row in reader:
                    w.writerow(prefix + row[skip:])
    summary = {"scenario": str(out / "scenario.yaml"), "parameters": params, "points": []}
    for p, values in _points_of(result):
        ok = [r for r in result.results if r["point"] == p and r["status"] == "ok"]
        failed = [r for r in result.results if r["point"] == p and r["status"] != "ok"]
        figures = {}
        for name, keys in FIGURES.items():
            xs = [float(v) for v in (_figure(r["summary"], keys) for r in ok) if isinstance(v, (int, float))]
            figures[name] = interval(xs)
        summary["points"].append({"point": p, "values": values, "runs_ok": len(ok),
                                  "failed": [{"run": r["run"], "seed": r["seed"], "error": r["error"]} for r in failed],
                                  "figures": figures})
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")


def _points_of(result: SweepResult) -> list[tuple[int, dict]]:
    return sorted({u.point: u.values for u in result.units}.items())


def _cell(value: Any) -> Any:
    return "" if value is None else repr(value) if isinstance(value, float) else value


def read_rows(path: Path) -> list[dict[str, Any]]:
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------- statistics

# Student's t quantile for a two-sided 95 % interval, by degrees of freedom (1..30); beyond, ~1.96.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def interval(xs: Iterable[float]) -> dict[str, Any]:
    """Mean with a 95 % confidence interval (Student's t over the runs); n < 2 gives no interval."""
    xs = [x for x in xs if math.isfinite(x)]
    n = len(xs)
    if n == 0:
        return {"n": 0, "mean": None, "ci95": None}
    mean = statistics.fmean(xs)
    if n == 1:
        return {"n": 1, "mean": mean, "ci95": None}
    half = (_T975[n - 2] if n - 1 <= len(_T975) else 1.96) * statistics.stdev(xs) / math.sqrt(n)
    return {"n": n, "mean": mean, "ci95": [mean - half, mean + half]}


def format_summary(path: str | Path) -> str:
    """The sweep's summary as a table: one row per point, mean ± CI half-width of key figures."""
    summary = json.loads((Path(path) / "summary.json").read_text())
    shown = ("success_rate", "latency_p95", "tickets_won", "fees_realised_wei", "inflation_last",
             "bonding_rate_last", "total_supply_last")
    lines = []
    for pt in summary["points"]:
        cells = []
        for name in shown:
            fig = pt["figures"][name]
            if fig["mean"] is None:
                continue
            half = "" if fig["ci95"] is None else f" ± {(fig['ci95'][1] - fig['ci95'][0]) / 2:.4g}"
            cells.append(f"{name} {fig['mean']:.4g}{half}")
        failed = f", {len(pt['failed'])} failed" if pt["failed"] else ""
        lines.append(f"point {pt['point']} {pt['values']}: {pt['runs_ok']} runs{failed}")
        lines.extend(f"    {c}" for c in cells)
    return "\n".join(lines)

