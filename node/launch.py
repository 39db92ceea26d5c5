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
import threading
from fractions import Fraction
from pathlib import Path

log = logging.getLogger("lpnode")


def add_chain_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-ethUrl", default=None, help="JSON-RPC URL of the chain (absent: offchain)")
    p.add_argument("-ethKey", default=None, help="hex private key of this node's account (on-chain)")
    p.add_argument("-addresses", default=None, help="JSON file of contract addresses (lpnode devchain --addresses)")


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
    chain = JsonRpcChain(args.ethUrl, accounts=[account])
    protocol = attach_protocol(chain, json.loads(Path(args.addresses).read_text()), owner=account)
    return protocol, account


def orchestrator_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("orchestrator", help="run an orchestrator (gRPC + HTTP on -serviceAddr)")
    p.add_argument("-serviceAddr", default="127.0.0.1:8935", help="host:port to serve and advertise")
    add_chain_flags(p)
    p.add_argument("-pricePerUnit", default="0", help="wei per unit (transcoding and AI fallback)")
    p.add_argument("-pixelsPerUnit", type=int, default=1)
    p.add_argument("-aiModels", default="", help="aiModels.json file or pipeline:model_id:warm triples; "
                   "an entry's `url` is its AI runner")
    p.add_argument("-transcoder", action="store_true", help="transcode locally with PyAV")
    p.add_argument("-ticketEV", type=int, default=None, help="ticket EV in wei (default 8 gwei)")
    p.add_argument("-maxFaceValue", type=int, default=0)
    p.add_argument("-maxSessions", type=int, default=10)
    p.add_argument("-blockPollingInterval", type=float, default=5.0, help="seconds between round-duty checks")
    p.add_argument("-orchSecret", default=None, help="secret remote transcoders register with")
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
    protocol, account = connect(args, parser)
    host, _, port = args.serviceAddr.rpartition(":")
    uri = f"http://{args.serviceAddr}"
    config = OrchestratorConfig(uri, price_per_unit=price, pixels_per_unit=args.pixelsPerUnit, ai_models=models,
                                transcoding=args.transcoder, max_sessions=args.maxSessions,
                                ticket_ev=args.ticketEV or DEFAULT_TICKET_EV, max_face_value=args.maxFaceValue)
    if protocol is None:
        node = OrchestratorNode(config)
    else:
        node = OrchestratorNode(config, address=account.address, chain=CachedChainView(ProtocolChainView(protocol)),
                                broker=ProtocolBroker(protocol, account))
    transcode = None
    if args.transcoder:
        from node.devnet import _transcoder

        transcode = _transcoder()

    remote = ai_workers = None
    if args.orchSecret:
        from node.orchestrator.remote import RemoteAIWorkers, RemoteTranscoders

        remote, ai_workers = RemoteTranscoders(args.orchSecret, uri), RemoteAIWorkers(args.orchSecret)

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
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    return 0


def gateway_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("gateway", help="run a gateway (client HTTP API on -httpAddr)")
    p.add_argument("-httpAddr", default="127.0.0.1:9935")
    p.add_argument("-orchAddr", required=True, help="comma-separated orchestrator addresses (host:port or URLs)")
    add_chain_flags(p)
    p.add_argument("-maxPricePerUnit", default="0", help="max wei per unit (0: any)")
    p.add_argument("-pixelsPerUnit", type=int, default=1)
    p.add_argument("-maxTicketEV", type=int, default=3_000_000_000_000)
    p.add_argument("-maxTotalEV", type=int, default=20_000_000_000_000)
    p.add_argument("-maxAttempts", type=int, default=3)
    p.add_argument("-transcodingOptions", default="P240p30fps16x9,P360p30fps16x9")
    return p


def run_gateway(args, parser) -> int:
    import uvicorn

    from node.core.discovery import parse_orch_addrs
    from node.core.pricing import parse_price_per_unit
    from node.eth.payments import CachedChainView, ProtocolChainView
    from node.gateway.node import GatewayNode
    from node.gateway.server import create_app
    from node.net.headers import VideoProfile
    from node.worker.profiles import parse_transcoding_options

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    protocol, account = connect(args, parser)
    # go prepends https://; this node serves plaintext, so orchestrator URLs are http://
    orchs = [o.url.replace("https://", "http://", 1) for o in parse_orch_addrs(args.orchAddr)]
    max_price, _ = parse_price_per_unit(args.maxPricePerUnit)
    node = GatewayNode(orchs, account=account, chain=CachedChainView(ProtocolChainView(protocol)) if protocol else None,
                       max_attempts=args.maxAttempts,
                       max_price=(max_price / args.pixelsPerUnit) if max_price else None)
    if node.sender is not None:
        node.sender.max_ev, node.sender.max_total_ev = Fraction(args.maxTicketEV), Fraction(args.maxTotalEV)
    profiles = tuple(VideoProfile(p.name, p.width, p.height, p.bitrate, p.fps, p.fps_den)
                     for p in parse_transcoding_options(args.transcodingOptions))
    host, _, port = args.httpAddr.rpartition(":")
    print(f"gateway serving on http://{args.httpAddr}, orchestrators {orchs}", flush=True)
    uvicorn.run(create_app(node, profiles), host=host or "127.0.0.1", port=int(port), log_level="warning")
    return 0


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
        asyncio.run(main)
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
    p.add_argument("-runnerUrl", required=True, help="the AI runner this worker drives (lpnode ai-runner)")
    p.add_argument("-pipeline", default="text-to-image")
    p.add_argument("-modelID", required=True)
    return p


def run_ai_worker_mode(args, parser) -> int:
    from node.orchestrator.remote import run_ai_worker

    return _run_worker("ai-worker", f"AI worker registering with {args.orchAddr} for {args.pipeline} {args.modelID}",
                       run_ai_worker(args.orchAddr, args.orchSecret, args.runnerUrl.rstrip("/"), args.pipeline,
                                     args.modelID))
