"""The devchain's pending pool: geth's admission and replacement rules, pending nonces, and the
order a block takes transactions in. Plain data, no chain."""
from __future__ import annotations

import pytest

from node.core.job import replacement_gas_price
from node.eth.mempool import Mempool, PoolError, PooledTransaction, replacement_accepted

A, B = b"\xaa" * 20, b"\xbb" * 20


def tx(sender: bytes, nonce: int, fee_cap: int = 100, tip: int | None = None, tag: int = 0) -> PooledTransaction:
    tip = fee_cap if tip is None else tip
    return PooledTransaction(bytes([nonce, tag, fee_cap % 256, tip % 256]) + sender[:28], sender, nonce, fee_cap, tip)


@pytest.mark.parametrize("old, new, ok", [
    ((100, 100), (110, 110), True),  # exactly +10 %
    ((100, 100), (109, 110), False),  # fee cap short
    ((100, 100), (110, 109), False),  # tip short
    ((1000, 10), (1100, 11), True),
    ((5, 5), (5, 5), False),  # equal is never a replacement
    ((1, 1), (2, 2), True),  # wei-level: floor(1.1) = 1, but a strict increase is needed and enough
    ((0, 0), (1, 1), True),
    ((0, 0), (0, 1), False),
])
def test_replacement_rule(old, new, ok):
    assert replacement_accepted(*old, *new) is ok


def test_the_cores_bump_always_passes_the_pools_rule():
    for price in (0, 1, 9, 10, 99, 100, 10**9, 3 * 10**9 + 7):
        assert replacement_accepted(price, price, replacement_gas_price(price), replacement_gas_price(price))


def test_admission_errors_use_geths_words():
    pool = Mempool()
    first = tx(A, 3)
    pool.add(first, account_nonce=3)
    with pytest.raises(PoolError, match="^already known$"):
        pool.add(first, account_nonce=3)
    with pytest.raises(PoolError, match="^nonce too low$"):
        pool.add(tx(A, 2), account_nonce=3)
    with pytest.raises(PoolError, match="^replacement transaction underpriced$"):
        pool.add(tx(A, 3, 109, tag=1), account_nonce=3)
    assert pool.get(first.hash) is not None


def test_replacement_takes_the_slot_and_the_old_hash_is_gone():
    pool = Mempool()
    old, new = tx(A, 0, 100), tx(A, 0, 111, tag=1)
    pool.add(old, 0)
    assert pool.add(new, 0) == old
    assert pool.get(old.hash) is None and pool.get(new.hash).hash == new.hash
    assert len(pool) == 1
    assert [t.hash for t in pool.take_ready(lambda s: 0)] == [new.hash]
    assert len(pool) == 0


def test_pending_nonce_counts_pooled_transactions_up_to_a_gap():
    pool = Mempool()
    assert pool.pending_nonce(A, 5) == 5
    for n in (5, 6, 8):
        pool.add(tx(A, n), 5)
    assert pool.pending_nonce(A, 5) == 7
    assert pool.pending_nonce(B, 0) == 0


def test_take_ready_nonce_order_senders_by_arrival_gaps_stay_stale_dropped():
    pool = Mempool()
    pool.add(tx(B, 1), 0)  # B's first arrival
    pool.add(tx(A, 1), 0)
    pool.add(tx(A, 0), 0)
    pool.add(tx(B, 0), 0)
    pool.add(tx(A, 3), 0)  # gap at A's nonce 2
    pool.add(tx(B, 4), 0)  # gap at B's nonce 2
    nonces = {A: 0, B: 0}
    ready = pool.take_ready(lambda s: nonces[s])
    assert [(t.sender, t.nonce) for t in ready] == [(B, 0), (B, 1), (A, 0), (A, 1)]
    assert len(pool) == 2  # A3 (behind a gap) and B4
    pool.add(tx(B, 2, tag=9), 2)
    nonces.update({A: 4, B: 2})  # A's 3 got used by another route: stale
    assert [(t.sender, t.nonce) for t in pool.take_ready(lambda s: nonces[s])] == [(B, 2)]
    assert len(pool) == 1  # B4 waits behind B3


def test_a_full_pool_refuses_new_transactions_but_takes_replacements():
    pool = Mempool(max_size=2)
    pool.add(tx(A, 0), account_nonce=0)
    pool.add(tx(A, 1), account_nonce=0)
    with pytest.raises(PoolError, match="^txpool is full$"):
        pool.add(tx(B, 0), account_nonce=0)
    pool.add(tx(A, 1, fee_cap=200, tag=1), account_nonce=0)  # a replacement takes no new slot
    assert len(pool) == 2
