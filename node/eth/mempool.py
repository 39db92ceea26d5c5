"""A pending-transaction pool with go-ethereum's admission rules, for the devchain with automine off.

Transactions are keyed by (sender, nonce). A second transaction for a pooled key replaces the
first only when it pays at least `price_bump` % more in both its fee cap and its tip, and
strictly more in each (geth's txpool `list.Add`; a legacy transaction's gas price is both its
fee cap and its tip). Errors carry geth's wording so clients that match on it behave as they
would against geth: "already known", "nonce too low", "replacement transaction underpriced".

Plain data, no chain: the caller says what an account's nonce on chain is.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node.core.job import GETH_MIN_PRICE_BUMP

ALREADY_KNOWN = "already known"
NONCE_TOO_LOW = "nonce too low"
REPLACEMENT_UNDERPRICED = "replacement transaction underpriced"
POOL_FULL = "txpool is full"  # geth's ErrTxPoolOverflow
MAX_POOLED = 5120 + 1024  # geth's txpool GlobalSlots + GlobalQueue defaults


class PoolError(Exception):
    """A transaction the pool refuses; the message is geth's."""


@dataclass(frozen=True)
class PooledTransaction:
    hash: bytes
    sender: bytes  # 20-byte address
    nonce: int
    max_fee_per_gas: int  # a legacy transaction's gas price
    max_priority_fee_per_gas: int  # likewise
    raw: bytes = b""
    decoded: Any = None  # the backend's transaction object, to answer eth_getTransactionByHash
    seq: int = field(default=0, compare=False)  # arrival order, set by the pool


def replacement_accepted(old_fee_cap: int, old_tip: int, new_fee_cap: int, new_tip: int,
                         price_bump: int = GETH_MIN_PRICE_BUMP) -> bool:
    """geth's rule: both the fee cap and the tip strictly higher, and each at least
    floor(old x (100 + price_bump) / 100)."""
    if new_fee_cap <= old_fee_cap or new_tip <= old_tip:
        return False
    return (new_fee_cap >= old_fee_cap * (100 + price_bump) // 100
            and new_tip >= old_tip * (100 + price_bump) // 100)


class Mempool:
    def __init__(self, price_bump: int = GETH_MIN_PRICE_BUMP, max_size: int = MAX_POOLED) -> None:
        self.price_bump = price_bump
        self.max_size = max_size
        self._by_key: dict[tuple[bytes, int], PooledTransaction] = {}
        self._by_hash: dict[bytes, PooledTransaction] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, tx_hash: bytes) -> PooledTransaction | None:
        return self._by_hash.get(bytes(tx_hash))

    def hashes(self) -> list[bytes]:
        """The pooled transactions' hashes, in arrival order."""
        return [tx.hash for tx in sorted(self._by_hash.values(), key=lambda t: t.seq)]

    def has_sender(self, sender: bytes) -> bool:
        """Whether anything of `sender`'s is pooled (a later transaction of theirs must queue behind it)."""
        return any(key[0] == sender for key in self._by_key)

    def add(self, tx: PooledTransaction, account_nonce: int) -> PooledTransaction | None:
        """Pool `tx` (the sender's nonce on chain is `account_nonce`); return the transaction it
        replaced, if any. Raise PoolError with geth's message when refused."""
        if tx.hash in self._by_hash:
            raise PoolError(ALREADY_KNOWN)
        if tx.nonce < account_nonce:
            raise PoolError(NONCE_TOO_LOW)
        key = (tx.sender, tx.nonce)
        old = self._by_key.get(key)
        if old is not None and not replacement_accepted(old.max_fee_per_gas, old.max_priority_fee_per_gas,
                                                        tx.max_fee_per_gas, tx.max_priority_fee_per_gas,
                                                        self.price_bump):
            raise PoolError(REPLACEMENT_UNDERPRICED)
        if old is None and len(self._by_key) >= self.max_size:
            raise PoolError(POOL_FULL)  # geth would evict the cheapest; a devchain's pool just says no
        if old is not None:
            del self._by_hash[old.hash]
        pooled = PooledTransaction(tx.hash, tx.sender, tx.nonce, tx.max_fee_per_gas, tx.max_priority_fee_per_gas,
                                   tx.raw, tx.decoded, next(self._seq))
        self._by_key[key] = pooled
        self._by_hash[pooled.hash] = pooled
        return old

    def pending_nonce(self, sender: bytes, account_nonce: int) -> int:
        """The nonce the sender's next transaction takes: past every pooled one that follows
        its on-chain nonce without a gap (eth_getTransactionCount(addr, "pending"))."""
        nonce = account_nonce
        while (sender, nonce) in self._by_key:
            nonce += 1
        return nonce

    def take_ready(self, account_nonce: Callable[[bytes], int]) -> list[PooledTransaction]:
        """Remove and return the transactions a block can include: for each sender, its pooled
        nonces from the on-chain one up to the first gap, in nonce order; senders in the order
        their first such transaction arrived. Transactions whose nonce is already used on chain
        are dropped (they can never be mined); ones beyond a gap stay pooled."""
        nonces: dict[bytes, list[int]] = {}
        for sender, nonce in self._by_key:
            nonces.setdefault(sender, []).append(nonce)
        by_sender: dict[bytes, list[PooledTransaction]] = {}
        for sender, pooled in nonces.items():
            start = account_nonce(sender)
            for nonce in pooled:
                if nonce < start:
                    self._forget(self._by_key[(sender, nonce)])
            run, nonce = [], start
            while (sender, nonce) in self._by_key:
                run.append(self._by_key[(sender, nonce)])
                nonce += 1
            if run:
                by_sender[sender] = run
        ready = [tx for run in sorted(by_sender.values(), key=lambda r: min(t.seq for t in r)) for tx in run]
        for tx in ready:
            self._forget(tx)
        return ready

    def clear(self) -> None:
        self._by_key.clear()
        self._by_hash.clear()

    def _forget(self, tx: PooledTransaction) -> None:
        del self._by_key[(tx.sender, tx.nonce)]
        del self._by_hash[tx.hash]
