"""lpnode's go-livepeer command line: go's mode flags as aliases of the commands, go's defaults,
a help text for every flag (lpnode's own labelled), port 0 with -readyFile, keystores and
-ethController."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.cli import GO_COMMANDS, build_parser
from node.launch import COMMANDS

# go-livepeer's flags that lpnode has (cmd/livepeer/starter/flags.go; -v in cmd/livepeer/livepeer.go)
GO_FLAGS = {
    "network", "cliAddr", "config", "ethUrl", "ethController", "ethKeystorePath", "ethAcctAddr", "ethPassword", "transactionTimeout",
    "maxTransactionReplacements", "blockPollingInterval", "dataDir", "datadir", "monitor", "v", "orchestrator",
    "transcoder", "aiWorker", "gateway", "broadcaster", "serviceAddr", "httpAddr", "pricePerUnit", "pixelsPerUnit",
    "autoAdjustPrice", "aiModels", "aiModelsDir", "nvidia", "ticketEV", "maxFaceValue", "maxSessions", "orchSecret",
    "reward", "initializeRound", "testTranscoder", "orchAddr", "maxPricePerUnit", "maxTicketEV", "maxTotalEV", "maxAttempts",
    "localVerify", "transcodingOptions", "selectStakeWeight", "selectPriceWeight", "selectRandFreq",
    "selectPriceExpFactor", "remoteSigner", "remoteDiscovery",
    "redeemer", "redeemerAddr", "ethOrchAddr",
    "remoteSignerWebhookUrl", "remoteSignerWebhookHeaders", "remoteSignerAllowNoAuth",  # go-livepeer #3959
    "livePaymentInterval",
}


def parse(*argv):
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize("argv,command,extra", [
    (["-orchestrator", "-orchSecret", "s"], "orchestrator", {"transcoder": False}),
    (["-orchestrator", "-transcoder"], "orchestrator", {"transcoder": True}),  # O+T: it transcodes itself
    (["--orchestrator=true", "--transcoder=1"], "orchestrator", {"transcoder": True}),
    (["-transcoder", "-orchestrator"], "orchestrator", {"transcoder": True}),  # go's priority, not the order
    (["-orchestrator", "-aiWorker", "-aiModels", "text-to-image:m"], "orchestrator", {"aiWorker": True}),
    (["-transcoder", "-orchAddr", "o:8935", "-orchSecret", "s"], "transcoder", {"orchAddr": "o:8935"}),
    (["-aiWorker", "-orchAddr", "o:8935"], "ai-worker", {"orchAddr": "o:8935"}),
    (["-gateway", "-orchAddr", "o:8935"], "gateway", {}),
    (["-broadcaster", "-orchAddr", "o:8935"], "gateway", {"broadcaster": True}),
    (["-orchestrator=false", "-gateway"], "gateway", {}),
    (["-gateway", "-orchestrator", "-orchSecret", "s"], "orchestrator", {"gateway": True}),  # go: O wins
    (["orchestrator", "-gateway", "-transcoder"], "orchestrator", {}),
    (["orchestrator", "-transcoder=true"], "orchestrator", {"transcoder": True}),
    (["orchestrator", "--serviceAddr", "127.0.0.1:1", "-transcoder"], "orchestrator", {"serviceAddr": "127.0.0.1:1"}),
])
def test_mode_flags_are_go_livepeers(argv, command, extra):
    args = parse(*argv)
    assert args.command == args.parser.defaults["command"] == command and args.func is COMMANDS[command][1]
    assert {k: getattr(args, k) for k in extra} == extra


def test_the_mode_may_come_from_a_config_file(tmp_path):
    conf = tmp_path / "livepeer.conf"
    conf.write_text("orchestrator\ntranscoder\nserviceAddr 127.0.0.1:0\n")
    args = parse("-config", str(conf), "-v", "5")
    assert (args.command, args.transcoder, args.serviceAddr, args.v) == ("orchestrator", True, "127.0.0.1:0", 5)


@pytest.mark.parametrize("argv,message", [
    (["-serviceAddr", "127.0.0.1:1"], "No services enabled"),
    (["-orchestrator", "-bogus"], "flag provided but not defined: -bogus"),
    (["gateway", "-orchestrator"], "names another command"),
    (["gateway", "-localVerify", "false"], 'unexpected argument "false"'),
    (["orchestrator", "-nvidia", "gpu0"], 'invalid value "gpu0" for flag -nvidia'),
    (["gateway", "-selectStakeWeight", "2"], 'invalid value "2" for flag -selectStakeWeight'),
    (["orchestrator", "-maxSessions", "0"], 'invalid value "0" for flag -maxSessions'),
])
def test_refusals_exit_2_naming_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_go_defaults():
    """starter.go's DefaultLivepeerConfig and flags.go: -reward unset (on when registered), no round
    initialiser, price auto-adjustment on, selection 0.7 stake / 0 price / 0.3 random, offchain, -v 3."""
    o = parse("orchestrator")
    assert o.reward is None and o.initializeRound is False and o.autoAdjustPrice is True
    assert o.network == "offchain" and o.v == 3 and o.monitor is False and o.nvidia is None
    assert o.transactionTimeout == 300 and o.maxTransactionReplacements == 1 and o.blockPollingInterval == 5
    assert o.maxSessions == 10 and o.ticketEV is None and o.maxFaceValue == 0
    g = parse("gateway")
    assert (g.selectStakeWeight, g.selectPriceWeight, g.selectRandFreq, g.selectPriceExpFactor) == (0.7, 0, 0.3, 100)
    assert g.maxTicketEV == 3_000_000_000_000 and g.maxTotalEV == 20_000_000_000_000 and g.maxAttempts == 3
    assert g.localVerify is None and g.httpAddr == "127.0.0.1:9935"
    assert parse("gateway", "-selectRandWeight", "0.1").selectRandFreq == 0.1
    assert parse("orchestrator", "-nvidia", "0,1").nvidia == ["0", "1"]
    assert parse("orchestrator", "-datadir", "/d").dataDir == "/d"
    assert parse("orchestrator", "-initializeRound", "-reward=false").reward is False


def test_every_flag_has_help_and_lpnodes_own_are_labelled():
    for command, (factory, _) in COMMANDS.items():
        for flag in factory().unique():
            assert len(flag.help) > 10, (command, flag.name)
            if flag.name not in GO_FLAGS:
                assert "(lpnode)" in flag.help, (command, flag.name)
            for alias in flag.aliases:
                assert alias in GO_FLAGS or f"-{alias} is lpnode's" in flag.help, (command, alias)
    assert set(GO_COMMANDS) == set(COMMANDS)
    from node.cli import build_argparse  # lpnode's own commands (devchain, devnet) too

    commands = next(a for a in build_argparse()._actions if a.choices and "devnet" in a.choices).choices
    for name in ("devchain", "devnet"):
        assert all(a.help for a in commands[name]._actions if a.option_strings), name


def test_help_exits_0_with_every_flag(capsys):
    for argv in (["orchestrator", "-h"], ["-gateway", "--help"]):
        with pytest.raises(SystemExit) as exc:
            parse(*argv)
        assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "  -serviceAddr string\n" in out and "  -selectRandFreq float\n" in out


# ------------------------------------------------------------------ processes: port 0 and -readyFile


def _ready(path: Path, proc, deadline: float) -> dict:
    while time.time() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.1)
    pytest.fail(f"{path} was not written")


def test_port_0_and_ready_files_offchain(tmp_path):
    import httpx

    lpnode = [sys.executable, "-m", "node.cli"]
    procs = []
    try:
        orch_ready, gw_ready = tmp_path / "orch.json", tmp_path / "gw.json"
        procs.append(subprocess.Popen(lpnode + ["-orchestrator", "-transcoder", "-serviceAddr", "127.0.0.1:0",
                                                "-orchSecret", "s3cret", "-aiModels", "text-to-image:m:true",
                                                "-readyFile", str(orch_ready)],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        orch = _ready(orch_ready, procs[0], time.time() + 60)
        assert orch["mode"] == "orchestrator" and orch["network"] == "offchain" and not orch["url"].endswith(":0")
        procs.append(subprocess.Popen(lpnode + ["-gateway", "-httpAddr=127.0.0.1:0", "--orchAddr",
                                                orch["url"], "-readyFile", str(gw_ready)],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        gw = _ready(gw_ready, procs[1], time.time() + 60)
        assert gw["mode"] == "gateway" and not gw["url"].endswith(":0")
        for url in (orch["url"], gw["url"]):
            assert httpx.get(f"{url}/metrics", timeout=5).status_code == 200
        # go's standalone AI worker: -aiWorker with -aiModels starts a runner per model and attaches
        procs.append(subprocess.Popen(lpnode + ["-aiWorker", "-aiModels", "text-to-image:m:true", "-aiRunnerMode", "mock",
                                                "-orchAddr", orch["url"].removeprefix("http://"), "-orchSecret",
                                                "s3cret"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        body = {"prompt": "x", "model_id": "m", "width": 64, "height": 64}
        deadline = time.time() + 60
        while (r := httpx.post(f"{gw['url']}/text-to-image", json=body, timeout=30)).status_code != 200:
            assert time.time() < deadline, r.text
            time.sleep(0.5)
        # the one line a script parses
        for proc, info, mode in ((procs[0], orch, "orchestrator"), (procs[1], gw, "gateway")):
            proc.terminate()
            out, _ = proc.communicate(timeout=10)
            assert f"{mode} listening on {info['url']}\n" in out
        assert not list(tmp_path.glob(".*.tmp"))  # written by rename
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)


# ------------------------------------------------------------------ keystores and -ethController


def _keystore(folder: Path, key: bytes, password: str, name: str) -> str:
    from eth_account import Account

    doc = Account.encrypt(key, password, kdf="pbkdf2", iterations=2)  # quick; go's keystore reads either kdf
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps(doc))
    return Account.from_key(key).address


class _Parser:
    prog = "lpnode test"

    def error(self, message):
        raise ValueError(message)


def _args(**flags):
    import argparse

    values = {"ethKey": "", "ethKeystorePath": "", "ethAcctAddr": "", "ethPassword": "", "dataDir": "",
              "network": "offchain"}
    values.update(flags)
    return argparse.Namespace(**values, flags_set=set(flags))


def test_keystore_file_or_directory_with_password_or_password_file(tmp_path):
    from node.launch import load_account

    keys = tmp_path / "keystore"
    a = _keystore(keys, b"\x01" * 32, "secret", "UTC--1--a")
    b = _keystore(keys, b"\x02" * 32, "other", "UTC--2--b")
    (keys / ".hidden").write_text("not a key")
    (tmp_path / "pw").write_text("other\n")
    assert load_account(_args(ethKeystorePath=str(keys / "UTC--1--a"), ethPassword="secret"), _Parser()) == \
        (a, b"\x01" * 32)
    # a directory: the first key file, or -ethAcctAddr's; the password from a file (go's ReadFromFile)
    assert load_account(_args(ethKeystorePath=str(keys), ethPassword="secret"), _Parser())[0] == a
    assert load_account(_args(ethKeystorePath=str(keys) + "/", ethAcctAddr=b.lower(),
                              ethPassword=str(tmp_path / "pw")), _Parser())[0] == b
    # -dataDir's keystore when -ethKeystorePath is not given (go's <datadir>/keystore)
    assert load_account(_args(dataDir=str(tmp_path), ethPassword="secret"), _Parser())[0] == a
    for flags, message in [
        ({"ethKeystorePath": str(keys), "ethPassword": "wrong"}, "MAC mismatch"),
        ({"ethKeystorePath": str(tmp_path / "nope")}, "provided -ethKeystorePath was not found"),
        ({"ethKeystorePath": str(keys), "ethAcctAddr": "0x" + "9" * 40}, "not found"),
        ({"ethKeystorePath": str(keys / "UTC--1--a"), "ethAcctAddr": b}, "does not match"),
        ({"dataDir": str(tmp_path / "empty")}, "no keystore directory"),
    ]:
        with pytest.raises(ValueError, match=message):
            load_account(_args(**flags), _Parser())


def test_eth_controller_resolves_the_protocol():
    """go finds every contract with Controller.getContract(keccak256(name)); so does -ethController."""
    from node.eth import ChainError, FastChain, deploy_protocol
    from node.launch import controller_addresses

    chain = FastChain(num_accounts=2)
    deployed = deploy_protocol(chain)
    addresses = controller_addresses(chain, deployed.addresses["Controller"])
    assert {k: v.lower() for k, v in addresses.items()} == {k: v.lower() for k, v in deployed.addresses.items()}
    with pytest.raises(Exception):  # noqa: B017 - no Controller there: its call cannot decode
        controller_addresses(chain, deployed.addresses["LivepeerToken"])
    assert ChainError


def test_an_on_chain_orchestrator_from_a_keystore_and_the_controller(tmp_path):
    """go's on-chain start: a V3 keystore (the password in a file), the contracts found through
    -ethController, rounds initialised only with -initializeRound; port 0 is learnt before the
    service URI is registered."""
    from node.eth import JsonRpcChain, attach_protocol, dev_accounts
    from tests.eth.devchain_process import devchain_process

    acct = dev_accounts(3)[2]
    _keystore(tmp_path / "keystore", acct.key, "pw", "UTC--orch")
    (tmp_path / "password").write_text("pw\n")
    ready = tmp_path / "ready.json"
    with devchain_process(tmp_path) as (url, addresses):
        proc = subprocess.Popen([sys.executable, "-m", "node.cli", "-orchestrator", "-orchSecret", "s",
                                 "-serviceAddr", "127.0.0.1:0", "-ethUrl", url, "-ethController",
                                 addresses["Controller"], "-ethKeystorePath", str(tmp_path / "keystore"),
                                 "-ethPassword", str(tmp_path / "password"), "-dataDir", str(tmp_path / "data"),
                                 "-blockPollingInterval", "0.2", "-readyFile", str(ready)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        try:
            info = _ready(ready, proc, time.time() + 60)
            assert info["address"] == acct.address and info["network"] == "chain-31337"
            p = attach_protocol(JsonRpcChain(url, accounts=[acct]), addresses)
            assert p.ServiceRegistry.getServiceURI(acct.address) == info["url"]
            assert (tmp_path / "data" / "lpdb.sqlite3").exists()
            p.chain.mine(p.params.round_length)  # a new round: nobody initialises it (go's default)
            time.sleep(1.5)  # several duty polls
            assert not p.RoundsManager.currentRoundInitialized()
        finally:
            proc.terminate()
            proc.wait(10)


def test_one_logging_set_up_with_gos_verbosity():
    """-v as glog's: 3 (go's default) INFO, 5 DEBUG, 6 DEBUG with third-party lines; one line format."""
    import io
    import logging
    import re

    from node.logging_setup import setup_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in ("httpx", "uvicorn.access")}
    try:
        out = io.StringIO()
        setup_logging(3, stream=out)
        assert root.level == logging.INFO and logging.getLogger("httpx").level == logging.WARNING
        logging.getLogger("lpnode.test").info("registered uri=%s", "http://127.0.0.1:1")
        logging.getLogger("httpx").info("HTTP Request: GET / 200")  # quiet below -v 6
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO lpnode\.test: registered "
                            r"uri=http://127\.0\.0\.1:1\n", out.getvalue())
        setup_logging(5, stream=out)
        assert root.level == logging.DEBUG and logging.getLogger("uvicorn.access").level == logging.WARNING
        setup_logging(6, stream=out)
        assert logging.getLogger("httpx").level == logging.NOTSET
    finally:
        for h in root.handlers[:]:
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        for n, level in saved[2].items():
            logging.getLogger(n).setLevel(level)


def test_nvidia_transcoding_is_tested_at_start_as_go_does():
    """-transcoder -nvidia: go's -testTranscoder (on by default) transcodes on each GPU first and
    exits when one cannot (GPU 99 exists nowhere; an H200, which has no NVENC, fails the same way)."""
    run = subprocess.run([sys.executable, "-m", "node.cli", "-orchestrator", "-transcoder", "-nvidia", "99",
                          "-serviceAddr", "127.0.0.1:0"], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 1 and "cannot transcode on Nvidia GPU 99" in run.stderr
