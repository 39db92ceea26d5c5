"""`lpsim validation`: the simulator against the real network, in one report — the inflation replay
on the real contracts fed the recorded bonding rate (validation case 7.1), and the fee-flow
scenario's Monte Carlo band of winning tickets and ETH per day against the recorded quarter (7.8)."""
from __future__ import annotations

import html
import json
from pathlib import Path

from .report import figure_section, html_page
from .validation import fee_flow_check, fee_flow_runs, plot_fee_flow, plot_inflation_replay, replay_inflation

WARM_UP = 1800.0  # seconds of the fee-flow run left out while streams ramp up


def write_validation_report(out: str | Path, *, runs: int = 5, backend=None, quarter: str = "2026Q1",
                            scenario: str | Path | None = None) -> tuple[Path, dict]:
    """Run both checks into `out` and write `validation.html` and `validation.json`."""
    from .scenario import load_scenario
    from .sweep import run_sweep

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    replay = replay_inflation()
    from scenarios import scenario_path  # package data: found in an installed lpsim too

    path = Path(scenario) if scenario else scenario_path("fee-flow")
    sweep = run_sweep(load_scenario(path), out / "fee-flow", backend=backend, runs=runs)
    flows = fee_flow_runs(out / "fee-flow", since_s=WARM_UP)
    check = fee_flow_check(flows, quarter)
    result = {"inflation_replay": {"compared": replay.compared, "matched": replay.matched,
                                   "match_rate": replay.match_rate,
                                   "mismatches": [r.date for r in replay.mismatches]},
              "fee_flow": check, "failed_runs": [r["error"] for r in sweep.failed]}
    (out / "validation.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    t, e = check["tickets_per_day"], check["eth_per_day"]
    parts = ["<h1>lpsim against the Livepeer network</h1>",
             f"<p class=\"meta\">{html.escape(replay.summary())}</p>",
             f"<p class=\"meta\">fee flow, {check['runs']} runs vs {html.escape(check['quarter'])}: winning tickets/day "
             f"{t['band'][0]:.0f}–{t['band'][1]:.0f} (recorded {t['recorded'][0]:.0f}–{t['recorded'][1]:.0f}), "
             f"ETH/day {e['band'][0]:.3f}–{e['band'][1]:.3f} (recorded {e['recorded'][0]:.3f}–{e['recorded'][1]:.3f}): "
             f"{'within' if check['ok'] else 'OUTSIDE'} the recorded range</p>"]
    parts += figure_section("Inflation: recorded vs replayed on the contracts", lambda: plot_inflation_replay(replay))
    parts += figure_section("Fee flow: simulated runs vs the recorded quarter", lambda: plot_fee_flow(flows, quarter))
    page = out / "validation.html"
    page.write_text(html_page("validation", parts), encoding="utf-8")
    return page, result
