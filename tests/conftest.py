"""Shared fixtures, thin names over the lpsim pytest plugin's (node/testing/plugin.py, the same
plugin users get): one chain per backend per session — the suite runs on the embedded, fast and
revm backends (`lp_backend` in pyproject.toml's pytest settings; `--lp-backend NAME` narrows it),
the protocol deployed once, and every test run on a snapshot reverted after it.

A module may override `chain` and `_session_protocol` (tests/eth/test_devchain.py runs the contract
tests against a devchain process that way); `protocol`, `accounts` and `deploy` follow them.

Run with `python -P -m pytest --import-mode=append` (README, .ci/run), the suite tests the
installed package; with `python -m pytest`, the checkout. The check below fails a run that mixes
the two, and under -P, PYTHONSAFEPATH keeps the processes tests start (`python -m node.cli ...`)
on the installed package too."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from node.eth import deploy_protocol
from node.testing.chains import TEST_PARAMS  # noqa: F401 - imported by tests as tests.conftest.TEST_PARAMS

REPO = Path(__file__).resolve().parents[1]


def _check_origin() -> None:
    """node, lpsim, contracts and scenarios all from one place: the checkout (`python -m pytest`,
    while developing) or the installed package (`python -P -m pytest --import-mode=append`, CI).
    A mix tests neither (e.g. the `pytest` script: the plugin binds `node` to site-packages before
    pytest puts the checkout on sys.path for the rest)."""
    import contracts
    import lpsim
    import node
    import scenarios

    installed = bool(sys.flags.safe_path)  # python -P: test the installed package
    wrong = [m.__name__ for m in (node, lpsim, contracts, scenarios)
             if (Path(m.__file__).resolve().parents[1] == REPO) == installed]  # (a venv may live in the checkout)
    if wrong:
        where = "the checkout" if installed else "site-packages"
        raise pytest.UsageError(
            f"{wrong} were imported from {where}: run `python -m pytest` to test the checkout, or "
            f"`python -P -m pytest --import-mode=append` to test the installed package (pip install . first)")
    if installed:
        os.environ["PYTHONSAFEPATH"] = "1"  # the same for every Python process a test starts


_check_origin()


@pytest.fixture(scope="session")
def chain(lp_chain):
    """The session's chain on one backend (ids "embedded", "fast", "revm"), 20 accounts."""
    return lp_chain


@pytest.fixture(scope="session")
def _session_protocol(chain, lp_session_protocol):
    return lp_session_protocol


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
