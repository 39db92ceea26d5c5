"""The gateway as ticket sender: PM sessions, checks on the params an orchestrator offers, and
signed ticket batches (pm/sender.go; spec node.md §2.4).

A PM session is one offer (keyed by its recipientRandHash); its nonces count up from 1. Every new
offer an orchestrator returns starts a new session. Before signing, the offer is checked against
the gateway's limits and its own funds, in go's order, so an orchestrator cannot ask for tickets
the deposit cannot back.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from .chain_view import ChainView, SenderInfo
from .errors import PaymentError, SenderValidationError, TicketParamsExpired
from .params import TicketBatch, TicketExpirationParams, TicketParams, TicketSenderParams, make_ticket
from .ticket import sign_ticket

MAX_TICKET_EV = 3_000_000_000_000  # wei (-maxTicketEV)
MAX_TOTAL_EV = 20_000_000_000_000  # wei (-maxTotalEV)
DEPOSIT_MULTIPLIER = 1  # -depositMultiplier
PARAMS_EXPIRY_BUFFER = 1  # blocks: params this close to expiry are treated as expired


def _dp5(value: Fraction) -> str:
    """Go's big.Rat.FloatString(5): rounded half away from zero to 5 decimals."""
    scaled = abs(value) * 100_000
    q, r = divmod(scaled.numerator, scaled.denominator)
    if 2 * r >= scaled.denominator:
        q += 1
    sign = "-" if value < 0 and q else ""
    return f"{sign}{q // 100_000}.{q % 100_000:05d}"


@dataclass(slots=True)
class _Session:
    params: TicketParams
    nonce: int


class Sender:
    """Signs tickets from `address` with `private_key` for the offers it has accepted."""

    def __init__(self, address: str, private_key: bytes, chain: ChainView, *, max_ev: int = MAX_TICKET_EV,
                 max_total_ev: int = MAX_TOTAL_EV, deposit_multiplier: int = DEPOSIT_MULTIPLIER,
                 sign: Callable[[bytes, bytes], bytes] = sign_ticket) -> None:
        self.address = address
        self._sign = sign  # a simulation's KnownSignatures.sign; sign_ticket everywhere else
        self._key = bytes(private_key)
        self.chain = chain
        self.max_ev = Fraction(max_ev)
        self.max_total_ev = Fraction(max_total_ev)
        self.deposit_multiplier = deposit_multiplier
        self._sessions: dict[str, _Session] = {}

    def start_session(self, params: TicketParams, nonce: int = 0) -> str:
        session_id = params.session_id
        self._sessions[session_id] = _Session(params, nonce)
        return session_id

    def cleanup_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def cleanup_expired(self, block: int) -> int:
        """Forget the sessions on offers expired by `block` (no ticket on them can be accepted any
        more; the runtime renews an expiring offer before paying on it); returns how many."""
        expired = [s for s, session in self._sessions.items() if session.params.expiration_block <= block]
        for session_id in expired:
            del self._sessions[session_id]
        return len(expired)

    def _session(self, session_id: str) -> _Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise PaymentError(f"cannot find session with id {session_id}") from None

    def ev(self, session_id: str) -> Fraction:
        return self._session(session_id).params.ev

    def nonce(self, session_id: str) -> int:
        return self._session(session_id).nonce

    def validate_sender(self, info: SenderInfo) -> None:
        if info.withdraw_round != 0 and info.withdraw_round <= self.chain.last_initialized_round() + 1:
            raise SenderValidationError("unable to validate sender: deposit and reserve is set to unlock soon")
        if info.reserve.funds_remaining == 0:
            raise SenderValidationError("no sender reserve")
        if info.deposit == 0:
            raise SenderValidationError("no sender deposit")

    def validate_ticket_params(self, params: TicketParams | None, num_tickets: int = 1) -> None:
        """Raise what go's validateTicketParams returns, in its order; free offers pass early."""
        if params is None:
            raise PaymentError("ticketParams is nil")
        if params.expiration_block == 0:
            raise PaymentError("ticketParams expiration block is 0")
        if params.expiration_block - self.chain.last_seen_block() <= PARAMS_EXPIRY_BUFFER:
            raise TicketParamsExpired()
        ev = params.ev
        # exact comparisons by cross-multiplying (denominators are positive): no Fraction made
        n, d = ev.numerator, ev.denominator
        if n <= 0:
            return
        if n >= params.face_value * d:
            raise PaymentError(f"ticket faceValue too low faceValue={params.face_value}")
        max_ev = self.max_ev
        if n * max_ev.denominator > max_ev.numerator * d:
            raise PaymentError(f"ticket EV {_dp5(ev)} > max ticket EV {_dp5(self.max_ev)}")
        info = self.chain.sender_info(self.address)
        self.validate_sender(info)
        max_total = self.max_total_ev
        if n * num_tickets * max_total.denominator > max_total.numerator * d:
            total = ev * num_tickets
            raise PaymentError(f"total ticket EV {_dp5(total)} for {num_tickets} tickets > max total ticket EV {_dp5(self.max_total_ev)}")
        max_face_value = info.deposit // self.deposit_multiplier
        if params.face_value > max_face_value:
            raise PaymentError(f"ticket faceValue {params.face_value} > max faceValue {max_face_value}")

    def own_expiration_params(self) -> TicketExpirationParams:
        round_ = self.chain.last_initialized_round()
        return TicketExpirationParams(round_, self.chain.block_hash_for_round(round_))

    def create_ticket_batch(self, session_id: str, size: int) -> TicketBatch:
        """`size` tickets on the session's offer, nonces continuing from the last one signed."""
        session = self._session(session_id)
        params = session.params
        self.validate_ticket_params(params, size)
        expiration = params.expiration_params
        if expiration is None or expiration.is_unset():  # an orchestrator that sent none
            expiration = self.own_expiration_params()
        signed = []
        for _ in range(size):
            session.nonce += 1
            ticket = make_ticket(params, expiration, self.address, session.nonce)
            signed.append(TicketSenderParams(session.nonce, self._sign(ticket.hash(), self._key)))
        return TicketBatch(params, expiration, self.address, tuple(signed))
