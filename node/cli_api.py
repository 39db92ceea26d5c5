"""The node's CLI HTTP API (go's `-cliAddr`; server/webserver.go routes, server/handlers.go handlers):
the operator surface livepeer_cli (and our `lpcli --node`) talks to. Default port 7935 for an
orchestrator, 5935 for a gateway (starter.go's OrchestratorCliPort / BroadcasterCliPort), bound to
127.0.0.1: it is a private API that moves the node's funds, so it never listens elsewhere by default.

go's conventions, kept here:
- every route takes any method; inputs are form values (the urlencoded body first, then the
  query string, as r.FormValue reads them);
- errors are go's http.Error: a text/plain body "<message>\\n" with 400 or 500; a missing
  required field is 400 "missing form param: <name>"; an offchain node answers 500 "missing ETH
  client" (or "missing database" on the routes go also wraps in mustHaveDb);
- a transaction that reverts answers with its revert reason in geth's words, "execution reverted:
  <reason>", under the status go gives that route's failed send (400 for /bond, else 500);
- JSON bodies have go's field names: big integers as numbers, big.Rat as a string ("5" or "1/3"),
  addresses in a struct lowercase hex (common.Address's MarshalText), /ethAddr checksummed.

Chain calls block, so handlers run in a worker thread; those that reach the chain one at a time (the
in-process chains are not thread-safe; a live node's transactions are serialised by its TxManager
anyway), so /status and the node's settings answer while a transaction waits for its receipt.
"""
from __future__ import annotations

import json
import logging
import math
import platform
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from node.core.byoc import hex_to_address  # go's common.HexToAddress, lenient
from node.net import limits
from node.net.go_http import go_error

log = logging.getLogger("lpnode.cli")

ORCHESTRATOR_CLI_PORT = 7935  # starter.go OrchestratorCliPort
GATEWAY_CLI_PORT = 5935  # starter.go BroadcasterCliPort
PERC_DIVISOR = 1_000_000  # eth/helpers.go percDivisor: reward cut and fee share in parts per million
ZERO_ADDRESS = "0x" + "00" * 20
TRANSCODER_STATUS = ("Not Registered", "Registered")  # eth/types ParseTranscoderStatus
DELEGATOR_STATUS = ("Pending", "Bonded", "Unbonded")  # eth/types ParseDelegatorStatus
ERR_PARSE_BIG_INT = "failed to parse big integer"  # common.ErrParseBigInt
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]  # go's mux.Handle routes every method


def default_cli_addr(addr: str | None, mode: str) -> str:
    """go's defaultAddr: empty -> 127.0.0.1:<mode's port>, ":p" -> 127.0.0.1:p, "host" -> host:<port>."""
    port = str(ORCHESTRATOR_CLI_PORT if mode == "orchestrator" else GATEWAY_CLI_PORT)
    if not addr:
        return f"127.0.0.1:{port}"
    if addr.startswith(":"):
        return "127.0.0.1" + addr
    return addr if ":" in addr else f"{addr}:{port}"


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def text_error(status: int, message: str) -> tuple[bytes, str]:
    """go's http.Error body (also what BodyLimit answers here)."""
    return (message + "\n").encode(), "text/plain; charset=utf-8"


def chain_error(exc: Exception) -> str:
    """A failed call or transaction in geth's words (what go's handlers pass on)."""
    from node.eth.errors import TransactionFailed

    if isinstance(exc, TransactionFailed):
        return f"execution reverted: {exc.reason}" if exc.reason else "execution reverted"
    return str(exc)


def parse_big_int(text: str) -> int:
    """common.ParseBigInt: big.Int.SetString(text, 10) (a sign and decimal digits only)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text or ""):
        raise ValueError(ERR_PARSE_BIG_INT)
    return int(text)


def parse_rat(text: str) -> Fraction | None:
    """big.Rat.SetString: "3", "-1.5", "1e3", "1/3"; None when it does not parse."""
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?(/\d+)?", text or ""):
        return None
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def parse_float(text: str) -> float:
    """strconv.ParseFloat(text, 64), with go's error text."""
    try:
        value = float(text)
        if "_" in text or text != text.strip() or not math.isfinite(value):
            raise ValueError  # (go parses Inf and NaN, then panics turning them into parts per million)
        return value
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None


def from_perc(perc: float) -> int:
    """eth.FromPerc: a percentage (10.5) in the contracts' parts per million, truncated as go's
    big.Float does after a float64 product."""
    return int(perc * (PERC_DIVISOR / 100))


def rat_text(value: Fraction | None) -> str | None:
    """big.Rat's MarshalText: the integer when it is one, else "num/den"."""
    if value is None:
        return None
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def check_request_uri(uri: str) -> None:
    """url.ParseRequestURI: an absolute URI or an absolute path; go's error text otherwise."""
    parts = urlsplit(uri)
    if not (uri.startswith("/") or (parts.scheme and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme))):
        raise ValueError(f'parse "{uri}": invalid URI for request')


def parse_price(price: str, pixels: str, *, price_error: str = "error parsing pricePerUnit value: {}",
                pixels_error: str = "error parsing pixelsPerUnit value: {}") -> Fraction:
    """Wei per pixel from a price per unit and pixels per unit, with go's checks (big.Rat parsing,
    pixels per unit > 0); ValueError with go's words."""
    pr = parse_rat(price)
    if pr is None:
        raise ValueError(price_error.format(price))
    px = parse_rat(pixels)
    if px is None:
        raise ValueError(pixels_error.format(pixels))
    if px <= 0:
        raise ValueError(f"pixels per unit must be greater than 0, provided {pixels}")
    return pr / px


def in_wei(per_pixel: Fraction, currency: str) -> Fraction:
    """NewAutoConvertedPrice: wei (the default) or ETH; any other currency needs go's price feed,
    which this node does not run."""
    if currency.lower() in ("", "wei"):
        return per_pixel
    if currency.lower() == "eth":
        return per_pixel * 10**18
    raise ValueError("error converting price: PriceFeedWatcher is not initialized")


def price_per_pixel(price: str, pixels: str, currency: str) -> Fraction:
    """setOrchestratorPriceInfo's checks: also a price below 0 is refused."""
    pr = parse_rat(price)
    if pr is not None and pr < 0:  # go checks the sign before it parses pixels
        raise ValueError(f"price unit must be greater than or equal to 0, provided {price}")
    return in_wei(parse_price(price, pixels), currency)


@dataclass
class CliNode:
    """What the CLI API reaches: the node's mode, its chain connection (None offchain) and the
    running node object whose settings the operator may change."""

    mode: str  # "orchestrator" or "gateway"
    protocol: Any = None  # node.eth.Protocol
    account: Any = None  # node.eth.Account
    orchestrator: Any = None  # node.orchestrator.node.OrchestratorNode
    gateway: Any = None  # node.gateway.node.GatewayNode
    remote: Any = None  # node.orchestrator.remote.RemoteTranscoders (-orchSecret): go's TranscoderManager
    transcoding_options: str = ""  # the gateway's -transcodingOptions (read-only here)
    price_keys: set = field(default_factory=lambda: {"default"})  # gateways with a base price set here
    version: str = field(default_factory=lambda: _package_version())
    lock: threading.Lock = field(default_factory=threading.Lock)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lpsim")
    except PackageNotFoundError:
        return "dev"


# --- chain reads in go's shapes ---------------------------------------------------------------

def transcoder_info(p, address: str) -> dict:
    """eth.client GetTranscoder: types.Transcoder's JSON."""
    bm = p.BondingManager
    t = bm.getTranscoder(address)
    return {
        "Address": address.lower(), "ServiceURI": p.ServiceRegistry.getServiceURI(address),
        "LastRewardRound": t[0], "RewardCut": t[1], "FeeShare": t[2], "DelegatedStake": bm.transcoderTotalStake(address),
        "ActivationRound": t[4], "DeactivationRound": t[5], "LastActiveStakeUpdateRound": t[3],
        "Active": bm.isActiveTranscoder(address), "Status": TRANSCODER_STATUS[bm.transcoderStatus(address)],
        "PricePerPixel": None,
    }


def delegator_info(p, address: str) -> dict:
    """eth.client GetDelegator: types.Delegator's JSON, pending stake and fees to the current round."""
    bm = p.BondingManager
    bonded, fees, delegate, delegated, start, last_claim, next_lock = bm.getDelegator(address)
    current = p.RoundsManager.currentRound()
    return {
        "Address": address.lower(), "BondedAmount": bonded, "Fees": fees, "DelegateAddress": delegate.lower(),
        "DelegatedAmount": delegated, "StartRound": start, "LastClaimRound": last_claim,
        "NextUnbondingLockId": next_lock, "PendingStake": bm.pendingStake(address, current),
        "PendingFees": bm.pendingFees(address, current), "Status": DELEGATOR_STATUS[bm.delegatorStatus(address)],
    }


def transcoder_pool(p) -> list[dict]:
    """eth.client TranscoderPool: the pool in the BondingManager's order."""
    bm, out = p.BondingManager, []
    address = bm.getFirstTranscoderInPool()
    while address.lower() != ZERO_ADDRESS:
        out.append(transcoder_info(p, address))
        address = bm.getNextTranscoderInPool(address)
    return out


def sender_info(p, address: str) -> dict:
    (deposit, withdraw_round), (funds, claimed) = p.TicketBroker.getSenderInfo(address)
    return {"Deposit": deposit, "WithdrawRound": withdraw_round,
            "Reserve": {"FundsRemaining": funds, "ClaimedInCurrentRound": claimed}}


# --- the handlers: (api, form) -> Response, run in a thread under api.lock ----------------------

def ok(body: str | bytes = b"") -> Response:
    return Response(body, status_code=200, media_type="text/plain; charset=utf-8")


def json_ok(value) -> Response:
    return Response(json.dumps(value, separators=(",", ":")), media_type="application/json")


def transact(status: int, what: str, fn: Callable, *args, **kw):
    """Send a transaction; a revert or chain failure becomes go's error (`what` prefixes it where go does)."""
    from node.eth.errors import ChainError

    try:
        return fn(*args, **kw)
    except ChainError as exc:
        raise HTTPError(status, f"{what}{chain_error(exc)}") from None


def _status(api: CliNode, form) -> Response:
    """server/mediaserver.go GetNodeStatus (common.NodeStatus), with the facts this node has."""
    prices: dict[str, str] = {}
    pool: list[str] = []
    if api.orchestrator is not None:
        for key in sorted(api.price_keys):
            price = api.orchestrator.prices.base_price(key)
            if price is not None:
                prices[key] = rat_text(price)
    if api.gateway is not None:
        pool = list(api.gateway.orch_addrs)
    transcoders = [{"Address": t.address, "Capacity": t.capacity}
                   for t in list(api.remote.transcoders if api.remote is not None else [])]
    return json_ok({
        "Manifests": {}, "InternalManifests": {}, "StreamInfo": {}, "OrchestratorPool": pool,
        "OrchestratorPoolInfos": None, "Version": api.version,
        "GolangRuntimeVersion": f"python{platform.python_version()}",  # go's key, this runtime's value
        "GOArch": platform.machine(), "GOOS": sys.platform,
        "RegisteredTranscodersNumber": len(transcoders), "RegisteredTranscoders": transcoders,
        "LocalTranscoding": api.remote is None,  # go: no TranscoderManager (no -orchSecret)
        "BroadcasterPrices": prices,
    })


def _is_orchestrator(api, form):
    return ok("true" if api.mode == "orchestrator" else "false")


def _eth_addr(api, form):
    return ok(api.account.address)


def _token_balance(api, form):
    return ok(str(api.protocol.LivepeerToken.balanceOf(api.account.address)))


def _eth_balance(api, form):
    return ok(str(api.protocol.chain.eth_balance(api.account.address)))


def _contract_addresses(api, form):
    return json_ok({name: address.lower() for name, address in api.protocol.addresses.items()})


def _current_round(api, form):
    return ok(str(api.protocol.RoundsManager.currentRound()))


def _round_initialized(api, form):
    return ok("true" if api.protocol.RoundsManager.currentRoundInitialized() else "false")


def _initialize_round(api, form):
    transact(500, "could not initialize round: ", api.protocol.RoundsManager.initializeRound, sender=api.account)
    return ok()


def _protocol_parameters(api, form):
    p = api.protocol
    bm, rm, minter = p.BondingManager, p.RoundsManager, p.Minter
    return json_ok({
        "NumActiveTranscoders": bm.getTranscoderPoolMaxSize(), "RoundLength": rm.roundLength(),
        "RoundLockAmount": rm.roundLockAmount(), "UnbondingPeriod": bm.unbondingPeriod(),
        # go's struct still carries the pre-Streamflow verification fields, unset since
        "VerificationRate": 0, "VerificationPeriod": None, "SlashingPeriod": None,
        "FailedVerificationSlashAmount": None, "MissedVerificationSlashAmount": None,
        "DoubleClaimSegmentSlashAmount": None, "FinderFee": None,
        "Inflation": minter.inflation(), "InflationChange": minter.inflationChange(),
        "TargetBondingRate": minter.targetBondingRate(), "VerificationCodeHash": "",
        "TotalBonded": bm.getTotalBonded(), "TotalSupply": minter.getGlobalTotalSupply(),  # L2: global supply
        "Paused": p.Controller.paused(),
    })


def _registered_orchestrators(api, form):
    # go fills PricePerPixel from its DB of orchestrators it has polled, 0 for the others; this
    # node keeps no such DB, so every price is 0 as go gives for an orchestrator it has not seen
    pool = transcoder_pool(api.protocol)
    for t in pool:
        t["PricePerPixel"] = "0"
    return json_ok(pool)


def _orchestrator_info(api, form):
    from node.eth.errors import ChainError

    try:
        t = transcoder_info(api.protocol, api.account.address)
    except ChainError:
        raise HTTPError(500, "could not get transcoder") from None
    price = api.orchestrator.prices.base_price("default") if api.orchestrator is not None else None
    return json_ok({"Transcoder": t, "PriceInfo": rat_text(price)})


def _delegator_info(api, form):
    return json_ok(delegator_info(api.protocol, api.account.address))


def _bond(api, form):
    try:
        amount = parse_big_int(form.get("amount", ""))
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None
    to = form["toAddr"]
    p, me = api.protocol, api.account
    # go's Bond approves the BondingManager first when the allowance is short
    if p.LivepeerToken.allowance(me.address, p.BondingManager.address) < amount:
        transact(400, "", p.LivepeerToken.approve, p.BondingManager.address, amount, sender=me)
    transact(400, "", p.BondingManager.bond, amount, hex_to_address(to), sender=me)
    return ok()


def _unbond(api, form):
    try:
        amount = parse_big_int(form.get("amount", ""))
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None
    transact(500, "", api.protocol.BondingManager.unbond, amount, sender=api.account)
    return ok()


def _rebond(api, form):
    try:
        lock_id = parse_big_int(form.get("unbondingLockId", ""))
    except ValueError:
        # go logs "Cannot convert unbondingLockId" and answers 200 with no body (rebondHandler)
        log.error("Cannot convert unbondingLockId: %s", ERR_PARSE_BIG_INT)
        return ok()
    bm, to = api.protocol.BondingManager, form.get("toAddr", "")
    if to:
        transact(400, "", bm.rebondFromUnbonded, hex_to_address(to), lock_id, sender=api.account)
    else:
        transact(400, "", bm.rebond, lock_id, sender=api.account)
    return ok()


def _withdraw_stake(api, form):
    try:
        lock_id = parse_big_int(form.get("unbondingLockId", ""))
    except ValueError as exc:
        raise HTTPError(400, f"Cannot convert unbondingLockId: {exc}") from None
    transact(500, "", api.protocol.BondingManager.withdrawStake, lock_id, sender=api.account)
    return ok()


def _unbonding_locks(api, form):
    """go reads its DB of locks (filled from the chain); this reads the chain: every lock not yet
    used (withdrawRound > 0), only the withdrawable ones with withdrawable=true."""
    p, me = api.protocol, api.account.address
    next_id = p.BondingManager.getDelegator(me)[6]
    current = p.RoundsManager.currentRound() if form.get("withdrawable", "").lower() in ("1", "t", "true") else None
    locks = []
    for lock_id in range(next_id):
        amount, withdraw_round = p.BondingManager.getDelegatorUnbondingLock(me, lock_id)
        if withdraw_round > 0 and (current is None or withdraw_round <= current):
            locks.append({"ID": lock_id, "Delegator": me.lower(), "Amount": amount, "WithdrawRound": withdraw_round})
    return json_ok(locks)


def _withdraw_fees(api, form):
    amount_text = form.get("amount", "")
    if not amount_text:  # the L2 handler's own check (go's L1 branch takes no amount)
        raise HTTPError(400, "missing form param: amount")
    try:
        amount = parse_big_int(amount_text)
    except ValueError as exc:
        raise HTTPError(400, f"invalid amount: {exc}") from None
    transact(500, "could not execute WithdrawFees: ", api.protocol.BondingManager.withdrawFees,
             api.account.address, amount, sender=api.account)
    return ok()


def _claim_earnings(api, form):
    # go retries 5 times 15 s apart; an operator's tool here gets the first answer
    rm = api.protocol.RoundsManager
    if not rm.currentRoundInitialized():
        raise HTTPError(500, "Error claiming earnings: Round not initialized")
    transact(500, "Error claiming earnings: ", api.protocol.BondingManager.claimEarnings, rm.currentRound(),
             sender=api.account)
    return ok()


def _reward(api, form):
    transact(500, "Error calling reward: ", api.protocol.BondingManager.reward, sender=api.account)
    return ok()


def _transfer_tokens(api, form):
    try:
        amount = parse_big_int(form.get("amount", ""))
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None
    transact(500, "", api.protocol.LivepeerToken.transfer, hex_to_address(form["to"]), amount, sender=api.account)
    return ok()


def _fund_deposit_and_reserve(api, form):
    amounts = []
    for name in ("depositAmount", "reserveAmount"):
        try:
            amounts.append(parse_big_int(form.get(name, "")))
        except ValueError as exc:
            raise HTTPError(400, f"invalid {name}: {exc}") from None
    deposit, reserve = amounts
    transact(500, "could not execute fundDepositAndReserve: ", api.protocol.TicketBroker.fundDepositAndReserve,
             deposit, reserve, sender=api.account, value=deposit + reserve)
    return ok("fundDepositAndReserve success")


def _fund_deposit(api, form):
    try:
        amount = parse_big_int(form.get("amount", ""))
    except ValueError as exc:
        raise HTTPError(400, f"invalid amount: {exc}") from None
    transact(500, "could not execute fundDeposit: ", api.protocol.TicketBroker.fundDeposit, sender=api.account,
             value=amount)
    return ok("fundDeposit success")


def _broker_call(name: str):
    def handler(api, form):
        transact(500, f"could not execute {name}: ", getattr(api.protocol.TicketBroker, name), sender=api.account)
        return ok(f"{name} success")

    handler.__name__ = f"_{name}"
    return handler


def _sender_info(api, form):
    return json_ok(sender_info(api.protocol, api.account.address))


def _ticket_broker_params(api, form):
    return json_ok({"UnlockPeriod": api.protocol.TicketBroker.unlockPeriod()})


def _set_service_uri(api, uri: str) -> None:
    if "0.0.0.0" in urlsplit(uri).netloc:  # common.ValidateServiceURI
        raise HTTPError(500, "service address must be a public IP address or hostname")
    log.info("Storing service URI %s in service registry...", uri)
    transact(500, "", api.protocol.ServiceRegistry.setServiceURI, uri, sender=api.account)


def _set_base_price(api, gateway: str, price: str, pixels: str, currency: str) -> Fraction:
    if not re.match(r"^0x[0-9a-fA-F]{40}|default$", gateway):  # go's regexp, as written (unanchored end)
        raise HTTPError(400, f"broadcasterEthAddr is not a valid eth address, provided {gateway}")
    try:
        value = price_per_pixel(price, pixels, currency)
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None
    api.orchestrator.prices.set_base_price(gateway, value)
    api.price_keys.add(gateway.lower() if gateway != "default" else gateway)
    log.info("Price: %s wei per pixel for %s", float(value), gateway)
    return value


def _set_orchestrator_config(api, form):
    """setOrchestratorConfigHandler: the price (both fields or neither), the commission (both or
    neither; a transaction only when it changes), the service URI (a transaction only when it changes)."""
    price, pixels = form.get("pricePerUnit", ""), form.get("pixelsPerUnit", "")
    if price and pixels:
        if api.orchestrator is None:
            raise HTTPError(400, "Node must be orchestrator node to set its price")
        _set_base_price(api, "default", price, pixels, form.get("currency", ""))
    cut_text, share_text = form.get("blockRewardCut", ""), form.get("feeShare", "")
    cut = share = 0.0
    try:
        if cut_text:
            cut = parse_float(cut_text)
    except ValueError as exc:
        raise HTTPError(400, f"Cannot convert block reward cut: {exc}") from None
    try:
        if share_text:
            share = parse_float(share_text)
    except ValueError as exc:
        raise HTTPError(400, f"Cannot convert fee share: {exc}") from None
    p, me = api.protocol, api.account
    t = p.BondingManager.getTranscoder(me.address)
    if cut_text and share_text and (t[1] != from_perc(cut) or t[2] != from_perc(share)):
        log.info("Setting orchestrator commission rates for %s: reward cut=%s feeshare=%s", me.address, cut, share)
        transact(500, "", p.BondingManager.transcoder, from_perc(cut), from_perc(share), sender=me)
    uri = form.get("serviceURI", "")
    if uri:
        try:
            check_request_uri(uri)
        except ValueError as exc:
            raise HTTPError(400, str(exc)) from None
        if p.ServiceRegistry.getServiceURI(me.address) != uri:
            _set_service_uri(api, uri)
    return ok()


def _activate_orchestrator(api, form):
    """activateOrchestratorHandler: refuse when registered or the round is locked; set the price;
    bond `amount` to self; set the commission; register the service URI."""
    p, me = api.protocol, api.account
    if p.BondingManager.transcoderStatus(me.address) == 1:
        raise HTTPError(400, "orchestrator already registered")
    if p.RoundsManager.currentRoundLocked():
        raise HTTPError(500, "current round is locked")
    try:
        cut, share = parse_float(form["blockRewardCut"]), parse_float(form["feeShare"])
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None
    if api.orchestrator is None:
        raise HTTPError(400, "Node must be orchestrator node to set its price")
    _set_base_price(api, "default", form["pricePerUnit"], form["pixelsPerUnit"], form.get("currency", ""))
    uri = form["serviceURI"]
    try:
        check_request_uri(uri)
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None
    if form.get("unbondingLockId"):
        try:
            lock_id = parse_big_int(form["unbondingLockId"])
        except ValueError as exc:
            raise HTTPError(400, str(exc)) from None
        transact(500, "", p.BondingManager.rebondFromUnbonded, me.address, lock_id, sender=me)
    if form.get("amount"):
        try:
            amount = parse_big_int(form["amount"])
        except ValueError as exc:
            raise HTTPError(400, str(exc)) from None
        if amount > 0:
            if p.LivepeerToken.allowance(me.address, p.BondingManager.address) < amount:
                transact(500, "", p.LivepeerToken.approve, p.BondingManager.address, amount, sender=me)
            transact(500, "", p.BondingManager.bond, amount, me.address, sender=me)
    transact(500, "", p.BondingManager.transcoder, from_perc(cut), from_perc(share), sender=me)
    if p.ServiceRegistry.getServiceURI(me.address) != uri:
        _set_service_uri(api, uri)
    return ok()


def _set_price_for_broadcaster(api, form):
    if api.mode != "orchestrator" or api.orchestrator is None:
        raise HTTPError(400, "Node must be orchestrator node to set price for broadcaster")
    gateway, price, pixels = form.get("broadcasterEthAddr", ""), form.get("pricePerUnit", ""), form.get("pixelsPerUnit", "")
    _set_base_price(api, gateway, price, pixels, form.get("currency", ""))
    return ok(f"Price per pixel set to {price} wei for {pixels} pixels for broadcaster {gateway}\n")


def _set_broadcast_config(api, form):
    """setBroadcastConfigHandler: the gateway's max price per pixel (0: any). transcodingOptions
    cannot be changed on a running gateway here (its profiles are fixed at start)."""
    price, pixels, options = form.get("maxPricePerUnit", ""), form.get("pixelsPerUnit", ""), form.get("transcodingOptions", "")
    if (not price or not pixels) and not options:
        raise HTTPError(400, "missing form params (maxPricePerUnit AND pixelsPerUnit) or transcodingOptions")
    if options:
        raise HTTPError(501, "transcodingOptions cannot be changed on a running lpnode gateway; restart it with "
                        "-transcodingOptions")
    if api.gateway is None:
        raise HTTPError(400, "Node must be gateway node to set its max price")
    try:
        value = parse_price(price, pixels, price_error="Error parsing pricePerUnit value: {}",
                            pixels_error="Error parsing pixelsPerUnit value: {}")
        value = in_wei(value, form.get("currency", "")) if value > 0 else None  # go: 0 or less clears it
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None
    api.gateway.max_price = value
    log.info("Maximum transcoding price: %s wei per pixel", float(value) if value is not None else "any")
    return ok()


def _get_broadcast_config(api, form):
    max_price = api.gateway.max_price if api.gateway is not None else None
    return json_ok({"MaxPrice": rat_text(max_price), "TranscodingOptions": api.transcoding_options})


# path -> (handler, required form params, needs) where needs is "" / "client" / "db+client"
ROUTES: dict[str, tuple[Callable, tuple[str, ...], str]] = {
    "/status": (_status, (), ""),
    "/IsOrchestrator": (_is_orchestrator, (), ""),
    "/setBroadcastConfig": (_set_broadcast_config, (), ""),
    "/getBroadcastConfig": (_get_broadcast_config, (), ""),
    "/currentRound": (_current_round, (), "client"),
    "/initializeRound": (_initialize_round, (), "client"),
    "/roundInitialized": (_round_initialized, (), "client"),
    "/orchestratorInfo": (_orchestrator_info, (), "client"),
    "/activateOrchestrator": (_activate_orchestrator,
                              ("blockRewardCut", "feeShare", "pricePerUnit", "pixelsPerUnit", "serviceURI"), "client"),
    "/setOrchestratorConfig": (_set_orchestrator_config, (), "client"),
    "/setPriceForBroadcaster": (_set_price_for_broadcaster, ("pricePerUnit", "pixelsPerUnit", "broadcasterEthAddr"), ""),
    "/bond": (_bond, ("amount", "toAddr"), "client"),
    "/rebond": (_rebond, ("unbondingLockId",), "client"),
    "/unbond": (_unbond, ("amount",), "client"),
    "/withdrawStake": (_withdraw_stake, ("unbondingLockId",), "client"),
    "/unbondingLocks": (_unbonding_locks, (), "db+client"),
    "/withdrawFees": (_withdraw_fees, (), "db+client"),
    "/claimEarnings": (_claim_earnings, (), "client"),
    "/delegatorInfo": (_delegator_info, (), "client"),
    "/registeredOrchestrators": (_registered_orchestrators, (), "db+client"),
    "/reward": (_reward, (), "client"),
    "/protocolParameters": (_protocol_parameters, (), "db+client"),
    "/contractAddresses": (_contract_addresses, (), "client"),
    "/ethAddr": (_eth_addr, (), "client"),
    "/tokenBalance": (_token_balance, (), "client"),
    "/ethBalance": (_eth_balance, (), "client"),
    "/transferTokens": (_transfer_tokens, ("to", "amount"), "client"),
    "/fundDepositAndReserve": (_fund_deposit_and_reserve, ("depositAmount", "reserveAmount"), "client"),
    "/fundDeposit": (_fund_deposit, ("amount",), "client"),
    "/unlock": (_broker_call("unlock"), (), "client"),
    "/cancelUnlock": (_broker_call("cancelUnlock"), (), "client"),
    "/withdraw": (_broker_call("withdraw"), (), "client"),
    "/senderInfo": (_sender_info, (), "client"),
    "/ticketBrokerParams": (_ticket_broker_params, (), "client"),
}


async def read_form(request: Request) -> dict[str, str]:
    """r.FormValue's view: the urlencoded body's values first, then the query string's; the first
    value of a repeated name."""
    form: dict[str, str] = {}
    if request.method in ("POST", "PUT", "PATCH") and \
            request.headers.get("content-type", "").split(";")[0].strip() == "application/x-www-form-urlencoded":
        body = (await request.body()).decode("utf-8", "replace")
        for k, v in parse_qsl(body, keep_blank_values=True):
            form.setdefault(k, v)
    for k, v in request.query_params.multi_items():
        form.setdefault(k, v)
    return form


# the prefixes go's read handlers put before a chain error
READ_ERRORS = {"/currentRound": "could not query current round: ", "/senderInfo": "could not query sender info: ",
               "/roundInitialized": "could not get initialized round: ",
               "/ticketBrokerParams": "could not query TicketBroker unlockPeriod: "}


def dispatch(api: CliNode, path: str, form: dict[str, str]) -> Response:
    """Answer one request as go's mux would: mustHaveFormParams, then mustHaveDb / mustHaveClient,
    then the handler (one at a time). Blocking: the server calls it from a worker thread, lpcli's
    chain target directly."""
    from node.eth.errors import ChainError

    handler, required, needs = ROUTES[path]
    for name in required:  # mustHaveFormParams wraps the other checks
        if not form.get(name):
            return go_error(f"missing form param: {name}", 400)
    if api.protocol is None:
        if "db" in needs:
            return go_error("missing database", 500)
        if "client" in needs:
            return go_error("missing ETH client", 500)
    try:
        if not needs:  # the node's own state: never queued behind a transaction
            return handler(api, form)
        with api.lock:
            return handler(api, form)
    except HTTPError as exc:
        log.error("HTTP Response Error statusCode=%d err=%s", exc.status, exc.message)
        return go_error(exc.message, exc.status)
    except ChainError as exc:  # a read the chain did not answer: go's handlers give 500 and the error
        message = READ_ERRORS.get(path, "") + chain_error(exc)
        log.error("HTTP Response Error statusCode=500 err=%s", message)
        return go_error(message, 500)


def _endpoint(api: CliNode, path: str):
    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(dispatch, api, path, await read_form(request))

    return endpoint


def create_cli_app(api: CliNode) -> Starlette:
    from node.eth.errors import ChainError

    app = Starlette(routes=[Route(path, _endpoint(api, path), methods=METHODS) for path in ROUTES])
    app.router.redirect_slashes = False  # go's mux: "/status/" is another (unknown) path

    async def not_found(request, exc):
        return go_error("404 page not found", 404)  # go's NotFound body

    app.add_exception_handler(404, not_found)
    limits.guard_app(app, lambda path: limits.MAX_SMALL_BODY, text_error, unavailable=(ChainError,))
    return app


@dataclass
class CliServer:
    address: str  # host:port listened on
    server: Any  # uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_cli_server(api: CliNode, addr: str | None) -> CliServer | None:
    """Serve the CLI API on `addr` (go's -cliAddr; None or "" for the mode's default) from a daemon
    thread with its own event loop, so a slow transaction never stalls the node's own servers.
    As go's StartCliWebserver, a port that cannot be bound is logged and the node runs on without
    it (None)."""
    import socket

    import uvicorn

    addr = default_cli_addr(addr, api.mode)
    host, _, port = addr.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(128)  # connections queue from now on, before the server thread is up
    except (OSError, ValueError) as exc:
        log.error("CLI server: cannot listen on %s: %s", addr, exc)
        return None
    bound = f"{host}:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_cli_app(api), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="cli-api", daemon=True)
    thread.start()
    log.info("CLI server listening on %s", bound)
    return CliServer(bound, server, thread)
