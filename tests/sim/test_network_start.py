"""Starting from the recorded network: the day's inflation, supply and bonded total reach the
chain exactly, the active set is mainnet's, rounds map to dates, and a bad date names the field
and its line."""
import pytest

from lpsim import metric_names as m
from lpsim.engine import Simulation
from lpsim.network_start import date_of_round, network_day, scale_stakes
from lpsim.results import load_results
from lpsim.scenario import ScenarioError, parse_scenario

LPT = 10**18
TEXT = """
name: from-network
seed: 4
duration: 3 rounds
start: {from_network: "2024-06-01"}
chain: {round_length: 20}
orchestrators:
  - {name: o, count: 6, stake: {dist: pareto, scale: 50000 LPT, shape: 1.5}}
delegators:
  - {name: d, count: 4, stake: 1000 LPT, claim_every: null}
metrics: {sample_every: 1 rounds, jobs: false}
"""


def test_the_recorded_day_from_the_data_files():
    day = network_day("2024-06-01")
    # lpsim/data/inflation_daily.csv, row 2024-06-01 (from lpt-daily-data.json at that day's block)
    assert day.inflation_ppb == 472000 and day.round == 3398
    assert day.total_supply_wei == 32_538_548_082_736_942_830_587_257
    assert day.bonded_wei == 13_653_572_623_956_976_557_480_277


def test_a_run_starts_with_the_recorded_supply_bonded_and_inflation(tmp_path):
    sc = parse_scenario(TEXT, "from-network.yaml")
    day = network_day("2024-06-01")
    params = sc.protocol_params()
    assert params.inflation == day.inflation_ppb and params.num_active_transcoders == 100
    sim = Simulation(sc)
    p = sim.world.protocol
    assert p.LivepeerToken.totalSupply() == day.total_supply_wei
    assert p.BondingManager.getTotalBonded() == day.bonded_wei  # the scaled draws, to the wei
    stakes = sorted(o.genesis_stake for o in sim.orchestrators)
    assert stakes[-1] > 2 * stakes[0]  # the groups' Pareto shape is kept
    sim.run()
    summary = sim.finish(tmp_path)
    assert summary["extra"]["start_date"] == "2024-06-01"
    assert summary["extra"]["end_date"] == "2024-06-01"  # 3 rounds of 20 blocks: minutes
    first = next(r for r in sim.rec.metric_rows if r[2] == m.NETWORK and r[3] == m.INFLATION)
    # the recorded value, moved by the Minter's ±500 ppb steps of the rounds initialised since genesis
    assert first[4] != day.inflation_ppb and abs(first[4] - day.inflation_ppb) in (500, 1000)
    explicit = parse_scenario(TEXT.replace("round_length: 20}", "round_length: 20, params: {inflation: 1000}}"))
    assert explicit.protocol_params().inflation == 1000  # the scenario's own value wins


def test_rounds_map_to_dates():
    assert date_of_round("2024-06-01", 10, 10, 76524) == "2024-06-01"
    assert date_of_round("2024-06-01", 12, 10, 76524) == "2024-06-02"  # 2 × 21.3 h
    assert date_of_round("2024-06-01", 10 + 412, 10, 76524) == "2025-05-31"  # 364.9 days


def test_scaling_is_exact():
    assert sum(scale_stakes([3, 5, 7, 11], 10**25 + 7)) == 10**25 + 7
    with pytest.raises(ValueError, match="no stake"):
        scale_stakes([0, 0], 10)


@pytest.mark.parametrize("value, message", [
    ('"2024-13-01"', "expected a date YYYY-MM-DD between 2022-02-18 and 2026-03-30"),
    ('"June 1"', "expected a date YYYY-MM-DD"),
    ("2019-01-01", "2019-01-01 is outside the recorded network data (2022-02-18 .. 2026-03-30)"),
])
def test_a_bad_date_names_the_field_and_the_line(value, message):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(TEXT.replace('"2024-06-01"', value), "bad.yaml")
    text = str(err.value)
    assert "line 5" in text and "start.from_network" in text and message in text, text


def test_metrics_have_a_date_column_on_the_calendar(tmp_path):
    daily = TEXT.replace("round_length: 20}", "round_length: 7200}")  # 7200 × 12 s: a round a day
    sim = Simulation(parse_scenario(daily))
    sim.run()
    sim.finish(tmp_path / "dated")
    rows = load_results(tmp_path / "dated")["metrics"]
    supply = [(r["round"] - sim.first_round, r["date"]) for r in rows if r["metric"] == m.TOTAL_SUPPLY]
    assert supply == [(0, "2024-06-01"), (1, "2024-06-02"), (2, "2024-06-03")]
    plain = Simulation(parse_scenario(daily.replace('start: {from_network: "2024-06-01"}\n', "")))
    plain.run()
    plain.finish(tmp_path / "plain")
    assert "date" not in load_results(tmp_path / "plain")["metrics"][0]


def test_entrants_come_out_of_the_recorded_unbonded_supply():
    text = TEXT + "  - {name: new, count: 2, stake: 5000 LPT, bonded_at_start: false, policy: enter_and_exit}\n"
    text = text.replace("metrics: {sample_every: 1 rounds, jobs: false}\n", "") + \
        "metrics: {sample_every: 1 rounds, jobs: false}\n"
    sim = Simulation(parse_scenario(text.replace("  - {name: d,", "  - {name: d,")))
    p, day = sim.world.protocol, network_day("2024-06-01")
    assert p.LivepeerToken.totalSupply() == day.total_supply_wei
    assert p.BondingManager.getTotalBonded() == day.bonded_wei
    assert p.LivepeerToken.balanceOf(sim.delegators[-1].address) == 5000 * LPT


def test_the_recorded_parameters_survive_overrides():
    sc = parse_scenario(TEXT).with_overrides({"chain.params.inflation_change": 700})
    assert sc.protocol_params().inflation == network_day("2024-06-01").inflation_ppb
    assert sc.protocol_params().inflation_change == 700
    assert "inflation: 472000" in parse_scenario(TEXT).to_yaml()  # the resolved scenario says what ran
