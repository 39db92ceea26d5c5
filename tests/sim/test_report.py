"""report.html from synthetic results: every figure when every table is there; a figure whose
data is missing is left out (never a crash) and named in one note at the end."""
from __future__ import annotations

import re

import pytest

from lpsim import metric_names as M
from lpsim.report import FIGURES, fig_fees, fig_selection, write_report
from lpsim.results import Recorder, load_results
from lpsim.summary import summarize, write_summary
from tests.sim.test_results import synthetic_recorder

# a figure that raised is replaced by a note and a RuntimeWarning: make that a failure here
pytestmark = pytest.mark.filterwarnings("error")

IMG = re.compile(r'<img alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]+">')


def notes(page: str) -> list[str]:
    return re.findall(r'<p class="note">(.*?)</p>', page)


def test_full_report(tmp_path):
    synthetic_recorder().write(tmp_path)
    extra = {"scenario": "synthetic net", "seed": 7, "duration_s": 7200.0, "wall_s": 1.25, "setup_s": 0.5,
             "backend": "revm", "zz_note": "x < y"}
    write_summary(tmp_path, summarize(tmp_path, extra))
    path = write_report(tmp_path)
    page = path.read_text()
    assert path == tmp_path / "report.html"
    assert len(IMG.findall(page)) == len(FIGURES) == 8 and not notes(page)
    assert "<h1>synthetic net</h1>" in page
    assert "seed 7 · duration 2 h · wall time 1.25 s · setup 0.5 s · backend revm · zz note x &lt; y" in page
    assert "<td>p50 / p95 / p99</td><td>2.500 s / 3.850 s / 3.970 s</td>" in page
    assert "<script" not in page and "http" not in page.split("</style>")[1]  # nothing fetched


def test_economics_only_run_degrades(tmp_path):
    """No jobs, no tickets, no fees: the economics figures, one note naming the rest; no summary.json
    either (the report computes it)."""
    rec = Recorder(run=0, seed=3, jobs=False)
    for rnd in range(1, 6):
        t = rnd * 100.0
        rec.metric(t, rnd, M.NETWORK, M.INFLATION, 1_000_000 - 500 * rnd)
        rec.metric(t, rnd, M.NETWORK, M.BONDING_RATE, 0.4 + 0.01 * rnd)
        rec.metric(t, rnd, M.NETWORK, M.TOTAL_SUPPLY, 1e6 + 10.0 * rnd)
        rec.metric(t, rnd, M.NETWORK, M.MINTED, 10.0)
        for o in range(3):
            rec.metric(t, rnd, f"orch-{o}", M.STAKE_SHARE, (o + 1) / 6)
            rec.metric(t, rnd, f"orch-{o}", M.REWARD, 10.0 * (o + 1) / 6)
    rec.write(tmp_path)
    page = write_report(tmp_path).read_text()
    assert len(IMG.findall(page)) == 3  # rewards per round; inflation, bonding rate, supply; economics
    assert notes(page) == [
        "Not in this run: selection (No completed jobs and stake shares to compare); "
        "job latency (Jobs were not recorded (metrics.jobs: false)); success rate over time (No finished jobs); "
        "tickets over time (No tickets recorded); payment variance (No fees recorded)."
    ]
    assert f"<h1>{tmp_path.name}</h1>" in page and "seed 3" in page


def test_missing_tables_degrade(tmp_path):
    """An empty folder, then metrics without network rows and an empty jobs table."""
    page = write_report(tmp_path).read_text()
    assert not IMG.findall(page) and notes(page)[0] == "Nothing recorded."
    assert notes(page)[1].count(";") == len(FIGURES) - 1  # every figure named as left out

    rec = Recorder(seed=1)
    rec.metric(50.0, 1, "gw-0", M.TICKETS_SENT, 4)
    rec.write(tmp_path)
    page = write_report(tmp_path).read_text()
    assert len(IMG.findall(page)) == 1  # tickets
    assert "(No completed jobs)" in notes(page)[-1] and "(No network economics recorded)" in notes(page)[-1]


@pytest.mark.parametrize("count, labelled", [(30, True), (40, False)])
def test_orchestrators_labelled_up_to_30(tmp_path, count, labelled):
    rec = Recorder()
    for o in range(count):
        rec.metric(10.0, 1, f"orch-{o}", M.STAKE_SHARE, 1 / count)
        rec.metric(10.0, 1, f"orch-{o}", M.FEES_EXPECTED, 1000 * (o + 1))
        rec.metric(10.0, 1, f"orch-{o}", M.FEES_REALISED, 900 * (o + 1))
        rec.job(f"j{o}", "gw-0", f"orch-{o}", M.TRANSCODING, "transcoding", 0.0, 0.5, M.COMPLETED, "",
                1, 0, 1, 1000)
    rec.write(tmp_path)
    tables = load_results(tmp_path)
    summary = summarize(tables)
    for draw in (fig_selection, fig_fees):
        ax = draw(tables, summary).axes[0]
        assert len(ax.texts) == (count if labelled else 0)
    assert len(fig_selection(tables, summary).axes[1].texts) == (count if labelled else 0)
    page = write_report(tmp_path).read_text()
    assert len(IMG.findall(page)) == 4  # selection, latency, success rate, fees
