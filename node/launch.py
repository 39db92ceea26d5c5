"""`lpnode orchestrator` and `lpnode gateway`: one node per process, with go-livepeer's flag names
where go has the flag (`-serviceAddr`, `-orchAddr`, `-pricePerUnit`, `-aiModels`, `-ticketEV`...).

Offchain unless `-ethUrl` is given; on-chain a node needs `-ethKey` (its account's private key)
and `-addresses` (the JSON file `lpnode devchain --addresses` writes: contract name -> address).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import threading
from fractions import Fraction
from pathlib import Path

from node import event_loop
from node.cli import non_negative_int
from node.eth.txmanager import DEFAULT_MAX_REPLACEMENTS, DEFAULT_TX_TIMEOUT

log = logging.getLogger("lpnode")


def add_chain_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-ethUrl", default=None, help="JSON-RPC URL of the chain (absent: offchain)")
    p.add_argument("-ethKey", default=None, help="hex private key of this node's account (on-chain)")
    p.add_argument("-addresses", default=None, help="JSON file of contract addresses (lpnode devchain --addresses)")
    p.add_argument("-transactionTimeout", "-txTimeout", dest="transactionTimeout", type=_duration,
                   default=DEFAULT_TX_TIMEOUT,
                   help="how long to wait for a transaction to be mined before replacing it: a Go duration "
                   "(5m, 30s, 1m30s) or seconds (default 5m)")
    p.add_argument("-maxTransactionReplacements", type=non_negative_int, default=DEFAULT_MAX_REPLACEMENTS,
                   help="times a stuck transaction is replaced at a higher gas price (default 1)")


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


def connect(args, parser):
    """(protocol, account) on-chain, (None, None) offchain."""
    if not args.ethUrl:
        return None, None
    if not args.ethKey or not args.addresses:
        parser.error("-ethUrl needs -ethKey and -addresses")
    from eth_account import Account as EthAccount

    from node.eth import Account, JsonRpcChain, attach_protocol

    key = bytes.fromhex(args.ethKey.removeprefix("0x"))
    account = Account(EthAccount.from_key(key).address, key)
    chain = JsonRpcChain(args.ethUrl, accounts=[account], tx_timeout=args.transactionTimeout,
                         max_replacements=args.maxTransactionReplacements)
    protocol = attach_protocol(chain, json.loads(Path(args.addresses).read_text()), owner=account)
    return protocol, account


def orchestrator_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("orchestrator", help="run an orchestrator (gRPC + HTTP on -serviceAddr)")
    p.add_argument("-serviceAddr", default="127.0.0.1:8935", help="host:port to serve and advertise")
    p.add_argument("-cliAddr", default=None, help="host:port of the operator CLI API (lpcli --node; "
                   "go's default 127.0.0.1:7935)")
    add_chain_flags(p)
    p.add_argument("-pricePerUnit", default="0", help="wei per unit (transcoding and AI fallback)")
    p.add_argument("-pixelsPerUnit", type=int, default=1)
    p.add_argument("-aiModels", default="", help="aiModels.json file or pipeline:model_id:warm triples; "
                   "an entry's `url` is its AI runner")
    p.add_argument("-aiWorker", action="store_true", help="run the AI models here: an in-process runner for "
                   "every -aiModels entry without a `url` (without it, remote AI workers serve them)")
    p.add_argument("-aiModelsDir", default=None, help="where -aiWorker runners load models from, offline "
                   "(default $MODEL_DIR, then ~/.lpData/models)")
    p.add_argument("-aiRunnerMode", choices=("real", "mock"), default="real",
                   help="-aiWorker runners: real models, or the declared deterministic mocks (lpnode's flag)")
    p.add_argument("-transcoder", action="store_true", help="transcode locally with PyAV")
    p.add_argument("-ticketEV", type=int, default=None, help="ticket EV in wei (default 8 gwei)")
    p.add_argument("-maxFaceValue", type=int, default=0)
    p.add_argument("-maxSessions", type=int, default=10)
    p.add_argument("-blockPollingInterval", type=float, default=5.0, help="seconds between round-duty checks")
    p.add_argument("-orchSecret", default=None, help="secret remote transcoders register with")
    p.add_argument("-datadir", default=None, help="on-chain: where the node keeps its database (lpdb.sqlite3: "
                   "winning tickets until redeemed, so a restart redeems them; default ~/.lpData/<network>, "
                   "<network> being go's name for the chain or chain-<chain id>)")
    return p


def run_orchestrator(args, parser) -> int:
    from node.core.ai_models import AIModelsError, parse_ai_models
    from node.core.pricing import parse_price_per_unit
    from node.core.recipient import DEFAULT_TICKET_EV
    from node.eth.payments import CachedChainView, ProtocolBroker, ProtocolChainView
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from node.orchestrator.server import serve_orchestrator

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        value = args.aiModels
        file_text = Path(value).read_text() if value and Path(value).is_file() else None
        models = parse_ai_models(value, file_text) if value else []
        price, _ = parse_price_per_unit(args.pricePerUnit)
    except (AIModelsError, ValueError) as exc:
        parser.error(str(exc))
    runners = {m.pipeline: m.url.rstrip("/") for m in models if m.url}
    if args.aiWorker:
        runners.update(start_runners([m for m in models if not m.url], args.aiRunnerMode, args.aiModelsDir, parser))
    protocol, account = connect(args, parser)
    host, _, port = args.serviceAddr.rpartition(":")
    uri = f"http://{args.serviceAddr}"
    config = OrchestratorConfig(uri, price_per_unit=price, pixels_per_unit=args.pixelsPerUnit, ai_models=models,
                                transcoding=args.transcoder, max_sessions=args.maxSessions,
                                ticket_ev=args.ticketEV or DEFAULT_TICKET_EV, max_face_value=args.maxFaceValue)
    if protocol is None:
        node = OrchestratorNode(config)
    else:
        store = open_ticket_store(args.datadir, protocol)
        node = OrchestratorNode(config, address=account.address, chain=CachedChainView(ProtocolChainView(protocol)),
                                broker=ProtocolBroker(protocol, account), ticket_store=store)
        if node.redeemer.counts["restored"]:
            log.info("restored %d winning tickets from %s", node.redeemer.counts["restored"], store.path)
        protocol.chain.tx_manager.on_replacement.append(lambda _: node.metrics.transaction_replacements.inc())
    transcode = None
    if args.transcoder:
        from node.devnet import _transcoder

        transcode = _transcoder()

    remote = ai_workers = None
    if args.orchSecret:
        from node.orchestrator.remote import RemoteAIWorkers, RemoteTranscoders

        remote, ai_workers = RemoteTranscoders(args.orchSecret, uri), RemoteAIWorkers(args.orchSecret)

    if protocol is not None and node.register_service_uri(protocol, account):
        log.info("registered service URI %s", uri)

    from node.cli_api import CliNode, start_cli_server

    start_cli_server(CliNode("orchestrator", protocol, account, orchestrator=node), args.cliAddr)

    async def main():
        await serve_orchestrator(node, host or "127.0.0.1", int(port), private_key=account.key if account else None,
                                 transcode=transcode, runners=runners, remote=remote, ai_workers=ai_workers)
        print(f"orchestrator {account.address if account else '(offchain)'} serving on {uri}", flush=True)
        if protocol is not None:
            stop = threading.Event()

            def duties():
                while not stop.wait(args.blockPollingInterval):
                    try:
                        done = node.round_duties(protocol, account)
                        if len(done) > 1 or done.get("redemptions"):
                            log.info("round duties: %s", done)
                    except Exception as exc:  # noqa: BLE001 - the next poll retries
                        log.warning("round duties: %s", exc)

            threading.Thread(target=duties, daemon=True).start()
        await asyncio.Event().wait()

    try:
        event_loop.run(main())
    except KeyboardInterrupt:
        pass
    return 0


def open_ticket_store(datadir: str | None, protocol):
    """The winning-ticket store in -datadir (go's default ~/.lpData/<network> without it), scoped to
    this chain by its genesis block hash (a devchain started again is another chain)."""
    from node.orchestrator.ticket_store import DB_FILE, SqliteTicketStore, default_datadir

    folder = Path(datadir).expanduser() if datadir else default_datadir(protocol.chain.w3.eth.chain_id)
    return SqliteTicketStore(folder / DB_FILE, chain=protocol.chain.block_hash(0))  # this chain's rows only


def go_bool(value: str) -> bool:
    """A Go boolean flag's value (strconv.ParseBool): 1/t/true/True/TRUE or 0/f/false/False/FALSE."""
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


def start_runners(models, mode: str, models_dir: str | None, parser) -> dict[str, str]:
    """An in-process AI runner per model (go: one runner container each); pipeline -> URL."""
    from node.worker.ai.local_runner import start_local_runner

    runners = {}
    for m in models:
        try:
            runners[m.pipeline] = start_local_runner(m.pipeline, m.model_id, mode=mode, models_dir=models_dir)
        except Exception as exc:  # noqa: BLE001 - a model that cannot load stops the node, as go does
            parser.exit(1, f"lpnode orchestrator: cannot load {m.pipeline} model {m.model_id}: {exc}\n")
        log.info("AI runner for %s %s (%s) at %s", m.pipeline, m.model_id, mode, runners[m.pipeline])
    return runners


def gateway_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("gateway", help="run a gateway (client HTTP API on -httpAddr)")
    p.add_argument("-httpAddr", default="127.0.0.1:9935")
    p.add_argument("-cliAddr", default=None, help="host:port of the operator CLI API (lpcli --node; "
                   "go's default 127.0.0.1:5935)")
    p.add_argument("-orchAddr", default="", help="comma-separated orchestrator addresses (host:port or URLs); "
                   "absent on-chain: the chain's active orchestrators and their ServiceRegistry URIs")
    add_chain_flags(p)
    p.add_argument("-maxPricePerUnit", default="0", help="max wei per unit (0: any)")
    p.add_argument("-pixelsPerUnit", type=int, default=1)
    p.add_argument("-maxTicketEV", type=int, default=3_000_000_000_000)
    p.add_argument("-maxTotalEV", type=int, default=20_000_000_000_000)
    p.add_argument("-maxAttempts", type=int, default=3)
    p.add_argument("-localVerify", nargs="?", const=True, default=None, type=go_bool,
                   help="check every transcoded segment: the orchestrator's signature (on-chain) and the "
                   "decoded pixel counts; a mismatch drops the orchestrator and retries the segment "
                   "(default: on on-chain, off offchain; -localVerify=false to turn off)")
    p.add_argument("-transcodingOptions", default="P240p30fps16x9,P360p30fps16x9")
    # go funds a gateway through livepeer_cli; these top the TicketBroker deposit and reserve up at start
    p.add_argument("-deposit", type=int, default=0, help="on-chain: top the TicketBroker deposit up to this (wei)")
    p.add_argument("-reserve", type=int, default=0, help="on-chain: top the TicketBroker reserve up to this (wei)")
    return p


def run_gateway(args, parser) -> int:
    import uvicorn

    from node.core.discovery import parse_orch_addrs
    from node.core.pricing import parse_price_per_unit
    from node.eth.orchestrator_pool import ChainOrchestratorPool
    from node.eth.payments import CachedChainView, ProtocolChainView
    from node.gateway.node import GatewayNode
    from node.gateway.server import create_app
    from node.net.headers import VideoProfile
    from node.worker.profiles import parse_transcoding_options

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    protocol, account = connect(args, parser)
    if protocol is not None:
        fund_gateway(protocol, account, args.deposit, args.reserve)
    # go prepends https://; this node serves plaintext, so orchestrator URLs are http://
    orchs = [o.url.replace("https://", "http://", 1) for o in parse_orch_addrs(args.orchAddr)]
    if not orchs and protocol is None:
        parser.error("an offchain gateway needs -orchAddr")
    view = CachedChainView(ProtocolChainView(protocol)) if protocol is not None else None
    pool = ChainOrchestratorPool(protocol, view.last_initialized_round) if view is not None and not orchs else None
    max_price, _ = parse_price_per_unit(args.maxPricePerUnit)
    node = GatewayNode(orchs, account=account, pool=pool, chain=view, max_attempts=args.maxAttempts,
                       local_verify=args.localVerify, max_price=(max_price / args.pixelsPerUnit) if max_price else None)
    if node.sender is not None:
        node.sender.max_ev, node.sender.max_total_ev = Fraction(args.maxTicketEV), Fraction(args.maxTotalEV)
    profiles = tuple(VideoProfile(p.name, p.width, p.height, p.bitrate, p.fps, p.fps_den)
                     for p in parse_transcoding_options(args.transcodingOptions))
    from node.cli_api import CliNode, start_cli_server

    start_cli_server(CliNode("gateway", protocol, account, gateway=node, transcoding_options=args.transcodingOptions),
                     args.cliAddr)
    host, _, port = args.httpAddr.rpartition(":")
    print(f"gateway serving on http://{args.httpAddr}, orchestrators {orchs or 'from the chain'}", flush=True)
    uvicorn.run(create_app(node, profiles), host=host or "127.0.0.1", port=int(port), log_level="warning")
    return 0


def fund_gateway(protocol, account, deposit: int, reserve: int) -> None:
    """Top the gateway's TicketBroker deposit and reserve up to the targets in one transaction."""
    from node.eth.payments import ProtocolBroker, ProtocolChainView

    info = ProtocolChainView(protocol).sender_info(account.address)
    more_deposit, more_reserve = max(0, deposit - info.deposit), max(0, reserve - info.reserve.funds_remaining)
    if more_deposit or more_reserve:
        ProtocolBroker(protocol, account).fund_deposit_and_reserve(more_deposit, more_reserve)
        log.info("funded deposit +%d wei, reserve +%d wei", more_deposit, more_reserve)


def transcoder_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("transcoder", help="run a remote transcoder attached to an orchestrator")
    p.add_argument("-orchAddr", required=True, help="the orchestrator's host:port")
    p.add_argument("-orchSecret", required=True, help="the orchestrator's -orchSecret")
    p.add_argument("-maxSessions", type=int, default=2, help="segments transcoded at once (capacity)")
    return p


def _run_worker(name: str, banner: str, main) -> int:
    """Run a remote worker's loop until interrupted; a failure (e.g. a refused registration) is
    printed and exits 1."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(banner, flush=True)
    try:
        event_loop.run(main)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - say why and exit non-zero
        print(f"lpnode {name}: {exc}", flush=True)
        return 1
    return 0


def run_transcoder_mode(args, parser) -> int:
    from node.devnet import _transcoder
    from node.orchestrator.remote import run_transcoder

    return _run_worker("transcoder", f"transcoder registering with {args.orchAddr} (capacity {args.maxSessions})",
                       run_transcoder(args.orchAddr, args.orchSecret, args.maxSessions, _transcoder()))


def ai_worker_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("ai-worker", help="run a remote AI worker attached to an orchestrator")
    p.add_argument("-orchAddr", required=True, help="the orchestrator's host:port")
    p.add_argument("-orchSecret", required=True, help="the orchestrator's -orchSecret")
    p.add_argument("-runnerUrl", required=True, help="the AI runner this worker drives (lpnode ai-runner); "
                   "comma-separated, one per -pipeline, when each pipeline has its own")
    p.add_argument("-pipeline", default="text-to-image", help="pipeline(s) served, comma-separated")
    p.add_argument("-modelID", required=True)
    return p


def run_ai_worker_mode(args, parser) -> int:
    from node.orchestrator.remote import run_ai_worker

    return _run_worker("ai-worker", f"AI worker registering with {args.orchAddr} for {args.pipeline} {args.modelID}",
                       run_ai_worker(args.orchAddr, args.orchSecret, args.runnerUrl.rstrip("/"), args.pipeline,
                                     args.modelID))
