"""Every node its own process, on-chain, as a developer would run them: `lpnode devchain`, an AI
runner, `lpnode orchestrator -ethUrl ...` (bonded beforehand, as livepeer_cli would) and
`lpnode gateway -ethUrl ...` with no -orchAddr. The orchestrator registers its service URI and
initialises the round; the gateway funds itself, finds the orchestrator through the active set and
ServiceRegistry, and pays in tickets that the orchestrator redeems."""
import json
import subprocess
import sys
import threading
import time

import pytest

from ..eth.devchain_process import devchain_process
from .test_devnet import metric
from .test_processes import stop_all, wait_http
from tests.ports import free_port

httpx = pytest.importorskip("httpx")

pytestmark = pytest.mark.devchain

LPNODE = [sys.executable, "-m", "node.cli"]
ETH = 10**18


def wait_for(condition, seconds: float, what):
    """Wait until `condition()`; else fail naming `what` (a string, or a callable giving one)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what() if callable(what) else what}")


def test_an_offchain_gateway_needs_orch_addr():
    r = subprocess.run(LPNODE + ["gateway", "-httpAddr", f"127.0.0.1:{free_port()}"], capture_output=True, text=True)
    assert r.returncode == 2 and "an offchain gateway needs -orchAddr" in r.stderr


def test_orchestrator_and_gateway_processes_on_chain(tmp_path):
    # rounds of 100 blocks and a block every 250 ms: ticket params (40 blocks, 10 s) outlive the
    # nodes' 1 s chain caches with room for a loaded CI machine (at 100 ms a block, params a gateway
    # still took for fresh could expire on the way, and with one orchestrator that ends in a 503),
    # and a winning ticket's redemption window (from its params' expiry to the end of its validity,
    # 2 rounds) is several duty polls long
    with devchain_process(tmp_path) as (url, addresses):
        _run_nodes_on_chain(tmp_path, url, addresses)


def _run_nodes_on_chain(tmp_path, url: str, addresses: dict) -> None:
    from node.eth import LPT, JsonRpcChain, attach_protocol, dev_accounts

    procs, stop, miner = [], threading.Event(), None
    orch_log_path = tmp_path / "orchestrator.log"  # its round duties and redemptions, for a failure
    orch_log = open(orch_log_path, "w")
    gw_log_path = tmp_path / "gateway.log"
    gw_log = open(gw_log_path, "w")

    def logs() -> str:
        return "\n".join(f"{path.name} (its end):\n{path.read_text()[-3000:]}" for path in (orch_log_path, gw_log_path))

    addresses_file = tmp_path / "nodes-addresses.json"  # -addresses for the nodes
    addresses_file.write_text(json.dumps(addresses))
    try:
        _, orch_acct, gw_acct = dev_accounts(3)
        chain = JsonRpcChain(url, accounts=[orch_acct])
        p = attach_protocol(chain, addresses)
        p.approve_and_bond(orch_acct, 1000 * LPT, orch_acct.address)  # what livepeer_cli does
        p.BondingManager.transcoder(0, 1_000_000, sender=orch_acct)
        start_round = p.current_round()

        def mine():  # a block every 250 ms, as a chain would produce them
            while not stop.wait(0.25):
                chain.mine()

        miner = threading.Thread(target=mine, daemon=True)
        miner.start()
        runner, orch, gw = free_port(), free_port(), free_port()
        models = tmp_path / "aiModels.json"
        models.write_text(json.dumps([{"pipeline": "text-to-image", "model_id": "m", "warm": True,
                                       "price_per_unit": 1, "url": f"http://127.0.0.1:{runner}"}]))
        chain_flags = ["-ethUrl", url, "-addresses", str(addresses_file)]
        procs += [
            subprocess.Popen(LPNODE + ["ai-runner", "--pipeline", "text-to-image", "--model-id", "m", "--mode", "mock",
                                       "--port", str(runner)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            # the face value capped just above the ticket EV (go's gateway refuses EV >= face value):
            # every ticket wins (probability 1 - 2^11/face value); 2^11 keeps the wei sums exact as
            # the float metrics the test reads
            subprocess.Popen(LPNODE + ["orchestrator", "-serviceAddr", f"127.0.0.1:{orch}", "-aiModels", str(models),
                                       "-pricePerUnit", "1", "-ticketEV", str(3 * 10**16), "-maxFaceValue",
                                       str(3 * 10**16 + 2**11), "-blockPollingInterval",
                                       "0.2", "-ethKey", orch_acct.key.hex(), "-datadir", str(tmp_path / "orch-data"),
                                       "-initializeRound", *chain_flags],  # go initialises rounds only when asked
                             stdout=orch_log, stderr=subprocess.STDOUT),
            subprocess.Popen(LPNODE + ["gateway", "-httpAddr", f"127.0.0.1:{gw}", "-deposit", str(10 * ETH),
                                       "-reserve", str(10 * ETH), "-maxTicketEV", str(10**17), "-maxTotalEV",
                                       str(10**18), "-ethKey", gw_acct.key.hex(), *chain_flags],
                             stdout=gw_log, stderr=subprocess.STDOUT),
        ]
        deadline = time.time() + 90
        for health in (f"http://127.0.0.1:{runner}/health", f"http://127.0.0.1:{orch}/metrics",
                       f"http://127.0.0.1:{gw}/metrics"):
            wait_http(health, deadline)
        # the orchestrator registered itself and, once the round ended, initialised the next one,
        # joined the active set and called reward in it
        assert p.ServiceRegistry.getServiceURI(orch_acct.address) == f"http://127.0.0.1:{orch}"
        wait_for(lambda: p.current_round() > start_round and p.RoundsManager.currentRoundInitialized()
                 and p.BondingManager.getTranscoder(orch_acct.address)[0] == p.current_round(), 60, "round duties")
        (deposit, _), (reserve, _) = p.TicketBroker.getSenderInfo(gw_acct.address)
        assert (deposit, reserve) == (10 * ETH, 10 * ETH)  # funded by the gateway at start

        # warm-up: a cold orchestrator's first GetOrchestrator (its chain reads, over JSON-RPC, not
        # cached yet) can outlast go's 500 ms discovery timeout, and go answers that request 503
        # "no orchestrators available"; later discoveries hear it in time
        httpx.post(f"http://127.0.0.1:{gw}/text-to-image", json={"prompt": "warm-up", "model_id": "m"}, timeout=60)
        for i in range(3):
            r = httpx.post(f"http://127.0.0.1:{gw}/text-to-image",
                           json={"prompt": f"p{i}", "model_id": "m", "width": 64, "height": 64}, timeout=60)
            assert r.status_code == 200, f"{r.text}\n{logs()}"
            assert r.json()["images"][0]["url"].startswith("data:image/png;base64,")
        orch_url = f"http://127.0.0.1:{orch}"
        assert metric(orch_url, "winning_tickets_recv_total") >= 1
        wait_for(lambda: metric(orch_url, "value_redeemed_total") > 0, 60,
                 lambda: "a redemption; the nodes' logs:\n" + logs())
        time.sleep(1)  # let a redemption in flight finish
        redeemed = metric(orch_url, "value_redeemed_total")
        (deposit, _), _ = p.TicketBroker.getSenderInfo(gw_acct.address)
        assert deposit == 10 * ETH - redeemed
    finally:
        stop.set()
        if miner is not None:
            miner.join(10)
        stop_all(procs)
        orch_log.close()
        gw_log.close()
