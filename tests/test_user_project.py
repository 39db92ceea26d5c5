"""A user's project, outside this repository: a test suite that knows lpsim only as an installed
package and its pytest plugin — web3.py against the plugin's devchain process, the in-process
chain's protocol moves, and a paid request through the plugin's devnet in mock mode — run with
`python -m pytest` in a directory of its own. It passes or this fails with its output."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.devchain

CONFTEST = '''
import pytest


@pytest.fixture(scope="session")
def lp_num_accounts():
    return 5  # the user's override of a plugin fixture
'''

TESTS = '''
import httpx

from node.eth.artifacts import abi

LPT = 10**18


def test_web3_talks_to_the_devchain_process(lp_devchain):
    w3 = lp_devchain.web3()
    assert w3.eth.chain_id == lp_devchain.chain_id
    assert len(lp_devchain.accounts) == 5
    token = w3.eth.contract(address=lp_devchain.addresses["LivepeerToken"], abi=abi("LivepeerToken"))
    a, b = (acct.address for acct in lp_devchain.accounts[1:3])
    before = token.functions.balanceOf(b).call()
    w3.eth.wait_for_transaction_receipt(token.functions.transfer(b, 7).transact({"from": a}))
    assert token.functions.balanceOf(b).call() == before + 7
    bm = w3.eth.contract(address=lp_devchain.addresses["BondingManager"], abi=abi("BondingManager"))
    assert bm.functions.getTranscoderPoolMaxSize().call() == 10  # the plugin's test parameters


def test_protocol_moves_on_the_in_process_chain(lp, lp_protocol, lp_accounts):
    orchestrator, gateway = lp_accounts[1], lp_accounts[2]
    lp.register_orchestrator(orchestrator, 1000 * LPT, fee_share=1_000_000)
    lp.next_round()
    assert lp_protocol.BondingManager.isActiveTranscoder(orchestrator.address)
    lp.fund(gateway, deposit=10**18, reserve=10**18)
    lp.pay(gateway, orchestrator, 10**16)
    assert lp_protocol.BondingManager.pendingFees(orchestrator.address, lp_protocol.current_round()) == 10**16


def test_a_paid_request_through_the_devnet(lp_devnet):
    body = {"prompt": "a cat", "model_id": "test/tiny-sd", "width": 64, "height": 64}
    r = httpx.post(f"{lp_devnet.gateway_url}/text-to-image", json=body, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["images"][0]["url"].startswith("data:image/png;base64,")
    sent = lp_devnet.metric("gateway", "tickets_sent_total")
    assert sent >= 1 and lp_devnet.metric("orchestrator-0", "tickets_recv_total") == sent
'''


def test_a_users_own_suite_runs_on_the_installed_package_and_plugin(tmp_path):
    project = tmp_path / "user-project"
    project.mkdir()
    (project / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (project / "test_livepeer.py").write_text(textwrap.dedent(TESTS))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                       cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "3 passed" in r.stdout, r.stdout[-6000:] + r.stderr[-3000:]
