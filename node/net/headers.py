"""The two HTTP headers a gateway sends with every paid request, and the orchestrator's checks on
them (go-livepeer server/segment_rpc.go `genSegCreds`, `genPayment`, `getPayment`,
`verifySegCreds`, `makeFfmpegVideoProfiles`, `processPaymentAndSegmentHeaders`; server/rpc.go
`coreSegMetadata`; core/streamdata.go `SegTranscodingMetadata`, `Flatten`, `NetSegData`;
common/util.go `FFmpegProfiletoNetProfile`, `ProfilesToTranscodeOpts`; spec node.md §1.5, §20).

- Livepeer-Segment: standard padded base64 of net.SegData. Its `sig` is the gateway's Sign over
  the flattened segment: manifest id bytes ‖ the sequence number left-padded to 32 bytes ‖ the
  32-byte segment hash ‖ per profile, the ASCII hex of the first 4 bytes of keccak256(name).
- Livepeer-Payment: standard padded base64 of net.Payment; an empty header is an empty payment
  (what an offchain gateway sends).
- Errors carry go's text and the HTTP status go answers with: 402 for a payment header that
  does not decode, 403 for every segment-credential failure. Base64 errors name the offending
  byte as Go's decoder does.

Mirrored quirk: the gateway flattens its profiles' names as they are, but an unnamed profile
travels as "ffmpeg_WxH_B" and the orchestrator names an unnamed one "net_WxH_B", so a
segment with an unnamed profile fails the signature check (in go as here). Name profiles.
Not carried: SegData.storage (the gateway's object store; this node uploads nowhere else).
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable, Optional

from google.protobuf.message import DecodeError

from node.core.capabilities import Capabilities
from node.core.keccak import keccak
from node.core.params import int_bytes
from node.core.payment import Payment

from .auth import AuthToken, AuthTokenError, check_auth_token, sign, verify_sig
from .wire import (auth_token_from_proto, auth_token_to_proto, capabilities_from_proto, capabilities_to_proto,
                   hash_from_bytes, optional, payment_from_proto, payment_to_proto, pb)

__all__ = [
    "SEGMENT_HEADER", "PAYMENT_HEADER", "DEFAULT_DURATION", "MAX_DURATION", "LEGACY_PROFILES",
    "HeaderError", "VideoProfile", "SegMetadata", "profile_to_proto", "profile_from_proto",
    "segment_to_proto", "segment_from_proto", "b64decode", "encode_segment_header",
    "decode_segment_header", "verify_seg_creds", "encode_payment_header", "decode_payment_header",
    "PROTO_ERROR",
]

SEGMENT_HEADER = "Livepeer-Segment"
PAYMENT_HEADER = "Livepeer-Payment"
DEFAULT_DURATION = 2.0  # seconds, assumed when a segment states none
MAX_DURATION = 5 * 60  # seconds (common.MaxDuration)
LEGACY_PROFILES = b"invalid"  # the deprecated `profiles` field, set so that old nodes fail loudly
PROTO_ERROR = "proto: cannot parse invalid wire-format data"

_VP = pb.VideoProfile
_FORMATS = {"": _VP.MPEGTS, "mpegts": _VP.MPEGTS, "ts": _VP.MPEGTS, "mp4": _VP.MP4}
_PROFILES = {"": _VP.ENCODER_DEFAULT, "baseline": _VP.H264_BASELINE, "main": _VP.H264_MAIN,
             "high": _VP.H264_HIGH, "constrained_high": _VP.H264_CONSTRAINED_HIGH}
_ENCODERS = {"h264": _VP.H264, "h265": _VP.H265, "hevc": _VP.H265, "vp8": _VP.VP8, "vp9": _VP.VP9}
_CHROMA = {420: _VP.CHROMA_420, 422: _VP.CHROMA_422, 444: _VP.CHROMA_444}
# the orchestrator's reading of each enum: first name wins ("mpegts", "h265")
_FORMAT_NAMES = {v: k for k, v in reversed(_FORMATS.items()) if k}
_PROFILE_NAMES = {v: k for k, v in _PROFILES.items()}
_ENCODER_NAMES = {v: k for k, v in reversed(_ENCODERS.items())}
_CHROMA_NAMES = {v: k for k, v in _CHROMA.items()}


class HeaderError(ValueError):
    """A header the orchestrator rejects: `str(e)` is go's message, `status` its HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------------- profiles

@dataclass(frozen=True, slots=True)
class VideoProfile:
    """One output rendition (lpms VideoProfile / net.VideoProfile). Reads as the core's
    `ProfileLike` and `PixelProfile`. `gop` is in seconds; a negative value is a special code
    (-1: intra only). `framerate` 0 passes the input's through."""

    name: str
    width: int
    height: int
    bitrate: int  # bits per second
    framerate: int = 0
    framerate_den: int = 0
    format: str = "mpegts"  # "mpegts" or "mp4"
    profile: str = ""  # "", "baseline", "main", "high", "constrained_high"
    gop: float = 0.0
    encoder: str = "h264"  # "h264", "h265", "vp8", "vp9"
    color_depth: int = 0
    chroma_format: int = 420  # 420, 422 or 444
    quality: int = 0

    def default_name(self, prefix: str) -> str:
        return f"{prefix}{self.width}x{self.height}_{self.bitrate}"


def _lookup(table: dict, key, message: str):
    try:
        return table[key.lower() if isinstance(key, str) else key]
    except KeyError:
        raise ValueError(message) from None


def profile_to_proto(p: VideoProfile) -> pb.VideoProfile:
    """The gateway's conversion (go's FFmpegProfiletoNetProfile), with its errors."""
    gop_ms = int(p.gop) if p.gop < 0 else round(p.gop * 1e9) // 1_000_000
    return pb.VideoProfile(
        name=p.name or p.default_name("ffmpeg_"), width=p.width, height=p.height, bitrate=p.bitrate,
        fps=p.framerate, fpsDen=p.framerate_den,
        format=_lookup(_FORMATS, p.format, "unknown VideoProfile format for protobufs"),
        profile=_lookup(_PROFILES, p.profile, "unknown VideoProfile profile for protobufs"),
        gop=gop_ms,
        encoder=_lookup(_ENCODERS, p.encoder, "unknown VideoProfile encoder for protobufs"),
        colorDepth=p.color_depth,
        chromaFormat=_lookup(_CHROMA, p.chroma_format, "unknown VideoProfile ChromaFormat"),
        quality=p.quality,
    )


def profile_from_proto(msg: pb.VideoProfile) -> VideoProfile:
    """The orchestrator's conversion (go's makeFfmpegVideoProfiles): enum values it does not
    know are errors, checked in the order format, profile, encoder."""
    for value, names, message in ((msg.format, _FORMAT_NAMES, "unrecognized profile output format"),
                                  (msg.profile, _PROFILE_NAMES, "unrecognized encoder profile"),
                                  (msg.encoder, _ENCODER_NAMES, "unrecognized video codec")):
        if value not in names:
            raise ValueError(message)
    p = VideoProfile(
        name=msg.name, width=msg.width, height=msg.height, bitrate=msg.bitrate, framerate=msg.fps,
        framerate_den=msg.fpsDen, format=_FORMAT_NAMES[msg.format], profile=_PROFILE_NAMES[msg.profile],
        gop=float(msg.gop) if msg.gop < 0 else msg.gop / 1000, encoder=_ENCODER_NAMES[msg.encoder],
        color_depth=msg.colorDepth, chroma_format=_CHROMA_NAMES.get(msg.chromaFormat, 420), quality=msg.quality,
    )
    return p if p.name else replace(p, name=p.default_name("net_"))


# ---------------------------------------------------------------------------- segment metadata

@dataclass(frozen=True, slots=True)
class SegMetadata:
    """What a Livepeer-Segment header says (go's SegTranscodingMetadata plus the signature):
    the manifest (for AI: "<capability>_<model>"; for live payments: the orchestrator's session
    id), sequence number, keccak256 of the segment bytes, renditions, duration in seconds, the
    job's capabilities, the orchestrator's auth token, clip bounds (ms) and the gateway's sig."""

    manifest_id: str
    seq: int
    hash: bytes
    profiles: tuple[VideoProfile, ...] = ()
    duration: float = DEFAULT_DURATION
    capabilities: Optional[Capabilities] = None
    auth_token: Optional[AuthToken] = None
    calc_perceptual_hash: bool = False
    clip: Optional[tuple[int, int]] = None  # (from, to) in milliseconds
    force_session_reinit: bool = False
    sig: bytes = b""

    def flatten(self) -> bytes:
        """The bytes the gateway signs (go's Flatten; big.Int bytes drop a negative seq's sign)."""
        names = b"".join(keccak(p.name.encode())[:4] for p in self.profiles).hex()
        return b"".join((_manifest_bytes(self.manifest_id), int_bytes(abs(self.seq)).rjust(32, b"\x00"),
                         hash_from_bytes(self.hash), names.encode("ascii")))


def _manifest_bytes(manifest_id: str) -> bytes:
    return manifest_id.encode("utf-8", "surrogateescape")


def _duration_ms(seconds: float) -> int:
    """go's int32(time.Duration(seconds * 1e9) / time.Millisecond): truncations and the int32 wrap."""
    ns = int(seconds * 1e9)
    ms = abs(ns) // 1_000_000 * (1 if ns >= 0 else -1)
    return (ms + 2**31) % 2**32 - 2**31


def segment_to_proto(md: SegMetadata) -> pb.SegData:
    """go's NetSegData plus the signature. Renditions go in fullProfiles when all are MPEG-TS
    with integer framerates, default encoder profiles and GOPs; in fullProfiles2 when only the
    container differs; else in fullProfiles3 (older orchestrators read only the older fields)."""
    profiles = [profile_to_proto(p) for p in md.profiles]
    msg = pb.SegData(manifestId=_manifest_bytes(md.manifest_id), seq=md.seq, hash=md.hash, sig=md.sig,
                     profiles=LEGACY_PROFILES, duration=_duration_ms(md.duration),
                     calc_perceptual_hash=md.calc_perceptual_hash, ForceSessionReinit=md.force_session_reinit)
    if md.capabilities is not None:
        msg.capabilities.CopyFrom(capabilities_to_proto(md.capabilities))
    if md.auth_token is not None:
        msg.auth_token.CopyFrom(auth_token_to_proto(md.auth_token))
    if md.clip is not None:
        msg.segment_parameters.CopyFrom(pb.SegParameters(**{"from": md.clip[0], "to": md.clip[1]}))
    simple = all(p.framerate_den == 0 and p.profile == "" and p.gop == 0 for p in md.profiles)
    all_ts = all(_FORMATS.get(p.format.lower()) == _VP.MPEGTS for p in md.profiles)
    target = (msg.fullProfiles if all_ts else msg.fullProfiles2) if simple else msg.fullProfiles3
    target.extend(profiles)
    return msg


def segment_from_proto(msg: pb.SegData) -> SegMetadata:
    """go's coreSegMetadata: renditions from fullProfiles3, else 2, else 1 (errors as
    profile_from_proto); a duration below 0 or above 5 min is "invalid duration", 0 means 2 s;
    no capabilities means an empty set (so an orchestrator's mandatory capabilities refuse it)."""
    source = msg.fullProfiles3 or msg.fullProfiles2 or msg.fullProfiles
    profiles = tuple(profile_from_proto(p) for p in source)
    ms = msg.duration
    if ms < 0 or ms > MAX_DURATION * 1000:
        raise ValueError("invalid duration")
    caps = capabilities_from_proto(optional(msg, "capabilities"))
    clip = optional(msg, "segment_parameters")
    return SegMetadata(
        manifest_id=msg.manifestId.decode("utf-8", "surrogateescape"),
        seq=msg.seq,
        hash=hash_from_bytes(msg.hash),
        profiles=profiles,
        duration=ms / 1000 if ms else DEFAULT_DURATION,
        capabilities=caps if caps is not None else Capabilities(),
        auth_token=auth_token_from_proto(optional(msg, "auth_token")),
        calc_perceptual_hash=msg.calc_perceptual_hash,
        clip=None if clip is None else (getattr(clip, "from"), clip.to),
        force_session_reinit=msg.ForceSessionReinit,
        sig=bytes(msg.sig),
    )


# -------------------------------------------------------------------------------------- base64

_STD_PADDED = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_SEXTET = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
_NEWLINES = b"\r\n"


def _corrupt(offset: int) -> ValueError:
    return ValueError(f"illegal base64 data at input byte {offset}")


def b64decode(data: str | bytes) -> bytes:
    """Go's base64.StdEncoding.DecodeString: padding required, CR and LF skipped, and an error
    naming the offset Go names."""
    if isinstance(data, str):
        try:
            data = data.encode("latin-1")  # how HTTP servers hand header bytes to Python
        except UnicodeEncodeError:
            data = data.encode("utf-8")
    if len(data) % 4 == 0 and _STD_PADDED.fullmatch(data):
        return base64.b64decode(data)  # the usual case, at C speed
    out, si, n = bytearray(), 0, len(data)
    while si < n:
        sextets: list[int] = []
        while len(sextets) < 4:
            if si == n:
                if not sextets:
                    return bytes(out)
                raise _corrupt(si - len(sextets))
            c = data[si]
            si += 1
            if c in _SEXTET:
                sextets.append(_SEXTET[c])
                continue
            if c in _NEWLINES:
                continue
            if c != ord("=") or len(sextets) < 2:
                raise _corrupt(si - 1)
            if len(sextets) == 2:  # a second "=" must follow
                while si < n and data[si] in _NEWLINES:
                    si += 1
                if si == n:
                    raise _corrupt(n)
                if data[si] != ord("="):
                    raise _corrupt(si - 1)
                si += 1
            while si < n and data[si] in _NEWLINES:
                si += 1
            if si < n:
                raise _corrupt(si)  # data after the padding
            break
        value = 0
        for s in sextets + [0] * (4 - len(sextets)):
            value = value << 6 | s
        out += value.to_bytes(3, "big")[:len(sextets) - 1]
    return bytes(out)


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ----------------------------------------------------------------------------- segment header

# A gateway signs the same seg creds for every AI request of a session (same manifest, seq 0, the
# empty hash) and an orchestrator checks them each time: both are pure (RFC 6979 signatures are
# deterministic), so each distinct (message, key) is signed and each (signer, message, sig)
# recovered once. About 60 µs a request on each side.
_sign = lru_cache(maxsize=4096)(sign)
_verify_sig = lru_cache(maxsize=4096)(verify_sig)


def encode_segment_header(md: SegMetadata, private_key: bytes | str | None = None) -> str:
    """The Livepeer-Segment value (go's genSegCreds). With a key, the segment is signed here;
    without (offchain, where go's Sign gives empty bytes) `md.sig` goes as it is."""
    if private_key is not None:
        md = replace(md, sig=_sign(md.flatten(), private_key))
    return _b64encode(segment_to_proto(md).SerializeToString())


def decode_segment_header(header: str) -> SegMetadata:
    """The first half of verifySegCreds: base64, protobuf, metadata (403s)."""
    try:
        data = b64decode(header)
    except ValueError:
        raise HeaderError("ErrorSegEncoding", 403) from None
    try:
        msg = pb.SegData.FromString(data)
    except DecodeError:
        raise HeaderError(PROTO_ERROR, 403) from None
    try:
        return segment_from_proto(msg)
    except ValueError as exc:
        raise HeaderError(str(exc), 403) from None


# An orchestrator is sent the same seg creds for every AI request of a session: decoded once per
# distinct value (a pure function of the bytes; what varies with the sender, the clock and the
# node's capacity is checked on every call below). Undecodable values raise and are not kept.
_decode_segment_header = lru_cache(maxsize=1024)(decode_segment_header)


def verify_seg_creds(header: str, sender: Optional[str], *, compatible: Callable[[Capabilities], bool],
                     secret: bytes, now: float, check_capacity: Optional[Callable[[str], bool]] = None,
                     offchain: bool = False) -> SegMetadata:
    """The orchestrator's check of a Livepeer-Segment header from `sender` (the payment's
    sender; None for none), in go's order: decoding, the signature ("ErrSegSig"; skipped
    offchain), `compatible(job capabilities)` ("incompatible capabilities"), the auth token
    ("missing / invalid / expired auth token", against `secret` at unix time `now`),
    `check_capacity(session id)` ("OrchestratorCapped"). Every failure is a HeaderError with
    status 403."""
    md = _decode_segment_header(header)
    if not offchain and not _verify_sig(sender or b"\x00" * 20, md.flatten(), md.sig):
        raise HeaderError("ErrSegSig", 403)
    if not compatible(md.capabilities):
        raise HeaderError("incompatible capabilities", 403)
    try:
        check_auth_token(secret, md.auth_token, now)
    except AuthTokenError as exc:
        raise HeaderError(str(exc), 403) from None
    if check_capacity is not None and not check_capacity(md.auth_token.session_id):
        raise HeaderError("OrchestratorCapped", 403)
    return md


# ----------------------------------------------------------------------------- payment header

def encode_payment_header(payment: Optional[Payment]) -> str:
    """The Livepeer-Payment value; no payment (offchain) is the empty string."""
    if payment is None:
        return ""
    return _b64encode(payment_to_proto(payment).SerializeToString())


def decode_payment_header(header: str) -> Payment:
    """go's getPayment: an empty header is an empty payment; failures are 402s."""
    try:
        data = b64decode(header)
    except ValueError as exc:
        raise HeaderError(f"base64 decode error: {exc}", 402) from None
    try:
        return payment_from_proto(pb.Payment.FromString(data))
    except DecodeError:
        raise HeaderError(f"protobuf unmarshal error: {PROTO_ERROR}", 402) from None
