"""The research figures (lpsim.economics) on a short run with a treasury cut, checked against the
Minter's rule and the supply recorded, and the concentration measures on known distributions."""
import pytest

from lpsim import metric_names as m
from lpsim.economics import economics, gini, nakamoto, top_share
from lpsim.engine import Simulation
from lpsim.results import load_results
from lpsim.scenario import parse_scenario
from lpsim.summary import format_summary, per_round
from tests.sim.test_engine import ECONOMICS

TEXT = ECONOMICS.replace("duration: 30 rounds", "duration: 8 rounds").replace(
    "target_bonding_rate: 50%}", "target_bonding_rate: 50%, treasury_reward_cut_rate: 10%}")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("econ")
    sim = Simulation(parse_scenario(TEXT, "treasury.yaml"))
    sim.run()
    summary = sim.finish(out)
    return load_results(out)["metrics"], summary, sim.scenario


def test_supply_growth_is_the_minted_total_and_treasury_plus_rewards_add_up(run):
    metrics, summary, _ = run
    e = economics(metrics)
    net = {name: per_round(metrics, name)[m.NETWORK] for name in (m.MINTED, m.TREASURY_MINTED, m.TOTAL_SUPPLY)}
    minted = sum(net[m.MINTED].values())
    assert e["supply"]["end_lpt"] - e["supply"]["start_lpt"] == pytest.approx(minted, rel=1e-9)
    rewards = sum(sum(rs.values()) for rs in per_round(metrics, m.REWARD).values())
    assert e["treasury"]["minted_lpt"] + rewards == pytest.approx(minted, rel=1e-9)
    assert e["treasury"]["minted_lpt"] == pytest.approx(0.1 * minted, rel=1e-9)
    assert e["treasury"]["balance_lpt"] == pytest.approx(e["treasury"]["minted_lpt"], rel=1e-9)
    assert e["supply"]["dilution"] == pytest.approx(1 - e["supply"]["start_lpt"] / e["supply"]["end_lpt"])
    assert summary["research"]["supply"]["growth"] == pytest.approx(e["supply"]["growth"])


def test_yield_follows_the_minters_rule(run):
    metrics, _, sc = run
    net = {name: per_round(metrics, name)[m.NETWORK]
           for name in (m.MINTED, m.INFLATION, m.BONDING_RATE, m.TOTAL_SUPPLY)}
    # each round mints supply × inflation; 90 % of it goes to the active stake = bonding rate × supply
    expected = 1.0
    for r, inflation in net[m.INFLATION].items():
        expected *= 1 + 0.9 * inflation / 1e9 / net[m.BONDING_RATE][r]
    e = economics(metrics, target_bonding_rate=0.5)
    assert e["yield"]["lpt"] == pytest.approx(expected - 1, rel=1e-6)
    assert e["round_s"] == pytest.approx(sc.chain.round_seconds)
    assert e["yield"]["lpt_annualised"] is None  # 8 rounds of 4 minutes: no year to speak of
    # the round's length comes from the rows' times: stretch them to rounds of a day
    stretch = 86400 / sc.chain.round_seconds
    e = economics([{**r, "time": r["time"] * stretch} for r in metrics])
    assert e["round_s"] == pytest.approx(86400)
    assert e["yield"]["lpt_annualised"] == pytest.approx(expected ** (365.25 / e["rounds"]) - 1, rel=1e-6)
    assert e["yield"]["usd"] is None  # no price series recorded


def test_bonding_rate_against_its_target(run):
    metrics, summary, _ = run
    rates = per_round(metrics, m.BONDING_RATE)[m.NETWORK]
    b = economics(metrics, target_bonding_rate=0.5)["bonding_rate"]
    below = [r for r, v in rates.items() if v < 0.5]
    assert b["rounds_below_target"] == len(below) > 0  # the run starts below 50 %
    assert b["share_below_target"] == pytest.approx(len(below) / len(rates))
    assert b["time_below_target_s"] == pytest.approx(len(below) * economics(metrics)["round_s"])
    assert summary["research"]["bonding_rate"]["target"] == 0.5  # read from the scenario
    assert economics(metrics)["bonding_rate"]["rounds_below_target"] is None  # no target, no claim
    assert "LPT yield (annual)" in format_summary(summary)


def test_concentration_measures():
    assert gini([1, 1, 1, 1]) == pytest.approx(0)
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)  # (n − 1)/n for one holder of n
    assert nakamoto([40, 30, 20, 10]) == 2  # 40 + 30 > 50
    assert nakamoto([50, 30, 20]) == 2  # exactly half is not a majority
    assert nakamoto([40, 30, 20, 10], threshold=1 / 3) == 1
    assert top_share([40, 30, 20, 10], 2) == pytest.approx(0.7)
    assert gini([]) is None and nakamoto([]) is None


def test_empty_rows_give_none():
    e = economics([])
    assert e["rounds"] == 0 and e["yield"]["lpt"] is None and e["supply"]["growth"] is None
    assert e["concentration"]["gini"] is None


def test_usd_yield_and_income_read_the_price_series(run):
    metrics, _, _ = run
    rounds = sorted(per_round(metrics, m.TOTAL_SUPPLY)[m.NETWORK])  # the rounds recorded
    # LPT/USD doubles over the run, ETH/USD stays at 3000
    prices = [{"time": 0.0, "round": r, "entity": m.NETWORK, "metric": m.LPT_USD,
               "value": 10.0 * (2.0 if r == rounds[-1] else 1.0)} for r in rounds]
    prices += [{"time": 0.0, "round": r, "entity": m.NETWORK, "metric": m.ETH_USD, "value": 3000.0} for r in rounds]
    e = economics(metrics + prices)
    assert e["yield"]["usd"] == pytest.approx((1 + e["yield"]["lpt"]) * 2 - 1)
    o = next(iter(e["orchestrators"].values()))
    assert o["income_usd"] == pytest.approx(o["rewards_lpt"] * 20.0 + (o["fees_wei"] or 0) / 1e18 * 3000.0)
    assert economics(metrics)["orchestrators"][next(iter(e["orchestrators"]))]["income_usd"] is None
    name = next(iter(e["orchestrators"]))
    costed = economics(metrics + prices, costs={name: 300.0})["orchestrators"][name]
    assert costed["cost_usd"] == pytest.approx(300.0 * e["window_s"] / (365.25 * 86400 / 12))
    assert costed["profit_usd"] == pytest.approx(costed["income_usd"] - costed["cost_usd"])


def test_the_scenarios_cost_reaches_the_summary(tmp_path):
    text = TEXT.replace("{name: o, count: 5, stake: 5000 LPT}", "{name: o, count: 5, stake: 5000 LPT, cost_usd_per_month: 500}")
    sim = Simulation(parse_scenario(text, "cost.yaml"))
    sim.run()
    research = sim.finish(tmp_path)["research"]
    orchs = research["orchestrators"]
    assert set(orchs) == {f"o-{i}" for i in range(5)} and research["window_s"] > 0
    for v in orchs.values():
        assert v["cost_usd"] == pytest.approx(500 * research["window_s"] / (365.25 * 86400 / 12))
    assert all(v["profit_usd"] is None for v in orchs.values())  # no price series: no USD income
