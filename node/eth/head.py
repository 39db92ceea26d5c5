"""The chain head kept in Python, shared by the in-process backends (FastChain, RevmChain).

The latest block's number and timestamp and the pending block's timestamp are plain
attributes: mining n blocks is one assignment, whatever n; a transaction lands in
`block_number + 1` one second after the latest block, or at `set_next_block_timestamp`'s time.

`open_block(number, timestamp)` makes every transaction until the next `mine` land in that one
block, as on a real chain where a block holds many transactions; a simulator uses it to keep
block numbers in step with simulated time however many transactions happen at once.

Snapshots pair the head with a checkpoint of the backend's state journal. Live checkpoints are
kept in a stack, so a stale token (one taken after a checkpoint already reverted past) is refused
before the journal is touched, and a token stays usable after a revert.
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
        self._tx_count = 0
        self._open: tuple[int, int] | None = None  # (number, timestamp) of an open block
        self._checkpoints: list = []  # live journal checkpoints, oldest first

    def _take_checkpoint(self):
        """A checkpoint of the backend's state journal."""
        raise NotImplementedError

    def _restore_checkpoint(self, checkpoint) -> None:
        """Roll the journal back to `checkpoint` (always the newest live one)."""
        raise NotImplementedError

    @property
    def block_number(self) -> int:
        return self._block

    @property
    def timestamp(self) -> int:
        return self._ts

    def _pending_timestamp(self) -> int:
        return self._next_ts if self._next_ts is not None else self._ts + 1

    def _next_block(self) -> tuple[int, int]:
        """(number, timestamp) of the block the next transaction lands in."""
        if self._open is not None:
            return self._open
        return self._block + 1, self._pending_timestamp()

    def open_block(self, number: int, timestamp: int) -> None:
        """Put every transaction from now until the next `mine` into block `number` (at
        `timestamp`); the blocks before it count as mined empty. Views see the block once the
        first transaction lands in it."""
        if number < self._block or (number == self._block and timestamp != self._ts) or \
                (number > self._block and timestamp <= self._ts):
            raise ChainError(f"cannot open block {number} at {timestamp}: latest is {self._block} at {self._ts}")
        self._open = (number, timestamp)

    def mine(self, blocks: int = 1) -> None:
        self._open = None
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

    def _checkpoint(self):
        checkpoint = self._take_checkpoint()
        self._checkpoints.append(checkpoint)
        return checkpoint

    def snapshot(self) -> list:
        return [self._checkpoint(), self._block, self._ts, self._next_ts, self._tx_count, self._open]

    def _revert_to(self, checkpoint) -> None:
        """Roll back to a live `checkpoint`, unwinding (newest first) every checkpoint after it."""
        try:
            i = len(self._checkpoints) - 1 - self._checkpoints[::-1].index(checkpoint)
        except ValueError:
            raise ChainError("cannot revert to snapshot (already reverted past it?)") from None
        while len(self._checkpoints) > i:
            self._restore_checkpoint(self._checkpoints.pop())

    def revert(self, token: list) -> None:
        self._revert_to(token[0])
        _, self._block, self._ts, self._next_ts, self._tx_count, self._open = token
        token[0] = self._checkpoint()  # the token stays usable
