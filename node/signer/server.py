"""The remote signer's HTTP API (go-livepeer server/remote_signer.go):

- POST /sign-orchestrator-info → {address, signature}: the OrchestratorRequest sig over the
  checksummed address, for a gateway's GetOrchestrator.
- POST /generate-live-payment → {payment, segCreds, state}: tickets on the orchestrator's offer
  (node.core.payment.new_payment, the gateway's own rule) for the job's billable units: `lv2v`
  pixels since the last call (60 s on the first), `live` seconds (10 on the first), `fixed` one
  unit, or `inPixels` with no type. The per-stream state (balance, PM nonce, last update, auth) lives
  with the client as an opaque JSON blob signed with the signer's key, so a client cannot forge
  credit: a bad sig is 400 "invalid sig". 480 asks the client to refresh the OrchestratorInfo
  (expired ticket params or auth token, with the Livepeer-Orchestrator-URL header); 481 is a price
  over a ceiling (the signer's -maxPricePerUnit, the request's `maxPrice`, the session's initial
  price, the auth webhook's `maxPrice`: the lowest counts); 482 "no tickets" means the balance
  still covers the fee (skip this payment).
- The optional auth webhook (-remoteSignerWebhookUrl): called with the request's headers and the
  updated state before that state is signed; its `status` is the answer (200 goes on), `expiry`
  lets later calls skip it until then, `auth_id` (or the request's Signer-Auth-Id) is pinned in the
  state and may not change.
- GET /discover-orchestrators[?caps=<pipeline>/<model>] → [{address, score, capabilities}].

go's JSON: []byte fields are base64; RemotePaymentRequest's `ManifestID` and the state's fields
keep their Go names (no json tags); the state's LastUpdate is a Go time (RFC 3339).
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from fractions import Fraction

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from node.core.balances import Balances, UpdateStatus, complete_update
from node.core.errors import PaymentError, TicketParamsExpired
from node.core.keccak import keccak
from node.core.live_payment import LIVE_INITIAL_UNITS
from node.core.payment import new_payment
from node.core.pricing import live_video_units
from node.core.sender import Sender
from node.core.sessions import auth_token_needs_refresh
from node.net import wire
from node.net.auth import orchestrator_request_sig, sign, verify_sig
from node.net.headers import SegMetadata, encode_payment_header, encode_segment_header
from node.net.proto import lp_rpc_pb2 as pb

REFRESH_SESSION, PRICE_EXCEEDED, NO_TICKETS = 480, 481, 482  # go's HTTPStatus* for the signer
ORCHESTRATOR_URL_HEADER = "Livepeer-Orchestrator-URL"
AUTH_ID_HEADER = "Signer-Auth-Id"
MAX_TICKETS = 100  # per call
LIVE_PRELOAD_S = 10.0  # "live" type: seconds billed on a stream's first call (lv2v: LIVE_INITIAL_UNITS, 60 s)
WEBHOOK_TIMEOUT = 5.0  # s, go's client for the auth webhook
# the unit a maxPrice must be given in, per payment type (go's parseRemotePaymentMaxPrice)
PRICE_UNITS = {"live": "seconds", "lv2v": "720p-pixel-seconds", "fixed": "fixed"}
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time


@dataclass
class PaymentState:
    """go's RemotePaymentState, its fields in go's order (LastUpdate: a Go time in RFC 3339)."""

    StateID: str = ""
    PMSessionID: str = ""
    LastUpdate: str = ZERO_TIME
    OrchestratorAddress: str = ""
    App: str = ""
    AuthExpiry: int = 0
    SenderNonce: int = 0
    Balance: str = ""
    InitialPricePerUnit: int = 0
    InitialPixelsPerUnit: int = 0
    Type: str = ""
    SequenceNumber: int = 0
    AuthID: str = ""


def go_time(unix: float) -> str:
    """A Go time.Time's JSON (RFC 3339, UTC, trailing zeros of the fraction trimmed)."""
    t = datetime.fromtimestamp(unix, UTC)
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def unix_time(value: str) -> float:
    """Unix seconds of a Go time's JSON; 0 for Go's zero time. ValueError if it is none."""
    m = _RFC3339.fullmatch(value)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    if value == ZERO_TIME:
        return 0.0
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    base = datetime.fromisoformat(m.group(1) + zone).timestamp()
    return base + (int(m.group(2)) / 10 ** len(m.group(2)) if m.group(2) else 0.0)


def parse_max_price(max_price, job_type: str) -> Fraction | None:
    """go's parseRemotePaymentMaxPrice: {price, currency, unit} → wei per unit (None: not given).
    ValueError with go's message."""
    if max_price is None:
        return None
    if not isinstance(max_price, dict):
        raise ValueError("json: cannot unmarshal into LiveRunnerPriceInfo")  # noqa: TRY004 - the caller's 400
    raw, price = max_price.get("price"), Fraction(0)
    if isinstance(raw, (int, float, str)) and not isinstance(raw, bool):
        with contextlib.suppress(ValueError, ZeroDivisionError):
            price = Fraction(str(raw).strip())
    if price <= 0:
        raise ValueError("maxPrice.price must be a positive decimal")
    if str(max_price.get("currency") or "").strip().lower() != "wei":
        raise ValueError("maxPrice.currency must be wei")
    unit = PRICE_UNITS.get(job_type)
    if unit is None:
        raise ValueError("maxPrice requires payment type live, lv2v, or fixed")
    if str(max_price.get("unit") or "").strip().lower() != unit:
        raise ValueError(f"maxPrice.unit must be {unit} for payment type {job_type}")
    return price


def check_price(price: Fraction, *ceilings: tuple[str, Fraction | None]) -> None:
    """go's checkRemotePaymentPrice: the lowest of the given ceilings; over it is 481."""
    given = [(limit, source) for source, limit in ceilings if limit is not None]
    if not given:
        return
    limit, source = min(given, key=lambda c: c[0])
    if price > limit:
        raise SignerError(PRICE_EXCEEDED, f"orchestrator price {_float3(price)} exceeds {source} ceiling "
                                          f"{_float3(limit)}")


def _float3(x: Fraction) -> str:
    """big.Rat.FloatString(3): rounded half away from zero to 3 decimals."""
    n = math.floor(abs(x) * 1000 + Fraction(1, 2))
    return f"{'-' if x < 0 and n else ''}{n // 1000}.{n % 1000:03d}"


def canonical_header(name: str) -> str:
    """Go's CanonicalMIMEHeaderKey ("signer-auth-id" → "Signer-Auth-Id")."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


class SignerError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers or {}


class RemoteSigner:
    """Signs with `private_key`; pays from `sender` (None: offchain, no payments). `clock` is unix
    seconds (auth tokens, the state's LastUpdate and the webhook's expiry are wall-clock values).
    `webhook_url` (go's -remoteSignerWebhookUrl) authorises each payment, called with
    `webhook_headers` through `http` (an httpx.AsyncClient; one is made when not given)."""

    def __init__(self, address: str, private_key: bytes, sender: Sender | None, chain=None, *,
                 max_price: Fraction | None = None, clock: Callable[[], float] = time.time,
                 webhook_url: str | None = None, webhook_headers: Mapping[str, str] | None = None,
                 http: httpx.AsyncClient | None = None) -> None:
        self.address, self.key, self.sender, self.chain = address, private_key, sender, chain
        self.max_price, self.clock = max_price, clock
        self.webhook_url, self.webhook_headers = webhook_url or None, dict(webhook_headers or {})
        self.http = http
        self.balances = Balances(clock)

    def orchestrator_info_sig(self) -> dict:
        return {"address": self.address, "signature": "0x" + orchestrator_request_sig(self.address, self.key).hex()}

    async def live_payment(self, body: dict, headers: Mapping[str, str] | None = None) -> dict:
        """go's GenerateLivePayment: tickets and the updated state, authorised by the webhook (when
        one is set) before the state is signed. Raises SignerError with go's status and message."""
        headers = headers or {}
        payment, seg_creds, state, orch_price = self._tickets(body)
        auth = await self._authorize(headers, state)
        if auth is not None:
            state.AuthExpiry = auth.get("expiry") or 0
            if auth.get("maxPrice") is not None:
                try:
                    ceiling = parse_max_price(auth["maxPrice"], state.Type)
                except ValueError as exc:
                    raise SignerError(502, f"signer auth invalid maxPrice: {exc}") from None
                check_price(orch_price, ("auth webhook maxPrice", ceiling))
        auth_id = next((v for k, v in headers.items() if k.lower() == AUTH_ID_HEADER.lower()), "")
        if auth is not None and auth.get("auth_id"):
            auth_id = auth["auth_id"]
        if auth_id and state.AuthID != auth_id:
            if state.AuthID:
                raise SignerError(500, "remote signer auth ID changed")
            state.AuthID = auth_id
        blob = json.dumps(asdict(state), separators=(",", ":")).encode()
        return {"payment": payment, "segCreds": seg_creds,
                "state": {"State": base64.b64encode(blob).decode(),
                          "Sig": base64.b64encode(sign(blob, self.key)).decode()}}

    def _tickets(self, body: dict):
        """Everything up to the webhook: (payment header, seg creds, updated state, the orchestrator's price)."""
        if self.sender is None:
            raise SignerError(500, "LivepeerNode missing balances or sender")
        raw = _b64(body.get("orchestrator"), "orchestrator")
        if not raw:
            raise SignerError(400, "missing orchestrator")
        try:
            info = wire.orchestrator_info_from_proto(pb.OrchestratorInfo.FromString(raw))
        except Exception as exc:  # noqa: BLE001 - any undecodable protobuf is the client's error
            raise SignerError(400, f"invalid orchestrator info: {exc}") from None
        price = info.price_info
        if price is None or not price.price_per_unit or not price.pixels_per_unit:
            raise SignerError(400, "missing or zero priceInfo")
        if info.ticket_params is None:
            raise SignerError(400, "missing ticketParams in OrchestratorInfo")
        job_type, app = _text(body, "type"), _text(body, "app")
        has_state, state = self._state(body.get("state") or {}, info.address, app, job_type, price)
        manifest_id = _text(body, "ManifestID")
        if not manifest_id:
            if has_state:
                raise SignerError(400, "missing manifestID")
            manifest_id = secrets.token_hex(4)  # go's RandomManifestID
        caps = None
        if body.get("capabilities"):
            try:
                caps = wire.capabilities_from_proto(pb.Capabilities.FromString(_b64(body["capabilities"], "capabilities")))
            except SignerError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise SignerError(400, f"invalid capabilities: {exc}") from None
        params = info.ticket_params
        if self._should_refresh(info):
            raise SignerError(REFRESH_SESSION, "refresh session for remote signer",
                              {ORCHESTRATOR_URL_HEADER: info.transcoder})

        now = self.clock()
        last = unix_time(state.LastUpdate) or now
        elapsed = now - last
        units = _int(body.get("inPixels"), "inPixels")
        if job_type == "lv2v":
            units = live_video_units(elapsed) if elapsed > 0 else LIVE_INITIAL_UNITS
        elif job_type == "live":
            units = math.ceil(elapsed if elapsed > 0 else LIVE_PRELOAD_S)
        elif job_type == "fixed":
            units = 1
        elif job_type:
            raise SignerError(400, "invalid job type")
        if units <= 0:
            raise SignerError(400, "missing billable unit or job type")
        orch_price = Fraction(price.price_per_unit, price.pixels_per_unit)
        try:
            requested = parse_max_price(body.get("maxPrice"), job_type)
        except ValueError as exc:
            raise SignerError(400, str(exc)) from None
        initial = None
        if has_state:
            if state.InitialPricePerUnit <= 0 or state.InitialPixelsPerUnit <= 0:
                raise SignerError(400, "invalid initial price in state")
            initial = Fraction(state.InitialPricePerUnit, state.InitialPixelsPerUnit)
        check_price(orch_price, ("configured maximum price", self.max_price), ("request maxPrice", requested),
                    ("initial session price", initial))
        fee = units * Fraction(state.InitialPricePerUnit, state.InitialPixelsPerUnit)

        # the stream's balance comes back from the signed state, not from this process's memory
        if state.Balance:
            self.balances.reserve(info.address, state.StateID)
            self.balances.credit(info.address, state.StateID, Fraction(state.Balance))
        pm_session = self.sender.start_session(params, state.SenderNonce if state.PMSessionID == _pm_id(params) else 0)
        try:
            payment, md = self._pay(info, state, pm_session, fee, manifest_id, caps, now)
        finally:
            self.sender.cleanup_session(pm_session)
            self.balances.reserve(info.address, state.StateID)  # nothing stays here: the state carries it
        return encode_payment_header(payment), encode_segment_header(md, self.key), state, orch_price

    def _should_refresh(self, info) -> bool:
        """go's shouldRefreshSession: an auth token in its last 10% or expired ticket params ask for
        fresh OrchestratorInfo; any other ticket params the sender would refuse (no deposit, a face
        value over it, an EV over the maximum) is the client's 400."""
        def cannot_check(reason: str) -> SignerError:
            return SignerError(400, f"remote signer could not check whether to refresh session: {reason}")

        if info.auth_token is None:
            raise cannot_check("missing auth token")
        if auth_token_needs_refresh(self.clock(), info.auth_token.expiration):
            return True
        try:
            self.sender.validate_ticket_params(info.ticket_params)
        except TicketParamsExpired:
            return True
        except PaymentError as exc:
            raise cannot_check(str(exc)) from None
        return False

    def _pay(self, info, state: PaymentState, pm_session: str, fee: Fraction, manifest_id: str, caps, now: float):
        try:
            payment, update = new_payment(self.sender, self.balances, info.address, state.StateID, pm_session, fee,
                                          info.price_info)
        except PaymentError as exc:
            raise SignerError(PRICE_EXCEEDED if "more than doubled" in str(exc) else 500, str(exc)) from None
        if update.num_tickets <= 0:  # the balance still covers the fee: the client skips this payment
            complete_update(self.balances, update)
            raise SignerError(NO_TICKETS, "no tickets")
        if update.num_tickets > MAX_TICKETS:  # go: "prevent both draining funds and perf issues"
            complete_update(self.balances, update)
            raise SignerError(400, f"numTickets {update.num_tickets} exceeds maximum of {MAX_TICKETS}")
        update.debit, update.status = fee, UpdateStatus.RECEIVED_CHANGE
        complete_update(self.balances, update)
        md = SegMetadata(manifest_id, 0, keccak(b""), capabilities=caps, auth_token=info.auth_token)
        state.Balance = str(self.balances.balance(info.address, state.StateID))
        state.LastUpdate, state.PMSessionID = go_time(now), _pm_id(info.ticket_params)
        state.SenderNonce = self.sender.nonce(pm_session)
        return payment, md

    def _state(self, signed: dict, orch: str, app: str, job_type: str, price) -> tuple[bool, PaymentState]:
        if not isinstance(signed, dict):
            raise SignerError(400, "json: cannot unmarshal into RemotePaymentStateSig")
        blob, sig = _b64(signed.get("State"), "state"), _b64(signed.get("Sig"), "state")
        if not (blob or sig):
            return False, PaymentState(secrets.token_hex(4), OrchestratorAddress=orch, App=app,
                                       InitialPricePerUnit=price.price_per_unit,
                                       InitialPixelsPerUnit=price.pixels_per_unit, Type=job_type)
        if not verify_sig(self.address, blob, sig):
            raise SignerError(400, "invalid sig")
        try:
            state = PaymentState(**json.loads(blob))
            unix_time(state.LastUpdate)
        except (ValueError, TypeError):
            raise SignerError(400, "invalid state") from None
        if state.OrchestratorAddress.lower() != orch.lower():
            raise SignerError(400, "orchestratorAddress mismatch")
        if state.App != app:
            raise SignerError(400, "app mismatch")
        if state.Type and state.Type != job_type:
            raise SignerError(400, "job type mismatch")
        state.Type, state.SequenceNumber = job_type, state.SequenceNumber + 1
        return True, state

    async def _authorize(self, headers: Mapping[str, str], state: PaymentState) -> dict | None:
        """go's authLivePayment: None when there is no webhook or its last answer has not expired;
        else its answer (status 200), or SignerError with its status and reason."""
        if self.webhook_url is None or (state.AuthExpiry and self.clock() <= state.AuthExpiry):
            return None
        seen: dict[str, list[str]] = {}
        for name, value in headers.items():
            if name.lower() != "host":  # go's server moves Host out of r.Header
                seen.setdefault(canonical_header(name), []).append(value)
        client = self.http or httpx.AsyncClient()
        try:
            r = await client.post(self.webhook_url, json={"headers": seen, "state": asdict(state)},
                                  headers={"Content-Type": "application/json", **self.webhook_headers},
                                  timeout=WEBHOOK_TIMEOUT)
        except httpx.HTTPError as exc:
            raise SignerError(500, f"failed to call remote signer webhook: {exc!r}") from None
        finally:
            if client is not self.http:
                await client.aclose()
        if r.status_code != 200:  # the webhook service or the signer's set-up is broken
            raise SignerError(500, f"signer auth error status {r.status_code}")
        try:
            answer = r.json()
        except ValueError as exc:
            raise SignerError(500, f"signer auth invalid response: {exc}") from None
        if not isinstance(answer, dict):
            raise SignerError(500, "signer auth invalid response: json: cannot unmarshal into authResponse")
        for key, kind in (("expiry", int), ("auth_id", str), ("reason", str)):  # go's authResponse field types
            value = answer.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
                raise SignerError(500, f"signer auth invalid response: json: cannot unmarshal "
                                       f"{type(value).__name__} into authResponse.{key}")
        status = answer.get("status")
        # go checks only for a missing or non-positive status; one an HTTP server cannot send is invalid too
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
            raise SignerError(500, "signer auth invalid status")
        if status != 200:
            raise SignerError(status, str(answer.get("reason") or "") or
                              f"signer auth rejected request with status {status}")
        return answer


def _text(body: dict, key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SignerError(400, f"json: cannot unmarshal {type(value).__name__} into RemotePaymentRequest.{key} "
                               "of type string")
    return value


def _int(value, key: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise SignerError(400, f"json: cannot unmarshal {type(value).__name__} into RemotePaymentRequest.{key} "
                               "of type int64")
    return value


def _pm_id(params) -> str:
    """go keys the PM session by the recipientRandHash: a refreshed offer restarts the nonce."""
    return params.recipient_rand_hash.hex()


def _b64(value, name: str) -> bytes:
    if not value:
        return b""
    if not isinstance(value, str):
        raise SignerError(400, f"invalid {name}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignerError(400, f"illegal base64 data in {name}") from None


def create_signer_app(signer: RemoteSigner, discover: Callable[[], Awaitable[list[dict]]] | None = None) -> FastAPI:
    """`discover()` lists the orchestrators to offer ({address, score, capabilities}; go's
    -remoteDiscovery); without it the route is not served, as go."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"error": {"message": message}}, status_code=status, headers=headers)

    @app.post("/sign-orchestrator-info")
    async def sign_orchestrator_info():
        return signer.orchestrator_info_sig()

    @app.post("/generate-live-payment")
    async def generate_live_payment(request: Request):
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            return error(400, str(exc))
        if not isinstance(body, dict):
            return error(400, "json: cannot unmarshal into RemotePaymentRequest")
        try:
            return await signer.live_payment(body, request.headers)
        except SignerError as exc:
            return error(exc.status, str(exc), exc.headers)

    if discover is not None:
        @app.get("/discover-orchestrators")
        async def discover_orchestrators(request: Request):
            found = await discover()
            if not found:  # go: nothing cached yet
                return error(503, "cache empty")
            # go: `caps` may repeat; an orchestrator offering any one of them is listed
            caps = [c for c in request.query_params.getlist("caps") if c]
            return [o for o in found if not caps or any(c in o.get("capabilities", ()) for c in caps)]

    return app
