"""The report adapts to the scenario: a run with jobs gets the job, ticket and fee panels; an
economics run gets the economics panels and no empty ticket plots; every panel shown has data."""
import re

import pytest

from lpsim.engine import Simulation
from lpsim.report import fig_economics, fig_latency, fig_selection, fig_tickets, write_report
from lpsim.results import load_results
from lpsim.scenario import parse_scenario
from lpsim.summary import read_summary
from tests.sim.test_economics_metrics import TEXT as ECONOMICS
from tests.sim.test_engine import SMALL

pytestmark = pytest.mark.filterwarnings("error")  # a figure that raised would warn


def _run(tmp_path, text, name):
    sim = Simulation(parse_scenario(text, f"{name}.yaml"))
    sim.run()
    sim.finish(tmp_path)
    page = write_report(tmp_path).read_text()
    sections = re.findall(r"<h2>(.*?)</h2>\s*(<img|<p)", page)
    return {heading: tag for heading, tag in sections}, page


def test_economics_run_gets_the_economics_page_and_no_job_panels(tmp_path):
    sections, page = _run(tmp_path, ECONOMICS, "econ")
    figures = {h: t for h, t in sections.items() if h != "Summary"}
    assert set(figures) == {"Rewards per round", "Inflation, bonding rate and total supply",
                            "Economics: bonding rate, yield, concentration, treasury"}
    assert all(tag == "<img" for tag in figures.values())  # every panel shown is a figure
    assert "Not in this run: selection" in page and "tickets over time (No tickets recorded)" in page
    fig = fig_economics(load_results(tmp_path), read_summary(tmp_path))
    bond, yld, conc, treas = fig.axes
    assert [line.get_label() for line in bond.get_lines()] == ["bonding rate", "target 50 %"]
    assert len(yld.get_lines()[0].get_xdata()) == 8 and treas.get_title() == "treasury balance"
    assert max(treas.get_lines()[0].get_ydata()) > 0 and len(conc.patches) == 5  # 5 orchestrators


def test_jobs_run_gets_the_job_panels(tmp_path):
    sections, _ = _run(tmp_path, SMALL.replace("duration: 40 min", "duration: 12 min"), "small")
    for heading in ("Selection: job share vs expected share", "Job latency", "Tickets over time",
                    "Payment variance: expected vs realised fees"):
        assert sections.get(heading) == "<img", heading
    # the selection algorithm's expected share (default weights: 0.7 × stake share + 0.3 / n)
    orchs = read_summary(tmp_path)["selection"]["orchestrators"]
    for v in orchs.values():
        assert v["expected_share"] == pytest.approx(0.7 * v["stake_share"] + 0.3 / len(orchs), rel=1e-9)
    latency = fig_latency(load_results(tmp_path), read_summary(tmp_path))
    ecdf_labels = [line.get_label() for line in latency.axes[1].get_lines()]
    assert {"transcoding", "batch_ai"} <= set(ecdf_labels)  # one curve per workload
    tickets = fig_tickets(load_results(tmp_path), read_summary(tmp_path))
    won_ax = tickets.axes[1]
    assert "won, expected" in [line.get_label() for line in won_ax.get_lines()] and won_ax.collections  # band
    fig = fig_selection(load_results(tmp_path), read_summary(tmp_path))
    assert fig.axes[0].get_xlabel() == "expected share (selection algorithm) (end of run)"


def test_100_orchestrators_are_top_10_and_others():
    rows, orchs = [], {f"o{i}": {"stake_lpt": 1000.0 + i} for i in range(100)}
    for rnd in (1, 2):
        rows.append({"time": rnd * 100.0, "round": rnd, "entity": "network", "metric": "bonding_rate", "value": 0.5})
    summary = {"research": {"orchestrators": orchs, "concentration": {"gini": 0.01, "nakamoto": 50}}}
    fig = fig_economics({"metrics": rows}, summary)
    labels = [t.get_text() for t in fig.axes[2].get_yticklabels()]
    assert len(fig.axes[2].patches) == 11 and "90 others" in labels and "o99" in labels


def test_a_run_on_the_calendar_plots_rounds_at_their_dates(tmp_path):
    from tests.sim.test_network_start import TEXT as FROM_NETWORK

    _run(tmp_path, FROM_NETWORK.replace("round_length: 20}", "round_length: 7200}"), "dated")
    tables, summary = load_results(tmp_path), read_summary(tmp_path)
    fig = fig_economics(tables, summary)
    bond = fig.axes[0]
    assert bond.get_xlabel() == "date"
    days = [str(x)[:10] for x in bond.get_lines()[0].get_xdata()]
    assert days == ["2024-06-01", "2024-06-02", "2024-06-03"]
    assert fig_economics({"metrics": tables["metrics"]}, {}).axes[0].get_xlabel() == "round"  # no start date
