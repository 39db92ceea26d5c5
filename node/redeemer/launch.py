"""`lpnode redeemer` (go's `-redeemer`): flags and start-up of the ticket redemption service, and the
orchestrator's `-redeemerAddr` wiring (`remote_redemption`)."""
from __future__ import annotations

import asyncio
import logging
import threading
import time

from node.goflags import FlagSet

log = logging.getLogger("lpnode.redeemer")


def redeemer_flags(prog: str = "lpnode redeemer") -> FlagSet:
    from node.launch import _chain_flags, _common_flags

    fs = FlagSet(prog, "Run a ticket redemption service: holds the funded key, takes winning tickets from "
                       "orchestrators started with -redeemerAddr (gRPC on -httpAddr) and redeems them.")
    fs.bool("redeemer", True, "Set to true to run a ticket redemption service (implied by the redeemer command)")
    fs.string("httpAddr", "127.0.0.1:8935", "Address to bind for HTTP commands: the redeemer's gRPC service. "
              "https:// serves TLS with a fresh self-signed certificate as go; a bare or http:// address serves "
              "plaintext h2c (lpnode); port 0 picks a free one")
    fs.string("ethOrchAddr", "", "ETH address of an on-chain registered orchestrator: the tickets' recipient "
              "(default: this node's account)")
    _chain_flags(fs)
    _common_flags(fs)
    return fs


def run_redeemer(args, parser) -> int:
    from node import event_loop
    from node.core.recipient import REDEEM_GAS_ARBITRUM, REDEEM_GAS_L1
    from node.core.redemption import Redeemer
    from node.core.sender_monitor import SenderMonitor
    from node.eth.payments import CachedChainView, ProtocolBroker, ProtocolChainView
    from node.launch import (
        L2_NETWORKS,
        _split_addr,
        announce,
        connect,
        data_dir,
        network_of,
        open_ticket_store,
    )
    from node.logging_setup import setup_logging
    from node.net.wire import address_from_bytes

    from .service import RedemptionService, serve_redeemer

    setup_logging(args.v)
    protocol, account = connect(args, parser)
    if protocol is None:  # go: NewRedeemer without an Ethereum client
        parser.exit(1, f"{parser.prog}: Unable to create redeemer: must provide a LivepeerEthClient\n")
    recipient = account.address
    if args.ethOrchAddr:
        try:
            recipient = address_from_bytes(bytes.fromhex(args.ethOrchAddr.removeprefix("0x")))
        except ValueError:
            parser.error(f"invalid value {args.ethOrchAddr!r} for flag -ethOrchAddr: want an Ethereum address")
    tls = args.httpAddr.startswith("https://")
    host, port = _split_addr(args.httpAddr, "httpAddr", parser)
    network = network_of(args, protocol.chain)
    datadir = data_dir(args, protocol.chain.chain_id)
    store = open_ticket_store(datadir, protocol)
    chain = CachedChainView(ProtocolChainView(protocol))
    monitor = SenderMonitor(recipient, chain)
    redeem_gas = REDEEM_GAS_ARBITRUM if network in L2_NETWORKS else REDEEM_GAS_L1
    service = RedemptionService(Redeemer(chain, monitor, ProtocolBroker(protocol, account), redeem_gas, store=store),
                                monitor)
    if service.redeemer.counts["restored"]:
        log.info("restored %d winning tickets path=%s", service.redeemer.counts["restored"], store.path)
    ssl_files = None
    if tls:
        from node.net.tls import new_cert

        ssl_files = new_cert(datadir, host)

    async def main():
        try:
            server, bound, stopping = await serve_redeemer(service, host, port, ssl_files)
        except (OSError, RuntimeError) as exc:
            parser.exit(1, f"{parser.prog}: {exc}\n")
        url = f"{'https' if tls else 'http'}://{host}:{bound}"
        print(f"**Livepeer Running in Redeemer Mode** recipient={recipient} serving on {url}", flush=True)
        announce("redeemer", url, args, address=account.address, recipient=recipient, network=network)
        stop = threading.Event()

        def duties():  # go's ticket queue: a pass over every sender's queue at each poll for blocks
            while not stop.wait(args.blockPollingInterval):
                try:
                    service.on_block(chain.last_seen_block(), time.time())
                except Exception as exc:  # noqa: BLE001 - a failed pass is tried again at the next poll
                    log.warning("redemption pass failed error=%s", exc)

        threading.Thread(target=duties, daemon=True, name="redeemer-duties").start()
        try:
            await asyncio.Event().wait()
        finally:
            stop.set()
            stopping.set()
            await server.stop(1)

    try:
        event_loop.run(main())
    except KeyboardInterrupt:
        pass
    return 0


def remote_redemption(addr: str, address: str, chain, store, parser):
    """The orchestrator's -redeemerAddr: (monitor, forwarder) for OrchestratorNode, after go's
    blocking start-up dial (the orchestrator does not start without its redeemer)."""
    from node.core.sender_monitor import SenderMonitor

    from .client import RedeemerClient, RemoteSenderMonitor, TicketForwarder

    try:
        client = RedeemerClient(addr)
        client.connect()
    except (ValueError, ConnectionError) as exc:
        parser.exit(1, f"{parser.prog}: Unable to start redeemer client: {exc}\n")
    monitor = RemoteSenderMonitor(client, SenderMonitor(address, chain))
    return monitor, TicketForwarder(client, store, claimant=address)
