"""The protocol contracts' ABIs and bytecode as shipped JSON, and deployment artifacts for tools.

`node/eth/abis/<Name>.json` (package data) holds, per contract, what the Vyper compiler makes of
`contracts/<Name>.vy`: ABI, deployment bytecode, runtime bytecode, with the source's sha256 and the
compiler version so that a stale file is detectable (tests/test_package_data.py). Reading an ABI
needs neither Vyper nor a compile: `abi("BondingManager")`. Regenerate after editing a contract:

    python -m node.eth.artifacts          # rewrites node/eth/abis/ from contracts/*.vy

`write_artifacts(protocol, directory)` writes what a deployed protocol is to other tools, in the
Hardhat artifact format (`<Name>.json`: `_format`, `contractName`, `sourceName`, `abi`, `bytecode`,
`deployedBytecode`, `linkReferences`, `deployedLinkReferences`) with the deployed `address` added,
as hardhat-deploy's deployment files have it; ethers, viem, web3.py and foundry's `vm.readFile`
scripts read those keys. `addresses.json` maps each name to its address.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from contracts import PROTOCOL_CONTRACTS, source_path

ABI_DIR = Path(__file__).resolve().parent / "abis"
HARDHAT_FORMAT = "hh-sol-artifact-1"


def source_sha256(name: str) -> str:
    return hashlib.sha256(source_path(name).read_bytes()).hexdigest()


@lru_cache(maxsize=None)
def shipped(name: str) -> dict:
    """The shipped compiler output of contract `name`: abi, bytecode, deployedBytecode (0x hex),
    source_sha256, vyper_version."""
    path = ABI_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no shipped ABI for {name!r} in {ABI_DIR}; protocol contracts: {PROTOCOL_CONTRACTS}")
    return json.loads(path.read_text())


def abi(name: str) -> list:
    """The ABI of protocol contract `name` (e.g. "BondingManager"), from the package data."""
    return shipped(name)["abi"]


def shipped_compiled(name: str, vyper_version: str):
    """The shipped output as node.eth.compiler.CompiledContract when it is that of today's source
    under `vyper_version`, else None: a compiler cache can start from it and skip the compile."""
    from .compiler import CompiledContract

    try:
        data = shipped(name)
    except FileNotFoundError:
        return None
    if data["source_sha256"] != source_sha256(name) or data["vyper_version"] != vyper_version:
        return None
    return CompiledContract(name, data["abi"], bytes.fromhex(data["bytecode"][2:]),
                            (len(data["deployedBytecode"]) - 2) // 2)


def compile_artifact(name: str) -> dict:
    """Compile contracts/<name>.vy into the shipped form (needs Vyper)."""
    import vyper

    out = vyper.compile_code(source_path(name).read_text(), output_formats=["abi", "bytecode", "bytecode_runtime"])
    return {"contractName": name, "abi": out["abi"], "bytecode": out["bytecode"],
            "deployedBytecode": out["bytecode_runtime"], "source_sha256": source_sha256(name),
            "vyper_version": vyper.__version__}


def build_abis(directory: Path | str = ABI_DIR) -> list[Path]:
    """(Re)write `<Name>.json` for every protocol contract into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in PROTOCOL_CONTRACTS:
        paths.append(_write_json(directory / f"{name}.json", compile_artifact(name)))
    shipped.cache_clear()
    return paths


def write_artifacts(protocol, directory: Path | str) -> Path:
    """Write a Hardhat-style artifact per deployed contract (with its `address`) and
    `addresses.json` into `directory`; `protocol` is what deploy_protocol/attach_protocol return.
    Returns the addresses file's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, address in protocol.addresses.items():
        data = shipped(name)
        _write_json(directory / f"{name}.json", {
            "_format": HARDHAT_FORMAT, "contractName": name, "sourceName": f"contracts/{name}.vy",
            "abi": data["abi"], "bytecode": data["bytecode"], "deployedBytecode": data["deployedBytecode"],
            "linkReferences": {}, "deployedLinkReferences": {}, "address": address,
        })
    return _write_json(directory / "addresses.json", dict(protocol.addresses))


def _write_json(path: Path, data) -> Path:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a file
    return path


if __name__ == "__main__":
    for p in build_abis():
        print(p)
