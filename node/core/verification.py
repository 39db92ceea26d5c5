"""Local verification of a transcoded segment at the gateway (go-livepeer verification/verify.go
`SegmentVerifier`, `Policy`, `sigVerification`, `countPixelParams`; server/broadcast.go `verify`,
`downloadResults`; cmd/livepeer/starter/starter.go `-localVerify`).

Two checks, in go's order, on the renditions an orchestrator returned:
1. the signature, only when the orchestrator's OrchestratorInfo carries an address AND ticket
   params (i.e. on-chain): the orchestrator signs H = keccak256(keccak256(r_1) ‖ … ‖ keccak256(r_n))
   with a personal-sign over that 32-byte hash; the signer must be OrchestratorInfo.address, or
   the ticket recipient when the address is the zero address. It also needs as many renditions as
   results. Either failure is "PM Check Failed", NOT retryable.
2. the pixel counts: each rendition is decoded (by the runtime: this module decodes nothing) and
   its pixels compared with the count the orchestrator reported. Fewer renditions than results is
   "PixelsAbsent" (not retryable); any difference is "PixelMismatch" (retryable).

The policy (go's `Policy{Retries: 2}`, one `SegmentVerifier` per segment): every failed
verification counts; a retryable, non-fatal failure keeps its result as a candidate. Once more
than `retries` verifications failed, the best-scoring candidate is accepted (the segment then
succeeds with it) — or, with no candidate, the error stands. go's score is the external
verifier's (the Epic classifier's mean OCSVM distance); local verification has no such verifier,
so every score is 0 and the tie goes to the latest candidate (go sorts ascending with sort.Sort,
an insertion sort at these sizes, and takes the last).

What the runtime does with a verdict (server/broadcast.go `verify`): a retryable error removes
the orchestrator from the stream's pool WITHOUT suspending it (`TranscodeSessions.drop`); the
session was already completed (latency score recorded) before verification ran. An error with no
accepted result fails the attempt like any other error, so `SegmentAttempts.record` decides on a
retry: neither "PixelMismatch" nor "PM Check Failed" is in lpms' non-retryable list, so both are
retried — a signature failure on the same orchestrator if the pool picks it again (go keeps it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from .keccak import keccak
from .ticket import InvalidSignature, recover_signer, sign_ticket

__all__ = [
    "PIXELS_ABSENT",
    "PIXEL_MISMATCH",
    "PM_CHECK_FAILED",
    "RETRIES",
    "ZERO_ADDRESS",
    "Policy",
    "SegmentResult",
    "SegmentVerifier",
    "VerificationError",
    "Verdict",
    "local_verify_default",
    "pixel_error",
    "rendition_hashes",
    "segment_hash",
    "sign_renditions",
    "signature_error",
    "signature_verifies",
]

RETRIES = 2  # starter.go: server.Policy = &verification.Policy{Retries: 2}
PIXEL_MISMATCH = "PixelMismatch"  # verification.ErrPixelMismatch, Retryable
PIXELS_ABSENT = "PixelsAbsent"  # verification.ErrPixelsAbsent, a plain error
PM_CHECK_FAILED = "PM Check Failed"  # verification.errPMCheckFailed, a plain error
ZERO_ADDRESS = "0x" + "00" * 20


class VerificationError(Exception):
    """A failed verification; `str(e)` is go's message. go's error kinds: a plain error (neither
    flag), `Retryable` (tampering suspected: drop the orchestrator, keep the result as a
    candidate) and `Fatal`, a Retryable that is never kept as a candidate."""

    def __init__(self, message: str, *, retryable: bool = False, fatal: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable or fatal  # go's IsRetryable is true for Fatal errors too
        self.fatal = fatal


def local_verify_default(onchain: bool, flag: Optional[bool] = None) -> bool:
    """`-localVerify`: the flag when given, else on on-chain and off offchain (starter.go)."""
    return flag if flag is not None else onchain


# ------------------------------------------------------------------------------- signatures


def rendition_hashes(renditions: Sequence[bytes]) -> bytes:
    """keccak256 of each rendition, concatenated in result order."""
    return b"".join(keccak(bytes(r)) for r in renditions)


def segment_hash(renditions: Sequence[bytes]) -> bytes:
    """H = keccak256(keccak256(r_1) ‖ … ‖ keccak256(r_n)): what the orchestrator signs."""
    return keccak(rendition_hashes(renditions))


def sign_renditions(renditions: Sequence[bytes], private_key: bytes | str) -> bytes:
    """The orchestrator's TranscodeData.sig: go's `n.Eth.Sign(H)` (core/orchestrator.go
    `transcodeSeg`), a personal-sign over the 32-byte H itself — the node's `Sign`, which hashes
    its message first, is not used here. Offchain go sends no signature."""
    return sign_ticket(segment_hash(renditions), private_key)


def signature_verifies(address: str, digest: bytes, sig: bytes) -> bool:
    """go's crypto.VerifySig(addr, H, sig): 65 bytes, low s, v 27/28, and the personal-sign
    signer of the 32-byte `digest` is `address`."""
    try:
        return recover_signer(digest, sig).lower() == address.lower()
    except InvalidSignature:
        return False


def _signer(address: Optional[str], recipient: Optional[str]) -> str:
    """The address the signature must come from: the advertised one, or the ticket recipient
    when the advertised one is the zero address (go's BytesToAddress of both)."""
    if address and address.lower() != ZERO_ADDRESS:
        return address
    return recipient or ZERO_ADDRESS


@dataclass
class SegmentResult:
    """What verification reads of one attempt (go's verification.Params): the downloaded
    renditions in result order, the pixels the orchestrator reported for each (one per result in
    TranscodeData.segments), its TranscodeData.sig, and the OrchestratorInfo it answered with —
    its address ("" if none) and its ticket recipient (None when it sent no ticket params).
    `payload` is the runtime's, handed back if this result is accepted later."""

    renditions: Sequence[bytes]
    reported_pixels: Sequence[int]
    sig: bytes = b""
    address: str = ""
    ticket_recipient: Optional[str] = None
    payload: Any = None


SigVerifier = Callable[[str, bytes, bytes], bool]


def signature_error(result: SegmentResult,
                    verify_sig: SigVerifier = signature_verifies) -> Optional[VerificationError]:
    """go's sigVerification: skipped unless the orchestrator advertised an address and ticket
    params; else as many renditions as results, and a signature by the expected signer over H."""
    if not result.address or result.ticket_recipient is None:
        return None
    if len(result.reported_pixels) != len(result.renditions):
        return VerificationError(PM_CHECK_FAILED)
    if not verify_sig(_signer(result.address, result.ticket_recipient), segment_hash(result.renditions),
                      bytes(result.sig)):
        return VerificationError(PM_CHECK_FAILED)
    return None


def pixel_error(result: SegmentResult, counted: Optional[Sequence[int]],
                decode_error: Optional[str] = None) -> Optional[VerificationError]:
    """go's pixel-count check: "PixelsAbsent" without a rendition per result; a rendition that
    does not decode fails with the decoder's error (not retryable; pass it as `decode_error`);
    otherwise "PixelMismatch" when any decoded count differs from the reported one."""
    if len(result.reported_pixels) != len(result.renditions):
        return VerificationError(PIXELS_ABSENT)
    if decode_error is not None:
        return VerificationError(decode_error)
    if counted is None or len(counted) != len(result.reported_pixels):
        return VerificationError(PIXELS_ABSENT)
    for reported, decoded in zip(result.reported_pixels, counted):
        if reported != decoded:
            return VerificationError(PIXEL_MISMATCH, retryable=True)
    return None


# ------------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class Policy:
    """go's verification.Policy as local verification uses it (no external verifier)."""

    retries: int = RETRIES


@dataclass(frozen=True)
class Verdict:
    """A verification's outcome. `accepted` is the result to use (this one or, once the retries are
    spent, an earlier candidate) or None; `error` is what failed this time (None if it passed).
    With both set the segment succeeds with `accepted` and the error is only reported.
    `drop` says to remove this orchestrator from the pool (a retryable error)."""

    accepted: Optional[SegmentResult]
    error: Optional[VerificationError]

    @property
    def drop(self) -> bool:
        return self.error is not None and self.error.retryable

    @property
    def passed(self) -> bool:
        return self.error is None


class SegmentVerifier:
    """go's SegmentVerifier: one per segment, across its attempts."""

    __slots__ = ("policy", "count", "candidates", "verify_sig")

    def __init__(self, policy: Policy = Policy(), verify_sig: SigVerifier = signature_verifies) -> None:
        self.policy = policy
        self.count = 0  # failed verifications of this segment
        self.candidates: list[tuple[float, int, SegmentResult]] = []  # (score, order, result)
        self.verify_sig = verify_sig

    def record(self, result: SegmentResult, error: Optional[VerificationError], score: float = 0.0) -> Verdict:
        """Apply the policy to one attempt's check outcome (from `signature_error` and then
        `pixel_error`, or a verifier's own error)."""
        if error is None:
            return Verdict(result, None)
        self.count += 1
        if error.retryable and not error.fatal:
            self.candidates.append((score, len(self.candidates), result))
        if self.count > self.policy.retries:
            if not self.candidates:
                return Verdict(None, error)
            best = max(self.candidates, key=lambda c: (c[0], c[1]))  # ties: the latest, as go's sort
            return Verdict(best[2], error)
        return Verdict(None, error)

    def verify(self, result: SegmentResult, count: Callable[[], tuple[Optional[Sequence[int]], Optional[str]]],
               *, score: float = 0.0) -> Verdict:
        """Both checks in go's order and the policy. `count()` decodes the renditions and returns
        (pixel counts, None) or (None, the decoder's error); it runs only if the signature passed."""
        error = signature_error(result, self.verify_sig)
        if error is None:
            counted, decode_error = count()
            error = pixel_error(result, counted, decode_error)
        return self.record(result, error, score)
