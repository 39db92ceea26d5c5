"""Video profiles for transcoding: lpms' presets, go-livepeer's `-transcodingOptions` flag and the
profile conversions the segment protocol uses (spec node.md §8.1).

A profile says what one rendition looks like: a target size, a bitrate, a frame rate (0 = keep the
input's), an output container, an H.264 encoder profile and a GOP. lpms keeps the bitrate as a
string ("600k") and the resolution as "WxH"; here they are integers (bits per second, pixels).

Pure data and parsing: nothing here imports PyAV, so the simulator can import the preset table
cheaply.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Iterable, Mapping, Optional, Sequence

__all__ = [
    "DEFAULT_TRANSCODING_OPTIONS", "GOP_INTRA_ONLY", "PRESETS", "PRESET_LOOKUP",
    "EncoderProfile", "Format", "ProfileError", "VideoCodec", "VideoProfile",
    "default_profile_name", "parse_json_profiles", "parse_presets", "parse_transcoding_options",
    "as_profiles", "preset", "profile_from_net", "profile_id", "profile_to_net", "profiles_names",
]

log = logging.getLogger(__name__)

# starter.go: the gateway's default `-transcodingOptions`
DEFAULT_TRANSCODING_OPTIONS = "P240p30fps16x9,P360p30fps16x9"

# lpms GOPIntraOnly (time.Duration -1); here GOPs are seconds, so -1.0 marks intra-only
GOP_INTRA_ONLY = -1.0


class ProfileError(ValueError):
    """A profile, preset name or `-transcodingOptions` value go would reject (go's message)."""


class Format(IntEnum):
    """lpms ffmpeg.Format. NB the protobuf enum differs: MPEGTS = 0, MP4 = 1 (NONE goes out as
    MPEGTS); see profile_to_net / profile_from_net."""
    NONE = 0  # the muxer is chosen from the output name; lpms' presets leave it unset (".ts")
    MPEGTS = 1
    MP4 = 2

    @property
    def extension(self) -> str:
        return ".mp4" if self is Format.MP4 else ".ts"

    @property
    def mime_type(self) -> str:
        return "video/mp4" if self is Format.MP4 else "video/mp2t"

    @property
    def muxer(self) -> str:
        return "mp4" if self is Format.MP4 else "mpegts"


class EncoderProfile(IntEnum):
    """lpms ffmpeg.Profile (same numbers as the protobuf VideoProfile.Profile enum)."""
    NONE = 0  # encoder default
    H264_BASELINE = 1
    H264_MAIN = 2
    H264_HIGH = 3
    H264_CONSTRAINED_HIGH = 4

    @property
    def encoder_option(self) -> str:
        """The encoder's `profile` option (lpms ProfileParameters); '' = leave the default."""
        return _PROFILE_PARAMETERS[self]


_PROFILE_PARAMETERS = {
    EncoderProfile.NONE: "", EncoderProfile.H264_BASELINE: "baseline",
    EncoderProfile.H264_MAIN: "main", EncoderProfile.H264_HIGH: "high",
    EncoderProfile.H264_CONSTRAINED_HIGH: "high",
}

# lpms EncoderProfileLookup (matched lower-cased)
_ENCODER_PROFILE_LOOKUP = {
    "": EncoderProfile.NONE, "none": EncoderProfile.NONE,
    "h264baseline": EncoderProfile.H264_BASELINE, "h264main": EncoderProfile.H264_MAIN,
    "h264high": EncoderProfile.H264_HIGH, "h264constrainedhigh": EncoderProfile.H264_CONSTRAINED_HIGH,
}


class VideoCodec(IntEnum):
    """lpms ffmpeg.VideoCodec (same numbers as the protobuf VideoProfile.VideoCodec enum)."""
    H264 = 0
    H265 = 1
    VP8 = 2
    VP9 = 3

    @property
    def display_name(self) -> str:
        """lpms VideoCodecName: what a JSON profile's "encoder" field holds."""
        return _CODEC_NAMES[self]


_CODEC_NAMES = {VideoCodec.H264: "H.264", VideoCodec.H265: "HEVC",
                VideoCodec.VP8: "VP8", VideoCodec.VP9: "VP9"}


@dataclass(frozen=True, slots=True)
class VideoProfile:
    """One rendition's settings (lpms ffmpeg.VideoProfile)."""
    name: str
    width: int
    height: int
    bitrate: int  # bits per second; lpms sets min = average = max rate = VBV buffer to it (0: unset)
    fps: int = 0  # output frame rate numerator; 0 = pass the input's timestamps through
    fps_den: int = 0  # 0 means 1
    format: Format = Format.NONE
    profile: EncoderProfile = EncoderProfile.NONE
    gop: float = 0.0  # seconds between keyframes; 0 = encoder default; GOP_INTRA_ONLY = -1
    encoder: VideoCodec = VideoCodec.H264
    aspect_ratio: str = ""  # informative ("16:9"), as in lpms; the size rule ignores it
    quality: int = 0  # CRF (software) / CQ = quality + 7 (nvenc); 0 = unset
    color_depth: int = 0  # lpms ColorDepthBits; 0 = 8 bit
    chroma_format: int = 0  # lpms ChromaSubsampling; 0 = 4:2:0

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def framerate(self) -> Optional[tuple[int, int]]:
        """(num, den) of the output rate, or None for passthrough (fps 0)."""
        return (self.fps, self.fps_den or 1) if self.fps > 0 else None

    @property
    def extension(self) -> str:
        return self.format.extension

    @property
    def mime_type(self) -> str:
        return self.format.mime_type


def _preset(name: str, resolution: str, bitrate_k: int, fps: int, aspect: str) -> VideoProfile:
    width, height = (int(v) for v in resolution.split("x"))
    return VideoProfile(name, width, height, bitrate_k * 1000, fps, aspect_ratio=aspect)


# lpms ffmpeg/videoprofile.go, every preset variable
PRESETS: dict[str, VideoProfile] = {p.name: p for p in (
    _preset("P720p60fps16x9", "1280x720", 6000, 60, "16:9"),
    _preset("P720p30fps16x9", "1280x720", 4000, 30, "16:9"),
    _preset("P720p25fps16x9", "1280x720", 3500, 25, "16:9"),
    _preset("P720p30fps4x3", "960x720", 3500, 30, "4:3"),
    _preset("P576p30fps16x9", "1024x576", 1500, 30, "16:9"),
    _preset("P576p25fps16x9", "1024x576", 1500, 25, "16:9"),
    _preset("P360p30fps16x9", "640x360", 1200, 30, "16:9"),
    _preset("P360p25fps16x9", "640x360", 1000, 25, "16:9"),
    _preset("P360p30fps4x3", "480x360", 1000, 30, "4:3"),
    _preset("P240p30fps16x9", "426x240", 600, 30, "16:9"),
    _preset("P240p25fps16x9", "426x240", 600, 25, "16:9"),
    _preset("P240p30fps4x3", "320x240", 600, 30, "4:3"),
    _preset("P144p30fps16x9", "256x144", 400, 30, "16:9"),
    _preset("P144p25fps16x9", "256x144", 400, 25, "16:9"),
)}

# lpms VideoProfileLookup: what `-transcodingOptions` and the webhook's "presets" accept. NB go's
# map lacks P144p25fps16x9 (the variable exists, the lookup entry does not), so go ignores that
# name in the flag; we mirror it.
PRESET_LOOKUP: dict[str, VideoProfile] = {
    name: p for name, p in PRESETS.items() if name != "P144p25fps16x9"}


def preset(name: str) -> VideoProfile:
    """The lpms preset called `name` (as go's VideoProfileLookup has it); ProfileError if none."""
    try:
        return PRESET_LOOKUP[name]
    except KeyError:
        raise ProfileError(f'unknown video profile preset "{name}" '
                           f'(known: {", ".join(PRESET_LOOKUP)})') from None


def parse_presets(names: Iterable[str], *, strict: bool = False) -> list[VideoProfile]:
    """go's parsePresets: each (whitespace-trimmed) name looked up in PRESET_LOOKUP. go skips
    unknown names silently; here they are logged, or raise ProfileError when `strict`."""
    profiles = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        p = PRESET_LOOKUP.get(name)
        if p is None:
            if strict:
                preset(name)  # raises with the list of known names
            log.warning("ignoring unknown transcoding preset %r", name)
            continue
        profiles.append(p)
    return profiles


def default_profile_name(width: int, height: int, bitrate: int) -> str:
    """lpms DefaultProfileName: "<w>x<h>_<bitrate>"."""
    return f"{width}x{height}_{bitrate}"


# --- JSON profiles (lpms JsonProfile / ParseProfiles) ---------------------------------------------

_JSON_FIELDS = {  # JSON key (go matches keys case-insensitively) -> kind
    "name": "str", "width": "int", "height": "int", "bitrate": "int", "fps": "uint",
    "fpsden": "uint", "profile": "str", "gop": "str", "encoder": "str", "colordepth": "int",
    "chromaformat": "int", "quality": "uint",
}
_GO_TYPES = {"str": "string", "int": "int", "uint": "uint"}


def _json_value(key: str, kind: str, value: Any) -> Any:
    """Decode one field like go's encoding/json into JsonProfile (null leaves the zero value)."""
    if value is None:
        return "" if kind == "str" else 0
    bad = None
    if kind == "str":
        if not isinstance(value, str):
            bad = value
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        bad = value
    elif isinstance(value, float) and not value.is_integer():
        bad = value
    elif kind == "uint" and value < 0:
        bad = value
    else:
        value = int(value)
    if bad is not None:
        shown = {str: "string", bool: "bool", list: "array", dict: "object"}.get(type(bad), "number")
        if shown == "number":
            shown = f"number {bad}"
        raise ProfileError(f"unable to unmarshal the passed transcoding option: json: cannot "
                           f"unmarshal {shown} into Go struct field JsonProfile.{key} of type "
                           f"{_GO_TYPES[kind]}")
    return value


def _parse_gop(text: str) -> float:
    if text == "":
        return 0.0
    if text == "intra":
        return GOP_INTRA_ONLY
    try:
        gop = float(text)
    except ValueError:
        raise ProfileError(f'cannot parse the GOP value in the transcoding options: '
                           f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None
    if math.isnan(gop) or gop < 0.0:  # 0 is allowed (encoder default)
        raise ProfileError(f"invalid gop value {gop:f}. Please set it to a positive value")
    return gop


def _encoder_profile(text: str) -> EncoderProfile:
    try:
        return _ENCODER_PROFILE_LOOKUP[text.lower()]
    except KeyError:
        raise ProfileError("unable to parse the H264 encoder profile: "
                           "unknown VideoProfile profile name") from None


def _codec(text: str) -> VideoCodec:
    if text == "":
        return VideoCodec.H264
    for codec, name in _CODEC_NAMES.items():
        if name == text:
            return codec
    raise ProfileError(f"Unable to parse encoder profile, unknown encoder: {text} unknown codec name")


def parse_json_profiles(text: str | bytes) -> list[VideoProfile]:
    """lpms ParseProfiles: a JSON array of custom profiles, e.g.
    `[{"name": "p360", "width": 640, "height": 360, "bitrate": 1200000, "fps": 30, "fpsDen": 1,
    "profile": "H264ConstrainedHigh", "gop": "2.0", "encoder": "H.264"}]`.
    Keys match case-insensitively, unknown keys are ignored (go's encoding/json). An unnamed
    profile is called "custom_<w>x<h>_<bitrate>"; bitrate is in bits per second; gop is a
    string of seconds or "intra". Raises ProfileError with go's messages."""
    try:
        decoded = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProfileError(f"unable to unmarshal the passed transcoding option: {exc}") from None
    if decoded is None:
        return []
    if not isinstance(decoded, list):
        raise ProfileError("unable to unmarshal the passed transcoding option: json: cannot "
                           "unmarshal object into Go value of type []ffmpeg.JsonProfile")
    profiles = []
    for item in decoded:
        if item is None:
            item = {}
        if not isinstance(item, dict):
            raise ProfileError("unable to unmarshal the passed transcoding option: json: cannot "
                               "unmarshal into Go value of type ffmpeg.JsonProfile")
        fields = {key: "" if kind == "str" else 0 for key, kind in _JSON_FIELDS.items()}
        for key, value in item.items():
            low = key.lower()
            if low in _JSON_FIELDS:
                fields[low] = _json_value(key, _JSON_FIELDS[low], value)
        width, height, bitrate = fields["width"], fields["height"], fields["bitrate"]
        name = fields["name"] or "custom_" + default_profile_name(width, height, bitrate)
        gop = _parse_gop(fields["gop"])
        profiles.append(VideoProfile(
            name=name, width=width, height=height, bitrate=bitrate, fps=fields["fps"],
            fps_den=fields["fpsden"], profile=_encoder_profile(fields["profile"]), gop=gop,
            encoder=_codec(fields["encoder"]), quality=fields["quality"],
            color_depth=fields["colordepth"], chroma_format=fields["chromaformat"]))
    return profiles


def parse_transcoding_options(value: str, *, strict: bool = False) -> list[VideoProfile]:
    """go's handling of `-transcodingOptions` (server/mediaserver.go NewLivepeerServer): if the
    value names a readable, non-empty file, that file holds a JSON array of profiles
    (parse_json_profiles); otherwise it is a comma list of preset names (parse_presets; unknown
    names skipped as go does, or ProfileError when `strict`). Also accepted here, for
    convenience: the JSON text itself (a value starting with "["). No profile at all raises
    ProfileError("No transcoding profiles found"), go's error."""
    content: Optional[bytes] = None
    try:
        if value and os.path.isfile(value):
            with open(value, "rb") as fh:
                content = fh.read()
    except OSError:
        content = None
    if content:
        profiles = parse_json_profiles(content)
    elif value.lstrip().startswith("["):
        profiles = parse_json_profiles(value)
    else:
        profiles = parse_presets(value.split(","), strict=strict)
    if not profiles:
        raise ProfileError("No transcoding profiles found")
    return profiles


def profiles_names(profiles: Iterable[VideoProfile]) -> str:
    """go's common.ProfilesNames: the names sorted and comma-joined (metrics, logs)."""
    return ",".join(sorted(p.name for p in profiles))


def profile_id(name: str) -> bytes:
    """The 4-byte id of a profile in the legacy SegData.profiles field (go's
    ProfilesToTranscodeOpts): keccak256(name)[:4]; e.g. P240p30fps16x9 -> c0a6517a."""
    from node.core.keccak import keccak  # pure hash; imported lazily to keep this module light
    return keccak(name.encode())[:4]


# --- protobuf VideoProfile fields (net/lp_rpc.proto) ---------------------------------------------

_NET_FORMAT_MPEGTS, _NET_FORMAT_MP4 = 0, 1


def profile_to_net(p: VideoProfile) -> dict[str, Any]:
    """go's FFmpegProfiletoNetProfile: the fields of a protobuf VideoProfile (keys are the proto
    field names). An unnamed profile goes out as "ffmpeg_<w>x<h>_<bitrate>"; gop in
    milliseconds, or -1 for intra-only."""
    if p.gop < 0:
        gop = int(p.gop)
    else:
        gop = int(round(p.gop * 1000))
    if p.chroma_format not in (0, 1, 2):
        raise ProfileError("unknown VideoProfile ChromaFormat")
    return {
        "name": p.name or "ffmpeg_" + default_profile_name(p.width, p.height, p.bitrate),
        "width": p.width, "height": p.height, "bitrate": p.bitrate, "fps": p.fps,
        "fpsDen": p.fps_den,
        "format": _NET_FORMAT_MP4 if p.format is Format.MP4 else _NET_FORMAT_MPEGTS,
        "profile": int(p.profile), "gop": gop, "encoder": int(p.encoder),
        "colorDepth": p.color_depth, "chromaFormat": p.chroma_format, "quality": p.quality,
    }


def profile_from_net(fields: Mapping[str, Any]) -> VideoProfile:
    """go's makeFfmpegVideoProfiles for one protobuf VideoProfile (a mapping with the proto field
    names; missing fields are zero). An unnamed profile becomes "net_<w>x<h>_<bitrate>"; the
    output format is MPEGTS unless MP4. Raises ProfileError with the orchestrator's messages."""
    width, height = int(fields.get("width", 0)), int(fields.get("height", 0))
    bitrate = int(fields.get("bitrate", 0))
    name = fields.get("name") or "net_" + default_profile_name(width, height, bitrate)
    net_format = int(fields.get("format", 0))
    if net_format == _NET_FORMAT_MPEGTS:
        fmt = Format.MPEGTS
    elif net_format == _NET_FORMAT_MP4:
        fmt = Format.MP4
    else:
        raise ProfileError("unrecognized profile output format")
    try:
        profile = EncoderProfile(int(fields.get("profile", 0)))
    except ValueError:
        raise ProfileError("unrecognized encoder profile") from None
    try:
        encoder = VideoCodec(int(fields.get("encoder", 0)))
    except ValueError:
        raise ProfileError("unrecognized video codec") from None
    gop_ms = int(fields.get("gop", 0))
    # go: a negative gop is a raw time.Duration (-1 = intra-only), else milliseconds
    gop = float(gop_ms) if gop_ms < 0 else gop_ms / 1000.0
    return VideoProfile(name=name, width=width, height=height, bitrate=bitrate,
                        fps=int(fields.get("fps", 0)), fps_den=int(fields.get("fpsDen", 0)),
                        format=fmt, profile=profile, gop=gop, encoder=encoder,
                        quality=int(fields.get("quality", 0)))


def as_profiles(profiles: Sequence[VideoProfile | str] | str) -> list[VideoProfile]:
    """Profiles given as objects, preset names, or one comma list of names (strict lookup)."""
    if isinstance(profiles, str):
        profiles = [n for n in profiles.split(",") if n.strip()]
    return [p if isinstance(p, VideoProfile) else preset(p.strip()) for p in profiles]
