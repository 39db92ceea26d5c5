"""Validation against the real network (lpsim.validation, lpsim.data): the shipped tables equal what
scripts/derive_chain_data.py derives from the recorded data, the Minter replay on the contracts
matches the recorded inflation where the data determines it, and the fee-flow figures of a
synthetic results folder are worked out by hand."""
from __future__ import annotations

import csv
import importlib.util
import io
from fractions import Fraction
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from lpsim import data
from lpsim import metric_names as M
from lpsim.validation import (INFLATION_CHANGE, FeeFlow, RoundFeed, feed_schedule, fee_flow_check, fee_flow_per_day,
                              fee_flow_runs, plot_fee_flow, plot_inflation_replay, recorded_fee_range,
                              recorded_fee_series, replay_inflation)

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO.parent / "shared" / "data" / "livepeer-chain"
ETH = 10**18


def _script():
    spec = importlib.util.spec_from_file_location("derive_chain_data", REPO / "scripts" / "derive_chain_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------- the tables

@pytest.mark.skipif(not (SOURCE / "lpt-daily-data.json").exists(), reason="../shared/data/livepeer-chain not present")
def test_shipped_tables_are_what_the_script_derives():
    tables = _script().derive(SOURCE)
    assert set(tables) == {"inflation_daily.csv", "fees_daily.csv", "fee_quarters.csv"}
    for name, text in tables.items():
        assert (data.DATA_DIR / name).read_text() == text, f"{name} is stale: run scripts/derive_chain_data.py"


def test_script_round_geometry_is_the_package_one():
    script = _script()
    for r in (0, 2468, 2724, 2725, 2726, 4048, 4147):
        assert script.round_start_block(r) == data.round_start_block(r)


def test_inflation_table():
    rows = data.inflation_daily()
    assert len(rows) == 1502
    first, last = rows[0], rows[-1]
    assert (first["date"], first["inflation_ppb"], first["round"]) == ("2022-02-18", 220500, 2468)
    assert (last["date"], last["inflation_ppb"], last["round"]) == ("2026-03-30", 613500, 4147)
    assert min(r["inflation_ppb"] for r in rows) == 197000 and max(r["inflation_ppb"] for r in rows) == 702000
    # exact integers, and the derived columns agree with the recorded ones
    assert first["total_supply_wei"] == 24926847706370378993701155
    for r in rows:
        assert r["bonding_rate_ppb"] == r["bonded_wei"] * 10**9 // r["total_supply_wei"]
        assert r["l1_round_start_block"] == data.round_start_block(r["round"])
    # round geometry: LIP-83 and the on-chain anchor (round 4048 at L1 24,132,771)
    assert data.round_start_block(2725) == 15_696_000 == 2725 * 5760
    assert data.round_start_block(4048) == 24_132_771
    by_date = {r["date"]: r for r in rows}
    assert by_date["2026-01-01"]["round"] == 4048
    assert (by_date["2022-10-07"]["round"], by_date["2022-10-08"]["round"]) == (2724, 2725)
    # one initialisation per |Δ| = 500, two per 1000; the skipped round of 2022-06-23
    counts = {0: 0, 1: 0, 2: 0}
    for prev, r in zip(rows, rows[1:]):
        n = r["rounds_initialised"]
        counts[n] += 1
        assert abs(r["inflation_ppb"] - prev["inflation_ppb"]) in ({500} if n == 1 else {0, 1000} if n == 2 else {0})
        assert r["round"] - prev["round"] == n + (prev["date"] == "2022-06-23")
    assert counts == {0: 1, 1: 1322, 2: 178}
    assert sum(counts[n] * n for n in counts) == 1678


def test_fee_tables():
    days = data.fees_daily()
    assert len(days) == 1501 and days[0]["date"] == "2022-02-18" and days[-1]["date"] == "2026-03-29"
    q1 = data.fees_daily("2026Q1")
    assert len(q1) == 88
    rng = recorded_fee_range("2026Q1")
    assert rng == data.fee_quarters()["2026Q1"]
    assert (rng["days"], rng["first_date"], rng["last_date"]) == (88, "2026-01-01", "2026-03-29")
    assert (rng["tickets_min"], rng["tickets_max"]) == (314, 787)
    assert (rng["tickets_min"], rng["tickets_max"]) == (min(d["winning_tickets"] for d in q1), max(d["winning_tickets"] for d in q1))
    assert rng["eth_min"] == pytest.approx(min(d["fees_eth"] for d in q1), abs=1e-6) == pytest.approx(0.725325)
    assert rng["eth_max"] == pytest.approx(2.022183)
    assert rng["tickets_median"] == 565.5 and rng["eth_median"] == pytest.approx(1.274027)
    assert rng["eth_per_ticket_median"] == pytest.approx(0.0022837)
    for spelling in ("2026-Q1", "Q1-2026", "q1 2026"):
        assert recorded_fee_range(spelling) == rng
    assert recorded_fee_series("Q1 2026") == q1
    with pytest.raises(ValueError):
        recorded_fee_range("2027Q1")
    with pytest.raises(ValueError):
        recorded_fee_range("2026Q5")


# ----------------------------------------------------------------------------- the replay

def test_feed_schedule():
    rows = data.inflation_daily()
    by_date = {r["date"]: i for i, r in enumerate(rows)}
    feeds = feed_schedule(rows)
    assert len(feeds) == 1678 and feeds[0].round == 2469 and feeds[-1].round == 4147
    assert all(b.round > a.round for a, b in zip(feeds, feeds[1:]))
    # a sampled round reads its sample's bonded stake (exact) and the previous sample's supply
    i = by_date["2022-02-20"]
    f = next(f for f in feeds if f.sample == i)
    assert f == RoundFeed(2471, rows[i]["bonded_wei"], rows[i - 1]["total_supply_wei"], i)
    # a round between two samples reads the midpoint of their bonded stakes
    i = by_date["2022-02-19"]  # two initialisations since 2022-02-18: rounds 2469 (no sample) and 2470
    assert feeds[0] == RoundFeed(2469, (rows[i - 1]["bonded_wei"] + rows[i]["bonded_wei"]) // 2,
                                 rows[i - 1]["total_supply_wei"], None)
    # the skipped round 2605 (nobody initialised it) is not in the schedule
    assert 2605 not in {f.round for f in feeds} and {2604, 2606} <= {f.round for f in feeds}
    assert feeds[0].bonding_rate_ppb == feeds[0].bonded * 10**9 // feeds[0].supply


@pytest.fixture(scope="module")
def replays():
    return {"resync": replay_inflation(), "free": replay_inflation(resync=False)}


def test_full_replay_matches_the_recorded_inflation(replays):
    r = replays["resync"]
    assert (r.compared, r.matched) == (1501, 1500)
    assert [m.date for m in r.mismatches] == ["2023-02-03"]
    bad = r.mismatches[0]
    assert (bad.round, bad.rounds_initialised, bad.recorded_inflation, bad.replayed_inflation) == (2858, 2, 202000, 203000)
    assert bad.reseeded and sum(x.reseeded for x in r.rows) == 1
    assert r.match_rate == pytest.approx(1500 / 1501)


def test_free_running_replay_is_offset_by_one_undetermined_round(replays):
    r = replays["free"]
    assert (r.compared, r.matched) == (1501, 349)
    assert r.offsets() == {0: 349, 1000: 1152}
    assert r.mismatches[0].date == "2023-02-03" and all(x.match for x in r.rows if x.date < "2023-02-03")
    assert not any(x.reseeded for x in r.rows)
    replayed = [x.replayed_inflation for x in r.rows]
    assert min(replayed) == 197000 and max(replayed) == 703000 and replayed[-1] == 614500


def test_every_initialisation_steps_by_exactly_500(replays):
    for r in replays.values():
        assert len(r.steps) == 1678
        assert all(abs(after - before) == INFLATION_CHANGE for _, before, after in r.steps)
        for row in r.rows:  # over the matched rounds, the replay steps as the recorded series can
            n = row.rounds_initialised
            assert row.replayed_step in ({-500, 500} if n == 1 else {-1000, 0, 1000} if n == 2 else {0})
        assert r.start.replayed_inflation == 220500 and r.start.date == "2022-02-18"
        assert r.seconds < 60


def test_replay_starting_after_lip83():
    r = replay_inflation("2025-09-01", "2025-10-31")
    assert r.start.recorded_inflation == 681500 and r.rows[0].round > data.LIP83_ROUND
    assert (r.compared, r.matched) == (60, 60)
    assert max(x.replayed_inflation for x in r.rows) == 702000  # the peak


def test_replay_table_and_plot(replays):
    r = replays["resync"]
    table = r.table()
    assert table[0]["date"] == "2022-02-19" and set(table[0]) >= {
        "round", "date", "recorded_inflation", "replayed_inflation", "recorded_bonding_rate", "match"}
    assert "1500 of 1501" in r.summary()
    fig = plot_inflation_replay(r)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    fig.savefig(io.BytesIO(), format="png")
    assert isinstance(plot_inflation_replay(table), Figure)


# -------------------------------------------------------------------------------- fee flow

def _write_metrics(folder: Path, rows: list[tuple], run: str = "0", seed: int = 7) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("run", "seed", "time", "round", "entity", "metric", "value"))
        for t, entity, metric, value in rows:
            w.writerow((run, seed, repr(float(t)), 1, entity, metric, value))


# Two orchestrators over two simulated hours, sampled at 0, 3600 and 7200 s; a gateway's and the
# network's rows must be ignored. Face value 0.002 ETH.
SYNTHETIC = [
    (0, "orch-0", M.TICKETS_WON, 0), (0, "orch-0", M.TICKETS_REDEEMED, 0),
    (0, "orch-0", M.FEES_REALISED, 0), (0, "orch-0", M.FEES_EXPECTED, 0.0),
    (3600, "orch-0", M.TICKETS_WON, 10), (3600, "orch-0", M.TICKETS_REDEEMED, 8),
    (3600, "orch-0", M.FEES_REALISED, 8 * 2 * 10**15), (3600, "orch-0", M.FEES_EXPECTED, 1.9e16),
    (7200, "orch-0", M.TICKETS_WON, 25), (7200, "orch-0", M.TICKETS_REDEEMED, 24),
    (7200, "orch-0", M.FEES_REALISED, 24 * 2 * 10**15), (7200, "orch-0", M.FEES_EXPECTED, 5.1e16),
    (3600, "orch-1", M.TICKETS_WON, 5), (3600, "orch-1", M.TICKETS_REDEEMED, 5),
    (3600, "orch-1", M.FEES_REALISED, 5 * 2 * 10**15), (3600, "orch-1", M.FEES_EXPECTED, 0.9e16),
    (7200, "orch-1", M.TICKETS_WON, 7), (7200, "orch-1", M.TICKETS_REDEEMED, 6),
    (7200, "orch-1", M.FEES_REALISED, 6 * 2 * 10**15), (7200, "orch-1", M.FEES_EXPECTED, 1.3e16),
    (7200, "gw-0", M.TICKETS_SENT, 5000), (7200, "network", M.INFLATION, 613500),
]


def test_fee_flow_per_day_by_hand(tmp_path):
    _write_metrics(tmp_path, SYNTHETIC)
    f = fee_flow_per_day(tmp_path)
    # totals at the last sample: won 25 + 7, redeemed 24 + 6, realised 30 × 0.002 ETH; 2 h = 1/12 day
    assert (f.run, f.seed, f.duration_s) == ("0", 7, 7200.0)
    assert (f.tickets_won, f.tickets_redeemed, f.fees_realised_wei) == (32, 30, 60 * 10**15)
    assert f.tickets_won_per_day == 32 * 12 and f.tickets_per_day == 30 * 12
    assert f.eth_per_day == pytest.approx(0.06 * 12)
    assert f.expected_eth_per_day == pytest.approx(0.064 * 12)
    # the second hour only: won 15 + 2, redeemed 16 + 1, realised 17 × 0.002 ETH, over 1/24 day
    g = fee_flow_per_day(tmp_path, since_s=3600)
    assert (g.duration_s, g.tickets_won, g.tickets_redeemed, g.fees_realised_wei) == (3600.0, 17, 17, 34 * 10**15)
    assert g.tickets_per_day == 17 * 24 and g.eth_per_day == pytest.approx(0.034 * 24)
    # an explicit duration (a run whose last sample is before its end)
    assert fee_flow_per_day(tmp_path, duration_s=14400).tickets_per_day == 30 * 6
    d = f.as_dict()
    assert d["tickets_per_day"] == 360 and d["eth_per_day"] == pytest.approx(0.72)


def test_fee_flow_runs_of_a_sweep_folder(tmp_path):
    _write_metrics(tmp_path / "point-0" / "run-1", SYNTHETIC, run="1", seed=11)
    _write_metrics(tmp_path / "point-0" / "run-0", SYNTHETIC[:12], run="0", seed=10)  # orch-0 only
    _write_metrics(tmp_path / "point-1" / "run-0", SYNTHETIC, run="0", seed=12)
    flows = fee_flow_runs(tmp_path)
    assert [(f.run, f.seed) for f in flows] == [("point-0/run-0", 10), ("point-0/run-1", 11), ("point-1/run-0", 12)]
    assert [f.tickets_redeemed for f in flows] == [24, 30, 30]
    assert fee_flow_runs(tmp_path / "point-0" / "run-1")[0].tickets_redeemed == 30  # one run's own folder


def test_fee_flow_check_and_plot():
    rec = recorded_fee_range("2026Q1")
    inside = [FeeFlow(str(i), i, 86400.0, n, n, n * 2_280_000_000_000_000, 0.0) for i, n in enumerate((450, 520, 600))]
    check = fee_flow_check(inside, "2026Q1")
    assert check["ok"] and check["runs"] == 3
    assert check["tickets_per_day"]["band"] == (450, 600) and check["tickets_per_day"]["within_p05_p95"]
    assert check["eth_per_day"]["band"] == pytest.approx((1.026, 1.368))
    assert check["tickets_per_day"]["recorded"] == (rec["tickets_min"], rec["tickets_max"])
    outside = inside + [FeeFlow("x", 9, 86400.0, 900, 900, 900 * 2_280_000_000_000_000, 0.0)]
    assert not fee_flow_check(outside)["ok"]
    fig = plot_fee_flow(inside, "2026Q1")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    fig.savefig(io.BytesIO(), format="png")
    assert isinstance(plot_fee_flow([(500, 1.1), (560, 1.3)], recorded_fee_series("2026Q1")), Figure)
    assert isinstance(plot_fee_flow([{"tickets_per_day": 500, "eth_per_day": 1.2}]), Figure)


def test_fee_flow_scenario_is_calibrated_to_q1_2026():
    from lpsim.scenario import load_scenario
    from node.core.pricing import LIVE_VIDEO_UNITS_PER_SECOND

    sc = load_scenario(REPO / "scenarios" / "fee-flow.yaml")
    rec = recorded_fee_range("2026Q1")
    face = 100 * sc.chain.redeem_gas * sc.chain.gas_price  # go's txCostMultiplier × redemption cost
    assert face == 2_280_000_000_000_000
    assert face / ETH == pytest.approx(rec["eth_per_ticket_median"], rel=0.01)
    orch, gw = sc.orchestrators[0], sc.gateways[0]
    w = gw.demand[0]
    assert w.type == "live_ai" and orch.ticket_ev <= gw.max_ticket_ev
    assert gw.deposit >= 100 * face  # the max float does not cap the face value
    sessions = gw.count * w.arrival.rate * w.session_duration.mean_  # streaming at once, on average
    price = orch.ai_prices["live-video-to-video"] * Fraction(101, 100)  # go's auto-adjustment: + 1/txCostMultiplier
    eth_per_day = float(sessions * 86400 * LIVE_VIDEO_UNITS_PER_SECOND * price) / ETH
    tickets_per_day = eth_per_day * ETH / face
    assert rec["eth_p05"] < eth_per_day < rec["eth_p95"]
    assert rec["tickets_p05"] < tickets_per_day < rec["tickets_p95"]


def test_validation_report_puts_both_comparisons_on_one_page(tmp_path):
    from lpsim.backends import LocalBackend
    from lpsim.validation_report import write_validation_report

    page, result = write_validation_report(tmp_path, runs=1, backend=LocalBackend())
    assert result["inflation_replay"]["matched"] == 1500 and result["inflation_replay"]["compared"] == 1501
    assert result["fee_flow"]["runs"] == 1 and result["fee_flow"]["ok"]
    assert page.read_text().count("<img") == 2
