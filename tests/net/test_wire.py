"""Wire formats (node.net): protobuf conversions, signatures and auth tokens, and the
Livepeer-Segment / Livepeer-Payment headers, against go-livepeer's encodings (spec node.md §0,
§1.5, §1.6, §20)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import replace
from fractions import Fraction

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from node.core.capabilities import Capabilities, Capability, ModelConstraint, ai_job_capabilities, job_capabilities
from node.core.keccak import keccak
from node.core.params import TicketExpirationParams, TicketParams, TicketSenderParams
from node.core.payment import Payment
from node.core.pricing import PriceInfo, transcode_pixels
from node.core.ticket import SECP256K1_N
from node.net import auth, headers, wire
from node.net.auth import AuthToken
from node.net.headers import HeaderError, SegMetadata, VideoProfile
from node.net.wire import pb

KEY = bytes([0x11]) * 32
G = Account.from_key(KEY).address
O_KEY = bytes([0x22]) * 32
O = Account.from_key(O_KEY).address
SECRET = bytes([0x33]) * 32
NOW = 1_700_000_000.5

P240 = VideoProfile("P240p30fps16x9", 426, 240, 600_000, 30)
P360 = VideoProfile("P360p30fps16x9", 640, 360, 1_200_000, 30)


def ticket_params(**kw) -> TicketParams:
    fields = dict(recipient="0x" + "11" * 20, face_value=1000, win_prob=0, recipient_rand_hash=b"\xaa" * 32,
                  seed=1, expiration_block=256, expiration_params=TicketExpirationParams(5, b"\xbb" * 32))
    return TicketParams(**{**fields, **kw})


# ------------------------------------------------------------------------------ integers, addresses

def test_int_bytes_are_minimal_big_endian_and_zero_is_empty():
    assert wire.int_bytes(0) == b""
    assert wire.int_bytes(255) == b"\xff"
    assert wire.int_bytes(256) == b"\x01\x00"
    assert wire.bytes_int(b"") == 0
    assert wire.bytes_int(b"\x00\x01\x00") == 256


def test_addresses_read_like_go_bytes_to_address():
    raw = bytes(range(1, 21))
    assert wire.address_bytes(wire.address_from_bytes(raw)) == raw
    assert wire.address_from_bytes(b"\x01") == "0x" + "00" * 19 + "01"
    assert wire.address_from_bytes(b"\xff" * 4 + raw) == wire.address_from_bytes(raw)  # last 20 bytes
    assert wire.address_from_bytes(bytes.fromhex(G[2:])) == G  # checksummed
    assert wire.hash_from_bytes(b"\x07") == b"\x00" * 31 + b"\x07"


# ---------------------------------------------------------------------------------- ticket params

def test_ticket_params_serialise_to_the_bytes_of_their_field_numbers():
    expected = (b"\x0a\x14" + b"\x11" * 20            # 1 recipient: 20 raw bytes
                + b"\x12\x02\x03\xe8"                 # 2 face_value: 1000
                # 3 win_prob: 0 is empty bytes, which proto3 leaves out
                + b"\x22\x20" + b"\xaa" * 32          # 4 recipient_rand_hash
                + b"\x2a\x01\x01"                     # 5 seed: 1
                + b"\x32\x02\x01\x00")                # 6 expiration_block: 256
    expiration = (b"\x3a\x24"                         # 7 expiration_params, 36 bytes
                  + b"\x08\x05"                       #   1 creation_round: 5
                  + b"\x12\x20" + b"\xbb" * 32)       #   2 creation_round_block_hash
    params = ticket_params()
    assert wire.ticket_params_to_proto(params).SerializeToString() == expected + expiration
    assert wire.ticket_params_to_proto(params, with_expiration=False).SerializeToString() == expected


def test_ticket_params_round_trip_with_the_price_they_were_made_at():
    params = ticket_params(win_prob=2**256 - 1, seed=0, face_value=10**18)
    msg = wire.ticket_params_to_proto(params)
    assert msg.seed == b"" and msg.win_prob == b"\xff" * 32
    back = wire.ticket_params_from_proto(pb.TicketParams.FromString(msg.SerializeToString()), Fraction(7, 3))
    assert back == replace(params, price_per_pixel=Fraction(7, 3))
    assert wire.ticket_params_from_proto(None) is None
    no_expiration = wire.ticket_params_from_proto(wire.ticket_params_to_proto(params, with_expiration=False))
    assert no_expiration.expiration_params is None


# ------------------------------------------------------------------------------- prices, payments

def test_price_info_round_trip():
    info = PriceInfo(1200, 3, int(Capability.TextToImage), "some/model")
    msg = wire.price_info_to_proto(info)
    assert (msg.pricePerUnit, msg.pixelsPerUnit, msg.capability, msg.constraint) == (1200, 3, 27, "some/model")
    assert wire.price_info_from_proto(msg) == info
    assert wire.price_info_to_proto(None) is None and wire.price_info_from_proto(None) is None


def test_payment_without_tickets_serialises_sender_and_price_only():
    payment = Payment(G, expected_price=PriceInfo(1000, 3))
    expected = (b"\x12\x14" + bytes.fromhex(G[2:])    # 2 sender
                + b"\x2a\x05\x08\xe8\x07\x10\x03")    # 5 expected_price {1: 1000, 2: 3}
    assert wire.payment_to_proto(payment).SerializeToString() == expected
    assert wire.payment_from_proto(pb.Payment.FromString(expected)) == payment


def test_payment_round_trip_carries_tickets_and_prices_the_offer():
    params = ticket_params()
    sps = (TicketSenderParams(1, b"\x01" * 65), TicketSenderParams(2, b"\x02" * 65))
    payment = Payment(G, params, TicketExpirationParams(9, b"\xcc" * 32), sps, PriceInfo(10, 4))
    msg = wire.payment_to_proto(payment)
    assert not msg.ticket_params.HasField("expiration_params")  # the Payment carries its own
    back = wire.payment_from_proto(pb.Payment.FromString(msg.SerializeToString()))
    assert back == replace(payment, ticket_params=replace(params, expiration_params=None,
                                                          price_per_pixel=Fraction(5, 2)))


def test_an_empty_payment_has_no_sender_and_no_price():
    assert wire.payment_from_proto(pb.Payment()) == Payment(None)
    # 0 pixels per unit: the price is kept for the core to reject, the offer is unpriced
    msg = wire.payment_to_proto(Payment(G, ticket_params(), expected_price=PriceInfo(1, 0)))
    assert wire.payment_from_proto(msg).ticket_params.price_per_pixel is None


# ---------------------------------------------------------------------------------- capabilities

def test_capabilities_round_trip_with_constraints_and_capacities():
    caps = ai_job_capabilities(int(Capability.TextToImage), "m", warm=True, runner_version="0.1",
                               min_version="0.2")
    caps.version = "0.9.0"
    caps.mandatories = caps.mandatories.add(70)
    caps.capacities = {27: 3, 70: 1}
    caps.constraints[27]["n"] = ModelConstraint(capacity=2, capacity_in_use=1)
    msg = wire.capabilities_to_proto(caps)
    assert list(msg.bitstring) == [1 << 27] and list(msg.mandatories) == [0, 1 << 6]
    assert msg.constraints.PerCapability[27].models["n"].capacityInUse == 1
    assert wire.capabilities_from_proto(pb.Capabilities.FromString(msg.SerializeToString())) == caps


def test_capabilities_always_carry_constraints_and_default_capacities():
    assert wire.capabilities_to_proto(Capabilities()).SerializeToString() == b"\x2a\x00"  # 5: empty
    old = pb.Capabilities(bitstring=[0b1010])  # an older node: no capacities
    assert wire.capabilities_from_proto(old).capacities == {1: 1, 3: 1}
    assert wire.capabilities_from_proto(None) is None


# ----------------------------------------------------------------------------- orchestrator info

def test_orchestrator_info_round_trip_and_discovery_view():
    hw = wire.HardwareInformation("text-to-image", "m", {"0": wire.GPUComputeInfo("GPU-1", "H100", 9, 0, 1, 2)})
    info = wire.OrchestratorInfo(
        transcoder="https://o:8935", address=O, ticket_params=ticket_params(price_per_pixel=Fraction(1200, 3)),
        price_info=PriceInfo(1200, 3), capabilities=Capabilities.new([1, 2]),
        auth_token=AuthToken(b"t" * 32, "deadbeef", 123), hardware=(hw,),
        capabilities_prices=(PriceInfo(5, 1, 27, "m"),), nodes=("https://o2:8935",))
    msg = wire.orchestrator_info_to_proto(info)
    assert [f.number for f, _ in msg.ListFields()] == [1, 2, 3, 4, 5, 6, 7, 33, 34]
    back = wire.orchestrator_info_from_proto(pb.OrchestratorInfo.FromString(msg.SerializeToString()))
    assert back == info
    seen = back.discovery_info()
    assert (seen.transcoder, seen.address, seen.price_info, seen.nodes) == (info.transcoder, O, Fraction(400), info.nodes)
    assert seen.ticket_params == info.ticket_params and seen.capabilities == info.capabilities


def test_an_empty_orchestrator_info_reads_as_nothing_offered():
    info = wire.orchestrator_info_from_proto(pb.OrchestratorInfo())
    assert info == wire.OrchestratorInfo()
    assert info.discovery_info().price_info is None and info.discovery_info().address == ""
    assert wire.OrchestratorInfo(price_info=PriceInfo(1, 0)).discovery_info().price_info is None


def test_hardware_reads_the_runners_json():
    body = {"pipeline": "p", "model_id": "m",
            "gpu_info": {"0": {"id": "a", "name": "n", "major": 8, "minor": 6, "memory_free": 1, "memory_total": 2}}}
    hw = wire.HardwareInformation.from_json(body)
    assert hw.to_json() == body
    assert wire.hardware_from_proto(wire.hardware_to_proto(hw)) == hw


# ------------------------------------------------------------------------------ signatures (§0)

def test_sign_is_a_personal_sign_of_the_message_keccak():
    msg = b"any message at all"
    sig = auth.sign(msg, KEY)
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert Account.recover_message(encode_defunct(primitive=keccak(msg)), signature=sig) == G
    assert auth.verify_sig(G, msg, sig) and auth.recover_address(msg, sig) == G
    assert not auth.verify_sig(G, msg + b"!", sig)
    assert not auth.verify_sig(O, msg, sig)


@pytest.mark.parametrize("tamper, message", [
    (lambda s: s[:64], "invalid signature length"),
    (lambda s: s + b"\x00", "invalid signature length"),
    (lambda s: s[:32] + (SECP256K1_N - int.from_bytes(s[32:64], "big")).to_bytes(32, "big") + bytes([55 - s[64]]),
     "signature s value too high"),
    (lambda s: s[:64] + b"\x01", "signature v value must be 27 or 28"),
    (lambda s: b"\x00" * 32 + s[32:], "invalid signature"),
])
def test_verify_sig_rejects_what_go_rejects(tamper, message):
    sig = tamper(auth.sign(b"m", KEY))
    with pytest.raises(auth.SignatureError, match=f"^{message}$"):
        auth.recover_address(b"m", sig)
    assert not auth.verify_sig(G, b"m", sig)


def test_orchestrator_request_is_signed_over_the_checksummed_address_string():
    sig = auth.orchestrator_request_sig(G, KEY)
    assert auth.recover_address(G.encode(), sig) == G  # the "0x…" checksum string, not 20 bytes
    assert auth.verify_orchestrator_request(bytes.fromhex(G[2:]), sig)
    assert auth.verify_orchestrator_request(G.lower(), sig)
    assert not auth.verify_orchestrator_request(O, sig)
    assert not auth.verify_orchestrator_request(G, auth.sign(G.lower().encode(), KEY))
    assert not auth.verify_orchestrator_request(G, auth.sign(bytes.fromhex(G[2:]), KEY))


# --------------------------------------------------------------------------------- auth tokens

def test_auth_token_is_hmac_of_session_id_and_expiry_bytes():
    token = auth.auth_token(SECRET, "deadbeef", 1_700_000_000)
    expected = hmac.new(SECRET, b"deadbeef" + b"\x65\x53\xf1\x00", hashlib.sha256).digest()
    assert token == AuthToken(expected, "deadbeef", 1_700_000_000)
    assert auth.auth_token(SECRET, "s", 0).token == hmac.new(SECRET, b"s", hashlib.sha256).digest()
    assert wire.auth_token_from_proto(wire.auth_token_to_proto(token)) == token


def test_issued_tokens_last_thirty_minutes_and_sessions_are_four_random_bytes():
    rng = random.Random(7)
    session = auth.new_session_id(rng.randbytes)
    assert session == random.Random(7).randbytes(4).hex() and len(session) == 8
    assert len(auth.new_secret(rng.randbytes)) == 32
    token = auth.issue_auth_token(SECRET, session, NOW)
    assert token.expiration == 1_700_000_000 + 1800
    assert auth.token_matches(SECRET, token)
    auth.check_auth_token(SECRET, token, token.expiration)  # valid up to its last second


@pytest.mark.parametrize("token, now, message", [
    (None, NOW, "missing auth token"),
    (AuthToken(b"x" * 32, "s", 2**40), NOW, "invalid auth token"),
    (auth.auth_token(bytes(32), "s", 2**40), NOW, "invalid auth token"),  # another orchestrator's
    (auth.auth_token(SECRET, "s", 1000), 1000.001, "expired auth token"),
])
def test_auth_token_checks(token, now, message):
    with pytest.raises(auth.AuthTokenError, match=f"^{message}$"):
        auth.check_auth_token(SECRET, token, now)


# ---------------------------------------------------------------------------- segment metadata

def seg(**kw) -> SegMetadata:
    fields = dict(manifest_id="abc", seq=5, hash=bytes(range(32)), profiles=(P240, P360), duration=2.0,
                  capabilities=Capabilities.new([1, 2]), auth_token=auth.issue_auth_token(SECRET, "0badcafe", NOW))
    return SegMetadata(**{**fields, **kw})


def test_flatten_is_manifest_seq32_hash_and_hex_profile_hashes():
    expected = (b"abc" + b"\x00" * 31 + b"\x05" + bytes(range(32))
                + b"c0a6517a" + b"93c717e7")  # keccak256("P240p30fps16x9")[:4], keccak256("P360p30fps16x9")[:4]
    assert seg().flatten() == expected
    assert seg(seq=0, profiles=()).flatten() == b"abc" + b"\x00" * 32 + bytes(range(32))
    assert seg(seq=-5).flatten() == expected  # big.Int bytes drop the sign
    assert seg(seq=2**40).flatten()[3:35] == (2**40).to_bytes(32, "big")


def test_segment_header_round_trip_signed():
    md = seg(clip=(100, 900), calc_perceptual_hash=True, force_session_reinit=True)
    header = headers.encode_segment_header(md, KEY)
    back = headers.decode_segment_header(header)
    assert back == replace(md, sig=auth.sign(md.flatten(), KEY))
    assert auth.verify_sig(G, back.flatten(), back.sig)
    msg = pb.SegData.FromString(base64.b64decode(header))
    assert msg.profiles == b"invalid" and msg.duration == 2000 and len(msg.fullProfiles) == 2


@pytest.mark.parametrize("profile, field", [
    (P240, "fullProfiles"),
    (replace(P240, format="mp4"), "fullProfiles2"),
    (replace(P240, framerate_den=1001), "fullProfiles3"),
    (replace(P240, profile="high"), "fullProfiles3"),
    (replace(P240, gop=2.5), "fullProfiles3"),
])
def test_profiles_travel_in_the_oldest_field_that_can_hold_them(profile, field):
    msg = headers.segment_to_proto(seg(profiles=(P360, profile)))
    assert [f.name for f, _ in msg.ListFields() if f.name.startswith("fullProfiles")] == [field]
    assert headers.segment_from_proto(msg).profiles == (P360, profile)


def test_video_profiles_read_as_the_cores_profiles():
    caps = job_capabilities((P240, replace(P360, format="mp4", profile="high", gop=1.0)))
    assert caps.bitstring.has(Capability.MP4) and caps.bitstring.has(Capability.GOP)
    assert transcode_pixels((P240,), 2.0) == 426 * 240 * 30 * 2


def test_profile_names_and_special_gops():
    unnamed = replace(P240, name="")
    assert headers.profile_to_proto(unnamed).name == "ffmpeg_426x240_600000"
    assert headers.profile_from_proto(pb.VideoProfile(width=1, height=2, bitrate=3)).name == "net_1x2_3"
    intra = replace(P240, gop=-1.0)
    assert headers.profile_to_proto(intra).gop == -1
    assert headers.profile_from_proto(headers.profile_to_proto(intra)) == intra
    assert headers.profile_to_proto(replace(P240, gop=2.0)).gop == 2000
    for bad, message in ((replace(P240, format="flv"), "unknown VideoProfile format for protobufs"),
                         (replace(P240, profile="extended"), "unknown VideoProfile profile for protobufs"),
                         (replace(P240, encoder="av1"), "unknown VideoProfile encoder for protobufs"),
                         (replace(P240, chroma_format=411), "unknown VideoProfile ChromaFormat")):
        with pytest.raises(ValueError, match=f"^{message}$"):
            headers.profile_to_proto(bad)


def test_durations():
    assert headers.segment_to_proto(seg(duration=1.9999)).duration == 1999  # truncated to ms
    for ms, seconds in ((0, 2.0), (1, 0.001), (300_000, 300.0)):
        assert headers.segment_from_proto(pb.SegData(duration=ms)).duration == seconds
    for ms in (-1, 300_001):
        with pytest.raises(ValueError, match="^invalid duration$"):
            headers.segment_from_proto(pb.SegData(duration=ms))


# --------------------------------------------------------------------- verifySegCreds (§1.5)

def verify(header, sender=G, **kw):
    args = dict(compatible=lambda caps: True, secret=SECRET, now=NOW)
    return headers.verify_seg_creds(header, sender, **{**args, **kw})


def rejected(header, message, sender=G, **kw):
    with pytest.raises(HeaderError, match=f"^{message}$") as exc:
        verify(header, sender, **kw)
    assert exc.value.status == 403


def test_good_segment_credentials_pass():
    md = seg()
    got = verify(headers.encode_segment_header(md, KEY), compatible=lambda caps: caps == md.capabilities,
                 check_capacity=lambda session: session == "0badcafe")
    assert replace(got, sig=b"") == md


def with_field(md: SegMetadata, key=KEY, **fields) -> str:
    """A signed header whose SegData is then changed (fields set after signing)."""
    msg = pb.SegData.FromString(base64.b64decode(headers.encode_segment_header(md, key)))
    for name, value in fields.items():
        setattr(msg, name, value)
    return base64.b64encode(msg.SerializeToString()).decode()


def test_seg_creds_failures_in_gos_order():
    md = seg()
    rejected("not base64!", "ErrorSegEncoding")
    rejected(base64.b64encode(b"\xff\xff\xff").decode(), headers.PROTO_ERROR)
    bad_format = pb.SegData.FromString(base64.b64decode(headers.encode_segment_header(md, KEY)))
    bad_format.fullProfiles[0].format = 7
    bad_format.duration = -1  # the profile error comes first
    rejected(base64.b64encode(bad_format.SerializeToString()).decode(), "unrecognized profile output format")
    rejected(with_field(md, duration=-1, sig=b""), "invalid duration")  # before the signature
    rejected(with_field(md, seq=6), "ErrSegSig")  # tampered after signing
    rejected(headers.encode_segment_header(md, O_KEY), "ErrSegSig")  # someone else's
    rejected(headers.encode_segment_header(md, KEY), "ErrSegSig", sender=None)
    rejected(headers.encode_segment_header(md, KEY), "incompatible capabilities", compatible=lambda caps: False)
    rejected(headers.encode_segment_header(replace(md, auth_token=None), KEY), "missing auth token")
    rejected(headers.encode_segment_header(md, KEY), "invalid auth token", secret=bytes(32))
    rejected(headers.encode_segment_header(md, KEY), "expired auth token", now=md.auth_token.expiration + 1)
    rejected(headers.encode_segment_header(md, KEY), "OrchestratorCapped", check_capacity=lambda s: False)


def test_offchain_skips_only_the_signature():
    md = seg()
    assert verify(headers.encode_segment_header(md), sender=None, offchain=True).sig == b""
    rejected(headers.encode_segment_header(replace(md, auth_token=None)), "missing auth token",
             sender=None, offchain=True)


def test_a_segment_without_capabilities_is_an_empty_set():
    md = headers.decode_segment_header(headers.encode_segment_header(seg(capabilities=None)))
    assert md.capabilities == Capabilities()


# ------------------------------------------------------------------------------ payment header

def test_payment_header_round_trip_and_offchain_empty():
    payment = Payment(G, ticket_params(), TicketExpirationParams(9, b"\xcc" * 32),
                      (TicketSenderParams(1, auth.sign(b"t", KEY)),), PriceInfo(1200, 1))
    header = headers.encode_payment_header(payment)
    assert base64.b64decode(header) == wire.payment_to_proto(payment).SerializeToString()
    back = headers.decode_payment_header(header)
    assert back == replace(payment, ticket_params=replace(payment.ticket_params, expiration_params=None,
                                                          price_per_pixel=Fraction(1200)))
    assert headers.encode_payment_header(None) == ""
    assert headers.decode_payment_header("") == Payment(None)


@pytest.mark.parametrize("header, message", [
    ("!!!!", "base64 decode error: illegal base64 data at input byte 0"),
    ("QUJD", "protobuf unmarshal error: proto: cannot parse invalid wire-format data"),
    (base64.b64encode(b"\x12\x05ab").decode(), "protobuf unmarshal error: proto: cannot parse invalid wire-format data"),
])
def test_payment_header_errors_are_402(header, message):
    with pytest.raises(HeaderError, match=f"^{message}$") as exc:
        headers.decode_payment_header(header)
    assert exc.value.status == 402


# Go's own table for base64.StdEncoding corrupt input (encoding/base64 TestDecodeCorrupt):
# input, offset of the reported byte (-1: decodes).
GO_BASE64_CASES = [
    ("", -1), ("\n", -1), ("AAA=\n", -1), ("AAAA\n", -1), ("!!!!", 0), ("====", 0), ("x===", 1),
    ("=AAA", 0), ("A=AA", 1), ("AA=A", 2), ("AA==A", 4), ("AAA=AAAA", 4), ("AAAAA", 4), ("AAAAAA", 4),
    ("A=", 1), ("A==", 1), ("AA=", 3), ("AA==", -1), ("AAA=", -1), ("AAAA", -1), ("AAAAAA=", 7),
    ("YWJjZA=====", 8), ("A!\n", 1), ("A=\n", 1),
]


@pytest.mark.parametrize("data, offset", GO_BASE64_CASES)
def test_base64_errors_name_the_byte_go_names(data, offset):
    if offset < 0:
        assert headers.b64decode(data) == base64.b64decode(data.strip())
    else:
        with pytest.raises(ValueError, match=f"^illegal base64 data at input byte {offset}$"):
            headers.b64decode(data)


def test_base64_skips_newlines_like_go():
    assert headers.b64decode("QUJD\r\nRA==") == b"ABCD"
    assert headers.b64decode(base64.b64encode(bytes(range(256))).decode()) == bytes(range(256))
