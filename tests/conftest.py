"""Shared fixtures: one chain per backend per session (the whole suite runs on the embedded
web3/eth-tester backend and on the fast one), the protocol deployed once, and every test
run on a snapshot that is reverted after it (deploy once, snapshot, revert)."""
from __future__ import annotations

import pytest

from node.eth import LPT, EmbeddedChain, FastChain, ProtocolParams, RevmChain, deploy_protocol

TEST_PARAMS = ProtocolParams(
    round_length=100,
    unbonding_period=2,
    num_active_transcoders=10,
    inflation=10_000_000,  # 1 % per round
    inflation_change=500,
    target_bonding_rate=500_000_000,
    unlock_period=2,
    ticket_validity_period=2,
    lpt_per_account=1_000_000 * LPT,
)


BACKENDS = {"embedded": EmbeddedChain, "fast": FastChain, "revm": RevmChain}


@pytest.fixture(scope="session", params=list(BACKENDS))
def chain(request):
    """One chain per backend for the session; every test that uses it runs once per backend
    (ids "embedded", "fast" and "revm")."""
    return BACKENDS[request.param](num_accounts=20)


@pytest.fixture(scope="session")
def _session_protocol(chain):
    return deploy_protocol(chain, TEST_PARAMS)


@pytest.fixture
def protocol(chain, _session_protocol):
    assert _session_protocol.chain is chain  # no leakage across the parametrised backends
    with chain.reverting():
        yield _session_protocol


@pytest.fixture
def accounts(chain):
    return chain.accounts


@pytest.fixture
def deploy(chain, protocol):
    """deploy(**overrides) -> a fresh Protocol with TEST_PARAMS changed by `overrides`,
    living inside the current test's snapshot."""

    def _deploy(unpause: bool = True, initialize_round: bool = True, **overrides):
        return deploy_protocol(chain, TEST_PARAMS.with_(**overrides), unpause=unpause, initialize_round=initialize_round)

    return _deploy
