"""`lpnode devnet --chain-backend`: the flag reaches the devnet's devchain."""
from __future__ import annotations

import pytest

from node import cli, devnet
from node.devnet import Devnet, DevnetConfig


def _config_of(monkeypatch, *argv: str) -> DevnetConfig:
    seen = []

    async def fake_run_devnet(config, ready=None):  # the parsed config, nothing started
        seen.append(config)

    monkeypatch.setattr(devnet, "run_devnet", fake_run_devnet)
    assert cli.main(["devnet", "--port", "0", *argv]) == 0
    return seen[0]


def test_the_flag_picks_the_backend_and_revm_is_the_default(monkeypatch):
    assert _config_of(monkeypatch).chain_backend == "revm" == DevnetConfig.chain_backend
    assert _config_of(monkeypatch, "--chain-backend", "py-evm").chain_backend == "py-evm"


def test_an_unknown_backend_is_refused_naming_the_choices(monkeypatch, capsys):
    with pytest.raises(SystemExit) as exc:
        _config_of(monkeypatch, "--chain-backend", "anvil")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--chain-backend" in err and "'revm'" in err and "'py-evm'" in err


def test_help_names_the_flag(capsys):
    with pytest.raises(SystemExit):
        cli.main(["devnet", "--help"])
    assert "--chain-backend {revm,py-evm}" in capsys.readouterr().out


@pytest.mark.parametrize("backend", ["revm", "py-evm"])
def test_the_devnet_chain_runs_on_the_chosen_evm(backend):
    from node.eth import EmbeddedChain
    from node.eth.revm_devchain import RevmDevchain

    net = Devnet(DevnetConfig(chain_backend=backend, orchestrators=0, round_length=5))
    net.start_chain()
    try:
        assert type(net.chain) is {"revm": RevmDevchain, "py-evm": EmbeddedChain}[backend]
        assert net.protocol.RoundsManager.roundLength() == 5  # deployed and served over RPC
    finally:
        net.rpc_server.shutdown()
