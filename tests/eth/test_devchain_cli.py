"""`lpnode devchain`'s command line: anvil's flags, the ready file, keystores and artifacts, and a
state carried across two processes (dumped on SIGTERM, loaded at start)."""
from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from eth_account import Account as EthAccount
from websockets.sync.client import connect

from node.devchain_cli import devchain_parser, keystore_name
from node.eth.chain import dev_accounts
from node.eth.deploy import params_to_flags

from ..conftest import TEST_PARAMS

MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"
READY_KEYS = {"url", "ws_url", "chain_id", "addresses", "controller", "accounts"}
GETH_KEYSTORE_NAME = re.compile(r"^UTC--\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{9}Z--[0-9a-f]{40}$")
PROBE = "0x" + "9a" * 20


def rpc(url, method, *params):
    reply = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                          timeout=30).json()
    assert "error" not in reply, (method, reply)
    return reply["result"]


def start(tmp: Path, name: str, *args: str) -> tuple[subprocess.Popen, dict, Path]:
    ready, log_path = tmp / f"{name}-ready.json", tmp / f"{name}.log"
    cmd = [sys.executable, "-m", "node.cli", "devchain", "--port", "0", "--ready-file", str(ready),
           *params_to_flags(TEST_PARAMS), *args]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not ready.exists():
        proc.kill()
        pytest.fail(f"{name} did not start:\n{log_path.read_text()}")
    return proc, json.loads(ready.read_text()), log_path


def stop(proc: subprocess.Popen, log_path: Path) -> str:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log_path.read_text()
    return log_path.read_text()


def test_every_flag_has_help():
    sub = argparse.ArgumentParser().add_subparsers()
    dev = devchain_parser(sub)
    flags = {option for action in dev._actions for option in action.option_strings}
    for wanted in ("--chain-id", "--mnemonic", "--accounts", "--balance", "--block-time", "--state", "--dump-state",
                   "--load-state", "--ready-file", "--keystore", "--password", "--artifacts", "--no-mining"):
        assert wanted in flags
    undocumented = [a.option_strings for a in dev._actions if a.option_strings and not a.help]
    assert undocumented == []
    args = dev.parse_args(["--chain-id", "7", "--balance", "10000"])
    assert (args.chain_id, args.balance, args.port) == (7, 10000, 8545)


def test_keystore_file_name_is_geths():
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    name = keystore_name("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", when)
    assert name == "UTC--2026-01-02T03-04-05.678901000Z--f39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    assert GETH_KEYSTORE_NAME.match(name)


def test_conflicting_state_flags_are_refused(tmp_path):
    done = subprocess.run([sys.executable, "-m", "node.cli", "devchain", "--state", str(tmp_path / "a"),
                           "--dump-state", str(tmp_path / "b")], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "--state" in done.stderr


@pytest.mark.devchain
def test_flags_ready_file_keystore_and_a_state_across_two_processes(tmp_path):
    state, keystore, artifacts = tmp_path / "state.json", tmp_path / "keys", tmp_path / "artifacts"
    proc, ready, log_path = start(
        tmp_path, "first", "--chain-id", "1337", "--accounts", "3", "--mnemonic", MNEMONIC, "--balance", "7",
        "--keystore", str(keystore), "--password", "secret", "--artifacts", str(artifacts), "--state", str(state))
    try:
        assert set(ready) == READY_KEYS
        url, port = ready["url"], int(ready["url"].rsplit(":", 1)[1])
        assert port != 0 and ready["ws_url"] == f"ws://127.0.0.1:{port}"
        assert ready["chain_id"] == 1337 and int(rpc(url, "eth_chainId"), 16) == 1337
        # the default EVM is revm, which serves the head's state only (py-evm would answer this)
        old_state = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance",
                                             "params": [PROBE, "0x1"]}, timeout=30).json()
        assert "--backend py-evm" in old_state["error"]["message"]
        expected = dev_accounts(3, MNEMONIC)
        assert [a["address"] for a in ready["accounts"]] == [a.address for a in expected]
        assert [a["private_key"] for a in ready["accounts"]] == ["0x" + a.key.hex() for a in expected]
        assert ready["controller"] == ready["addresses"]["Controller"]
        assert int(rpc(url, "eth_getBalance", expected[2].address, "latest"), 16) == 7 * 10**18
        with connect(ready["ws_url"]) as ws:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}))
            assert json.loads(ws.recv(timeout=10))["result"] == hex(1337)
        files = sorted(keystore.iterdir())
        assert len(files) == 3 and all(GETH_KEYSTORE_NAME.match(f.name) for f in files)
        keys = {EthAccount.decrypt(json.loads(f.read_text()), "secret").hex() for f in files}
        assert keys == {a["private_key"][2:] for a in ready["accounts"]}
        controller = json.loads((artifacts / "Controller.json").read_text())
        assert controller["address"] == ready["controller"] and controller["abi"]
        rpc(url, "anvil_setBalance", PROBE, "0x2a")
        rpc(url, "anvil_mine", "0x3")
        number = rpc(url, "eth_blockNumber")
        log = log_path.read_text()
        assert ready["url"] in log and ready["controller"] in log
    finally:
        output = stop(proc, log_path)
    assert f"state dumped to {state}" in output

    proc, ready, log_path = start(tmp_path, "second", "--chain-id", "1337", "--accounts", "3", "--mnemonic",
                                  MNEMONIC, "--state", str(state))
    try:
        url = ready["url"]
        assert rpc(url, "eth_getBalance", PROBE, "latest") == "0x2a"
        assert int(rpc(url, "eth_getBalance", dev_accounts(3, MNEMONIC)[2].address, "latest"), 16) == 7 * 10**18
        assert rpc(url, "eth_blockNumber") == number
        rpc(url, "anvil_setBalance", PROBE, "0x2b")
    finally:
        stop(proc, log_path)
    assert json.loads(state.read_text())["format"] == "lpsim-devchain-state/1"

    proc, ready, log_path = start(tmp_path, "third", "--chain-id", "1337", "--accounts", "3", "--mnemonic",
                                  MNEMONIC, "--load-state", str(state))
    try:
        assert rpc(ready["url"], "eth_getBalance", PROBE, "latest") == "0x2b"  # the second's exit dumped it
    finally:
        stop(proc, log_path)
