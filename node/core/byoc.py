"""Bring your own container (BYOC), sans-I/O: the job request and its signatures, the orchestrator's
registry of external capabilities, per-second pricing and the balance rules of both sides
(go-livepeer byoc/types.go, byoc/utils.go, byoc/job_orchestrator.go, byoc/job_gateway.go,
byoc/payment.go, core/external_capabilities.go, core/ai_orchestrator.go; spec node.md §1.3–1.5,
§4.4, §6, §13).

One definition shared by the orchestrator (node.orchestrator.byoc), the gateway
(node.gateway.byoc), the streaming routes and the simulator's `byoc` workload. A BYOC job is
charged by the second: the orchestrator debits ceil(elapsed seconds) × price from the
(sender, capability) balance whatever the outcome; the gateway keeps the mirror of that balance per
(orchestrator, capability), resets it to what the orchestrator reports in its job token, and pays
for the job's whole timeout when it holds less than two minutes of credit.

Wire shapes (go's encoding/json of its structs; field names matched case-insensitively, as go):
- `Livepeer` header = base64(JSON JobRequest); the gateway signs request + parameters.
- `Livepeer-Eth-Address` header = base64(JSON {addr, sig}); sig over the address string.
- `GET /process/token` answers a JSON JobToken.
- `POST /capability/register` carries a JSON ExternalCapability.

Decisions and quirks:
- Mirrored: the job's signature is "0x"-hex; the verifier strips two characters only when it is
  longer than 130, so a bare 130-character hex signature also passes.
- Mirrored: reserving capacity only fails for an unknown capability (load may exceed capacity);
  the job token's available_capacity is capacity − load, at least 0.
- Mirrored: a job token reports floor(balance) (go's PriceToInt64), 0 when none; Livepeer-Balance
  headers are the balance rounded to an integer (FloatString(0)), SSE balance events 3 decimals.
- Fixed: when the orchestrator reports a balance of 0, go's compareAndUpdateBalance debits the old
  balance a second time (the local balance becomes −old); here it is set to what was reported.
- Fixed: a job that ends after its capability was re-registered does not take the new entry's
  load below 0.
- Fixed: go mirrors the token's LastNonce into each ticket nonce (0 in practice, spec §12.12);
  tickets here are signed with the PM session's own nonces.
"""
from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from fractions import Fraction
from typing import Any

from eth_utils import to_checksum_address

from .balances import Balances
from .params import TicketExpirationParams, TicketParams, int_bytes
from .pricing import PriceFeed, PriceInfo, PriceTable, TxCostMultiplier, byoc_price

__all__ = [
    "BALANCE_HEADER",
    "CAPABILITY_HEADER",
    "ERR_INSUFFICIENT_BALANCE",
    "ERR_NO_CAPACITY",
    "ERR_NO_JOB_CREDS",
    "ERR_NO_TIMEOUT",
    "ERR_PAYMENT",
    "ERR_SEG_ENCODING",
    "ERR_SEG_SIG",
    "ETH_ADDRESS_HEADER",
    "GATEWAY_MIN_BALANCE_SECONDS",
    "GATEWAY_TIMEOUT_MARGIN",
    "JOB_HEADER",
    "MAX_TICKETS_PER_JOB",
    "ORCH_MIN_BALANCE_SECONDS",
    "ORCH_SEARCH_RESP_TIMEOUT_HEADER",
    "ORCH_SEARCH_TIMEOUT_HEADER",
    "PAYMENT_BALANCE_HEADER",
    "PAYMENT_HEADER",
    "REQUEST_PATH_PREFIX",
    "SSE_DEBIT_INTERVAL",
    "SSE_DONE",
    "SSE_INSUFFICIENT_BALANCE",
    "SSE_TIMEOUT_MARGIN",
    "STREAM_DEBIT_INTERVAL",
    "STREAM_MAX_SWAPS",
    "STREAM_PAYMENT_INTERVAL",
    "STREAM_PAYMENT_SECONDS",
    "STREAM_SWAP_WINDOW",
    "TOKEN_RESPONSE_TIMEOUT",
    "TOKEN_SEARCH_TIMEOUT",
    "ExternalCapabilities",
    "ExternalCapability",
    "JobError",
    "JobParameters",
    "JobRequest",
    "JobSender",
    "JobToken",
    "StreamBilling",
    "StreamSwaps",
    "WorkerOutcome",
    "balance_header",
    "charge_gateway",
    "compute_charge",
    "credit_tickets",
    "filter_orchestrators",
    "float_string",
    "has_minimum_balance",
    "hex_to_address",
    "is_done_line",
    "job_price_info",
    "job_request_header",
    "job_sender",
    "parse_external_capability",
    "parse_job_details",
    "parse_job_parameters",
    "parse_job_request",
    "parse_job_sender",
    "parse_job_token",
    "registered_price",
    "removes_capability",
    "sign_job",
    "signature_bytes",
    "sse_balance_event",
    "sse_out_of_credit",
    "sync_gateway_balance",
    "ticket_count_for_cost",
    "tickets_for_job",
    "token_balance",
    "verify_job_sender",
    "verify_job_sig",
    "worker_url",
]

# ----------------------------------------------------------------------------- names and limits

JOB_HEADER = "Livepeer"
ETH_ADDRESS_HEADER = "Livepeer-Eth-Address"
CAPABILITY_HEADER = "Livepeer-Capability"
PAYMENT_HEADER = "Livepeer-Payment"
BALANCE_HEADER = "Livepeer-Balance"
PAYMENT_BALANCE_HEADER = "Livepeer-Payment-Balance"  # the orchestrator's SSE responses
ORCH_SEARCH_TIMEOUT_HEADER = "Livepeer-Orch-Search-Timeout"  # parsed by go, then ignored (§12.6)
ORCH_SEARCH_RESP_TIMEOUT_HEADER = "Livepeer-Orch-Search-Resp-Timeout"
REQUEST_PATH_PREFIX = "/process/request/"

TOKEN_SEARCH_TIMEOUT = 1.0  # s, the whole token discovery
TOKEN_RESPONSE_TIMEOUT = 0.5  # s, one orchestrator's GET /process/token
GATEWAY_TIMEOUT_MARGIN = 5  # s added to timeout_seconds for the gateway's POST to an orchestrator
SSE_TIMEOUT_MARGIN = 10  # s added to timeout_seconds for the gateway's SSE pass-through
GATEWAY_MIN_BALANCE_SECONDS = 120  # the gateway pays when it holds less than this much credit
ORCH_MIN_BALANCE_SECONDS = 60  # the orchestrator works only with this much credit in hand
MAX_TICKETS_PER_JOB = 600  # pm.maxSenderNonces
SSE_DEBIT_INTERVAL = 5  # s: an SSE response debits this many seconds at a time
STREAM_DEBIT_INTERVAL = 23  # s: the orchestrator's stream billing tick
STREAM_PAYMENT_INTERVAL = 50  # s: the gateway's stream payment tick
STREAM_PAYMENT_SECONDS = 70  # the stream payment job's timeout_seconds (what each payment buys)
STREAM_SWAP_WINDOW = 60.0  # s from the stream's start (see StreamSwaps)
STREAM_MAX_SWAPS = 2

# go's error values (byoc/types.go), answered as the HTTP body
ERR_NO_TIMEOUT = "no timeout_seconds set with request, timeout_seconds is required"
ERR_NO_CAPACITY = "No capacity available for capability"
ERR_NO_JOB_CREDS = "Could not verify job creds"
ERR_PAYMENT = "Could not parse payment"
ERR_INSUFFICIENT_BALANCE = "Insufficient balance for request"
ERR_SEG_ENCODING = "ErrorSegEncoding"
ERR_SEG_SIG = "ErrSegSig"

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class JobError(ValueError):
    """A job request, sender header or registration the rules reject; `str(e)` is go's error."""


# ------------------------------------------------------------------------- go's JSON decoding

_JSON_KIND = {str: "string", bool: "bool", int: "number", float: "number", list: "array",
              dict: "object", Fraction: "number"}


def _json_kind(value: Any) -> str:
    return _JSON_KIND.get(type(value), "value")


def _load_object(data: bytes | str, go_type: str) -> dict:
    """A JSON object as go's json.Unmarshal into a struct would accept it (numbers kept exact)."""
    try:
        doc = json.loads(data, parse_float=Fraction)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "invalid UTF-8"
        raise JobError(f"invalid JSON: {msg}" if data else "unexpected end of JSON input") from None
    if doc is None:
        return {}  # go: null leaves the struct as it is
    if not isinstance(doc, dict):
        raise JobError(f"json: cannot unmarshal {_json_kind(doc)} into Go value of type {go_type}")
    return doc


def _fields(doc: Mapping[str, Any], go_type: str, spec: Mapping[str, type]) -> dict[str, Any]:
    """The struct's fields from `doc`: keys matched case-insensitively as go does (an exact match
    wins), null as the zero value, and go's error for a value of the wrong JSON type."""
    out: dict[str, Any] = {}
    lowered = {k.lower(): k for k in doc}
    for tag, kind in spec.items():
        key = tag if tag in doc else lowered.get(tag.lower())
        if key is None or doc[key] is None:
            continue
        value = doc[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is int and isinstance(value, Fraction) and value.denominator == 1:
            value, ok = int(value), True
        if kind is int and ok and not _INT64_MIN <= value <= _INT64_MAX:
            ok = False
        if not ok:
            shown = _json_kind(value)
            if shown == "number":
                shown = f"number {value if not isinstance(value, Fraction) else float(value)}"
            go_kind = {str: "string", int: "int", bool: "bool", list: "[]string", dict: "struct"}[kind]
            raise JobError(f"json: cannot unmarshal {shown} into Go struct field {go_type}.{tag} "
                           f"of type {go_kind}")
        out[tag] = value
    return out


def _strings(value: list, go_type: str, tag: str) -> tuple[str, ...]:
    for item in value:
        if not isinstance(item, str):
            raise JobError(f"json: cannot unmarshal {_json_kind(item)} into Go struct field "
                           f"{go_type}.{tag} of type string")
    return tuple(value)


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def float_string(x: Fraction | int, places: int) -> str:
    """go's big.Rat.FloatString(places): rounded half away from zero."""
    x = Fraction(x)
    scaled = abs(x) * 10**places
    q, r = divmod(scaled.numerator, scaled.denominator)
    if 2 * r >= scaled.denominator:
        q += 1
    sign = "-" if x < 0 and q else ""
    if places == 0:
        return f"{sign}{q}"
    return f"{sign}{q // 10**places}.{q % 10**places:0{places}d}"


# ----------------------------------------------------------------------------- the job request

@dataclass(frozen=True, slots=True)
class JobRequest:
    """go's JobRequest: `request` and `parameters` are JSON texts (the worker's request details and
    the job parameters), `sig` is the sender's "0x"-hex signature over request + parameters,
    `capability_url` is filled in by the orchestrator."""

    id: str = ""
    request: str = ""
    parameters: str = ""
    capability: str = ""
    capability_url: str = ""
    sender: str = ""
    sig: str = ""
    timeout_seconds: int = 0
    # go marshals these two exported fields without tags (nanoseconds); the gateway sets them
    orch_search_timeout_ns: int = 0
    orch_search_resp_timeout_ns: int = 0

    def to_json(self) -> bytes:
        return _compact({
            "id": self.id, "request": self.request, "parameters": self.parameters,
            "capability": self.capability, "capability_url": self.capability_url,
            "sender": self.sender, "sig": self.sig, "timeout_seconds": self.timeout_seconds,
            "OrchSearchTimeout": self.orch_search_timeout_ns,
            "OrchSearchRespTimeout": self.orch_search_resp_timeout_ns,
        }).encode()

    def signed_message(self) -> bytes:
        """What the sender signs: request + parameters."""
        return (self.request + self.parameters).encode()


_JOB_FIELDS = {"id": str, "request": str, "parameters": str, "capability": str, "capability_url": str,
               "sender": str, "sig": str, "timeout_seconds": int, "OrchSearchTimeout": int,
               "OrchSearchRespTimeout": int}


def parse_job_request(data: bytes | str) -> JobRequest:
    """The decoded `Livepeer` header (go's parseJobRequest after base64): JobError with go's
    message, ERR_NO_TIMEOUT when timeout_seconds is 0 or absent."""
    f = _fields(_load_object(data, "byoc.JobRequest"), "JobRequest", _JOB_FIELDS)
    job = JobRequest(
        id=f.get("id", ""), request=f.get("request", ""), parameters=f.get("parameters", ""),
        capability=f.get("capability", ""), capability_url=f.get("capability_url", ""),
        sender=f.get("sender", ""), sig=f.get("sig", ""), timeout_seconds=f.get("timeout_seconds", 0),
        orch_search_timeout_ns=f.get("OrchSearchTimeout", 0),
        orch_search_resp_timeout_ns=f.get("OrchSearchRespTimeout", 0))
    if job.timeout_seconds == 0:
        raise JobError(ERR_NO_TIMEOUT)
    return job


def job_request_header(job: JobRequest) -> str:
    """The `Livepeer` header value for `job`."""
    return base64.b64encode(job.to_json()).decode("ascii")


@dataclass(frozen=True, slots=True)
class JobParameters:
    """go's JobParameters: which orchestrators the gateway may use, and for streams which trickle
    channels the orchestrator opens."""

    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    enable_video_ingress: bool = False
    enable_video_egress: bool = False
    enable_data_output: bool = False


def parse_job_parameters(text: str) -> JobParameters:
    """The job's `parameters` text (must be JSON: "" is go's "unexpected end of JSON input")."""
    f = _fields(_load_object(text, "byoc.JobParameters"), "JobParameters",
                {"orchestrators": dict, "enable_video_ingress": bool, "enable_video_egress": bool,
                 "enable_data_output": bool})
    orchs = _fields(f.get("orchestrators", {}), "JobOrchestratorsFilter", {"exclude": list, "include": list})
    return JobParameters(
        exclude=_strings(orchs.get("exclude", []), "JobOrchestratorsFilter", "exclude"),
        include=_strings(orchs.get("include", []), "JobOrchestratorsFilter", "include"),
        enable_video_ingress=f.get("enable_video_ingress", False),
        enable_video_egress=f.get("enable_video_egress", False),
        enable_data_output=f.get("enable_data_output", False))


def parse_job_details(text: str) -> str:
    """The job's `request` text (must be JSON); its stream_id ("" when none)."""
    return _fields(_load_object(text, "byoc.JobRequestDetails"), "JobRequestDetails",
                   {"stream_id": str}).get("stream_id", "")


def hex_to_address(value: str) -> str:
    """go's common.HexToAddress, lenient as go is: the last 20 bytes of the hex (odd length padded,
    bad hex read as nothing), as a checksum address."""
    s = value[2:] if value[:2] in ("0x", "0X") else value
    if len(s) % 2:
        s = "0" + s
    try:
        raw = bytes.fromhex(s)
    except ValueError:
        raw = b""
    return to_checksum_address(raw[-20:].rjust(20, b"\x00"))


def signature_bytes(sig: str) -> bytes:
    """A "0x"-hex signature as bytes, as go reads it (the prefix is dropped only when the text is
    longer than 130 characters); JobError(ERR_SEG_SIG) when it is not hex."""
    text = sig[2:] if len(sig) > 130 else sig
    if not _HEX.fullmatch(text):
        raise JobError(ERR_SEG_SIG)
    return bytes.fromhex(text)


_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


Verifier = Callable[[str, bytes, bytes], bool]  # (address, message, signature) -> ok: node.net.auth.verify_sig
Signer = Callable[[bytes], bytes]  # message -> 65-byte signature: node.net.auth.sign with the key


def sign_job(job: JobRequest, sender: str, sign: Signer) -> JobRequest:
    """The gateway's gatewayJob.sign: sender and sig set over request + parameters."""
    return replace(job, sender=sender, sig="0x" + sign(job.signed_message()).hex())


def verify_job_sig(job: JobRequest, verify: Verifier) -> None:
    """The orchestrator's check of the job's signature; JobError(ERR_SEG_SIG) when it fails."""
    if not verify(hex_to_address(job.sender), job.signed_message(), signature_bytes(job.sig)):
        raise JobError(ERR_SEG_SIG)


@dataclass(frozen=True, slots=True)
class JobSender:
    """go's JobSender, the `Livepeer-Eth-Address` header: an address and its signature over the
    address string."""

    addr: str
    sig: str

    def header(self) -> str:
        return base64.b64encode(_compact({"addr": self.addr, "sig": self.sig}).encode()).decode("ascii")

    def to_dict(self) -> dict:
        return {"addr": self.addr, "sig": self.sig}


def job_sender(address: str, sign: Signer) -> JobSender:
    """The gateway's JobSender: its checksum address signed as a string (go's genOrchestratorReq)."""
    addr = to_checksum_address(address)
    return JobSender(addr, "0x" + sign(addr.encode()).hex())


def parse_job_sender(data: bytes | str) -> JobSender:
    """The decoded `Livepeer-Eth-Address` header."""
    f = _fields(_load_object(data, "byoc.JobSender"), "JobSender", {"addr": str, "sig": str})
    return JobSender(f.get("addr", ""), f.get("sig", ""))


def verify_job_sender(sender: JobSender, verify: Verifier) -> str:
    """The orchestrator's verifyTokenCreds: the sender's address once its signature checks out;
    JobError(ERR_SEG_SIG) when it does not."""
    address = hex_to_address(sender.addr)
    if not verify(address, sender.addr.encode(), signature_bytes(sender.sig)):
        raise JobError(ERR_SEG_SIG)
    return address


# -------------------------------------------------------------------------------- the job token

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise JobError(f"json: cannot unmarshal {_json_kind(value)} into Go struct field {where} of type []uint8")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise JobError(f"illegal base64 data in {where}") from None


def _ticket_params_json(p: TicketParams) -> dict:
    # go's encoding/json of net.TicketParams: []byte as base64, omitempty on every field
    out = {"recipient": _b64(bytes.fromhex(p.recipient[2:])), "face_value": _b64(int_bytes(p.face_value)),
           "win_prob": _b64(int_bytes(p.win_prob)), "recipient_rand_hash": _b64(p.recipient_rand_hash),
           "seed": _b64(int_bytes(p.seed)), "expiration_block": _b64(int_bytes(p.expiration_block))}
    out = {k: v for k, v in out.items() if v}
    e = p.expiration_params
    if e is not None:
        exp = {}
        if e.creation_round:
            exp["creation_round"] = e.creation_round
        if e.creation_round_block_hash:
            exp["creation_round_block_hash"] = _b64(e.creation_round_block_hash)
        out["expiration_params"] = exp
    return out


def _ticket_params_from_json(doc: dict, price: Fraction | None) -> TicketParams:
    f = _fields(doc, "TicketParams", {"recipient": str, "face_value": str, "win_prob": str,
                                      "recipient_rand_hash": str, "seed": str, "expiration_block": str,
                                      "expiration_params": dict})

    def num(tag: str) -> int:
        return int.from_bytes(_unb64(f.get(tag, ""), f"TicketParams.{tag}"), "big")

    exp = None
    if "expiration_params" in f:
        e = _fields(f["expiration_params"], "TicketExpirationParams",
                    {"creation_round": int, "creation_round_block_hash": str})
        exp = TicketExpirationParams(
            e.get("creation_round", 0),
            _unb64(e.get("creation_round_block_hash", ""), "TicketExpirationParams.creation_round_block_hash"
                   )[-32:].rjust(32, b"\x00"))
    recipient = _unb64(f.get("recipient", ""), "TicketParams.recipient")
    return TicketParams(
        recipient=to_checksum_address(recipient[-20:].rjust(20, b"\x00")),
        face_value=num("face_value"), win_prob=num("win_prob"),
        recipient_rand_hash=_unb64(f.get("recipient_rand_hash", ""),
                                   "TicketParams.recipient_rand_hash")[-32:].rjust(32, b"\x00"),
        seed=num("seed"), expiration_block=num("expiration_block"),
        price_per_pixel=price, expiration_params=exp)


@dataclass(frozen=True, slots=True)
class JobToken:
    """go's JobToken, what GET /process/token answers: who asked, the offer for this capability's
    price, the sender's balance at the orchestrator (whole wei), the price per second, where to
    send the job and how many more jobs the capability takes now."""

    sender: JobSender | None = None
    ticket_params: TicketParams | None = None
    balance: int = 0
    price: PriceInfo | None = None
    service_addr: str = ""
    available_capacity: int = 0
    last_nonce: int = 0

    def to_json(self) -> bytes:
        out: dict[str, Any] = {}
        if self.sender is not None:
            out["sender_address"] = self.sender.to_dict()
        if self.ticket_params is not None:
            out["ticket_params"] = _ticket_params_json(self.ticket_params)
        if self.balance:
            out["balance"] = self.balance
        if self.price is not None:
            price = {}
            if self.price.price_per_unit:
                price["pricePerUnit"] = self.price.price_per_unit
            if self.price.pixels_per_unit:
                price["pixelsPerUnit"] = self.price.pixels_per_unit
            out["price"] = price
        if self.service_addr:
            out["service_addr"] = self.service_addr
        if self.available_capacity:
            out["available_capacity"] = self.available_capacity
        out["LastNonce"] = self.last_nonce
        return _compact(out).encode()

    @property
    def price_per_second(self) -> Fraction:
        """The token's price as a fraction (0 without one; a zero denominator is no price)."""
        if self.price is None or self.price.pixels_per_unit == 0:
            return Fraction(0)
        return self.price.price

    @property
    def recipient(self) -> str:
        return self.ticket_params.recipient if self.ticket_params is not None else ""


def parse_job_token(data: bytes | str) -> JobToken:
    """A JobToken from the orchestrator's JSON."""
    f = _fields(_load_object(data, "byoc.JobToken"), "JobToken",
                {"sender_address": dict, "ticket_params": dict, "balance": int, "price": dict,
                 "service_addr": str, "available_capacity": int, "LastNonce": int})
    price = None
    if "price" in f:
        p = _fields(f["price"], "PriceInfo", {"pricePerUnit": int, "pixelsPerUnit": int})
        price = PriceInfo(p.get("pricePerUnit", 0), p.get("pixelsPerUnit", 0))
    per_second = price.price if price is not None and price.pixels_per_unit else None
    sender = None
    if "sender_address" in f:
        s = _fields(f["sender_address"], "JobSender", {"addr": str, "sig": str})
        sender = JobSender(s.get("addr", ""), s.get("sig", ""))
    params = _ticket_params_from_json(f["ticket_params"], per_second) if "ticket_params" in f else None
    return JobToken(sender, params, f.get("balance", 0), price, f.get("service_addr", ""),
                    f.get("available_capacity", 0), f.get("LastNonce", 0))


# ------------------------------------------------------------------------ external capabilities

@dataclass(slots=True)
class ExternalCapability:
    """go's ExternalCapability: what a worker registers. `price_per_unit / price_scaling` wei (or
    `currency`) per second; `token` is sent back to the worker as `Authorization: Bearer <token>`.
    `load` counts the jobs in flight."""

    name: str
    url: str = ""
    description: str = ""
    capacity: int = 0
    price_per_unit: int = 0
    price_scaling: int = 1
    currency: str = ""
    token: str = ""
    load: int = 0

    def to_json(self) -> bytes:
        return _compact({"name": self.name, "description": self.description, "url": self.url,
                         "capacity": self.capacity, "price_per_unit": self.price_per_unit,
                         "price_scaling": self.price_scaling, "currency": self.currency,
                         "token": self.token}).encode()


def parse_external_capability(data: bytes | str) -> ExternalCapability:
    """A registration body; price_scaling 0 becomes 1 (go's RegisterCapability)."""
    f = _fields(_load_object(data, "core.ExternalCapability"), "ExternalCapability",
                {"name": str, "description": str, "url": str, "capacity": int, "price_per_unit": int,
                 "price_scaling": int, "currency": str, "token": str})
    return ExternalCapability(
        name=f.get("name", ""), url=f.get("url", ""), description=f.get("description", ""),
        capacity=f.get("capacity", 0), price_per_unit=f.get("price_per_unit", 0),
        price_scaling=f.get("price_scaling", 0) or 1, currency=f.get("currency", ""), token=f.get("token", ""))


def registered_price(cap: ExternalCapability, feed: PriceFeed | None = None) -> Fraction:
    """The capability's price per second in wei (price_per_unit / price_scaling, converted)."""
    return byoc_price(cap.price_per_unit, cap.price_scaling, cap.currency, feed)


class ExternalCapabilities:
    """The orchestrator's registered capabilities by name (go's ExternalCapabilities with the
    orchestrator's Reserve/Free/Check methods)."""

    def __init__(self) -> None:
        self._caps: dict[str, ExternalCapability] = {}

    def register(self, cap: ExternalCapability) -> ExternalCapability:
        """Add or replace `cap` (a replacement starts with no load, as go's new entry does)."""
        cap = replace(cap, load=0)
        self._caps[cap.name] = cap
        return cap

    def remove(self, name: str) -> bool:
        """Forget `name`; whether it was registered (go answers "ok" either way)."""
        return self._caps.pop(name, None) is not None

    def get(self, name: str) -> ExternalCapability | None:
        return self._caps.get(name)

    def names(self) -> list[str]:
        return sorted(self._caps)

    def url(self, name: str) -> str:
        cap = self._caps.get(name)
        return cap.url if cap is not None else ""

    def available(self, name: str) -> int:
        """capacity − load, at least 0; 0 for an unknown capability."""
        cap = self._caps.get(name)
        return max(0, cap.capacity - cap.load) if cap is not None else 0

    def reserve(self, name: str) -> bool:
        """One more job in flight; False only when `name` is unknown (capacity is not enforced)."""
        cap = self._caps.get(name)
        if cap is None:
            return False
        cap.load += 1
        return True

    def free(self, name: str) -> None:
        """One job fewer in flight; never below 0 (go's load goes negative when a job of a
        replaced registration ends, overstating the capacity it advertises)."""
        cap = self._caps.get(name)
        if cap is not None and cap.load > 0:
            cap.load -= 1

    def __contains__(self, name: object) -> bool:
        return name in self._caps

    def __len__(self) -> int:
        return len(self._caps)


def job_price_info(prices: PriceTable | None, sender: str, capability: str, *,
                   tx_cost_multiplier: TxCostMultiplier = None, auto_adjust: bool = True) -> PriceInfo:
    """The orchestrator's JobPriceInfo: 0/1 offchain (no price table), else the capability's
    price for `sender` with the redemption overhead, 3 decimals, cut to whole wei."""
    if prices is None:
        return PriceInfo(0, 1)
    return prices.job_price_info(sender, capability, tx_cost_multiplier=tx_cost_multiplier,
                                 auto_adjust=auto_adjust)


class WorkerOutcome(Enum):
    """How the orchestrator's request to a worker ended."""

    OK = "ok"
    ERROR_STATUS = "error_status"  # the worker answered > 399 (other than 401)
    UNAUTHORIZED = "unauthorized"  # 401: the worker no longer accepts our token
    CONNECTION_ERROR = "connection_error"  # refused, reset, unreachable
    TIMEOUT = "timeout"  # timeout_seconds passed
    CANCELLED = "cancelled"  # the gateway went away
    READ_ERROR = "read_error"  # the answer broke off


def removes_capability(outcome: WorkerOutcome) -> bool:
    """go removes a capability (its worker must register again) on a connection error or a 401;
    a timeout or cancellation does not say the worker is gone."""
    return outcome in (WorkerOutcome.CONNECTION_ERROR, WorkerOutcome.UNAUTHORIZED)


def worker_url(capability_url: str, path: str) -> str:
    """Where the orchestrator forwards POST /process/request/{sub}: the capability URL + "/" + sub
    (the URL alone when there is no sub-path)."""
    sub = path.removeprefix(REQUEST_PATH_PREFIX)
    return capability_url + "/" + sub if sub else capability_url


# ----------------------------------------------------------------- the orchestrator's balance

def compute_charge(elapsed_seconds: float, price: Fraction) -> Fraction:
    """ceil(elapsed seconds) × price per second: what a job costs on either side."""
    return math.ceil(max(0.0, elapsed_seconds)) * Fraction(price)


def has_minimum_balance(balance: Fraction | None, price: Fraction) -> bool:
    """The orchestrator works for a paying job only with a minute of credit in hand (free
    capabilities always)."""
    if price <= 0:
        return True
    return balance is not None and balance >= ORCH_MIN_BALANCE_SECONDS * price


def token_balance(balance: Fraction | None) -> int:
    """The balance a job token reports: floor, 0 when none or beyond int64 (go's PriceToInt64)."""
    if balance is None:
        return 0
    whole = balance.numerator // balance.denominator
    return whole if _INT64_MIN <= whole <= _INT64_MAX else 0


def balance_header(balance: Fraction | None) -> str:
    """The Livepeer-Balance header: the (sender, capability) balance as a whole number."""
    return float_string(balance or 0, 0)


def sse_balance_event(balance: Fraction | None) -> str:
    """The event the orchestrator puts before a stream's [DONE]."""
    return f'data: {{"balance": {float_string(balance or 0, 3)}}}\n\n'


def sse_out_of_credit(price: Fraction, balance: Fraction | None) -> bool:
    """After an SSE debit: a priced job whose balance went negative ends with
    SSE_INSUFFICIENT_BALANCE (a missing balance does not end it)."""
    return price > 0 and balance is not None and balance < 0


SSE_INSUFFICIENT_BALANCE = 'event: insufficient balance\ndata: {"balance": 0}\n\ndata: [DONE]\n\n'
SSE_DONE = "data: [DONE]\n\n"


def is_done_line(line: str) -> bool:
    """go ends an SSE pass-through at the first line containing [DONE]."""
    return "[DONE]" in line


# ---------------------------------------------------------------------- the gateway's balance

def ticket_count_for_cost(cost: Fraction, ticket_ev: Fraction, timeout_seconds: int) -> int:
    """go's ticketCountForCost: cost / EV through a float64, rounded up; 0 when the EV is 0, one
    ticket a second when the ratio overflows, at most 600 (pm.maxSenderNonces)."""
    if ticket_ev == 0:
        return 0
    try:
        count = float(Fraction(cost) / Fraction(ticket_ev))
    except OverflowError:
        count = math.inf
    if math.isinf(count):
        return int(timeout_seconds)
    if count > MAX_TICKETS_PER_JOB:
        return MAX_TICKETS_PER_JOB
    return int(max(0, math.ceil(count)))


def sync_gateway_balance(balances: Balances, orchestrator: str, capability: str, reported: int | Fraction) -> Fraction:
    """Set the gateway's (orchestrator, capability) balance to what the orchestrator reported."""
    current = balances.balance(orchestrator, capability) or Fraction(0)
    diff = Fraction(reported) - current
    balances.credit(orchestrator, capability, diff)
    return Fraction(reported)


def tickets_for_job(balance: Fraction, price: Fraction, timeout_seconds: int, ticket_ev: Fraction) -> int:
    """How many tickets the gateway sends with a job: none while it holds two minutes of credit,
    else enough for the job's whole timeout (spec §6.2 step 4)."""
    if balance >= GATEWAY_MIN_BALANCE_SECONDS * price:
        return 0
    return ticket_count_for_cost(price * timeout_seconds, ticket_ev, timeout_seconds)


def credit_tickets(balances: Balances, orchestrator: str, capability: str, count: int, ticket_ev: Fraction) -> None:
    """The tickets' EV, credited locally when the payment is made."""
    balances.credit(orchestrator, capability, count * Fraction(ticket_ev))


def charge_gateway(balances: Balances, orchestrator: str, capability: str, elapsed_seconds: float,
                   price: Fraction) -> Fraction:
    """After a job answered: the local balance less ceil(elapsed) × price; the new balance."""
    balances.debit(orchestrator, capability, compute_charge(elapsed_seconds, price))
    return balances.balance(orchestrator, capability) or Fraction(0)


def filter_orchestrators(urls: Sequence[str], params: JobParameters, order: Iterable[int]) -> list[str]:
    """The orchestrators the gateway asks for a token, in `order` (a permutation of their indices
    from the caller's seeded generator): `exclude` dropped, and only `include` when it is set."""
    out = []
    for i in order:
        url = urls[i]
        if url in params.exclude:
            continue
        if params.include and url not in params.include:
            continue
        out.append(url)
    return out


# ------------------------------------------------------------------------ streams (byoc/stream_*.go)

class StreamBilling:
    """go's monitorOrchStream balance rule for one stream: after each STREAM_DEBIT_INTERVAL debit,
    a negative balance is first a warning, and the next negative balance removes the stream.
    Mirrored quirk: the warning is never forgotten, so after a top-up the next negative balance,
    however much later, removes the stream at once. A missing balance counts as 0 (go's
    getPaymentBalance)."""

    OK, WARN, STOP = "ok", "warn", "stop"

    def __init__(self) -> None:
        self.warned = False

    def after_debit(self, balance: Fraction | None) -> str:
        if balance is None or balance >= 0:
            return self.OK
        if not self.warned:
            self.warned = True
            return self.WARN
        return self.STOP


class StreamSwaps:
    """go's runStream guard against a stream bouncing between orchestrators: each time the stream
    loses its orchestrator, lost() says whether it must end instead of moving to the next token.
    The first loss is not a swap; a later loss that finds more than STREAM_MAX_SWAPS swaps made
    while still within STREAM_SWAP_WINDOW ends the stream. Mirrored quirk: go never moves lastSwap
    past the stream's start, so the window runs from the start (the 5th loss within a minute of
    it ends the stream; later, swaps are unlimited)."""

    def __init__(self, now: float) -> None:
        self.started = now
        self.losses = 0

    @property
    def swapping(self) -> bool:
        """go's firstProcessed: once a loss happened, each next token is fetched afresh."""
        return self.losses > 0

    def lost(self, now: float) -> bool:
        if self.losses - 1 > STREAM_MAX_SWAPS and now - self.started < STREAM_SWAP_WINDOW:
            return True
        self.losses += 1
        return False
