"""`lpnode redeemer` and `lpnode orchestrator -redeemerAddr` as real processes on a devchain: the
orchestrator forwards its winning tickets, the redeemer holds the key and redeems them, and neither
a redeemer that is down when tickets win, nor a kill -9 of either process in the middle, loses a
winning ticket or redeems one twice.

As in test_ticket_crash, the devchain mines only when a transaction arrives, so ticket params
cannot expire (and nothing can be redeemed) until the test mines the blocks itself."""
import json
import signal
import sqlite3
import subprocess
import sys
import time

import grpc
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
READY = 180  # s: a process's readiness on a loaded machine (imports, chain reads); fails early when it exits
FACE = EV + 2**11  # the face value cap just above the EV: every ticket wins (see test_onchain_processes)
PRICE = 10**13  # wei per pixel: every 64x64 image pays in tickets


def _rows(db) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM ticketQueue").fetchone()[0]


def test_redeemer_offchain_is_refused_as_go():
    r = subprocess.run(LPNODE + ["redeemer"], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 1 and "Unable to create redeemer: must provide a LivepeerEthClient" in r.stderr


def test_winners_forwarded_and_redeemed_once_through_restarts_of_redeemer_and_orchestrator(tmp_path):
    from node.core.keccak import keccak
    from node.eth import LPT, JsonRpcChain, attach_protocol, dev_accounts
    from node.net.proto import redeemer_pb2 as rpb
    from node.net.wire import address_bytes
    from node.orchestrator.ticket_store import DB_FILE, SqliteTicketStore
    from node.redeemer.client import RedeemerClient
    from node.redeemer.wire import max_float_from_bytes, ticket_to_proto

    o_db, r_db = tmp_path / "orchestrator-data" / DB_FILE, tmp_path / "redeemer-data" / DB_FILE
    procs, logs, lives = [], [], {}
    r_port = free_port()

    def start(name: str, argv: list[str]) -> subprocess.Popen:
        lives[name] = lives.get(name, 0) + 1
        log = open(tmp_path / f"{name}-{lives[name]}.log", "w")  # noqa: SIM115 - closed at the end
        logs.append(log)
        return subprocess.Popen(LPNODE + argv, stdout=log, stderr=subprocess.STDOUT)

    def log_of(name: str) -> str:
        return "\n".join(f"--- {p.name} (its end):\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob(f"{name}-*.log")))

    def wait_ready(proc: subprocess.Popen, name: str) -> None:
        """Until the redeemer writes its ready file; fails at once, with its log, if it exits."""
        wait_for(lambda: (tmp_path / "redeemer.json").exists() or proc.poll() is not None, READY,
                 lambda: f"{name} to be ready\n" + log_of(name))
        assert proc.poll() is None, f"{name} exited with {proc.returncode}\n" + log_of(name)

    with devchain_process(tmp_path) as (url, addresses):
        redeemer = orch = None
        try:
            _, orch_acct, gw_acct = dev_accounts(3)
            chain = JsonRpcChain(url, accounts=[orch_acct])
            p = attach_protocol(chain, addresses, owner=orch_acct)
            p.approve_and_bond(orch_acct, 1000 * LPT, orch_acct.address)
            p.BondingManager.transcoder(0, 1_000_000, sender=orch_acct)
            p.next_round()
            addresses_file = tmp_path / "nodes-addresses.json"
            addresses_file.write_text(json.dumps(addresses))
            chain_flags = ["-ethUrl", url, "-addresses", str(addresses_file), "-blockPollingInterval", "0.2"]
            key = ["-ethKey", orch_acct.key.hex()]  # the redeemer holds the orchestrator's key, as go
            redeemer_argv = ["redeemer", "-httpAddr", f"127.0.0.1:{r_port}", "-datadir", str(r_db.parent),
                             "-readyFile", str(tmp_path / "redeemer.json"), *key, *chain_flags]
            runner = free_port()
            models = tmp_path / "aiModels.json"
            models.write_text(json.dumps([{"pipeline": "text-to-image", "model_id": "m", "warm": True,
                                           "price_per_unit": PRICE, "url": f"http://127.0.0.1:{runner}"}]))

            def orchestrator() -> tuple[subprocess.Popen, str]:
                port = free_port()
                proc = start("orchestrator", ["orchestrator", "-serviceAddr", f"127.0.0.1:{port}", "-aiModels",
                                              str(models), "-pricePerUnit", "1", "-ticketEV", str(EV),
                                              "-maxFaceValue", str(FACE), "-datadir", str(o_db.parent),
                                              "-redeemerAddr", f"127.0.0.1:{r_port}", *key, *chain_flags])
                return proc, f"http://127.0.0.1:{port}"

            # go's blocking dial: no orchestrator without its redeemer
            orch, _ = orchestrator()
            assert orch.wait(READY) == 1, log_of("orchestrator")
            assert f"Unable to start redeemer client: Did not connect to redeemer=127.0.0.1:{r_port}" \
                in log_of("orchestrator")

            redeemer = start("redeemer", redeemer_argv)
            wait_ready(redeemer, "redeemer")
            procs.append(start("runner", ["ai-runner", "--pipeline", "text-to-image", "--model-id", "m", "--mode",
                                          "mock", "--port", str(runner)]))
            orch, orch_url = orchestrator()
            gw = free_port()
            procs.append(start("gateway", ["gateway", "-httpAddr", f"127.0.0.1:{gw}", "-deposit", str(10 * ETH),
                                           "-reserve", str(10 * ETH), "-maxTicketEV", str(10**17), "-maxTotalEV",
                                           str(10**18), "-ethKey", gw_acct.key.hex(), *chain_flags]))
            deadline = time.time() + READY
            for health in (f"http://127.0.0.1:{runner}/health", f"{orch_url}/metrics", f"http://127.0.0.1:{gw}/metrics"):
                wait_http(health, deadline)

            def pay_until(winners: int, tag: str) -> int:
                for i in range(3 * winners + 2):
                    if metric(orch_url, "winning_tickets_recv_total") >= winners:
                        break
                    r = httpx.post(f"http://127.0.0.1:{gw}/text-to-image",
                                   json={"prompt": f"{tag}{i}", "model_id": "m", "width": 64, "height": 64}, timeout=60)
                    assert r.status_code == 200 or i == 0, f"{tag}{i}: {r.status_code} {r.text}\n" + \
                        log_of("gateway") + log_of("orchestrator") + log_of("redeemer")
                got = int(metric(orch_url, "winning_tickets_recv_total"))
                assert got >= winners, log_of("orchestrator")
                return got

            # 1. the redeemer up: winners forwarded at once, stored by the redeemer, not by the orchestrator
            first = pay_until(3, "a")
            wait_for(lambda: _rows(r_db) == first and _rows(o_db) == 0, 30,
                     lambda: "the winners forwarded\n" + log_of("orchestrator") + log_of("redeemer"))
            assert metric(orch_url, "value_redeemed_total") == 0  # the orchestrator redeems nothing itself

            # its service, from outside: the max float it gives the orchestrator, go's refusal of a
            # ticket for another recipient
            client = RedeemerClient(f"127.0.0.1:{r_port}")
            reply = client.stub.MaxFloat(rpb.MaxFloatReq(sender=address_bytes(gw_acct.address)), timeout=10)
            assert max_float_from_bytes(reply.max_float) == 10 * ETH  # reserve / active set of 1, nothing pending
            with SqliteTicketStore(r_db, chain=chain.block_hash(0)) as store:
                forwarded = store.load()
            stranger = ticket_to_proto(forwarded[0])
            stranger.ticket_params.recipient = address_bytes(gw_acct.address)
            with pytest.raises(grpc.RpcError) as exc:
                client.stub.QueueTicket(stranger, timeout=10)
            assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert exc.value.details() == (f"invalid ticket recipient {gw_acct.address.lower()}, "
                                           f"expected {orch_acct.address}")
            client.close()

            # 2. the redeemer killed: the winners that come now stay on the orchestrator's disk
            redeemer.send_signal(signal.SIGKILL)
            redeemer.wait(10)
            second = pay_until(first + 2, "b")
            wait_for(lambda: _rows(o_db) == second - first, 60, lambda: "the winners kept\n" + log_of("orchestrator"))
            time.sleep(1.5)  # a forwarding retry or two, which fail
            assert _rows(o_db) == second - first and _rows(r_db) == first, log_of("orchestrator")

            # 3. the orchestrator killed too, then both back: the redeemer restores its tickets, the
            # orchestrator restores and forwards its own
            orch.send_signal(signal.SIGKILL)
            orch.wait(10)
            (tmp_path / "redeemer.json").unlink()
            redeemer = start("redeemer", redeemer_argv)
            wait_ready(redeemer, "redeemer")
            orch, orch_url = orchestrator()
            wait_for(lambda: _rows(o_db) == 0 and _rows(r_db) == second, READY,
                     lambda: "the kept winners forwarded\n" + log_of("orchestrator") + log_of("redeemer"))
            assert f"restored {first} winning tickets" in log_of("redeemer")
            assert f"restored {second - first} winning tickets" in log_of("orchestrator")

            # 4. the params expire: every winner redeemed, each once
            with SqliteTicketStore(r_db, chain=chain.block_hash(0)) as store:
                held = store.load()
            assert len({s.ticket.hash() for s in held}) == second
            chain.mine(max(s.expiration_block for s in held) - chain.block_number + 1)
            wait_for(lambda: _rows(r_db) == 0, 60, lambda: "the redemptions\n" + log_of("redeemer"))
            time.sleep(0.6)  # a few more passes: nothing more may happen
            assert all(p.TicketBroker.usedTickets(s.ticket.hash()) for s in held)
            recipient_topic = "0x" + "00" * 12 + orch_acct.address[2:].lower()

            def events(signature: bytes) -> list:
                return chain.w3.eth.get_logs({"address": p.TicketBroker.address, "fromBlock": 0, "toBlock": "latest",
                                              "topics": ["0x" + keccak(signature).hex(), None, recipient_topic]})

            assert len(events(b"WinningTicketRedeemed(address,address,uint256,uint256,uint256,uint256,bytes)")) == second
            transfers = events(b"WinningTicketTransfer(address,address,uint256)")
            assert sum(int.from_bytes(bytes(e["data"]), "big") for e in transfers) == second * FACE
            assert p.TicketBroker.getSenderInfo(gw_acct.address)[0][0] == 10 * ETH - second * FACE
            assert "error=" not in log_of("redeemer").split("restored")[-1]  # no failed redemption after restart
        finally:
            stop_all(procs + [x for x in (redeemer, orch) if x is not None and x.poll() is None])
            for log in logs:
                log.close()
