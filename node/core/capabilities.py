"""Capabilities: what a job needs and what an orchestrator offers, and whether they fit
(go-livepeer core/capabilities.go, core/ai.go `PipelineToCapability`, `AddAICapabilities`,
`RemoveAICapabilities`, `ReserveAICapability`; spec node.md §7.1, §7.2).

A capability set travels as a bitstring of uint64 words (capability c is bit c % 64 of word
c // 64) with the orchestrator's mandatory bits, its version, per-capability per-model constraints
(warm, capacity, runner version) and a capacity per capability. A gateway's job capabilities fit an
orchestrator when the versions, mandatories, model constraints and bits all fit (§7.2).

Decisions:
- `pipeline_capability` follows go's rule (upper-case the first letter, "-" → " ", match a
  capability's description) but refuses the two sentinel names: go maps "invalid" / "unused" to
  the negative IDs -2 / -1 without an error, which is never a pipeline.
- `compatible(job, None)` is False: go dereferences the missing orchestrator capabilities (a panic).
- Mirrored: a worker's models join the orchestrator's constraints with warm and capacity only, not
  the worker's runner version (go's AddAICapabilities drops it), so gateways that ask for a minimum
  runner version do not match models served only by remote workers.
- Mirrored: 13 (scene classification) has no description at this snapshot, so it prints as "13".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache
from typing import Iterable, Mapping, Optional, Protocol

__all__ = [
    "Capability", "CAPABILITY_NAMES", "DEFAULT_CAPABILITIES", "OPTIONAL_CAPABILITIES",
    "MANDATORY_CAPABILITIES", "LEGACY_CAPABILITIES", "CapabilityError", "pipeline_capability",
    "capability_name", "CapabilityString", "LEGACY_CAPABILITY_STRING", "ModelConstraint",
    "Capabilities", "compatible", "version_compatible", "parse_semver", "OutputProfile",
    "job_capabilities", "ai_job_capabilities",
]


class Capability(IntEnum):
    """Capability IDs with go's names (Capability_<name>); fixed forever, ordering is the wire."""

    Invalid = -2
    Unused = -1
    H264 = 0
    MPEGTS = 1
    MP4 = 2
    FractionalFramerates = 3
    StorageDirect = 4
    StorageS3 = 5
    StorageGCS = 6
    ProfileH264Baseline = 7
    ProfileH264Main = 8
    ProfileH264High = 9
    ProfileH264ConstrainedHigh = 10
    GOP = 11
    AuthToken = 12
    SceneClassification = 13  # deprecated, kept for the ordering
    MPEG7VideoSignature = 14
    HEVC_Decode = 15
    HEVC_Encode = 16
    VP8_Decode = 17
    VP9_Decode = 18
    VP8_Encode = 19
    VP9_Encode = 20
    H264_Decode_444_8bit = 21
    H264_Decode_422_8bit = 22
    H264_Decode_444_10bit = 23
    H264_Decode_422_10bit = 24
    H264_Decode_420_10bit = 25
    SegmentSlicing = 26
    TextToImage = 27
    ImageToImage = 28
    ImageToVideo = 29
    Upscale = 30
    AudioToText = 31
    SegmentAnything2 = 32
    LLM = 33
    ImageToText = 34
    LiveVideoToVideo = 35
    TextToSpeech = 36
    BYOC = 37


_C = Capability

# go's CapabilityNameLookup; pipeline names are matched against these descriptions.
CAPABILITY_NAMES: Mapping[Capability, str] = {
    _C.Invalid: "Invalid", _C.Unused: "Unused", _C.H264: "H.264", _C.MPEGTS: "MPEGTS",
    _C.MP4: "MP4",
    _C.FractionalFramerates: "Fractional framerates", _C.StorageDirect: "Storage direct",
    _C.StorageS3: "Storage S3", _C.StorageGCS: "Storage GCS",
    _C.ProfileH264Baseline: "H264 Baseline profile", _C.ProfileH264Main: "H264 Main profile",
    _C.ProfileH264High: "H264 High profile",
    _C.ProfileH264ConstrainedHigh: "H264 Constrained, Contained High profile",
    _C.GOP: "GOP", _C.AuthToken: "Auth token", _C.MPEG7VideoSignature: "MPEG7 signature",
    _C.HEVC_Decode: "HEVC decode", _C.HEVC_Encode: "HEVC encode", _C.VP8_Decode: "VP8 decode",
    _C.VP9_Decode: "VP9 decode", _C.VP8_Encode: "VP8 encode", _C.VP9_Encode: "VP9 encode",
    _C.H264_Decode_444_8bit: "H264 Decode YUV444 8-bit",
    _C.H264_Decode_422_8bit: "H264 Decode YUV422 8-bit",
    _C.H264_Decode_444_10bit: "H264 Decode YUV444 10-bit",
    _C.H264_Decode_422_10bit: "H264 Decode YUV422 10-bit",
    _C.H264_Decode_420_10bit: "H264 Decode YUV420 10-bit",
    _C.SegmentSlicing: "Segment slicing", _C.TextToImage: "Text to image",
    _C.ImageToImage: "Image to image", _C.ImageToVideo: "Image to video", _C.Upscale: "Upscale",
    _C.AudioToText: "Audio to text", _C.SegmentAnything2: "Segment anything 2", _C.LLM: "Llm",
    _C.ImageToText: "Image to text", _C.LiveVideoToVideo: "Live video to video",
    _C.TextToSpeech: "Text to speech", _C.BYOC: "byoc",
}

DEFAULT_CAPABILITIES: tuple[Capability, ...] = (*(_C(i) for i in range(13)),
                                                _C.MPEG7VideoSignature, _C.SegmentSlicing)
OPTIONAL_CAPABILITIES: tuple[Capability, ...] = (
    *(_C(i) for i in range(15, 26)), _C.TextToImage, _C.ImageToImage, _C.ImageToVideo, _C.Upscale,
    _C.AudioToText, _C.SegmentAnything2, _C.ImageToText, _C.TextToSpeech)
# The hard-break list: an orchestrator refuses jobs that do not carry these.
MANDATORY_CAPABILITIES: tuple[Capability, ...] = (_C.AuthToken,)
# What nodes without capability discovery could do; fixed forever.
LEGACY_CAPABILITIES: tuple[Capability, ...] = tuple(_C(i) for i in range(12))


class CapabilityError(ValueError):
    """A capability that cannot be derived (go's capability errors); `str(e)` is go's message."""


def capability_name(cap: int) -> str:
    """go's Capability.String(): the description, or the number when there is none."""
    try:
        return CAPABILITY_NAMES[Capability(cap)]
    except (ValueError, KeyError):
        return str(int(cap))


_BY_DESCRIPTION = {desc: cap for cap, desc in CAPABILITY_NAMES.items() if cap >= 0}


def pipeline_capability(pipeline: str) -> Capability:
    """A pipeline's capability: "audio-to-text" → AudioToText, "llm" → LLM; unknown ⇒ error
    "pipeline not available"."""
    if pipeline:
        cap = _BY_DESCRIPTION.get(pipeline[0].upper() + pipeline[1:].replace("-", " "))
        if cap is not None:
            return cap
    raise CapabilityError("pipeline not available")


# ---------------------------------------------------------------------------------- bitstring

_WORD = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class CapabilityString:
    """A capability bitstring: uint64 words, bit c % 64 of word c // 64 (go's CapabilityString)."""

    words: tuple[int, ...] = ()

    @classmethod
    def of(cls, caps: Iterable[int]) -> CapabilityString:
        """Negative IDs (Unused, Invalid) are skipped, as go does."""
        s = cls()
        for cap in caps:
            if cap >= 0:
                s = s.add(cap)
        return s

    def add(self, cap: int) -> CapabilityString:
        word, bit = divmod(int(cap), 64)
        words = list(self.words) + [0] * (word + 1 - len(self.words))
        words[word] |= 1 << bit
        return CapabilityString(tuple(words))

    def remove(self, cap: int) -> CapabilityString:
        word, bit = divmod(int(cap), 64)
        if word >= len(self.words):
            return self
        words = list(self.words)
        words[word] &= _WORD ^ (1 << bit)
        return CapabilityString(tuple(words))

    def has(self, cap: int) -> bool:
        word, bit = divmod(int(cap), 64)
        return cap >= 0 and word < len(self.words) and bool(self.words[word] >> bit & 1)

    def compatible_with(self, other: CapabilityString) -> bool:
        """self ⊆ other: no longer than other and every bit of self is set in other."""
        if len(self.words) > len(other.words):
            return False
        return all(a & b == a for a, b in zip(self.words, other.words))

    def capabilities(self) -> list[int]:
        return [i * 64 + b for i, w in enumerate(self.words) for b in range(64) if w >> b & 1]


LEGACY_CAPABILITY_STRING = CapabilityString.of(LEGACY_CAPABILITIES)


# ------------------------------------------------------------------------------------ versions

_SEMVER = re.compile(r"v?(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?(?:\.(0|[1-9][0-9]*))?"
                     r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
                     r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?")


def parse_semver(version: str) -> Optional[tuple[int, int, int]]:
    """(major, minor, patch) as Masterminds/semver NewVersion reads it ("v" prefix, missing
    minor/patch = 0), pre-release and build dropped; None if it does not parse."""
    m = _SEMVER.fullmatch(version)
    if m is None:
        return None
    pre = m.group(4) or ""
    # numeric pre-release identifiers may not have leading zeros
    if any(p.isdigit() and len(p) > 1 and p[0] == "0" for p in pre.split(".")):
        return None
    parts = tuple(int(g or 0) for g in m.group(1, 2, 3))
    return parts if all(p < 1 << 64 for p in parts) else None


def version_compatible(min_version: str, version: str) -> bool:
    """go's isVersionCompatible: no minimum ⇒ yes; no version ⇒ no; an unparsable minimum ⇒
    yes; an unparsable version ⇒ no; else version ≥ minimum ignoring pre-release suffixes
    (runner versions use them as post-release tags)."""
    if min_version == "":
        return True
    if version in ("", "undefined"):
        return False
    lo = parse_semver(min_version)
    if lo is None:
        return True
    v = parse_semver(version)
    return v is not None and v >= lo


# --------------------------------------------------------------------------------- capabilities

@dataclass(slots=True)
class ModelConstraint:
    """One model of a capability: loaded (warm) or not, free capacity, containers in use (live
    AI only) and the runner version (a minimum when a gateway sends it)."""

    warm: bool = False
    capacity: int = 0
    capacity_in_use: int = 0
    runner_version: str = ""


Constraints = dict[int, dict[str, ModelConstraint]]


@dataclass(slots=True)
class Capabilities:
    """A node's or a job's capabilities (go's core.Capabilities): the bitstring, the mandatory
    bits, the software version, the minimum version it asks of others, per-capability per-model
    constraints and a capacity per capability."""

    bitstring: CapabilityString = CapabilityString()
    mandatories: CapabilityString = CapabilityString()
    version: str = ""
    min_version: str = ""
    constraints: Constraints = field(default_factory=dict)
    capacities: dict[int, int] = field(default_factory=dict)

    @classmethod
    def new(cls, caps: Iterable[int], mandatories: Iterable[int] = (),
            version: str = "") -> Capabilities:
        """go's NewCapabilities: capacity 1 for every capability given."""
        caps = [c for c in caps if c >= 0]
        return cls(CapabilityString.of(caps), CapabilityString.of(mandatories), version,
                   capacities={int(c): 1 for c in caps})

    @classmethod
    def from_wire(cls, bitstring: Iterable[int], mandatories: Iterable[int] = (), version: str = "",
                  min_version: str = "", constraints: Optional[Constraints] = None,
                  capacities: Optional[Mapping[int, int]] = None) -> Capabilities:
        """From net.Capabilities fields; a message without capacities (an older node) has
        capacity 1 for every set bit."""
        bits = CapabilityString(tuple(bitstring))
        if not capacities:
            capacities = {c: 1 for c in bits.capabilities()}
        return cls(bits, CapabilityString(tuple(mandatories)), version, min_version,
                   {int(c): dict(models) for c, models in (constraints or {}).items()},
                   {int(c): n for c, n in capacities.items()})

    def compatible_with(self, orch: Optional[Capabilities]) -> bool:
        """Whether an orchestrator advertising `orch` can take this job (§7.2)."""
        if orch is None:
            return False
        return (version_compatible(self.min_version, orch.version)
                and orch.mandatories.compatible_with(self.bitstring)
                and _constraints_compatible(self.constraints, orch.constraints)
                and self.bitstring.compatible_with(orch.bitstring))

    def legacy_only(self) -> bool:
        """Needs nothing beyond what pre-discovery nodes offered."""
        return self.bitstring.compatible_with(LEGACY_CAPABILITY_STRING)

    def set_runner_version(self, cap: int, model_id: str, version: str) -> None:
        models = self.constraints.setdefault(int(cap), {})
        models.setdefault(model_id, ModelConstraint()).runner_version = version

    def runner_version(self, cap: int, model_id: str) -> str:
        model = self.constraints.get(int(cap), {}).get(model_id)
        return model.runner_version if model else ""

    # --- remote transcoders and AI workers joining and leaving an orchestrator

    def add_capacity(self, worker: Capabilities) -> None:
        """A worker connected: its capacities add up and its bits are set; its AI models join
        with warm and capacity (capacities of a model already present add up)."""
        for cap, n in worker.capacities.items():
            self.capacities[cap] = self.capacities.get(cap, 0) + n
            self.bitstring = self.bitstring.add(cap)
        for cap, models in worker.constraints.items():
            mine = self.constraints.setdefault(cap, {})
            for model_id, m in models.items():
                if model_id in mine:
                    mine[model_id].capacity += m.capacity
                else:
                    mine[model_id] = ModelConstraint(warm=m.warm, capacity=m.capacity)

    def remove_capacity(self, worker: Capabilities) -> None:
        """A worker left: subtract its capacities; a capability or model at ≤ 0 is removed."""
        for cap, n in worker.capacities.items():
            if cap not in self.capacities:
                continue
            left = self.capacities[cap] - n
            if left <= 0:
                del self.capacities[cap]
                self.bitstring = self.bitstring.remove(cap)
            else:
                self.capacities[cap] = left
        for cap, models in worker.constraints.items():
            mine = self.constraints.get(cap)
            if mine is None:
                continue
            for model_id, m in models.items():
                if model_id in mine:
                    mine[model_id].capacity -= m.capacity
                    if mine[model_id].capacity <= 0:
                        del mine[model_id]

    # --- one unit of a local model's capacity per batch AI request

    def reserve_model(self, pipeline: str, model_id: str) -> None:
        model = self._model(pipeline, model_id, "reserve")
        if model.capacity <= 0:
            raise CapabilityError("failed to reserve AI capability capacity, model capacity is 0 "
                                  f"pipeline={pipeline} modelID={model_id}")
        model.capacity -= 1

    def release_model(self, pipeline: str, model_id: str) -> None:
        self._model(pipeline, model_id, "release").capacity += 1

    def _model(self, pipeline: str, model_id: str, verb: str) -> ModelConstraint:
        models = self.constraints.get(pipeline_capability(pipeline))
        what = "pipeline" if models is None else "model"
        if models is None or model_id not in models:
            raise CapabilityError(f"failed to {verb} AI capability capacity, {what} does not exist "
                                  f"pipeline={pipeline} modelID={model_id}")
        return models[model_id]


def _constraints_compatible(job: Constraints, orch: Constraints) -> bool:
    for cap, models in job.items():
        offered = orch.get(cap)
        if offered is None:  # the orchestrator does not constrain it: assume it fits
            continue
        for model_id, want in models.items():
            have = offered.get(model_id)
            if have is None or (want.warm and not have.warm):
                return False
            if not version_compatible(want.runner_version, have.runner_version):
                return False
    return True


def compatible(job: Optional[Capabilities], orch: Optional[Capabilities]) -> bool:
    """go's CompatibleWith with its nil rule: no job capabilities ⇒ incompatible."""
    return job is not None and job.compatible_with(orch)


def ai_job_capabilities(cap: int, model_id: str, *, warm: bool = False, runner_version: str = "",
                        min_version: str = "", with_defaults: bool = False) -> Capabilities:
    """A gateway's AI job: the capability, one model constraint and its minimum versions
    (server/ai_session.go newAICapabilities; discovery adds the default capabilities)."""
    caps = Capabilities.new([*(DEFAULT_CAPABILITIES if with_defaults else ()), cap])
    model = ModelConstraint(warm=warm, runner_version=runner_version)
    caps.constraints = {int(cap): {model_id: model}}
    caps.min_version = min_version
    return caps


@lru_cache(maxsize=256)
def batch_ai_job_capabilities(cap: int, model_id: str) -> Capabilities:
    """A batch AI request's job capabilities with the defaults (what both nodes price, discover
    and check compatibility by), made once per (capability, model) (~20 us each): shared, so
    only read, never changed."""
    return ai_job_capabilities(cap, model_id, with_defaults=True)


# ----------------------------------------------------------------------- transcoding job caps

class ProfileLike(Protocol):
    format: str
    encoder: str
    framerate_den: int
    profile: str
    gop: float


@dataclass(frozen=True, slots=True)
class OutputProfile:
    """What a rendition needs from a transcoder: container ("" or "mpegts", "mp4"), encoder
    ("h264", "h265", "vp8", "vp9"), framerate denominator (> 0 ⇒ fractional), H.264 profile
    ("", "baseline", "main", "high", "constrained_high") and GOP (0 = unset)."""

    format: str = ""
    encoder: str = "h264"
    framerate_den: int = 0
    profile: str = ""
    gop: float = 0


_FORMATS = {"": _C.MPEGTS, "mpegts": _C.MPEGTS, "ts": _C.MPEGTS, "mp4": _C.MP4}
_ENCODERS = {"h264": _C.H264, "h265": _C.HEVC_Encode, "hevc": _C.HEVC_Encode,
             "vp8": _C.VP8_Encode, "vp9": _C.VP9_Encode}
_DECODERS = {"h264": _C.H264, "h265": _C.HEVC_Decode, "hevc": _C.HEVC_Decode,
             "vp8": _C.VP8_Decode, "vp9": _C.VP9_Decode}
_PROFILES = {"": None, "none": None, "baseline": _C.ProfileH264Baseline, "main": _C.ProfileH264Main,
             "high": _C.ProfileH264High, "constrained_high": _C.ProfileH264ConstrainedHigh}
_STORAGE = {"direct": _C.StorageDirect, "s3": _C.StorageS3, "gcs": _C.StorageGCS,
            "google": _C.StorageGCS}
# H.264 decode capability by (chroma subsampling, bit depth); 4:2:0 8-bit needs none
_H264_PIXEL_CAPS = {(422, 8): _C.H264_Decode_422_8bit, (444, 8): _C.H264_Decode_444_8bit,
                    (420, 10): _C.H264_Decode_420_10bit, (422, 10): _C.H264_Decode_422_10bit,
                    (444, 10): _C.H264_Decode_444_10bit}
_CHROMA_ENUM = {420: 0, 422: 1, 444: 2}  # lpms ChromaSubsampling values, as go prints them


def _pixel_format(name: str) -> Optional[tuple[int, int]]:
    """(chroma, bits) of an ffmpeg pix_fmt name the way lpms PixelFormat.Properties reads it;
    None for formats lpms does not know (go then adds no pixel-format capability)."""
    if name in ("nv12", "nv21"):
        return 420, 8
    if name in ("yuyv422", "uyvy422"):
        return 422, 8
    m = re.fullmatch(r"yuv(420|422|444)p(?:(10|12|16)(?:le|be))?", name)
    return (int(m.group(1)), int(m.group(2) or 8)) if m else None


def _lookup(table: Mapping[str, Optional[Capability]], key: str, what: str) -> Optional[Capability]:
    try:
        return table[key.lower()]
    except KeyError:
        raise CapabilityError(f"capability: unknown {what}") from None


def job_capabilities(profiles: Iterable[ProfileLike], input_codec: str = "h264", *,
                     pixel_format: str = "", verification: bool = False,
                     segment_slicing: bool = False, storage: Optional[str] = None) -> Capabilities:
    """The capabilities a transcoding job needs (go's JobCapabilities): AuthToken; MPEG7 when
    verifying; SegmentSlicing when slicing; the input decoder and, for H.264, its pixel format;
    per rendition its container, encoder, fractional framerate, H.264 profile and GOP; the object
    store kind ("direct", "s3", "gcs"; None = none). Errors carry go's messages."""
    caps = {_C.AuthToken}
    if verification:
        caps.add(_C.MPEG7VideoSignature)
    if segment_slicing:
        caps.add(_C.SegmentSlicing)
    if input_codec.lower() == "h264":
        caps.add(_C.H264)
        fmt = _pixel_format(pixel_format)
        if fmt is not None and fmt != (420, 8):
            if fmt not in _H264_PIXEL_CAPS:
                raise CapabilityError("capability: unsupported pixel format "
                                      f"chroma={_CHROMA_ENUM[fmt[0]]} colorBits={fmt[1]}")
            caps.add(_H264_PIXEL_CAPS[fmt])
    for p in profiles:
        caps.add(_lookup(_FORMATS, p.format, "format"))
        caps.add(_lookup(_ENCODERS, p.encoder, "codec"))
        if p.framerate_den > 0:
            caps.add(_C.FractionalFramerates)
        profile_cap = _lookup(_PROFILES, p.profile, "profile")
        if profile_cap is not None:
            caps.add(profile_cap)
        if p.gop != 0:
            caps.add(_C.GOP)
    if storage is not None:
        caps.add(_lookup(_STORAGE, storage, "storage"))
    caps.add(_lookup(_DECODERS, input_codec, "codec"))
    # go builds the job's bitstring only: no capacities, no mandatories
    return Capabilities(bitstring=CapabilityString.of(caps))
