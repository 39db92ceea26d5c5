"""The Livepeer protocol contracts in Vyper, shipped as package data.

Each `<Name>.vy` file here is one contract; `source_path(name)` finds it in an
installed or a source checkout alike.
"""
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent

# Contracts deployed by `node.eth.deploy`, in deployment order.
PROTOCOL_CONTRACTS = (
    "Controller",
    "LivepeerToken",
    "L2LPTDataCache",
    "Minter",
    "RoundsManager",
    "BondingManager",
    "TicketBroker",
    "ServiceRegistry",
)


def source_path(name: str) -> Path:
    path = SOURCE_DIR / f"{name}.vy"
    if not path.is_file():
        raise FileNotFoundError(f"no contract source named {name!r} in {SOURCE_DIR}")
    return path
