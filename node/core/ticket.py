"""The probabilistic-micropayment ticket (go-livepeer pm/ticket.go, livepeer/protocol TicketBroker).

A sender pays a recipient with lottery tickets: each ticket is worth `face_value` if it wins, and
it wins with probability `win_prob / (2**256 - 1)`. The recipient commits to a secret
`recipient_rand` by publishing `recipient_rand_hash = keccak256(uint256 recipient_rand)`; the
sender signs the ticket hash; the ticket wins iff `keccak256(sig || uint256 recipient_rand) <
win_prob`. Neither side can bias the draw alone: the sender does not know `recipient_rand` and the
recipient cannot change the sender's signature.

Everything here is pure: no chain access, no clock, no randomness. The byte layouts are the ones
the TicketBroker contract checks on-chain (spec contracts.md §7.2):

- aux_data = uint256 creation_round (32 bytes) || creation_round_block_hash (32 bytes);
- hash     = keccak256(recipient[20] || sender[20] || face_value[32] || win_prob[32] ||
             sender_nonce[32] || recipient_rand_hash[32] || aux_data)   (abi.encodePacked);
- signature = 65-byte r || s || v (v = 27/28, low s) over the Ethereum signed-message digest
             keccak256("\\x19Ethereum Signed Message:\\n32" || hash).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction

import coincurve
from eth_utils import to_canonical_address, to_checksum_address

from .keccak import keccak

MAX_WIN_PROB = 2**256 - 1  # winProb is a fraction of this: MAX_WIN_PROB always wins
SIGNATURE_LENGTH = 65
AUX_DATA_LENGTH = 64
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2  # OpenZeppelin ECDSA rejects s above this ("malleable" high-s)
ETH_SIGNED_MESSAGE_PREFIX = b"\x19Ethereum Signed Message:\n32"
ZERO_HASH = b"\x00" * 32

# Every ticket checksums and packs two addresses; a node sees few distinct ones, so cache them.
_checksum = lru_cache(maxsize=4096)(to_checksum_address)
_canonical = lru_cache(maxsize=4096)(to_canonical_address)


class InvalidSignature(ValueError):
    """A signature that TicketBroker would reject before comparing signers."""


def _uint256(value: int, name: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WIN_PROB:
        raise ValueError(f"{name} must be an integer in [0, 2**256), got {value!r}")
    return value.to_bytes(32, "big")


def _bytes32(value: bytes, name: str) -> bytes:
    value = bytes(value)
    if len(value) != 32:
        raise ValueError(f"{name} must be 32 bytes, got {len(value)}")
    return value


@dataclass(frozen=True)
class Ticket:
    """A ticket as the sender signs it and TicketBroker.redeemWinningTicket receives it.

    Addresses are stored as checksum strings (hex strings or 20 raw bytes are accepted);
    `recipient_rand_hash` and `creation_round_block_hash` are 32 raw bytes.
    """

    recipient: str
    sender: str
    face_value: int
    win_prob: int
    sender_nonce: int
    recipient_rand_hash: bytes
    creation_round: int
    creation_round_block_hash: bytes

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "recipient", _checksum(self.recipient))
        set_(self, "sender", _checksum(self.sender))
        # Tickets are made on the payment hot path: check the common case cheaply and leave the
        # descriptive errors (and conversions) to the slow helpers.
        for name in ("face_value", "win_prob", "sender_nonce", "creation_round"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= MAX_WIN_PROB:
                _uint256(value, name)
        for name in ("recipient_rand_hash", "creation_round_block_hash"):
            value = getattr(self, name)
            if type(value) is not bytes or len(value) != 32:
                set_(self, name, _bytes32(value, name))

    @property
    def aux_data(self) -> bytes:
        """uint256 creation_round || creation_round_block_hash (64 bytes).

        As in go-livepeer (pm/ticket.go AuxData), a ticket with creation round 0 and an all-zero
        block hash has empty aux data; such a ticket can never be redeemed on-chain anyway.
        """
        if self.creation_round == 0 and self.creation_round_block_hash == ZERO_HASH:
            return b""
        return self.creation_round.to_bytes(32, "big") + self.creation_round_block_hash

    def hash(self) -> bytes:
        """keccak256 of the packed encoding; equals TicketBroker.getTicketHash(self.as_abi_tuple())."""
        # The fields were range-checked on construction, so plain to_bytes is safe here.
        return keccak(b"".join((
            _canonical(self.recipient),
            _canonical(self.sender),
            self.face_value.to_bytes(32, "big"),
            self.win_prob.to_bytes(32, "big"),
            self.sender_nonce.to_bytes(32, "big"),
            self.recipient_rand_hash,
            self.aux_data,
        )))

    def as_abi_tuple(self) -> tuple:
        """The `(address,address,uint256,uint256,uint256,bytes32,bytes)` struct argument."""
        return (
            self.recipient,
            self.sender,
            self.face_value,
            self.win_prob,
            self.sender_nonce,
            self.recipient_rand_hash,
            self.aux_data,
        )

    @classmethod
    def from_abi_tuple(cls, value) -> "Ticket":
        """Inverse of `as_abi_tuple` (aux data must be empty or 64 bytes)."""
        recipient, sender, face_value, win_prob, sender_nonce, rand_hash, aux = value
        aux = bytes(aux)
        if aux == b"":
            creation_round, block_hash = 0, ZERO_HASH
        elif len(aux) == AUX_DATA_LENGTH:
            creation_round, block_hash = int.from_bytes(aux[:32], "big"), aux[32:]
        else:
            raise ValueError(f"aux data must be empty or {AUX_DATA_LENGTH} bytes, got {len(aux)}")
        return cls(recipient, sender, face_value, win_prob, sender_nonce, bytes(rand_hash), creation_round, block_hash)

    def win_prob_rat(self) -> Fraction:
        """The winning probability as an exact fraction."""
        return Fraction(self.win_prob, MAX_WIN_PROB)

    def expected_value(self) -> Fraction:
        """face_value * win_prob / (2**256 - 1), exact."""
        return self.face_value * self.win_prob_rat()


def recipient_rand_hash(recipient_rand: int) -> bytes:
    """keccak256(uint256 recipient_rand): the recipient's commitment."""
    return keccak(_uint256(recipient_rand, "recipient_rand"))


def _ticket_hash(ticket_or_hash: Ticket | bytes) -> bytes:
    if isinstance(ticket_or_hash, Ticket):
        return ticket_or_hash.hash()
    return _bytes32(ticket_or_hash, "ticket hash")


def signed_message_digest(ticket_or_hash: Ticket | bytes) -> bytes:
    """keccak256("\\x19Ethereum Signed Message:\\n32" || ticket hash): what the sender actually signs."""
    return keccak(ETH_SIGNED_MESSAGE_PREFIX + _ticket_hash(ticket_or_hash))


@lru_cache(maxsize=256)
def _signing_key(private_key: bytes) -> coincurve.PrivateKey:
    return coincurve.PrivateKey(private_key)


def sign_ticket(ticket_or_hash: Ticket | bytes, private_key: bytes | str) -> bytes:
    """65-byte r || s || v signature (v = 27/28, low s) over the ticket's signed-message digest."""
    if isinstance(private_key, str):
        private_key = bytes.fromhex(private_key.removeprefix("0x"))
    # libsecp256k1 signs deterministically (RFC 6979) and always yields low s.
    sig = _signing_key(bytes(private_key)).sign_recoverable(signed_message_digest(ticket_or_hash), hasher=None)
    return sig[:64] + bytes([sig[64] + 27])


def recover_signer(ticket_or_hash: Ticket | bytes, sig: bytes) -> str:
    """The checksum address that produced `sig`, with TicketBroker's acceptance rules.

    Raises InvalidSignature where the contract reverts before comparing signers: a length other
    than 65 ("INVALID_SIGNATURE_LENGTH"), a high s ("ECDSA: invalid signature 's' value") or a
    signature that recovers to no address ("ECDSA: invalid signature"; e.g. v not 27/28).
    """
    sig = bytes(sig)
    if len(sig) != SIGNATURE_LENGTH:
        raise InvalidSignature("INVALID_SIGNATURE_LENGTH")
    r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    if s > SECP256K1_HALF_N:
        raise InvalidSignature("ECDSA: invalid signature 's' value")
    if v not in (27, 28) or not 0 < r < SECP256K1_N or s == 0:
        raise InvalidSignature("ECDSA: invalid signature")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            sig[:64] + bytes([v - 27]), signed_message_digest(ticket_or_hash), hasher=None)
    except (ValueError, TypeError) as exc:
        raise InvalidSignature("ECDSA: invalid signature") from exc
    return _address_of_public_key(public_key.format(compressed=False))


@lru_cache(maxsize=4096)
def _address_of_public_key(uncompressed: bytes) -> str:
    """The address of a 65-byte uncompressed public key (a node sees few signers: cached)."""
    return _checksum(keccak(uncompressed[1:])[12:])


@lru_cache(maxsize=256)
def address_of_key(private_key: bytes) -> str:
    """The checksum address of a 32-byte private key."""
    return _address(coincurve.PrivateKey(private_key).public_key)


def _address(public_key: coincurve.PublicKey) -> str:
    """An Ethereum address: the last 20 bytes of keccak256 of the uncompressed public key."""
    return _checksum(keccak(public_key.format(compressed=False)[1:])[12:])


class KnownSignatures:
    """`sign_ticket` and `recover_signer` for a process that makes every signature it checks (a
    simulation: the simulator knows who signed). Each signature made here is remembered with its
    signer, so checking it is a look-up instead of a recovery (~60 % of the ticket crypto); one not
    made here, replayed, or forgotten (at most `size` are kept, oldest first) is recovered as
    usual. The answers are recover_signer's either way; only the work is skipped."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self.looked_up = 0  # signers found without a recovery
        self._signers: dict[tuple[bytes, bytes], str] = {}

    def sign(self, ticket_or_hash: Ticket | bytes, private_key: bytes) -> bytes:
        ticket_hash = _ticket_hash(ticket_or_hash)
        sig = sign_ticket(ticket_hash, private_key)
        if len(self._signers) >= self.size:
            del self._signers[next(iter(self._signers))]
        self._signers[(ticket_hash, sig)] = address_of_key(bytes(private_key))
        return sig

    def recover(self, ticket_or_hash: Ticket | bytes, sig: bytes) -> str:
        ticket_hash = _ticket_hash(ticket_or_hash)
        signer = self._signers.pop((ticket_hash, bytes(sig)), None)
        if signer is None:
            return recover_signer(ticket_hash, sig)
        self.looked_up += 1
        return signer

    def __len__(self) -> int:
        return len(self._signers)


def is_winning(sig: bytes, recipient_rand: int, win_prob: int) -> bool:
    """uint256(keccak256(sig || uint256 recipient_rand)) < win_prob: the on-chain winning rule."""
    draw = keccak(bytes(sig) + _uint256(recipient_rand, "recipient_rand"))
    return int.from_bytes(draw, "big") < win_prob
