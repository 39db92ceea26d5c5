"""The `net` protobuf package (go-livepeer net/lp_rpc.proto): `lp_rpc.proto` and the modules
protoc generates from it, `lp_rpc_pb2` (messages) and `lp_rpc_pb2_grpc` (service stubs and
servicers). The generated modules are committed; after editing the .proto run `regenerate()`
(needs grpcio-tools) and commit the result. `redeemer.proto` (go's net/redeemer.proto, which
imports lp_rpc.proto) is kept the same way: `regenerate(proto=REDEEMER_PROTO)`.
"""
from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = "lp_rpc.proto"
GENERATED = ("lp_rpc_pb2.py", "lp_rpc_pb2_grpc.py")
REDEEMER_PROTO = "redeemer.proto"


def generated(proto: str = PROTO) -> tuple[str, str]:
    """The two modules protoc makes of `proto`: messages, then gRPC stubs."""
    stem = proto.removesuffix(".proto")
    return f"{stem}_pb2.py", f"{stem}_pb2_grpc.py"


def regenerate(out_dir: Path | str = HERE, proto: str = PROTO) -> list[Path]:
    """Run protoc on `proto` (lp_rpc.proto by default) into `out_dir` and make the generated
    modules' imports of this package's messages package-relative. Returns the generated files."""
    from grpc_tools import protoc  # a development dependency, needed only here

    out_dir = Path(out_dir)
    rc = protoc.main(["grpc_tools.protoc", f"-I{HERE}", f"--python_out={out_dir}",
                      f"--grpc_python_out={out_dir}", str(HERE / proto)])
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit status {rc}")
    names = generated(proto)
    for module in (out_dir / name for name in names):
        text = module.read_text()
        text = re.sub(r"^import (\w+_pb2) as ", r"from . import \1 as ", text, flags=re.MULTILINE)
        module.write_text(text)
    return [out_dir / name for name in names]
