"""A run's recorded outputs: the `Recorder` the engine appends to while it runs, the results
folder it writes, and the readers that load that folder back.

Results folder (one run):

    metrics.csv            run, seed, time, round, entity, metric, value   (always)
    jobs.csv               one row per finished job                          (metrics.jobs)
      or jobs.parquet      the same rows as Parquet (metrics.jobs.format: parquet; needs pyarrow)
    transitions.csv        every job state-machine transition               (metrics.transitions)
    transition_counts.csv  run, seed, state, event, next_state, count      (always)
    scenario.yaml          the resolved scenario
    summary.json           lpsim.summary.write_summary
    timing.json            wall-clock times (apart: they differ run to run)
    report.html            lpsim.report.write_report

A run removes every one of these files a previous run left in its folder before it writes its own
(`clear_run_files`), so a folder never mixes two runs (`--no-report` leaves no old report.html);
other files there are left alone.

`metrics.jobs.sample` keeps that fraction of the jobs' rows, each job kept or not by a draw from
the seed tree's ("recorder", "jobs sample") stream, so a rerun keeps the same jobs; the summary
then counts jobs from the gateways' counters and estimates latency from the kept rows
(`jobs_sample` reads the fraction back from the folder's scenario.yaml).

Times are simulated seconds, `round` the protocol round number. Appends are plain tuples (the
engine calls them in its hot loop); run and seed, constant for a recorder, and the job latency
are added when the files are written. Floats are written with `repr`, so a rerun of the same
scenario and seed writes the same bytes.
"""
from __future__ import annotations

import csv
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from .seeds import SeedTree
from .spool import RowSpool, batched

__all__ = [
    "FILES",
    "JOB_COLUMNS",
    "METRIC_COLUMNS",
    "TRANSITION_COLUMNS",
    "TRANSITION_COUNT_COLUMNS",
    "RUN_FILES",
    "Recorder",
    "clear_run_files",
    "iter_jobs",
    "iter_table",
    "jobs_sample",
    "load_results",
    "read_table",
    "to_dataframe",
]

METRIC_COLUMNS = ("run", "seed", "time", "round", "entity", "metric", "value")
JOB_COLUMNS = ("run", "seed", "job", "gateway", "orchestrator", "workload", "pipeline", "submitted",
               "finished", "latency", "status", "reason", "attempts", "swaps", "tickets_sent", "fee_wei")
TRANSITION_COLUMNS = ("run", "seed", "time", "job", "state", "event", "next_state")
TRANSITION_COUNT_COLUMNS = ("run", "seed", "state", "event", "next_state", "count")

FILES = {
    "metrics": "metrics.csv",
    "jobs": "jobs.csv",
    "transitions": "transitions.csv",
    "transition_counts": "transition_counts.csv",
}
JOBS_PARQUET = "jobs.parquet"
SCENARIO_FILE = "scenario.yaml"
SUMMARY_FILE = "summary.json"
TIMING_FILE = "timing.json"
REPORT_FILE = "report.html"
POLICY_ACTIONS_FILE = "policy_actions.csv"  # lpsim.behaviour: what policies did, and what reverted
RUN_FILES = (*FILES.values(), JOBS_PARQUET, SCENARIO_FILE, SUMMARY_FILE, TIMING_FILE, REPORT_FILE,
             POLICY_ACTIONS_FILE)
COLUMNS = {
    "metrics": METRIC_COLUMNS,
    "jobs": JOB_COLUMNS,
    "transitions": TRANSITION_COLUMNS,
    "transition_counts": TRANSITION_COUNT_COLUMNS,
}


class Recorder:
    """Collects a run's rows (the newest in memory, older ones spooled to a temporary file) and
    writes them as the results folder.

    `jobs=False` makes `job` a no-op (no jobs.csv); `jobs` may also be the scenario's
    `metrics.jobs` mapping (`sample`, `format`: see the module docstring). `transitions=True`
    keeps every transition for transitions.csv. Transition counts are always kept.
    """

    def __init__(self, run: Any = 0, seed: int = 0, *, jobs: Any = True, transitions: bool = False,
                 start_date: Optional[str] = None) -> None:
        self.run = str(run)
        self.start_date = start_date  # a run on the calendar: metrics.csv gets a `date` column
        self.seed = int(seed)
        self.jobs_sample = float(getattr(jobs, "sample", 1.0))
        self.jobs_format = getattr(jobs, "format", "csv")
        # rows past the newest SPILL_ROWS wait in a temporary file (lpsim.spool), not in memory
        self.metric_rows = RowSpool()
        self.job_rows: Optional[RowSpool] = RowSpool() if jobs else None
        self.transition_rows: Optional[RowSpool] = RowSpool() if transitions else None
        self.transition_counts: dict[tuple, int] = {}
        if jobs and self.jobs_format == "parquet":
            _pyarrow()  # refused now, not after the run
        if not jobs:
            self.job = _ignore  # type: ignore[method-assign]
        elif self.jobs_sample < 1:
            self._keep = SeedTree(self.seed).python_random("recorder", "jobs sample").random
            self.job = self._sampled_job  # type: ignore[method-assign]

    def metric(self, time: float, round: int, entity: str, metric: str, value: float) -> None:
        """One sample: `metric` of `entity` is `value` at simulated `time` in `round`."""
        self.metric_rows.append((time, round, entity, metric, value))

    def job(self, job: Any, gateway: str, orchestrator: str, workload: str, pipeline: str,
            submitted: float, finished: float, status: str, reason: str, attempts: int, swaps: int,
            tickets_sent: int, fee_wei: float) -> None:
        """One finished job (`status` "completed" or "failed"; `orchestrator` the last one tried,
        "" if none; `reason` "" unless it failed). The latency is `finished - submitted`."""
        self.job_rows.append((job, gateway, orchestrator, workload, pipeline, submitted, finished,
                              status, reason, attempts, swaps, tickets_sent, fee_wei))

    def _sampled_job(self, *row: Any) -> None:
        """`job` when only a sample of the jobs is kept (positional arguments, as `job`'s)."""
        if self._keep() < self.jobs_sample:
            self.job_rows.append(row)

    def transition(self, time: float, job: Any, state: Any, event: Any, next_state: Any) -> None:
        """One job state-machine transition (states and events: enums or strings)."""
        key = (state, event, next_state)
        counts = self.transition_counts
        counts[key] = counts.get(key, 0) + 1
        if self.transition_rows is not None:
            self.transition_rows.append((time, job, state, event, next_state))

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the CSV files into `out_dir` (created if needed) and return them by table name.
        A disabled table's file left there by an earlier run is removed, so the folder always
        describes this run."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        run, seed, c, ts = self.run, self.seed, _cell, _time
        columns = dict(COLUMNS)
        if self.start_date is None:
            metrics = ((run, seed, ts(t), c(r), e, m, c(v)) for t, r, e, m, v in self.metric_rows)
        else:
            columns["metrics"] = (*METRIC_COLUMNS, "date")
            day = _dates(self.start_date)
            metrics = ((run, seed, ts(t), c(r), e, m, c(v), day(t)) for t, r, e, m, v in self.metric_rows)
        tables: dict[str, Any] = {
            "metrics": metrics,
            "jobs": None if self.job_rows is None else (
                (run, seed, c(job), gw, orch, wl, pipe, ts(sub), ts(fin), ts(_latency(sub, fin)), status,
                 reason, c(att), c(swaps), c(tickets), c(fee))
                for job, gw, orch, wl, pipe, sub, fin, status, reason, att, swaps, tickets, fee
                in self.job_rows),
            "transitions": None if self.transition_rows is None else (
                (run, seed, ts(t), c(job), _name(s), _name(e), _name(n))
                for t, job, s, e, n in self.transition_rows),
            "transition_counts": (
                (run, seed, _name(s), _name(e), _name(n), count)
                for (s, e, n), count in sorted(self.transition_counts.items(), key=_count_order)),
        }
        written = {}
        (out / JOBS_PARQUET).unlink(missing_ok=True)
        if self.job_rows is not None and self.jobs_format == "parquet":
            tables["jobs"] = None
            written["jobs"] = self._write_jobs_parquet(out / JOBS_PARQUET)
        for table, rows in tables.items():
            path = out / FILES[table]
            if rows is None:
                path.unlink(missing_ok=True)
                continue
            with path.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(columns[table])
                writer.writerows(rows)
            written[table] = path
        return written


    def _write_jobs_parquet(self, path: Path, group_rows: int = 65536) -> Path:
        """The job rows as one Parquet file, typed columns (times and fees float64, counts int64),
        written a row group at a time (the columns of one group are built, never of all rows)."""
        pa, pq = _pyarrow()
        fields = [name for name in JOB_COLUMNS[2:] if name != "latency"]  # what `job` appends, in order
        text, counts = pa.string(), pa.int64()
        types = {"submitted": pa.float64(), "finished": pa.float64(), "latency": pa.float64(),
                 "attempts": counts, "swaps": counts, "tickets_sent": counts, "fee_wei": pa.float64()}
        schema = pa.schema([("run", text), ("seed", counts), *((name, types.get(name, text)) for name in JOB_COLUMNS[2:])])
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for group in batched(self.job_rows, group_rows) if self.job_rows else ([],):
                column = {name: [row[i] for row in group] for i, name in enumerate(fields)}
                column["job"] = [str(job) for job in column["job"]]
                column["latency"] = [_latency(sub, fin) for sub, fin in zip(column["submitted"], column["finished"])]
                n = len(group)
                writer.write_table(pa.table({"run": pa.array([self.run] * n, text), "seed": pa.array([self.seed] * n, counts),
                                             **{name: pa.array(column[name], types.get(name, text))
                                                for name in JOB_COLUMNS[2:]}}, schema=schema))
        return path


def clear_run_files(out_dir: str | Path) -> None:
    """Remove what an earlier run wrote in `out_dir` (RUN_FILES only)."""
    for name in RUN_FILES:
        (Path(out_dir) / name).unlink(missing_ok=True)


def _pyarrow():
    """pyarrow and pyarrow.parquet, or a ValueError saying how to get them (an unavailable mode)."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ValueError("metrics.jobs.format: parquet needs pyarrow (pip install pyarrow, or lpsim[research])") \
            from None
    return pyarrow, pyarrow.parquet


def _dates(start: str) -> Callable[[float], str]:
    """Simulated seconds → the UTC date (YYYY-MM-DD) they fall on, for a run started at 00:00 UTC
    of `start` (the chain data's daily samples are taken then: lpsim.network_start)."""
    import datetime as dt

    origin, cache = dt.datetime.fromisoformat(start), {}

    def day(t: float) -> str:
        d = cache.get(t)
        if d is None:
            d = cache[t] = (origin + dt.timedelta(seconds=t)).date().isoformat()
        return d
    return day


def _ignore(*args: Any, **kwargs: Any) -> None:
    """`Recorder.job` when jobs are not recorded."""


def _latency(submitted: Optional[float], finished: Optional[float]) -> Optional[float]:
    return None if submitted is None or finished is None else finished - submitted


def _time(t: Optional[float]) -> str:
    """Times are always written as floats ("50.0", never "50"), whatever the clock handed in."""
    return "" if t is None else float.__repr__(float(t))


def _cell(value: Any) -> Any:
    """A number as its exact text: floats by repr (numpy floats too, whose own repr in numpy 2
    is "np.float64(...)"), ints and bools as integers, None as an empty cell."""
    if isinstance(value, float):
        return float.__repr__(value)
    if isinstance(value, (int, str)):
        return int(value) if isinstance(value, bool) else value
    if value is None:
        return ""
    if hasattr(value, "item"):  # a numpy scalar
        return _cell(value.item())
    return str(value)


def _name(x: Any) -> str:
    return x.name if isinstance(x, Enum) else str(x)


def _count_order(item: tuple) -> tuple:
    """Transition counts in the state machine's order (enum values), then by name."""
    return tuple((x.value, "") if isinstance(x, Enum) and isinstance(x.value, int) else (-1, str(x))
                 for x in item[0])


# ---------------------------------------------------------------------------------------------
# reading back


def _int(s: str) -> Optional[int]:
    return None if s == "" else int(s)


def _float(s: str) -> Optional[float]:
    return None if s == "" else float(s)


def _number(s: str) -> Optional[int | float]:
    """An int where the text is one (wei amounts stay exact), else a float ("0.5", "1e+20",
    "nan", "inf": each has a ".", "e" or "n", which no integer has)."""
    if s == "":
        return None
    return float(s) if "." in s or "e" in s or "n" in s else int(s)


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "seed": _int, "round": _int, "attempts": _int, "swaps": _int, "tickets_sent": _int, "count": _int,
    "time": _float, "submitted": _float, "finished": _float, "latency": _float,
    "value": _number, "fee_wei": _number,
}  # every other column is text (run and job ids included)


def iter_table(path: str | Path) -> Iterator[dict[str, Any]]:
    """One CSV of a results folder, a row dict at a time with numbers converted (a large table
    is never held whole)."""
    with Path(path).open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        # a text cell repeats (an entity, a metric, a status): one string for all its rows,
        # not one a row; job ids are unique and stay as read
        seen: dict[str, str] = {}
        shared = seen.setdefault
        convert = [(col, _CONVERTERS.get(col, str if col == "job" else lambda s: shared(s, s))) for col in header]
        for row in reader:
            yield {col: conv(cell) for (col, conv), cell in zip(convert, row)}


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """One CSV of a results folder as a list of row dicts with numbers converted."""
    return list(iter_table(path))


def iter_parquet_table(path: str | Path, batch_rows: int = 4096) -> Iterator[dict[str, Any]]:
    """jobs.parquet as the same row dicts `iter_table` gives for jobs.csv, read a batch of rows at
    a time (needs pyarrow)."""
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        yield from batch.to_pylist()


def read_parquet_table(path: str | Path) -> list[dict[str, Any]]:
    """jobs.parquet as the same row dicts `read_table` gives for jobs.csv (needs pyarrow)."""
    return list(iter_parquet_table(path))


def iter_jobs(results_dir: str | Path) -> Optional[Iterator[dict[str, Any]]]:
    """A results folder's job rows one at a time, from jobs.csv or jobs.parquet; None where the
    run recorded none."""
    root = Path(results_dir)
    if (root / FILES["jobs"]).exists():
        return iter_table(root / FILES["jobs"])
    if (root / JOBS_PARQUET).exists():
        return iter_parquet_table(root / JOBS_PARQUET)
    return None


def load_results(results_dir: str | Path, tables: Iterable[str] = tuple(FILES)) -> dict[str, Optional[list[dict[str, Any]]]]:
    """The tables of a results folder by name (all of "metrics", "jobs", "transitions",
    "transition_counts" unless `tables` names fewer); a table whose file is absent (e.g. jobs not
    recorded) is None. The jobs come from jobs.parquet where the run wrote that instead of
    jobs.csv."""
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no results folder at {root}")
    out = {}
    for table in tables:
        rows = iter_jobs(root) if table == "jobs" else \
            iter_table(root / FILES[table]) if (root / FILES[table]).exists() else None
        out[table] = None if rows is None else list(rows)
    return out


def jobs_sample(results_dir: str | Path) -> float:
    """The fraction of jobs a results folder's job rows hold (metrics.jobs.sample in its
    scenario.yaml; 1 where it has none)."""
    path = Path(results_dir) / SCENARIO_FILE
    if not path.exists():
        return 1.0
    import yaml

    jobs = ((yaml.safe_load(path.read_text()) or {}).get("metrics") or {}).get("jobs")
    return float(jobs.get("sample", 1.0)) if isinstance(jobs, dict) else 1.0


def to_dataframe(results_dir: str | Path, table: str = "metrics"):
    """One table of a results folder as a pandas DataFrame (pandas is optional)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("lpsim.results.to_dataframe needs pandas: pip install pandas") from exc
    if table not in FILES:
        raise ValueError(f"unknown table {table!r}: one of {', '.join(FILES)}")
    if table == "jobs" and not (Path(results_dir) / FILES["jobs"]).exists() and \
            (Path(results_dir) / JOBS_PARQUET).exists():
        return pd.read_parquet(Path(results_dir) / JOBS_PARQUET)
    columns = COLUMNS[table]
    text = [c for c in columns if c not in _CONVERTERS]
    numeric = [c for c in columns if c in _CONVERTERS]
    # text cells stay text ("" is a value, e.g. no failure reason); an empty numeric cell is NaN
    return pd.read_csv(Path(results_dir) / FILES[table], dtype={c: str for c in text},
                       keep_default_na=False, na_values={c: [""] for c in numeric})
