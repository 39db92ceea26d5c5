"""`lpcli` (node/operator_cli.py): amounts and usage; against a node's CLI API served in-process
over the fast chain; and, marked devchain, against a devchain process directly (--eth-url) and
through an on-chain `lpnode orchestrator -cliAddr ...` process (--node)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from fractions import Fraction

import pytest

from node.operator_cli import ETH_UNITS, LPT_UNITS, main, parse_amount

from ..conftest import TEST_PARAMS

LPCLI = [sys.executable, "-m", "node.operator_cli"]
LPT = ETH = 10**18


def test_amounts():
    assert parse_amount("1.5LPT", LPT_UNITS) == 15 * 10**17
    assert parse_amount("2ETH", ETH_UNITS) == parse_amount("2 eth", ETH_UNITS) == 2 * ETH
    assert parse_amount("1e18", LPT_UNITS) == parse_amount("1000000000000000000", LPT_UNITS) == LPT
    assert parse_amount("10gwei", ETH_UNITS) == 10 * 10**9
    assert parse_amount("0.000000000000000001LPT", LPT_UNITS) == 1
    for bad, units in (("1.5", LPT_UNITS), ("1e-1", ETH_UNITS), ("2ETH", LPT_UNITS), ("1LPT", ETH_UNITS),
                       ("-1", LPT_UNITS), ("1.2.3", LPT_UNITS), ("", LPT_UNITS), ("1e-19LPT", LPT_UNITS)):
        with pytest.raises(ValueError):
            parse_amount(bad, units)


@pytest.mark.parametrize("argv", [
    ["bond", "1.5ETH", "0x" + "11" * 20],  # an ETH amount where LPT is bonded
    ["bond", "1LPT", "0x11"],  # not an address
    ["--eth-url", "http://127.0.0.1:1", "status"],  # no key
    ["--eth-url", "http://127.0.0.1:1", "--eth-key", "0x01", "--addresses", "a.json", "set-price", "1"],
    ["--addresses", "a.json", "status"],  # chain flags without --eth-url
    ["transcoder", "--reward-cut", "101", "--fee-share", "1"],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_an_unreachable_node_exits_1(capsys):
    assert main(["--node", "http://127.0.0.1:1", "--json", "status"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and "cannot reach the node" in out["error"]


# --- against a node's CLI API in this process (the fast chain) ---------------------------------

@pytest.fixture(scope="module")
def _deployed():
    from node.eth import FastChain, deploy_protocol

    return deploy_protocol(FastChain(num_accounts=6), TEST_PARAMS)


@pytest.fixture
def served(_deployed):
    from node.cli_api import CliNode, start_cli_server
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode

    p = _deployed
    account = p.chain.accounts[3]
    node = OrchestratorNode(OrchestratorConfig("http://127.0.0.1:8935"), address=account.address, chain=object())
    with p.chain.reverting():
        server = start_cli_server(CliNode("orchestrator", p, account, orchestrator=node), "127.0.0.1:0")
        try:
            yield f"http://{server.address}", p, account, node
        finally:
            server.stop()


def lpcli(capsys, *argv) -> tuple[int, dict]:
    capsys.readouterr()  # what earlier commands printed
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_node_target_actions_and_errors(served, capsys):
    url, p, account, node = served
    code, out = lpcli(capsys, "--node", url, "status")
    assert code == 0 and out["result"]["account"] == account.address and out["result"]["is_orchestrator"]
    assert out["result"]["delegator"]["BondedAmount"] == 0

    assert lpcli(capsys, "--node", url, "bond", "2.5LPT", account.address)[0] == 0
    assert p.BondingManager.getDelegator(account.address)[0] == 25 * 10**17
    code, out = lpcli(capsys, "--node", url, "transcoder", "--reward-cut", "12.5", "--fee-share", "80",
                      "--service-uri", "https://o.example:8935")
    assert code == 0, out
    assert p.BondingManager.getTranscoder(account.address)[1:3] == (125_000, 800_000)
    assert p.ServiceRegistry.getServiceURI(account.address) == "https://o.example:8935"
    assert lpcli(capsys, "--node", url, "set-price", "900", "--pixels", "4")[0] == 0
    assert node.prices.base_price("default") == Fraction(225)
    assert lpcli(capsys, "--node", url, "fund", "1ETH", "0.5ETH")[0] == 0
    assert p.TicketBroker.getSenderInfo(account.address)[0][0] == ETH

    # a revert: exit 1 with the contract's reason
    code, out = lpcli(capsys, "--node", url, "reward")  # registered, not active until next round
    assert code == 1 and out["status"] == 500 and out["error"].startswith("Error calling reward: execution reverted")
    # go's error body for bad input the node refuses
    code, out = lpcli(capsys, "--node", url, "set-price", "abc")
    assert (code, out["status"], out["error"]) == (1, 400, "error parsing pricePerUnit value: abc")


def test_withdraw_stake_without_a_lock_is_a_usage_error(served, capsys):
    url, *_ = served
    with pytest.raises(SystemExit) as exc:
        main(["--node", url, "withdraw-stake"])
    assert exc.value.code == 2 and "locks: none" in capsys.readouterr().err


# --- devchain: the chain target, and a node process's CLI API ------------------------------------

@pytest.fixture(scope="module")
def devchain(tmp_path_factory):
    from ..eth.devchain_process import devchain_process

    tmp = tmp_path_factory.mktemp("lpcli-devchain")
    with devchain_process(tmp) as (url, addresses):
        path = tmp / "lpcli-addresses.json"
        path.write_text(json.dumps(addresses))
        yield url, addresses, path


def run(*argv, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(LPCLI + list(argv), check=False, capture_output=True, text=True, timeout=timeout)


@pytest.mark.devchain
def test_chain_target_on_a_devchain(devchain, capsys):
    from node.eth import JsonRpcChain, attach_protocol, dev_accounts

    url, addresses, path = devchain
    me = dev_accounts(6)[5]
    p = attach_protocol(JsonRpcChain(url, accounts=[me]), addresses)
    chain_args = ["--eth-url", url, "--eth-key", me.key.hex(), "--addresses", str(path)]

    # once as the process a script runs; the rest in this process (the same main(), without
    # paying the chain stack's import for every command)
    r = run(*chain_args, "--json", "status")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["result"]["account"] == me.address
    assert main([*chain_args, "bond", "1.5LPT", me.address]) == 0
    assert capsys.readouterr().out.strip() == f"bonded 1.5 LPT to {me.address}"
    assert p.BondingManager.getDelegator(me.address)[0] == 15 * 10**17
    assert main([*chain_args, "transcoder", "--reward-cut", "10", "--fee-share", "50",
                 "--service-uri", "https://me.example"]) == 0
    assert p.BondingManager.transcoderStatus(me.address) == 1
    assert p.BondingManager.getTranscoder(me.address)[1:3] == (100_000, 500_000)
    assert p.ServiceRegistry.getServiceURI(me.address) == "https://me.example"
    # the contracts found through the Controller alone
    code, out = lpcli(capsys, "--eth-url", url, "--eth-key", me.key.hex(), "--controller", addresses["Controller"],
                      "deposit", "2ETH")
    assert code == 0, out
    assert p.TicketBroker.getSenderInfo(me.address)[0][0] == 2 * ETH

    # a revert: exit 1 with the reason the contract gives
    capsys.readouterr()
    assert main([*chain_args, "unbond", "1LPT"]) == 1  # bonded from the next round only
    with pytest.raises(Exception) as exc:
        p.BondingManager.unbond(1, sender=me)
    assert capsys.readouterr().err.strip() == f"lpcli unbond: execution reverted: {exc.value.reason}"
    code, out = lpcli(capsys, *chain_args, "withdraw")  # not unlocked
    assert code == 1 and out["error"].startswith("could not execute withdraw: execution reverted")
    # a node's settings need --node
    with pytest.raises(SystemExit) as exc:
        main([*chain_args, "set-price", "1"])
    assert exc.value.code == 2


@pytest.mark.devchain
def test_node_target_through_an_orchestrator_process(devchain, tmp_path):
    import httpx

    from node.eth import JsonRpcChain, attach_protocol, dev_accounts

    from .test_processes import stop_all
    from tests.ports import free_port

    url, addresses, path = devchain
    orch = dev_accounts(5)[4]
    p = attach_protocol(JsonRpcChain(url, accounts=[orch]), addresses)
    service, cli = free_port(), free_port()
    log_path = tmp_path / "orchestrator.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "node.cli", "orchestrator", "-serviceAddr", f"127.0.0.1:{service}",
                                 "-cliAddr", f"127.0.0.1:{cli}", "-ethUrl", url, "-ethKey", orch.key.hex(),
                                 "-addresses", str(path), "-pricePerUnit", "7", "-datadir", str(tmp_path / "data"),
                                 "-orchSecret", "lpcli-test"],
                                stdout=log, stderr=subprocess.STDOUT)
    node = f"http://127.0.0.1:{cli}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                httpx.get(node + "/status", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.time() < deadline, log_path.read_text()
                time.sleep(0.2)
        r = run("--node", node, "--json", "status")
        assert r.returncode == 0, r.stderr
        status = json.loads(r.stdout)["result"]
        assert status["is_orchestrator"] and status["account"] == orch.address
        assert status["node"]["BroadcasterPrices"] == {"default": "7"}

        r = run("--node", node, "set-price", "1200", "--pixels", "3")
        assert r.returncode == 0, r.stderr
        assert json.loads(run("--node", node, "--json", "status").stdout)["result"]["node"]["BroadcasterPrices"] == \
            {"default": "400"}
        r = run("--node", node, "bond", "100LPT", orch.address)
        assert r.returncode == 0, r.stderr
        assert p.BondingManager.getDelegator(orch.address)[0] == 100 * LPT
        r = run("--node", node, "--json", "bond", "1e30", orch.address)  # more LPT than it holds
        assert r.returncode == 1 and "execution reverted" in json.loads(r.stdout)["error"]
    finally:
        stop_all([proc])


def test_transcoder_activate_through_a_node(served, capsys):
    url, p, account, node = served
    with pytest.raises(SystemExit) as exc:  # go sets the two rates together
        main(["--node", url, "transcoder", "--reward-cut", "5"])
    assert exc.value.code == 2
    code, out = lpcli(capsys, "--node", url, "transcoder", "--activate", "--amount", "5LPT", "--reward-cut", "1",
                      "--fee-share", "2", "--service-uri", "https://a.example", "--price", "8", "--pixels", "2")
    assert code == 0, out
    assert out["result"]["route"] == "/activateOrchestrator"
    assert p.BondingManager.transcoderStatus(account.address) == 1
    assert p.BondingManager.getDelegator(account.address)[0] == 5 * LPT
    assert node.prices.base_price("default") == 4
    code, out = lpcli(capsys, "--node", url, "transcoder", "--activate", "--reward-cut", "1", "--fee-share", "2",
                      "--service-uri", "https://a.example", "--price", "8")
    assert (code, out["status"], out["error"]) == (1, 400, "orchestrator already registered")


def test_unbonding_locks_picked_for_the_operator(served, capsys):
    url, p, account, _node = served
    other = p.chain.accounts[4].address
    assert lpcli(capsys, "--node", url, "bond", "3LPT", other)[0] == 0
    p.next_round()
    assert lpcli(capsys, "--node", url, "unbond", "1LPT")[0] == 0
    code, out = lpcli(capsys, "--node", url, "locks")
    assert code == 0 and [(x["ID"], x["Amount"]) for x in out["result"]] == [(0, LPT)]
    assert lpcli(capsys, "--node", url, "rebond")[0] == 0  # the only lock
    assert p.BondingManager.getDelegator(account.address)[0] == 3 * LPT
    assert lpcli(capsys, "--node", url, "unbond", "2LPT")[0] == 0
    with pytest.raises(SystemExit):  # not withdrawable before the unbonding period ends
        main(["--node", url, "withdraw-stake"])
    p.advance_rounds(2)
    balance = p.LivepeerToken.balanceOf(account.address)
    code, out = lpcli(capsys, "--node", url, "withdraw-stake")
    assert code == 0 and out["result"]["form"] == {"unbondingLockId": 1}
    assert p.LivepeerToken.balanceOf(account.address) == balance + 2 * LPT
