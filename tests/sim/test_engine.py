"""The simulator end to end, on small scenarios: reproducibility, conservation of jobs, tickets and
tokens, selection shares against the algorithm's probabilities, and the Minter's inflation steps."""
from collections import Counter

import pytest

from lpsim import metric_names as m
from lpsim.engine import Simulation, run_scenario
from lpsim.results import load_results
from lpsim.scenario import parse_scenario
from lpsim.summary import winners_range
from node.core.selection import ProbabilitySelectionAlgorithm

SMALL = """
name: small
seed: 3
duration: 40 min
chain: {round_length: 50, params: {unbonding_period: 2}}
orchestrators:
  - name: o
    count: 4
    stake: {dist: uniform, low: 1000 LPT, high: 9000 LPT}
    failure_rate: 5%
    pipelines:
      transcoding: {}
      text-to-image: {compute: 0.8 s}
      live-video-to-video: {compute: 1.5 s}
    ai_prices: {text-to-image: 50000, live-video-to-video: 1}
gateways:
  - name: g
    count: 2
    demand:
      - type: transcoding
        arrival: {process: poisson, rate: 30/h}
        stream_duration: 3 min
      - type: batch_ai
        pipeline: text-to-image
        arrival: {process: poisson, rate: 6/min}
        request: {width: 512, height: 512}
      - type: live_ai
        arrival: {process: poisson, rate: 20/h}
        session_duration: 4 min
delegators:
  - count: 6
    unbond_probability: 20%
    rebond_after: 10 min
    claim_every: 20 min
network: {loss: 1%}
metrics: {sample_every: 10 min, transitions: true}
"""


def small(**changes) -> "object":
    text = SMALL
    for old, new in changes.items():
        text = text.replace(old, new)
    return parse_scenario(text, "small.yaml")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    summary = run_scenario(small(), out)
    return out, summary


def test_same_scenario_and_seed_give_byte_identical_results(small_run, tmp_path):
    first, _ = small_run
    run_scenario(small(), tmp_path)
    for name in ("metrics.csv", "jobs.csv", "transitions.csv", "transition_counts.csv", "summary.json"):
        assert (tmp_path / name).read_bytes() == (first / name).read_bytes(), name


def test_known_signers_mode_gives_the_same_rows_and_says_it_was_on(small_run, tmp_path):
    first, summary = small_run
    sim = Simulation(small(), known_signers=True)
    sim.run()
    known = sim.finish(tmp_path)
    assert sim.signatures.looked_up > 0  # recoveries were skipped
    for name in ("metrics.csv", "jobs.csv", "transitions.csv", "transition_counts.csv"):
        assert (tmp_path / name).read_bytes() == (first / name).read_bytes(), name
    assert "signature_recovery" not in summary["extra"]
    assert known["extra"]["signature_recovery"] == "skipped: known signers"


def test_another_seed_gives_another_run(small_run, tmp_path):
    first, _ = small_run
    run_scenario(small(), tmp_path, seed=4)
    assert (tmp_path / "jobs.csv").read_bytes() != (first / "jobs.csv").read_bytes()


def test_every_job_ends_completed_or_failed_with_a_reason(small_run):
    out, summary = small_run
    jobs = load_results(out)["jobs"]
    assert len(jobs) > 500
    assert Counter(j["status"] for j in jobs).keys() <= {m.COMPLETED, m.FAILED}
    assert all(bool(j["reason"]) == (j["status"] == m.FAILED) for j in jobs)
    assert {j["workload"] for j in jobs} == {m.TRANSCODING, m.BATCH_AI, m.LIVE_AI}
    # failures happen (5 % compute failures, 1 % loss) and are mostly recovered by retries
    assert any(j["attempts"] > 1 for j in jobs if j["status"] == m.COMPLETED)
    assert summary["jobs"]["success_rate"] > 0.95
    # every job's transitions end in a terminal state: DONE for completed, FAILED for failed
    counts = Counter()
    for row in load_results(out)["transition_counts"]:
        counts[row["next_state"]] += row["count"]
    statuses = Counter(j["status"] for j in jobs)
    assert counts["DONE"] == statuses[m.COMPLETED] and counts["FAILED"] == statuses[m.FAILED]


def paid_scenario():
    """Tickets that win one time in ten (ticket EV = face value / 10), so many are redeemed."""
    return small(**{"    failure_rate: 5%\n": "    failure_rate: 5%\n    ticket_ev: 0.00012 ETH\n",
                    "    count: 2\n    demand:": "    count: 2\n    max_ticket_ev: 0.01 ETH\n    max_total_ev: 1 ETH\n"
                                               "    deposit: 5 ETH\n    demand:",
                    "network: {loss: 1%}": "network: {loss: 0}"})


def test_tickets_and_tokens_are_conserved():
    sim = Simulation(paid_scenario())
    protocol = sim.world.protocol
    supply0 = protocol.LivepeerToken.totalSupply()
    def funds():
        infos = [sim.world.view.sender_info(g.address) for g in sim.gateways]
        return sum(i.deposit + i.reserve.funds_remaining for i in infos)

    funds0 = funds()
    sim.run()
    sim.sample()
    sent = sum(g.tickets_sent for g in sim.gateways)
    received = sum(o.tickets_received for o in sim.orchestrators)
    won = sum(o.tickets_won for o in sim.orchestrators)
    counts = [o.ticket_counts() for o in sim.orchestrators]
    assert sent > 0 and won > 10
    # a gateway's tickets all reach an orchestrator (no loss here); a payment refused as a whole
    # (stale or unfunded) is the only way a sent ticket is not received
    assert received <= sent
    # every winning ticket is redeemed, dropped, expired or still pending
    assert won == sum(c["redeemed"] + c["dropped"] + c["expired"] + c["pending"] for c in counts)
    assert sum(c["redeemed"] for c in counts) > 0
    # what the orchestrators redeemed is what left the gateways' deposits and reserves on chain
    realised = sum(o.fees_realised for o in sim.orchestrators)
    assert funds0 - funds() == realised
    # the winners counted fall in the range their win probabilities give (fixed seed), and the
    # expectation is the fees' expectation in tickets (every ticket's face value × p is its EV)
    expected = sum(o.winners_expected for o in sim.orchestrators)
    lo, hi = winners_range(expected, sum(o.winners_variance for o in sim.orchestrators), 0.999)
    assert lo <= won <= hi
    assert 0 < expected <= received
    # LPT minted on chain = the rewards recorded
    rewards = sum(row[4] for row in sim.rec.metric_rows if row[3] == m.REWARD)
    minted = (protocol.LivepeerToken.totalSupply() - supply0) / 1e18
    assert minted == pytest.approx(rewards, rel=1e-12) and minted > 0


SELECTION = """
name: fairness
seed: 11
duration: 8 h
chain: {round_length: 10000}
orchestrators:
  - {name: a, count: 1, stake: 1000 LPT, pipelines: {text-to-image: {compute: 0.1 s}}, ai_prices: {text-to-image: 1}}
  - {name: b, count: 1, stake: 3000 LPT, pipelines: {text-to-image: {compute: 0.1 s}}, ai_prices: {text-to-image: 1}}
  - {name: c, count: 1, stake: 6000 LPT, pipelines: {text-to-image: {compute: 0.1 s}}, ai_prices: {text-to-image: 1}}
gateways:
  - name: g
    demand:
      - type: batch_ai
        pipeline: text-to-image
        arrival: {process: constant, interval: 5 s}
        request: {width: 64, height: 64}
metrics: {sample_every: 1 h}
"""


def test_selection_shares_converge_to_the_algorithms_probabilities():
    sim = Simulation(parse_scenario(SELECTION, "fairness.yaml"))
    sim.run()
    jobs = [r for r in sim.rec.job_rows if r[7] == m.COMPLETED]
    n = len(jobs)
    assert n > 5000
    shares = Counter(r[2] for r in jobs)
    by_name = {o.name: o.address for o in sim.orchestrators}
    expected = ProbabilitySelectionAlgorithm().probabilities(list(by_name.values()), sim.stakes)
    for name, address in by_name.items():
        p = expected[address]
        sigma = (p * (1 - p) / n) ** 0.5
        assert abs(shares[name] / n - p) < 4 * sigma, (name, shares[name] / n, p)
    # 0.7 × stake share + 0.3 / 3: a 10 %, b 30 %, c 60 % of the stake
    assert [round(expected[by_name[f"{x}-0"]], 3) for x in "abc"] == [0.17, 0.31, 0.52]


ECONOMICS = """
name: inflation
seed: 5
duration: 30 rounds
chain:
  round_length: 20
  params: {inflation: 10000000, inflation_change: 1000000, target_bonding_rate: 50%}
  initial_supply: 40000 LPT
orchestrators:
  - {name: o, count: 5, stake: 5000 LPT}
delegators:
  - {name: d, count: 10, stake: 1000 LPT, claim_every: null}
metrics: {sample_every: 1 rounds, jobs: false}
"""


def test_inflation_steps_by_exactly_inflation_change_towards_the_target():
    sim = Simulation(parse_scenario(ECONOMICS, "inflation.yaml"))
    sim.run()
    rows = [r for r in sim.rec.metric_rows if r[2] == m.NETWORK]
    inflation = {r[1]: r[4] for r in rows if r[3] == m.INFLATION}
    bonding = {r[1]: r[4] for r in rows if r[3] == m.BONDING_RATE}
    rounds = sorted(inflation)
    assert len(rounds) >= 25
    assert bonding[rounds[0]] < 0.5 < bonding[rounds[-1]]  # the rewards carry it across the target
    for prev, r in zip(rounds, rounds[1:]):
        # each round's inflation moves from the last by ±inflationChange, by the bonding rate the
        # Minter saw when the round was initialised
        expected = inflation[prev] + 10**6 if bonding[r] < 0.5 else max(inflation[prev] - 10**6, 0)  # floored at 0
        assert inflation[r] == expected, (r, bonding[r], inflation[prev], inflation[r])
    assert {10**6, -10**6} <= {inflation[b] - inflation[a] for a, b in zip(rounds, rounds[1:])}  # both ways
    # supply is sampled after each round's rewards: it grows by what the later rounds minted
    minted = [r[4] for r in rows if r[3] == m.MINTED]
    supply = [r[4] for r in rows if r[3] == m.TOTAL_SUPPLY]
    assert sum(minted[1:]) == pytest.approx(supply[-1] - supply[0], rel=1e-9)


def test_the_treasury_cut_is_minted_and_reported():
    text = ECONOMICS.replace("duration: 30 rounds", "duration: 6 rounds").replace(
        "target_bonding_rate: 50%}", "target_bonding_rate: 50%, treasury_reward_cut_rate: 10%}")
    sim = Simulation(parse_scenario(text, "treasury.yaml"))
    sim.run()
    rows = [r for r in sim.rec.metric_rows if r[2] == m.NETWORK]
    per_round = {name: {r[1]: r[4] for r in rows if r[3] == name}
                 for name in (m.MINTED, m.TREASURY_MINTED, m.TREASURY_BALANCE, m.TOTAL_SUPPLY)}
    every = sorted(per_round[m.MINTED])
    rounds = every[1:]  # supply is sampled after a round's rewards: compare from the second on
    rewards = {r[1]: 0.0 for r in sim.rec.metric_rows}
    for r in sim.rec.metric_rows:
        if r[3] == m.REWARD:
            rewards[r[1]] += r[4]
    for prev, r in zip([rounds[0] - 1, *rounds], rounds):
        minted, treasury = per_round[m.MINTED][r], per_round[m.TREASURY_MINTED][r]
        assert treasury == pytest.approx(0.1 * minted, rel=1e-9) and treasury > 0  # 10 % of the mint
        assert minted == pytest.approx(rewards[r] + treasury, rel=1e-12)  # the rest went to orchestrators
        assert minted == pytest.approx(per_round[m.TOTAL_SUPPLY][r] - per_round[m.TOTAL_SUPPLY][prev], rel=1e-9)
    assert per_round[m.TREASURY_BALANCE][rounds[-1]] == pytest.approx(
        sum(per_round[m.TREASURY_MINTED][r] for r in every), rel=1e-12)


def test_real_pipelines_run_in_wall_time_and_charge_their_measured_duration():
    pytest.importorskip("av")
    sim = Simulation(small(**{"      transcoding: {}\n": "      transcoding: {mode: real}\n",
                              "duration: 40 min": "duration: 1 min",
                              "rate: 30/h": "rate: 120/h",
                              "stream_duration: 3 min": "stream_duration: 10 s"}))
    compute = sim.orchestrators[0].pipelines["transcoding"].compute
    sim.run()
    jobs = [r for r in sim.rec.job_rows if r[3] == m.TRANSCODING and r[7] == m.COMPLETED]
    assert jobs and type(compute).__name__ == "RealCompute"
    # each segment took at least the time a real PyAV transcode of 2 s of 720p takes here
    assert min(r[6] - r[5] for r in jobs) > 0.05


def test_a_stepped_run_can_be_inspected_between_rounds_and_finished_into_a_results_folder(tmp_path):
    scenario = small().with_overrides({"duration": "30 min", "delegators[0].unbond_probability": 0})
    sim = Simulation(scenario)
    first = sim.world.current_round()
    assert sim.step_round() == first + 1
    inflation = sim.world.protocol.Minter.inflation()
    jobs_so_far = sum(g.jobs_submitted for g in sim.gateways)
    assert inflation > 0 and jobs_so_far > 0
    sim.run()
    summary = sim.finish(tmp_path)
    assert summary["jobs"]["total"] >= jobs_so_far
    rows = load_results(tmp_path)["metrics"]
    prices = {r["entity"]: r["value"] for r in rows if r["metric"] == m.PRICE_PER_PIXEL}
    assert set(prices) == {o.name for o in sim.orchestrators}
    assert all(p == float(o.price_per_pixel) for o, p in zip(sim.orchestrators, prices.values()))
