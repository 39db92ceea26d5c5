"""The devchain's blocks, transactions, receipts and logs in Python, for the revm backend
(node.eth.revm_devchain), in py-evm's reading interface (the subset node.eth.devchain and
node.eth.geth_json call), so that both backends' answers are built by the same code.

Blocks carry geth's header fields in py-evm's header class (a block's hash is its header's hash).
Mining n empty blocks is one step: the store records a run of empty blocks (timestamps one second
apart, base fees falling by EIP-1559), and a block of it is built when asked for; the run's hashes
chain through parent hashes, computed with a fast header encoding (equal to py-evm's) and cached.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node.core.keccak import keccak

GAS_LIMIT = 30_029_122  # eth-tester's genesis gas limit, kept by every block
GENESIS_BASE_FEE = 10**9
ZERO = "0x" + "00" * 20
BLANK_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
EMPTY_UNCLES = bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")
EMPTY_REQUESTS = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
STATE_ROOT = BLANK_ROOT  # revm keeps no trie; headers carry this constant


@dataclass
class Log:
    address: bytes
    topics: list[bytes]
    data: bytes


@dataclass
class StoredReceipt:
    """py-evm's receipt fields, as node.eth.geth_json reads them: cumulative gas, a success flag
    as `state_root` (b"\\x01" or b""), the bloom as an int."""
    state_root: bytes
    gas_used: int
    bloom: int
    logs: list[Log]


@dataclass
class Block:
    header: Any  # py-evm's PragueBlockHeader
    transactions: list = field(default_factory=list)
    receipts: list[StoredReceipt] = field(default_factory=list)

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def number(self) -> int:
        return self.header.block_number

    def get_receipts(self, _chaindb: Any = None) -> list[StoredReceipt]:
        return self.receipts


@dataclass
class BlockFields:
    """What a block needs to be built: number, timestamp, base fee, and the gas/bloom of its txs."""
    number: int
    timestamp: int
    base_fee: int


def next_base_fee(base: int, gas_used: int) -> int:
    """EIP-1559 (geth's CalcBaseFee) with the gas target at half of GAS_LIMIT."""
    target = GAS_LIMIT // 2
    if gas_used == target:
        return base
    if gas_used > target:
        return base + max(1, base * (gas_used - target) // target // 8)
    return max(0, base - base * (target - gas_used) // target // 8)


def _rlp_bytes(value: bytes) -> bytes:
    if len(value) == 1 and value[0] < 0x80:
        return value
    if len(value) < 56:
        return bytes([0x80 + len(value)]) + value
    size = len(value).to_bytes((len(value).bit_length() + 7) // 8, "big")
    return bytes([0xB7 + len(size)]) + size + value


def _rlp_int(value: int) -> bytes:
    return _rlp_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b"")


class EmptyRun:
    """Blocks first+0 .. first+count-1, all empty: their hashes by a fast header encoding (equal
    to py-evm's header hash, checked by the tests) and the C keccak, cached as they are computed
    (a hash chains its parent's, so the first read deep into a long run hashes the blocks before it)."""

    def __init__(self, first: int, count: int, timestamp: int, base_fee: int, parent_hash: Callable[[], bytes]):
        self.first, self.count, self.timestamp, self.base_fee = first, count, timestamp, base_fee
        self._parent_hash = parent_hash  # asked for when a hash of the run is first needed
        self.hashes: list[bytes] = []
        self.numbers: dict[bytes, int] = {}  # hash -> number, for the hashes computed so far

    @property
    def parent_hash(self) -> bytes:
        if callable(self._parent_hash):
            self._parent_hash = self._parent_hash()
        return self._parent_hash

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    def fields(self, number: int) -> tuple[int, int]:
        """(timestamp, base fee) of block `number` of the run."""
        i = number - self.first
        base = self.base_fee
        for _ in range(min(i, 200)):  # an empty block's fee falls by 1/8 until it stops at 7 wei
            base = next_base_fee(base, 0)
        return self.timestamp + i, base

    def hash(self, number: int) -> bytes:
        i = number - self.first
        if len(self.hashes) <= i:
            k = len(self.hashes)
            parent = self.hashes[-1] if self.hashes else self.parent_hash
            ts, base = self.fields(self.first + k)
            while k <= i:
                parent = keccak(empty_header_rlp(parent, self.first + k, ts, base))
                self.hashes.append(parent)
                self.numbers[parent] = self.first + k
                k, ts, base = k + 1, ts + 1, next_base_fee(base, 0)
        return self.hashes[i]


_BLOOM0 = b"\x00" * 256


_AFTER_PARENT = b"".join(_rlp_bytes(x) for x in (EMPTY_UNCLES, bytes(20), STATE_ROOT, BLANK_ROOT, BLANK_ROOT, _BLOOM0)) \
    + _rlp_int(0)
_AFTER_NUMBER = _rlp_int(GAS_LIMIT) + _rlp_int(0)
_AFTER_TIMESTAMP = b"".join(_rlp_bytes(x) for x in (bytes(32), bytes(32), bytes(8)))
_TAIL = _rlp_bytes(BLANK_ROOT) + _rlp_int(0) + _rlp_int(0) + _rlp_bytes(bytes(32)) + _rlp_bytes(EMPTY_REQUESTS)


def empty_header_rlp(parent_hash: bytes, number: int, timestamp: int, base_fee: int) -> bytes:
    """An empty block's header as RLP, equal to py-evm's encoding of make_header's (fast: only
    the four varying fields are encoded)."""
    payload = b"".join((b"\xa0", parent_hash, _AFTER_PARENT, _rlp_int(number), _AFTER_NUMBER, _rlp_int(timestamp),
                        _AFTER_TIMESTAMP, _rlp_int(base_fee), _TAIL))
    size = len(payload).to_bytes((len(payload).bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size + payload


def make_header(parent_hash: bytes, number: int, timestamp: int, base_fee: int, gas_used: int = 0, bloom: int = 0,
                tx_root: bytes = BLANK_ROOT, receipt_root: bytes = BLANK_ROOT):
    from eth.vm.forks.prague.blocks import PragueBlockHeader

    return PragueBlockHeader(
        parent_hash=parent_hash, uncles_hash=EMPTY_UNCLES, coinbase=bytes(20), state_root=STATE_ROOT,
        transaction_root=tx_root, receipt_root=receipt_root, bloom=bloom, difficulty=0, block_number=number,
        gas_limit=GAS_LIMIT, gas_used=gas_used, timestamp=timestamp, extra_data=bytes(32), mix_hash=bytes(32),
        nonce=bytes(8), base_fee_per_gas=base_fee, withdrawals_root=BLANK_ROOT, blob_gas_used=0, excess_blob_gas=0,
        parent_beacon_block_root=bytes(32), requests_hash=EMPTY_REQUESTS)


class BlockStore:
    """The chain's blocks in py-evm's reading interface (the subset node.eth.devchain and
    node.eth.geth_json call): materialised blocks by number, runs of empty blocks, and an index
    of transaction hashes."""

    def __init__(self, genesis_timestamp: int):
        self.blocks: dict[int, Block] = {0: Block(make_header(bytes(32), 0, genesis_timestamp, GENESIS_BASE_FEE))}
        self.numbers: dict[bytes, int] = {self.blocks[0].hash: 0}  # materialised blocks' hashes
        self.with_transactions: list[int] = []  # numbers of the blocks that hold transactions, ascending
        self.runs: list[EmptyRun] = []  # ordered, disjoint, never covering a materialised block's number
        self.head = 0
        self.tx_index: dict[bytes, tuple[int, int]] = {}
        self.chaindb = self  # geth_json passes `chain.chaindb` to get_receipts; the index lives here too

    # --- building --------------------------------------------------------------------------
    def head_fields(self) -> tuple[int, int, int, int]:
        """(number, timestamp, base fee, gas used) of the head."""
        block = self.blocks.get(self.head)
        if block is not None:
            h = block.header
            return h.block_number, h.timestamp, h.base_fee_per_gas, h.gas_used
        ts, base = self.runs[-1].fields(self.head)
        return self.head, ts, base, 0

    def pending(self, timestamp: int | None = None) -> BlockFields:
        number, ts, base, used = self.head_fields()
        return BlockFields(number + 1, timestamp if timestamp is not None else max(ts + 1, int(time.time())),
                     next_base_fee(base, used))

    def add_empty(self, count: int, timestamp: int | None) -> None:
        if count <= 0:
            return
        head = self.head
        pending = self.pending(timestamp)
        self.runs.append(EmptyRun(pending.number, count, pending.timestamp, pending.base_fee,
                                  lambda: self.get_canonical_block_hash(head)))
        self.head += count

    def add_block(self, pending: BlockFields, transactions: list, receipts: list[StoredReceipt]) -> Block:
        parent = self.get_canonical_block_hash(self.head)
        bloom = 0
        for r in receipts:
            bloom |= r.bloom
        gas_used = receipts[-1].gas_used if receipts else 0
        header = make_header(parent, pending.number, pending.timestamp, pending.base_fee, gas_used, bloom,
                             _root(transactions) if transactions else BLANK_ROOT, BLANK_ROOT)
        block = Block(header, transactions, receipts)
        self.blocks[pending.number] = block
        self.numbers[block.hash] = block.number
        if transactions:
            self.with_transactions.append(block.number)
        for i, tx in enumerate(transactions):
            self.tx_index[bytes(tx.hash)] = (pending.number, i)
        self.head = pending.number
        return block

    def cut(self, head: int) -> None:
        """Forget every block after `head` (a revert)."""
        for n in [n for n in self.blocks if n > head]:
            gone = self.blocks.pop(n)
            del self.numbers[gone.hash]
            for tx in gone.transactions:
                self.tx_index.pop(bytes(tx.hash), None)
        while self.with_transactions and self.with_transactions[-1] > head:
            self.with_transactions.pop()
        while self.runs and self.runs[-1].first > head:
            self.runs.pop()
        if self.runs and self.runs[-1].last > head:
            run = self.runs[-1]
            run.count = head - run.first + 1
            for gone in run.hashes[run.count:]:
                del run.numbers[gone]
            del run.hashes[run.count:]
        self.head = head

    # --- py-evm's reading interface --------------------------------------------------------
    def _run_of(self, number: int) -> EmptyRun | None:
        for run in reversed(self.runs):
            if run.first <= number <= run.last:
                return run
            if run.last < number:
                return None
        return None

    def get_canonical_block_hash(self, number: int) -> bytes:
        block = self.blocks.get(number)
        if block is not None:
            return block.hash
        run = self._run_of(number)
        if run is None:
            from eth.exceptions import HeaderNotFound

            raise HeaderNotFound(f"no block {number}")
        return run.hash(number)

    def get_canonical_block_by_number(self, number: int) -> Block:
        block = self.blocks.get(number)
        if block is not None:
            return block
        run = self._run_of(number)
        if run is None or number > self.head:
            from eth.exceptions import BlockNotFound

            raise BlockNotFound(f"no block {number}")
        ts, base = run.fields(number)
        parent = run.hash(number - 1) if number > run.first else run.parent_hash
        return Block(make_header(parent, number, ts, base))  # built on demand, not kept

    def get_canonical_block_header_by_number(self, number: int):
        return self.get_canonical_block_by_number(number).header

    def get_block_by_header(self, header) -> Block:
        return self.get_canonical_block_by_number(header.block_number)

    def get_canonical_head(self):
        return self.get_canonical_block_by_number(self.head).header

    def get_block_by_hash(self, block_hash: bytes) -> Block:
        number = self.numbers.get(block_hash)
        if number is not None:
            return self.blocks[number]
        for run in self.runs:  # a run's hashes are computed in full if need be
            run.hash(run.last)
            if block_hash in run.numbers:
                return self.get_canonical_block_by_number(run.numbers[block_hash])
        from eth.exceptions import BlockNotFound

        raise BlockNotFound("no block with that hash")

    def blocks_with_transactions(self, first: int, last: int) -> list[int]:
        """The numbers from `first` to `last` of blocks that hold transactions (only they can hold
        logs): a log query over a range of empty runs reads nothing."""
        from bisect import bisect_left, bisect_right

        numbers = self.with_transactions
        return numbers[bisect_left(numbers, first):bisect_right(numbers, last)]

    def get_transaction_index(self, tx_hash: bytes) -> tuple[int, int]:
        found = self.tx_index.get(bytes(tx_hash))
        if found is None:
            from eth.exceptions import TransactionNotFound

            raise TransactionNotFound("no such transaction")
        return found


def _root(items: list) -> bytes:
    """The transactions trie root (py-evm's make_trie_root_and_nodes)."""
    from eth.db.trie import make_trie_root_and_nodes

    return make_trie_root_and_nodes(tuple(items))[0]


def bloom_of(logs: list[Log]) -> int:
    from eth_bloom import BloomFilter

    bloom = BloomFilter()
    for lg in logs:
        bloom.add(lg.address)
        for t in lg.topics:
            bloom.add(t)
    return int(bloom)
