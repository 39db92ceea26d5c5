"""A run's summary: the numbers a person reads first (jobs, latency, payments, economics,
selection), computed from a results folder, written as `summary.json` and printed as a table.

Metric rows are samples: a cumulative counter is read as each entity's last sample (then summed
over entities); a per-round value (`metric_names.PER_ROUND`) as the last sample of each round.
Every number is None where the run recorded nothing to compute it from (e.g. no jobs in an
economics-only run), so the schema is the same for every run.
"""
from __future__ import annotations

import json
import math
from array import array
from collections import Counter
from fractions import Fraction
from pathlib import Path
from statistics import NormalDist
from typing import Any, Iterable, Optional

from lpsim import metric_names as M
from lpsim.economics import economics
from lpsim.provenance import provenance
from lpsim.results import FILES, SCENARIO_FILE, SUMMARY_FILE, iter_jobs, iter_table, jobs_sample, load_results

__all__ = [
    "EXTRA_KEYS",
    "EXTRA_LABELS",
    "JobTally",
    "compact_metrics",
    "SUMMARY_FILE",
    "duration",
    "entities_with",
    "format_summary",
    "gateways",
    "last_values",
    "latency_stats",
    "orchestrators",
    "per_round",
    "percentile",
    "read_summary",
    "summarize",
    "summary_rows",
    "write_summary",
]

# extra fields the report's header shows first, in this order, and their labels (any other field
# follows by name; a field ending in "_s" is a number of seconds)
EXTRA_KEYS = ("scenario", "seed", "duration_s", "wall_s", "wall_time_s", "setup_s", "backend")
EXTRA_LABELS = {"duration_s": "duration", "wall_s": "wall time", "wall_time_s": "wall time"}

Rows = list[dict[str, Any]]


# ---------------------------------------------------------------------------------------------
# reading metric rows


def last_values(rows: Rows, metric: str, entities: Optional[set] = None) -> dict[str, Any]:
    """Each entity's latest sample of `metric` (by time; the later row on a tie)."""
    last: dict[str, tuple[float, Any]] = {}
    for r in rows:
        if r["metric"] == metric and (entities is None or r["entity"] in entities):
            seen = last.get(r["entity"])
            if seen is None or r["time"] >= seen[0]:
                last[r["entity"]] = (r["time"], r["value"])
    return {entity: value for entity, (_, value) in last.items()}


def per_round(rows: Rows, metric: str) -> dict[str, dict[int, Any]]:
    """entity -> round -> the last sample of `metric` in that round (per-round metrics)."""
    out: dict[str, dict[int, tuple[float, Any]]] = {}
    for r in rows:
        if r["metric"] == metric:
            rounds = out.setdefault(r["entity"], {})
            seen = rounds.get(r["round"])
            if seen is None or r["time"] >= seen[0]:
                rounds[r["round"]] = (r["time"], r["value"])
    return {e: {rnd: v for rnd, (_, v) in sorted(rs.items())} for e, rs in out.items()}


def compact_metrics(rows: Iterable[dict[str, Any]]) -> Rows:
    """The metric rows the summary reads, in their order: of each entity's metric in each round,
    the first and last rows and the earliest and latest samples (the first and the last on a tie).
    Every summary figure is one of those (a round's last sample, an entity's or a series' first or
    last, a round's first time), so none changes; the samples between a round's ends, most rows
    of a long run sampled hourly, are never held."""
    kept: dict[tuple, list] = {}  # key -> [first, last, earliest, latest], each (index, row)
    for i, r in enumerate(rows):
        key = (r["entity"], r["metric"], r["round"])
        ends = kept.get(key)
        if ends is None:
            kept[key] = [(i, r)] * 4
            continue
        ends[1] = (i, r)
        t = r["time"]
        if t < ends[2][1]["time"]:
            ends[2] = (i, r)
        if t >= ends[3][1]["time"]:
            ends[3] = (i, r)
    return [r for _, r in sorted({i: r for ends in kept.values() for i, r in ends}.items())]


def entities_with(rows: Rows, metrics: Iterable[str]) -> set[str]:
    """The entities that reported any of `metrics` (how orchestrators and gateways are told apart:
    their names are the scenario's to choose)."""
    wanted = set(metrics)
    return {r["entity"] for r in rows if r["metric"] in wanted}


def orchestrators(rows: Rows) -> set[str]:
    return entities_with(rows, (M.STAKE, M.STAKE_SHARE, M.FEES_EXPECTED, M.REWARD, M.TICKETS_RECEIVED))


def gateways(rows: Rows) -> set[str]:
    return entities_with(rows, (M.JOBS_SUBMITTED, M.JOBS_FAILED, M.TICKETS_SENT, M.DEPOSIT))


def _total(values: dict[str, Any]) -> Any:
    return sum(values.values()) if values else None


def _ratio(num: Any, den: Any) -> Optional[float]:
    return None if num is None or not den else num / den


# ---------------------------------------------------------------------------------------------
# statistics


def percentile(sorted_values: list[float], q: float) -> Optional[float]:
    """The q-th percentile (0..100) of already sorted values, linearly interpolated between the
    closest ranks (numpy's default method); None for no values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency_stats(latencies: Iterable[float]) -> dict[str, Any]:
    values = sorted(latencies)
    return {
        "count": len(values),
        "mean": sum(values) / len(values) if values else None,
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
    }


class JobTally:
    """Job rows folded in one at a time: what the summary reads from them (counts, latencies,
    failure reasons, completions by orchestrator), without holding the rows. A latency is 8
    bytes in an array; a row dict read back is ~1 KB, which at a 10x network day's 1.7 M rows
    was most of the run's peak memory."""

    def __init__(self, rows: Iterable[dict[str, Any]] = ()) -> None:
        self.rows = 0
        self.first: Optional[dict[str, Any]] = None
        self.total: Counter = Counter()  # by workload
        self.completed: Counter = Counter()
        self.latencies: dict[str, array] = {}  # workload -> the completed jobs' latencies
        self.reasons: Counter = Counter()
        self.done_by: Counter = Counter()  # orchestrator -> completed jobs
        self.attempts = self.swaps = 0
        for row in rows:
            self.add(row)

    def add(self, j: dict[str, Any]) -> None:
        if self.first is None:
            self.first = j
        self.rows += 1
        workload = j["workload"]
        self.total[workload] += 1
        if j["status"] == M.COMPLETED:
            self.completed[workload] += 1
            self.done_by[j["orchestrator"]] += 1
            if j["latency"] is not None:
                self.latencies.setdefault(workload, array("d")).append(j["latency"])
        else:
            self.reasons[j["reason"] or "unknown"] += 1
        self.attempts += j["attempts"]
        self.swaps += j["swaps"]

    def counts(self, workload: Optional[str] = None) -> dict[str, Any]:
        """total, completed, failed and success rate, of one workload or all."""
        if workload is None:
            total, completed = self.rows, sum(self.completed.values())
        else:
            total, completed = self.total[workload], self.completed[workload]
        return {"total": total, "completed": completed, "failed": total - completed,
                "success_rate": _ratio(completed, total)}

    def latency(self, workload: Optional[str] = None) -> dict[str, Any]:
        """The completed jobs' latency statistics, of one workload or all (sorts them: once each)."""
        if workload is None:
            return latency_stats(x for values in self.latencies.values() for x in values)
        return latency_stats(self.latencies.get(workload, ()))


# ---------------------------------------------------------------------------------------------
# the summary


def summarize(results: str | Path | dict, extra: Optional[dict] = None) -> dict[str, Any]:
    """The summary of one run: `results` is a results folder or what `load_results` returned;
    `extra` (scenario name, seed, duration, wall time, ...) is kept under "extra"."""
    folder = isinstance(results, (str, Path))
    if folder:  # job rows are folded in as they are read, metric rows kept only where read
        tables = load_results(results, ("transition_counts",))
        path = Path(results) / FILES["metrics"]
        tables["metrics"] = compact_metrics(iter_table(path)) if path.exists() else None
        rows = iter_jobs(results)
    else:
        tables = results
        rows = tables.get("jobs")
    metrics = tables.get("metrics") or []
    jobs = None if rows is None else JobTally(rows)
    # sampled job rows (metrics.jobs.sample) give the latencies; the counts come from the counters
    sample = jobs_sample(results) if folder else 1.0
    counted = jobs if sample == 1 else None
    scenario = _scenario(results)
    first_row = _first_row(results, tables, jobs)
    return {
        "run": first_row["run"] if first_row else None,
        "seed": first_row["seed"] if first_row else None,
        "extra": dict(extra or {}),
        "jobs": _jobs_section(counted, metrics, sample, jobs),
        "latency": jobs.latency() if jobs is not None else latency_stats(()),
        "tickets": {name.removeprefix("tickets_"): _total(last_values(metrics, name))
                    for name in M.TICKET_METRICS},
        "fees": _fees_section(metrics),
        "rewards": _rewards_section(metrics),
        "economics": _economics_section(metrics),
        "research": economics(metrics, target_bonding_rate=_target_bonding_rate(scenario),
                              costs=_costs(scenario)),
        "selection": _selection_section(counted, metrics, _selection_algorithm(scenario)),
        "transitions": [{k: r[k] for k in ("state", "event", "next_state", "count")}
                        for r in tables.get("transition_counts") or []],
    }


def _first_row(results: Any, tables: dict, jobs: Optional[JobTally]) -> Optional[dict]:
    """The first row of the first non-empty table, in FILES' order (it names the run and seed)."""
    for table in FILES:
        if table == "jobs":
            row = jobs.first if jobs is not None else None
        elif table in tables or not isinstance(results, (str, Path)):
            row = (tables.get(table) or [None])[0]
        else:  # a folder's table summarize did not load: only its first row is read
            path = Path(results) / FILES[table]
            row = next(iter_table(path), None) if path.exists() else None
        if row is not None:
            return row
    return None


def _scenario(results: Any) -> Any:
    """The folder's resolved scenario.yaml, parsed (None for tables without a folder or file)."""
    path = Path(results) / SCENARIO_FILE if isinstance(results, (str, Path)) else None
    if path is None or not path.exists():
        return None
    from lpsim.scenario import load_scenario

    return load_scenario(path)


def _target_bonding_rate(scenario: Any) -> Optional[float]:
    """The scenario's target bonding rate as a fraction."""
    return None if scenario is None else scenario.protocol_params().target_bonding_rate / 1e9


def _costs(scenario: Any) -> dict[str, float]:
    """Orchestrator name -> its group's `cost_usd_per_month`, where the scenario gives one."""
    if scenario is None:
        return {}
    return {f"{g.name}-{i}": g.cost_usd_per_month for g in scenario.orchestrators
            if g.cost_usd_per_month is not None for i in range(g.count)}


def _selection_algorithm(scenario: Any) -> Any:
    """The core's selection algorithm with the first gateway group's weights (None: no gateways)."""
    if scenario is None or not scenario.gateways:
        return None
    from node.core.selection import ProbabilitySelectionAlgorithm

    sel = scenario.gateways[0].selection
    return ProbabilitySelectionAlgorithm(stake_weight=sel.stake_weight, price_weight=sel.price_weight,
                                         rand_weight=sel.rand_weight, price_exp_factor=sel.price_exp_factor)


def _provenance(results_dir: Path, summary: dict) -> dict[str, Any]:
    """Code, scenario (the folder's resolved scenario.yaml, when there is one) and seed."""
    path = results_dir / SCENARIO_FILE
    seed = summary.get("seed") if summary.get("seed") is not None else (summary.get("extra") or {}).get("seed")
    return provenance(path.read_bytes() if path.exists() else None, seed)


def _jobs_section(jobs: Optional[JobTally], metrics: Rows, sample: float = 1.0,
                  sampled: Optional[JobTally] = None) -> dict[str, Any]:
    if sample < 1:
        return {**_jobs_section(None, metrics), "sample": sample,
                "sampled_rows": sampled.rows if sampled is not None else None}
    if jobs is None:
        # jobs.csv not recorded: the gateways' counters still give the totals
        gws = gateways(metrics)
        completed = _total(last_values(metrics, M.JOBS_COMPLETED, gws))
        failed = _total(last_values(metrics, M.JOBS_FAILED, gws))
        total = None if completed is None and failed is None else (completed or 0) + (failed or 0)
        return {"source": "metrics" if total is not None else None, "total": total,
                "completed": completed, "failed": failed, "success_rate": _ratio(completed, total),
                "failure_reasons": {}, "attempts": None, "swaps": None, "by_workload": {}}
    by_workload = {workload: {**jobs.counts(workload), "latency": jobs.latency(workload)}
                   for workload in sorted(jobs.total)}
    return {"source": "jobs", **jobs.counts(), "failure_reasons": dict(sorted(jobs.reasons.items())),
            "attempts": jobs.attempts, "swaps": jobs.swaps, "by_workload": by_workload}


def _fees_section(metrics: Rows) -> dict[str, Any]:
    expected = last_values(metrics, M.FEES_EXPECTED)
    realised = last_values(metrics, M.FEES_REALISED)
    by_orch = {o: {"expected_wei": expected.get(o), "realised_wei": realised.get(o),
                   "realised_ratio": _ratio(realised.get(o), expected.get(o))}
               for o in sorted(set(expected) | set(realised))}
    total_expected, total_realised = _total(expected), _total(realised)
    return {"expected_wei": total_expected, "realised_wei": total_realised,
            "realised_ratio": _ratio(total_realised, total_expected), "by_orchestrator": by_orch}


def _rewards_section(metrics: Rows) -> dict[str, Any]:
    rewards = per_round(metrics, M.REWARD)
    by_orch = {o: sum(rounds.values()) for o, rounds in sorted(rewards.items())}
    return {"total_lpt": _total(by_orch), "by_orchestrator": by_orch}


def _economics_section(metrics: Rows) -> dict[str, Any]:
    network = [r for r in metrics if r["entity"] == M.NETWORK]
    out: dict[str, Any] = {}
    for name in M.NETWORK_METRICS:
        series = [r for r in network if r["metric"] == name]
        # rows come in time order; a stable sort by time only guards against an engine that doesn't
        series.sort(key=lambda r: r["time"])
        out[name] = {"first": series[0]["value"] if series else None,
                     "last": series[-1]["value"] if series else None}
    for name in (M.MINTED, M.TREASURY_MINTED):
        minted = per_round(network, name).get(M.NETWORK, {})
        out[name]["total"] = sum(minted.values()) if minted else None
    rounds = [r["round"] for r in network]
    out["rounds"] = {"first": min(rounds) if rounds else None, "last": max(rounds) if rounds else None}
    return out


def _selection_section(jobs: Optional[JobTally], metrics: Rows, algorithm: Any = None) -> dict[str, Any]:
    """Job shares against stake shares and, given the gateways' selection `algorithm`, against the
    share it is expected to give each orchestrator (its probabilities at the end-of-run stakes and
    the recorded prices: the weights go's selection draws with)."""
    stake_share = last_values(metrics, M.STAKE_SHARE)
    expected: dict[str, float] = {}
    if algorithm is not None and stake_share:
        stakes = last_values(metrics, M.STAKE, set(stake_share))
        prices = last_values(metrics, M.PRICE_PER_PIXEL, set(stake_share))
        names = sorted(stake_share)
        probs = algorithm.probabilities(names, {o: int(stakes.get(o, 0) * 1e18) for o in names},
                                        prices={o: Fraction(prices[o]) for o in prices} if prices else None)
        total = sum(probs.values())
        expected = {o: p / total for o, p in probs.items()} if total else {}
    if jobs is not None:
        done = jobs.done_by
    else:
        done = Counter(last_values(metrics, M.JOBS_COMPLETED, orchestrators(metrics)))
    total_done = sum(done.values())
    orchs = {}
    for o in sorted(set(stake_share) | set(done)):
        orchs[o] = {"stake_share": stake_share.get(o), "expected_share": expected.get(o),
                    "jobs_completed": done.get(o, 0), "job_share": _ratio(done.get(o, 0), total_done)}
    # total variation distance between the two distributions: 0 = jobs exactly follow stake
    paired = [(v["stake_share"], v["job_share"]) for v in orchs.values()
              if v["stake_share"] is not None and v["job_share"] is not None]
    tvd = sum(abs(s - j) for s, j in paired) / 2 if paired else None
    paired = [(v["expected_share"], v["job_share"]) for v in orchs.values()
              if v["expected_share"] is not None and v["job_share"] is not None]
    tvd_expected = sum(abs(e - j) for e, j in paired) / 2 if paired and total_done else None
    return {"orchestrators": orchs, "total_variation": tvd, "total_variation_expected": tvd_expected}


# ---------------------------------------------------------------------------------------------
# output


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_summary(results_dir: str | Path, summary: dict) -> Path:
    """Write `summary.json` into the results folder (sorted keys; floats by repr, so stable), with
    its provenance stamped in the file only: the summary's figures stay equal between runs that
    differ in what the scenario says of output alone (e.g. jobs as CSV or Parquet)."""
    path = Path(results_dir) / SUMMARY_FILE
    summary = {**summary, "provenance": summary.get("provenance") or _provenance(Path(results_dir), summary)}
    path.write_text(json.dumps(_finite(summary), sort_keys=True, indent=2, allow_nan=False) + "\n",
                    encoding="utf-8")
    return path


def read_summary(results_dir: str | Path) -> Optional[dict]:
    """The folder's summary.json, or None if it has none."""
    path = Path(results_dir) / SUMMARY_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else f"{n:,.6g}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _seconds(s: float) -> str:
    if abs(s) < 1:
        return f"{1000 * s:.1f} ms"
    if abs(s) < 600:
        return f"{s:.3f} s"
    return duration(s)


def duration(s: float) -> str:
    """A simulated or wall duration in the largest unit that keeps it readable."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(s) >= 2 * size:
            return f"{s / size:.4g} {unit}"
    return f"{s:.3g} s"


def _wei(wei: float) -> str:
    """An ETH amount in ETH, in gwei below a thousandth of an ETH, in wei below a thousandth of
    a gwei."""
    if abs(wei) >= 1e15:
        return f"{wei / 1e18:.6g} ETH"
    return f"{wei / 1e9:,.6g} gwei" if abs(wei) >= 1e6 else f"{wei:,.6g} wei"


def _lpt(x: float) -> str:
    return f"{x:,.2f} LPT"


def _inflation(ppb: float) -> str:
    return f"{ppb / 1e7:.5g} %"


def _span(pair: dict, fmt) -> Optional[str]:
    first, last = pair.get("first"), pair.get("last")
    if first is None:
        return None
    return fmt(first) if first == last else f"{fmt(first)} → {fmt(last)}"


def winners_range(mean: float, variance: float, level: float = 0.95) -> tuple[int, int]:
    """The central `level` range of the number of winning tickets, given the sum of the tickets'
    win probabilities (`mean`) and of p(1 - p) (`variance`): Poisson quantiles when tickets rarely
    win (variance close to the mean, where a normal band would go below zero), else the normal
    approximation of the Poisson-binomial, clipped at 0."""
    tail = (1 - level) / 2
    if variance >= 0.95 * mean and mean <= 500:
        lo = hi = None
        k, pmf = 0, math.exp(-mean)
        cdf = pmf
        while hi is None:
            if lo is None and cdf >= tail:
                lo = k
            if cdf >= 1 - tail:
                hi = k
            k += 1
            pmf *= mean / k
            cdf += pmf
        return lo, hi
    z = NormalDist().inv_cdf(1 - tail)
    sd = math.sqrt(variance)
    return max(0, math.floor(mean - z * sd)), math.ceil(mean + z * sd)


def _winners(tickets: dict) -> Optional[str]:
    mean, variance = tickets.get("won_expected"), tickets.get("won_variance")
    if mean is None or variance is None:
        return None
    lo, hi = winners_range(mean, variance)
    return f"{mean:,.2f} (95 % range {lo:,}–{hi:,})"


def _counts(values: dict, keys: tuple[str, ...]) -> Optional[str]:
    """"a / b" of the counts present, "—" for one not recorded; None if none was."""
    if all(values[k] is None for k in keys):
        return None
    return " / ".join("—" if values[k] is None else _count(values[k]) for k in keys)


def _latencies(stats: dict) -> Optional[str]:
    if not stats.get("count"):
        return None
    return " / ".join(_seconds(stats[q]) for q in ("p50", "p95", "p99"))


def summary_rows(summary: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    """The summary as sections of (label, value) rows, those without data left out: the one
    layout behind the terminal table and the report's table."""
    jobs, lat, tickets, fees = summary["jobs"], summary["latency"], summary["tickets"], summary["fees"]
    econ, sel = summary["economics"], summary["selection"]

    def rows(*pairs: tuple[str, Any]) -> list[tuple[str, str]]:
        return [(label, value) for label, value in pairs if value is not None]

    ok = jobs.get("success_rate")
    sections = [
        ("jobs", rows(
            ("total", _count(jobs["total"]) if jobs["total"] else None),
            ("completed", f"{_count(jobs['completed'])} ({_pct(ok)})" if ok is not None else None),
            ("failed", _count(jobs["failed"]) if jobs["total"] else None),
            ("rows kept", f"{_count(jobs['sampled_rows'])} (a {_pct(jobs['sample'])} sample)"
             if jobs.get("sampled_rows") is not None else None),
            *((f"  {reason}", _count(n)) for reason, n in
              sorted(jobs["failure_reasons"].items(), key=lambda kv: (-kv[1], kv[0]))),
            ("attempts / swaps", f"{_count(jobs['attempts'])} / {_count(jobs['swaps'])}"
             if jobs["attempts"] is not None and jobs["total"] else None),
            *((workload, f"{_count(w['total'])} jobs, {_pct(w['success_rate'])} completed")
              for workload, w in jobs["by_workload"].items() if len(jobs["by_workload"]) > 1),
        )),
        ("latency (completed jobs)", rows(
            ("p50 / p95 / p99", _latencies(lat)),
            ("mean", _seconds(lat["mean"]) if lat["count"] else None),
            *((f"{workload} p50/p95/p99", _latencies(w["latency"]))
              for workload, w in jobs["by_workload"].items() if len(jobs["by_workload"]) > 1),
        )),
        ("payments", rows(
            ("tickets sent / received", _counts(tickets, ("sent", "received"))),
            ("tickets won / redeemed", _counts(tickets, ("won", "redeemed"))),
            ("winning tickets expected", _winners(tickets)),
            ("tickets expired / pending", _counts(tickets, ("expired", "pending"))),
            ("fees expected", _wei(fees["expected_wei"]) if fees["expected_wei"] is not None else None),
            ("fees realised", (_wei(fees["realised_wei"]) + (f" ({_pct(fees['realised_ratio'])} of expected)"
                               if fees["realised_ratio"] is not None else ""))
             if fees["realised_wei"] is not None else None),
        )),
        ("economics", rows(
            ("rounds", _span(econ["rounds"], str)),
            ("inflation per round", _span(econ[M.INFLATION], _inflation)),
            ("bonding rate", _span(econ[M.BONDING_RATE], _pct)),
            ("total supply", _span(econ[M.TOTAL_SUPPLY], _lpt)),
            ("total bonded", _span(econ[M.TOTAL_BONDED], _lpt)),
            ("minted", _lpt(econ[M.MINTED]["total"]) if econ[M.MINTED]["total"] is not None else None),
            ("rewards", _lpt(summary["rewards"]["total_lpt"])
             if summary["rewards"]["total_lpt"] is not None else None),
            ("to the treasury", f"{_lpt(econ[M.TREASURY_MINTED]['total'])} (balance {_span(econ[M.TREASURY_BALANCE], _lpt)})"
             if econ.get(M.TREASURY_MINTED, {}).get("total") else None),
            ("active orchestrators", _span(econ[M.ACTIVE_ORCHESTRATORS], _count)),
        )),
        ("research", _research_rows(summary.get("research"))),
        ("selection", rows(
            ("orchestrators", _count(len(sel["orchestrators"])) if sel["orchestrators"] else None),
            ("stake vs job share (TVD)", f"{sel['total_variation']:.4f}"
             if sel["total_variation"] is not None else None),
            ("expected vs job (TVD)", f"{sel['total_variation_expected']:.4f}"
             if sel.get("total_variation_expected") is not None else None),
        )),
    ]
    return [(title, body) for title, body in sections if body]


def _research_rows(res: Optional[dict]) -> list[tuple[str, str]]:
    """lpsim.economics' figures; annual figures in brackets (labels kept short: one column)."""
    if not res or not res["rounds"]:
        return []
    sup, yld, bond, conc = res["supply"], res["yield"], res["bonding_rate"], res["concentration"]

    def opt(label: str, value: Any, fmt) -> list[tuple[str, str]]:
        return [] if value is None else [(label, fmt(value))]

    out = opt("supply growth (annual)", sup["growth"],
              lambda g: f"{_pct(g)} ({_pct(sup['growth_annualised'])})" if sup["growth_annualised"] is not None
              else _pct(g))
    out += opt("unstaked LPT dilution", sup["dilution"], _pct)
    out += opt("LPT yield (annual)", yld["lpt"],
               lambda y: f"{_pct(y)} ({_pct(yld['lpt_annualised'])})" if yld["lpt_annualised"] is not None else _pct(y))
    out += opt("USD yield (annual)", yld["usd"],
               lambda y: f"{_pct(y)} ({_pct(yld['usd_annualised'])})" if yld["usd_annualised"] is not None else _pct(y))
    out += opt("rounds below target", bond["rounds_below_target"],
               lambda n: f"{n} of {res['rounds']} (target {_pct(bond['target'])})")
    out += opt("stake Gini / Nakamoto", conc["gini"],
               lambda g: f"{g:.3f} / {conc['nakamoto']} (> {_pct(conc['nakamoto_threshold'])})")
    out += opt("top 1/5/10 stake share", conc["top1_share"],
               lambda _: " / ".join(_pct(conc[f"top{n}_share"]) for n in (1, 5, 10)))
    return out


def format_summary(summary: dict) -> str:
    """The summary as a compact aligned table for the terminal."""
    sections = summary_rows(summary)
    if not sections:
        return "(nothing recorded)"
    width = max(len(label) for _, body in sections for label, _ in body)
    lines = []
    for title, body in sections:
        lines.append(title)
        lines.extend(f"  {label:<{width}}  {value}" for label, value in body)
    return "\n".join(lines)
