"""Winning tickets outlive a crash: an on-chain `lpnode orchestrator` holding unredeemed winners is
killed with SIGKILL, restarted with the same -datadir, and redeems every one of them exactly once.

Deterministic without racing the chain: the devchain mines only when a transaction arrives (nobody
mines empty blocks here), so ticket params, which expire 40 blocks after they are issued, cannot
expire while the gateway pays and nothing can be redeemed before the kill; the test mines those
blocks itself once the orchestrator is dead. While it is down, one of its tickets is redeemed with
its own account, as if the crash had come after that redemption was mined but before its removal
was written: after the restart that ticket must end redeemed with no second transaction and no
error, and the others redeemed once each."""
import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from ..eth.devchain_process import devchain_process
from .test_devnet import metric
from .test_onchain_processes import wait_for
from .test_processes import stop_all, wait_http
from tests.ports import free_port

httpx = pytest.importorskip("httpx")

pytestmark = pytest.mark.devchain

LPNODE = [sys.executable, "-m", "node.cli"]
ETH = 10**18
EV = 3 * 10**16
FACE = EV + 2**11  # the face value cap just above the EV: every ticket wins (see test_onchain_processes)
WINNERS = 5  # 0.15 ETH of face value, as in the issue
PRICE = 10**13  # wei per pixel: a 64x64 image costs more than a ticket's EV, so every request pays in tickets


def _stored_rows(db) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM ticketQueue").fetchone()[0]


def test_winning_tickets_survive_sigkill_and_are_redeemed_once_after_restart(tmp_path):
    from node.core.keccak import keccak
    from node.eth import LPT, JsonRpcChain, attach_protocol, dev_accounts
    from node.eth.payments import ProtocolBroker
    from node.orchestrator.ticket_store import DB_FILE, SqliteTicketStore

    datadir = tmp_path / "orchestrator-data"
    db = datadir / DB_FILE
    procs, orch, logs = [], None, []

    def start_orchestrator(n: int, flags: list[str]):
        """The n-th life of the orchestrator: (process, URL), not waited for."""
        port = free_port()
        log = open(tmp_path / f"orchestrator-{n}.log", "w")
        logs.append(log)
        proc = subprocess.Popen(LPNODE + ["orchestrator", "-serviceAddr", f"127.0.0.1:{port}", "-pricePerUnit", "1",
                                          "-ticketEV", str(EV), "-maxFaceValue", str(FACE), "-blockPollingInterval",
                                          "0.2", "-datadir", str(datadir), *flags], stdout=log, stderr=subprocess.STDOUT)
        return proc, f"http://127.0.0.1:{port}"

    def orch_log(n: int) -> str:
        return (tmp_path / f"orchestrator-{n}.log").read_text()[-4000:]

    with devchain_process(tmp_path) as (url, addresses):
        try:
            _, orch_acct, gw_acct = dev_accounts(3)
            chain = JsonRpcChain(url, accounts=[orch_acct])
            p = attach_protocol(chain, addresses, owner=orch_acct)
            p.approve_and_bond(orch_acct, 1000 * LPT, orch_acct.address)
            p.BondingManager.transcoder(0, 1_000_000, sender=orch_acct)
            p.next_round()  # the orchestrator is active from here; the round is 100 blocks long
            addresses_file = tmp_path / "nodes-addresses.json"
            addresses_file.write_text(json.dumps(addresses))
            chain_flags = ["-ethUrl", url, "-addresses", str(addresses_file)]
            runner, gw = free_port(), free_port()
            models = tmp_path / "aiModels.json"
            models.write_text(json.dumps([{"pipeline": "text-to-image", "model_id": "m", "warm": True,
                                           "price_per_unit": PRICE, "url": f"http://127.0.0.1:{runner}"}]))
            orch_flags = ["-aiModels", str(models), "-ethKey", orch_acct.key.hex(), *chain_flags]
            procs.append(subprocess.Popen(LPNODE + ["ai-runner", "--pipeline", "text-to-image", "--model-id", "m",
                                                    "--mode", "mock", "--port", str(runner)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            orch, orch_url = start_orchestrator(1, orch_flags)
            procs.append(subprocess.Popen(LPNODE + ["gateway", "-httpAddr", f"127.0.0.1:{gw}", "-deposit",
                                                    str(10 * ETH), "-reserve", str(10 * ETH), "-maxTicketEV",
                                                    str(10**17), "-maxTotalEV", str(10**18), "-ethKey",
                                                    gw_acct.key.hex(), *chain_flags],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            deadline = time.time() + 60
            for health in (f"http://127.0.0.1:{runner}/health", f"{orch_url}/metrics", f"http://127.0.0.1:{gw}/metrics"):
                wait_http(health, deadline)
            round_ = p.current_round()

            # Paid work until the orchestrator holds WINNERS winning tickets. The first request may
            # meet a cold orchestrator's slow first GetOrchestrator (see test_onchain_processes).
            for i in range(3 * WINNERS):
                if metric(orch_url, "winning_tickets_recv_total") >= WINNERS:
                    break
                r = httpx.post(f"http://127.0.0.1:{gw}/text-to-image",
                               json={"prompt": f"p{i}", "model_id": "m", "width": 64, "height": 64}, timeout=60)
                assert r.status_code == 200 or i == 0, r.text
            winners = int(metric(orch_url, "winning_tickets_recv_total"))
            assert winners >= WINNERS, orch_log(1)
            assert metric(orch_url, "value_redeemed_total") == 0  # no blocks, no expiry, no redemption

            # kill -9: no shutdown code runs. Every winner it acknowledged is on disk.
            orch.send_signal(signal.SIGKILL)
            assert orch.wait(10) == -signal.SIGKILL
            with SqliteTicketStore(db, chain=chain.block_hash(0)) as store:  # the node's rows: this chain's
                held = store.load()
            assert len(held) == winners and {s.ticket.face_value for s in held} == {FACE}
            assert not any(p.TicketBroker.usedTickets(s.ticket.hash()) for s in held)
            assert p.TicketBroker.getSenderInfo(gw_acct.address)[0][0] == 10 * ETH

            # Down: the params expire (the round stays the same), and the first ticket's redemption,
            # sent by the orchestrator's account before the crash, is mined.
            chain.mine(max(s.expiration_block for s in held) - chain.block_number + 1)
            assert p.current_round() == round_
            first = held[0]
            ProtocolBroker(p, orch_acct).redeem_winning_ticket(first.ticket, first.sig, first.recipient_rand)

            orch, orch_url = start_orchestrator(2, orch_flags)
            wait_http(f"{orch_url}/metrics", time.time() + 60)
            wait_for(lambda: metric(orch_url, "value_redeemed_total") >= winners * FACE and _stored_rows(db) == 0, 30,
                     lambda: "the restored tickets' redemption; the orchestrator's log:\n" + orch_log(2))
            time.sleep(0.5)  # a further duty poll or two: nothing more may happen
            log = orch_log(2)
            assert f"restored {winners} winning tickets" in log
            # every restored ticket redeemed, the one mined before the restart too, and no error
            assert metric(orch_url, "value_redeemed_total") == winners * FACE
            assert metric(orch_url, "ticket_redemption_errors_total") == 0, log
            assert all(p.TicketBroker.usedTickets(s.ticket.hash()) for s in held)
            assert _stored_rows(db) == 0

            # On chain, exactly once: one WinningTicketRedeemed and one transfer per winner, the
            # gateway's deposit down by their face values.
            recipient_topic = "0x" + "00" * 12 + orch_acct.address[2:].lower()

            def events(signature: bytes) -> list:
                return chain.w3.eth.get_logs({"address": p.TicketBroker.address, "fromBlock": 0, "toBlock": "latest",
                                              "topics": ["0x" + keccak(signature).hex(), None, recipient_topic]})

            redeemed = events(b"WinningTicketRedeemed(address,address,uint256,uint256,uint256,uint256,bytes)")
            assert len(redeemed) == winners
            transfers = events(b"WinningTicketTransfer(address,address,uint256)")  # amount: the only data word
            assert sum(int.from_bytes(bytes(e["data"]), "big") for e in transfers) == winners * FACE
            assert p.TicketBroker.getSenderInfo(gw_acct.address)[0][0] == 10 * ETH - winners * FACE
        finally:
            stop_all(procs + ([orch] if orch is not None and orch.poll() is None else []))
            for log in logs:
                log.close()
