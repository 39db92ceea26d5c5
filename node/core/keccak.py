"""keccak256, as fast as this machine allows: tickets hash several times each (ticket hash,
signed-message digest, rand commitment, win draw), so the hash is on the simulator's hot path.
safe-pysha3's C keccak is ~8x faster than eth-hash's default pycryptodome backend."""
from __future__ import annotations

try:
    from sha3 import keccak_256 as _keccak_256

    def keccak(data: bytes) -> bytes:
        return _keccak_256(data).digest()
except ImportError:  # pragma: no cover - the dependency is declared; this keeps odd installs working
    from eth_utils import keccak as _eth_keccak

    def keccak(data: bytes) -> bytes:
        return _eth_keccak(data)
