"""node.core.verification: the gateway's local verification (spec §8.3; go-livepeer
verification/verify.go, server/broadcast.go `verify`, core/orchestrator.go `transcodeSeg`)."""
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from node.core.sessions import SegmentAction, SegmentAttempts, Session, TranscodeSessions
from node.core.verification import (
    PIXEL_MISMATCH,
    PIXELS_ABSENT,
    PM_CHECK_FAILED,
    RETRIES,
    ZERO_ADDRESS,
    Policy,
    SegmentResult,
    SegmentVerifier,
    VerificationError,
    local_verify_default,
    pixel_error,
    rendition_hashes,
    segment_hash,
    sign_renditions,
    signature_error,
    signature_verifies,
)

O_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
O_ADDRESS = Account.from_key(O_KEY).address
OTHER_KEY = bytes.fromhex("11" * 32)
RENDITIONS = [b"rendition 240p" * 4, b"rendition 360p" * 4]
PIXELS = [426 * 240 * 60, 640 * 360 * 60]  # 2 s at 30 fps


def decoded(pixels):
    """A `count` for SegmentVerifier.verify whose decoder found `pixels`."""
    return lambda: (pixels, None)


def result(renditions=RENDITIONS, pixels=PIXELS, key=O_KEY, address=O_ADDRESS, recipient=O_ADDRESS, payload=None):
    sig = sign_renditions(renditions, key) if key else b""
    return SegmentResult(list(renditions), list(pixels), sig=sig, address=address, ticket_recipient=recipient,
                         payload=payload)


# ------------------------------------------------------------------------------ the signed hash


def test_the_orchestrator_signs_the_hash_of_the_rendition_hashes_with_a_personal_sign():
    h = keccak(keccak(RENDITIONS[0]) + keccak(RENDITIONS[1]))
    assert rendition_hashes(RENDITIONS) == keccak(RENDITIONS[0]) + keccak(RENDITIONS[1])
    assert segment_hash(RENDITIONS) == h
    # go's n.Eth.Sign(H): accounts.TextHash over the 32-byte H ("\x19Ethereum Signed Message:\n32" ‖ H)
    expected = Account.sign_message(encode_defunct(primitive=h), O_KEY).signature
    assert sign_renditions(RENDITIONS, O_KEY) == bytes(expected)
    # which is the node's Sign (personal-sign of keccak(msg)) over the concatenated hashes
    from node.net.auth import sign, verify_sig

    assert sign(rendition_hashes(RENDITIONS), O_KEY) == bytes(expected)
    assert verify_sig(O_ADDRESS, rendition_hashes(RENDITIONS), bytes(expected))
    assert signature_verifies(O_ADDRESS, h, bytes(expected))


def test_a_good_signature_passes_and_a_wrong_signer_is_pm_check_failed():
    assert signature_error(result()) is None
    err = signature_error(result(key=OTHER_KEY))
    assert isinstance(err, VerificationError) and str(err) == PM_CHECK_FAILED == "PM Check Failed"
    assert not err.retryable  # go's errPMCheckFailed is a plain error
    # a signature over other renditions, or none at all
    forged = result()
    forged.renditions = [RENDITIONS[0], b"tampered"]
    assert str(signature_error(forged)) == PM_CHECK_FAILED
    assert str(signature_error(result(key=None))) == PM_CHECK_FAILED
    # a malleated (high-s) signature is refused as crypto/verify.go does
    good = result()
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(good.sig[32:64], "big")
    high = good.sig[:32] + (n - s).to_bytes(32, "big") + bytes([good.sig[64] ^ 1])
    assert not signature_verifies(O_ADDRESS, segment_hash(RENDITIONS), high)


def test_the_signer_is_the_address_or_the_ticket_recipient_when_the_address_is_zero():
    assert signature_error(result(address=ZERO_ADDRESS, recipient=O_ADDRESS)) is None
    assert str(signature_error(result(address=ZERO_ADDRESS, recipient="0x" + "ab" * 20))) == PM_CHECK_FAILED
    # the advertised address wins over the recipient
    assert str(signature_error(result(address=O_ADDRESS, recipient=Account.from_key(OTHER_KEY).address,
                                      key=OTHER_KEY))) == PM_CHECK_FAILED


def test_no_signature_check_without_an_address_or_without_ticket_params():
    assert signature_error(result(key=None, address="", recipient=None)) is None  # offchain
    assert signature_error(result(key=OTHER_KEY, address="")) is None
    assert signature_error(result(key=OTHER_KEY, recipient=None)) is None


def test_the_signature_check_needs_as_many_renditions_as_results():
    short = result(pixels=PIXELS + [1])
    assert str(signature_error(short)) == PM_CHECK_FAILED


# ------------------------------------------------------------------------------ pixel counts


def test_pixel_counts_match_mismatch_and_absent():
    r = result()
    assert pixel_error(r, PIXELS) is None
    err = pixel_error(r, [PIXELS[0], PIXELS[1] // 2])
    assert str(err) == PIXEL_MISMATCH == "PixelMismatch" and err.retryable and not err.fatal
    absent = pixel_error(result(pixels=PIXELS[:1]), [PIXELS[0]])
    assert str(absent) == PIXELS_ABSENT == "PixelsAbsent" and not absent.retryable
    decode = pixel_error(r, None, decode_error="Invalid data found when processing input")
    assert str(decode) == "Invalid data found when processing input" and not decode.retryable


# ------------------------------------------------------------------------------ the policy


def test_go_policy_has_two_retries_and_local_verify_defaults():
    assert RETRIES == 2 and Policy().retries == 2
    assert local_verify_default(onchain=True) and not local_verify_default(onchain=False)
    assert local_verify_default(False, True) and not local_verify_default(True, False)


def test_a_passing_result_is_accepted_and_nothing_counts():
    v = SegmentVerifier()
    r = result()
    verdict = v.verify(r, decoded(PIXELS))
    assert verdict.passed and verdict.accepted is r and not verdict.drop and v.count == 0


def test_pixel_mismatch_is_retried_then_after_more_than_two_failures_the_latest_is_accepted():
    v = SegmentVerifier()
    lies = [result(pixels=[p * 2 for p in PIXELS], payload=i) for i in range(3)]
    for i in range(2):  # failures 1 and 2: not accepted, the orchestrator is dropped
        verdict = v.verify(lies[i], decoded(PIXELS))
        assert verdict.accepted is None and verdict.drop and str(verdict.error) == PIXEL_MISMATCH
    verdict = v.verify(lies[2], decoded(PIXELS))  # failure 3 > Retries: the best candidate (all scores 0: the latest)
    assert v.count == 3 and verdict.accepted is lies[2] and verdict.drop and str(verdict.error) == PIXEL_MISMATCH


def test_the_best_scoring_candidate_is_accepted():
    v = SegmentVerifier()
    err = VerificationError(PIXEL_MISMATCH, retryable=True)
    a, b, c = (result(payload=x) for x in "abc")
    assert v.record(a, err, score=0.7).accepted is None
    assert v.record(b, err, score=0.2).accepted is None
    assert v.record(c, err, score=0.5).accepted is a


def test_non_retryable_and_fatal_failures_count_but_are_never_accepted():
    v = SegmentVerifier()
    for _ in range(3):
        verdict = v.verify(result(key=OTHER_KEY), decoded(PIXELS))
        assert verdict.accepted is None and not verdict.drop and str(verdict.error) == PM_CHECK_FAILED
    assert v.count == 3 and v.candidates == []
    # an earlier retryable candidate is accepted when a later failure is not retryable
    v = SegmentVerifier()
    liar = result(pixels=[1, 1])
    v.verify(liar, decoded(PIXELS))
    v.record(result(), VerificationError("AudioMismatch", fatal=True))  # go's Fatal: retryable, never kept
    verdict = v.verify(result(key=OTHER_KEY), decoded(PIXELS))
    assert verdict.accepted is liar and str(verdict.error) == PM_CHECK_FAILED and not verdict.drop


def test_a_pixel_mismatch_drops_the_orchestrator_without_suspending_it_and_the_segment_is_retried():
    """The runtime's side, with the session pools: the session was completed, then dropped."""
    sessions = TranscodeSessions(0, 2)
    liar, honest = Session("https://liar:8935"), Session("https://honest:8935")
    sessions.untrusted.end_refresh([liar, honest])
    attempts, verifier = SegmentAttempts(3), SegmentVerifier()
    chosen = sessions.select(0.0)
    assert chosen is liar
    sessions.untrusted.push_in_flight(chosen, 0.0, 2.0)
    sessions.complete(chosen, 0.5)
    verdict = verifier.verify(result(pixels=[p + 1 for p in PIXELS]), decoded(PIXELS))
    assert verdict.drop
    sessions.drop(chosen)
    assert attempts.record(str(verdict.error)) is SegmentAction.RETRY
    assert "https://liar:8935" not in sessions.untrusted.sessions
    assert sessions.untrusted.suspender.suspended("https://liar:8935") == 0  # go's removeSession
    assert sessions.select(0.1) is honest
    assert sessions.untrusted.swaps == 1


@pytest.mark.parametrize("message", [PIXEL_MISMATCH, PM_CHECK_FAILED])
def test_verification_errors_are_not_in_lpms_non_retryable_list(message):
    attempts = SegmentAttempts(3)
    assert attempts.record(message) is SegmentAction.RETRY


def test_renditions_are_decoded_only_after_the_signature_passed():
    def must_not_decode():
        raise AssertionError("decoded a segment whose signature failed")

    verdict = SegmentVerifier().verify(result(key=OTHER_KEY), must_not_decode)
    assert str(verdict.error) == PM_CHECK_FAILED
    verdict = SegmentVerifier().verify(result(), lambda: (None, "Invalid data found when processing input"))
    assert str(verdict.error) == "Invalid data found when processing input" and not verdict.drop
