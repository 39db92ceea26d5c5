"""Hostile or mistaken scenario files are refused at their field and line, in bounded memory and
without a traceback; a run never mixes with the files of an earlier one; Ctrl-C ends `lpsim`
with one line; the simulator's per-request protocol state does not accumulate."""
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from lpsim import cli
from lpsim.engine import Simulation
from lpsim.scenario import (MAX_AGENTS, MAX_DEPTH, MAX_FILE_BYTES, MAX_SWEEP_RUNS, MAX_VALUES, ScenarioError,
                            load_scenario, parse_scenario)
from lpsim.sweep import expand

ROOT = Path(__file__).parents[2]
MINIMAL = "duration: 1 h\norchestrators:\n  - {}\n"
MEMORY_LIMIT = 1536 * 2**20  # address space of the child that validates hostile files


def problems(text: str | bytes) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="test.yaml")
    return [str(p) for p in info.value.problems]


def validate_in_child(path: Path) -> subprocess.CompletedProcess:
    """`lpsim validate path` in a process that may not use more than MEMORY_LIMIT."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    code = "import sys; from lpsim.cli import main; sys.exit(main(sys.argv[1:]))"
    # the lpsim under test: the checkout (cwd) or, under -P, the installed package
    safe_path = ["-P"] if sys.flags.safe_path else []
    return subprocess.run([sys.executable, *safe_path, "-c", code, "validate", str(path)], cwd=ROOT, preexec_fn=limit,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"})


def billion_laughs() -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi"):
        text += f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    return MINIMAL + text.replace("a: &a", "description: &a", 1)


def test_alias_bomb_is_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    assert len(path.read_bytes()) < 700
    result = validate_in_child(path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"more than {MAX_VALUES:,} values once aliases are expanded" in result.stderr
    assert "line " in result.stderr


def test_huge_sweep_grid_is_refused_in_bounded_memory(tmp_path):
    values = ", ".join(str(i) for i in range(40_000))
    path = tmp_path / "grid.yaml"
    path.write_text(MINIMAL + f"sweep:\n  parameters:\n    seed: [{values}]\n    chain.redeem_gas: [{values}]\n")
    result = validate_in_child(path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "line 5, sweep.parameters: 1,600,000,000 points, more than 10,000" in result.stderr


def test_sweep_runs_are_bounded_with_or_without_a_sweep():
    assert "sweep.runs" in problems(MINIMAL + "sweep:\n  parameters: {seed: [1, 2]}\n  runs: 60000\n")[0]
    with pytest.raises(ScenarioError, match=f"more than {MAX_SWEEP_RUNS:,} runs"):
        expand(parse_scenario(MINIMAL), runs=MAX_SWEEP_RUNS + 1)


def test_non_utf8_bytes_are_named_at_their_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(MINIMAL.encode() + b"description: caf\xe9\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert [str(p) for p in info.value.problems] == ["line 4, column 17: not UTF-8 text (byte 0xe9)"]
    assert problems(MINIMAL + "description: a\x07b\n") == ["line 4, column 15: character #x0007 is not allowed in YAML"]


def test_files_past_the_size_limit_are_refused_unread(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_bytes(MINIMAL.encode() + b"description: " + b"x" * MAX_FILE_BYTES + b"\n")
    with pytest.raises(ScenarioError, match='larger than 10 MiB; see "Limits"'):
        load_scenario(path)


def test_deep_nesting_is_refused_at_its_line():
    deep = MINIMAL + "description: " + "[" * 20_000 + "]" * 20_000 + "\n"
    [message] = problems(deep)
    assert message.startswith("line 4, column ") and f"nested deeper than {MAX_DEPTH} levels" in message
    # nesting built from aliases counts too, and so does an alias inside its own anchor
    chain = "".join(f"x{i}: &x{i} [*x{i - 1}]\n" for i in range(1, MAX_DEPTH + 2))
    assert "once aliases are expanded" in problems(MINIMAL + "x0: &x0 [1]\n" + chain)[0]
    assert problems(MINIMAL + "description: &a [*a]\n") == \
        ["line 4, column 18: an alias cannot stand inside its own anchor"]


@pytest.mark.parametrize("value, message", [
    ("1e400 LPT", "out of range (got '1e400 LPT'): numbers lie between 1e-100 and 1e100 in size"),
    ("1e-400 LPT", "out of range (got '1e-400 LPT'): numbers lie between 1e-100 and 1e100 in size"),
    ("1e80 LPT", "out of range (got '1e80 LPT'): amounts are below 2^256 wei"),
    (".inf", "expected an LPT amount such as `5000 LPT` or a number of LPT (got inf)"),
    (".nan", "expected an LPT amount such as `5000 LPT` or a number of LPT (got nan)"),
])
def test_out_of_range_quantities_name_field_and_line(value, message):
    assert problems(MINIMAL + f"  - stake: {value}\n") == [f"line 4, orchestrators[1].stake: {message}"]


def test_values_python_cannot_build_are_refused_at_their_line():
    assert problems(MINIMAL + "seed: 1" + "0" * 5000 + "\n") == ["line 4, column 7: cannot read this value: Exceeds "
                                                             "the limit (4300 digits) for integer string conversion: "
                                                             "value has 5001 digits"]
    assert problems(MINIMAL + "description: 2001-13-45\n") == \
        ["line 4, column 14: cannot read this value: month must be in 1..12"]


def test_a_billion_orchestrators_are_refused_with_the_limit():
    assert problems("duration: 1 h\norchestrators:\n  - count: 1000000000\n") == [
        f'line 3, orchestrators[0].count: must be at most {MAX_AGENTS:,} (got 1,000,000,000); '
        'see "Limits" in scenarios/README.md']
    many = "duration: 1 h\norchestrators:\n  - count: 60000\ndelegators:\n  - count: 60000\n"
    assert problems(many)[0].startswith("line 5, delegators[0].count: more than 100,000 agents in all")


def test_duration_is_bounded():
    assert problems("duration: 1000 y\norchestrators: [{}]\n")[0].startswith(
        "line 1, duration: must be at most 100 y")


def test_cli_prints_the_problem_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"duration: 1 h\norchestrators:\n  - stake: \xff\n")
    assert cli.main(["validate", str(path)]) == 1
    assert cli.main(["run", str(path), "--quiet", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("line 3, column 12: not UTF-8 text (byte 0xff)") == 2 and "Traceback" not in err


def test_a_draw_that_overflows_ends_the_run_with_a_message(tmp_path, capsys):
    path = tmp_path / "wild.yaml"
    path.write_text("duration: 10 min\norchestrators:\n  - stake: {dist: lognormal, median: 1000 LPT, sigma: 1e50}\n")
    assert cli.main(["run", str(path), "--quiet", "--no-report", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "lpsim run: a lognormal draw overflowed to inf" in err and "Traceback" not in err


def test_run_into_an_old_folder_leaves_none_of_the_old_files(tmp_path, capsys):
    path, out = tmp_path / "tiny.yaml", tmp_path / "out"
    path.write_text("duration: 20 min\nchain: {round_length: 50}\norchestrators: [{}]\nmetrics: {jobs: false}\n")
    out.mkdir()
    for name in ("report.html", "jobs.csv", "transitions.csv", "timing.json", "notes.txt"):
        (out / name).write_text("from an earlier run\n")
    assert cli.main(["run", str(path), "--quiet", "--no-report", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "notes.txt", "scenario.yaml", "summary.json",
                                                      "timing.json", "transition_counts.csv"]
    assert (out / "timing.json").read_text() != "from an earlier run\n"


def test_ctrl_c_ends_with_one_line_and_130(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    path = tmp_path / "tiny.yaml"
    path.write_text(MINIMAL)
    monkeypatch.setattr("lpsim.engine.run_scenario", interrupted)
    assert cli.main(["run", str(path), "--quiet", "--out", str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err == "lpsim: interrupted\n"


def test_protocol_state_per_request_does_not_accumulate():
    """Six simulated hours at a request a minute: balances, PM sessions and nonces stay at what the
    last few minutes used, not one per request."""
    sc = parse_scenario("""\
duration: 6 h
orchestrators:
  - count: 2
    ai_prices: {text-to-image: 100000 wei}
    pipelines: {text-to-image: {}}
gateways:
  - demand:
      - type: batch_ai
        pipeline: text-to-image
        arrival: {process: constant, interval: 1 min}
metrics: {jobs: false}
""")
    sim = Simulation(sc)
    sim.run()
    gateway = sim.gateways[0]
    assert gateway.jobs_completed > 300
    assert len(gateway.balances) < 20 and len(gateway.sender._sessions) < 20
    for o in sim.orchestrators:
        assert len(o.receiver.balances) < 20 and len(o.recipient._nonces) < 20
