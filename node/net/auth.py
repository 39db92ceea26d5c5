"""Who is talking and which session they may use: go-livepeer's message signatures and the
orchestrator's auth tokens (eth/accountmanager.go `Sign`, core/broadcaster.go and
core/orchestrator.go `Sign` / `VerifySig` / `AuthToken`, crypto/verify.go, server/rpc.go
`verifyOrchestratorReq`, `endTranscodingSession`, `authTokenValidPeriod`,
cmd/livepeer/starter/starter.go info sig, core/streamdata.go `RandomManifestID`; spec node.md §0).

- `sign(msg)` is go's node Sign: a personal-sign (Ethereum signed-message prefix) of
  keccak256(msg), 65 bytes r ‖ s ‖ v with v 27/28 — the ticket signer applied to a message hash.
- `verify_sig` is go's VerifySig: length 65, low s, v 27/28, then the recovered address must
  match. Offchain nodes skip it (go's VerifySig is always true without an Ethereum client).
- An auth token is HMAC-SHA256(key = the orchestrator's 32-byte secret, msg = session id bytes ‖
  minimal big-endian bytes of the expiry in unix seconds); session ids are 4 random bytes in hex;
  tokens are issued for 30 minutes. Randomness and time are passed in.
"""
from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Callable

from eth_utils import to_checksum_address

from node.core.keccak import keccak
from node.core.params import int_bytes
from node.core.ticket import SECP256K1_HALF_N, SIGNATURE_LENGTH, InvalidSignature, recover_signer, sign_ticket

__all__ = [
    "AUTH_TOKEN_VALIDITY", "SESSION_ID_BYTES", "SECRET_BYTES", "ERR_ORCH_REQ_SIG", "SignatureError",
    "AuthTokenError", "AuthToken", "sign", "recover_address", "verify_sig", "orchestrator_request_sig",
    "verify_orchestrator_request", "new_secret", "new_session_id", "auth_token", "issue_auth_token",
    "token_matches", "check_auth_token",
]

AUTH_TOKEN_VALIDITY = 30 * 60  # seconds (server/rpc.go authTokenValidPeriod)
SESSION_ID_BYTES = 4  # core.DefaultManifestIDLength
SECRET_BYTES = 32
ERR_ORCH_REQ_SIG = "orchestrator req sig check failed"

RandomBytes = Callable[[int], bytes]  # os.urandom, random.Random(seed).randbytes, Generator.bytes


class SignatureError(ValueError):
    """A signature VerifySig rejects before comparing addresses; `str(e)` is go's message."""


class AuthTokenError(ValueError):
    """An auth token the segment checks reject; `str(e)` is go's message."""


@dataclass(frozen=True, slots=True)
class AuthToken:
    """net.AuthToken: the HMAC, the orchestrator-side session it grants and its expiry (unix s)."""

    token: bytes
    session_id: str
    expiration: int


# ---------------------------------------------------------------------------------- signatures

def sign(msg: bytes, private_key: bytes | str) -> bytes:
    """go's node Sign(msg): personal-sign of keccak256(msg)."""
    return sign_ticket(keccak(msg), private_key)


def recover_address(msg: bytes, sig: bytes) -> str:
    """The checksum address that signed `msg` with `sign`, under crypto/verify.go's rules."""
    sig = bytes(sig)
    if len(sig) != SIGNATURE_LENGTH:
        raise SignatureError("invalid signature length")
    if int.from_bytes(sig[32:64], "big") > SECP256K1_HALF_N:
        raise SignatureError("signature s value too high")
    if sig[64] not in (27, 28):
        raise SignatureError("signature v value must be 27 or 28")
    try:
        return recover_signer(keccak(msg), sig)
    except InvalidSignature as exc:  # r or s out of range: no public key recovers
        raise SignatureError("invalid signature") from exc


def verify_sig(address: str | bytes, msg: bytes, sig: bytes) -> bool:
    """go's VerifySig(addr, msg, sig): True iff `sig` is `address`'s signature over `msg`."""
    try:
        return recover_address(msg, sig) == to_checksum_address(address)
    except SignatureError:
        return False


def orchestrator_request_sig(address: str | bytes, private_key: bytes | str) -> bytes:
    """A gateway's OrchestratorRequest.sig: Sign over its checksummed "0x…" address string
    (not the 20 raw bytes); go computes it once at start."""
    return sign(to_checksum_address(address).encode(), private_key)


def verify_orchestrator_request(address: str | bytes, sig: bytes) -> bool:
    """The orchestrator's check of an OrchestratorRequest (`address` is the request's 20 bytes
    or a hex string); on False go answers "Invalid orchestrator request: " + ERR_ORCH_REQ_SIG."""
    if isinstance(address, (bytes, bytearray)):  # go's BytesToAddress: keep the last 20 bytes
        address = bytes(address)[-20:].rjust(20, b"\x00")
    return verify_sig(address, to_checksum_address(address).encode(), sig)


# --------------------------------------------------------------------------------- auth tokens

def new_secret(randbytes: RandomBytes) -> bytes:
    """The orchestrator's HMAC key, drawn once at start."""
    return bytes(randbytes(SECRET_BYTES))


def new_session_id(randbytes: RandomBytes) -> str:
    """An orchestrator session id: 4 random bytes in lower-case hex."""
    return bytes(randbytes(SESSION_ID_BYTES)).hex()


def auth_token(secret: bytes, session_id: str, expiration: int) -> AuthToken:
    """The token for (session_id, expiration); go's big.Int bytes of the expiry drop its sign."""
    msg = session_id.encode() + int_bytes(abs(expiration))
    return AuthToken(hmac.new(secret, msg, hashlib.sha256).digest(), session_id, expiration)


def issue_auth_token(secret: bytes, session_id: str, now: float) -> AuthToken:
    """A fresh token, valid until now + 30 min (whole unix seconds, as go's Unix())."""
    return auth_token(secret, session_id, math.floor(now) + AUTH_TOKEN_VALIDITY)


def token_matches(secret: bytes, token: AuthToken | None) -> bool:
    """Whether the token's HMAC is the one this secret gives for its session and expiry
    (EndTranscodingSession answers "Invalid auth token" when not)."""
    if token is None:
        return False
    expected = auth_token(secret, token.session_id, token.expiration).token
    return hmac.compare_digest(expected, token.token)


def check_auth_token(secret: bytes, token: AuthToken | None, now: float) -> None:
    """The segment checks' token rules in go's order: present, genuine, not past its expiry."""
    if token is None:
        raise AuthTokenError("missing auth token")
    if not token_matches(secret, token):
        raise AuthTokenError("invalid auth token")
    if now > token.expiration:
        raise AuthTokenError("expired auth token")
