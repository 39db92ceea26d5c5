"""Fixtures for the BondingManager tests: the small protocol of tests/contracts/bonding.py,
deployed once per test module and snapshotted around every test."""
import pytest

from node.eth import deploy_protocol

from .bonding import SMALL


@pytest.fixture(scope="module")
def _small(chain, _session_protocol):
    # _session_protocol is requested first so that it is never deployed inside this module's window
    with chain.reverting():
        p = deploy_protocol(chain, SMALL)
        for a in chain.accounts[1:16]:
            p.LivepeerToken.approve(p.BondingManager.address, 2**256 - 1, sender=a)
        p.next_round()
        yield p


@pytest.fixture
def p(chain, _small):
    assert _small.chain is chain  # no leakage across the parametrised backends
    with chain.reverting():
        yield _small


@pytest.fixture
def bm(p):
    return p.BondingManager
