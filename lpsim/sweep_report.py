"""The sweep's report: confidence intervals per point, fan charts over time (median and the 5-95 %
band across Monte Carlo runs, one colour per point) and box plots per point of the headline
figures. Self-contained HTML, like a run's report."""
from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from . import metric_names as m
from .report import figure_section, html_page
from .sweep import read_rows

FAN_METRICS = ((m.BONDING_RATE, "bonding rate"), (m.INFLATION, "inflation (ppb per round)"),
               (m.TOTAL_SUPPLY, "total supply (LPT)"))
BOX_FIGURES = (("success_rate", "success rate"), ("latency_p95", "latency p95 (s)"),
               ("fees_realised_wei", "fees realised (wei)"), ("tickets_won", "winning tickets"),
               ("bonding_rate_last", "final bonding rate"), ("inflation_last", "final inflation (ppb)"),
               ("total_supply_last", "final total supply (LPT)"))


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


def _intervals_table(summary: dict) -> str:
    names = [k for k, _ in BOX_FIGURES]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for pt in summary["points"]:
        cells = []
        for n in names:
            fig = pt["figures"].get(n, {})
            if fig.get("mean") is None:
                cells.append("<td>—</td>")
            elif fig.get("ci95"):
                lo, hi = fig["ci95"]
                cells.append(f"<td>{fig['mean']:.4g}<br><small>[{lo:.4g}, {hi:.4g}]</small></td>")
            else:
                cells.append(f"<td>{fig['mean']:.4g}</td>")
        failed = f" ({len(pt['failed'])} failed)" if pt["failed"] else ""
        rows.append(f"<tr><td>{html.escape(_label(pt['values']))}<br><small>{pt['runs_ok']} runs{failed}"
                    f"</small></td>{''.join(cells)}</tr>")
    return f"<table><tr><th>point</th>{head}</tr>{''.join(rows)}</table>"


def write_sweep_report(out: str | Path) -> Path:
    out = Path(out)
    summary = json.loads((out / "summary.json").read_text())
    parts = [f"<h1>Sweep: {html.escape(out.resolve().name)}</h1>",
             '<p class="meta">mean and 95 % confidence interval over the Monte Carlo runs of each point</p>',
             _intervals_table(summary)]
    parts += figure_section("Network over time (median, 5-95 % band)", lambda: fan_chart(out, summary))
    parts += figure_section("Figures per point", lambda: box_plots(out, summary))
    path = out / "report.html"
    path.write_text(html_page(f"sweep {out.name}", parts), encoding="utf-8")
    return path
