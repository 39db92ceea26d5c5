"""What the installed package must carry besides its modules: the contracts' shipped ABIs and
bytecode (fresh against the Vyper sources), the scenario files, the data sets, the .proto; and
deployment artifacts other tools read. These fail when a file is missing from the wheel even when
the suite runs from the checkout: they read the installed distribution's own file list."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest

from contracts import PROTOCOL_CONTRACTS
from node.eth import artifacts
from node.eth.compiler import compile_contract


@pytest.mark.parametrize("name", PROTOCOL_CONTRACTS)
def test_shipped_abi_and_bytecode_are_those_of_the_source(name):
    import vyper

    shipped = artifacts.shipped(name)
    hint = "stale: run `python -m node.eth.artifacts` and commit node/eth/abis/"
    assert shipped["source_sha256"] == artifacts.source_sha256(name), hint
    assert shipped["vyper_version"] == vyper.__version__, hint
    compiled = compile_contract(name)
    assert shipped["abi"] == compiled.abi, hint
    assert bytes.fromhex(shipped["bytecode"][2:]) == compiled.bytecode, hint
    assert (len(shipped["deployedBytecode"]) - 2) // 2 == compiled.runtime_size, hint
    assert artifacts.shipped_compiled(name, vyper.__version__) == compiled
    assert artifacts.shipped_compiled(name, "0.3.10") is None  # another compiler's output is not ours


def test_abi_is_public_and_needs_no_compiler():
    names = {item.get("name") for item in artifacts.abi("BondingManager")}
    assert {"bond", "reward", "transcoderTotalStake", "Bond"} <= names
    with pytest.raises(FileNotFoundError, match="no shipped ABI"):
        artifacts.abi("JobsManager")


def test_the_installed_distribution_carries_the_package_data():
    files = {str(f) for f in distribution("lpsim").files}
    wanted = {f"node/eth/abis/{n}.json" for n in PROTOCOL_CONTRACTS} | {f"contracts/{n}.vy" for n in PROTOCOL_CONTRACTS}
    wanted |= {"scenarios/fee-flow.yaml", "scenarios/quickstart.yaml", "lpsim/data/fee_quarters.csv",
               "lpsim/data/inflation_daily.csv", "node/net/proto/lp_rpc.proto", "node/testing/plugin.py"}
    assert wanted <= files, f"missing from the installed package (reinstall, or fix package-data): {sorted(wanted - files)}"
    plugins = [ep.value for ep in distribution("lpsim").entry_points if ep.group == "pytest11"]
    assert plugins == ["node.testing.plugin"]


@pytest.mark.lp_backend("embedded")
def test_write_artifacts_in_hardhat_format_with_addresses(protocol, chain, tmp_path):
    out = artifacts.write_artifacts(protocol, tmp_path / "artifacts")
    assert out == tmp_path / "artifacts" / "addresses.json"
    assert json.loads(out.read_text()) == protocol.addresses
    for name, address in protocol.addresses.items():
        art = json.loads((tmp_path / "artifacts" / f"{name}.json").read_text())
        assert art["_format"] == "hh-sol-artifact-1" and art["contractName"] == name
        assert art["address"] == address and art["abi"] == artifacts.abi(name)
        # what the chain runs is the compiler's runtime code (Vyper appends immutables after it)
        code = bytes(chain.w3.eth.get_code(address))
        assert code.startswith(bytes.fromhex(art["deployedBytecode"][2:])), name


def test_lpsim_validation_runs_from_any_directory(tmp_path):
    # the fee-flow scenario comes from the package, not from a checkout next to the cwd
    r = subprocess.run([sys.executable, "-m", "lpsim.cli", "validation", "--runs", "1", "--out", "v"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((tmp_path / "v" / "validation.json").read_text())["failed_runs"] == []
