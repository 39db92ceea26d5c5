"""`report.html`: one self-contained page per run (figures embedded as PNG, no script, nothing
fetched) with the run's header, the summary table and the figures a person looks at first:
selection vs stake, latency, success rate, tickets, expected vs realised fees, rewards and the
network's economics.

The page adapts to the run: a figure whose data the run did not record (no jobs in an
economics-only run, no tickets, no network rows) is left out, and one line at the end says which
and why; a run with network rows gets the economics panels (bonding rate against its target,
yield, stake concentration, treasury). The page is always written.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Union

from matplotlib.figure import Figure  # the object API: Agg canvas, no pyplot global state
from matplotlib.ticker import NullFormatter, StrMethodFormatter

from lpsim import metric_names as M
from lpsim.results import REPORT_FILE, TIMING_FILE, iter_jobs, load_results
from lpsim.summary import (EXTRA_KEYS, EXTRA_LABELS, duration, gateways, per_round, percentile, read_summary,
                           summarize, summary_rows)

__all__ = ["REPORT_FILE", "write_report"]

LABEL_LIMIT = 30  # label scatter points by orchestrator up to this many
TOP_ORCHESTRATORS = 5  # fee lines drawn for this many orchestrators

Tables = dict[str, Optional[list[dict[str, Any]]]]
Drawn = Union[Figure, str]  # a figure, or the note that replaces it


class NoData(str):
    """What a figure returns when the run recorded nothing for it: the page leaves the panel out
    (an economics run shows no ticket plots) and lists these reasons in one line at the end."""


# ---------------------------------------------------------------------------------------------
# series helpers


def _time_unit(times: list[float]) -> tuple[float, str]:
    """A divisor and unit that keep a time axis readable."""
    span = max(times, default=0) - min(times, default=0)
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if span >= 3 * size:
            return size, unit
    return 1, "seconds"


def round_axis(tables: Tables, summary: dict) -> tuple[Callable[[Any], list], str]:
    """x values for a list of rounds, and the axis label: each round's start as a calendar
    datetime when the run started from a recorded date (its rows carry a `date`; the summary
    has `start_date`), else the round number itself."""
    start = (summary.get("extra") or {}).get("start_date")
    metrics = tables.get("metrics") or []
    if not start or not metrics or "date" not in metrics[0]:
        return list, "round"
    origin, times = dt.datetime.fromisoformat(start), {}
    for r in metrics:
        times.setdefault(r["round"], r["time"])
    return (lambda rounds: [origin + dt.timedelta(seconds=times.get(rnd, 0.0)) for rnd in rounds]), "date"


def _dated(fig: Figure, label: str) -> None:
    if label == "date":
        for ax in fig.axes:
            ax.tick_params(axis="x", labelrotation=30)


def summed_series(rows: list[dict], metric: str) -> tuple[list[float], list[float]]:
    """A cumulative counter summed over the entities that report it, at every sample time (an
    entity counts with its latest sample until its next one)."""
    points = sorted(((r["time"], r["entity"], r["value"]) for r in rows if r["metric"] == metric),
                    key=lambda p: p[0])
    current: dict[str, float] = {}
    total, times, values = 0, [], []
    for t, entity, value in points:
        total += value - current.get(entity, 0)
        current[entity] = value
        if times and times[-1] == t:
            values[-1] = total
        else:
            times.append(t)
            values.append(total)
    return times, values


def entity_series(rows: list[dict], metric: str) -> dict[str, tuple[list[float], list[float]]]:
    """entity -> (times, values) of `metric`."""
    out: dict[str, tuple[list, list]] = {}
    for r in sorted((r for r in rows if r["metric"] == metric), key=lambda r: r["time"]):
        times, values = out.setdefault(r["entity"], ([], []))
        times.append(r["time"])
        values.append(r["value"])
    return out


def _figure(ncols: int = 1, width: float = 6.4) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width * ncols if ncols > 1 else width, 4.2), layout="constrained")
    return fig, fig.subplots(1, ncols)


# ---------------------------------------------------------------------------------------------
# figures: each takes the tables and the summary, returns a Figure or a note


def fig_selection(tables: Tables, summary: dict) -> Drawn:
    orchs = summary["selection"]["orchestrators"]
    # against the share the selection algorithm is expected to give (summary), else stake share
    key = "expected_share" if orchs and all(v.get("expected_share") is not None for v in orchs.values()) \
        else "stake_share"
    what = "expected share (selection algorithm)" if key == "expected_share" else "stake share"
    points = [(o, v[key], v["job_share"]) for o, v in orchs.items()
              if v[key] is not None and v["job_share"] is not None]
    if not points:
        return NoData("No completed jobs and stake shares to compare.")
    fig, (shares, ratios) = _figure(2, 5)
    label = len(points) <= LABEL_LIMIT
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    top = max(xs + ys) * 1.08 or 1
    shares.plot([0, top], [0, top], color="grey", lw=1, ls="--", label=f"job share = {what}")
    shares.scatter(xs, ys, s=22, zorder=3)
    shares.set(xlim=(0, top), ylim=(0, top), xlabel=f"{what} (end of run)",
               ylabel="job share (completed jobs)")
    tvd = summary["selection"]["total_variation_expected" if key == "expected_share" else "total_variation"]
    shares.set_title(f"{len(points)} orchestrators, total variation distance {tvd:.3f}", fontsize=10)
    shares.legend(loc="upper left", fontsize=8)
    # the same as a ratio on a log stake axis, where the many small orchestrators are not one blot
    staked = [p for p in points if p[1] > 0]
    ratios.axhline(1, color="grey", lw=1, ls="--")
    ratios.scatter([p[1] for p in staked], [p[2] / p[1] for p in staked], s=22, zorder=3)
    ratios.set(xscale="log" if staked else "linear", xlabel=f"{what} (log)",
               ylabel=f"job share / {what.split(' (')[0]}", title="job share over its expectation")
    ratios.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks overlap on short spans
    if label:
        for name, x, y in points:
            shares.annotate(name, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
        for name, x, y in staked:
            ratios.annotate(name, (x, y / x), xytext=(3, 3), textcoords="offset points", fontsize=7)
    return fig


def _completed_latencies(jobs: list[dict]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for j in jobs:
        if j["status"] == M.COMPLETED and j["latency"] is not None:
            out.setdefault(j["workload"], []).append(j["latency"])
    return {w: sorted(v) for w, v in sorted(out.items())}


def fig_latency(tables: Tables, summary: dict) -> Drawn:
    jobs = tables.get("jobs")
    if jobs is None:
        return NoData("Jobs were not recorded (metrics.jobs: false).")
    by_workload = _completed_latencies(jobs)
    if not by_workload:
        return NoData("No completed jobs.")
    everything = sorted(x for v in by_workload.values() for x in v)
    fig, (hist, ecdf) = _figure(2, 5)
    hist.hist(list(by_workload.values()), bins=min(60, max(10, len(everything) // 20)),
              label=list(by_workload), stacked=True)
    for workload, values in by_workload.items():
        n = len(values)
        ecdf.step(values, [(i + 1) / n for i in range(n)], where="post", label=workload)
    for q, style in ((50, "-"), (95, "--"), (99, ":")):
        x = percentile(everything, q)
        for ax in (hist, ecdf):
            ax.axvline(x, color="black", lw=1, ls=style, label=f"p{q} {x:.3g} s" if ax is ecdf else None)
    sample = summary.get("jobs", {}).get("sample")
    hist.set(xlabel="latency (s)", ylabel="jobs",
             title="histogram" if sample is None else f"histogram (the {100 * sample:g} % sample of jobs kept)")
    ecdf.set(xlabel="latency (s)", ylabel="fraction of completed jobs", ylim=(0, 1.01), title="ECDF per workload")
    if everything[0] > 0 and everything[-1] / everything[0] > 100:  # workloads of seconds and of minutes
        ecdf.set(xscale="log", xlabel="latency (s, log)")
    ecdf.legend(fontsize=8, loc="lower right")
    if len(by_workload) > 1:
        hist.legend(fontsize=8)
    return fig


def _success_from_jobs(jobs: list[dict]) -> list[tuple[str, list[float], list[float]]]:
    """The success rate in up to 40 equal windows of finishing time, and since the start."""
    done = sorted((j["finished"], j["status"] == M.COMPLETED) for j in jobs if j["finished"] is not None)
    if not done:
        return []
    times = [t for t, _ in done]
    ok, running = 0, []
    for i, (_, success) in enumerate(done):
        ok += success
        running.append(ok / (i + 1))
    t0, bins = times[0], max(1, min(40, len(done) // 10))
    width = (times[-1] - t0) / bins or 1
    totals, oks = [0] * bins, [0] * bins
    for t, success in done:
        b = min(int((t - t0) / width), bins - 1)
        totals[b] += 1
        oks[b] += success
    windows = [b for b in range(bins) if totals[b]]
    return [("per window", [t0 + (b + 0.5) * width for b in windows], [oks[b] / totals[b] for b in windows]),
            ("since the start", times, running)]


def _success_from_counters(metrics: list[dict]) -> list[tuple[str, list[float], list[float]]]:
    """Without jobs.csv: the gateways' completed and failed counters, carried forward."""
    gws = gateways(metrics)
    rows = [r for r in metrics if r["entity"] in gws]
    completed = dict(zip(*summed_series(rows, M.JOBS_COMPLETED)))
    failed = dict(zip(*summed_series(rows, M.JOBS_FAILED)))
    c = f = 0
    times, rates = [], []
    for t in sorted(set(completed) | set(failed)):
        c, f = completed.get(t, c), failed.get(t, f)
        if c + f:
            times.append(t)
            rates.append(c / (c + f))
    return [("since the start (gateway counters)", times, rates)] if times else []


def fig_success(tables: Tables, summary: dict) -> Drawn:
    jobs = tables.get("jobs")
    lines = _success_from_jobs(jobs) if jobs else _success_from_counters(tables.get("metrics") or [])
    if not lines:
        return NoData("No finished jobs.")
    scale, unit = _time_unit(lines[-1][1])
    fig, ax = _figure()
    for label, times, rates in lines:
        ax.plot([t / scale for t in times], rates, lw=1.2, marker="o" if label == "per window" else None,
                ms=3, label=label)
    ax.set(xlabel=f"simulated time ({unit})", ylabel="success rate", ylim=(-0.02, 1.02))
    ax.legend(fontsize=8, loc="lower left")
    return fig


def fig_tickets(tables: Tables, summary: dict) -> Drawn:
    metrics = tables.get("metrics") or []
    names = (M.TICKETS_SENT, M.TICKETS_WON, M.TICKETS_REDEEMED, M.TICKETS_EXPIRED)
    series = {name: summed_series(metrics, name) for name in names}
    series = {name: s for name, s in series.items() if any(s[1])}  # an economics run samples zeros
    if not series:
        return NoData("No tickets recorded.")
    scale, unit = _time_unit([t for times, _ in series.values() for t in times])
    fig, (sent_ax, won_ax) = _figure(2, 5)
    # tickets sent outnumber winners by the win probability's inverse: two axes keep both readable
    if M.TICKETS_SENT in series:
        times, values = series[M.TICKETS_SENT]
        sent_ax.plot([t / scale for t in times], values, label="sent")
    for name in names[1:]:
        if name in series:
            times, values = series[name]
            won_ax.plot([t / scale for t in times], values, label=name.removeprefix("tickets_"))
    # the number of winners is a sum of Bernoulli draws: its mean and a 95 % normal band around it
    mean_t, mean = summed_series(metrics, M.TICKETS_WON_EXPECTED)
    var = dict(zip(*summed_series(metrics, M.TICKETS_WON_VARIANCE)))
    if any(mean):
        half = [1.96 * var.get(t, 0.0) ** 0.5 for t in mean_t]
        won_ax.plot([t / scale for t in mean_t], mean, color="grey", ls="--", lw=1, label="won, expected")
        won_ax.fill_between([t / scale for t in mean_t], [max(m - h, 0) for m, h in zip(mean, half)],
                            [m + h for m, h in zip(mean, half)], color="grey", alpha=0.2, linewidth=0,
                            label="95 % band")
    won_ax.set(xlabel=f"simulated time ({unit})", ylabel="tickets (cumulative)", title="winning tickets")
    for ax in (sent_ax, won_ax):
        if ax.lines:
            ax.legend(fontsize=8)
    return fig


def fig_fees(tables: Tables, summary: dict) -> Drawn:
    metrics = tables.get("metrics") or []
    by_orch = {o: v for o, v in summary["fees"]["by_orchestrator"].items() if v["expected_wei"]}
    if not by_orch:
        return NoData("No fees recorded.")
    fig, (ratio_ax, lines_ax) = _figure(2, 5)
    names = list(by_orch)
    xs = [by_orch[o]["expected_wei"] / 1e18 for o in names]
    ys = [by_orch[o]["realised_ratio"] or 0 for o in names]
    ratio_ax.axhline(1, color="grey", lw=1, ls="--")
    ratio_ax.scatter(xs, ys, s=22, zorder=3)
    if len(names) <= LABEL_LIMIT:
        for name, x, y in zip(names, xs, ys):
            ratio_ax.annotate(name, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
    ratio_ax.set(xlabel="expected fees (ETH)", ylabel="realised / expected", title="at the end of the run")
    expected, realised = entity_series(metrics, M.FEES_EXPECTED), entity_series(metrics, M.FEES_REALISED)
    top = sorted(names, key=lambda o: -by_orch[o]["expected_wei"])[:TOP_ORCHESTRATORS]
    top = [o for o in top if o in expected]
    scale, unit = _time_unit([t for o in top for t in expected[o][0]])
    for i, o in enumerate(top):
        color = f"C{i}"
        times, values = expected[o]
        lines_ax.plot([t / scale for t in times], [v / 1e18 for v in values], color=color, ls="--", lw=1)
        if o in realised:
            times, values = realised[o]
            lines_ax.plot([t / scale for t in times], [v / 1e18 for v in values], color=color, lw=1.5, label=o)
    lines_ax.set(xlabel=f"simulated time ({unit})", ylabel="fees (ETH, cumulative)",
                 title=f"top {len(top)}: realised (solid) vs expected (dashed)")
    if lines_ax.get_legend_handles_labels()[0]:
        lines_ax.legend(fontsize=7)
    return fig


def fig_rewards(tables: Tables, summary: dict) -> Drawn:
    metrics = tables.get("metrics") or []
    per_round_total: dict[int, float] = {}
    for rounds in per_round(metrics, M.REWARD).values():
        for rnd, value in rounds.items():
            per_round_total[rnd] = per_round_total.get(rnd, 0) + value
    minted = per_round([r for r in metrics if r["entity"] == M.NETWORK], M.MINTED).get(M.NETWORK, {})
    if not per_round_total and not minted:
        return NoData("No rewards recorded.")
    fig, ax = _figure()
    x, xlabel = round_axis(tables, summary)
    if per_round_total:
        ax.bar(x(per_round_total), list(per_round_total.values()), width=0.8, label="rewards (orchestrators)")
    if minted:
        ax.plot(x(minted), list(minted.values()), color="C1", marker=".", lw=1, label="minted (network)")
    ax.set(xlabel=xlabel, ylabel="LPT per round")
    ax.legend(fontsize=8)
    _dated(fig, xlabel)
    return fig


def fig_network(tables: Tables, summary: dict) -> Drawn:
    network = [r for r in tables.get("metrics") or [] if r["entity"] == M.NETWORK]
    panels = ((M.INFLATION, "inflation (% per round)", 1e-7), (M.BONDING_RATE, "bonding rate (%)", 100),
              (M.TOTAL_SUPPLY, "total supply (LPT)", 1))
    series = {name: per_round(network, name).get(M.NETWORK, {}) for name, _, _ in panels}
    if not any(series.values()):
        return NoData("No network economics recorded.")
    fig, axes = _figure(3, 4)
    x, xlabel = round_axis(tables, summary)
    for ax, (name, label, factor) in zip(axes, panels):
        rounds = series[name]
        if rounds:
            ax.plot(x(rounds), [v * factor for v in rounds.values()], marker="." if len(rounds) < 60 else None)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set(xlabel=xlabel, title=label)
    axes[2].yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    _dated(fig, xlabel)
    return fig


TOP_STAKES = 10  # stake bars drawn one per orchestrator; the rest are one "others" bar


def fig_economics(tables: Tables, summary: dict) -> Drawn:
    """Bonding rate with its target, the per-round yield annualised, stake concentration, treasury."""
    network = [r for r in tables.get("metrics") or [] if r["entity"] == M.NETWORK]
    rates = per_round(network, M.BONDING_RATE).get(M.NETWORK, {})
    if not rates:
        return NoData("No network economics recorded.")
    research = summary.get("research") or {}
    fig = Figure(figsize=(10, 7.2), layout="constrained")
    (bond, yld), (conc, treas) = fig.subplots(2, 2)
    x, xlabel = round_axis(tables, summary)
    bond.plot(x(rates), [100 * v for v in rates.values()], lw=1.2, label="bonding rate")
    target = (research.get("bonding_rate") or {}).get("target")
    if target is not None:
        bond.axhline(100 * target, color="C3", ls="--", lw=1, label=f"target {100 * target:g} %")
    bond.set(xlabel=xlabel, ylabel="%", title="bonding rate")
    bond.legend(fontsize=8)
    minted = per_round(network, M.MINTED).get(M.NETWORK, {})
    treasury = per_round(network, M.TREASURY_MINTED).get(M.NETWORK, {})
    bonded = per_round(network, M.TOTAL_BONDED).get(M.NETWORK, {})
    round_s = research.get("round_s")
    ys = {r: (minted[r] - treasury.get(r, 0.0)) / bonded[r] for r in minted if bonded.get(r)}
    if ys and round_s:
        per_year = 365.25 * 86400 / round_s
        yld.plot(x(ys), [100 * y * per_year for y in ys.values()], lw=1.2)
        yld.set(ylabel="% a year (simple)", title="staking yield (LPT, before reward cuts)")
    else:
        yld.plot(x(ys), [100 * y for y in ys.values()], lw=1.2)
        yld.set(ylabel="% per round", title="staking yield (LPT, before reward cuts)")
    yld.set(xlabel=xlabel)
    stakes = sorted(((o, v["stake_lpt"]) for o, v in (research.get("orchestrators") or {}).items()
                     if v.get("stake_lpt")), key=lambda kv: -kv[1])
    if stakes:
        shown = stakes[:TOP_STAKES]
        others = sum(v for _, v in stakes[TOP_STAKES:])
        names = [o for o, _ in shown] + ([f"{len(stakes) - TOP_STAKES} others"] if others else [])
        values = [v for _, v in shown] + ([others] if others else [])
        conc.barh(names[::-1], values[::-1], color=["C1"] * (1 if others else 0) + ["C0"] * len(shown))
        c = research.get("concentration") or {}
        gini_text = f"Gini {c['gini']:.2f}, Nakamoto {c['nakamoto']}" if c.get("gini") is not None else ""
        conc.set(xlabel="stake (LPT, end of run)", title=f"stake concentration ({gini_text})")
        conc.tick_params(axis="y", labelsize=7)
    else:
        conc.set_axis_off()
    balance = per_round(network, M.TREASURY_BALANCE).get(M.NETWORK, {})
    inflation = per_round(network, M.INFLATION).get(M.NETWORK, {})
    if any(balance.values()):
        treas.plot(x(balance), list(balance.values()), lw=1.2, color="C2")
        treas.set(xlabel=xlabel, ylabel="LPT", title="treasury balance")
    else:  # no treasury cut: inflation is the more useful panel
        treas.plot(x(inflation), [v * 1e-7 for v in inflation.values()], lw=1.2)
        treas.set(xlabel=xlabel, ylabel="% per round", title="inflation (no treasury cut)")
    if xlabel == "date":
        for ax in (bond, yld, treas):
            ax.tick_params(axis="x", labelrotation=30)
    return fig


FIGURES: list[tuple[str, Callable[[Tables, dict], Drawn]]] = [
    ("Selection: job share vs expected share", fig_selection),
    ("Job latency", fig_latency),
    ("Success rate over time", fig_success),
    ("Tickets over time", fig_tickets),
    ("Payment variance: expected vs realised fees", fig_fees),
    ("Rewards per round", fig_rewards),
    ("Inflation, bonding rate and total supply", fig_network),
    ("Economics: bonding rate, yield, concentration, treasury", fig_economics),
]


# ---------------------------------------------------------------------------------------------
# the page


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _header(results_dir: Path, summary: dict) -> tuple[str, str]:
    """The page title and the line under it, from summary.json's extra fields."""
    extra = dict(summary.get("extra") or {})
    timing = results_dir / TIMING_FILE  # wall-clock figures live apart so summary.json is reproducible
    if timing.exists():
        extra.update(json.loads(timing.read_text()))
    title = str(extra.pop("scenario", None) or results_dir.resolve().name)
    if "seed" not in extra and summary.get("seed") is not None:
        extra["seed"] = summary["seed"]
    parts = []
    for key in [k for k in EXTRA_KEYS if k in extra] + sorted(k for k in extra if k not in EXTRA_KEYS):
        value = extra[key]
        if key.endswith("_s") and isinstance(value, (int, float)):  # seconds
            value = duration(value)
        parts.append(f"{EXTRA_LABELS.get(key, key.removesuffix('_s').replace('_', ' '))} {value}")
    return title, " · ".join(parts)


def _summary_table(summary: dict) -> str:
    rows = []
    for title, body in summary_rows(summary):
        rows.append(f'<tr><th colspan="2">{html.escape(title)}</th></tr>')
        rows.extend(f"<tr><td>{html.escape(label)}</td><td>{html.escape(value)}</td></tr>"
                    for label, value in body)
    return "<table>\n" + "\n".join(rows) + "\n</table>" if rows else '<p class="note">Nothing recorded.</p>'


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th { text-align: left; padding: 0.6em 0.4em 0.2em; border-bottom: 1px solid #ccc; }
td { padding: 0.1em 1.2em 0.1em 0.8em; } td:first-child { white-space: pre; color: #444; }
img { max-width: 100%; } .note { color: #777; font-style: italic; }
"""


def figure_section(heading: str, draw: Callable[[], Drawn]) -> list[str]:
    """A heading and its figure (embedded PNG) or note; a figure that fails becomes a note."""
    parts = [f"<h2>{html.escape(heading)}</h2>"]
    try:
        drawn = draw()
    except Exception as exc:  # one broken figure must not cost the person the whole page
        warnings.warn(f"report figure {heading!r} failed: {exc!r}", RuntimeWarning, stacklevel=2)
        drawn = f"This figure could not be drawn: {exc!r}"
    if isinstance(drawn, NoData):
        return []
    if isinstance(drawn, Figure):
        parts.append(f'<img alt="{html.escape(heading)}" src="data:image/png;base64,{_png(drawn)}">')
    else:
        parts.append(f'<p class="note">{html.escape(drawn)}</p>')
    return parts


def html_page(title: str, parts: list[str]) -> str:
    """A self-contained page: the style, the title, the given HTML parts."""
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>lpsim report: {html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")


_JOB_KEYS = ("workload", "status", "latency", "finished")  # what the figures read of a job row


def write_report(results_dir: str | Path) -> Path:
    """Build `report.html` in the results folder from its tables and summary.json (computed if
    absent) and return its path."""
    root = Path(results_dir)
    tables = load_results(root, ("metrics",))  # the figures read metrics and jobs only
    rows = iter_jobs(root)  # only the columns the figures read: a quarter of the row's memory
    tables["jobs"] = None if rows is None else [{k: j[k] for k in _JOB_KEYS} for j in rows]
    summary = read_summary(root) or summarize(root)  # the folder: a sampled run's counts come from its counters
    title, meta = _header(root, summary)
    parts = [f"<h1>{html.escape(title)}</h1>", f'<p class="meta">{html.escape(meta)}</p>',
             "<h2>Summary</h2>", _summary_table(summary)]
    missing = []
    for heading, draw in FIGURES:
        drawn: list[Drawn] = []  # what the figure returned, kept to name what it lacked

        def draw_once(draw=draw, drawn=drawn) -> Drawn:
            drawn.append(draw(tables, summary))
            return drawn[0]

        parts += figure_section(heading, draw_once)
        if drawn and isinstance(drawn[0], NoData):
            missing.append(f"{heading.split(':')[0].lower()} ({drawn[0].rstrip('.')})")
    if missing:
        parts.append(f'<p class="note">{html.escape("Not in this run: " + "; ".join(missing) + ".")}</p>')
    path = root / REPORT_FILE
    path.write_text(html_page(title, parts), encoding="utf-8")
    return path
