"""The orchestrator as ticket recipient: the params it offers each sender and the checks on each
ticket it receives (pm/recipient.go, pm/validator.go; spec node.md §2.3, §2.5).

Fairness rests on a commit-reveal. The recipient derives `recipientRand` as an HMAC, under a
secret only it knows, of everything the offer fixes (seed, sender, face value, win probability,
expiration block, price, creation round), and publishes only its hash. A sender therefore cannot
predict which of its signatures win, and the recipient cannot change its secret afterwards: on
receipt it re-derives the rand from the ticket's fields, so any drift between offer and payment is
a fatal "invalid recipientRand". Each (rand, nonce) may be used once; a rand is revealed on-chain
only after its params expire, so tickets on it can no longer be accepted.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Callable

from .chain_view import ChainView
from .errors import FatalReceiveError, InsufficientSenderReserve, PaymentError, TicketParamsExpired
from .params import TicketExpirationParams, TicketParams, int_bytes
from .sender_monitor import SenderMonitor
from .ticket import MAX_WIN_PROB, ZERO_HASH, InvalidSignature, Ticket, is_winning, recipient_rand_hash, recover_signer

DEFAULT_TICKET_EV = 8_000_000_000  # wei (-ticketEV)
REDEEM_GAS_L1 = 350_000
REDEEM_GAS_ARBITRUM = 1_200_000
TX_COST_MULTIPLIER = 100
EV_MULTIPLIER = 100  # face value = EV × this when the transaction cost is tiny
AVG_GAS_PRICE = 3_000_000_000  # wei; go's hard-coded "average" for the face value floor
PARAMS_EXPIRATION_BLOCKS = 40  # L1 blocks an offer stays valid
MAX_SENDER_NONCES = 600  # per recipientRand
ZERO_ADDRESS = "0x" + "00" * 20


# Parts of the rand's HMAC message a node makes again and again (few senders, few prices).
@lru_cache(maxsize=4096)
def _address_bytes(address: str) -> bytes:
    return bytes.fromhex(address[2:])


@lru_cache(maxsize=4096)
def _price_bytes(numerator: int, denominator: int) -> bytes:
    return int_bytes(numerator) + int_bytes(denominator)


@dataclass(frozen=True, slots=True)
class ReceivedTicket:
    """What receiving one ticket decided: whether it won (and the rand that proves it) and the
    error, if any (`error.fatal` rejects the rest of the payment)."""

    won: bool
    recipient_rand: int
    error: PaymentError | None = None


@dataclass(slots=True)
class _Nonces:
    expiration_block: int
    seen: set[int] = field(default_factory=set)


class Recipient:
    """Issues TicketParams and receives tickets for one orchestrator address.

    `secret` is the 32-byte HMAC key (random per process in go-livepeer); `rand_bytes(n)` supplies
    the per-offer seeds — the runtime decides where randomness comes from.
    """

    def __init__(self, address: str, secret: bytes, chain: ChainView, monitor: SenderMonitor,
                 rand_bytes: Callable[[int], bytes], *, ev: int = DEFAULT_TICKET_EV,
                 redeem_gas: int = REDEEM_GAS_L1, tx_cost_multiplier: int = TX_COST_MULTIPLIER,
                 max_face_value: int = 0, recover: Callable[[Ticket, bytes], str] = recover_signer) -> None:
        if len(secret) != 32:
            raise ValueError("recipient secret must be 32 bytes")
        self.address = address
        self.chain = chain
        self.monitor = monitor
        self.ev = ev
        self.redeem_gas = redeem_gas
        self.tx_cost_multiplier_target = tx_cost_multiplier
        self.max_face_value = max_face_value
        self._secret = bytes(secret)
        self._rand_bytes = rand_bytes
        self._recover = recover  # a simulation's KnownSignatures.recover; recover_signer everywhere else
        self._nonces: dict[int, _Nonces] = {}
        self._last_rand: tuple[tuple, int] | None = None  # the tickets of one payment share a rand
        # the rands of the offers made and not yet expired, by the fields that derive them (the
        # HMAC is a pure function of those: a hit is the value re-deriving would give)
        self._offered: dict[tuple, int] = {}
        self._rand_hashes: dict[int, bytes] = {}  # their commitments, made with the offer (no keccak per ticket)

    # ------------------------------------------------------------------ the offer

    def tx_cost(self, gas_price: int | None = None) -> int:
        return self.redeem_gas * (self.chain.gas_price() if gas_price is None else gas_price)

    def face_value(self, sender: str) -> int:
        """100 × redemption cost (or 100 × EV), capped by the sender's max float and the operator's
        maximum; refused when what is left cannot pay for a redemption."""
        tx_cost = self.tx_cost()
        fv = tx_cost * self.tx_cost_multiplier_target
        if fv < self.ev:
            fv = self.ev * EV_MULTIPLIER
        fv = min(fv, self.monitor.max_float(sender))
        if self.max_face_value > 0:
            fv = min(fv, self.max_face_value)
        if fv < self.ev:
            raise InsufficientSenderReserve()
        # Either the current gas price or a typical one must leave the ticket worth redeeming.
        if fv < tx_cost and fv < self.tx_cost(AVG_GAS_PRICE):
            raise InsufficientSenderReserve()
        return fv

    def win_prob(self, face_value: int) -> int:
        """EV × ⌈MAX / faceValue⌉, so that faceValue × winProb / MAX is the EV (rounded up)."""
        if face_value == 0:
            return 0
        if face_value == self.ev:
            return MAX_WIN_PROB
        return self.ev * -(-MAX_WIN_PROB // face_value)

    def tx_cost_multiplier(self, sender: str, face_value: int | None = None) -> Fraction:
        """faceValue / txCost for this sender: what price auto-adjustment adds 1/x of. A caller that
        also makes the offer's ticket params at the same instant may pass the face value it got
        from `face_value` (the same number: computing it once saves the chain reads)."""
        fv = self.face_value(sender) if face_value is None else face_value
        tx_cost = self.tx_cost()
        return Fraction(fv, tx_cost) if tx_cost > 0 else Fraction(0)

    def expiration_params(self) -> TicketExpirationParams:
        round_ = self.chain.last_initialized_round()
        block_hash = self.chain.block_hash_for_round(round_)
        if block_hash == ZERO_HASH and round_ > 0:  # Arbitrum returns zero for some L1 blocks: use the round before
            round_ -= 1
            block_hash = self.chain.block_hash_for_round(round_)
        if block_hash == ZERO_HASH:  # round 0 of a fresh chain: a ticket of it could never be redeemed
            raise PaymentError(f"round {round_} has no block hash: no ticket can be created until a round is initialized")
        return TicketExpirationParams(round_, block_hash)

    def rand(self, seed: int, sender: str, face_value: int, win_prob: int, expiration_block: int,
             price: Fraction, expiration: TicketExpirationParams) -> int:
        msg = b"".join((
            int_bytes(seed), _address_bytes(sender), int_bytes(face_value), int_bytes(win_prob),
            int_bytes(expiration_block), _price_bytes(price.numerator, price.denominator), expiration.aux_data,
        ))
        return int.from_bytes(hmac.digest(self._secret, msg, "sha256"), "big")  # one-shot C HMAC-SHA256

    def ticket_params(self, sender: str, price: Fraction, face_value: int | None = None) -> TicketParams:
        """A fresh offer to `sender` at `price` wei per pixel (free when the price is not positive);
        `face_value`: `face_value(sender)` when the caller already has it for this instant."""
        seed = int.from_bytes(self._rand_bytes(32), "big")
        if price.numerator <= 0:
            fv = 0
        else:
            fv = self.face_value(sender) if face_value is None else face_value
        expiration_block = self.chain.last_seen_block() + PARAMS_EXPIRATION_BLOCKS
        win_prob = self.win_prob(fv)
        expiration = self.expiration_params()
        rand = self.rand(seed, sender, fv, win_prob, expiration_block, price, expiration)
        self._offered[(seed, sender, fv, win_prob, expiration_block, price.numerator, price.denominator,
                       expiration.creation_round, expiration.creation_round_block_hash)] = rand
        rand_hash = self._rand_hashes[rand] = recipient_rand_hash(rand)
        return TicketParams(self.address, fv, win_prob, rand_hash, seed, expiration_block, price, expiration)

    # ------------------------------------------------------------------ receiving

    def _rand_of(self, ticket: Ticket, seed: int, expiration_block: int, price: Fraction) -> int:
        """The recipientRand of the offer a ticket claims to be on (remembered for offers made here)."""
        key = (seed, ticket.sender, ticket.face_value, ticket.win_prob, expiration_block, price.numerator,
               price.denominator, ticket.creation_round, ticket.creation_round_block_hash)
        rand = self._offered.get(key)
        if rand is None and self._last_rand is not None and self._last_rand[0] == key:
            rand = self._last_rand[1]
        if rand is None:
            expiration = TicketExpirationParams(ticket.creation_round, ticket.creation_round_block_hash)
            rand = self.rand(seed, ticket.sender, ticket.face_value, ticket.win_prob, expiration_block, price, expiration)
            self._last_rand = (key, rand)
        return rand

    def wins(self, ticket: Ticket, sig: bytes, seed: int, expiration_block: int, price: Fraction) -> bool:
        """Whether the ticket's draw wins: receive_ticket's draw, with nothing validated or recorded."""
        return is_winning(sig, self._rand_of(ticket, seed, expiration_block, price), ticket.win_prob)

    def receive_ticket(self, ticket: Ticket, sig: bytes, seed: int, expiration_block: int,
                       price: Fraction) -> ReceivedTicket:
        """Validate one ticket in go's order; see ReceivedTicket for what comes back."""
        rand = self._rand_of(ticket, seed, expiration_block, price)
        try:
            self.monitor.validate_sender(ticket.sender)
        except FatalReceiveError as exc:
            return ReceivedTicket(False, rand, exc)
        error = self._validate(ticket, sig, rand)
        if error is not None:
            return ReceivedTicket(False, rand, error)
        won = is_winning(sig, rand, ticket.win_prob)
        error = self._use_nonce(rand, ticket, expiration_block)
        if error is None and expiration_block <= self.chain.last_seen_block():
            error = TicketParamsExpired()
        return ReceivedTicket(won, rand, error)

    def _validate(self, ticket: Ticket, sig: bytes, rand: int) -> PaymentError | None:
        if ticket.recipient != self.address:
            return FatalReceiveError("invalid ticket recipient")
        if ticket.sender == ZERO_ADDRESS:
            return FatalReceiveError("invalid ticket sender")
        rand_hash = self._rand_hashes.get(rand)
        if (rand_hash or recipient_rand_hash(rand)) != ticket.recipient_rand_hash:
            return FatalReceiveError("invalid recipientRand for ticket recipientRandHash")
        try:
            signer = self._recover(ticket, sig)
        except InvalidSignature:
            signer = None
        if signer != ticket.sender:
            return PaymentError("invalid ticket signature")  # non-fatal, as in go
        return None

    def _use_nonce(self, rand: int, ticket: Ticket, expiration_block: int) -> PaymentError | None:
        nonces = self._nonces.get(rand)
        if nonces is None:
            nonces = self._nonces[rand] = _Nonces(expiration_block)
        elif ticket.sender_nonce in nonces.seen:
            return PaymentError(f"invalid ticket senderNonce: already seen sender={ticket.sender} nonce={ticket.sender_nonce}")
        if len(nonces.seen) >= MAX_SENDER_NONCES:
            return PaymentError(f"invalid ticket senderNonce: too many values sender={ticket.sender} nonce={ticket.sender_nonce}")
        nonces.seen.add(ticket.sender_nonce)
        return None

    def on_block(self, block: int) -> None:
        """Forget the nonces of offers that expired by `block` (their tickets fail as expired anyway)."""
        expired = [rand for rand, n in self._nonces.items() if n.expiration_block <= block]
        for rand in expired:
            del self._nonces[rand]
        expired_offers = [key for key in self._offered if key[4] <= block]  # key[4]: expiration block
        for key in expired_offers:
            self._rand_hashes.pop(self._offered.pop(key), None)
