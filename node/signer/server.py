"""The remote signer's HTTP API (go-livepeer server/remote_signer.go):

- POST /sign-orchestrator-info → {address, signature}: the OrchestratorRequest sig over the
  checksummed address, for a gateway's GetOrchestrator.
- POST /generate-live-payment → {payment, segCreds, state}: tickets on the orchestrator's offer
  (node.core.payment.new_payment, the gateway's own rule) for the time since the last call. The
  per-stream state (balance, PM nonce, last update) lives with the client as an opaque JSON blob
  signed with the signer's key, so a client cannot forge credit: a bad sig is 400 "invalid sig".
  480 asks the client to refresh the OrchestratorInfo (expired ticket params or auth token, with
  the Livepeer-Orchestrator-URL header), 481 is a price over -maxPricePerUnit, 482 "no tickets"
  means the balance still covers the fee (skip this payment).
- GET /discover-orchestrators[?caps=<pipeline>/<model>] → [{address, score, capabilities}].

go's JSON: []byte fields are base64; RemotePaymentRequest's `ManifestID` and the state's `State`
and `Sig` keep their Go names (no json tags).
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from fractions import Fraction

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from node.core.balances import Balances, UpdateStatus, complete_update
from node.core.errors import PaymentError
from node.core.keccak import keccak
from node.core.live_payment import LIVE_INITIAL_UNITS
from node.core.payment import new_payment
from node.core.pricing import live_video_units
from node.core.sender import PARAMS_EXPIRY_BUFFER, Sender
from node.core.sessions import auth_token_needs_refresh
from node.net import wire
from node.net.auth import orchestrator_request_sig, sign, verify_sig
from node.net.headers import SegMetadata, encode_payment_header, encode_segment_header
from node.net.proto import lp_rpc_pb2 as pb

REFRESH_SESSION, PRICE_EXCEEDED, NO_TICKETS = 480, 481, 482  # go's HTTPStatus* for the signer
ORCHESTRATOR_URL_HEADER = "Livepeer-Orchestrator-URL"
MAX_TICKETS = 100  # per call
LIVE_PRELOAD_S = 10.0  # "live" type: seconds billed on a stream's first call (lv2v: LIVE_INITIAL_UNITS, 60 s)


@dataclass
class PaymentState:
    """go's RemotePaymentState (the fields this signer uses; LastUpdate as unix seconds)."""

    StateID: str
    OrchestratorAddress: str
    InitialPricePerUnit: int
    InitialPixelsPerUnit: int
    Type: str = ""
    PMSessionID: str = ""
    LastUpdate: float = 0.0
    SenderNonce: int = 0
    Balance: str = ""
    SequenceNumber: int = 0


class SignerError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers or {}


class RemoteSigner:
    """Signs with `private_key`; pays from `sender` (None: offchain, no payments). `clock` is unix
    seconds (auth tokens and the state's LastUpdate are wall-clock values)."""

    def __init__(self, address: str, private_key: bytes, sender: Sender | None, chain=None, *,
                 max_price: Fraction | None = None, clock: Callable[[], float] = time.time) -> None:
        self.address, self.key, self.sender, self.chain = address, private_key, sender, chain
        self.max_price, self.clock = max_price, clock
        self.balances = Balances(clock)

    def orchestrator_info_sig(self) -> dict:
        return {"address": self.address, "signature": "0x" + orchestrator_request_sig(self.address, self.key).hex()}

    def live_payment(self, body: dict) -> dict:
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
        job_type = body.get("type") or ""
        state = self._state(body.get("state") or {}, info.address, job_type, price)
        manifest_id = body.get("ManifestID") or ""
        if not manifest_id:
            if state.SequenceNumber:
                raise SignerError(400, "missing manifestID")
            manifest_id = secrets.token_hex(8)
        caps = None
        if body.get("capabilities"):
            try:
                caps = wire.capabilities_from_proto(pb.Capabilities.FromString(_b64(body["capabilities"], "capabilities")))
            except SignerError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise SignerError(400, f"invalid capabilities: {exc}") from None
        params = info.ticket_params
        stale = params.expiration_block - self.chain.last_seen_block() <= PARAMS_EXPIRY_BUFFER
        if stale or (info.auth_token is not None and auth_token_needs_refresh(self.clock(), info.auth_token.expiration)):
            raise SignerError(REFRESH_SESSION, "refresh session for remote signer",
                              {ORCHESTRATOR_URL_HEADER: info.transcoder})

        now = self.clock()
        elapsed = now - state.LastUpdate if state.LastUpdate else 0.0
        if job_type == "lv2v":
            units = live_video_units(elapsed) if elapsed > 0 else LIVE_INITIAL_UNITS
        elif job_type == "live":
            units = math.ceil(elapsed if elapsed > 0 else LIVE_PRELOAD_S)
        elif job_type:
            raise SignerError(400, "invalid job type")
        else:
            units = int(body.get("inPixels") or 0)
        if units <= 0:
            raise SignerError(400, "missing billable unit or job type")
        orch_price = Fraction(price.price_per_unit, price.pixels_per_unit)
        if self.max_price is not None and orch_price > self.max_price:
            raise SignerError(PRICE_EXCEEDED, f"orchestrator price {float(orch_price):.3f} exceeds maximum price "
                                              f"{float(self.max_price):.3f}")
        fee = units * Fraction(state.InitialPricePerUnit, state.InitialPixelsPerUnit)

        # the stream's balance comes back from the signed state, not from this process's memory
        if state.Balance:
            self.balances.reserve(info.address, state.StateID)
            self.balances.credit(info.address, state.StateID, Fraction(state.Balance))
        pm_session = self.sender.start_session(params, state.SenderNonce if state.PMSessionID == _pm_id(params) else 0)
        try:
            return self._pay(info, state, pm_session, fee, manifest_id, caps, now)
        finally:
            self.sender.cleanup_session(pm_session)
            self.balances.reserve(info.address, state.StateID)  # nothing stays here: the state carries it

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
        state.LastUpdate, state.PMSessionID = now, _pm_id(info.ticket_params)
        state.SenderNonce = self.sender.nonce(pm_session)
        blob = json.dumps(asdict(state), separators=(",", ":")).encode()
        return {"payment": encode_payment_header(payment), "segCreds": encode_segment_header(md, self.key),
                "state": {"State": base64.b64encode(blob).decode(),
                          "Sig": base64.b64encode(sign(blob, self.key)).decode()}}

    def _state(self, signed: dict, orch: str, job_type: str, price) -> PaymentState:
        blob, sig = _b64(signed.get("State"), "state"), _b64(signed.get("Sig"), "state")
        if not (blob or sig):
            return PaymentState(secrets.token_hex(8), orch, price.price_per_unit, price.pixels_per_unit, job_type)
        if not verify_sig(self.address, blob, sig):
            raise SignerError(400, "invalid sig")
        try:
            state = PaymentState(**json.loads(blob))
        except (ValueError, TypeError):
            raise SignerError(400, "invalid state") from None
        if state.OrchestratorAddress.lower() != orch.lower():
            raise SignerError(400, "orchestratorAddress mismatch")
        if state.Type and state.Type != job_type:
            raise SignerError(400, "job type mismatch")
        state.Type, state.SequenceNumber = job_type, state.SequenceNumber + 1
        return state


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


def create_signer_app(signer: RemoteSigner,
                      discover: Callable[[list[str]], Awaitable[list[dict]]] | None = None) -> FastAPI:
    """`discover(caps)` lists orchestrators offering every `<pipeline>/<model>` in caps (go's
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
            return signer.live_payment(body)
        except SignerError as exc:
            return error(exc.status, str(exc), exc.headers)

    if discover is not None:
        @app.get("/discover-orchestrators")
        async def discover_orchestrators(request: Request):
            caps = [c for c in request.query_params.getlist("caps") if c]
            found = await discover(caps)
            if not found:
                return error(503, "cache empty")
            return found

    return app
