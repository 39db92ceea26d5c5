"""Sweeps and Monte Carlo: one scenario expanded into points (parameter values, as a grid or
zipped) × runs, each (point, run) a unit of work with its own seed from the seed tree, run by a
backend (lpsim.backends), gathered into one tidy table with the swept values as columns.

Results folder:
    point-<i>/run-<j>/          each run's own results folder (as `lpsim run` writes it) + unit.json
    runs.csv                    one row per (point, run): values, seed, status, error, headline figures
    metrics.csv                 every run's metric rows with point, run, seed and the values as columns
    runs.parquet, metrics.parquet   the same, typed, when pyarrow is installed
    summary.json                per point: the values, runs ok/failed, percentiles, mean and bootstrap
                                interval of each figure (lpsim.sweep_stats), paired differences from
                                the first point under common seeds; provenance
    report.html, figures/*.png  figures against the swept parameters, heat maps, fan charts, box plots
                                (lpsim.sweep_report)

A swept parameter has two columns: `<path>` its value as the simulator uses it (a number where it
is one: wei, seconds, parts per billion...; read back from the point's resolved scenario) and
`<path>_label` as written in the file ("8 gwei"). Every column is in docs/data-dictionary.md
(`data_dictionary()` writes it; a test keeps the two equal).

A failed run is recorded with its seed and traceback and the others go on; rerunning the same
sweep into the same folder skips the runs already done (same values and seed): it resumes.
"""
from __future__ import annotations

import copy
import csv
import itertools
import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from pydantic import ValidationError

from . import metric_names as m, sweep_stats
from .sweep_stats import is_number
from .provenance import provenance
from .scenario import (Problem, Scenario, ScenarioError, _path_parts, check_sweep_size,  # noqa: F401 (set_path: public here too)
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
    # lpsim.economics (the summary's "research" section)
    "supply_growth": ("research", "supply", "growth"),
    "dilution": ("research", "supply", "dilution"),
    "yield_lpt": ("research", "yield", "lpt"),
    "yield_lpt_annualised": ("research", "yield", "lpt_annualised"),
    "yield_usd": ("research", "yield", "usd"),
    "below_target_share": ("research", "bonding_rate", "share_below_target"),
    "stake_gini": ("research", "concentration", "gini"),
    "stake_nakamoto": ("research", "concentration", "nakamoto"),
    "stake_top10_share": ("research", "concentration", "top10_share"),
    "treasury_balance_lpt": ("research", "treasury", "balance_lpt"),
}

# Each figure's unit and meaning, for the data dictionary and the plots' axes.
FIGURE_UNITS: dict[str, tuple[str, str]] = {
    "jobs": ("count", "jobs requested by the gateways"),
    "success_rate": ("fraction 0..1", "completed jobs / jobs"),
    "latency_p50": ("s", "median job latency"),
    "latency_p95": ("s", "95th percentile of job latency"),
    "latency_p99": ("s", "99th percentile of job latency"),
    "tickets_sent": ("count", "tickets sent by the gateways"),
    "tickets_won": ("count", "winning tickets"),
    "tickets_won_expected": ("count (expected)", "sum of the sent tickets' win probabilities"),
    "tickets_redeemed": ("count", "winning tickets redeemed on chain"),
    "fees_expected_wei": ("wei", "expected value of the tickets received (face value x win probability)"),
    "fees_realised_wei": ("wei", "face value of the tickets redeemed"),
    "minted_lpt": ("LPT", "LPT minted over the run (rewards and the treasury's cut)"),
    "treasury_minted_lpt": ("LPT", "the treasury's cut of the minted LPT"),
    "inflation_last": ("ppb of supply per round", "Minter inflation at the end"),
    "bonding_rate_last": ("fraction 0..1", "bonded / total supply at the end"),
    "total_supply_last": ("LPT", "LPT total supply at the end"),
    "stake_job_tvd": ("fraction 0..1", "total variation distance between stake shares and job shares"),
    "supply_growth": ("fraction", "total supply growth over the run: S1 / S0 - 1"),
    "dilution": ("fraction 0..1", "share of supply an unstaked holder loses over the run: 1 - S0 / S1"),
    "yield_lpt": ("fraction", "LPT earned per bonded LPT over the run, compounded, before reward cuts"),
    "yield_lpt_annualised": ("fraction per year", "yield_lpt compounded over 365.25 days"),
    "yield_usd": ("fraction", "yield_lpt valued at the LPT/USD series (null without one)"),
    "below_target_share": ("fraction 0..1", "share of rounds with the bonding rate below the target"),
    "stake_gini": ("0..1", "Gini coefficient of the orchestrators' stakes at the end"),
    "stake_nakamoto": ("count", "fewest orchestrators holding more than half the stake at the end"),
    "stake_top10_share": ("fraction 0..1", "stake share of the 10 largest orchestrators at the end"),
    "treasury_balance_lpt": ("LPT", "the treasury's LPT at the end"),
}
assert set(FIGURE_UNITS) == set(FIGURES), "every figure needs its unit"


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
    seed: int = 0  # the sweep's seed (the scenario's, or the override): the bootstrap draws from it
    common_seeds: bool = False

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] != "ok"]

    def runs_table(self) -> list[dict[str, Any]]:
        return read_rows(self.out / "runs.csv")

    def frame(self, table: str = "metrics"):
        """A pandas DataFrame of `metrics` or `runs` (pandas needed; the Parquet file when there is one)."""
        import pandas as pd

        parquet = self.out / f"{table}.parquet"
        return pd.read_parquet(parquet) if parquet.exists() else pd.read_csv(self.out / f"{table}.csv")


def run_sweep(scenario: Scenario, out: str | Path, backend=None, runs: int | None = None,
              seed: int | None = None, progress: Callable[[dict], None] | None = None) -> SweepResult:
    """Expand, run every unit on `backend` (default: this process), gather the tables."""
    from .backends import LocalBackend

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    units = expand(scenario, runs=runs, seed=seed)
    (out / "scenario.yaml").write_text(scenario.to_yaml())
    result = SweepResult(out, units, seed=scenario.seed if seed is None else seed,
                         common_seeds=bool(scenario.sweep and scenario.sweep.common_seeds))
    for r in (backend or LocalBackend()).map(run_unit, units, str(out)):
        result.results.append(r)
        if progress is not None:
            progress(r)
    result.results.sort(key=lambda r: (r["point"], r["run"]))
    gather(result)
    return result


# ---------------------------------------------------------------------------------- tables

RUN_COLUMNS = ("point", "run", "seed")  # then each parameter and its label, then:
STATUS_COLUMNS = ("status", "error")  # then the figures
METRIC_COLUMNS = ("time", "round", "entity", "metric", "value")  # after the run columns and parameters


def _figure(summary: dict, keys: tuple[str, ...]) -> Any:
    value: Any = summary
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _columns(units: list[Unit]) -> list[str]:
    return list(dict.fromkeys(path for u in units for path in u.values))


def label_column(path: str) -> str:
    return f"{path}_label"


def get_path(data: Any, path: str) -> Any:
    """The value at a dotted path (None where there is none)."""
    for part in _path_parts(path):
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def parsed_values(unit: Unit) -> dict[str, Any]:
    """The unit's swept values as the simulator reads them: from its resolved scenario ("8 gwei" ->
    8000000000 wei, "40%" of a ppb field -> 400000000, "6 rounds" -> seconds); a value that is not a
    number there (a backend's name, a mapping) stays as written."""
    out = {}
    for path, written in unit.values.items():
        value = get_path(unit.scenario, path)
        out[path] = value if is_number(value) else _label(written)
    return out


def _label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def gather(result: SweepResult) -> None:
    """Write runs.csv, metrics.csv (and .parquet), summary.json from the finished runs."""
    out, params = result.out, _columns(result.units)
    parsed = {u.point: parsed_values(u) for u in result.units if u.run == 0}  # one unit per point
    labels = [label_column(p) for p in params]

    def prefix(r: dict) -> list:
        return [r["point"], r["run"], r["seed"], *(parsed[r["point"]].get(p, "") for p in params),
                *(_label(r["values"][p]) if p in r["values"] else "" for p in params)]

    with (out / "runs.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*RUN_COLUMNS, *params, *labels, *STATUS_COLUMNS, *FIGURES])
        for r in result.results:
            summary = r.get("summary") or {}
            w.writerow([*prefix(r), r["status"], r.get("error", ""),
                        *(_cell(_figure(summary, keys)) for keys in FIGURES.values())])
    dated = any((u.scenario.get("start") or {}).get("from_network") for u in result.units)  # runs write `date`
    with (out / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*RUN_COLUMNS, *params, *labels, *METRIC_COLUMNS, *(("date",) if dated else ())])
        for r in result.results:
            path = out / f"point-{r['point']}/run-{r['run']}" / "metrics.csv"
            if r["status"] != "ok" or not path.exists():
                continue
            head = prefix(r)
            with path.open(newline="") as src:
                reader = csv.reader(src)
                skip = next(reader).index("time")  # drop the run's own run/seed columns
                for row in reader:
                    w.writerow(head + row[skip:])
    _write_parquet(out, params, parsed)
    (out / "summary.json").write_text(json.dumps(summarize_sweep(result, params, parsed), indent=2,
                                                 sort_keys=True, default=str) + "\n")


def summarize_sweep(result: SweepResult, params: list[str], parsed: dict[int, dict]) -> dict[str, Any]:
    """Per point: values, runs, the statistics of every figure (lpsim.sweep_stats) and, under
    common seeds, the paired differences from point 0. Bootstrap draws: the stream
    ("sweep", "bootstrap", point, figure) of the sweep's seed tree, so each is reproducible and
    independent of which other figures or points exist."""
    tree = SeedTree(result.seed).child("sweep", "bootstrap")
    scenario_file = result.out / "scenario.yaml"
    summary: dict[str, Any] = {
        "scenario": str(scenario_file), "parameters": params, "common_seeds": result.common_seeds,
        "statistics": {"percentiles": list(sweep_stats.PERCENTILES), "interval": "percentile bootstrap of the mean",
                       "level": sweep_stats.LEVEL, "resamples": sweep_stats.RESAMPLES,
                       "paired": "run-by-run difference from point 0" if result.common_seeds else None},
        "provenance": provenance(scenario_file.read_bytes() if scenario_file.exists() else None, result.seed),
        "points": []}
    by_point: dict[int, dict[int, dict]] = {}
    for r in result.results:
        if r["status"] == "ok":
            by_point.setdefault(r["point"], {})[r["run"]] = r["summary"]
    points = _points_of(result)
    base = by_point.get(points[0][0], {}) if points else {}
    for p, values in points:
        ok = by_point.get(p, {})
        failed = [r for r in result.results if r["point"] == p and r["status"] != "ok"]
        entry = {"point": p, "values": values, "parsed_values": parsed.get(p, {}), "runs_ok": len(ok),
                 "failed": [{"run": r["run"], "seed": r["seed"], "error": r["error"]} for r in failed],
                 "figures": {name: sweep_stats.describe([_figure(s, keys) for _, s in sorted(ok.items())],
                                                        tree.generator(p, name))
                             for name, keys in FIGURES.items()}}
        if result.common_seeds:
            runs = sorted(set(ok) & set(base))
            entry["paired"] = {name: sweep_stats.paired([(_figure(ok[r], keys), _figure(base[r], keys)) for r in runs],
                                                        tree.generator("paired", p, name))
                               for name, keys in FIGURES.items()}
        summary["points"].append(entry)
    return summary


def _points_of(result: SweepResult) -> list[tuple[int, dict]]:
    return sorted({u.point: u.values for u in result.units}.items())


def _cell(value: Any) -> Any:
    return "" if value is None else repr(value) if isinstance(value, float) else value


def read_rows(path: Path) -> list[dict[str, Any]]:
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------- parquet

def _write_parquet(out: Path, params: list[str], parsed: dict[int, dict]) -> None:
    """runs.parquet and metrics.parquet beside the CSVs, typed: a parameter column is int64 when
    every value is an integer that fits, float64 when numbers, text otherwise; wei figures beyond
    int64 are float64. Without pyarrow none is written (and a stale one from an earlier gather is
    removed, so the folder never holds tables that disagree)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from pyarrow import csv as pacsv
    except ImportError:
        for name in ("runs", "metrics"):
            (out / f"{name}.parquet").unlink(missing_ok=True)
        return
    types = {"point": pa.int64(), "run": pa.int64(), "seed": pa.int64(), "status": pa.string(),
             "error": pa.string(), "time": pa.float64(), "round": pa.int64(), "entity": pa.string(),
             "metric": pa.string(), "value": pa.float64(), "date": pa.date32()}
    for p in params:
        types[p] = _arrow_type(pa, [v.get(p) for v in parsed.values()])
        types[label_column(p)] = pa.string()
    for name in FIGURES:
        types[name] = pa.float64()
    options = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False)
    for name in ("runs", "metrics"):  # streamed batch by batch: metrics.csv may be larger than memory
        with pacsv.open_csv(out / f"{name}.csv", convert_options=options) as reader, \
                pq.ParquetWriter(out / f"{name}.parquet", reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)


def _arrow_type(pa, values: list) -> Any:
    values = [v for v in values if v is not None]
    if values and all(isinstance(v, int) and not isinstance(v, bool) and -2 ** 63 <= v < 2 ** 63 for v in values):
        return pa.int64()
    if values and all(is_number(v) for v in values):
        return pa.float64()
    return pa.string()


# ---------------------------------------------------------------------------------- text

def format_summary(path: str | Path) -> str:
    """The sweep's summary as a table: one row per point, mean [bootstrap interval] of key figures."""
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
            ci = "" if fig["ci95"] is None else f" [{fig['ci95'][0]:.4g}, {fig['ci95'][1]:.4g}]"
            cells.append(f"{name} {fig['mean']:.4g}{ci} (p5 {fig['p5']:.4g}, p50 {fig['p50']:.4g}, "
                         f"p95 {fig['p95']:.4g})")
        failed = f", {len(pt['failed'])} failed" if pt["failed"] else ""
        lines.append(f"point {pt['point']} {pt['values']}: {pt['runs_ok']} runs{failed}")
        lines.extend(f"    {c}" for c in cells)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- data dictionary

# column -> (type, unit, meaning); "<param>" stands for each swept path.
COLUMNS: dict[str, tuple[str, str, str]] = {
    "point": ("int", "", "index of the point (parameter values), from 0 in expansion order"),
    "run": ("int", "", "index of the Monte Carlo run within its point"),
    "seed": ("int", "", "the run's seed (SeedTree(seed).child('sweep'), by point and run or by run alone)"),
    "<param>": ("int, float or text", "the field's own (wei, s, ppb, ...)",
                "the swept value as the simulator reads it, from the point's resolved scenario"),
    "<param>_label": ("text", "", "the swept value as written in the scenario file (\"8 gwei\", \"40%\")"),
    "status": ("text", "", "ok or failed"),
    "error": ("text", "", "the exception of a failed run, empty otherwise"),
    "time": ("float", "s", "simulated time of the metric row"),
    "round": ("int", "round", "protocol round of the metric row"),
    "date": ("date", "YYYY-MM-DD, UTC", "calendar day of the metric row; only when the scenario starts from a "
             "recorded day (start: from_network), the last column"),
    "entity": ("text", "", "what the row measures: network, an orchestrator's or gateway's name, ..."),
    "metric": ("text", "", "metric name (lpsim.metric_names)"),
    "value": ("float", "the metric's own", "the metric's value"),
}
TABLES = {"runs": (*RUN_COLUMNS, "<param>", "<param>_label", *STATUS_COLUMNS, *FIGURES),
          "metrics": (*RUN_COLUMNS, "<param>", "<param>_label", *METRIC_COLUMNS, "date")}
STATISTICS = {
    "n": "runs with a value",
    "mean": "mean over the runs",
    "min": "smallest run", "max": "largest run",
    "p5": "5th percentile over the runs (linear interpolation, numpy's default)",
    "p50": "median over the runs",
    "p95": "95th percentile over the runs",
    "ci95": ("95 % percentile-bootstrap interval of the mean (2,000 resamples from the seed tree stream "
             "('sweep', 'bootstrap', point, figure)); null under 2 runs; inside [min, max]"),
}
PROVENANCE = {
    "lpsim_version": "the installed lpsim distribution's version",
    "git_commit": "HEAD of the checkout lpsim was imported from (null for an installed package)",
    "git_dirty": "whether tracked files differed from that commit",
    "scenario_sha256": "sha256 of the resolved scenario.yaml beside the summary",
    "seed": "the run's or the sweep's seed",
}


def documented(column: str, params: Iterable[str]) -> str | None:
    """The dictionary entry that describes a written column (None: undocumented)."""
    params = list(params)
    if column in params:
        return "<param>"
    if column in {label_column(p) for p in params}:
        return "<param>_label"
    return column if column in COLUMNS or column in FIGURES else None


POLICY_ACTION_COLUMNS = {
    "time": "simulated seconds when the action was carried out",
    "round": "protocol round",
    "entity": "the delegator or orchestrator whose policy returned it",
    "action": "the action as Python writes it (Bond(to=..., amount=...), Unbond, Rebond, Move, CallReward, "
              "SetTerms, Leave; 'withdraw' for a matured unbonding lock)",
    "ok": "True when the transaction went through",
    "revert_reason": "the contract's revert reason (or why it was not sent) when ok is False",
}


def data_dictionary() -> str:
    """docs/data-dictionary.md (tests/sim/test_sweep_stats.py checks the file is this)."""
    def table(rows: Iterable[tuple[str, ...]], head: tuple[str, ...]) -> list[str]:
        return [f"| {' | '.join(head)} |", f"|{'---|' * len(head)}",
                *(f"| {' | '.join(r)} |" for r in rows)]

    lines = ["# Data dictionary: sweep results", "",
             "Generated by `lpsim.sweep.data_dictionary()`; a test fails when this file and the code differ.",
             "A sweep folder holds `runs.csv` and `metrics.csv`, and `runs.parquet` and `metrics.parquet` "
             "with the same columns, typed, when pyarrow is installed.", ""]
    for name, columns in TABLES.items():
        lines += [f"## `{name}.csv` / `{name}.parquet`", ""]
        lines += table(((f"`{c}`", *((COLUMNS[c][0], COLUMNS[c][1], COLUMNS[c][2]) if c in COLUMNS else
                                     ("float", FIGURE_UNITS[c][0], FIGURE_UNITS[c][1])))
                        for c in columns), ("column", "type", "unit", "meaning"))
        lines.append("")
    lines += ["## Figures", "",
              "A run's headline figures, read from its `summary.json`; columns of `runs`, and the keys of "
              "`figures` and `paired` per point in the sweep's `summary.json`.", ""]
    lines += table(((f"`{n}`", FIGURE_UNITS[n][0], "`" + ".".join(k) + "`", FIGURE_UNITS[n][1])
                    for n, k in FIGURES.items()), ("figure", "unit", "summary.json path", "meaning"))
    lines += ["", "## The sweep's `summary.json`", "",
              "Top level: `scenario`, `parameters` (swept paths), `common_seeds`, `statistics` (the methods), "
              "`provenance`, `points`. Per point: `point`, `values` (as written), `parsed_values` (as read, like "
              "the `<param>` columns), `runs_ok`, `failed` (run, seed, error), `figures` (figure -> statistics) "
              "and, with common seeds, `paired` (figure -> statistics of the run-by-run difference from point 0, "
              "over the runs both finished). Statistics, in the figure's unit:", ""]
    lines += table(((f"`{k}`", v) for k, v in STATISTICS.items()), ("key", "meaning"))
    lines += ["", "## Exogenous series metrics", "",
              "Network rows (`entity` network), one per round, present when the scenario has the series "
              "(`series:`; lpsim.exogenous).", ""]
    lines += table(((f"`{k}`", *v) for k, v in m.SERIES_UNITS.items()), ("metric", "unit", "meaning"))
    lines += ["", "## A run's `policy_actions.csv`", "",
              "Written when a policy (lpsim.policies) returned actions: one row per action and per withdrawal.", ""]
    lines += table(((f"`{k}`", v) for k, v in POLICY_ACTION_COLUMNS.items()), ("column", "meaning"))
    lines += ["", "## `provenance` (every run's and every sweep's `summary.json`)", ""]
    lines += table(((f"`{k}`", v) for k, v in PROVENANCE.items()), ("key", "meaning"))
    return "\n".join(lines) + "\n"
