"""`lpcli`: an operator's command line in the spirit of go-livepeer's livepeer_cli (its menu
actions as subcommands a script can call), with two targets:

- a running node's CLI API (`--node http://127.0.0.1:7935`, go's -cliAddr), as livepeer_cli talks
  to a node: the node signs with its own account;
- the chain directly (`--eth-url URL --eth-key KEY --addresses FILE` or `--controller ADDR`): the
  same handlers (node/cli_api.py) run here, signing with KEY. Settings that live in a running node
  (its price, a gateway's max price) need `--node`.

Amounts: `1.5LPT`, `2ETH`, `10gwei`, `1e18` or `1000000` (wei; an exponent must still give whole
wei). LPT amounts (bond, unbond) refuse ETH units and the other way round.

Exit status: 0 done; 1 the node or the chain refused (the revert reason or go's error body is
printed); 2 a usage error. `--json` prints one JSON object on stdout, also on failure.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal, InvalidOperation
from pathlib import Path

WEI = 10**18
LPT_UNITS = {"lpt": WEI, "wei": 1}
ETH_UNITS = {"eth": WEI, "gwei": 10**9, "wei": 1}
_AMOUNT = re.compile(r"\s*((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*")


class Failure(Exception):
    """The target refused: an HTTP status (or 0 when it could not be reached) and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def parse_amount(text: str, units: dict[str, int]) -> int:
    """Wei in `text` ("1.5LPT", "2ETH", "1e18", "1000"); ValueError when it is not a whole,
    non-negative number of wei in one of `units`."""
    m = _AMOUNT.fullmatch(text)
    if not m:
        raise ValueError(f"not an amount: {text!r} (e.g. 1.5{next(iter(units)).upper()}, 1e18 wei)")
    number, unit = m.group(1), (m.group(2) or "wei").lower()
    if unit not in units:
        names = ", ".join(u.upper() if u != "wei" else u for u in units)
        raise ValueError(f"{text!r}: the unit must be one of {names}")
    try:
        wei = Decimal(number) * units[unit]
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if wei != wei.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of wei")
    return int(wei)


def fmt(wei: int, unit: str) -> str:
    """`wei` in `unit` (LPT or ETH) without float rounding: 1500000000000000000 -> "1.5 LPT"."""
    text = f"{Decimal(wei) / WEI:f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return f"{text} {unit}"


# --- targets: request(path, form) -> body text, Failure on a refusal ----------------------------

class NodeTarget:
    """A node's CLI API over HTTP (reads as GET, actions as form POSTs, as livepeer_cli sends them)."""

    def __init__(self, url: str, timeout: float = 600.0) -> None:
        self.url = url.rstrip("/") if "://" in url else f"http://{url.rstrip('/')}"
        self.timeout = timeout  # a transaction may wait for its receipt (go: -transactionTimeout)

    def request(self, path: str, form: dict | None = None) -> str:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data is not None else "GET")
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise Failure(exc.code, exc.read().decode(errors="replace").strip()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Failure(0, f"cannot reach the node at {self.url}: {reason}") from None


class ChainTarget:
    """The chain itself: node/cli_api.py's handlers run in this process with KEY's account. The
    contracts come from an addresses file or, as go finds them, from the Controller."""

    def __init__(self, eth_url: str, key: str, addresses: dict[str, str] | None = None,
                 controller: str | None = None) -> None:
        from eth_account import Account as EthAccount

        from node.cli_api import CliNode
        from node.eth import Account, JsonRpcChain, attach_protocol
        from node.eth.errors import ChainError
        from node.launch import controller_addresses

        raw = bytes.fromhex(key.removeprefix("0x"))
        account = Account(EthAccount.from_key(raw).address, raw)
        try:
            chain = JsonRpcChain(eth_url, accounts=[account])
            if addresses is None:
                addresses = controller_addresses(chain, controller)
            self.api = CliNode("chain", attach_protocol(chain, addresses, owner=account), account)
        except ChainError as exc:  # no chain there, or no protocol at those addresses
            raise Failure(0, str(exc)) from None

    def request(self, path: str, form: dict | None = None) -> str:
        from node.cli_api import ROUTES, dispatch
        from node.eth.errors import ChainError

        if path not in ROUTES:
            raise Failure(404, "404 page not found")
        try:
            resp = dispatch(self.api, path, {k: str(v) for k, v in (form or {}).items()})
        except ChainError as exc:
            raise Failure(503, str(exc)) from None
        text = resp.body.decode()
        if resp.status_code >= 300:
            raise Failure(resp.status_code, text.strip())
        return text


# --- subcommands: (target, args) -> (result for --json, human text) -----------------------------

def _json(target, path: str):
    return json.loads(target.request(path))


def cmd_status(t, a):
    """livepeer_cli's "Get node status": the node's status, then what the chain says of its account."""
    out, lines = {}, []
    if isinstance(t, NodeTarget):
        node = _json(t, "/status")
        out["node"] = node
        lines.append(f"node: version {node.get('Version')}, orchestrator pool {node.get('OrchestratorPool') or '-'}, "
                     f"prices {node.get('BroadcasterPrices') or '-'}")
        out["is_orchestrator"] = t.request("/IsOrchestrator") == "true"
    try:
        account = t.request("/ethAddr")
    except Failure as exc:
        if exc.message != "missing ETH client":
            raise
        out["chain"] = None
        lines.append("chain: none (the node runs offchain)")
        return out, "\n".join(lines)
    out.update(account=account, eth_balance=int(t.request("/ethBalance")), lpt_balance=int(t.request("/tokenBalance")),
               round=int(t.request("/currentRound")), round_initialized=t.request("/roundInitialized") == "true",
               delegator=_json(t, "/delegatorInfo"), sender=_json(t, "/senderInfo"),
               orchestrator=_json(t, "/orchestratorInfo"))
    d, s, o = out["delegator"], out["sender"], out["orchestrator"]
    lines += [f"account: {account}  {fmt(out['eth_balance'], 'ETH')}, {fmt(out['lpt_balance'], 'LPT')}",
              f"round: {out['round']} ({'initialized' if out['round_initialized'] else 'not initialized'})",
              (f"delegator: {d['Status']}, bonded {fmt(d['BondedAmount'], 'LPT')} to {d['DelegateAddress']}, "
              f"pending stake {fmt(d['PendingStake'], 'LPT')}, pending fees {fmt(d['PendingFees'], 'ETH')}"),
              f"sender: deposit {fmt(s['Deposit'], 'ETH')}, reserve {fmt(s['Reserve']['FundsRemaining'], 'ETH')}"
              + (f", unlocking until round {s['WithdrawRound']}" if s["WithdrawRound"] else "")]
    tr = o["Transcoder"]
    if tr["Status"] == "Registered":
        lines.append(f"orchestrator: {'active' if tr['Active'] else 'inactive'}, stake {fmt(tr['DelegatedStake'], 'LPT')}, "
                     f"reward cut {tr['RewardCut'] / 10_000:g} %, fee share {tr['FeeShare'] / 10_000:g} %, "
                     f"service URI {tr['ServiceURI'] or '-'}, last reward round {tr['LastRewardRound']}"
                     + (f", price {o['PriceInfo']} wei/pixel" if o.get("PriceInfo") is not None else ""))
    return out, "\n".join(lines)


def _done(route: str, form: dict, text: str, t):
    body = t.request(route, form)
    return {"route": route, "form": form, "response": body}, text


def cmd_bond(t, a):
    amount = a.amount
    return _done("/bond", {"amount": amount, "toAddr": a.to}, f"bonded {fmt(amount, 'LPT')} to {a.to}", t)


def cmd_unbond(t, a):
    return _done("/unbond", {"amount": a.amount}, f"unbonded {fmt(a.amount, 'LPT')}", t)


def _pick_lock(t, lock_id, withdrawable: bool) -> int:
    """The lock asked for, else the only one there is (livepeer_cli lists them and asks)."""
    if lock_id is not None:
        return lock_id
    locks = json.loads(t.request("/unbondingLocks", {"withdrawable": "true"} if withdrawable else None))
    if len(locks) != 1:
        listed = ", ".join(f"{lock['ID']} ({fmt(lock['Amount'], 'LPT')}, round {lock['WithdrawRound']})" for lock in locks)
        raise Failure(-2, f"give the unbonding lock id; {'withdrawable ' if withdrawable else ''}locks: {listed or 'none'}")
    return locks[0]["ID"]


def cmd_rebond(t, a):
    lock_id = _pick_lock(t, a.lock_id, False)
    form = {"unbondingLockId": lock_id} | ({"toAddr": a.to} if a.to else {})
    return _done("/rebond", form, f"rebonded unbonding lock {lock_id}", t)


def cmd_withdraw_stake(t, a):
    lock_id = _pick_lock(t, a.lock_id, True)
    return _done("/withdrawStake", {"unbondingLockId": lock_id}, f"withdrew the stake of unbonding lock {lock_id}", t)


def cmd_withdraw_fees(t, a):
    amount = a.amount if a.amount is not None else _json(t, "/delegatorInfo")["PendingFees"]  # livepeer_cli: all
    return _done("/withdrawFees", {"amount": amount}, f"withdrew {fmt(amount, 'ETH')} of fees", t)


def cmd_fund(t, a):
    deposit, reserve = a.deposit or 0, a.reserve or 0
    return _done("/fundDepositAndReserve", {"depositAmount": deposit, "reserveAmount": reserve},
                 f"funded deposit +{fmt(deposit, 'ETH')}, reserve +{fmt(reserve, 'ETH')}", t)


def cmd_deposit(t, a):
    a.deposit, a.reserve = a.amount, 0
    return cmd_fund(t, a)


def cmd_reserve(t, a):
    a.deposit, a.reserve = 0, a.amount
    return cmd_fund(t, a)


def _simple(route: str, text: str):
    def run(t, a):
        return _done(route, {}, text, t)

    return run


def cmd_set_price(t, a):
    form = {"pricePerUnit": a.price, "pixelsPerUnit": a.pixels} | ({"currency": a.currency} if a.currency else {})
    if a.gateway:
        return _done("/setPriceForBroadcaster", form | {"broadcasterEthAddr": a.gateway},
                     f"price {a.price} wei per {a.pixels} pixels for gateway {a.gateway}", t)
    return _done("/setOrchestratorConfig", form, f"price {a.price} wei per {a.pixels} pixels", t)


def cmd_set_max_price(t, a):
    form = {"maxPricePerUnit": a.price, "pixelsPerUnit": a.pixels} | ({"currency": a.currency} if a.currency else {})
    return _done("/setBroadcastConfig", form, f"max price {a.price} wei per {a.pixels} pixels", t)


def cmd_transcoder(t, a):
    """Register or reconfigure as an orchestrator: go's /setOrchestratorConfig (commission when both
    rates are given, service URI, price with --node); --activate is go's multi-step
    /activateOrchestrator (bond --amount to self, commission, service URI, price: all required)."""
    form = {}
    if (a.reward_cut is None) != (a.fee_share is None):
        raise Failure(-2, "give both --reward-cut and --fee-share (go sets them together)")
    if a.reward_cut is not None:
        form |= {"blockRewardCut": a.reward_cut, "feeShare": a.fee_share}
    if a.service_uri:
        form["serviceURI"] = a.service_uri
    if a.price is not None:
        form |= {"pricePerUnit": a.price, "pixelsPerUnit": a.pixels}
    if a.activate:
        if a.amount:
            form["amount"] = a.amount
        return _done("/activateOrchestrator", form, "activated as an orchestrator", t)
    if not form:
        raise Failure(-2, "nothing to set: give --reward-cut/--fee-share, --service-uri or --price")
    return _done("/setOrchestratorConfig", form, "orchestrator config set: " + ", ".join(f"{k}={v}" for k, v in form.items()), t)


def cmd_transfer(t, a):
    return _done("/transferTokens", {"to": a.to, "amount": a.amount}, f"transferred {fmt(a.amount, 'LPT')} to {a.to}", t)


def _read(route: str, summary):
    def run(t, a):
        value = _json(t, route)
        return value, summary(value)

    return run


def _orchestrators_text(pool):
    return "\n".join(f"{o['Address']} {o['Status']}{' active' if o['Active'] else ''} stake {fmt(o['DelegatedStake'], 'LPT')} "
                     f"{o['ServiceURI'] or '-'}" for o in pool) or "no orchestrators in the pool"


def _locks_text(locks):
    return "\n".join(f"lock {x['ID']}: {fmt(x['Amount'], 'LPT')}, withdrawable from round {x['WithdrawRound']}"
                     for x in locks) or "no unbonding locks"


# --- the command line -----------------------------------------------------------------------------

def _amount_type(units):
    def parse(text: str) -> int:
        try:
            return parse_amount(text, units)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = "amount"
    return parse


LPT_AMOUNT, ETH_AMOUNT = _amount_type(LPT_UNITS), _amount_type(ETH_UNITS)


def _address(text: str) -> str:
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", text):
        raise argparse.ArgumentTypeError(f"not an address: {text!r}")
    return text


def _percent(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"a percentage from 0 to 100, got {text}")
    return text


def _lock_id(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not an unbonding lock id: {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object")
    p = argparse.ArgumentParser(prog="lpcli", description="A Livepeer operator's commands (livepeer_cli's actions) against a node's CLI API "
                                "(--node) or the chain itself (--eth-url).",
                                epilog="Amounts: 1.5LPT, 2ETH, 10gwei, 1e18 or 1000 (wei).")
    p.add_argument("--json", action="store_true", help="print one JSON object (also on failure)")
    p.add_argument("--node", default=None, help="the node's CLI API, e.g. http://127.0.0.1:7935 "
                   "(default when no --eth-url: $LPCLI_NODE or http://127.0.0.1:7935)")
    p.add_argument("--eth-url", default=None, help="talk to the chain directly: its JSON-RPC URL")
    p.add_argument("--eth-key", default=os.environ.get("LPCLI_ETH_KEY"),
                   help="with --eth-url: the account's hex private key (default $LPCLI_ETH_KEY)")
    p.add_argument("--addresses", default=None, help="with --eth-url: the contract addresses JSON "
                   "(lpnode devchain --addresses)")
    p.add_argument("--controller", default=None, type=_address, help="with --eth-url: the Controller's address "
                   "(the other contracts are read from it)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the node's answer")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def cmd(name, fn, help_):
        s = sub.add_parser(name, parents=[common], help=help_, description=help_)
        s.set_defaults(fn=fn)
        return s

    cmd("status", cmd_status, "the node's status and its account on the chain")
    s = cmd("bond", cmd_bond, "bond AMOUNT of LPT to an orchestrator (approving it first when needed)")
    s.add_argument("amount", type=LPT_AMOUNT)
    s.add_argument("to", type=_address)
    s = cmd("unbond", cmd_unbond, "unbond AMOUNT of LPT (withdrawable after the unbonding period)")
    s.add_argument("amount", type=LPT_AMOUNT)
    s = cmd("rebond", cmd_rebond, "bond an unbonding lock's stake again (default: the only lock)")
    s.add_argument("lock_id", type=_lock_id, nargs="?")
    s.add_argument("--to", type=_address, default=None, help="when fully unbonded: the orchestrator to rebond to")
    s = cmd("withdraw-stake", cmd_withdraw_stake, "withdraw an unbonding lock's LPT (default: the only withdrawable one)")
    s.add_argument("lock_id", type=_lock_id, nargs="?")
    s = cmd("withdraw-fees", cmd_withdraw_fees, "withdraw earned fees in ETH (default: all pending fees)")
    s.add_argument("amount", type=ETH_AMOUNT, nargs="?")
    s = cmd("fund", cmd_fund, "fund the TicketBroker deposit and reserve (a gateway's payments)")
    s.add_argument("deposit", type=ETH_AMOUNT)
    s.add_argument("reserve", type=ETH_AMOUNT)
    s = cmd("deposit", cmd_deposit, "add AMOUNT to the TicketBroker deposit")
    s.add_argument("amount", type=ETH_AMOUNT)
    s = cmd("reserve", cmd_reserve, "add AMOUNT to the TicketBroker reserve")
    s.add_argument("amount", type=ETH_AMOUNT)
    cmd("unlock", _simple("/unlock", "unlock started"), "start unlocking the deposit and reserve")
    cmd("cancel-unlock", _simple("/cancelUnlock", "unlock cancelled"), "cancel the unlock")
    cmd("withdraw", _simple("/withdraw", "deposit and reserve withdrawn"), "withdraw the unlocked deposit and reserve")
    s = cmd("set-price", cmd_set_price, "(--node) the orchestrator's price: PRICE wei per --pixels pixels")
    s.add_argument("price")
    s.add_argument("--pixels", default="1")
    s.add_argument("--currency", default=None, help="wei (default) or ETH")
    s.add_argument("--gateway", type=_address, default=None, help="the price for this gateway only")
    s = cmd("set-max-price", cmd_set_max_price, "(--node) a gateway's max price: PRICE wei per --pixels pixels (0: any)")
    s.add_argument("price")
    s.add_argument("--pixels", default="1")
    s.add_argument("--currency", default=None)
    s = cmd("transcoder", cmd_transcoder, "register or reconfigure as an orchestrator")
    s.add_argument("--reward-cut", type=_percent, default=None, help="percent of rewards kept (e.g. 10)")
    s.add_argument("--fee-share", type=_percent, default=None, help="percent of fees shared with delegators")
    s.add_argument("--service-uri", default=None, help="the URI gateways reach the orchestrator at")
    s.add_argument("--price", default=None, help="(--node) wei per --pixels pixels")
    s.add_argument("--pixels", default="1")
    s.add_argument("--activate", action="store_true", help="go's multi-step activation (all of the above)")
    s.add_argument("--amount", type=LPT_AMOUNT, default=None, help="with --activate: LPT to bond to self")
    cmd("initialize-round", _simple("/initializeRound", "round initialized"), "initialize the current round")
    cmd("reward", _simple("/reward", "reward called"), "mint this round's reward (an active orchestrator)")
    s = cmd("transfer", cmd_transfer, "transfer LPT")
    s.add_argument("amount", type=LPT_AMOUNT)
    s.add_argument("to", type=_address)
    cmd("protocol", _read("/protocolParameters",  # go's struct still has pre-Streamflow fields, left unset
                          lambda v: "\n".join(f"{k}: {x}" for k, x in v.items() if x not in (None, ""))),
        "the protocol's parameters")
    cmd("orchestrators", _read("/registeredOrchestrators", _orchestrators_text), "the orchestrator pool")
    cmd("locks", _read("/unbondingLocks", _locks_text), "this account's unbonding locks")
    return p


NODE_ONLY = {"set-price": "set-price changes a running node's price",
             "set-max-price": "set-max-price changes a running gateway's setting"}


def make_target(a, parser):
    if a.eth_url:
        if a.command in NODE_ONLY:
            parser.error(f"{NODE_ONLY[a.command]}: use --node")
        if a.command == "transcoder" and a.price is not None:
            parser.error("--price changes a running node's price: use --node")
        if a.node:
            parser.error("give --node or --eth-url, not both")
        if not a.eth_key:
            parser.error("--eth-url needs --eth-key (or $LPCLI_ETH_KEY)")
        if bool(a.addresses) == bool(a.controller):
            parser.error("--eth-url needs one of --addresses or --controller")
        try:
            addresses = json.loads(Path(a.addresses).read_text()) if a.addresses else None
            return ChainTarget(a.eth_url, a.eth_key, addresses, a.controller)
        except (OSError, ValueError) as exc:  # an unreadable file, a bad key
            parser.error(str(exc))
    if a.eth_key or a.addresses or a.controller:
        parser.error("--eth-key, --addresses and --controller go with --eth-url")
    return NodeTarget(a.node or os.environ.get("LPCLI_NODE") or "http://127.0.0.1:7935", a.timeout)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    quiet = logging.getLogger("lpnode.cli")  # the handlers' server-side error log; lpcli prints the error itself
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    try:
        target = make_target(a, parser)
        result, text = a.fn(target, a)
    except Failure as exc:
        if exc.status == -2:  # the command line asked for something this target cannot do
            parser.error(exc.message)
        if a.json:
            print(json.dumps({"ok": False, "status": exc.status, "error": exc.message}))
        else:
            print(f"lpcli {a.command}: {exc.message}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps({"ok": True, "command": a.command, "result": result}))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
