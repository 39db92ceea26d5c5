"""`lpnode remote-signer` (go's -remoteSigner): flags and start-up of the signer's HTTP server."""
from __future__ import annotations

import asyncio
import logging
import sys
from fractions import Fraction

from node.goflags import FlagSet
from node.net.serving import start_serving


def remote_signer_flags(prog: str = "lpnode remote-signer") -> FlagSet:
    from node.launch import _chain_flags, _common_flags

    fs = FlagSet(prog, "Run a remote signer: signs GetOrchestrator requests and live payments for gateways "
                       "that hold no key or funds (HTTP on -httpAddr).")
    fs.bool("remoteSigner", True, "Set to true to run a remote signer (implied by the remote-signer command)")
    fs.string("httpAddr", "127.0.0.1:8935", "Address to bind for HTTP commands; port 0 picks a free one")
    fs.bool("remoteDiscovery", False, "Serve GET /discover-orchestrators from the -orchAddr list (or the chain's "
            "active set)")
    fs.string("orchAddr", "", "Comma-separated list of orchestrators for -remoteDiscovery")
    fs.string("maxPricePerUnit", "0", "The maximum price per 'pixelsPerUnit' to sign payments for (0: any)")
    fs.int("pixelsPerUnit", 1, "Amount of pixels per unit")
    fs.string("remoteSignerWebhookUrl", "", "Authentication webhook URL called by remote signer during "
              "GenerateLivePayment")
    fs.string("remoteSignerWebhookHeaders", "", "Map of headers to use for remote signer webhook requests. "
              "e.g. 'header:val,header2:val2'")
    fs.bool("remoteSignerAllowNoAuth", False, "Allow a remote signer on a public -httpAddr without "
            "-remoteSignerWebhookUrl (it signs payments from this node's deposit for any caller)")
    _chain_flags(fs)
    _common_flags(fs)
    return fs


def parse_header_map(raw: str) -> dict[str, str]:
    """go's parseHeaderMap: 'key:val,key2:val2' (entries without a colon or a key are skipped)."""
    headers = {}
    for entry in raw.split(","):
        key, sep, value = entry.partition(":")
        if sep and key.strip():
            headers[key.strip()] = value.strip()
    return headers


def is_loopback(host: str) -> bool:
    """go's isLocalURL on the bind address: a loopback IP or "localhost"."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_auth(http_addr: str, host: str, webhook_url: str, allow_no_auth: bool) -> str | None:
    """go's start-up rule: a signer on a public address with no auth webhook refuses to start
    (its message), unless allowed; None when it may start."""
    if webhook_url or allow_no_auth or is_loopback(host):
        return None
    return (f"Refusing to start: remote signer on public -httpAddr {http_addr} with no -remoteSignerWebhookUrl "
            "signs payments from this node's deposit for any caller. Set the webhook, or pass "
            "-remoteSignerAllowNoAuth to override.")


def capability_price(info, cap: int, model: str) -> Fraction | None:
    """go's capabilityPrice: the orchestrator's price for one model (its per-capability price,
    else its global one); None when it gives none."""
    for p in info.capabilities_prices:
        if p.pixels_per_unit > 0 and p.capability == cap and p.constraint == model:
            return Fraction(p.price_per_unit, p.pixels_per_unit)
    price = info.price_info
    if price is None or price.pixels_per_unit <= 0:
        return None
    return Fraction(price.price_per_unit, price.pixels_per_unit)


def capability_strings(info, max_price: Fraction | None = None) -> list[str]:
    """`<pipeline>/<model>` for every model an orchestrator's GetOrchestrator answer offers at a
    price within `max_price` (go's price-eligible capabilities: one without a price is left out)."""
    from node.core.capabilities import capability_name

    if info.capabilities is None:
        return []
    found = []
    for cap, models in info.capabilities.constraints.items():
        for model in models:
            price = capability_price(info, cap, model)
            if price is not None and (max_price is None or price <= max_price):
                found.append(f"{capability_name(cap).lower().replace(' ', '-')}/{model}")
    return sorted(found)


def make_discover(gateway, uris, max_price: Fraction | None = None):
    """go's remote discovery: `await uris()` lists the orchestrators to ask, each answers
    GetOrchestrator through `gateway` (node.gateway.node.GatewayNode); the unreachable, and those
    with no capability priced within `max_price`, are left out."""
    async def one(uri):
        try:
            return uri, capability_strings(await gateway.get_orchestrator(uri, None), max_price)
        except Exception:  # noqa: BLE001 - an unreachable orchestrator is left out, as go's cache
            return uri, []

    async def discover() -> list[dict]:
        found = await asyncio.gather(*(one(u) for u in await uris()))
        return [{"address": uri, "score": 1.0, "capabilities": have} for uri, have in found if have]

    return discover


def run_remote_signer(args, parser) -> int:
    import uvicorn

    from node import event_loop
    from node.core.discovery import parse_orch_addrs
    from node.core.pricing import parse_price_per_unit
    from node.core.sender import Sender
    from node.eth.payments import CachedChainView, ProtocolChainView
    from node.gateway.node import GatewayNode
    from node.launch import _split_addr, announce, connect, is_offchain, setup_logging
    from node.signer.server import RemoteSigner, create_signer_app

    setup_logging(args.v)
    if is_offchain(args):  # go checks this first
        print("Remote signer mode requires on-chain network", file=sys.stderr)
        return 1
    try:
        max_price, _ = parse_price_per_unit(args.maxPricePerUnit)
    except ValueError as exc:
        parser.error(str(exc))
    host, port = _split_addr(args.httpAddr, "httpAddr", parser)
    webhook = args.remoteSignerWebhookUrl.strip()
    if webhook:
        from urllib.parse import urlsplit

        parts = urlsplit(webhook)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            parser.error(f"invalid -remoteSignerWebhookUrl {webhook!r}: expected an http(s) URL")
    refusal = check_auth(args.httpAddr, host, webhook, args.remoteSignerAllowNoAuth)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 1
    protocol, account = connect(args, parser)
    if account is None:
        parser.error("a remote signer needs an Ethereum account: it signs with the gateway's key")
    view = CachedChainView(ProtocolChainView(protocol)) if protocol is not None else None
    sender = Sender(account.address, account.key, view) if view is not None else None
    signer = RemoteSigner(account.address, account.key, sender, view,
                          max_price=(Fraction(max_price) / args.pixelsPerUnit) if max_price else None,
                          webhook_url=webhook or None, webhook_headers=parse_header_map(args.remoteSignerWebhookHeaders))
    if not webhook:
        logging.getLogger("lpnode.signer").warning(
            "WARNING: remote signer has no webhook auth. /generate-live-payment is UNAUTHENTICATED and signs "
            "payments from this node's deposit. Set -remoteSignerWebhookUrl.")
    discover = None
    if args.remoteDiscovery:
        orchs = [o.url for o in parse_orch_addrs(args.orchAddr)]
        gateway = GatewayNode(orchs, account=account, chain=view)

        async def listed():
            return orchs

        discover = make_discover(gateway, listed, signer.max_price)

    async def main():
        server = uvicorn.Server(uvicorn.Config(create_signer_app(signer, discover), host=host, port=port,
                                               log_config=None))
        task, bound = await start_serving(server)
        if bound is None:  # it could not bind: uvicorn has said why
            return 1
        url = f"http://{host}:{bound}"
        print(f"remote signer {account.address} serving on {url}", flush=True)
        announce("remote-signer", url, args, address=account.address)
        await task
        return 0

    try:
        return event_loop.run(main())
    except KeyboardInterrupt:
        return 0
