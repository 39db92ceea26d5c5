"""The lpsim pytest plugin (entry point `pytest11: lpsim`): fixtures that give a test suite a chain
with the Livepeer protocol deployed, funded accounts, the common protocol moves, a devchain
process and a whole paid devnet. docs/pytest-plugin.md has the guide.

Chains are session-wide (one per backend) and the protocol is deployed once per chain; every test
that takes `lp_protocol` runs inside a snapshot that is reverted after it. This module imports
nothing heavy: pytest loads it for every run in an environment where lpsim is installed.
"""
from __future__ import annotations

import pytest

DEFAULT_BACKEND = "embedded"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lpsim", "lpsim: Livepeer protocol fixtures")
    group.addoption("--lp-backend", dest="lp_backend", default=None, metavar="NAMES",
                    help="chain backend(s) for lp_chain: embedded, fast or revm; several, comma-separated, "
                         "run each test once per backend (default: the lp_backend ini value, else embedded)")
    parser.addini("lp_backend", "default --lp-backend", default="")
    group.addoption("--lp-devchain-backend", dest="lp_devchain_backend", default=None, choices=("revm", "py-evm"),
                    help="the EVM of lp_devchain's `lpnode devchain --backend` (default: the lp_devchain_backend "
                         "ini value, else revm)")
    parser.addini("lp_devchain_backend", "default --lp-devchain-backend", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lp_backend(*names): run this test on these chain backends "
                                       "(embedded, fast, revm) whatever --lp-backend says")
    config.addinivalue_line("markers", "lp_params(**overrides): lp_protocol is deployed afresh, inside the "
                                       "test's snapshot, with lp_params changed by these overrides")
    _backends(config)  # a misspelt backend is a usage error before anything runs


def _backends(config: pytest.Config) -> list[str]:
    value = config.getoption("lp_backend") or config.getini("lp_backend") or DEFAULT_BACKEND
    names = [n.strip() for n in value.replace(" ", ",").split(",") if n.strip()]
    known = ("embedded", "fast", "revm")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise pytest.UsageError(f"--lp-backend: unknown backend(s) {unknown}; choose from {', '.join(known)}")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A test that reaches lp_backend runs once per backend asked for (ids "embedded", "fast", ...);
    # session scope groups the tests by backend, so each chain is set up once.
    if "lp_backend" not in metafunc.fixturenames or any(
            "lp_backend" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize")):
        return
    marker = metafunc.definition.get_closest_marker("lp_backend")
    names = list(marker.args) if marker else _backends(metafunc.config)
    if marker or len(names) > 1:
        metafunc.parametrize("lp_backend", names, indirect=True, ids=names, scope="session")


@pytest.fixture(scope="session")
def lp_backend(request: pytest.FixtureRequest) -> str:
    """The chain backend's name: "embedded" (web3.py over eth-tester: full JSON-RPC semantics),
    "fast" (titanoboa) or "revm" (pyrevm)."""
    return getattr(request, "param", None) or _backends(request.config)[0]


@pytest.fixture(scope="session")
def lp_num_accounts() -> int:
    """How many funded accounts lp_chain has (override to change)."""
    return 20


@pytest.fixture(scope="session")
def lp_params():
    """The node.eth.ProtocolParams lp_protocol deploys with (override to change; default
    node.testing.chains.TEST_PARAMS: mainnet's rules, 100-block rounds, short periods)."""
    from node.testing.chains import TEST_PARAMS

    return TEST_PARAMS


@pytest.fixture(scope="session")
def lp_chain(lp_backend, lp_num_accounts):
    """An in-process chain on lp_backend, shared by the session: every account holds ETH, and LPT
    once the protocol is deployed. Tests that take lp_protocol are reverted after; tests that take
    only lp_chain are not."""
    from node.testing.chains import make_chain

    return make_chain(lp_backend, lp_num_accounts)


@pytest.fixture(scope="session")
def lp_session_protocol(lp_chain, lp_params):
    """The protocol deployed once on lp_chain (not reverted: take lp_protocol in tests)."""
    from node.eth import deploy_protocol

    return deploy_protocol(lp_chain, lp_params)


@pytest.fixture
def lp_protocol(request, lp_chain, lp_session_protocol, lp_params):
    """The deployed protocol (node.eth.Protocol: bindings by contract name, round helpers), inside
    a snapshot of lp_chain that is reverted when the test ends. With @pytest.mark.lp_params(...),
    a protocol deployed afresh with those overrides, inside the same snapshot."""
    from node.eth import deploy_protocol

    assert lp_session_protocol.chain is lp_chain
    marker = request.node.get_closest_marker("lp_params")
    with lp_chain.reverting():
        if marker is None:
            yield lp_session_protocol
        else:
            yield deploy_protocol(lp_chain, lp_params.with_(**marker.kwargs))


@pytest.fixture
def lp_accounts(lp_chain) -> list:
    """lp_chain's funded accounts (node.eth.chain.Account: address, private key). Account 0
    deployed the protocol and owns it."""
    return lp_chain.accounts


@pytest.fixture
def lp_deploy(lp_chain, lp_protocol, lp_params):
    """lp_deploy(unpause=True, initialize_round=True, **overrides) -> a protocol deployed afresh
    with lp_params changed by `overrides`, inside the current test's snapshot."""
    from node.eth import deploy_protocol

    def deploy(unpause: bool = True, initialize_round: bool = True, **overrides):
        return deploy_protocol(lp_chain, lp_params.with_(**overrides), unpause=unpause,
                               initialize_round=initialize_round)

    return deploy


@pytest.fixture
def lp(lp_protocol):
    """The common protocol moves on lp_protocol (node.testing.moves.ProtocolMoves): bond,
    register_orchestrator, next_round, reward, fund, winning_ticket, redeem, pay."""
    from node.testing.moves import ProtocolMoves

    return ProtocolMoves(lp_protocol)


@pytest.fixture(scope="session")
def lp_devchain(tmp_path_factory, lp_params, lp_num_accounts, pytestconfig):
    """`lpnode devchain` as a process for the session (node.testing.devchain.Devchain: url, chain_id,
    addresses, accounts, web3(), chain(), protocol()), the protocol deployed with lp_params, on
    --lp-devchain-backend's EVM (revm unless told). Its state is shared by the session's tests:
    `with lp_devchain.chain().reverting():` isolates one."""
    from node.testing.devchain import start_devchain

    backend = (pytestconfig.getoption("lp_devchain_backend") or pytestconfig.getini("lp_devchain_backend")
               or "revm")
    with start_devchain(tmp_path_factory.mktemp("lp_devchain"), "--backend", backend, params=lp_params,
                        accounts=lp_num_accounts) as dc:
        yield dc


@pytest.fixture(scope="session")
def lp_devnet_config():
    """node.devnet.DevnetConfig of lp_devnet (override to change; default
    node.testing.devnet.mock_config(): mock AI runners, a block every 0.1 s)."""
    from node.testing.devnet import mock_config

    return mock_config()


@pytest.fixture(scope="session")
def lp_devnet(lp_devnet_config):
    """A paid network on loopback for the session (node.testing.devnet.RunningDevnet: gateway_url,
    orchestrator_urls, devchain_url, addresses, protocol, gateway and orchestrator accounts,
    metric()). Requests to gateway_url are paid with tickets that redeem on its chain."""
    from node.testing.devnet import start_devnet

    with start_devnet(lp_devnet_config) as net:
        yield net
