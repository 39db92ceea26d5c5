"""Scenario files: the reference's defaults, the shipped scenarios, and errors by field and line."""
from fractions import Fraction
from pathlib import Path

import pytest

from lpsim.distributions import Constant, Exponential, LogNormal, Pareto, Uniform
from lpsim.scenario import (DEFAULT_MODEL_IDS, PIPELINES, PROFILES, BatchAIWorkload, ScenarioError,
                            TranscodingWorkload, load_scenario, parse_scenario)
from node.eth import ProtocolParams

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))
LPT = 10**18
GWEI = 10**9

MINIMAL = """\
duration: 1 h
orchestrators:
  - {}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="test.yaml")
    return [str(p) for p in info.value.problems]


def test_defaults_are_the_reference():
    s = parse_scenario(MINIMAL)
    assert s.name == "scenario" and s.description == "" and s.seed == 0 and s.duration == 3600
    c = s.chain
    assert (c.backend, c.block_time, c.round_length, c.gas_price, c.redeem_gas, c.initial_supply) == \
        ("revm", 12, 6377, 10_000_000, 1_200_000, 0)
    assert s.protocol_params() == ProtocolParams()
    (o,) = s.orchestrators
    assert o.name == "orch0" and o.count == 1 and o.member_names() == ["orch0-0"]
    assert o.stake == Constant(1000 * LPT) and o.price_per_pixel == Constant(1200)
    assert (o.reward_cut, o.fee_share, o.failure_rate, o.reward) == (0.1, 0.5, 0, 1.0)
    assert o.ai_prices == {} and o.auto_adjust_price is True
    assert (o.ticket_ev, o.max_face_value, o.capacity) == (8 * GWEI, 0, 10)
    assert o.service_uri_for(0) == "https://orch0-0:8935"
    (p,) = o.pipelines.values()
    assert (p.name, p.model_id, p.warm, p.mode, p.compute) == ("transcoding", "", True, "mock", LogNormal(0.4, 0.3))
    assert s.gateways == [] and s.delegators == []
    assert s.network.latency == LogNormal(0.04, 0.5) and s.network.loss == 0
    assert s.metrics.sample_every == 6377 * 12 and s.metrics.jobs is True and s.metrics.transitions is False


def test_group_defaults():
    s = parse_scenario("""\
duration: 1 h
orchestrators:
  - {}
  - pipelines: {llm: {}}
gateways:
  - demand:
      - type: transcoding
        arrival: {process: poisson, rate: 1/min}
      - type: batch_ai
        pipeline: llm
        arrival: {process: constant, interval: 10 s}
delegators:
  - {}
  - {}
""")
    g = s.gateways[0]
    assert g.name == "gw0" and (g.deposit, g.reserve) == (10**18, 10**18) and g.max_price_per_pixel is None
    assert (g.max_ticket_ev, g.max_total_ev, g.max_attempts, g.max_ai_prices) == (3000 * GWEI, 20000 * GWEI, 3, {})
    sel = g.selection
    assert (sel.stake_weight, sel.price_weight, sel.rand_weight, sel.price_exp_factor) == (0.7, 0, 0.3, 100)
    t, b = g.demand
    assert isinstance(t, TranscodingWorkload) and isinstance(b, BatchAIWorkload)
    assert t.arrival.rate == pytest.approx(1 / 60) and t.arrival.interarrival == Exponential(60.0)
    assert (t.start, t.stop, t.stream_duration, t.segment_duration) == (0, None, Constant(600), 2)
    assert [p.name for p in t.profiles] == ["P240p30fps16x9", "P360p30fps16x9"]
    assert (t.source.width, t.source.height, t.source.fps) == (1280, 720, 30)
    assert (b.pipeline, b.model_id, b.request) == ("llm", DEFAULT_MODEL_IDS["llm"], {})
    assert b.arrival.interarrival == Constant(10.0)
    d0, d1 = s.delegators
    assert (d0.name, d1.name) == ("del0", "del1")
    assert (d0.stake, d0.bond_to, d0.unbond_probability) == (Constant(100 * LPT), "stake_weighted", 0)
    assert d0.rebond_after is None and d0.claim_every == 30 * 86400


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_shipped_scenarios_validate(path):
    s = load_scenario(path)
    assert s.name == path.stem
    assert s.protocol_params().round_length == s.chain.round_length
    assert parse_scenario(s.to_yaml()) == s  # the saved, resolved form reads back the same
    text = path.read_text()
    assert text.startswith("#"), "each shipped scenario opens with a comment saying what it shows"


def test_shipped_scenarios_are_the_documented_ones():
    assert {p.name for p in SCENARIOS} >= {"quickstart.yaml", "selection-fairness.yaml", "payments.yaml",
                                           "economics.yaml"}
    quick = load_scenario(SCENARIOS[0].parent / "quickstart.yaml")
    assert quick.seed == 42 and quick.duration == 7200 and quick.chain.round_length == 100
    assert sum(g.count for g in quick.orchestrators) == 8 and sum(g.count for g in quick.delegators) == 20
    econ = load_scenario(SCENARIOS[0].parent / "economics.yaml")
    assert econ.duration == 365 * 86400 and sum(g.count for g in econ.orchestrators) == 100
    assert isinstance(econ.orchestrators[0].stake, Pareto)
    params = econ.protocol_params()
    assert (params.inflation, params.inflation_change, params.target_bonding_rate) == (613500, 500, 500_000_000)


def test_seed_override_and_name():
    s = parse_scenario("seed: 5\n" + MINIMAL, seed=11)
    assert s.seed == 11
    assert parse_scenario(MINIMAL, source="some/dir/my-run.yaml").name == "my-run"
    assert parse_scenario("name: given\n" + MINIMAL, source="x.yaml").name == "given"


def test_load_scenario_from_a_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(MINIMAL)
    assert load_scenario(path, seed=3).seed == 3
    path.write_text("duration: 1 h\norchestrators: []\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: 1 problem\n")


def test_values_are_resolved_to_base_units():
    s = parse_scenario("""\
duration: 3 rounds
chain:
  block_time: 2 s
  round_length: 50
  gas_price: 1 gwei
  initial_supply: 50e6 LPT
  params:
    target_bonding_rate: 40%
    inflation: 0.1%
    l1_circulating_supply: 1000 LPT
    treasury_reward_cut_rate: 10%
orchestrators:
  - count: 3
    stake: {dist: uniform, low: 500 LPT, high: 1500 LPT}
    ai_prices: {text-to-image: 0.5 wei, "llm/meta-llama/Meta-Llama-3.1-8B-Instruct": 2 gwei}
    pipelines:
      text-to-image: {compute: 25 blocks}
      llm: {model_id: meta-llama/Meta-Llama-3.1-8B-Instruct, warm: false}
    reward: never
    service_uri: "https://o{index}.example:8935"
  - {}
gateways:
  - max_price_per_pixel: 0.5 gwei
    demand:
      - type: transcoding
        arrival: {process: constant, interval: 1 blocks}
        start: 1 rounds
        stop: 2 rounds
        stream_duration: {dist: uniform, low: 10 s, high: 1 rounds}
        profiles: [P720p60fps16x9]
delegators:
  - {rebond_after: 2 rounds, claim_every: null, unbond_probability: 1%}
metrics: {sample_every: 10 blocks}
""")
    assert s.duration == 300 and s.chain.round_seconds == 100
    assert s.chain.gas_price == GWEI and s.chain.initial_supply == 50_000_000 * LPT
    params = s.protocol_params()
    assert params.round_length == 50 and params.target_bonding_rate == 400_000_000 and params.inflation == 1_000_000
    assert params.l1_circulating_supply == 1000 * LPT and params.treasury_reward_cut_rate == 10**26
    o = s.orchestrators[0]
    assert o.stake == Uniform(500e18, 1500e18)
    assert o.ai_prices == {"text-to-image": Fraction(1, 2), "llm/meta-llama/Meta-Llama-3.1-8B-Instruct": 2 * GWEI}
    assert o.pipelines["text-to-image"].compute == Constant(50.0)
    assert o.pipelines["text-to-image"].model_id == "stabilityai/sdxl-turbo"
    assert o.pipelines["llm"].warm is False and o.pipelines["llm"].compute == LogNormal(1.0, 0.3)
    assert o.reward == 0.0 and [o.service_uri_for(i) for i in range(2)] == ["https://o0.example:8935",
                                                                           "https://o1.example:8935"]
    g = s.gateways[0]
    assert g.max_price_per_pixel == 500_000_000
    t = g.demand[0]
    assert (t.arrival.interval, t.start, t.stop, t.stream_duration) == (2, 100, 200, Uniform(10, 100))
    assert PROFILES["P720p60fps16x9"] == t.profiles[0] and t.profiles[0].pixels_per_second == 1280 * 720 * 60
    d = s.delegators[0]
    assert (d.rebond_after, d.claim_every, d.unbond_probability) == (200, None, 0.01)
    assert s.metrics.sample_every == 20
    assert parse_scenario(s.to_yaml()) == s


def test_profiles_read_as_node_pricing_profiles():
    from node.core.pricing import transcode_pixels

    p = PROFILES["P360p30fps16x9"]
    assert (p.name, p.width, p.height, p.fps, p.framerate, p.framerate_den) == ("P360p30fps16x9", 640, 360, 30, 30, 0)
    assert transcode_pixels([p], 2.0) == 640 * 360 * 30 * 2
    assert PIPELINES[0] == "transcoding" and len(PIPELINES) == 11


# --- errors ----------------------------------------------------------------------------------------

BAD_REWARD_CUT = """\
# a scenario whose first orchestrator keeps 150 % of its rewards
name: bad
description: a bad one
seed: 1
duration: 2 h

chain:
  round_length: 100

orchestrators:
  - name: big
    count: 2
    stake: 5000 LPT
    reward_cut: 1.5
    fee_share: 0.5
"""


def test_error_names_field_and_line():
    assert BAD_REWARD_CUT.splitlines()[13].strip() == "reward_cut: 1.5"
    with pytest.raises(ScenarioError) as info:
        parse_scenario(BAD_REWARD_CUT, source="scenarios/bad.yaml")
    assert str(info.value) == ("scenarios/bad.yaml: 1 problem\n"
                               "  line 14, orchestrators[0].reward_cut: must be between 0 and 1 (got 1.5)")
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (14, "orchestrators[0].reward_cut")
    assert isinstance(info.value, ValueError)


def test_many_problems_listed_together_in_line_order():
    text = """\
duration: 1 h
chain:
  backend: geth
  params:
    inflaton: 3
    round_length: 5
orchestrators:
  - reward_cutt: 0.2
    stake: {dist: lognormal, median: 1 parsec, sigma: 1}
gateways:
  - demand:
      - type: transcoding
        arrival: {process: poisson, rate: 5 per fortnight}
        profiles: [P240p30fps16x9, P1080p]
"""
    found = problems(text)
    assert found == [
        "line 3, chain.backend: must be 'revm', 'fast' or 'embedded' (got 'geth')",
        'line 5, chain.params.inflaton: unknown key "inflaton"; did you mean "inflation"?',
        'line 6, chain.params.round_length: unknown key "round_length": set `chain.round_length` instead',
        'line 8, orchestrators[0].reward_cutt: unknown key "reward_cutt"; did you mean "reward_cut"?',
        'line 9, orchestrators[0].stake.median: unknown unit "parsec" (expected LPT or wei)',
        'line 13, gateways[0].demand[0].arrival.rate: unknown unit "per fortnight" (expected /s, /min, /h or /d)',
        f'line 14, gateways[0].demand[0].profiles[1]: unknown profile "P1080p" (expected one of '
        f'{", ".join(PROFILES)})',
    ]
    with pytest.raises(ScenarioError, match=r"^test.yaml: 7 problems\n  line 3, "):
        parse_scenario(text, source="test.yaml")


def test_unknown_keys_everywhere():
    found = problems("""\
duration: 1 h
durration: 2 h
orchestrators:
  - pipelines:
      transcoding: {warm: true, gpu: 1}
network: {latency: 40 ms, jitter: 1 ms}
""")
    assert found == [
        'line 2, durration: unknown key "durration"; did you mean "duration"?',
        'line 5, orchestrators[0].pipelines.transcoding.gpu: unknown key "gpu" (expected one of model_id, warm, '
        'compute, mode)',
        'line 6, network.jitter: unknown key "jitter" (expected one of latency, loss)',
    ]


def test_unknown_protocol_param_is_named():
    (found,) = problems(MINIMAL + "chain:\n  params:\n    reward_rate: 5\n")
    assert found.startswith('line 6, chain.params.reward_rate: unknown key "reward_rate"')
    (found,) = problems(MINIMAL + "chain:\n  params:\n    inflation: 2000000000\n")
    assert found == "line 6, chain.params.inflation: must be at most 1000000000, got 2000000000"
    (found,) = problems(MINIMAL + "chain:\n  params:\n    target_bonding_rate: 0.5\n")
    assert "a whole number of 1e-9 units or a percentage such as `50%`" in found


def test_unknown_units_and_pipelines():
    found = problems("""\
duration: 2 fortnights
orchestrators:
  - ticket_ev: 8 LPT
    pipelines: {text2image: {}}
    ai_prices: {transcoding: 1}
gateways:
  - demand:
      - {type: batch_ai, pipeline: live-video-to-video, arrival: {process: poisson, rate: 1}}
""")
    assert found == [
        'line 1, duration: unknown unit "fortnights" (expected ms, s, min, h, d, w, y, blocks or rounds)',
        'line 3, orchestrators[0].ticket_ev: unknown unit "LPT" (expected wei, gwei or ETH)',
        f'line 4, orchestrators[0].pipelines.text2image: unknown pipeline "text2image" (expected one of '
        f'{", ".join(PIPELINES)})',
        "line 5, orchestrators[0].ai_prices.transcoding: transcoding is priced per pixel "
        "(price_per_pixel / max_price_per_pixel)",
        "line 8, gateways[0].demand[0].pipeline: live-video-to-video is a live pipeline, not a batch one",
    ]


def test_tagged_sections_report_their_own_keys():
    found = problems("""\
duration: 1 h
orchestrators: [{}]
gateways:
  - demand:
      - type: streaming
        arrival: {process: poisson, rate: 1}
      - type: transcoding
        arrival: {process: bursty}
      - type: transcoding
        arrival: {process: constant}
      - type: transcoding
        arrival: {process: poisson, rate: 1}
        start: 10 min
        stop: 5 min
      - arrival: {process: poisson, rate: 1}
      - type: batch_ai
        arrival: {process: poisson, rate: 1}
""")
    assert found == [
        "line 5, gateways[0].demand[0].type: must be one of 'transcoding', 'batch_ai', 'live_ai', 'byoc' (got 'streaming')",
        "line 8, gateways[0].demand[1].arrival.process: must be one of 'poisson', 'constant' (got 'bursty')",
        "line 10, gateways[0].demand[2].arrival.interval: required",
        "line 14, gateways[0].demand[3].stop: must be after start (300 s <= 600 s)",
        "line 15, gateways[0].demand[4].type: required",
        "line 16, gateways[0].demand[5].pipeline: required",
    ]


def test_missing_and_empty():
    assert problems("orchestrators: [{}]\n") == ["line 1, duration: required"]
    assert problems("duration: 1 h\n") == ["line 1, orchestrators: required"]
    assert problems("duration: 1 h\norchestrators: []\n") == ["line 2, orchestrators: must have at least 1 entry"]
    assert problems("") == ["a scenario is a mapping of keys such as `duration` and `orchestrators` "
                            "(the file is empty)"]
    assert problems("- 1\n")[0].startswith("line 1: a scenario is a mapping")


def test_yaml_syntax_errors_give_line_and_column():
    with pytest.raises(ScenarioError) as info:
        parse_scenario("duration: 1 h\norchestrators:\n  - name: a: b\n", source="s.yaml")
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (3, 12)
    assert str(info.value) == "s.yaml: 1 problem\n  line 3, column 12: mapping values are not allowed here"
    (found,) = problems("duration: 1 h\norchestrators:\n  - name: a\n   count: 2\n")
    assert found.startswith("line 4, column 4: expected <block end>")
    (found,) = problems("duration: 1 h\norchestrators: [{}\n")
    assert found.startswith("line 3, column 1: expected ',' or ']'")


def test_duplicate_keys_are_problems():
    assert problems("duration: 1 h\norchestrators:\n  - count: 2\n    count: 3\n") == [
        'line 4, orchestrators[0].count: duplicate key "count" (first on line 3)']


def test_merge_keys():
    s = parse_scenario("""\
duration: 1 h
orchestrators:
  - &base {name: a, count: 2, reward_cut: 0.2}
  - <<: *base
    name: b
""")
    assert [(o.name, o.count, o.reward_cut) for o in s.orchestrators] == [("a", 2, 0.2), ("b", 2, 0.2)]


def test_merged_values_report_the_anchor_line():
    found = problems("""\
duration: 1 h
orchestrators:
  - &base
    name: a
    reward_cut: 3
  - <<: *base
    name: b
""")
    assert found == ["line 5, orchestrators[0].reward_cut: must be between 0 and 1 (got 3)",
                     "line 5, orchestrators[1].reward_cut: must be between 0 and 1 (got 3)"]


def test_group_checks():
    found = problems("""\
duration: 1 h
orchestrators:
  - name: a
    count: 2
    service_uri: https://same:8935
  - name: b
    service_uri: https://{host}:8935
gateways:
  - selection: {stake_weight: 0.5}
""")
    assert found == [
        "line 5, orchestrators[0].service_uri: every orchestrator of a group needs its own URI: use {name} or {index}",
        "line 7, orchestrators[1].service_uri: bad placeholder in 'https://{host}:8935' ('host'); "
        "use {name} or {index}",
        "line 9, gateways[0].selection: stake_weight + price_weight + rand_weight must add up to 1 (got 0.8)",
    ]
    assert problems("duration: 1 h\norchestrators: [{name: x}]\ndelegators: [{name: x}]\n") == [
        'line 3, delegators[0].name: duplicate group name "x" (also orchestrators[0])']


def test_integers_must_be_integers():
    assert problems("duration: 1 h\norchestrators:\n  - count: true\n    capacity: 2.5\n") == [
        "line 3, orchestrators[0].count: Input should be a valid integer (got True)",
        "line 4, orchestrators[0].capacity: Input should be a valid integer (got 2.5)"]


def test_chain_relative_values_need_a_time_base():
    assert problems("duration: 1 h\nchain: {block_time: 2 blocks}\norchestrators: [{}]\n") == [
        "line 2, chain.block_time: must be a time such as `12 s`, not a number of blocks or rounds"]
    # an invalid round_length is reported, and does not produce errors elsewhere
    assert problems("duration: 2 rounds\nchain: {round_length: 0}\norchestrators: [{}]\n") == [
        "line 2, chain.round_length: must be at least 1 (got 0)"]


def test_distribution_errors_point_at_the_parameter():
    assert problems("""\
duration: 1 h
orchestrators:
  - stake:
      dist: pareto
      scale: 100 LPT
      shape: -1
""") == ["line 6, orchestrators[0].stake.shape: must be greater than 0 (got -1.0)"]
    assert problems("duration: 1 h\norchestrators: [{}]\nnetwork:\n  latency: {dist: gamma, k: 2}\n") == [
        'line 4, network.latency.dist: unknown distribution "gamma" (expected one of constant, uniform, normal, '
        'lognormal, exponential, pareto, choice, empirical)']


def test_demand_no_orchestrator_serves_is_refused_at_its_line():
    text = """\
duration: 1 h
orchestrators:
  - pipelines:
      transcoding:
      text-to-image: {model_id: m1}
gateways:
  - demand:
      - type: transcoding
        arrival: {process: poisson, rate: 1/s}
      - type: batch_ai
        pipeline: text-to-image
        model_id: m2
        arrival: {process: poisson, rate: 1/s}
"""
    assert problems(text) == [
        "line 10, gateways[0].demand[1]: no orchestrator runs text-to-image with model m2, so every job would fail "
        "(the orchestrators run: text-to-image/m1, transcoding)"]
    assert parse_scenario(text.replace("model_id: m2", "model_id: m1")).gateways[0].demand[1].model_id == "m1"


def test_live_demand_needs_a_live_pipeline():
    text = MINIMAL + """\
gateways:
  - demand:
      - type: live_ai
        arrival: {process: poisson, rate: 1/min}
"""
    (problem,) = problems(text)
    assert "no orchestrator runs live-video-to-video with model" in problem and problem.startswith("line 6,")


def test_lpsim_version_is_the_installed_distributions(capsys):
    from importlib.metadata import version

    from lpsim import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"lpsim {version('lpsim')}"
