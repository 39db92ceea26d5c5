"""ethers 6 and viem 2, untouched, against a devchain process (issue 17): the scripts in
tests/eth/js print what the clients saw as JSON, asserted on here.

The npm packages (exact versions in tests/eth/js/package.json and its lock file) are installed
once into a cache directory keyed by the lock file's hash (under the pytest cache, or the
temporary directory when the cache is off) and reused by later runs. The test is skipped only
when `node` or `npm` is missing, or when the install fails for lack of network."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from node.eth.chain import dev_accounts
from node.eth.compiler import compile_contract

from .devchain_process import BACKENDS, devchain_process

pytestmark = pytest.mark.devchain

JS = Path(__file__).parent / "js"
PACKAGE_FILES = ("package.json", "package-lock.json")
SCRIPTS = ("ethers_client.mjs", "viem_client.mjs")
NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH",
                  "network request", "getaddrinfo", "socket hang up")


@pytest.fixture(scope="module")
def js_dir(request) -> Path:
    """A directory holding tests/eth/js's packages installed, and its scripts."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run ethers and viem (not found on PATH)")
    digest = hashlib.sha256(b"".join((JS / name).read_bytes() for name in PACKAGE_FILES)).hexdigest()[:16]
    cache = getattr(request.config, "cache", None)
    root = Path(cache.mkdir("lpsim-js")) if cache is not None else Path(tempfile.gettempdir()) / "lpsim-js"
    root.mkdir(parents=True, exist_ok=True)
    where = root / digest
    if not (where / "node_modules").is_dir():
        # installed beside, then renamed into place: a concurrent run sees all of it or none
        staging = Path(tempfile.mkdtemp(prefix=f"{digest}-", dir=root))
        for name in PACKAGE_FILES:
            shutil.copy(JS / name, staging / name)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=staging, capture_output=True, text=True,
                              check=False, timeout=600, env={**os.environ, "npm_config_update_notifier": "false"})
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            output = done.stdout + done.stderr
            if any(word in output for word in NETWORK_ERRORS):
                pytest.skip(f"npm could not reach its registry to install ethers and viem: {output[-500:]}")
            pytest.fail(f"npm ci failed:\n{output[-4000:]}")
        try:
            staging.rename(where)
        except OSError:  # another run got there first
            shutil.rmtree(staging, ignore_errors=True)
    for name in SCRIPTS:  # next to node_modules, where their imports resolve
        shutil.copy(JS / name, where / name)
    return where


@pytest.fixture(scope="module", params=BACKENDS)
def devchain(tmp_path_factory, request):
    with devchain_process(tmp_path_factory.mktemp("devchain-js"), backend=request.param) as running:
        yield running


def run_client(js_dir: Path, script: str, devchain, tmp_path: Path, key_index: int) -> dict:
    url, addresses = devchain
    keys = dev_accounts(20)
    config = {"url": url, "chainId": 31337, "key": "0x" + keys[key_index].key.hex(), "to": keys[17].address,
              "token": {"address": addresses["LivepeerToken"], "abi": compile_contract("LivepeerToken").abi}}
    path = tmp_path / f"{script}.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(["node", script, str(path)], cwd=js_dir, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_ethers(js_dir, devchain, tmp_path):
    seen = run_client(js_dir, "ethers_client.mjs", devchain, tmp_path, key_index=18)
    assert seen["chainId"] == "31337"
    assert seen["transferEstimate"] == "21000"
    fees = seen["feeData"]
    assert all(int(fees[k]) > 0 for k in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"))
    assert seen["backToBack"] == {"nonces": [0, 1], "status": [1, 1]}
    # automine off: both pending, then mined together
    assert seen["pending"]["nonces"] == [2, 3] and seen["pending"]["status"] == [1, 1]
    assert seen["pending"]["blocks"][0] == seen["pending"]["blocks"][1]
    receipt = seen["receipt"]
    assert receipt["status"] == 1 and receipt["parsed"] == ["Transfer"] and receipt["logsBloomLength"] == 2 + 512
    assert int(receipt["gasUsed"]) <= int(seen["contractEstimate"])
    assert int(seen["balanceBefore"]) - int(seen["balanceAfter"]) == 5
    assert [e["tx"] for e in seen["queryFilter"]] == [seen["txHash"]] and seen["queryFilter"][0]["value"] == "5"
    assert seen["queryFilterEarliest"] >= 1
    assert seen["listener"] == {"value": "5", "tx": seen["txHash"]}  # contract.once over eth_newFilter
    block = seen["block"]
    assert block["txBlockNumber"] == block["number"] == receipt["blockNumber"] and block["txHash"] == seen["txHash"]


def test_viem(js_dir, devchain, tmp_path):
    seen = run_client(js_dir, "viem_client.mjs", devchain, tmp_path, key_index=19)
    assert seen["chainId"] == 31337
    assert seen["transferEstimate"] == "21000"
    assert int(seen["fees"]["maxFeePerGas"]) >= int(seen["fees"]["maxPriorityFeePerGas"]) > 0
    assert int(seen["legacyGasPrice"]) > 0
    assert seen["sendTransaction"] == {"status": "success", "gasUsed": "21000", "type": "eip1559"}
    write = seen["writeContract"]
    assert write["status"] == "success" and write["logs"] == 1
    assert [e["tx"] for e in seen["getLogs"]] == [write["hash"]] and seen["getLogs"][0]["value"] == "5"
    assert seen["getLogsEarliest"] >= 1
    assert [e["tx"] for e in seen["getContractEvents"]] == [write["hash"]]
    block = seen["block"]
    assert block["txBlockNumber"] == block["number"] == write["blockNumber"] and block["txHash"] == write["hash"]
    assert block["logsBloomLength"] == 2 + 512
    assert write["hash"] in seen["watched"] and seen["watchErrors"] == []
