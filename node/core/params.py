"""The values that travel between gateway and orchestrator for one ticket batch (pm/ticket.go,
net/lp_rpc.proto): what the orchestrator advertises (TicketParams, TicketExpirationParams), what
the gateway adds per ticket (TicketSenderParams), and the batch they make together.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from .ticket import MAX_WIN_PROB, ZERO_HASH, Ticket


def int_bytes(value: int) -> bytes:
    """Minimal big-endian bytes of |value|, zero as b"" (Go's big.Int.Bytes drops the sign)."""
    value = abs(value)
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@lru_cache(maxsize=1024)  # a pure function of two ints, asked for on every payment with few distinct values
def ticket_ev(face_value: int, win_prob: int) -> Fraction:
    """face value × win probability, exact (pm/ticket.go ticketEV)."""
    return Fraction(face_value * win_prob, MAX_WIN_PROB)


@dataclass(frozen=True, slots=True)
class TicketExpirationParams:
    """The round a ticket is created in and that round's block hash: TicketBroker only redeems
    tickets whose creation round is recent (ticketValidityPeriod) and whose hash matches."""

    creation_round: int
    creation_round_block_hash: bytes

    @property
    def aux_data(self) -> bytes:
        if self.creation_round == 0 and self.creation_round_block_hash == ZERO_HASH:
            return b""
        return self.creation_round.to_bytes(32, "big") + self.creation_round_block_hash

    def is_unset(self) -> bool:
        """go's test for params an old orchestrator left empty (the gateway then uses its own)."""
        return self.creation_round == 0 or self.creation_round_block_hash == ZERO_HASH


@dataclass(frozen=True, slots=True)
class TicketParams:
    """An orchestrator's offer to one sender: face value, win probability, the commitment to its
    secret recipientRand, the seed it derived that from, when the offer expires (an L1 block), the
    price per pixel it was made at and the expiration params to put in the tickets."""

    recipient: str
    face_value: int
    win_prob: int
    recipient_rand_hash: bytes
    seed: int
    expiration_block: int
    price_per_pixel: Fraction | None = None  # not on the wire: the payment's expected price stands in
    expiration_params: TicketExpirationParams | None = None

    @property
    def ev(self) -> Fraction:
        return ticket_ev(self.face_value, self.win_prob)

    @property
    def session_id(self) -> str:
        """The gateway's PM session key: the recipientRandHash in 0x-hex (go's Hash.Hex())."""
        return "0x" + self.recipient_rand_hash.hex()


@dataclass(frozen=True, slots=True)
class TicketSenderParams:
    sender_nonce: int
    sig: bytes


@dataclass(frozen=True, slots=True)
class TicketBatch:
    """What one payment carries: shared params plus a nonce and signature per ticket."""

    params: TicketParams
    expiration_params: TicketExpirationParams
    sender: str
    sender_params: tuple[TicketSenderParams, ...]

    def tickets(self) -> list[Ticket]:
        return [make_ticket(self.params, self.expiration_params, self.sender, sp.sender_nonce) for sp in self.sender_params]


def make_ticket(params: TicketParams, expiration: TicketExpirationParams, sender: str, nonce: int) -> Ticket:
    """The on-chain ticket for one nonce of a batch (pm/ticket.go NewTicket)."""
    return Ticket(params.recipient, sender, params.face_value, params.win_prob, nonce,
                  params.recipient_rand_hash, expiration.creation_round, expiration.creation_round_block_hash)
