"""A paid BYOC batch job on a devnet process (`lpnode devnet --byoc`): gateway → orchestrator → the
example image filter, paid in tickets that win and are redeemed, the fees on chain; an unpaid job,
a forged signature and a worker that hangs past the job's timeout get go's answers, and the
orchestrator debits exactly the seconds it worked."""
import io
import json
import math
import os
import subprocess
import sys
import time

import pytest

from node.core import byoc

from .test_devnet import metric, start_devnet, stop
from tests.ports import free_port

httpx = pytest.importorskip("httpx")
Image = pytest.importorskip("PIL.Image")

PRICE = 10**14  # wei per second: one ticket of EV 3e16 buys the orchestrator's 60 s minimum
TICKET_EV = 3 * 10**16


# A worker that never answers (a fault drill), as a module of its own: the worker process imports it
# from a folder on its PYTHONPATH (CI runs with python -P, so the checkout's `tests` is not importable
# there, and the node must still come from the installed package).
HANG_MODULE = """
import asyncio

from node.worker.byoc import Capability


class Hang(Capability):
    name = "hang"

    async def handle(self, request):
        await asyncio.sleep(3600)
"""


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 30)).save(buf, format="png")
    return buf.getvalue()


def _job(capability: str, timeout: int = 30) -> byoc.JobRequest:
    return byoc.JobRequest(id="j", request="{}", parameters="{}", capability=capability, timeout_seconds=timeout)


def _token(orch: str, account, capability: str) -> byoc.JobToken:
    from node.net.auth import sign

    sender = byoc.job_sender(account.address, lambda m: sign(m, account.key))
    r = httpx.get(f"{orch}/process/token", verify=False, headers={
        byoc.ETH_ADDRESS_HEADER: sender.header(), byoc.CAPABILITY_HEADER: capability})
    assert r.status_code == 200, r.text
    return byoc.parse_job_token(r.content)


def gateway_job(url: str, tries: int = 5, **kwargs):
    """POST a job through the gateway, again while its token search found nobody: go's search gives
    each orchestrator 500 ms, which a loaded machine can miss although the capability is registered."""
    for _ in range(tries):
        r = httpx.post(url, **kwargs)
        if not (r.status_code == 400 and r.text.startswith("No orchestrators found")):
            break
    return r


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    proc, urls, addresses = start_devnet(tmp_path_factory.mktemp("byoc"), "--ticket-ev", str(TICKET_EV),
                                         "--max-face-value", str(TICKET_EV + 1),  # every ticket wins
                                         "--byoc", str(PRICE), "--live-model", "")
    yield urls, addresses
    stop(proc)


def test_a_paid_job_is_filtered_and_its_tickets_are_redeemed_on_chain(devnet):
    from node.eth import JsonRpcChain, attach_protocol, dev_accounts

    urls, addresses = devnet
    orch, gateway = urls["orchestrator-0"], urls["gateway"]
    r = gateway_job(f"{gateway}/process/request/sepia", content=_png(), timeout=60, headers={
        "Livepeer": byoc.job_request_header(_job("image-filter")), "Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    assert Image.open(io.BytesIO(r.content)).size == (32, 32)
    assert r.headers["x-orchestrator-url"] == orch
    assert metric(orch, "tickets_recv_total") >= 1 and metric(orch, "winning_tickets_recv_total") >= 1
    _, o_acct, g_acct = dev_accounts(3)
    token = _token(orch, g_acct, "image-filter")
    price = token.price_per_second
    assert price >= PRICE  # the registered price with the redemption overhead
    # what the orchestrator holds: the tickets' EV less whole seconds of compute
    received = int(metric(orch, "ticket_value_recv_total"))
    assert int(r.headers["livepeer-balance"]) == token.balance
    assert (received - token.balance) % price == 0 and 0 < received - token.balance <= 5 * price
    deadline = time.time() + 60  # params expire after 40 blocks (4 s), then the queue redeems
    while time.time() < deadline and metric(orch, "value_redeemed_total") == 0:
        time.sleep(0.5)
    time.sleep(1)
    redeemed = metric(orch, "value_redeemed_total")
    assert redeemed > 0
    protocol = attach_protocol(JsonRpcChain(urls["devchain"]), addresses)
    (deposit, _), _ = protocol.TicketBroker.getSenderInfo(g_acct.address)
    assert 10 * 10**18 - deposit == pytest.approx(redeemed, rel=1e-12)  # the metric is a float
    assert protocol.BondingManager.pendingFees(o_acct.address, protocol.current_round()) > 0


def test_unpaid_and_forged_jobs_get_gos_answers_and_credit_nothing(devnet):
    from node.devnet import BYOC_SECRET
    from node.eth import dev_accounts
    from node.net.auth import sign

    urls, _ = devnet
    orch = urls["orchestrator-0"]
    stranger = dev_accounts(6)[5]  # signs properly but never paid this orchestrator
    job = byoc.sign_job(_job("image-filter"), stranger.address, lambda m: sign(m, stranger.key))
    r = httpx.post(f"{orch}/process/request/sepia", content=_png(), verify=False,
                   headers={"Livepeer": byoc.job_request_header(job)})
    # no deposit: no price can be made for it (go: JobPriceInfo fails on the reserve)
    assert (r.status_code, r.text) == (400, "Could not get job price\n")
    # the funded gateway's key, no payment, a capability it never paid for: go's minimum-balance 400
    r = httpx.post(f"{orch}/capability/register", verify=False, headers={"Authorization": BYOC_SECRET},
                   content=json.dumps({"name": "unpaid", "url": "http://127.0.0.1:1", "capacity": 1,
                                       "price_per_unit": PRICE}))
    assert (r.status_code, r.text) == (200, "ok")
    gw = dev_accounts(3)[2]
    unpaid = byoc.sign_job(_job("unpaid"), gw.address, lambda m: sign(m, gw.key))
    r = httpx.post(f"{orch}/process/request/x", content=b"x", verify=False,
                   headers={"Livepeer": byoc.job_request_header(unpaid)})
    assert (r.status_code, r.text) == (400, byoc.ERR_INSUFFICIENT_BALANCE + "\n")
    forged = byoc.JobRequest(**{**{k: getattr(unpaid, k) for k in unpaid.__dataclass_fields__},
                                "sig": job.sig})  # the gateway's address, the stranger's signature
    r = httpx.post(f"{orch}/process/request/sepia", content=_png(), verify=False,
                   headers={"Livepeer": byoc.job_request_header(forged)})
    assert (r.status_code, r.text) == (400, byoc.ERR_NO_JOB_CREDS + "\n")
    r = httpx.post(f"{orch}/process/request/x", content=b"x", verify=False,
                   headers={"Livepeer": byoc.job_request_header(unpaid), "Livepeer-Payment": "not base64!"})
    assert (r.status_code, r.text) == (400, byoc.ERR_PAYMENT + "\n")
    token = _token(orch, gw, "unpaid")
    assert token.balance == 0 and token.available_capacity == 1  # nothing credited, the load freed
    r = httpx.post(f"{orch}/capability/register", verify=False, headers={"Authorization": "wrong"},
                   content=json.dumps({"name": "x", "url": "http://127.0.0.1:1"}))
    assert (r.status_code, r.text) == (400, "invalid authorization\n")
    r = httpx.post(f"{orch}/capability/unregister", verify=False, headers={"Authorization": "wrong"},
                   content=b"image-filter")
    assert (r.status_code, r.text) == (400, "invalid authorization\n")
    assert _token(orch, gw, "image-filter").available_capacity >= 1  # still registered
    r = httpx.get(f"{orch}/capability/register", verify=False, headers={"Authorization": BYOC_SECRET})
    assert (r.status_code, r.text) == (405, "Method not allowed\n")


def test_a_worker_hanging_past_the_timeout_is_charged_its_seconds_and_kept(devnet, tmp_path):
    from node.devnet import BYOC_SECRET
    from node.eth import dev_accounts

    urls, _ = devnet
    orch, gateway = urls["orchestrator-0"], urls["gateway"]
    gw_acct = dev_accounts(3)[2]
    (tmp_path / "hang_capability.py").write_text(HANG_MODULE)
    log = tmp_path / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "node.cli", "byoc-worker", "--capability",
                               "hang_capability:Hang", "--port", str(free_port()), "--orch-url", orch,
                               "--orch-secret", BYOC_SECRET, "--price-per-unit", str(PRICE), "--reregister", "0"],
                              stdout=log.open("w"), stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPATH": str(tmp_path)})
    try:
        deadline = time.time() + 60
        while time.time() < deadline and _token(orch, gw_acct, "hang").available_capacity == 0:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.3)
        assert _token(orch, gw_acct, "hang").available_capacity > 0, log.read_text()
        # the gateway pays up front (its balance for "hang" is 0), then the orchestrator gives up at 2 s
        r = gateway_job(f"{gateway}/process/request/slow", content=b"x", timeout=60,
                       headers={"Livepeer": byoc.job_request_header(_job("hang", timeout=2))})
        assert r.status_code == 503 and "context deadline exceeded" in r.text, (r.status_code, r.text)
        token = _token(orch, gw_acct, "hang")
        assert token.available_capacity == 1  # kept (a timeout is not a dead worker), load freed
        # one ticket paid for it; the orchestrator kept its EV less the 2–3 started seconds it waited
        ev, price = token.ticket_params.ev, token.price_per_second
        assert token.balance in {math.floor(ev - k * price) for k in (2, 3)}, (token.balance, ev, price)
    finally:
        worker.terminate()
        worker.wait(10)
