"""The devchain's chain on revm (pyrevm): the state in revm, blocks, transactions, receipts and
logs kept in Python in geth's terms, so that `lpnode devchain --backend revm` answers what the
py-evm devchain answers, from a Rust EVM.

Signed transactions are real ones: decoded (py-evm's transaction builder, so the hash is the
signed transaction's), executed by revm with their own gas limit and gas price, and paid for:
the sender is charged gas used x effective gas price and its nonce bumped, the tip goes to the
coinbase (the zero address, as anvil's and eth-tester's), the base fee is burned. Blocks carry
geth's header fields (base fee by EIP-1559, bloom, gas used) and hash as py-evm's headers do.

How pyrevm is driven. pyrevm never finalizes revm's journal, so accounts loaded once would stay
warm and storage slots would keep their first "original" value for good, and a message call
skips revm's transaction-level bookkeeping. So every transaction runs inside a journal
checkpoint: it executes, what it changed is read out of the journal (accounts and slots), the
checkpoint is reverted (the journal is empty again: every account and slot cold, as at the start
of a real transaction), and the changes, with the gas payment and the nonce, are written to
revm's database. The values they replace go to an undo log, which is what `evm_snapshot` and
`evm_revert` roll back (with the block store cut back to the snapshot's head).

Mining n empty blocks is one step: the store records a run of empty blocks (their timestamps one
second apart, their base fees falling by EIP-1559), and a block of it is built when asked for;
block hashes chain through parent hashes, computed with a fast header encoding and cached.

What differs from the py-evm devchain (revm 8 through pyrevm 0.3): the EVM runs Cancun's rules
(Prague's EIP-7623 calldata floor is applied to gas used and limits; EIP-7702 transactions are
refused); BLOCKHASH answers revm's `keccak(decimal number)`, not the header hash (pyrevm cannot
set block hashes); BASEFEE reads zero inside the EVM (pyrevm zeroes it); the state root in
headers is a constant (revm keeps no trie); state is served at the head only (a past block's
state is an error naming `--backend py-evm`). The debug_trace* tracers re-execute on py-evm from a
state built out of revm's (replay_state): pyrevm offers no tracing hook a call tracer can use.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from eth_utils import keccak, to_canonical_address
from eth_utils import to_checksum_address as _to_checksum_address

from .chain import DEV_MNEMONIC, Account, Chain, dev_accounts
from .contract import Receipt
from .errors import ChainError, TransactionFailed
from .geth_execution import intrinsic_floor

log = logging.getLogger("lpnode.devchain")
ETH = 10**18


@lru_cache(maxsize=65536)
def to_checksum_address(address: str | bytes) -> str:
    """eth_utils' to_checksum_address, cached (it hashes each time; a call passes several)."""
    return _to_checksum_address(address)

GAS_LIMIT = 30_029_122  # eth-tester's genesis gas limit, kept by every block
GENESIS_BASE_FEE = 10**9
ZERO = "0x" + "00" * 20
BLANK_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
EMPTY_UNCLES = bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")
EMPTY_REQUESTS = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
STATE_ROOT = BLANK_ROOT  # revm keeps no trie; headers carry this constant

_REVERT = re.compile(r"Revert \{ gas_used: \d+, output: 0x([0-9a-fA-F]*) \}")
# one account of revm's JournaledState Debug text, and one storage slot of it
_ACCOUNT = re.compile(r"(0x[0-9a-f]{40}): Account \{ info: AccountInfo \{ balance: (\d+), nonce: (\d+), "
                      r"code_hash: 0x[0-9a-f]{64}, code: (None|Some\(.*?\)) \}, "
                      r"storage: \{((?:\d+: StorageSlot \{ [^}]* \}(?:, )?)*)\}, status: AccountStatus\(([^)]*)\) \}")
_CODE_LEN = re.compile(r"state: Analysed \{ len: (\d+)")
_SLOT = re.compile(r"(\d+): StorageSlot \{ previous_or_original_value: (\d+), present_value: (\d+) \}")


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
class _Head:
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
    to py-evm's header hash, checked by the tests), cached as they are computed."""

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
                parent = keccak(_empty_header_rlp(parent, self.first + k, ts, base))
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


def _empty_header_rlp(parent_hash: bytes, number: int, timestamp: int, base_fee: int) -> bytes:
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

    def pending(self, timestamp: int | None = None) -> _Head:
        number, ts, base, used = self.head_fields()
        return _Head(number + 1, timestamp if timestamp is not None else max(ts + 1, int(time.time())),
                     next_base_fee(base, used))

    def add_empty(self, count: int, timestamp: int | None) -> None:
        if count <= 0:
            return
        head = self.head
        pending = self.pending(timestamp)
        self.runs.append(EmptyRun(pending.number, count, pending.timestamp, pending.base_fee,
                                  lambda: self.get_canonical_block_hash(head)))
        self.head += count

    def add_block(self, pending: _Head, transactions: list, receipts: list[StoredReceipt]) -> Block:
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


@dataclass
class Executed:
    """What running one transaction did."""
    success: bool
    gas_used: int
    logs: list[Log]
    output: bytes
    created: str | None
    error: str | None = None  # geth's words for a halt ("out of gas", ...); "execution reverted" for a revert


class RevmDevchain(Chain):
    """The devchain's chain on revm: state in pyrevm, blocks in a BlockStore (see the module
    docstring). Accounts are `dev_accounts(num_accounts)`, each funded with `balance` wei."""

    is_revm = True

    def __init__(self, num_accounts: int = 10, mnemonic: str = DEV_MNEMONIC, chain_id: int = 31337, *,
                 balance: int = 1_000_000 * ETH, genesis_timestamp: int | None = None):
        super().__init__()
        from pyrevm import EVM, AccountInfo, BlockEnv, CfgEnv, Env, TxEnv

        if not 1 <= chain_id < 2**64:
            raise ChainError(f"chain id {chain_id} is not from 1 to 2**64 - 1")
        self._AccountInfo, self._BlockEnv, self._TxEnv = AccountInfo, BlockEnv, TxEnv
        self.chain_id = chain_id
        self.evm = EVM(env=Env(cfg=CfgEnv(chain_id=chain_id)), gas_limit=GAS_LIMIT, spec_id="CANCUN")
        self.accounts = dev_accounts(num_accounts, mnemonic)
        for a in self.accounts:
            self.evm.insert_account_info(a.address, AccountInfo(balance=balance))
        self.store = BlockStore(int(time.time()) if genesis_timestamp is None else genesis_timestamp)
        self.backend = _Backend(self)  # py-evm's names, for node.eth.devchain: backend.chain is the store
        self._undo: list[tuple[str, Any, dict[int, int]]] = []
        self._slots: dict[str, set[int]] = {}  # every slot ever written, by address (revm's db lists none)
        self._code: dict[bytes, bytes] = {}  # code by hash, of all code written (for py-evm replays)  # (address, info before, {slot: value before})
        self._snapshots: list[tuple[int, int, int]] = []  # (token, undo length, head)
        self._next_ts: int | None = None
        self._env_at: tuple | None = None
        from eth.vm.forks.prague import PragueVM

        self._tx_builder = PragueVM.get_transaction_builder()
        self.last_refusal: str | None = None
        self.mined_hooks: list[Callable[[int, int], None]] = []  # told (first, last) of each mining
        self.last_executed: Executed | None = None

    # --- head and time -----------------------------------------------------------------------
    @property
    def block_number(self) -> int:
        return self.store.head

    @property
    def timestamp(self) -> int:
        return self.store.head_fields()[1]

    def block_hash(self, number: int) -> bytes:
        if not 0 <= number <= self.store.head:
            raise ChainError(f"block {number} does not exist (latest is {self.store.head})")
        return self.store.get_canonical_block_hash(number)

    def set_next_block_timestamp(self, timestamp: int) -> None:
        if timestamp <= self.timestamp:
            raise ChainError(f"timestamp {timestamp} is not after the latest block's ({self.timestamp})")
        self._next_ts = timestamp

    def pending(self) -> _Head:
        return self.store.pending(self._next_ts)

    def mine(self, blocks: int = 1) -> None:
        """Mine `blocks` empty blocks in one step."""
        if blocks > 0:
            self.store.add_empty(blocks, self._next_ts)
            self._next_ts = None
            self._mined(self.store.head - blocks + 1)

    def _mined(self, first: int) -> None:
        for hook in self.mined_hooks:
            hook(first, self.store.head)

    # --- snapshots -----------------------------------------------------------------------------
    def snapshot(self) -> int:
        token = (self._snapshots[-1][0] + 1) if self._snapshots else 1
        self._snapshots.append((token, len(self._undo), self.store.head))
        return token

    def revert(self, token: Any) -> None:
        for i, (t, undo_len, head) in enumerate(self._snapshots):
            if t == token:
                break
        else:
            raise ChainError(f"unknown snapshot {token}")
        del self._snapshots[i + 1:]  # this one stays usable, as eth-tester's do
        while len(self._undo) > undo_len:
            address, info, slots = self._undo.pop()
            self._write(address, info, slots)
        self.store.cut(head)
        self._next_ts = None

    # --- state ---------------------------------------------------------------------------------
    def _bracket(self, work):
        """Run `work()` inside a journal checkpoint that is then reverted: reads leave no account
        warm, and writes that go to revm's database stay."""
        cp = self.evm.snapshot()
        try:
            return work()
        finally:
            self.evm.revert(cp)

    def account_info(self, address: str):
        return self._bracket(lambda: self.evm.basic(address))

    def eth_balance(self, address: str) -> int:
        return self.account_info(to_checksum_address(address)).balance

    def nonce(self, address: str) -> int:
        return self.account_info(to_checksum_address(address)).nonce

    def code(self, address: str) -> bytes:
        return self._bracket(lambda: self.evm.get_code(to_checksum_address(address))) or b""

    def storage(self, address: str, slot: int) -> int:
        return self._bracket(lambda: self.evm.storage(to_checksum_address(address), slot))

    def _write(self, address: str, info: Any, slots: dict[int, int]) -> None:
        """Write an account (info may be None: leave it) and slots to revm's database."""
        if slots:
            self._slots.setdefault(address.lower(), set()).update(slots)
        if info is not None and info.code:
            self._code[bytes(info.code_hash)] = bytes(info.code)
        if info is not None:
            self.evm.insert_account_info(address, info)
        for slot, value in slots.items():  # one bracket each: the second insert would go to the journal
            self._bracket(lambda s=slot, v=value: self.evm.insert_account_storage(address, s, v))

    def edit(self, address: str, *, balance: int | None = None, nonce: int | None = None, code: bytes | None = None,
             slots: dict[int, int] | None = None) -> None:
        """anvil_setBalance/setNonce/setCode/setStorageAt: written at once, undone by a revert."""
        address = to_checksum_address(address)
        old = self.account_info(address)
        old_slots = {s: self.storage(address, s) for s in (slots or {})}
        self._undo.append((address, old, old_slots))
        info = None
        if balance is not None or nonce is not None or code is not None:
            balance = old.balance if balance is None else balance
            nonce = old.nonce if nonce is None else nonce
            info = (self._AccountInfo(balance=balance, nonce=nonce, code_hash=old.code_hash) if code is None
                    else self._AccountInfo(balance=balance, nonce=nonce, code=code or None))
        self._write(address, info, slots or {})

    def dump_accounts(self) -> dict[str, dict]:
        """Every non-empty account, in anvil's dump shape: {address: {nonce, balance, code, storage}}."""
        out = {}
        for address in sorted({a.lower() for a in self.evm.db_accounts} | set(self._slots)):
            checksummed = to_checksum_address(address)
            info, code = self.account_info(checksummed), self.code(checksummed)
            storage = {}
            for slot in sorted(self._slots.get(address, ())):
                value = self.storage(checksummed, slot)
                if value:
                    storage[hex(slot)] = "0x" + value.to_bytes(32, "big").hex()
            if info.balance or info.nonce or code or storage:
                out[checksummed] = {"nonce": info.nonce, "balance": hex(info.balance), "code": "0x" + code.hex(),
                                    "storage": storage}
        return out

    def replay_state(self, block: Block | None = None, base_fee: int | None = None):
        """A py-evm state holding this chain's state at the start of `block` (a mined one; None:
        the pending block, at the head's state), in that block's environment: for re-executing
        transactions with py-evm's tracers (node.eth.trace), which revm through pyrevm lacks.
        `base_fee` overrides the block's (0 for a traced call, as geth runs eth_call)."""
        from eth.chains.base import MiningChain
        from eth.db.atomic import AtomicDB
        from eth.vm.forks.prague import PragueVM

        accounts: dict[str, dict] = {}
        for address, entry in self.dump_accounts().items():
            accounts[address.lower()] = {"balance": int(entry["balance"], 16), "nonce": entry["nonce"],
                                         "code": bytes.fromhex(entry["code"][2:]),
                                         "storage": {int(k, 16): int(v, 16) for k, v in entry["storage"].items()}}
        for address, info, slots in reversed(self._undo[getattr(block, "undo_mark", len(self._undo)):]):
            account = accounts.setdefault(address.lower(), {"balance": 0, "nonce": 0, "code": b"", "storage": {}})
            account.update(balance=info.balance, nonce=info.nonce, code=self._code.get(bytes(info.code_hash), b""))
            account["storage"].update(slots)
        genesis_state = {to_canonical_address(a): {**v, "storage": {k: w for k, w in v["storage"].items() if w}}
                         for a, v in accounts.items()}
        klass = MiningChain.configure(vm_configuration=((0, PragueVM),), chain_id=self.chain_id)
        replay = klass.from_genesis(AtomicDB(), {"coinbase": bytes(20), "difficulty": 0, "gas_limit": GAS_LIMIT,
                                                 "timestamp": 0, "extra_data": b""}, genesis_state)
        if block is None:
            p = self.pending()
            number, timestamp, fee = p.number, p.timestamp, p.base_fee
        else:
            header = block.header
            number, timestamp, fee = header.block_number, header.timestamp, header.base_fee_per_gas
        root = replay.get_canonical_head().state_root
        header = make_header(bytes(32), number, timestamp, fee if base_fee is None else base_fee).copy(state_root=root)
        return replay.get_vm(at_header=header).state

    # --- execution ------------------------------------------------------------------------------
    def decode(self, raw: bytes):
        return self._tx_builder.decode(raw)

    def _set_env(self, number: int, timestamp: int, base_fee: int) -> None:
        if self._env_at != (number, timestamp, base_fee):
            self.evm.set_block_env(self._BlockEnv(number=number, timestamp=timestamp, gas_limit=GAS_LIMIT,
                                                  coinbase=ZERO, prevrandao=b"\x00" * 32, basefee=base_fee))
            self._env_at = (number, timestamp, base_fee)

    def _run(self, sender: str, to: str | None, data: bytes, value: int, gas: int, gas_price: int,
             access_list: list) -> tuple[Executed, str]:
        """Execute inside the current journal frame; the caller brackets it. Returns what ran and
        the journal's text (read before the frame is reverted)."""
        evm = self.evm
        evm.set_tx_env(self._TxEnv(access_list=[(to_checksum_address(a), list(keys)) for a, keys in access_list]))
        evm.reset_transient_storage()
        created = None
        try:
            if to is None:
                created = to_checksum_address(evm.deploy(sender, data, value or None, gas, 0))
                output = b""
            else:
                output = bytes(evm.message_call(sender, to, data, value or None, gas, gas_price))
            ok = True
        except RuntimeError as exc:
            ok, output = False, _revert_output(exc)
            if evm.result is None:  # refused before running (revm's validation)
                raise TransactionFailed(str(exc)) from None
            error = _halt_words(str(exc))
        result = evm.result
        logs = [Log(to_canonical_address(lg.address), [bytes(t) for t in lg.data[0]], bytes(lg.data[1]))
                for lg in result.logs] if ok else []
        return (Executed(ok, result.gas_used, logs, output, created if ok else None, None if ok else error),
                result.gas_refunded)

    def apply(self, tx, pending: _Head, cumulative: int) -> StoredReceipt:
        """Execute signed transaction `tx` (py-evm's decoded one) in block `pending`, pay for it,
        and return its receipt. The caller has admitted it (nonce, funds, fees)."""
        if getattr(tx, "type_id", None) == 4:
            raise TransactionFailed("EIP-7702 transactions are not supported on the revm backend")
        self._set_env(pending.number, pending.timestamp, pending.base_fee)
        sender = to_checksum_address(tx.sender)
        tip = min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - pending.base_fee)
        price = pending.base_fee + tip
        to = to_checksum_address(tx.to) if tx.to else None
        evm = self.evm
        cp = evm.snapshot()
        try:
            executed, _ = self._run(sender, to, tx.data, tx.value, tx.gas, price, tx.access_list)
            text = evm.journal_str
            infos = {k.lower(): v for k, v in evm.journal_state.items()}
            changes: dict[str, tuple[bytes | None, dict[int, tuple[int, int]], bool]] = {}
            for m in _ACCOUNT.finditer(text[:text.index(", transient_storage: {")]):
                address, _, _, code_text, slots, status = m.groups()
                if "Touched" not in status:
                    continue
                n = _CODE_LEN.search(code_text) if code_text != "None" else None
                # created here: kept as raw code, so that eth_getCode answers it unpadded
                new_code = (evm.get_code(address) or b"")[:int(n.group(1))] if n is not None else None
                slot_changes = {int(k): (int(before), int(now)) for k, before, now in _SLOT.findall(slots)
                                if before != now}
                changes[address] = (new_code, slot_changes, "SelfDestructed" in status)
        finally:
            evm.revert(cp)
        gas_used = max(executed.gas_used, intrinsic_floor(tx))
        touched = changes
        touched.setdefault(sender.lower(), (None, {}, False))
        touched.setdefault(ZERO.lower(), (None, {}, False))
        before = self._bracket(lambda: {a: evm.basic(a) for a in touched})
        for address, (new_code, slots, destroyed) in touched.items():
            now, was = infos.get(address), before[address]
            balance, nonce = (now.balance, now.nonce) if now is not None else (was.balance, was.nonce)
            if address == sender.lower():
                balance, nonce = balance - gas_used * price, tx.nonce + 1
            if address == ZERO.lower():
                balance += gas_used * tip
            if destroyed:
                info = self._AccountInfo(balance=0, nonce=0)
            elif new_code:
                info = self._AccountInfo(balance=balance, nonce=nonce, code=new_code)
            else:  # the code stays where revm's database keeps it, by hash
                info = self._AccountInfo(balance=balance, nonce=nonce, code_hash=was.code_hash)
            self._undo.append((address, was, {k: b for k, (b, _) in slots.items()}))
            self._write(address, info, {k: v for k, (_, v) in slots.items()})
        logs = executed.logs
        self.last_executed = executed
        return StoredReceipt(b"\x01" if executed.success else b"", cumulative + gas_used, bloom_of(logs), logs)

    def mine_transactions(self, txs: list) -> Block:
        """One block holding `txs` (decoded, admitted), in order; a transaction that can no longer
        run (its funds spent by an earlier one) is left out, as the py-evm devchain leaves it."""
        pending = self.pending()
        self._next_ts = None
        undo_mark = len(self._undo)
        included, receipts, cumulative = [], [], 0
        for tx in txs:
            try:
                receipt = self.apply(tx, pending, cumulative)
            except TransactionFailed as exc:
                self.last_refusal = exc.reason
                log.warning("devchain: transaction 0x%s left out of the block: %s", bytes(tx.hash).hex(), exc.reason)
                continue
            included.append(tx)
            receipts.append(receipt)
            cumulative = receipt.gas_used
        block = self.store.add_block(pending, included, receipts)
        block.undo_mark = undo_mark  # where its parent's state is (replay_state)
        self._mined(block.number)
        return block

    def execute_call(self, sender: str, to: str | None, data: bytes, value: int, gas: int | None, gas_price: int = 0,
             access_list: list = ()) -> Executed:
        """eth_call: run at the head's state (in the pending block's environment) and leave nothing.
        A creation (`to` None) answers what its init code returns, as geth's eth_call does: the
        code runs as the code of the address it would create (revm's deploy returns no output)."""
        gas = GAS_LIMIT if gas is None else gas
        sender = to_checksum_address(sender)
        if to is not None:
            return self._trial(sender, to_checksum_address(to), data, value, gas, gas_price, access_list)[0]
        from eth._utils.address import generate_contract_address

        target = to_checksum_address(generate_contract_address(to_canonical_address(sender), self.nonce(sender)))
        was = self.account_info(target)
        self.evm.insert_account_info(target, self._AccountInfo(balance=was.balance, nonce=was.nonce, code=data or None))
        try:
            executed = self._trial(sender, target, b"", value, gas, gas_price, access_list)[0]
        finally:
            self.evm.insert_account_info(target, was)
        return executed

    def _trial(self, sender: str, to: str | None, data: bytes, value: int, gas: int, gas_price: int,
               access_list: Any) -> tuple[Executed, int]:
        """Execute in the pending block's environment and leave nothing: (what ran, gas refunded)."""
        pending = self.pending()
        self._set_env(pending.number, pending.timestamp, pending.base_fee)
        return self._bracket(lambda: self._run(sender, to, data, value, gas, gas_price, list(access_list)))

    def estimate_gas(self, sender: str, to: str | None, data: bytes, value: int, access_list: list = ()) -> int:
        """geth's DoEstimateGas (as node.eth.geth_execution.geth_gas_estimate does it on py-evm)."""
        from .geth_execution import (
            CALL_STIPEND,
            ESTIMATE_ERROR_RATIO,
            TX_GAS,
            InsufficientFundsForTransfer,
        )

        sender, to = to_checksum_address(sender), to and to_checksum_address(to)
        if value and self.eth_balance(sender) < value:
            raise InsufficientFundsForTransfer("insufficient funds for transfer")
        floor_tx = _Floor(data, to is None, access_list)
        floor = max(intrinsic_floor(floor_tx), 0)

        def passes(gas: int) -> bool:
            try:
                return self._trial(sender, to, data, value, gas, 0, access_list)[0].success
            except TransactionFailed:
                return False

        if to is not None and not data and not self.code(to) and passes(TX_GAS):
            return TX_GAS
        hi = GAS_LIMIT
        executed, refunded = self._trial(sender, to, data, value, hi, 0, access_list)
        if executed.error == "out of gas":
            raise TransactionFailed(f"gas required exceeds allowance ({hi})")
        if not executed.success:
            failed = TransactionFailed(_reason_of(executed.output) if executed.error is None else executed.error)
            failed.output = executed.output if executed.error is None else None
            raise failed
        used = max(executed.gas_used, floor)
        lo = used - 1
        optimistic = (used + refunded + CALL_STIPEND) * 64 // 63
        if lo < optimistic < hi:
            if passes(optimistic):
                hi = optimistic
            else:
                lo = optimistic
        while lo + 1 < hi and (hi - lo) / hi >= ESTIMATE_ERROR_RATIO:
            mid = min((hi + lo) // 2, 2 * lo) if lo > 0 else (hi + lo) // 2
            if passes(mid):
                hi = mid
            else:
                lo = mid
        return max(hi, floor)

    # --- the Chain interface (deployment and bindings, through signed transactions) ---------
    def _call_raw(self, to: str, data: bytes, sender: str, value: int) -> bytes:
        executed = self.execute_call(sender, to, data, value, None)
        if not executed.success:
            raise TransactionFailed(_reason_of(executed.output))
        return executed.output

    def _send_raw(self, to: str | None, data: bytes, sender: Account, value: int) -> tuple[Receipt, list]:
        from eth_account import Account as EthAccount

        if sender.key is None:
            raise ChainError(f"no key for {sender.address}")
        gas = self.estimate_gas(sender.address, to, data, value)
        gas = max(gas * 130 // 100, gas)
        pending = self.pending()
        tip = 10**9
        tx = {"chainId": self.chain_id, "nonce": self.nonce(sender.address), "gas": min(gas, GAS_LIMIT),
              "maxFeePerGas": 2 * pending.base_fee + tip, "maxPriorityFeePerGas": tip, "value": value, "data": data}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        decoded = self.decode(bytes(EthAccount.sign_transaction(tx, sender.key).raw_transaction))
        block = self.mine_transactions([decoded])
        if not block.receipts:
            raise TransactionFailed("the transaction could not be included")
        receipt, executed = block.receipts[0], self.last_executed
        if not executed.success:
            raise TransactionFailed(_reason_of(executed.output))
        price = pending.base_fee + min(tip, tx["maxFeePerGas"] - pending.base_fee)
        out = Receipt(tx_hash=bytes(decoded.hash), block_number=block.number, gas_used=receipt.gas_used,
                      gas_cost=receipt.gas_used * price, contract_address=executed.created)
        return out, [(to_checksum_address(lg.address), lg.topics, lg.data, i) for i, lg in enumerate(receipt.logs)]


@dataclass
class _Floor:
    """The fields intrinsic_floor reads, for a call object that is not a transaction."""
    data: bytes
    is_create: bool
    access_list: Any

    @property
    def intrinsic_gas(self) -> int:
        zeros = self.data.count(0)
        gas = 21_000 + 4 * zeros + 16 * (len(self.data) - zeros)
        if self.is_create:
            gas += 32_000 + 2 * ((len(self.data) + 31) // 32)
        for _, keys in self.access_list or ():
            gas += 2_400 + 1_900 * len(keys)
        return gas


class _State:
    def __init__(self, chain: RevmDevchain):
        self._chain = chain

    def get_nonce(self, address: bytes) -> int:
        return self._chain.nonce(to_checksum_address(address))

    def get_balance(self, address: bytes) -> int:
        return self._chain.eth_balance(to_checksum_address(address))


class _Vm:
    def __init__(self, chain: RevmDevchain):
        self.state = _State(chain)
        self._chain = chain

    def get_transaction_builder(self):
        return self._chain._tx_builder


class _StoreView:
    """py-evm's chain methods node.eth.devchain calls: the store's, plus get_vm() and the
    pending block (get_block())."""

    def __init__(self, chain: RevmDevchain):
        self._chain = chain

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain.store, name)

    def get_vm(self, at_header: Any = None) -> _Vm:
        return _Vm(self._chain)

    def get_block(self) -> Block:
        """The pending block (empty: transactions wait in the devchain's pool)."""
        p, store = self._chain.pending(), self._chain.store
        return Block(make_header(store.get_canonical_block_hash(store.head), p.number, p.timestamp, p.base_fee))

    def pending_fields(self) -> PendingFields:
        """What admitting a transaction reads of the pending block, without building its header."""
        return PendingFields(self._chain.pending())


class PendingFields:
    """The pending block's number, time, gas limit and base fee, named as py-evm's header names them."""

    def __init__(self, pending: _Head):
        self.block_number, self.timestamp, self.base_fee_per_gas = pending.number, pending.timestamp, pending.base_fee
        self.gas_limit = GAS_LIMIT


class _Backend:
    def __init__(self, chain: RevmDevchain):
        self.chain = _StoreView(chain)


_HALTS = {"OutOfGas": "out of gas", "InvalidFEOpcode": "invalid opcode: INVALID", "OpcodeNotFound": "invalid opcode",
          "InvalidJump": "invalid jump destination", "StackUnderflow": "stack underflow",
          "StackOverflow": "stack limit reached 1024 (1023)", "CallTooDeep": "max call depth exceeded",
          "OutOfFunds": "insufficient balance for transfer", "CreateCollision": "contract address collision",
          "CreateContractSizeLimit": "max code size exceeded", "StateChangeDuringStaticCall": "write protection",
          "InvalidEFOpcode": "invalid code: must not begin with 0xef"}


def _halt_words(text: str) -> str | None:
    """geth's error for revm's halt in `text`; None for a revert (the caller has its data)."""
    if _REVERT.search(text):
        return None
    for name, words in _HALTS.items():
        if f"reason: {name}" in text:
            return words
    return text


def _revert_output(exc: RuntimeError) -> bytes:
    m = _REVERT.search(str(exc))
    return bytes.fromhex(m.group(1)) if m else b""


def _reason_of(output: bytes) -> str:
    from .abi import decode_revert

    reason = decode_revert(output)
    if reason is not None:
        return reason
    return "0x" + output.hex() if output else ""
