"""An in-process backend on revm (Rust), through its Python binding pyrevm, with the chain head
kept in Python exactly as `FastChain` keeps it:

- a transaction lands in `block_number + 1`, stamped one second after the latest block (or at the
  timestamp set with `set_next_block_timestamp`), and is mined in its own block; a reverted one
  changes nothing (no state, no nonce, no block);
- a view runs "at latest": `block.number` is the latest mined block;
- `mine(n)` only moves the head: jumping 6,377 blocks costs the same as jumping one;
- the sender's nonce is incremented per transaction, so contracts deployed in the same order get
  the same addresses as on the other backends; gas is charged at a fixed `gas_price`.

Block hashes: pyrevm's in-memory database answers BLOCKHASH with revm's `EmptyDB` rule,
`keccak(decimal string of n)`, and offers no way to set them (its `CacheDB.block_hashes` is not
exposed). So here `block_hash(n)` reports that same value, and BLOCKHASH in the EVM returns exactly
what `block_hash(n)` reports for the 256 blocks before the executing one (revm's range rule) — but
the hashes do not depend on a seed, and differ from `FastChain`'s `keccak(seed ‖ number)`.

How pyrevm is driven, and why:

- every transaction is `EVM.message_call` (or `EVM.deploy` for a creation); pyrevm never finalizes
  its journal between calls, so all state lives in one journal, and `snapshot`/`revert` are revm
  journal checkpoints;
- a message call skips revm's tx-level bookkeeping (no nonce bump, no gas charge), and pyrevm's
  `set_balance`/`insert_account_info` write around the journal (a revert would not undo them); so
  the sender's nonce bump and gas payment are made with one journaled operation: an empty creation
  from the sender carrying the gas cost as value (the ETH goes to `CREATE(sender, nonce)`, an
  otherwise unused address — the gas is burned there);
- accounts loaded once stay warm and storage slots keep their first-loaded "original" value across
  transactions (the journal is never finalized), so gas figures are below a mined transaction's
  (every access after the first is warm); reverts, events and state are unaffected.

Bounded memory. Because the journal is never finalized, it keeps every transaction's entries and
logs, and pyrevm keeps every committed checkpoint, and each transaction leaves its gas-sink account
(`CREATE(sender, nonce)`) in the state: about 2 KB a transaction, without bound (benchmarks/
bench_sim_memory.py --chain 100000: 53 MB to 241 MB; compacted, flat at 75 MB). So, when no
snapshot is live and the journal has grown by `_COMPACT_FRAMES` frames (or by the state's size, if
larger) since the last time, the chain is compacted: the state is read out of the journal (pyrevm
exposes it only through the journal's `Debug` text), and a fresh `EVM` is loaded with it, less the
gas sinks (the gas they hold is burned, as meant) and the empty accounts (EIP-161 would have
removed them at a block's end). State, nonces, balances and code are kept exactly; accounts and
slots go cold again, so the first transaction to touch each pays the cold-access gas once more — at
points fixed by the transactions made, so a run stays reproducible. A snapshot held open for good
(a test's `reverting()` block) defers compaction until it is reverted.
"""
from __future__ import annotations

import re
from functools import lru_cache

from eth_utils import keccak, to_canonical_address, to_checksum_address

from .abi import decode_revert
from .chain import DEV_MNEMONIC, Account, dev_accounts
from .contract import Receipt
from .errors import ChainError, TransactionFailed
from .head import GENESIS_TIMESTAMP, PythonHeadChain

ETH = 10**18
_BLOCK_GAS_LIMIT = 30_000_000
_REVERT = re.compile(r"Revert \{ gas_used: \d+, output: 0x([0-9a-fA-F]*) \}")
_COMPACT_FRAMES = 10_000  # journal frames (about three a transaction) between compactions, at least
# one account of revm's JournaledState Debug text, and one storage slot of it
_ACCOUNT = re.compile(r"(0x[0-9a-f]{40}): Account \{ info: AccountInfo \{ balance: (\d+), nonce: (\d+), "
                      r"code_hash: 0x[0-9a-f]{64}, code: (None|Some\(.*?\)) \}, "
                      r"storage: \{((?:\d+: StorageSlot \{ [^}]* \}(?:, )?)*)\}, status: AccountStatus\(([^)]*)\) \}")
_CODE_LEN = re.compile(r"state: (?:Checked|Analysed) \{ len: (\d+)")  # analysed code is padded; its length
_SLOT = re.compile(r"(\d+): StorageSlot \{ previous_or_original_value: \d+, present_value: (\d+) \}")


class RevmChain(PythonHeadChain):
    """revm through pyrevm, with a head kept in Python (the same semantics as `FastChain`).

    Accounts are `dev_accounts(num_accounts)` (the same addresses and keys as the other backends),
    each funded with `balance` wei (1,000,000 ETH)."""

    def __init__(self, num_accounts: int = 10, mnemonic: str = DEV_MNEMONIC, *, balance: int = 1_000_000 * ETH,
                 gas_price: int = 10**9, genesis_timestamp: int = GENESIS_TIMESTAMP, spec_id: str = "CANCUN"):
        super().__init__(genesis_timestamp)
        from pyrevm import EVM, AccountInfo, BlockEnv

        self._BlockEnv, self._EVM, self._AccountInfo = BlockEnv, EVM, AccountInfo
        self._spec_id = spec_id
        self.evm = EVM(gas_limit=_BLOCK_GAS_LIMIT, spec_id=spec_id)
        self.gas_price = gas_price
        self._env_at: tuple[int, int] | None = None
        self._gas_sinks: list[str] = []  # the CREATE(sender, nonce) accounts gas went to since the last compaction
        self._compact_at = _COMPACT_FRAMES
        self._state: dict[str, list] = {}  # address -> [balance, nonce, code, {slot: value}] at the last compaction
        self.compactions = 0
        self.accounts = dev_accounts(num_accounts, mnemonic)
        for a in self.accounts:
            self.evm.set_balance(a.address, balance)  # before any checkpoint: nothing to revert
        self._set_env(self._block, self._ts)

    # --- head (block number, timestamps: PythonHeadChain) -----------------------------------
    def block_hash(self, number: int) -> bytes:
        if number < 0 or number > self._block:
            raise ChainError(f"block {number} does not exist (latest is {self._block})")
        return keccak(str(number).encode())  # revm's EmptyDB rule, what BLOCKHASH returns

    def _set_env(self, number: int, timestamp: int) -> None:
        if self._env_at != (number, timestamp):
            self.evm.set_block_env(self._BlockEnv(number=number, timestamp=timestamp, gas_limit=_BLOCK_GAS_LIMIT,
                                                  coinbase="0x" + "00" * 20, prevrandao=b"\x00" * 32))
            self._env_at = (number, timestamp)

    # --- snapshots ---------------------------------------------------------------------------
    def _take_checkpoint(self):
        return self.evm.snapshot()

    def _restore_checkpoint(self, checkpoint) -> None:
        self.evm.revert(checkpoint)

    # --- accounts ------------------------------------------------------------------------
    def eth_balance(self, address: str) -> int:
        return self.evm.get_balance(to_checksum_address(address))

    # --- execution ---------------------------------------------------------------------------
    def _call_raw(self, to: str, data: bytes, sender: str, value: int) -> bytes:
        evm = self.evm
        self._set_env(self._block, self._ts)
        if value and evm.get_balance(sender) < value:
            raise TransactionFailed("insufficient funds for transfer")
        cp = self._checkpoint()
        try:
            return evm.message_call(sender, to, data, value or None, _BLOCK_GAS_LIMIT)
        except RuntimeError as exc:
            raise TransactionFailed(_reason(exc)) from None
        finally:
            self._revert_to(cp)

    def _send_raw(self, to: str | None, data: bytes, sender: Account, value: int) -> tuple[Receipt, list]:
        evm = self.evm
        number, ts = self._next_block()
        self._set_env(number, ts)
        create = to is None
        addr = sender.address
        info = evm.basic(addr)
        nonce, balance = info.nonce, info.balance
        if balance < value:
            raise TransactionFailed("insufficient funds for gas * price + value")
        evm.reset_transient_storage()  # EIP-1153: a new transaction starts with none
        cp = self._checkpoint()
        ok = False
        try:
            try:
                if create:
                    target = evm.deploy(addr, data, value or None, _BLOCK_GAS_LIMIT)
                else:
                    evm.message_call(addr, to, data, value or None, _BLOCK_GAS_LIMIT)
                    target = to
            except RuntimeError as exc:
                raise TransactionFailed(_reason(exc)) from None
            result = evm.result
            used = result.gas_used
            logs = [(_checksum(lg.address), *lg.data) for lg in result.logs]
            cost = used * self.gas_price
            if evm.get_balance(addr) < cost:
                raise TransactionFailed("insufficient funds for gas * price + value")
            if not create:
                # bump the nonce and pay for gas in one journaled step (see the module docstring)
                self._gas_sinks.append(evm.deploy(addr, b"", cost or None, _BLOCK_GAS_LIMIT))
            elif cost:
                evm.message_call(addr, "0x" + "00" * 20, b"", cost, _BLOCK_GAS_LIMIT)
            ok = True
        finally:
            if ok:
                self._commit(cp)
            else:
                self._revert_to(cp)
        self._tx_count += 1
        self._block, self._ts, self._next_ts = number, ts, None
        if not self._checkpoints and evm.journal_len >= self._compact_at:
            self._compact()
        sender_b = to_canonical_address(addr)
        receipt = Receipt(
            tx_hash=keccak(b"lpsim revm chain tx" + self._tx_count.to_bytes(32, "big") + sender_b
                           + nonce.to_bytes(32, "big")),
            block_number=number,
            gas_used=used,
            gas_cost=cost,
            contract_address=to_checksum_address(target) if create else None,
        )
        return receipt, [(address, [bytes(t) for t in topics], bytes(log_data), i)
                         for i, (address, topics, log_data) in enumerate(logs)]

    def _compact(self) -> None:
        """Move the state into a fresh EVM with an empty journal (see the module docstring); only
        with no live checkpoint, since a checkpoint points into the old journal.

        The journal holds only the accounts and slots touched since the last compaction; the rest
        is in the EVM's database, which pyrevm does not list, so `_state` keeps what was loaded
        into it, and the journal's changes are laid over that."""
        old, state = self.evm, self._state
        text = old.journal_str
        text = text[:text.index(", transient_storage: {")]
        found = 0
        for m in _ACCOUNT.finditer(text):
            found += 1
            address, balance, nonce, code_text, slots, status = m.groups()
            if "SelfDestructed" in status:
                state.pop(address, None)
                continue
            code = old.get_code(address) if code_text != "None" else None
            if code and (n := _CODE_LEN.search(code_text)):
                code = code[:int(n.group(1))]  # analysed code comes padded
            account = state.setdefault(address, [0, 0, None, {}])
            account[:3] = int(balance), int(nonce), code
            storage = account[3]
            for key, value in _SLOT.findall(slots):
                if value == "0":
                    storage.pop(int(key), None)
                else:
                    storage[int(key)] = int(value)
        if found != text.count(": Account { "):
            raise ChainError("internal: revm's state text is not in the expected form; cannot compact")
        sinks = {a.lower() for a in self._gas_sinks}
        for address in [a for a, (balance, nonce, code, storage) in state.items()
                        if not code and (a in sinks or not (balance or nonce or storage))]:
            del state[address]
        evm = self._EVM(gas_limit=_BLOCK_GAS_LIMIT, spec_id=self._spec_id)
        for address in sorted(state):
            balance, nonce, code, _ = state[address]
            evm.insert_account_info(address, self._AccountInfo(balance=balance, nonce=nonce, code=code))
        for address in sorted(state):
            for key, value in sorted(state[address][3].items()):
                evm.insert_account_storage(address, key, value)
        self.evm, self._env_at, self._gas_sinks = evm, None, []
        self._set_env(self._block, self._ts)
        self._compact_at = evm.journal_len + max(_COMPACT_FRAMES, sum(len(a[3]) for a in state.values()))
        self.compactions += 1

    def _commit(self, cp) -> None:
        """Fold the newest checkpoint `cp` into its parent (revm's checkpoint_commit)."""
        if not self._checkpoints or self._checkpoints[-1] != cp:
            raise ChainError("internal: committing a checkpoint that is not the newest")
        self._checkpoints.pop()
        self.evm.commit()


@lru_cache(maxsize=65536)
def _checksum(address: str) -> str:
    return to_checksum_address(address)


def _reason(exc: RuntimeError) -> str:
    """The revert string from pyrevm's error: Error(string) decoded, '' for a bare revert, else
    the raw revert data as hex, or revm's description of the failure (a halt, a validation error)."""
    text = str(exc)
    m = _REVERT.search(text)
    if m:
        out = bytes.fromhex(m.group(1))
        reason = decode_revert(out)
        return reason if reason is not None else "0x" + out.hex()
    return text
