"""The chain head kept in Python, shared by the in-process backends (FastChain, RevmChain).

The latest block's number and timestamp and the pending block's timestamp are plain
attributes: mining n blocks is one assignment, whatever n; a transaction lands in
`block_number + 1` one second after the latest block, or at `set_next_block_timestamp`'s time.
"""
from __future__ import annotations

from .chain import Chain
from .errors import ChainError

GENESIS_TIMESTAMP = 1_700_000_000  # fixed, for reproducible runs


class PythonHeadChain(Chain):
    def __init__(self, genesis_timestamp: int = GENESIS_TIMESTAMP) -> None:
        super().__init__()
        self._block = 0
        self._ts = genesis_timestamp
        self._next_ts: int | None = None

    @property
    def block_number(self) -> int:
        return self._block

    @property
    def timestamp(self) -> int:
        return self._ts

    def _pending_timestamp(self) -> int:
        return self._next_ts if self._next_ts is not None else self._ts + 1

    def mine(self, blocks: int = 1) -> None:
        if blocks <= 0:
            return
        first = self._pending_timestamp()
        self._block += blocks
        self._ts = first + blocks - 1
        self._next_ts = None

    def set_next_block_timestamp(self, timestamp: int) -> None:
        if timestamp <= self._ts:
            raise ChainError(f"timestamp {timestamp} is not after the latest block's ({self._ts})")
        self._next_ts = timestamp
