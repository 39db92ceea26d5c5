"""`lpnode orchestrator`, `gateway`, `transcoder` and `ai-worker` (or `lpnode -orchestrator ...` as
go-livepeer's `livepeer -orchestrator ...`): one node per process, with go-livepeer's flag names,
syntax (node/goflags.py), meanings and defaults (cmd/livepeer/starter/flags.go, starter.go) where go
has the flag; lpnode's own flags say "(lpnode)" in their help.

Offchain unless -ethUrl is given (or -network names a chain). On-chain a node's account is a V3
keystore (-ethKeystorePath, -ethPassword, as go) or a raw key (-ethKey, lpnode); the contracts are
found through the Controller (-ethController, or the -network's) or in an addresses file
(-addresses, lpnode: what `lpnode devchain --addresses` writes).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import threading
from fractions import Fraction
from pathlib import Path

from node import event_loop
from node.eth.txmanager import DEFAULT_MAX_REPLACEMENTS, DEFAULT_TX_TIMEOUT
from node.goflags import FlagSet, parse_int
from node.logging_setup import DEFAULT_VERBOSITY, setup_logging, verbosity
from node.net.serving import start_serving

log = logging.getLogger("lpnode")

LPNODE = " (lpnode)"  # the label of a flag go-livepeer does not have

# go's networks with a known Controller (starter.go, configOptions); arbitrum's redeem gas is L2's
NETWORK_CONTROLLERS = {
    "rinkeby": "0x9a9827455911a858E55f07911904fACC0D66027E",
    "arbitrum-one-rinkeby": "0x9ceC649179e2C7Ab91688271bcD09fb707b3E574",
    "mainnet": "0xf96d54e490317c557a967abfa5d6e33006be69b3",
    "arbitrum-one-mainnet": "0xD8E8328501E9645d16Cf49539efC04f734606ee4",
}
L2_NETWORKS = ("arbitrum-one-rinkeby", "arbitrum-one-mainnet")

# go's default selection weights (starter.go, DefaultLivepeerConfig)
DEFAULT_SELECT_STAKE_WEIGHT, DEFAULT_SELECT_PRICE_WEIGHT, DEFAULT_SELECT_RAND_WEIGHT = 0.7, 0.0, 0.3


# ---------------------------------------------------------------------------------------- values


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a Go duration ("5m", "30s", "1m30s", "500ms", "1h") or a plain number of seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)([a-zµ]+)", text)
    if not parts or "".join(n + u for n, u in parts) != text or any(u not in _DURATION_UNITS for _, u in parts):
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return seconds


def _non_negative_int(text: str) -> int:
    """A count or an amount of wei: go parses its wei flags as big integers, so no range."""
    value = parse_int(text, bits=None)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be positive")
    return value


def _weight(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError("must be between 0 and 1")
    return value


def parse_nvidia(text: str) -> list[str]:
    """-nvidia: comma-separated GPU ids (`0,1`) or `all` (every GPU torch sees; go asks nvidia-smi)."""
    if text == "all":
        try:
            import torch

            count = torch.cuda.device_count()
        except ImportError:
            count = 0
        if not count:
            raise ValueError("all: no Nvidia GPU found")
        return [str(i) for i in range(count)]
    ids = text.split(",")
    if not all(re.fullmatch(r"\d+", i) for i in ids):
        raise ValueError("want GPU ids such as 0,1 or all")
    return ids


def test_nvidia_transcoding(gpus: list[str]) -> str | None:
    """go's -testTranscoder: a short segment through NVENC on each GPU before the node starts; the
    first failure as text (a GPU without a video encoder, the H100/H200 for one, fails here)."""
    from node.worker.media import synthetic_segment
    from node.worker.profiles import VideoProfile
    from node.worker.transcode import transcode

    segment = synthetic_segment(duration=0.5, width=320, height=180)
    for gpu in gpus:
        try:
            transcode(segment, [VideoProfile("P144p30fps16x9", 256, 144, 200_000, 30, 1)], accel="nvidia",
                      device=int(gpu))
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            return f"cannot transcode on Nvidia GPU {gpu}: {type(exc).__name__}: {exc}"
    return None


def read_from_file(text: str) -> str:
    """go's common.ReadFromFile: the trimmed contents when `text` names a non-empty file, else `text`
    (-ethPassword, -orchSecret)."""
    path = Path(text)
    try:
        if text and path.is_file():
            content = path.read_text().strip()
            if content:
                return content
    except OSError:
        pass
    return text


# ---------------------------------------------------------------------------------------- flags


def _common_flags(fs: FlagSet) -> None:
    fs.add("v", verbosity, DEFAULT_VERBOSITY, "Log verbosity, glog's levels: 0-4 info, 5 debug, 6 debug with "
           "third-party libraries' lines (node/logging_setup.py)", type_name="int")
    fs.string("readyFile", "", "once the node serves, write JSON {\"url\": ...} to this file (atomically); the "
              "bound address is also printed as `<mode> listening on <url>`" + LPNODE)
    fs.string("config", "", "Config file in the format 'key value', flags and env vars take precedence over the "
              "config file")
    fs.config_flag = "config"


def _chain_flags(fs: FlagSet) -> None:
    fs.string("network", "offchain", "Network to connect to: offchain, arbitrum-one-mainnet, mainnet, ... or any "
              "name (a devchain); unset, lpnode is on-chain when -ethUrl is given")
    fs.string("ethUrl", "", "Ethereum node JSON-RPC URL")
    fs.string("ethController", "", "Protocol smart contract address (the Controller; default: the -network's); "
              "the other contracts are read from it with getContract(keccak(name))")
    fs.string("ethKeystorePath", "", "Path to ETH keystore directory or keyfile (V3 JSON). If keyfile, overrides "
              "-ethAcctAddr (default: <dataDir>/keystore)")
    fs.string("ethAcctAddr", "", "Existing Eth account address. For use when multiple ETH accounts exist in the "
              "keystore directory")
    fs.string("ethPassword", "", "Password for existing Eth account address or path to file")
    fs.string("ethKey", "", "hex private key of this node's account, instead of a keystore" + LPNODE)
    fs.string("addresses", "", "JSON file of contract addresses (lpnode devchain --addresses), instead of "
              "-ethController" + LPNODE)
    fs.add("transactionTimeout", _duration, DEFAULT_TX_TIMEOUT,
           "Amount of time to wait for an Ethereum transaction to confirm before timing out: a Go duration "
           "(5m, 30s, 1m30s); lpnode also takes plain seconds (-txTimeout is lpnode's alias)",
           aliases=("txTimeout",), type_name="duration")
    fs.add("maxTransactionReplacements", _non_negative_int, DEFAULT_MAX_REPLACEMENTS,
           "Number of times to automatically replace pending Ethereum transactions", type_name="int")
    fs.add("blockPollingInterval", _positive_float, 5.0, "Interval in seconds at which different blockchain "
           "event services poll for blocks (lpnode takes fractions of a second)", type_name="float")
    fs.string("dataDir", "", "Directory that data is stored in (default ~/.lpData/<network>; -datadir is go's "
              "deprecated spelling)", aliases=("datadir",))
    fs.bool("monitor", False, "Set to true to send performance metrics (lpnode serves Prometheus /metrics either "
            "way; see the README)")


def _live_payment_flag(fs: FlagSet) -> None:
    """go's -livePaymentInterval ([B,O]): how often a live stream pays (gateway) and is charged (orchestrator)."""
    from node.core.live_payment import LIVE_PAYMENT_INTERVAL

    fs.add("livePaymentInterval", _duration, LIVE_PAYMENT_INTERVAL, "Interval to pay process Gateway <> "
           "Orchestrator Payments for Live AI Video", type_name="duration")


def orchestrator_flags(prog: str = "lpnode orchestrator") -> FlagSet:
    fs = FlagSet(prog, "Run an orchestrator: gRPC and HTTP on one port (-serviceAddr).")
    fs.bool("orchestrator", True, "Set to true to be an orchestrator (implied by the orchestrator command)")
    fs.bool("transcoder", False, "Set to true to be a transcoder: with -orchestrator, transcode here (PyAV)")
    fs.bool("aiWorker", False, "Set to true to run an AI worker: with -orchestrator, an in-process AI runner for "
            "every -aiModels entry without a `url` (without it, remote AI workers serve them)")
    fs.string("serviceAddr", "127.0.0.1:8935", "Orchestrator only. Overrides the on-chain serviceURI that gateways "
              "can use to contact this node; may be an IP or hostname. Port 0 picks a free port and advertises "
              "it (lpnode: go infers the public IP when unset, lpnode defaults to loopback)")
    fs.string("httpAddr", "", "Address to bind for HTTP commands (default: -serviceAddr's host and port; go's: "
              "every interface on -serviceAddr's port)")
    fs.string("cliAddr", "", "Address to bind for CLI commands, the operator API lpcli --node and livepeer_cli "
              "talk to (default 127.0.0.1:7935)")
    _chain_flags(fs)
    _common_flags(fs)
    fs.string("pricePerUnit", "0", "The price per 'pixelsPerUnit' amount pixels, in wei")
    fs.add("pixelsPerUnit", _positive_int, 1, "Amount of pixels per unit. Set to '> 1' to have smaller price "
           "granularity than 1 wei / pixel", type_name="int")
    fs.bool("autoAdjustPrice", True, "Enable/disable automatic price adjustments based on the overhead for "
            "redeeming tickets")
    fs.string("aiModels", "", "Set models (pipeline:model_id) for AI worker to load upon initialization: an "
              "aiModels.json file or pipeline:model_id:warm triples; an entry's `url` is its AI runner")
    fs.string("aiModelsDir", "", "Set directory where AI model weights are stored (default $MODEL_DIR, then "
              "~/.lpData/models)")
    fs.add("aiRunnerMode", _runner_mode, "real", "-aiWorker runners: real models, or the declared deterministic "
           "mocks" + LPNODE, type_name="string")
    fs.add("nvidia", parse_nvidia, None, "Comma-separated list of Nvidia GPU device IDs (or \"all\" for all "
           "available devices): -aiWorker runners go on these GPUs (one each, in turn) and -transcoder uses NVENC "
           "on them", type_name="string")
    fs.bool("testTranscoder", True, "Test Nvidia GPU transcoding at startup (with -transcoder -nvidia)")
    fs.add("ticketEV", _non_negative_int, None, "The expected value for PM tickets (default 8000000000)",
           type_name="int")
    fs.add("maxFaceValue", _non_negative_int, 0, "set max ticket face value in WEI", type_name="int")
    fs.add("maxSessions", _positive_int, 10, "Maximum number of concurrent transcoding sessions", type_name="int")
    fs.string("orchSecret", "", "Shared secret with the orchestrator as a standalone transcoder or path to file")
    fs.bool("reward", None, "Set to true to run a reward service (default: when the node is a registered "
            "transcoder)")
    fs.bool("initializeRound", False, "Set to true if running as a transcoder and the node should automatically "
            "initialize new rounds")
    fs.string("redeemerAddr", "", "URL of the ticket redemption service to use: winning tickets go to it and max "
              "float comes from it (lpnode redeemer; https:// is TLS, a bare host:port h2c)")
    _live_payment_flag(fs)
    return fs


def gateway_flags(prog: str = "lpnode gateway") -> FlagSet:
    fs = FlagSet(prog, "Run a gateway: the client HTTP API on -httpAddr.")
    fs.bool("gateway", True, "Set to true to be a gateway (implied by the gateway command)")
    fs.bool("broadcaster", False, "Set to true to be a broadcaster (**Deprecated**, use -gateway)")
    fs.string("httpAddr", "127.0.0.1:9935", "Address to bind for HTTP commands; port 0 picks a free one")
    fs.string("cliAddr", "", "Address to bind for CLI commands, the operator API lpcli --node and livepeer_cli "
              "talk to (default 127.0.0.1:5935)")
    fs.string("orchAddr", "", "Comma-separated list of orchestrators to connect to (host:port or URLs); absent "
              "on-chain: the chain's active orchestrators and their ServiceRegistry URIs")
    _chain_flags(fs)
    _common_flags(fs)
    fs.string("maxPricePerUnit", "0", "The maximum transcoding price per 'pixelsPerUnit' a gateway is willing to "
              "accept (0: any price)")
    fs.add("pixelsPerUnit", _positive_int, 1, "Amount of pixels per unit", type_name="int")
    fs.add("maxTicketEV", _non_negative_int, 3_000_000_000_000, "The maximum acceptable expected value for one "
           "PM ticket", type_name="int")
    fs.add("maxTotalEV", _non_negative_int, 20_000_000_000_000, "The maximum acceptable expected value for one "
           "PM payment", type_name="int")
    fs.int("maxAttempts", 3, "Maximum transcode attempts")
    fs.bool("localVerify", None, "Set to true to enable local verification i.e. pixel count and signature "
            "verification (default: on on-chain, off offchain)")
    fs.string("transcodingOptions", "P240p30fps16x9,P360p30fps16x9", "Transcoding options for broadcast job")
    fs.add("selectStakeWeight", _weight, DEFAULT_SELECT_STAKE_WEIGHT, "Weight of the stake factor in the "
           "orchestrator selection algorithm", type_name="float")
    fs.add("selectPriceWeight", _weight, DEFAULT_SELECT_PRICE_WEIGHT, "Weight of the price factor in the "
           "orchestrator selection algorithm", type_name="float")
    fs.add("selectRandFreq", _weight, DEFAULT_SELECT_RAND_WEIGHT, "Weight of the random factor in the orchestrator "
           "selection algorithm (-selectRandWeight is lpnode's alias)", aliases=("selectRandWeight",),
           type_name="float")
    fs.add("selectPriceExpFactor", _positive_float, 100.0, "Expresses how significant a small change of price is "
           "for the selection algorithm; default 100", type_name="float")
    # go funds a gateway through livepeer_cli; these top the TicketBroker deposit and reserve up at start
    fs.add("deposit", _non_negative_int, 0, "on-chain: top the TicketBroker deposit up to this (wei)" + LPNODE,
           type_name="int")
    fs.add("reserve", _non_negative_int, 0, "on-chain: top the TicketBroker reserve up to this (wei)" + LPNODE,
           type_name="int")
    _live_payment_flag(fs)
    return fs


def transcoder_flags(prog: str = "lpnode transcoder") -> FlagSet:
    fs = FlagSet(prog, "Run a remote transcoder attached to an orchestrator.")
    fs.bool("transcoder", True, "Set to true to be a transcoder (implied by the transcoder command)")
    fs.string("orchAddr", "", "the orchestrator's host:port (required)")
    fs.string("orchSecret", "", "Shared secret with the orchestrator as a standalone transcoder or path to file "
              "(required)")
    fs.add("maxSessions", _positive_int, 2, "maximum capacity for transcoder: segments transcoded at once "
           "(lpnode's default 2; go's 10)", type_name="int")
    fs.add("nvidia", parse_nvidia, None, "Comma-separated list of Nvidia GPU device IDs (or \"all\"): transcode "
           "with NVENC on them, in turn", type_name="string")
    fs.bool("testTranscoder", True, "Test Nvidia GPU transcoding at startup (with -nvidia)")
    _common_flags(fs)
    return fs


def ai_worker_flags(prog: str = "lpnode ai-worker") -> FlagSet:
    fs = FlagSet(prog, "Run a remote AI worker attached to an orchestrator, driving an AI runner "
                 "(lpnode ai-runner).")
    fs.bool("aiWorker", True, "Set to true to run an AI worker (implied by the ai-worker command)")
    fs.string("orchAddr", "", "the orchestrator's host:port (required)")
    fs.string("orchSecret", "", "Shared secret with the orchestrator or path to file (required)")
    fs.string("aiModels", "", "Set models (pipeline:model_id) for AI worker to load upon initialization: an "
              "aiModels.json file or pipeline:model_id:warm triples, one model id; an entry's `url` is its runner, "
              "the others load here (as go's worker starts a runner container each); instead of -runnerUrl")
    fs.string("aiModelsDir", "", "Set directory where AI model weights are stored (default $MODEL_DIR, then "
              "~/.lpData/models)")
    fs.add("aiRunnerMode", _runner_mode, "real", "-aiModels runners started here: real models, or the declared "
           "deterministic mocks" + LPNODE, type_name="string")
    fs.string("runnerUrl", "", "the AI runner this worker drives (lpnode ai-runner); comma-separated, one per "
              "-pipeline, when each pipeline has its own (or -aiModels)" + LPNODE)
    fs.string("pipeline", "text-to-image", "pipeline(s) served with -runnerUrl, comma-separated" + LPNODE)
    fs.string("modelID", "", "the model the -runnerUrl runner serves" + LPNODE)
    fs.add("nvidia", parse_nvidia, None, "Comma-separated list of Nvidia GPU device IDs (or \"all\"): -aiModels "
           "runners started here go on these GPUs in turn; a -runnerUrl runner chooses its own", type_name="string")
    _common_flags(fs)
    return fs


def _positive_int(text: str) -> int:
    value = parse_int(text)
    if value <= 0:
        raise ValueError("must be positive")
    return value


def _runner_mode(text: str) -> str:
    if text not in ("real", "mock"):
        raise ValueError("want real or mock")
    return text


def _required(args, parser, *names: str) -> None:
    for name in names:
        if not getattr(args, name):
            parser.error(f"-{name} is required")


# ---------------------------------------------------------------------------------------- the chain


def is_offchain(args) -> bool:
    """go: offchain unless -network says otherwise; lpnode, -network unset: on-chain when -ethUrl is given."""
    if "network" in args.flags_set:
        return args.network == "offchain"
    return not args.ethUrl


def connect(args, parser):
    """(protocol, account) on-chain, (None, None) offchain."""
    if is_offchain(args):
        if args.ethUrl:
            log.warning("-network offchain: -ethUrl not used ethUrl=%s", args.ethUrl)
        return None, None
    if not args.ethUrl:
        parser.error("Need to specify an Ethereum node JSON-RPC URL using -ethUrl")
    from node.eth import Account, ChainError, JsonRpcChain, attach_protocol

    address, key = load_account(args, parser)
    account = Account(address, key)
    chain = JsonRpcChain(args.ethUrl, accounts=[account], tx_timeout=args.transactionTimeout,
                         max_replacements=args.maxTransactionReplacements)
    try:
        if args.addresses:
            addresses = json.loads(Path(args.addresses).read_text())
        else:
            controller = args.ethController or NETWORK_CONTROLLERS.get(args.network, "")
            if not controller:
                parser.error("on-chain, the contracts come from -ethController (or a -network that has one: "
                             f"{', '.join(NETWORK_CONTROLLERS)}) or from -addresses")
            addresses = controller_addresses(chain, controller)
        protocol = attach_protocol(chain, addresses, owner=account)
    except (OSError, ValueError, ChainError) as exc:
        parser.exit(1, f"{parser.prog}: cannot attach to the protocol: {exc}\n")
    log.info("on-chain account=%s network=%s controller=%s", address, network_of(args, chain),
             protocol.Controller.address)
    return protocol, account


def controller_addresses(chain, controller: str) -> dict[str, str]:
    """The protocol's addresses as go finds them: Controller.getContract(keccak256(name)) for each."""
    from contracts import PROTOCOL_CONTRACTS
    from node.eth import ChainError, compile_contract, contract_id

    w3 = getattr(chain, "w3", None)  # a JSON-RPC chain: say so plainly when nothing is there
    if w3 is not None and not w3.eth.get_code(w3.to_checksum_address(controller)):
        raise ChainError(f"no contract at -ethController {controller}")
    ctrl = chain.at(compile_contract("Controller"), controller)
    addresses = {"Controller": ctrl.address}
    for name in PROTOCOL_CONTRACTS:
        if name != "Controller":
            address = ctrl.getContract(contract_id(name))
            if int(address, 16) == 0:
                raise ChainError(f"the Controller at {controller} has no {name}")
            addresses[name] = address
    return addresses


def network_of(args, chain=None) -> str:
    """The network's name: -network when given, else go's name for the chain id (or chain-<id>)."""
    if "network" in args.flags_set or chain is None:
        return args.network
    from node.orchestrator.ticket_store import network_name

    return network_name(chain.chain_id)


def data_dir(args, chain_id: int | None = None) -> Path:
    """-dataDir, else go's ~/.lpData/<network>."""
    if args.dataDir:
        return Path(args.dataDir).expanduser()
    if "network" not in args.flags_set and chain_id is not None:
        from node.orchestrator.ticket_store import default_datadir

        return default_datadir(chain_id)
    return Path.home() / ".lpData" / args.network


def load_account(args, parser) -> tuple[str, bytes]:
    """(address, private key): -ethKey (lpnode), else a V3 keystore as go reads it — -ethKeystorePath
    a key file or a directory (default <dataDir>/keystore), -ethAcctAddr choosing in a directory (the
    first file otherwise), -ethPassword the password or a file holding it. Unlike go, lpnode neither
    creates an account nor prompts for a password."""
    from eth_account import Account as EthAccount

    if args.ethKey:
        if args.ethKeystorePath:
            parser.error("-ethKey and -ethKeystorePath: give one")
        try:
            key = bytes.fromhex(args.ethKey.removeprefix("0x"))
            return EthAccount.from_key(key).address, key
        except ValueError as exc:
            parser.error(f"invalid value for flag -ethKey: {exc}")
    if args.ethKeystorePath:
        path = Path(args.ethKeystorePath.rstrip("/")).expanduser()
        if not path.exists():
            parser.error("provided -ethKeystorePath was not found")
    else:
        chain_id = None
        if not args.dataDir and "network" not in args.flags_set:
            from web3 import HTTPProvider, Web3

            chain_id = Web3(HTTPProvider(args.ethUrl)).eth.chain_id
        path = data_dir(args, chain_id) / "keystore"
    try:
        address, keyfile = find_key(path, args.ethAcctAddr)
        key = EthAccount.decrypt(keyfile, read_from_file(args.ethPassword))
    except (OSError, ValueError, KeyError) as exc:
        parser.error(f"keystore {path}: {exc}")
    derived = EthAccount.from_key(key).address
    if derived.lower() != address:
        parser.error(f"keystore {path}: the key file says {address}, its key is {derived}'s")
    return derived, bytes(key)


def find_key(path: Path, wanted: str = "") -> tuple[str, dict]:
    """(address, V3 key JSON) from a key file or a keystore directory (geth's: every file but dot
    files and editor backups, in name order). A file's own address wins over -ethAcctAddr, which
    must then match it (go's check)."""
    def address_of(doc: dict) -> str:
        return "0x" + doc["address"].lower().removeprefix("0x")

    wanted = wanted.lower()
    if path.is_file():
        doc = json.loads(path.read_text())
        if wanted and "0x" + wanted.removeprefix("0x") != address_of(doc):
            raise ValueError("-ethKeystorePath and -ethAcctAddr were both provided, but ethAcctAddr does not "
                             "match the address found in keystore")
        return address_of(doc), doc
    if not path.is_dir():
        raise ValueError("no keystore directory (give -ethKeystorePath, or -ethKey)")
    keys = []
    for f in sorted(path.iterdir()):
        if f.is_file() and not f.name.startswith(".") and not f.name.endswith("~"):
            try:
                doc = json.loads(f.read_text())
                keys.append((address_of(doc), doc))
            except (ValueError, KeyError, AttributeError):
                continue  # not a key file
    if not keys:
        raise ValueError("no Ethereum account in the keystore; lpnode does not create one (go would): make one "
                         "(geth account new, or eth_account) or pass -ethKey")
    if not wanted:
        return keys[0]
    for address, doc in keys:
        if address == "0x" + wanted.removeprefix("0x"):
            return address, doc
    raise ValueError(f"ETH account 0x{wanted.removeprefix('0x')} not found")


def open_ticket_store(folder: Path, protocol):
    """The winning-ticket store in the data directory, scoped to this chain by its genesis block hash
    (a devchain started again is another chain)."""
    from node.orchestrator.ticket_store import DB_FILE, SqliteTicketStore

    return SqliteTicketStore(folder / DB_FILE, chain=protocol.chain.block_hash(0))  # this chain's rows only


def write_ready_file(path: str, data: dict) -> None:
    """Write JSON to `path` atomically (a temp file in the same folder, then rename): a reader sees
    the whole file or none."""
    from node.cli import write_atomically

    write_atomically(path, json.dumps(data, indent=2) + "\n")


def announce(mode: str, url: str, args, **extra) -> None:
    """The line a script parses (`<mode> listening on <url>`) and the ready file."""
    print(f"{mode} listening on {url}", flush=True)
    if args.readyFile:
        write_ready_file(args.readyFile, {"url": url, "mode": mode, "pid": os.getpid(), **extra})


# ---------------------------------------------------------------------------------------- orchestrator


def _split_addr(addr: str, flag: str, parser) -> tuple[str, int]:
    host, sep, port = addr.split("://", 1)[-1].rstrip("/").rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        parser.error(f"invalid value {addr!r} for flag -{flag}: want host:port (port 0 picks a free one)")
    return host or "127.0.0.1", int(port)


def run_orchestrator(args, parser) -> int:
    from node.core.ai_models import AIModelsError, parse_ai_models
    from node.core.pricing import parse_price_per_unit
    from node.core.recipient import (
        DEFAULT_TICKET_EV,
        REDEEM_GAS_ARBITRUM,
        REDEEM_GAS_L1,
    )
    from node.eth.payments import CachedChainView, ProtocolBroker, ProtocolChainView
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from node.orchestrator.server import serve_orchestrator

    setup_logging(args.v)
    try:
        value = args.aiModels
        file_text = Path(value).read_text() if value and Path(value).is_file() else None
        models = parse_ai_models(value, file_text) if value else []
        price, _ = parse_price_per_unit(args.pricePerUnit)
    except (AIModelsError, ValueError) as exc:
        parser.error(str(exc))
    secret = read_from_file(args.orchSecret) if args.orchSecret else ""
    if not (args.transcoder or args.aiWorker or secret or models):
        parser.error("Running an orchestrator requires an -orchSecret for standalone mode or -transcoder for "
                     "orchestrator+transcoder mode")  # go's rule and words (starter.go)
    # https:// serves TLS as go (a fresh self-signed cert.pem/key.pem in -dataDir at every start);
    # a bare or http:// address is lpnode's plaintext switch (gRPC over h2c)
    scheme = "https" if args.serviceAddr.startswith("https://") else "http"
    host, port = _split_addr(args.serviceAddr, "serviceAddr", parser)
    bind_host, bind_port = _split_addr(args.httpAddr, "httpAddr", parser) if args.httpAddr else (host, port)
    sock = None
    if bind_port == 0:  # the URI is advertised (and registered on chain) before serving: hold a port
        from node.net.serving import reserve_port

        sock = reserve_port(bind_host)
        bind_port = sock.getsockname()[1]
    if port == 0:
        port = bind_port
    uri = f"{scheme}://{host}:{port}"
    runners = {m.pipeline: m.url.rstrip("/") for m in models if m.url}
    if args.aiWorker:
        runners.update(start_runners([m for m in models if not m.url], args.aiRunnerMode, args.aiModelsDir,
                                     parser, gpus=args.nvidia, live_pools=True))
    elif args.nvidia and runners:
        log.info("-nvidia recorded: runners with a `url` choose their own device gpus=%s", ",".join(args.nvidia))
    protocol, account = connect(args, parser)
    network = network_of(args, protocol.chain if protocol is not None else None)
    config = OrchestratorConfig(uri, price_per_unit=price, pixels_per_unit=args.pixelsPerUnit, ai_models=models,
                                transcoding=args.transcoder, max_sessions=args.maxSessions,
                                ticket_ev=args.ticketEV or DEFAULT_TICKET_EV, max_face_value=args.maxFaceValue,
                                auto_adjust_price=args.autoAdjustPrice,
                                live_payment_interval=args.livePaymentInterval,
                                redeem_gas=REDEEM_GAS_ARBITRUM if network in L2_NETWORKS else REDEEM_GAS_L1)
    if protocol is None:
        node = OrchestratorNode(config)
    else:
        store = open_ticket_store(data_dir(args, protocol.chain.chain_id), protocol)
        view = CachedChainView(ProtocolChainView(protocol))
        monitor = forwarder = None
        if args.redeemerAddr:  # winners go to the redeemer, max float comes from it (node.redeemer)
            from node.redeemer.launch import remote_redemption

            monitor, forwarder = remote_redemption(args.redeemerAddr, account.address, view, store, parser)
        node = OrchestratorNode(config, address=account.address, chain=view, broker=ProtocolBroker(protocol, account),
                                ticket_store=store, monitor=monitor, redeemer=forwarder)
        if node.redeemer.counts["restored"]:
            log.info("restored %d winning tickets path=%s", node.redeemer.counts["restored"], store.path)
        protocol.chain.tx_manager.on_replacement.append(lambda _: node.metrics.transaction_replacements.inc())
    transcode = None
    if args.transcoder:
        from node.devnet import _transcoder

        if args.nvidia and args.testTranscoder and (failure := test_nvidia_transcoding(args.nvidia)):
            parser.exit(1, f"{parser.prog}: {failure} (-testTranscoder=false skips this test)\n")
        transcode = _transcoder(gpus=args.nvidia)

    remote = ai_workers = None
    if secret:
        from node.orchestrator.remote import RemoteAIWorkers, RemoteTranscoders

        remote, ai_workers = RemoteTranscoders(secret, uri), RemoteAIWorkers(secret)

    if protocol is not None and node.register_service_uri(protocol, account):
        log.info("registered service URI uri=%s", uri)
    from node.cli_api import CliNode, start_cli_server

    start_cli_server(CliNode("orchestrator", protocol, account, orchestrator=node, remote=remote), args.cliAddr)

    ssl_context = None
    if scheme == "https":
        from node.net.tls import new_cert, server_context

        chain_id = protocol.chain.chain_id if protocol is not None else None
        ssl_context = server_context(*new_cert(data_dir(args, chain_id), host))

    async def main():
        await serve_orchestrator(node, bind_host, bind_port, private_key=account.key if account else None,
                                 transcode=transcode, runners=runners, remote=remote, ai_workers=ai_workers,
                                 ssl_context=ssl_context, sock=sock)
        print(f"orchestrator {account.address if account else '(offchain)'} serving on {uri}", flush=True)
        announce("orchestrator", uri, args, address=account.address if account else None, network=network)
        if protocol is not None:
            stop = threading.Event()

            def duties():
                while not stop.wait(args.blockPollingInterval):
                    try:
                        done = node.round_duties(protocol, account, initialize_round=args.initializeRound,
                                                 reward=args.reward is not False)
                        if len(done) > 1 or done.get("redemptions"):
                            log.info("round duties %s", " ".join(f"{k}={v}" for k, v in done.items()))
                    except Exception as exc:
                        log.warning("round duties failed error=%s", exc)

            threading.Thread(target=duties, daemon=True).start()
            if args.redeemerAddr:
                threading.Thread(target=node.redeemer.run, args=(stop,), daemon=True).start()
        await asyncio.Event().wait()

    try:
        event_loop.run(main())
    except KeyboardInterrupt:
        pass
    return 0


def start_runners(models, mode: str, models_dir: str | None, parser, gpus: list[str] | None = None,
                  live_pools: bool = False) -> dict[str, str | list[str]]:
    """An in-process AI runner per model (go: one runner container each, on the -nvidia GPUs in turn);
    pipeline -> URL. `live_pools`: a live-video-to-video entry gets `capacity` runners (a URL list),
    one stream each, as go warms one container per unit of capacity for it."""
    from node.worker.ai.local_runner import LIVE, start_live_runners, start_local_runner

    runners = {}
    for i, m in enumerate(models):
        options = {"device": f"cuda:{gpus[i % len(gpus)]}"} if gpus and mode == "real" else {}
        try:
            if live_pools and m.pipeline == LIVE:
                runners[m.pipeline] = start_live_runners(m.model_id, m.containers, mode=mode,
                                                         models_dir=models_dir or None, **options)
            else:
                runners[m.pipeline] = start_local_runner(m.pipeline, m.model_id, mode=mode,
                                                         models_dir=models_dir or None, **options)
        except Exception as exc:
            parser.exit(1, f"{parser.prog}: cannot load {m.pipeline} model {m.model_id}: {exc}\n")
        log.info("AI runner pipeline=%s model_id=%s mode=%s device=%s url=%s", m.pipeline, m.model_id, mode,
                 options.get("device", "default"), runners[m.pipeline])
    return runners


# ---------------------------------------------------------------------------------------- gateway


def run_gateway(args, parser) -> int:
    import uvicorn

    from node.core.discovery import parse_orch_addrs
    from node.core.pricing import parse_price_per_unit
    from node.core.selection import ProbabilitySelectionAlgorithm
    from node.eth.orchestrator_pool import ChainOrchestratorPool
    from node.eth.payments import CachedChainView, ProtocolChainView
    from node.gateway.node import GatewayNode
    from node.gateway.server import create_app
    from node.net.headers import VideoProfile
    from node.worker.profiles import parse_transcoding_options

    setup_logging(args.v)
    if args.broadcaster:
        log.warning("-broadcaster flag is deprecated and will be removed in a future release. Please use -gateway "
                    "instead")
    try:
        selection = ProbabilitySelectionAlgorithm(stake_weight=args.selectStakeWeight,
                                                  price_weight=args.selectPriceWeight,
                                                  rand_weight=args.selectRandFreq,
                                                  price_exp_factor=args.selectPriceExpFactor)
        max_price, _ = parse_price_per_unit(args.maxPricePerUnit)
        profiles = tuple(VideoProfile(p.name, p.width, p.height, p.bitrate, p.fps, p.fps_den)
                         for p in parse_transcoding_options(args.transcodingOptions))
    except ValueError as exc:
        parser.error(str(exc))
    host, port = _split_addr(args.httpAddr, "httpAddr", parser)
    protocol, account = connect(args, parser)
    if protocol is not None:
        fund_gateway(protocol, account, args.deposit, args.reserve)
    # go prepends https:// to a bare host:port; lpnode dials a bare one in plaintext (its orchestrators'
    # plaintext switch) and an explicit https:// over TLS
    explicit_tls = {a.strip().rstrip("/") for a in args.orchAddr.split(",") if a.strip().startswith("https://")}
    orchs = [o.url if o.url.rstrip("/") in explicit_tls else o.url.replace("https://", "http://", 1)
             for o in parse_orch_addrs(args.orchAddr)]
    if not orchs and protocol is None:
        parser.error("an offchain gateway needs -orchAddr")
    view = CachedChainView(ProtocolChainView(protocol)) if protocol is not None else None
    pool = ChainOrchestratorPool(protocol, view.last_initialized_round) if view is not None and not orchs else None
    node = GatewayNode(orchs, account=account, pool=pool, chain=view, max_attempts=args.maxAttempts,
                       local_verify=args.localVerify, selection=selection,
                       live_payment_interval=args.livePaymentInterval,
                       max_price=(max_price / args.pixelsPerUnit) if max_price else None)
    if node.sender is not None:
        node.sender.max_ev, node.sender.max_total_ev = Fraction(args.maxTicketEV), Fraction(args.maxTotalEV)
    from node.cli_api import CliNode, start_cli_server

    start_cli_server(CliNode("gateway", protocol, account, gateway=node, transcoding_options=args.transcodingOptions),
                     args.cliAddr)

    async def main():
        # uvicorn's lines through the one set-up (node/logging_setup.py), not its own format
        server = uvicorn.Server(uvicorn.Config(create_app(node, profiles), host=host, port=port, log_config=None,
                                                access_log=False))  # go logs no line per request
        task, bound = await start_serving(server)
        if bound is None:  # it could not bind: uvicorn has said why
            return 1
        url = f"http://{host}:{bound}"
        print(f"gateway serving on {url}, orchestrators {orchs or 'from the chain'}", flush=True)
        announce("gateway", url, args, address=account.address if account else None)
        await task
        return 0

    try:
        return event_loop.run(main())
    except KeyboardInterrupt:
        return 0


def fund_gateway(protocol, account, deposit: int, reserve: int) -> None:
    """Top the gateway's TicketBroker deposit and reserve up to the targets in one transaction."""
    from node.eth.payments import ProtocolBroker, ProtocolChainView

    info = ProtocolChainView(protocol).sender_info(account.address)
    more_deposit, more_reserve = max(0, deposit - info.deposit), max(0, reserve - info.reserve.funds_remaining)
    if more_deposit or more_reserve:
        ProtocolBroker(protocol, account).fund_deposit_and_reserve(more_deposit, more_reserve)
        log.info("funded TicketBroker deposit_added=%d reserve_added=%d", more_deposit, more_reserve)


# ---------------------------------------------------------------------------------------- remote workers


def _run_worker(name: str, banner: str, main, args) -> int:
    """Run a remote worker's loop until interrupted; a failure (e.g. a refused registration) is
    printed and exits 1. Its ready file is written as it starts (it serves nothing; it dials out)."""
    setup_logging(args.v)
    print(banner, flush=True)
    if args.readyFile:
        write_ready_file(args.readyFile, {"mode": name, "orchAddr": args.orchAddr, "pid": os.getpid()})
    try:
        event_loop.run(main)
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        print(f"lpnode {name}: {exc}", flush=True)
        return 1
    return 0


def run_transcoder_mode(args, parser) -> int:
    from node.devnet import _transcoder
    from node.orchestrator.remote import run_transcoder

    _required(args, parser, "orchAddr", "orchSecret")
    secret = read_from_file(args.orchSecret)
    if args.nvidia and args.testTranscoder and (failure := test_nvidia_transcoding(args.nvidia)):
        parser.exit(1, f"{parser.prog}: {failure} (-testTranscoder=false skips this test)\n")
    return _run_worker("transcoder", f"transcoder registering with {args.orchAddr} (capacity {args.maxSessions})",
                       run_transcoder(args.orchAddr, secret, args.maxSessions, _transcoder(gpus=args.nvidia)), args)


def run_ai_worker_mode(args, parser) -> int:
    from node.orchestrator.remote import run_ai_worker

    _required(args, parser, "orchAddr", "orchSecret")
    secret = read_from_file(args.orchSecret)
    if args.aiModels:  # go's form: the worker's models, a runner each
        from node.core.ai_models import AIModelsError, parse_ai_models

        setup_logging(args.v)
        try:
            file_text = Path(args.aiModels).read_text() if Path(args.aiModels).is_file() else None
            models = parse_ai_models(args.aiModels, file_text)
        except (AIModelsError, ValueError) as exc:
            parser.error(str(exc))
        if len({m.model_id for m in models}) != 1:
            parser.error("-aiModels: lpnode's AI worker serves one model id (its pipelines may differ)")
        urls = {m.pipeline: m.url.rstrip("/") for m in models if m.url}
        urls.update(start_runners([m for m in models if not m.url], args.aiRunnerMode, args.aiModelsDir, parser,
                                  gpus=args.nvidia))
        pipelines, runner_urls, model_id = ",".join(urls), ",".join(urls.values()), models[0].model_id
    else:
        _required(args, parser, "runnerUrl", "modelID")
        pipelines, runner_urls, model_id = args.pipeline, args.runnerUrl.rstrip("/"), args.modelID
    return _run_worker("ai-worker", f"AI worker registering with {args.orchAddr} for {pipelines} {model_id}",
                       run_ai_worker(args.orchAddr, secret, runner_urls, pipelines, model_id), args)


# the go-style commands: name -> (flag set factory, runner)
COMMANDS = {
    "orchestrator": (orchestrator_flags, run_orchestrator),
    "gateway": (gateway_flags, run_gateway),
    "transcoder": (transcoder_flags, run_transcoder_mode),
    "ai-worker": (ai_worker_flags, run_ai_worker_mode),
    "remote-signer": (lambda prog="lpnode remote-signer": _signer().remote_signer_flags(prog), lambda a, p: _signer().run_remote_signer(a, p)),
    "redeemer": (lambda prog="lpnode redeemer": _redeemer().redeemer_flags(prog), lambda a, p: _redeemer().run_redeemer(a, p)),
}


def _signer():
    import node.signer.launch as signer

    return signer


def _redeemer():
    import node.redeemer.launch as redeemer

    return redeemer
