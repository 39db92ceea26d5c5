"""The simulator's `byoc` workload: parsed and checked with errors that name the field and the line,
run beside the other workloads through node.core.byoc's rules (per-second price, tickets for the
job's timeout, ceil(elapsed) x price charged on every outcome), one row per job, deterministic."""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import simpy

from lpsim import metric_names as m
from lpsim.byoc import BYOC, TIMEOUT, WORKER_ERROR, ByocJobSpec, SimByoc
from lpsim.engine import Simulation, run_scenario
from lpsim.results import load_results
from lpsim.scenario import ScenarioError, load_scenario, parse_scenario
from node.core import byoc
from node.core.balances import Balances
from node.core.pricing import PriceInfo

GWEI = 10**9

SCENARIO = """\
duration: 10 min
seed: 3
chain: {block_time: 12 s, round_length: 100}
orchestrators:
  - name: good
    count: 2
    capacity: 4
    pipelines:
      transcoding: {}
      text-to-image: {}
    byoc:
      filter: {capacity: 4}
      captions: {capacity: 2}
      tracker: {capacity: 2}
  - name: broken
    failure_rate: 100%
    byoc:
      filter: {capacity: 8}
gateways:
  - name: gw
    demand:
      - type: batch_ai
        pipeline: text-to-image
        arrival: {process: poisson, rate: 2/min}
      - type: byoc
        capability: filter
        price_per_second: 20 gwei
        arrival: {process: poisson, rate: 6/min}
        job_duration: {dist: uniform, low: 1 s, high: 8 s}
        timeout: 5 s
        stop: 8 min
      - type: byoc
        capability: captions
        mode: sse
        price_per_second: 50 gwei
        arrival: {process: poisson, rate: 2/min}
        job_duration: {dist: uniform, low: 3 s, high: 40 s}
        timeout: 30 s
        stop: 8 min
      - type: byoc
        capability: tracker
        mode: stream
        price_per_second: 30 gwei
        arrival: {process: poisson, rate: 1/min}
        job_duration: {dist: uniform, low: 1 min, high: 4 min}
        timeout: 60 s
        stop: 5 min
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="test.yaml")
    return [str(p) for p in info.value.problems]


# ------------------------------------------------------------------ the scenario


def test_a_byoc_workload_parses_with_its_defaults():
    s = parse_scenario(SCENARIO)
    batch, sse, stream = s.gateways[0].demand[1:]
    assert (batch.type, batch.capability, batch.price_per_second, batch.timeout, batch.mode) == \
        ("byoc", "filter", Fraction(20 * GWEI), 5, "batch")
    assert (sse.mode, stream.mode) == ("sse", "stream")
    assert s.orchestrators[0].byoc["captions"].capacity == 2 and s.orchestrators[1].byoc["filter"].capacity == 8
    minimal = parse_scenario(SCENARIO.replace("        job_duration: {dist: uniform, low: 1 s, high: 8 s}\n"
                                              "        timeout: 5 s\n", ""))
    assert minimal.gateways[0].demand[1].timeout == 30  # go's jobs need one; 30 s unless given


def line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("old,new,found", [
    ("capability: filter\n", "capability: blur\n",
     [("gateways[0].demand[1].capability: no orchestrator runs the BYOC capability 'blur', so every job would fail "
       "(orchestrators' byoc capabilities: captions, filter, tracker)")]),
    ("timeout: 5 s", "timeout: 2.5 s", ["gateways[0].demand[1].timeout: must be whole seconds (got 2.5 s)"]),
    ("mode: sse", "mode: events", ["gateways[0].demand[2].mode: must be 'batch', 'sse' or 'stream' (got 'events')"]),
    ("filter: {capacity: 4}", "filter: {capacity: 0}", ["orchestrators[0].byoc.filter.capacity: must be at least 1 (got 0)"]),
    ("price_per_second: 50 gwei", "price_per_seconds: 50 gwei",
     ["gateways[0].demand[2].price_per_second: required",
      'gateways[0].demand[2].price_per_seconds: unknown key "price_per_seconds"']),
])
def test_errors_name_the_field_and_the_line(old, new, found):
    assert SCENARIO.count(old) == 1
    text = SCENARIO.replace(old, new)
    got = problems(text)
    assert [p.split(", ", 1)[1].split("; did you mean")[0] for p in got] == found
    assert got[-1].startswith(f"line {line_of(text, new.split(':')[0])}, ")


def test_a_capability_has_one_price():
    text = SCENARIO.replace("capability: captions\n", "capability: filter\n")
    (problem,) = problems(text)
    assert problem == (f"line {line_of(text, 'price_per_second: 50 gwei')}, gateways[0].demand[2].price_per_second: "
                       "'filter' is priced 20000000000 wei per second by another byoc workload: a capability has one "
                       "price")


def test_the_shipped_example_parses():
    s = load_scenario(Path(__file__).parents[2] / "scenarios" / "byoc.yaml")
    assert {w.type for w in s.gateways[0].demand} == {"transcoding", "batch_ai", "byoc"}


# ------------------------------------------------------------------ the run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("byoc")
    sim = Simulation(parse_scenario(SCENARIO))
    sim.run()
    summary = sim.finish(out)
    return sim, out, summary, load_results(out)["jobs"]


def test_byoc_jobs_run_beside_the_other_workloads(run):
    _, _, summary, jobs = run
    assert {j["workload"] for j in jobs} == {m.BATCH_AI, BYOC}
    rows = [j for j in jobs if j["workload"] == BYOC]
    assert {j["pipeline"] for j in rows} == {"filter", "captions", "tracker"}
    assert summary["jobs"]["by_workload"][BYOC]["total"] == len(rows) > 60
    assert all(j["tickets_sent"] >= 0 for j in rows) and sum(j["tickets_sent"] for j in rows) > 0


def test_every_job_is_charged_by_the_second_through_the_core_rules(run):
    sim, _, _, jobs = run
    gw = sim.gateways[0]
    good = sim.orchestrators[0]
    price = good.byoc.token(gw.address, "filter").price.price  # gas and EV constant: one price all run
    assert price == byoc.job_price_info(good.byoc.prices, gw.address, "filter", auto_adjust=True,
                                        tx_cost_multiplier=lambda: good.recipient.tx_cost_multiplier(gw.address)).price
    assert price > 20 * GWEI  # auto-adjusted for the redemption overhead, as the node's JobPriceInfo
    rows = [j for j in jobs if j["workload"] == BYOC]
    # what the orchestrators debited is what the rows say was paid, job by job summed (every job ended)
    assert gw.jobs_submitted == gw.jobs_completed + gw.jobs_failed  # none in flight: the workloads stop at 8 min
    assert sum(Fraction(j["fee_wei"]) for j in rows) == sum(o.byoc.fees_charged for o in sim.orchestrators) > 0
    filt = [j for j in rows if j["pipeline"] == "filter"]
    # the broken orchestrator's worker answers 500 (charged: ceil(elapsed) x price), the next one serves
    retried = [j for j in filt if j["attempts"] > 1 and j["status"] == m.COMPLETED]
    assert retried and all(j["orchestrator"].startswith("good") for j in retried)
    for j in filt:
        seconds = Fraction(j["fee_wei"]) / price
        assert seconds == int(seconds) and seconds <= 5 * j["attempts"]
        if j["reason"] == TIMEOUT:  # longer than its 5 s timeout: 5 s at each orchestrator it ran on
            assert seconds == 5 * j["attempts"]
        if j["status"] == m.COMPLETED:
            assert seconds >= 1
    assert {j["reason"] for j in filt} == {"", TIMEOUT, byoc.ERR_INSUFFICIENT_BALANCE} | \
        ({WORKER_ERROR} & {j["reason"] for j in filt})


def test_a_timeout_short_of_the_orchestrators_minute_is_refused_until_credit_builds_up(run):
    """go's two rules together: the gateway pays for the job's timeout (5 s here) when it holds
    under 120 s of credit, the orchestrator works only with 60 s in hand. So an orchestrator's first
    jobs are refused (400, nothing charged, the tickets credited) until the credit reaches a minute;
    then jobs run on it."""
    _, _, _, jobs = run
    served_somewhere = False
    for name in ("good-0", "good-1"):
        mine = sorted((j for j in jobs if j["pipeline"] == "filter" and j["orchestrator"] == name),
                      key=lambda j: j["submitted"])
        refused = [j["reason"] == byoc.ERR_INSUFFICIENT_BALANCE for j in mine]
        assert refused[0], name
        first_served = refused.index(False) if not all(refused) else len(refused)
        served_somewhere |= first_served < len(refused)
        # refused before any work: nothing charged there, tickets sent (a job that first met the
        # broken orchestrator was charged there)
        assert all(j["fee_wei"] == 0 and j["tickets_sent"] > 0 for j in mine[:first_served] if j["attempts"] == 1)
    assert served_somewhere


def test_a_stream_is_charged_per_tick_and_in_all_ceil_elapsed(run):
    sim, _, _, jobs = run
    gw = sim.gateways[0]
    price = sim.orchestrators[0].byoc.token(gw.address, "captions").price.price
    streams = [j for j in jobs if j["pipeline"] == "captions" and j["reason"] != byoc.ERR_INSUFFICIENT_BALANCE]
    assert streams and {j["reason"] for j in streams} == {"", TIMEOUT}
    for j in streams:
        seconds = Fraction(j["fee_wei"]) / price
        assert seconds == int(seconds) and 1 <= seconds <= 30
        if j["reason"] == TIMEOUT:
            assert seconds == 30
        else:  # the job ran its whole (un-rounded) duration: the row's latency is longer than its billed seconds - 1
            assert j["finished"] - j["submitted"] > seconds - 1


def test_the_gateway_pays_for_the_timeout_only_under_two_minutes_of_credit():
    """The core's rule as the simulator applies it: no tickets at 120 s of credit, the timeout's worth
    below (the count the node's gateway would send)."""
    price, ev = Fraction(20 * GWEI), Fraction(8 * GWEI)
    assert byoc.tickets_for_job(120 * price, price, 5, ev) == 0
    assert byoc.tickets_for_job(120 * price - 1, price, 5, ev) == math.ceil(5 * price / ev)


def test_same_seed_same_rows(run, tmp_path):
    _, out, _, _ = run
    run_scenario(parse_scenario(SCENARIO), tmp_path)
    assert (tmp_path / "jobs.csv").read_bytes() == (out / "jobs.csv").read_bytes()
    run_scenario(parse_scenario(SCENARIO.replace("seed: 3", "seed: 4")), tmp_path)
    assert (tmp_path / "jobs.csv").read_bytes() != (out / "jobs.csv").read_bytes()



# ------------------------------------------------------------------ one orchestrator's handler


G = "0x" + "22" * 20


def _orchestrator(env: simpy.Environment, failure_rate=0.0):
    """The few parts of a SimOrchestrator that SimByoc.process touches (no chain: the jobs here
    bring no payment, their credit is set directly)."""
    return SimpleNamespace(world=SimpleNamespace(env=env), online=True, failure_rate=failure_rate,
                           rng=np.random.default_rng(0), jobs_completed=0, service_uri="https://o:8935",
                           receiver=SimpleNamespace(balances=Balances(lambda: env.now)))


def _process(o, spec, duration, credit_seconds, price=Fraction(10)):
    service = SimByoc(o, {spec.capability: (2, price)})
    if credit_seconds:
        o.receiver.balances.credit(G, spec.capability, credit_seconds * price)
    proc = o.world.env.process(service.process(None, G, spec, PriceInfo(int(price), 1), duration))
    o.world.env.run(proc)
    return proc.value, o.receiver.balances.balance(G, spec.capability), service


def _spec(mode="batch", timeout=30, capability="cap"):
    return ByocJobSpec(capability, Fraction(10), None, timeout, mode)


def test_a_batch_job_is_charged_ceil_elapsed_and_a_late_one_its_timeout():
    answer, balance, _ = _process(_orchestrator(simpy.Environment()), _spec(), 7.2, credit_seconds=60)
    assert (answer.status, answer.error, answer.charged, balance) == (200, None, 80, 600 - 80)
    answer, balance, _ = _process(_orchestrator(simpy.Environment()), _spec(timeout=5), 7.2, credit_seconds=60)
    assert (answer.status, answer.error, answer.charged, answer.elapsed) == (500, TIMEOUT, 50, 5)
    answer, _, _ = _process(_orchestrator(simpy.Environment(), failure_rate=1.0), _spec(), 2.5, credit_seconds=60)
    assert (answer.status, answer.error, answer.charged) == (500, WORKER_ERROR, 30)  # charged all the same


def test_no_work_without_a_minute_of_credit():
    answer, balance, service = _process(_orchestrator(simpy.Environment()), _spec(), 3, credit_seconds=59)
    assert (answer.status, answer.error, answer.charged, balance) == (400, byoc.ERR_INSUFFICIENT_BALANCE, 0, 590)
    assert service.registry.available("cap") == 2  # the reserved slot is freed


def test_a_stream_debits_every_five_seconds_and_ends_when_the_balance_goes_negative():
    env = simpy.Environment()
    answer, balance, _ = _process(_orchestrator(env), _spec(mode="sse", timeout=120), 100, credit_seconds=60)
    # ticks at 5, 10, ..., 60 s leave 0; the one at 65 s leaves -5 s of credit: "insufficient balance"
    assert (answer.status, answer.error, answer.elapsed, answer.charged, balance) == \
        (200, "insufficient balance", 65, 650, -50)
    env = simpy.Environment()
    answer, balance, _ = _process(_orchestrator(env), _spec(mode="sse", timeout=120), 12.5, credit_seconds=60)
    assert (answer.error, answer.elapsed, answer.charged, env.now) == (None, 12.5, 130, 12.5)  # 2 ticks + 3 s


def test_streams_are_debited_every_23_s_and_paid_as_they_run(run):
    sim, _, _, jobs = run
    gw = sim.gateways[0]
    price = sim.orchestrators[0].byoc.token(gw.address, "tracker").price.price
    streams = [j for j in jobs if j["pipeline"] == "tracker"]
    completed = [j for j in streams if j["status"] == m.COMPLETED]
    assert completed and all(j["orchestrator"].startswith("good") for j in completed)
    for j in completed:  # at least 60 s long: two debits or more, and payments beyond the start's
        ticks = Fraction(j["fee_wei"]) / (byoc.STREAM_DEBIT_INTERVAL * price)
        assert ticks == int(ticks) and 2 <= ticks <= 240 // byoc.STREAM_DEBIT_INTERVAL
        assert j["tickets_sent"] > byoc.ticket_count_for_cost(60 * price, Fraction(8 * GWEI), 60)
    # a stream that finds every slot taken (capacity 2 at each) has no token: go's words
    exhausted = "All Orchestrators exhausted, restart the stream"
    assert {j["reason"] for j in streams if j["status"] == m.FAILED} <= {exhausted}


def test_an_unpaid_stream_is_removed_at_the_second_negative_balance():
    env = simpy.Environment()
    o = _orchestrator(env)
    service = SimByoc(o, {"cap": (2, Fraction(10))})
    assert service.start_stream(None, G, _spec(mode="stream"), PriceInfo(10, 1)).error == \
        byoc.ERR_INSUFFICIENT_BALANCE  # no minute of credit: refused, slot freed
    assert service.registry.available("cap") == 2
    o.receiver.balances.credit(G, "cap", 60 * 10)
    assert service.start_stream(None, G, _spec(mode="stream"), PriceInfo(10, 1)).status == 200
    assert service.registry.available("cap") == 1
    proc = env.process(service.stream(G, "cap", Fraction(10), env.event()))
    env.run(proc)
    # debits at 23, 46, 69 (-9 s: a warning) and 92 s (-32 s: removed)
    assert proc.value == ("insufficient balance -320", 4 * 23 * 10) and env.now == 92
    assert service.registry.available("cap") == 2
