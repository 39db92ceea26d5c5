"""The `net` protobuf package (go-livepeer net/lp_rpc.proto): `lp_rpc.proto` and the modules
protoc generates from it, `lp_rpc_pb2` (messages) and `lp_rpc_pb2_grpc` (service stubs and
servicers). The generated modules are committed; after editing the .proto run `regenerate()`
(needs grpcio-tools) and commit the result.
"""
from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = "lp_rpc.proto"
GENERATED = ("lp_rpc_pb2.py", "lp_rpc_pb2_grpc.py")


def regenerate(out_dir: Path | str = HERE) -> list[Path]:
    """Run protoc on lp_rpc.proto into `out_dir` and make the gRPC module's import of the
    messages package-relative. Returns the generated files."""
    from grpc_tools import protoc  # a development dependency, needed only here

    out_dir = Path(out_dir)
    rc = protoc.main(["grpc_tools.protoc", f"-I{HERE}", f"--python_out={out_dir}",
                      f"--grpc_python_out={out_dir}", str(HERE / PROTO)])
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit status {rc}")
    grpc_module = out_dir / GENERATED[1]
    text = grpc_module.read_text()
    text = re.sub(r"^import lp_rpc_pb2 as ", "from . import lp_rpc_pb2 as ", text, flags=re.M)
    grpc_module.write_text(text)
    return [out_dir / name for name in GENERATED]
