"""node/net/proto/redeemer.proto is go-livepeer's net/redeemer.proto (service, messages, field
numbers) and the committed modules are what protoc makes of it."""
from __future__ import annotations

import re

import pytest
from google.protobuf import descriptor_pb2

from node.net import proto
from node.net.proto import redeemer_pb2 as rpb

VERSION_LINES = re.compile(r"^# Protobuf Python Version: .*$|^GRPC_GENERATED_VERSION = .*$", re.MULTILINE)


def test_committed_modules_are_what_protoc_generates(tmp_path):
    pytest.importorskip("grpc_tools.protoc", reason="grpcio-tools is not installed")
    for path in proto.regenerate(tmp_path, proto=proto.REDEEMER_PROTO):
        committed = (proto.HERE / path.name).read_text()
        if VERSION_LINES.findall(committed) != VERSION_LINES.findall(path.read_text()):
            pytest.skip("a different grpcio-tools version is installed")
        assert path.read_text() == committed, f"{path.name} is stale: run node.net.proto.regenerate(proto=...)"
    assert "from . import lp_rpc_pb2" in (tmp_path / "redeemer_pb2.py").read_text()


def test_service_and_messages_are_go_livepeers():
    [service] = rpb.DESCRIPTOR.services_by_name.values()
    assert service.full_name == "net.TicketRedeemer"
    assert {m.name: (m.input_type.full_name, m.output_type.full_name, m.server_streaming) for m in service.methods} == {
        "QueueTicket": ("net.Ticket", "net.QueueTicketRes", False),
        "MaxFloat": ("net.MaxFloatReq", "net.MaxFloatUpdate", False),
        "MonitorMaxFloat": ("net.MaxFloatReq", "net.MaxFloatUpdate", True),
    }
    file = descriptor_pb2.FileDescriptorProto.FromString(rpb.DESCRIPTOR.serialized_pb)
    fields = {m.name: [(f.name, f.number, f.type_name or f.type) for f in m.field] for m in file.message_type}
    assert fields == {
        "Ticket": [("ticket_params", 1, ".net.TicketParams"), ("sender", 2, descriptor_pb2.FieldDescriptorProto.TYPE_BYTES),
                   ("expiration_params", 3, ".net.TicketExpirationParams"),
                   ("sender_params", 4, ".net.TicketSenderParams"),
                   ("recipient_rand", 5, descriptor_pb2.FieldDescriptorProto.TYPE_BYTES)],
        "QueueTicketRes": [],
        "MaxFloatReq": [("sender", 1, descriptor_pb2.FieldDescriptorProto.TYPE_BYTES)],
        "MaxFloatUpdate": [("max_float", 1, descriptor_pb2.FieldDescriptorProto.TYPE_BYTES)],
    }
