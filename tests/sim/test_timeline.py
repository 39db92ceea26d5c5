"""Timeline events besides governance: orchestrator outages (down / up), demand and price shocks;
their effect on the run, their records, and errors naming the field and line."""
from __future__ import annotations

import csv

import pytest

from lpsim import metric_names as m
from lpsim.engine import Simulation
from lpsim.orchestrator import Unreachable
from lpsim.scenario import ScenarioError, parse_scenario

BASE = """
seed: 5
duration: 1 d
chain: {round_length: 300, params: {inflation: 613500, target_bonding_rate: 50%}, initial_supply: 5000 LPT}
orchestrators:
  - {name: orch, count: 3, stake: 2000 LPT}
  - {name: solo, count: 1, stake: 2000 LPT}
metrics: {jobs: false}
series:
  lpt_usd: {process: gbm, start: 5, sigma: 0.8}
events:
  - at: 6 h
{event}
"""
ROUND = 300 * 12  # seconds


def sim_of(event: str, extra: str = "") -> Simulation:
    sim = Simulation(parse_scenario(BASE.replace("{event}", event) + extra))
    sim.run()
    return sim


def rows(sim, entity, metric):
    return [(r, v) for (_, r, e, name, v) in sim.rec.metric_rows if e == entity and name == metric]


def test_an_outage_stops_reward_calls_until_the_orchestrator_is_back(tmp_path):
    sim = sim_of("    down: [orch-1, solo]\n  - at: 12 h\n    up: [orch-1]")
    first = sim.first_round
    down_from, up_from = first + 6 * 3600 // ROUND, first + 12 * 3600 // ROUND
    reward = {e: dict(rows(sim, e, m.REWARD)) for e in ("orch-0", "orch-1", "solo-0")}
    assert all(v > 0 for v in reward["orch-0"].values())  # never down: rewards every round
    assert all(v > 0 for r, v in reward["orch-1"].items() if r < down_from or r >= up_from)
    assert all(v == 0 for r, v in reward["orch-1"].items() if down_from <= r < up_from)
    assert all(v == 0 for r, v in reward["solo-0"].items() if r >= down_from)  # never brought back
    sim.finish(tmp_path)
    actions = list(csv.DictReader((tmp_path / "policy_actions.csv").read_text().splitlines()))
    assert [(a["entity"], a["action"], a["round"]) for a in actions] == [
        ("orch-1", "down", str(down_from)), ("solo-0", "down", str(down_from)), ("orch-1", "up", str(up_from))]


def test_a_down_orchestrator_refuses_offers_and_work():
    sim = Simulation(parse_scenario(BASE.replace("{event}", "    down: [orch]") + "gateways: [{count: 1}]\n"))
    sim.run(6 * 3600 + 1)
    o, gw = sim.orchestrators[0], sim.gateways[0].address
    assert not o.online and sim.orchestrators[3].online
    with pytest.raises(Unreachable, match="is down"):
        o.offer(gw, "transcoding")
    o.set_online(True)
    assert o.offer(gw, "transcoding").orchestrator is o


def test_a_demand_shock_multiplies_then_sets_from_its_round():
    sim = sim_of("    shock: {demand: {multiply: 3}}\n  - at: 18 h\n    shock: {demand: {set: 0.5}}")
    demand = [v for _, v in rows(sim, m.NETWORK, m.SERIES_METRICS["demand"])]
    i6, i18 = 6 * 3600 // ROUND, 18 * 3600 // ROUND
    assert demand[:i6] == [1.0] * i6 and demand[i6:i18] == [3.0] * (i18 - i6) and set(demand[i18:]) == {0.5}


def test_a_price_shock_is_a_jump_in_the_same_seeded_path():
    plain = Simulation(parse_scenario(BASE.replace("events:\n  - at: 6 h\n{event}\n", "")))
    shocked = Simulation(parse_scenario(BASE.replace("{event}", "    shock: {lpt_usd: {multiply: 0.4}}")))
    a, b = plain.series.values["lpt_usd"], shocked.series.values["lpt_usd"]
    i = 6 * 3600 // ROUND
    assert list(a[:i]) == list(b[:i])
    assert b[i:] == pytest.approx(0.4 * a[i:], rel=1e-12)


def test_demand_shock_scales_a_workloads_arrivals():
    gw = """gateways:
  - count: 1
    demand: [{type: transcoding, arrival: {process: poisson, rate: 0.02}, stream_duration: 10 s}]
"""
    counts = {}
    for k in (1, 4):
        sim = Simulation(parse_scenario(BASE.replace("{event}", f"    shock: {{demand: {{multiply: {k}}}}}") + gw))
        sim.run()
        counts[k] = sim.gateways[0].jobs_submitted
    assert counts[4] > 2 * counts[1]  # three quarters of the day at 4x: ~3.25x the jobs


@pytest.mark.parametrize("event, where, message", [
    ("    down: [orch-9]", "line 13, events[0].down[0]", "no orchestrator or orchestrator group 'orch-9'"),
    ("    up: [sol]", "line 13, events[0].up[0]", 'did you mean "solo"'),
    ("    shock: {eth_usd: {multiply: 2}}", "line 13, events[0].shock.eth_usd", "needs a eth_usd series"),
    ("    shock: {demand: {multiply: 2, set: 1}}", "line 13, events[0].shock.demand", "one of multiply or set"),
    ("    shock: {demand: {multiply: -1}}", "line 13, events[0].shock.demand.multiply", "must be at least 0"),
    ("    shock: {gas: {set: 1}}", "line 13, events[0].shock", "gas"),
    ("    down: [solo]\n    up: [solo]", "line 14, events[0].up[0]", "also in down"),
    ("    note: nothing", "line 13, events[0].note", "unknown key"),
])
def test_bad_events_name_field_and_line(event, where, message):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(BASE.replace("{event}", event))
    assert where in str(err.value) and message in str(err.value), str(err.value)


def test_an_event_that_does_nothing_is_refused():
    with pytest.raises(ScenarioError, match=r"line 12, events\[0\]: .*expected at least one of set, down, up or shock"):
        parse_scenario(BASE.replace("{event}", ""))


def test_gateways_route_around_a_down_orchestrator():
    text = BASE.replace("duration: 1 d", "duration: 20 min").replace("  - at: 6 h\n{event}", "  - at: 0 s\n    down: [orch]")
    text += """gateways:
  - count: 1
    demand: [{type: transcoding, arrival: {process: poisson, rate: 0.5}, stream_duration: 4 s}]
"""
    sim = Simulation(parse_scenario(text))
    sim.run()
    gw = sim.gateways[0]
    assert gw.jobs_completed > 100
    assert [o.jobs_completed for o in sim.orchestrators[:3]] == [0, 0, 0]  # down the whole run
    assert sim.orchestrators[3].jobs_completed == gw.jobs_completed  # solo-0 served everything
