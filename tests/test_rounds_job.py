"""The main job (`lpsim rounds`) and the command lines' handling of bad flags."""
import subprocess
import sys

from lpsim.rounds import format_row, run
from node.eth import LPT, ProtocolParams

PARAMS = ProtocolParams(round_length=50, inflation=500_000, inflation_change=500, target_bonding_rate=500_000_000,
                        lpt_per_account=1_000 * LPT)


def test_rounds_follow_the_minters_inflation_rule():
    rows = run(PARAMS, orchestrators=2, delegators=3, rounds=3, seed=7)
    supply = 6 * 1_000 * LPT  # owner + 5 participants
    inflation = PARAMS.inflation
    for row in rows:
        # The Minter moves inflation by ±inflationChange against the target, then mints supply × inflation
        step = PARAMS.inflation_change if row.bonding_rate < PARAMS.target_bonding_rate else -PARAMS.inflation_change
        inflation += step if row.bonding_rate != PARAMS.target_bonding_rate else 0
        assert row.inflation == inflation
        assert row.mintable == supply * inflation // 10**9
        assert row.rewards_called == 2
        # each orchestrator mints mintable × floor(stake × 1e9 / total) / 1e9: the floor of the
        # 1e9-scaled share costs at most mintable / 1e9 (+1 wei) per orchestrator
        assert 0 <= row.mintable - row.minted <= 2 * (row.mintable // 10**9 + 1)
        supply += row.minted
        assert row.total_supply == supply
    assert rows[1].total_bonded == rows[0].total_bonded + rows[0].minted  # rewards are bonded


def test_same_seed_same_table():
    a = run(PARAMS, orchestrators=2, delegators=2, rounds=1, seed=3)
    b = run(PARAMS, orchestrators=2, delegators=2, rounds=1, seed=3)
    assert [format_row(r) for r in a] == [format_row(r) for r in b]


def cli(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_cli_rejects_bad_flags_with_a_clear_message():
    r = cli("-m", "node.cli", "devchain", "--round-length", "0")
    assert r.returncode == 2 and "round_length must be greater than 0" in r.stderr
    r = cli("-m", "node.cli", "devchain", "--inflation", "lots")
    assert r.returncode == 2 and "--inflation: not an integer: 'lots'" in r.stderr
    r = cli("-m", "lpsim.cli", "rounds", "--rounds", "0")
    assert r.returncode == 2 and "--rounds must be at least 1" in r.stderr


def test_cli_rounds_prints_the_table():
    r = cli("-m", "lpsim.cli", "rounds", "--orchestrators", "2", "--delegators", "1", "--rounds", "2",
            "--round-length", "50")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].split()[:3] == ["round", "inflation", "ppb"]
    assert [line.split()[0] for line in lines[2:4]] == ["1", "2"]
