"""The committed protobuf modules match node/net/proto/lp_rpc.proto, and the .proto keeps
go-livepeer's services and irregular field numbers (the wire-compatibility facts)."""
from __future__ import annotations

import re

import pytest
from google.protobuf import descriptor_pb2

from node.net import proto
from node.net.proto import lp_rpc_pb2 as pb
from node.net.proto import lp_rpc_pb2_grpc as pb_grpc

VERSION_LINES = re.compile(r"^# Protobuf Python Version: .*$|^GRPC_GENERATED_VERSION = .*$", re.M)


@pytest.fixture
def protoc():
    return pytest.importorskip("grpc_tools.protoc", reason="grpcio-tools is not installed")


def test_committed_descriptor_is_the_proto_compiled_now(tmp_path, protoc):
    out = tmp_path / "lp_rpc.pb"
    assert protoc.main(["protoc", f"-I{proto.HERE}", f"--descriptor_set_out={out}", str(proto.HERE / proto.PROTO)]) == 0
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    for message in compiled.message_type:  # protoc adds json names; generated modules omit them
        _clear_json_names(message)
    assert descriptor_pb2.FileDescriptorProto.FromString(pb.DESCRIPTOR.serialized_pb) == compiled


def _clear_json_names(message: descriptor_pb2.DescriptorProto) -> None:
    for f in message.field:
        f.ClearField("json_name")
    for nested in message.nested_type:
        _clear_json_names(nested)


def test_committed_modules_are_what_protoc_generates(tmp_path, protoc):
    fresh = proto.regenerate(tmp_path)
    for path in fresh:
        committed = (proto.HERE / path.name).read_text()
        if VERSION_LINES.findall(committed) != VERSION_LINES.findall(path.read_text()):
            pytest.skip("a different grpcio-tools version is installed; the descriptor test covers the content")
        assert path.read_text() == committed, f"{path.name} is stale: run node.net.proto.regenerate()"
    assert "from . import lp_rpc_pb2" in (tmp_path / "lp_rpc_pb2_grpc.py").read_text()


def test_services_and_irregular_field_numbers_match_go_livepeer():
    services = {s.name: {m.name: (m.input_type.name, m.output_type.name, m.server_streaming)
                         for m in s.methods} for s in pb.DESCRIPTOR.services_by_name.values()}
    assert services == {
        "Orchestrator": {"GetOrchestrator": ("OrchestratorRequest", "OrchestratorInfo", False),
                         "EndTranscodingSession": ("EndTranscodingSessionRequest", "EndTranscodingSessionResponse", False),
                         "Ping": ("PingPong", "PingPong", False)},
        "AIWorker": {"RegisterAIWorker": ("RegisterAIWorkerRequest", "NotifyAIJob", True)},
        "Transcoder": {"RegisterTranscoder": ("RegisterRequest", "NotifySegment", True)},
    }
    numbers = {(m, f): pb.DESCRIPTOR.message_types_by_name[m].fields_by_name[f].number for m, f in [
        ("OrchestratorInfo", "storage"), ("OrchestratorInfo", "capabilities_prices"), ("OrchestratorInfo", "nodes"),
        ("SegData", "calc_perceptual_hash"), ("SegData", "fullProfiles3"), ("SegData", "segment_parameters"),
        ("SegData", "ForceSessionReinit"), ("VideoProfile", "name"), ("VideoProfile", "quality"),
        ("TranscodeResult", "info"), ("PaymentResult", "info"), ("NotifySegment", "taskId"),
        ("NotifySegment", "profiles"), ("NotifySegment", "orchId"), ("GPUComputeInfo", "major"),
        ("OSInfo", "s3info")]}
    assert list(numbers.values()) == [32, 33, 34, 10, 35, 37, 38, 16, 28, 16, 16, 16, 17, 18, 4, 16]
    file = descriptor_pb2.FileDescriptorProto.FromString(pb.DESCRIPTOR.serialized_pb)
    notify = next(m for m in file.message_type if m.name == "NotifySegment")
    assert [(r.start, r.end) for r in notify.reserved_range] == [(2, 3), (33, 34)]
    assert hasattr(pb_grpc, "OrchestratorStub") and hasattr(pb_grpc, "add_TranscoderServicer_to_server")
