"""The sweep's report: per point the mean with its bootstrap interval (and the paired difference
from the baseline under common seeds); each figure against each swept parameter (median line and
5-95 % band over the runs, one line per value of the other parameters); a heat map of the median
when two parameters are swept; fan charts over time and box plots per point. Self-contained HTML,
like a run's report; the parameter plots and heat maps are also written as figures/*.png."""
from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from . import metric_names as m
from .report import figure_section, html_page
from .sweep import FIGURE_UNITS, FIGURES, read_rows
from .sweep_stats import is_number

FAN_METRICS = ((m.BONDING_RATE, "bonding rate"), (m.INFLATION, "inflation (ppb per round)"),
               (m.TOTAL_SUPPLY, "total supply (LPT)"))
BOX_FIGURES = (("success_rate", "success rate"), ("latency_p95", "latency p95 (s)"),
               ("fees_realised_wei", "fees realised (wei)"), ("tickets_won", "winning tickets"),
               ("bonding_rate_last", "final bonding rate"), ("inflation_last", "final inflation (ppb)"),
               ("total_supply_last", "final total supply (LPT)"))


FIGURES_DIR = "figures"


def _label(values: dict) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in values.items()) or "base"


def fan_chart(out: Path, summary: dict):
    """Network metrics per round: median and 5-95 % band over the runs of each point."""
    series: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))  # metric -> point -> run -> round -> v
    with (out / "metrics.csv").open() as f:
        import csv

        for row in csv.DictReader(f):
            if row["entity"] == m.NETWORK and row["metric"] in dict(FAN_METRICS):
                series[row["metric"]][int(row["point"])][int(row["run"])][int(row["round"])] = float(row["value"])
    if not series:
        return "No network rows were recorded."
    fig = Figure(figsize=(11, 3.4 * len(FAN_METRICS)))
    labels = {pt["point"]: _label(pt["values"]) for pt in summary["points"]}
    for i, (metric, title) in enumerate(FAN_METRICS):
        ax = fig.add_subplot(len(FAN_METRICS), 1, i + 1)
        for point, runs in sorted(series[metric].items()):
            rounds = sorted({r for run in runs.values() for r in run})
            grid = np.array([[run.get(r, np.nan) for r in rounds] for run in runs.values()])
            median = np.nanmedian(grid, axis=0)
            line, = ax.plot(rounds, median, label=labels.get(point, str(point)))
            if grid.shape[0] > 1:
                lo, hi = np.nanpercentile(grid, [5, 95], axis=0)
                ax.fill_between(rounds, lo, hi, color=line.get_color(), alpha=0.2)
        ax.set_ylabel(title)
        ax.set_xlabel("round")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def box_plots(out: Path, summary: dict):
    rows = [r for r in read_rows(out / "runs.csv") if r["status"] == "ok"]
    shown = [(k, t) for k, t in BOX_FIGURES if any(r.get(k) not in ("", None) for r in rows)]
    if not rows or not shown:
        return "No finished runs."
    labels = {pt["point"]: _label(pt["values"]) for pt in summary["points"]}
    points = sorted({int(r["point"]) for r in rows})
    fig = Figure(figsize=(11, 2.8 * len(shown)))
    for i, (key, title) in enumerate(shown):
        ax = fig.add_subplot(len(shown), 1, i + 1)
        data = [[float(r[key]) for r in rows if int(r["point"]) == p and r[key] != ""] for p in points]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(points) + 1), [labels.get(p, str(p)) for p in points], fontsize="small")
        ax.set_ylabel(title)
    fig.tight_layout()
    return fig


def _cell(fig: dict) -> str:
    if not fig or fig.get("mean") is None:
        return "<td>—</td>"
    if fig.get("ci95"):
        lo, hi = fig["ci95"]
        return f"<td>{fig['mean']:.4g}<br><small>[{lo:.4g}, {hi:.4g}]</small></td>"
    return f"<td>{fig['mean']:.4g}</td>"


def _intervals_table(summary: dict, key: str = "figures") -> str:
    names = [k for k, _ in BOX_FIGURES]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for pt in summary["points"]:
        cells = "".join(_cell(pt.get(key, {}).get(n, {})) for n in names)
        failed = f" ({len(pt['failed'])} failed)" if pt["failed"] else ""
        rows.append(f"<tr><td>{html.escape(_label(pt['values']))}<br><small>{pt['runs_ok']} runs{failed}"
                    f"</small></td>{cells}</tr>")
    return f"<table><tr><th>point</th>{head}</tr>{''.join(rows)}</table>"


# ------------------------------------------------------------------ figures against the parameters

def _shown_figures(summary: dict) -> list[str]:
    """Figures with a value at some point and not one constant over every run of every point
    (tickets in a sweep without jobs are all 0: a flat panel says nothing)."""
    def varies(name: str) -> bool:
        stats = [pt["figures"].get(name, {}) for pt in summary["points"]]
        ends = {v for st in stats if st.get("p50") is not None for v in (st["min"], st["max"])}
        return len(ends) > 1
    return [n for n in FIGURES if varies(n)]


def _axis(summary: dict, param: str) -> tuple[dict, list, list]:
    """Positions of a parameter's values on an axis: the parsed number where every point has one,
    else the order of first appearance; and the ticks with their written labels."""
    parsed = {pt["point"]: pt.get("parsed_values", {}).get(param) for pt in summary["points"]}
    written = {pt["point"]: str(pt["values"].get(param)) for pt in summary["points"]}
    numeric = all(is_number(v) for v in parsed.values())
    order = list(dict.fromkeys(written.values()))
    pos = {p: float(parsed[p]) if numeric else float(order.index(written[p])) for p in parsed}
    ticks = sorted({(pos[p], written[p]) for p in parsed})
    return pos, [t for t, _ in ticks], [w for _, w in ticks]


def _title(name: str) -> str:
    unit = FIGURE_UNITS[name][0]
    return f"{name} ({unit})"


def parameter_plot(summary: dict, param: str):
    """Every figure against `param`: median over the runs, 5-95 % band; one line per combination
    of the other parameters' values."""
    names = _shown_figures(summary)
    if not names:
        return "No figure varies over the runs."
    others = [p for p in summary["parameters"] if p != param]
    pos, ticks, tick_labels = _axis(summary, param)
    groups: dict = defaultdict(list)
    for pt in summary["points"]:
        groups[tuple(str(pt["values"].get(o)) for o in others)].append(pt)
    cols = 3
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(5 * cols, 3.6 * rows))
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        for key, pts in groups.items():
            pts = sorted(pts, key=lambda pt: pos[pt["point"]])
            stats = [pt["figures"][name] for pt in pts]
            xs = [pos[pt["point"]] for pt, st in zip(pts, stats) if st.get("p50") is not None]
            med = [st["p50"] for st in stats if st.get("p50") is not None]
            if not xs:
                continue
            label = ", ".join(f"{o.split('.')[-1]}={v}" for o, v in zip(others, key)) or None
            line, = ax.plot(xs, med, marker="o", label=label)
            lo = [st["p5"] for st in stats if st.get("p50") is not None]
            hi = [st["p95"] for st in stats if st.get("p50") is not None]
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
            ax.vlines(xs, lo, hi, color=line.get_color(), alpha=0.5)  # the band where a point stands alone
        if len(ticks) <= 10:
            ax.set_xticks(ticks, tick_labels, fontsize="small")
        ax.set_xlabel(param)
        ax.set_title(_title(name), fontsize="medium")
        if others and i == 0:
            ax.legend(fontsize="x-small")
    fig.suptitle(f"median and 5-95 % band over the runs, against {param}")
    fig.tight_layout()
    return fig


def heat_maps(summary: dict):
    """The median of every figure over the grid of two swept parameters (rows: the first)."""
    if len(summary["parameters"]) != 2:
        return "A heat map needs exactly two swept parameters."
    a, b = summary["parameters"]
    names = _shown_figures(summary)
    if not names:
        return "No figure varies over the runs."
    (pos_a, ta, la), (pos_b, tb, lb) = _axis(summary, a), _axis(summary, b)
    cols = 3
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(5 * cols, 3.8 * rows))
    for i, name in enumerate(names):
        grid = np.full((len(ta), len(tb)), np.nan)
        for pt in summary["points"]:
            v = pt["figures"][name].get("p50")
            if v is not None:
                grid[ta.index(pos_a[pt["point"]]), tb.index(pos_b[pt["point"]])] = v
        ax = fig.add_subplot(rows, cols, i + 1)
        image = ax.imshow(grid, aspect="auto", origin="lower", cmap="viridis")
        ax.set_xticks(range(len(tb)), lb, fontsize="small")
        ax.set_yticks(range(len(ta)), la, fontsize="small")
        ax.set_xlabel(b)
        ax.set_ylabel(a)
        ax.set_title(f"median {_title(name)}", fontsize="medium")
        fig.colorbar(image, ax=ax)
        if grid.size <= 64:  # small grids: the numbers too
            for (r, c), v in np.ndenumerate(grid):
                if np.isfinite(v):
                    ax.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize="x-small",
                            bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0})
    fig.tight_layout()
    return fig


def paired_plot(summary: dict):
    """Under common seeds: each point's mean run-by-run difference from point 0, with its bootstrap
    interval; 0 (dotted) is no effect."""
    names = [n for n in _shown_figures(summary)
             if any((pt.get("paired") or {}).get(n, {}).get("mean") not in (None, 0.0) for pt in summary["points"])]
    if not names:
        return "No figure differs from the first point's."
    points = summary["points"][1:]
    cols = 3
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(5 * cols, 3.6 * rows))
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        stats = [pt["paired"][name] for pt in points]
        xs = [j for j, st in enumerate(stats) if st.get("mean") is not None]
        means = [stats[j]["mean"] for j in xs]
        lo = [m - (stats[j]["ci95"] or [m, m])[0] for j, m in zip(xs, means)]
        hi = [(stats[j]["ci95"] or [m, m])[1] - m for j, m in zip(xs, means)]
        ax.errorbar(xs, means, yerr=[lo, hi], fmt="o", capsize=4)
        ax.axhline(0, color="grey", linestyle=":", linewidth=1)
        few = len(points) <= 8  # else the points' numbers, as in the summary
        ax.set_xticks(range(len(points)), ["\n".join(map(str, pt["values"].values())) if few else str(pt["point"])
                                           for pt in points], fontsize="small")
        ax.set_xlabel(" / ".join(k.split(".")[-1] for k in summary["parameters"]) if few else "point")
        ax.set_title(f"{_title(name)} minus point 0", fontsize="medium")
    fig.suptitle(f"paired differences from point 0 ({_label(summary['points'][0]['values'])}): "
                 "mean and 95 % bootstrap interval")
    fig.tight_layout()
    return fig


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "x"


def _saved(out: Path, name: str, draw):
    """`draw`, and its figure written to figures/<name>.png too."""
    def run():
        drawn = draw()
        if isinstance(drawn, Figure):
            (out / FIGURES_DIR).mkdir(exist_ok=True)
            drawn.savefig(out / FIGURES_DIR / f"{name}.png", dpi=100)
        return drawn
    return run


def _few_runs(summary: dict) -> str:
    fewest = min((pt["runs_ok"] for pt in summary["points"]), default=0)
    return (f"; with as few as {fewest} runs a point's interval is too narrow (it sees only the spread "
            "those runs showed): read it as a range, not a confidence interval") if 1 < fewest < 10 else ""


def write_sweep_report(out: str | Path) -> Path:
    out = Path(out)
    for old in (out / FIGURES_DIR).glob("*.png"):  # an earlier report's, perhaps of other parameters
        old.unlink()
    summary = json.loads((out / "summary.json").read_text())
    stats = summary.get("statistics", {})
    parts = [f"<h1>Sweep: {html.escape(out.resolve().name)}</h1>",
             f'<p class="meta">mean over the Monte Carlo runs of each point and a {stats.get("level", 0.95):.0%} '
             f'interval of the mean ({html.escape(str(stats.get("interval")))}, {stats.get("resamples")} '
             f'resamples){_few_runs(summary)}</p>',
             _intervals_table(summary)]
    if summary.get("common_seeds"):
        parts += ["<h2>Paired differences from the first point (common seeds)</h2>",
                  '<p class="meta">mean of the run-by-run differences and its bootstrap interval</p>',
                  _intervals_table(summary, "paired")]
        parts += figure_section("Paired differences from the first point", _saved(out, "paired", lambda: paired_plot(summary)))
    for param in summary["parameters"]:
        parts += figure_section(f"Figures against {param}",
                                _saved(out, f"by-{_slug(param)}", lambda p=param: parameter_plot(summary, p)))
    if len(summary["parameters"]) == 2:
        parts += figure_section("Median over the two parameters", _saved(out, "heatmap", lambda: heat_maps(summary)))
    parts += figure_section("Network over time (median, 5-95 % band)", lambda: fan_chart(out, summary))
    parts += figure_section("Figures per point", lambda: box_plots(out, summary))
    provenance = summary.get("provenance") or {}
    parts.append('<p class="meta">' + html.escape(", ".join(f"{k}: {v}" for k, v in sorted(provenance.items())))
                 + "</p>")
    path = out / "report.html"
    path.write_text(html_page(f"sweep {out.name}", parts), encoding="utf-8")
    return path
