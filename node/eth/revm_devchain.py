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

Blocks live in node.eth.block_store, where mining n empty blocks is one step.

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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_utils import to_canonical_address
from eth_utils import to_checksum_address as _to_checksum_address

from .block_store import (
    GAS_LIMIT,
    Block,
    BlockFields,
    BlockStore,
    Log,
    StoredReceipt,
    bloom_of,
    make_header,
)
from .chain import DEV_MNEMONIC, Account, Chain, dev_accounts
from .contract import Receipt
from .errors import ChainError, TransactionFailed
from .geth_execution import intrinsic_floor, transaction_floor

log = logging.getLogger("lpnode.devchain")
ETH = 10**18


@lru_cache(maxsize=65536)
def to_checksum_address(address: str | bytes) -> str:
    """eth_utils' to_checksum_address, cached (it hashes each time; a call passes several)."""
    return _to_checksum_address(address)


ZERO = "0x" + "00" * 20
_REVERT = re.compile(r"Revert \{ gas_used: \d+, output: 0x([0-9a-fA-F]*) \}")
# one account of revm's JournaledState Debug text, and one storage slot of it
_ACCOUNT = re.compile(r"(0x[0-9a-f]{40}): Account \{ info: AccountInfo \{ balance: (\d+), nonce: (\d+), "
                      r"code_hash: 0x[0-9a-f]{64}, code: (None|Some\(.*?\)) \}, "
                      r"storage: \{((?:\d+: StorageSlot \{ [^}]* \}(?:, )?)*)\}, status: AccountStatus\(([^)]*)\) \}")
_CODE_LEN = re.compile(r"state: Analysed \{ len: (\d+)")
_SLOT = re.compile(r"(\d+): StorageSlot \{ previous_or_original_value: (\d+), present_value: (\d+) \}")


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

    def pending(self) -> BlockFields:
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

    def apply(self, tx, pending: BlockFields, cumulative: int) -> StoredReceipt:
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
        gas_used = max(executed.gas_used, transaction_floor(tx))
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
            TX_GAS,
            InsufficientFundsForTransfer,
            gas_search,
        )

        sender, to = to_checksum_address(sender), to and to_checksum_address(to)
        if value and self.eth_balance(sender) < value:
            raise InsufficientFundsForTransfer("insufficient funds for transfer")
        floor = intrinsic_floor(data, to is None, access_list)

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
        return gas_search(used, refunded, hi, floor, passes)

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

    def __init__(self, pending: BlockFields):
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
