"""The transcoding worker: lpms' presets and go's -transcodingOptions parsing, the PyAV
transcoder (sizes, frame rates, audio copy, pixel counts, errors) and the gateway's pixel-count
verification. Inputs are synthetic segments made in memory."""
from __future__ import annotations

import io
import json
from fractions import Fraction

import av
import numpy as np
import pytest

from node.core.sessions import is_non_retryable_error
from node.worker import profiles as P
from node.worker.media import audio_only_segment, synthetic_segment
from node.worker.profiles import (
    DEFAULT_TRANSCODING_OPTIONS, GOP_INTRA_ONLY, EncoderProfile, Format, ProfileError, VideoCodec,
    VideoProfile, parse_json_profiles, parse_transcoding_options, preset,
)
from node.worker.transcode import (
    HardwareUnavailableError, TranscodeError, Transcoder, count_pixels, nvenc_available,
    output_size, transcode, verify_pixels, verify_renditions,
)


def _probe(data: bytes) -> dict:
    """Decode a rendition: container, streams, video frames (size, time, keyframe)."""
    with av.open(io.BytesIO(data)) as c:
        info = {"format": c.format.name,
                "streams": [(s.type, s.codec_context.name) for s in c.streams]}
        v = c.streams.video[0]
        info["profile"] = v.codec_context.profile
        frames = [(f.width, f.height, f.time, f.key_frame) for f in c.decode(v)]
    info["frames"] = frames
    return info


# --- profiles ------------------------------------------------------------------------------------


def test_presets_are_lpms_table():
    p240, p360 = parse_transcoding_options(DEFAULT_TRANSCODING_OPTIONS)
    assert (p240.name, p240.width, p240.height, p240.bitrate, p240.fps) == \
        ("P240p30fps16x9", 426, 240, 600_000, 30)
    assert (p360.name, p360.width, p360.height, p360.bitrate, p360.fps) == \
        ("P360p30fps16x9", 640, 360, 1_200_000, 30)
    table = {n: (p.width, p.height, p.bitrate // 1000, p.fps) for n, p in P.PRESETS.items()}
    assert table["P720p60fps16x9"] == (1280, 720, 6000, 60)
    assert table["P720p30fps4x3"] == (960, 720, 3500, 30)
    assert table["P576p30fps16x9"] == (1024, 576, 1500, 30)
    assert table["P360p25fps16x9"] == (640, 360, 1000, 25)
    assert table["P144p30fps16x9"] == (256, 144, 400, 30)
    assert len(P.PRESETS) == 14 and "P144p25fps16x9" not in P.PRESET_LOOKUP  # as in go's map
    assert p240.format is Format.NONE and p240.extension == ".ts" and p240.mime_type == "video/mp2t"
    assert p240.profile is EncoderProfile.NONE and p240.gop == 0 and p240.encoder is VideoCodec.H264
    # go's VideoProfileNameLookup ids: keccak256(name)[:4]
    assert P.profile_id("P240p30fps16x9").hex() == "c0a6517a"
    assert P.profile_id("P720p60fps16x9").hex() == "a7ac137a"
    assert P.profiles_names([p360, p240]) == "P240p30fps16x9,P360p30fps16x9"


def test_unknown_preset_errors():
    with pytest.raises(ProfileError, match='unknown video profile preset "P999p"'):
        preset("P999p")
    # go skips unknown names in the flag, and fails only when nothing is left
    assert [p.name for p in parse_transcoding_options(" P360p30fps16x9 , nope")] == ["P360p30fps16x9"]
    with pytest.raises(ProfileError, match="^No transcoding profiles found$"):
        parse_transcoding_options("nope,P144p25fps16x9")
    with pytest.raises(ProfileError, match="nope"):
        parse_transcoding_options("P360p30fps16x9,nope", strict=True)
    with pytest.raises(ProfileError, match="unknown video profile preset"):
        transcode(b"\x00" * 10, ["P240p30fps16x9", "P123"])


def test_json_profiles_file_and_errors(tmp_path):
    spec = [{"name": "hd", "width": 1280, "height": 720, "bitrate": 3_000_000, "fps": 30,
             "fpsDen": 1, "profile": "H264ConstrainedHigh", "gop": "2.5", "encoder": "H.264"},
            {"Width": 320, "HEIGHT": 180, "bitrate": 250_000, "gop": "intra", "extra": True}]
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps(spec))
    hd, small = parse_transcoding_options(str(path))
    assert hd == VideoProfile("hd", 1280, 720, 3_000_000, 30, 1,
                              profile=EncoderProfile.H264_CONSTRAINED_HIGH, gop=2.5)
    assert (small.name, small.width, small.height, small.fps, small.gop) == \
        ("custom_320x180_250000", 320, 180, 0, GOP_INTRA_ONLY)
    assert parse_transcoding_options(json.dumps(spec)) == [hd, small]  # JSON text directly
    bad = {"gop": "x"}
    with pytest.raises(ProfileError, match="cannot parse the GOP value in the transcoding options"):
        parse_json_profiles(json.dumps([bad]))
    with pytest.raises(ProfileError, match="invalid gop value -1.000000"):
        parse_json_profiles('[{"gop": "-1"}]')
    with pytest.raises(ProfileError, match="unable to parse the H264 encoder profile: unknown "
                                           "VideoProfile profile name"):
        parse_json_profiles('[{"profile": "h264extreme"}]')
    with pytest.raises(ProfileError, match="unknown encoder: AV1"):
        parse_json_profiles('[{"encoder": "AV1"}]')
    with pytest.raises(ProfileError, match="unable to unmarshal the passed transcoding option"):
        parse_json_profiles('[{"width": "640"}]')
    with pytest.raises(ProfileError, match="unable to unmarshal"):
        parse_json_profiles('{"profiles": []}')
    with pytest.raises(ProfileError, match="No transcoding profiles found"):
        parse_transcoding_options("[]")


def test_net_profile_conversions():
    unnamed = {"width": 640, "height": 360, "bitrate": 900_000, "fps": 30, "format": 1,
               "profile": 2, "gop": 2000}
    p = P.profile_from_net(unnamed)
    assert (p.name, p.format, p.profile, p.gop) == ("net_640x360_900000", Format.MP4,
                                                   EncoderProfile.H264_MAIN, 2.0)
    assert P.profile_from_net({"gop": -1}).gop == GOP_INTRA_ONLY
    net = P.profile_to_net(p)
    assert (net["format"], net["profile"], net["gop"], net["name"]) == (1, 2, 2000, p.name)
    assert P.profile_to_net(preset("P240p30fps16x9"))["format"] == 0  # NONE goes out as MPEGTS
    for field, message in (("format", "profile output format"), ("profile", "encoder profile"),
                           ("encoder", "video codec")):
        with pytest.raises(ProfileError, match=f"unrecognized {message}"):
            P.profile_from_net({field: 9})


def test_output_size_keeps_input_aspect_like_lpms():
    assert output_size(1280, 720, 426, 240) == (426, 240)
    assert output_size(1280, 720, 640, 360) == (640, 360)
    assert output_size(1920, 1080, 256, 144) == (256, 144)
    assert output_size(1280, 720, 960, 720) == (960, 540)  # a 4:3 preset on 16:9 input
    assert output_size(640, 480, 640, 360) == (640, 480)  # 4:3 input, 16:9 preset
    assert output_size(720, 1280, 640, 360) == (360, 640)  # portrait: the long side is height
    assert output_size(4000, 100, 426, 240) == (2000, 50)  # short side held at the minimum
    assert output_size(1280, 720, 100, 40) == (146, 82)  # clamped to the minimum width
    assert output_size(1280, 720, 640, 360, VideoCodec.VP8) == (1280, 720)  # no limits: as is


# --- the transcoder ------------------------------------------------------------------------------


def test_synthetic_segments_are_deterministic():
    make = synthetic_segment.__wrapped__  # bypass the cache
    a, b = make(0.5, 320, 180, 30, audio=True), make(0.5, 320, 180, 30, audio=True)
    assert a == b
    info = _probe(a)
    assert info["format"] == "mpegts" and info["streams"] == [("video", "h264"), ("audio", "aac")]
    assert [(w, h) for w, h, _, _ in info["frames"]] == [(320, 180)] * 15


@pytest.fixture(scope="module")
def segment_720p():
    return synthetic_segment(2.0, 1280, 720, 30, audio=True)


@pytest.fixture(scope="module")
def default_result(segment_720p):
    return transcode(segment_720p, DEFAULT_TRANSCODING_OPTIONS)


def test_transcode_720p_to_default_profiles(segment_720p, default_result):
    result = default_result
    assert result.decoded_frames == 60 and result.decoded_pixels == 60 * 1280 * 720
    assert result.duration == pytest.approx(2.0)
    assert [r.profile.name for r in result.renditions] == ["P240p30fps16x9", "P360p30fps16x9"]
    for rendition, (w, h, kbps) in zip(result.renditions, [(426, 240, 600), (640, 360, 1200)]):
        info = _probe(rendition.data)
        assert info["format"] == "mpegts"
        assert info["streams"] == [("video", "h264"), ("audio", "aac")]  # audio copied
        frames = info["frames"]
        assert len(frames) == rendition.frames == 60
        assert {(fw, fh) for fw, fh, _, _ in frames} == {(w, h)}
        assert frames[0][3]  # starts on a keyframe
        assert frames[-1][2] - frames[0][2] == pytest.approx(59 / 30, abs=1e-3)
        assert rendition.pixels == w * h * 60 == count_pixels(rendition.data)
        assert verify_pixels(rendition.data, rendition.pixels) == (True, rendition.pixels)
        assert verify_pixels(rendition.data, rendition.pixels + 1) == (False, rendition.pixels)
        # lpms' rate control (min = max = VBV buffer = bitrate) keeps it near the target
        video_kbps = len(rendition.data) * 8 / 2.0 / 1000
        assert 0.5 * kbps < video_kbps < 2.0 * kbps
    assert result.pixels == sum(r.pixels for r in result.renditions)
    ok, counts = verify_renditions([r.data for r in result.renditions],
                                   [r.pixels for r in result.renditions])
    assert ok and counts == [r.pixels for r in result.renditions]
    assert verify_renditions([result.renditions[0].data], [1, 2]) == (False, [])
    assert verify_pixels(b"not video", 5) == (False, 0)


def test_frame_rate_conversion_drops_and_duplicates():
    src = synthetic_segment(1.0, 320, 180, 15)  # 15 frames
    p30 = VideoProfile("up", 320, 180, 300_000, 30)
    p10 = VideoProfile("down", 320, 180, 300_000, 10)
    p25 = VideoProfile("ntsc-ish", 320, 180, 300_000, 30000, 1001)
    up, down, odd = transcode(src, [p30, p10, p25], preset="ultrafast").renditions
    assert up.frames == len(_probe(up.data)["frames"]) == 30
    assert down.frames == len(_probe(down.data)["frames"]) == 10
    assert odd.frames == len(_probe(odd.data)["frames"]) == 30
    times = [t for _, _, t, _ in _probe(up.data)["frames"]]
    assert np.allclose(np.diff(times), 1 / 30, atol=1e-3)


def test_fps_zero_passes_timestamps_through():
    src = synthetic_segment(1.0, 320, 180, 24, start_time=10.0)
    keep = VideoProfile("keep", 256, 144, 200_000, fps=0)
    (rendition,) = transcode(src, [keep], preset="ultrafast").renditions
    frames = _probe(rendition.data)["frames"]
    with av.open(io.BytesIO(src)) as c:
        src_times = [f.time for f in c.decode(video=0)]
    assert rendition.frames == len(frames) == 24
    # same spacing as the input (the muxer may shift the whole segment by a constant)
    assert np.allclose(np.diff([t for _, _, t, _ in frames]), np.diff(src_times), atol=1e-4)
    assert frames[0][2] == pytest.approx(src_times[0], abs=0.1)


def test_gop_encoder_profile_and_mp4():
    src = synthetic_segment(1.0, 320, 180, 30)
    every_10 = VideoProfile("g", 320, 180, 300_000, 30, gop=1 / 3)
    intra = VideoProfile("i", 320, 180, 300_000, 30, gop=GOP_INTRA_ONLY)
    baseline = VideoProfile("b", 320, 180, 300_000, 30, profile=EncoderProfile.H264_BASELINE,
                            format=Format.MP4)
    g, i, b = transcode(src, [every_10, intra, baseline], preset="ultrafast").renditions
    keys = [k for *_, k in _probe(g.data)["frames"]]
    assert [n for n, k in enumerate(keys) if k] == [0, 10, 20]
    assert all(k for *_, k in _probe(i.data)["frames"])
    info = _probe(b.data)
    assert info["format"].startswith("mov,mp4") and "Baseline" in info["profile"]
    assert b.file_name(7) == "b_7.mp4" and b.profile.mime_type == "video/mp4"
    with pytest.raises(TranscodeError) as info:
        transcode(src, [VideoProfile("bad", 320, 180, 300_000, 30, gop=-5.0)])
    assert str(info.value) == "TranscoderInvalidGOP" and info.value.non_retryable


def test_bad_inputs_raise_go_errors():
    for data, detail in ((b"", "empty"), (b"\x47garbage" * 200, "not readable"),
                         (audio_only_segment(0.5), "no video stream")):
        with pytest.raises(TranscodeError) as info:
            transcode(data, ["P240p30fps16x9"])
        err = info.value
        assert str(err) == "TranscoderInvalidVideo" and detail in err.detail
        assert err.non_retryable and is_non_retryable_error(err)
    with pytest.raises(TranscodeError, match="TranscoderInvalidVideo"):
        count_pixels(b"junk")


def _gapped_segment() -> bytes:
    """Three tiny frames at t = 0, 0.1 s and 60 s: a timestamp gap the fps filter would fill."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "bf": "0"}
        for pts in (0, 1, 600):
            frame = av.VideoFrame(160, 96, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.pts, frame.time_base = pts, Fraction(1, 10)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def test_runaway_frame_rate_conversion_is_refused():
    data = _gapped_segment()
    with pytest.raises(TranscodeError) as info:
        transcode(data, [VideoProfile("p", 160, 96, 100_000, 30)], preset="ultrafast")
    assert str(info.value) == "Encoded frames runaway"  # lpms' message
    assert "timestamp gap at 60.000 s" in info.value.detail
    # with the timestamps passed through, the gap costs nothing
    (r,) = transcode(data, [VideoProfile("p", 160, 96, 100_000, 0)], preset="ultrafast").renditions
    assert r.frames == 3


def test_nvenc_request_without_gpu_is_a_clear_error():
    if nvenc_available():
        pytest.skip("an NVIDIA GPU is present: h264_nvenc works here")
    with pytest.raises(HardwareUnavailableError) as info:
        Transcoder(accel="nvidia")
    assert str(info.value) == "TranscoderInvalidHardware"
    assert "h264_nvenc" in info.value.detail and "software" in info.value.detail
    assert Transcoder(accel="auto").encoder_name == "libx264"
    with pytest.raises(ValueError, match="unknown acceleration"):
        Transcoder(accel="quantum")


@pytest.mark.skipif("not nvenc_available()")
def test_nvenc_transcode_on_gpu():
    src = synthetic_segment(1.0, 640, 360, 30)
    (r,) = Transcoder(accel="nvidia").transcode(src, ["P240p30fps16x9"]).renditions
    assert (r.width, r.height, r.frames) == (426, 240, 30) and count_pixels(r.data) == r.pixels
