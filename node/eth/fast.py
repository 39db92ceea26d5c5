"""A fast in-process backend: the same compiled contracts on py-evm, through titanoboa's VM
wrapper, without web3.py, JSON-RPC shaping, gas estimation or per-transaction block building.

`FastChain` keeps the chain head itself (block number, timestamp, pending timestamp) and runs
each transaction as one EVM message against the state of the latest block:

- a transaction lands in `block_number + 1`, stamped one second after the latest block (or at the
  timestamp set with `set_next_block_timestamp`), and is mined in its own block; a reverted one
  changes nothing (no state, no nonce, no block);
- a view runs "at latest": `block.number` is the latest mined block;
- `mine(n)` only moves the head: jumping 6,377 blocks costs the same as jumping one;
- block hashes are deterministic, `keccak(seed ‖ number)`, and BLOCKHASH in the EVM returns
  exactly what `block_hash(n)` reports for the 256 blocks before the executing one;
- the sender's nonce is incremented per transaction, so contracts deployed in the same order get
  the same addresses as on `EmbeddedChain`; gas is charged at a fixed `gas_price`.

Gas figures are the EVM's execution gas plus the intrinsic cost (21,000 + calldata, + 32,000 for a
creation), less the capped refund: close to, but not exactly, what a mined transaction reports
(the callee's first access is charged cold here, for one).
"""
from __future__ import annotations


from eth_utils import keccak, to_canonical_address, to_checksum_address

from .abi import decode_revert
from .chain import DEV_MNEMONIC, Account, dev_accounts
from .contract import Receipt
from .errors import ChainError, TransactionFailed
from .head import GENESIS_TIMESTAMP, PythonHeadChain

ETH = 10**18
_BLOCK_GAS_LIMIT = 30_000_000


class FastChain(PythonHeadChain):
    """py-evm driven directly (titanoboa's VM wrapper), with a head kept in Python.

    Accounts are `dev_accounts(num_accounts)` (the same addresses and keys as `EmbeddedChain`),
    each funded with `balance` wei (1,000,000 ETH)."""

    def __init__(self, num_accounts: int = 10, mnemonic: str = DEV_MNEMONIC, *, seed: bytes = b"lpsim fast chain",
                 balance: int = 1_000_000 * ETH, gas_price: int = 10**9, genesis_timestamp: int = GENESIS_TIMESTAMP):
        super().__init__(genesis_timestamp)
        from boa.environment import Env
        from eth.vm.transaction_context import BaseTransactionContext

        self._tx_context_class = BaseTransactionContext
        self._precompiles: tuple = ()
        self.env = Env()
        evm = self.env.evm
        self.state = evm.vm.state
        comp = self.state.computation_class
        # titanoboa wraps every computation in tracing (a PC trace per step, SHA3 preimages and
        # SSTORE slots kept forever); none of it is needed here and it costs time and memory, so
        # run py-evm's own computation class for the fork.
        base = next(b for b in comp.__mro__[1:] if b.__module__.startswith("eth."))
        self.state.computation_class = base
        # titanoboa also wraps SHA3 and SSTORE in the opcode table it shares with py-evm's
        # computation class (so with EmbeddedChain in the same process): unwrap them
        for opcode, attr in ((0x20, "sha3"), (0x55, "sstore")):
            while hasattr(base.opcodes[opcode], attr) and hasattr(base.opcodes[opcode], "env"):
                base.opcodes[opcode] = getattr(base.opcodes[opcode], attr)
        self._precompiles = tuple(self.state.computation_class._precompiles)
        self.state.get_ancestor_hash = self._ancestor_hash  # BLOCKHASH, see block_hash()
        ctx = self.state.execution_context
        ctx._gas_limit = _BLOCK_GAS_LIMIT
        ctx._coinbase = b"\x00" * 20
        self._ctx = ctx
        self.seed = seed
        self.gas_price = gas_price
        self.accounts = dev_accounts(num_accounts, mnemonic)
        for a in self.accounts:
            self.state.set_balance(to_canonical_address(a.address), balance)
        self._set_context(self._block, self._ts)

    # --- head (block number, timestamps: PythonHeadChain) -----------------------------------
    def block_hash(self, number: int) -> bytes:
        if number < 0 or number > self._block:
            raise ChainError(f"block {number} does not exist (latest is {self._block})")
        return keccak(self.seed + number.to_bytes(32, "big"))

    def _ancestor_hash(self, number: int) -> bytes:
        # py-evm's rule: only the 256 blocks before the executing one have a hash
        executing = self._ctx._block_number
        if number < 0 or not (0 <= executing - number - 1 < 256):
            return b""
        return keccak(self.seed + number.to_bytes(32, "big"))

    def _set_context(self, number: int, timestamp: int) -> None:
        self._ctx._block_number = number
        self._ctx._timestamp = timestamp

    # --- snapshots ---------------------------------------------------------------------------
    def _take_checkpoint(self):
        return self.state.snapshot()

    def _restore_checkpoint(self, checkpoint) -> None:
        self.state.revert(checkpoint)

    # --- accounts ------------------------------------------------------------------------
    def eth_balance(self, address: str) -> int:
        return self.state.get_balance(to_canonical_address(address))

    # --- execution ---------------------------------------------------------------------------
    def _message(self, to: bytes, data: bytes, sender: bytes, value: int, gas: int, code: bytes | None = None,
                 create: bool = False):
        from eth.vm.message import Message

        if create:
            return Message(to=b"", sender=sender, gas=gas, value=value, code=data, create_address=to, data=b"")
        return Message(to=to, sender=sender, gas=gas, value=value, code=self.state.get_code(to) if code is None else code,
                       data=data)

    def _call_raw(self, to: str, data: bytes, sender: str, value: int) -> bytes:
        state = self.state
        self._set_context(self._block, self._ts)
        snap = state.snapshot()
        try:
            sender_b = to_canonical_address(sender)
            if value and state.get_balance(sender_b) < value:
                raise TransactionFailed("insufficient funds for transfer")
            msg = self._message(to_canonical_address(to), data, sender_b, value, _BLOCK_GAS_LIMIT)
            comp = state.computation_class.apply_message(state, msg, self._tx_context_class(gas_price=0, origin=sender_b))
            if comp.is_error:
                raise TransactionFailed(_reason(comp))
            return bytes(comp.output)
        finally:
            state.revert(snap)

    def _send_raw(self, to: str | None, data: bytes, sender: Account, value: int) -> tuple[Receipt, list]:
        from eth._utils.address import generate_contract_address

        state = self.state
        number, ts = self._next_block()
        self._set_context(number, ts)
        sender_b = to_canonical_address(sender.address)
        snap = state.snapshot()
        ok = False
        try:
            nonce = state.get_nonce(sender_b)
            create = to is None
            intrinsic = 21_000 + sum(16 if b else 4 for b in data) + (32_000 if create else 0)
            gas_limit = _BLOCK_GAS_LIMIT - intrinsic
            balance = state.get_balance(sender_b)
            if balance < value + _BLOCK_GAS_LIMIT * self.gas_price:
                if balance < value + intrinsic * self.gas_price:
                    raise TransactionFailed("insufficient funds for gas * price + value")
                gas_limit = (balance - value) // self.gas_price - intrinsic
            state.increment_nonce(sender_b)
            target = generate_contract_address(sender_b, nonce) if create else to_canonical_address(to)
            # a new transaction: transient storage empty, only the sender, the target and the
            # precompiles warm (EIP-1153, EIP-2929); both clears are journaled, so snapshots hold
            state.transient_storage.clear()
            state._account_db._journal_accessed_state.clear()
            for address in (sender_b, target, *self._precompiles):
                state.mark_address_warm(address)
            msg = self._message(target, data, sender_b, value, gas_limit, create=create)
            ctx = self._tx_context_class(gas_price=self.gas_price, origin=sender_b)
            cls = state.computation_class
            comp = cls.apply_create_message(state, msg, ctx) if create else cls.apply_message(state, msg, ctx)
            if comp.is_error:
                raise TransactionFailed(_reason(comp))
            used = intrinsic + comp.get_gas_used()
            used -= min(comp.get_gas_refund(), used // 5)
            state.delta_balance(sender_b, -used * self.gas_price)
            logs = [(to_checksum_address(addr), [t.to_bytes(32, "big") for t in topics], bytes(log_data), i)
                    for i, (addr, topics, log_data) in enumerate(comp.get_log_entries())]
            state.commit(snap)
            ok = True
        finally:
            if not ok:
                state.revert(snap)
        self._tx_count += 1
        self._block, self._ts, self._next_ts = number, ts, None
        receipt = Receipt(
            tx_hash=keccak(self.seed + b"tx" + self._tx_count.to_bytes(32, "big") + sender_b + nonce.to_bytes(32, "big")),
            block_number=number,
            gas_used=used,
            gas_cost=used * self.gas_price,
            contract_address=to_checksum_address(target) if create else None,
        )
        return receipt, logs


def _reason(computation) -> str:
    """The revert string of a failed computation: Error(string) decoded, '' for a bare revert,
    else a description of the failure (out of gas, invalid opcode, panic data)."""
    from eth.exceptions import Revert

    err = computation.error
    if isinstance(err, Revert):
        out = bytes(computation.output)
        reason = decode_revert(out)
        return reason if reason is not None else "0x" + out.hex()
    return f"{type(err).__name__}: {err}".rstrip(": ")
