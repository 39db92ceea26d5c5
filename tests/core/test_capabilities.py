"""node.core.capabilities: IDs, bit layout, pipeline names and the compatibility rules of spec
node.md §7.1–§7.2, checked without a chain."""
import pytest

from node.core.capabilities import (
    DEFAULT_CAPABILITIES,
    LEGACY_CAPABILITIES,
    MANDATORY_CAPABILITIES,
    Capabilities,
    Capability,
    CapabilityError,
    CapabilityString,
    ModelConstraint,
    OutputProfile,
    ai_job_capabilities,
    capability_name,
    compatible,
    job_capabilities,
    parse_semver,
    pipeline_capability,
    version_compatible,
)

C = Capability


def test_ids_and_names_follow_go():
    assert [c.value for c in Capability] == list(range(-2, 38))
    assert (C.AuthToken, C.SegmentSlicing, C.TextToImage, C.AudioToText, C.LLM,
            C.LiveVideoToVideo, C.TextToSpeech, C.BYOC) == (12, 26, 27, 31, 33, 35, 36, 37)
    assert capability_name(C.H264) == "H.264"
    assert capability_name(C.LLM) == "Llm"
    assert capability_name(C.SceneClassification) == "13"  # no description at this snapshot
    assert capability_name(99) == "99"


def test_default_mandatory_and_legacy_sets():
    assert sorted(DEFAULT_CAPABILITIES) == [*range(13), 14, 26]
    assert MANDATORY_CAPABILITIES == (C.AuthToken,)
    assert sorted(LEGACY_CAPABILITIES) == list(range(12))


@pytest.mark.parametrize("pipeline, cap", [
    ("text-to-image", C.TextToImage), ("image-to-image", C.ImageToImage),
    ("image-to-video", C.ImageToVideo), ("upscale", C.Upscale), ("audio-to-text", C.AudioToText),
    ("segment-anything-2", C.SegmentAnything2), ("llm", C.LLM), ("image-to-text", C.ImageToText),
    ("live-video-to-video", C.LiveVideoToVideo), ("text-to-speech", C.TextToSpeech),
])
def test_pipeline_names(pipeline, cap):
    assert pipeline_capability(pipeline) == cap


@pytest.mark.parametrize("pipeline", ["", "text-to-imag", "Text-To-Image", "byoc", "invalid", "unused"])
def test_unknown_pipeline(pipeline):
    with pytest.raises(CapabilityError, match="^pipeline not available$"):
        pipeline_capability(pipeline)


def test_bit_layout():
    s = CapabilityString.of([0, 12, 63, 64, 130, -1, -2])
    assert s.words == ((1 << 0) | (1 << 12) | (1 << 63), 1 << 0, 1 << 2)
    assert s.capabilities() == [0, 12, 63, 64, 130]
    assert s.has(130) and not s.has(129) and not s.has(-1)
    assert CapabilityString.of(DEFAULT_CAPABILITIES).words == (0b100_0000_0000_0101_1111_1111_1111,)
    assert s.remove(64).words == (s.words[0], 0, 4)
    assert s.remove(500) == s


def test_subset():
    small, big = CapabilityString.of([1, 2]), CapabilityString.of([1, 2, 3, 70])
    assert small.compatible_with(big)
    assert not big.compatible_with(small)
    assert CapabilityString().compatible_with(small)
    # longer than the other string ⇒ not a subset, even with an all-zero extra word
    assert not CapabilityString((2, 0)).compatible_with(CapabilityString((2,)))


def test_semver_parsing():
    assert parse_semver("0.8.1") == (0, 8, 1)
    assert parse_semver("v1.2") == (1, 2, 0)
    assert parse_semver("2") == (2, 0, 0)
    assert parse_semver("0.0.2-beta.1+build") == (0, 0, 2)
    for bad in ("", "abc", "1.2.3.4", "01.2.3", "1.2.3-01", "1.2.3 "):
        assert parse_semver(bad) is None


@pytest.mark.parametrize("min_version, version, ok", [
    ("", "", True),  # no minimum: anything goes
    ("", "undefined", True),
    ("0.8.0", "", False),  # version not set
    ("0.8.0", "undefined", False),
    ("not-a-version", "0.1.0", True),  # unparsable minimum: ignored
    ("0.8.0", "garbage", False),  # unparsable version: refused
    ("0.8.0", "0.8.0", True),
    ("0.8.0", "0.7.9", False),
    ("0.8.0", "0.10.0", True),
    ("0.8.0", "0.8.0-dev", True),  # pre-release suffixes are ignored both ways
    ("0.8.1-rc1", "0.8.1", True),
    ("0.8.1", "0.8.0-post", False),
])
def test_version_compatible(min_version, version, ok):
    assert version_compatible(min_version, version) is ok


def orch(**kw):
    caps = Capabilities.new([*DEFAULT_CAPABILITIES, C.TextToImage], MANDATORY_CAPABILITIES, "0.8.0")
    caps.constraints = {C.TextToImage: {"sd": ModelConstraint(warm=True, capacity=1, runner_version="0.2.0")}}
    for k, v in kw.items():
        setattr(caps, k, v)
    return caps


def job(**kw):
    caps = Capabilities.new([C.AuthToken, C.TextToImage])
    caps.constraints = {C.TextToImage: {"sd": ModelConstraint()}}
    for k, v in kw.items():
        setattr(caps, k, v)
    return caps


def test_compatible_both_ways():
    assert compatible(job(), orch())
    # the job needs a capability the orchestrator lacks
    assert not compatible(Capabilities.new([C.AuthToken, C.LLM]), orch())
    # the orchestrator offers more than the job needs
    assert compatible(Capabilities.new([C.AuthToken]), orch())
    # None job capabilities are incompatible; a missing orchestrator too
    assert not compatible(None, orch())
    assert not compatible(job(), None)


def test_mandatories_must_be_in_the_job():
    assert not compatible(Capabilities.new([C.H264]), orch())
    assert compatible(Capabilities.new([C.H264]), orch(mandatories=CapabilityString()))


def test_min_version_of_the_job():
    assert compatible(job(min_version="0.7.0"), orch())
    assert not compatible(job(min_version="0.9.0"), orch())
    assert not compatible(job(min_version="0.7.0"), orch(version=""))
    assert compatible(job(min_version="0.7.0"), orch(version="0.8.0-dev"))


def test_model_constraints():
    def want(**m):
        return job(constraints={C.TextToImage: {"sd": ModelConstraint(**m)}})

    assert compatible(want(warm=True), orch())
    cold = orch(constraints={C.TextToImage: {"sd": ModelConstraint(warm=False, runner_version="0.2.0")}})
    assert compatible(want(warm=False), cold)
    assert not compatible(want(warm=True), cold)
    assert not compatible(job(constraints={C.TextToImage: {"other": ModelConstraint()}}), orch())
    assert compatible(want(runner_version="0.1.9"), orch())
    assert compatible(want(runner_version="0.2.0"), orch())
    assert not compatible(want(runner_version="0.3.0"), orch())
    no_runner_version = orch(constraints={C.TextToImage: {"sd": ModelConstraint()}})
    assert not compatible(want(runner_version="0.1.0"), no_runner_version)
    # a capability the orchestrator does not constrain fits any model
    assert compatible(want(warm=True), orch(constraints={}))


def test_legacy_only():
    assert Capabilities.new([C.H264, C.MPEGTS, C.GOP]).legacy_only()
    assert not Capabilities.new([C.H264, C.AuthToken]).legacy_only()


def test_from_wire_gives_legacy_messages_one_capacity_per_bit():
    caps = Capabilities.from_wire([0b1011], version="0.7.0")
    assert caps.capacities == {0: 1, 1: 1, 3: 1}
    caps = Capabilities.from_wire([0b1011], capacities={0: 4, 1: 2, 3: 1})
    assert caps.capacities == {0: 4, 1: 2, 3: 1}


def test_new_gives_capacity_one_per_capability():
    caps = Capabilities.new([C.H264, C.TextToImage], [C.AuthToken], "1.0")
    assert caps.capacities == {0: 1, 27: 1}
    assert caps.mandatories.capabilities() == [12]
    assert caps.version == "1.0"


def test_workers_add_and_remove_capacity():
    node = Capabilities.new(DEFAULT_CAPABILITIES, MANDATORY_CAPABILITIES)
    w1 = Capabilities.new([C.H264, C.TextToImage, C.LLM])
    w1.capacities[C.H264] = 3
    w1.constraints = {C.TextToImage: {"sd": ModelConstraint(warm=True, capacity=2, runner_version="0.2.0")},
                      C.LLM: {"llama": ModelConstraint(capacity=1)}}
    w2 = Capabilities.new([C.TextToImage])
    w2.constraints = {C.TextToImage: {"sd": ModelConstraint(warm=True, capacity=1)}}
    node.add_capacity(w1)
    node.add_capacity(w2)
    assert node.capacities[C.H264] == 4 and node.capacities[C.TextToImage] == 2
    assert node.bitstring.has(C.LLM)
    sd = node.constraints[C.TextToImage]["sd"]
    assert (sd.warm, sd.capacity, sd.runner_version) == (True, 3, "")  # go keeps no runner version
    node.remove_capacity(w1)
    assert node.capacities[C.TextToImage] == 1 and node.capacities[C.H264] == 1
    assert not node.bitstring.has(C.LLM) and C.LLM not in node.capacities
    assert node.constraints[C.TextToImage]["sd"].capacity == 1
    assert node.constraints[C.LLM] == {}  # model removed at ≤ 0
    node.remove_capacity(w2)
    assert not node.bitstring.has(C.TextToImage)
    assert node.constraints[C.TextToImage] == {}


def test_reserve_and_release_model():
    node = Capabilities.new([C.TextToImage])
    node.constraints = {C.TextToImage: {"sd": ModelConstraint(capacity=1)}}
    node.reserve_model("text-to-image", "sd")
    with pytest.raises(CapabilityError, match="^failed to reserve AI capability capacity, model capacity is 0 "
                                              "pipeline=text-to-image modelID=sd$"):
        node.reserve_model("text-to-image", "sd")
    node.release_model("text-to-image", "sd")
    assert node.constraints[C.TextToImage]["sd"].capacity == 1
    with pytest.raises(CapabilityError, match="model does not exist pipeline=text-to-image modelID=x"):
        node.reserve_model("text-to-image", "x")
    with pytest.raises(CapabilityError, match="release AI capability capacity, pipeline does not exist"):
        node.release_model("llm", "x")
    with pytest.raises(CapabilityError, match="^pipeline not available$"):
        node.reserve_model("nope", "x")


def test_runner_version_constraint():
    caps = Capabilities.new([C.LiveVideoToVideo])
    assert caps.runner_version(C.LiveVideoToVideo, "noop") == ""
    caps.set_runner_version(C.LiveVideoToVideo, "noop", "0.0.2")
    assert caps.runner_version(C.LiveVideoToVideo, "noop") == "0.0.2"


def test_ai_job_capabilities():
    caps = ai_job_capabilities(C.LLM, "llama", warm=True, runner_version="0.1.0", min_version="0.8.0")
    assert caps.bitstring.capabilities() == [33]
    assert caps.constraints[C.LLM]["llama"] == ModelConstraint(warm=True, runner_version="0.1.0")
    assert caps.min_version == "0.8.0"
    assert ai_job_capabilities(C.LLM, "llama", with_defaults=True).bitstring.capabilities() == [
        *range(13), 14, 26, 33]


def test_transcoding_job_capabilities_default_profiles():
    caps = job_capabilities([OutputProfile(), OutputProfile()])
    assert caps.bitstring.capabilities() == [C.H264, C.MPEGTS, C.AuthToken]
    assert caps.capacities == {} and caps.mandatories == CapabilityString()


def test_transcoding_job_capabilities_everything():
    profiles = [OutputProfile(format="mp4", encoder="h265", framerate_den=1001, profile="main", gop=2.0),
                OutputProfile(encoder="vp9", profile="constrained_high")]
    caps = job_capabilities(profiles, "vp8", verification=True, segment_slicing=True, storage="s3")
    assert caps.bitstring.capabilities() == sorted([
        C.AuthToken, C.MPEG7VideoSignature, C.SegmentSlicing, C.MP4, C.MPEGTS, C.HEVC_Encode,
        C.FractionalFramerates, C.ProfileH264Main, C.GOP, C.VP9_Encode, C.ProfileH264ConstrainedHigh,
        C.StorageS3, C.VP8_Decode])


@pytest.mark.parametrize("pix_fmt, cap", [
    ("yuv420p", None), ("nv12", None), ("yuv422p", C.H264_Decode_422_8bit),
    ("yuv444p", C.H264_Decode_444_8bit), ("yuv420p10le", C.H264_Decode_420_10bit),
    ("yuv422p10be", C.H264_Decode_422_10bit), ("yuv444p10le", C.H264_Decode_444_10bit),
    ("rgb24", None),  # unknown to lpms: no pixel-format capability
])
def test_h264_pixel_formats(pix_fmt, cap):
    caps = job_capabilities([], "h264", pixel_format=pix_fmt)
    assert caps.bitstring.capabilities() == sorted({C.H264, C.AuthToken} | ({cap} if cap else set()))


def test_unsupported_pixel_format():
    with pytest.raises(CapabilityError, match="^capability: unsupported pixel format chroma=0 colorBits=12$"):
        job_capabilities([], "h264", pixel_format="yuv420p12le")
    # only H.264 input looks at the pixel format
    assert job_capabilities([], "h265", pixel_format="yuv420p12le").bitstring.has(C.HEVC_Decode)


@pytest.mark.parametrize("kwargs, message", [
    (dict(profiles=[OutputProfile(format="mkv")]), "capability: unknown format"),
    (dict(profiles=[OutputProfile(encoder="av1")]), "capability: unknown codec"),
    (dict(profiles=[OutputProfile(profile="high10")]), "capability: unknown profile"),
    (dict(profiles=[], storage="ipfs"), "capability: unknown storage"),
    (dict(profiles=[], input_codec="av1"), "capability: unknown codec"),
])
def test_job_capability_errors(kwargs, message):
    with pytest.raises(CapabilityError, match=f"^{message}$"):
        job_capabilities(**kwargs)
