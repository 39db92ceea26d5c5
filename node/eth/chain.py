"""One chain interface over several backends.

`Chain` is what callers use: accounts, deployment, calls and transactions (through
`Contract` bindings), logs, and time travel (mine, snapshot, revert). Backends:

- `EmbeddedChain`: web3.py over eth-tester's py-evm backend, in process; the default.
- `JsonRpcChain`: any JSON-RPC URL (the `lpnode devchain` server, anvil, geth, a testnet).

A backend implements the small set of abstract methods below; bindings, deployment and
everything above them only ever call this interface.
"""
from __future__ import annotations

import functools
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from .abi import EventRegistry, decode_output, decode_revert, encode_args, selector
from .compiler import CompiledContract
from .contract import Contract, Receipt
from .errors import ChainError, ChainUnavailable, TransactionFailed, revert_reason
from .geth_execution import geth_gas_estimate, install_fee_free_calls
from .txmanager import DEFAULT_MAX_REPLACEMENTS, DEFAULT_TX_TIMEOUT, MinedTransaction, TransactionManager

DEFAULT_RPC_TIMEOUT = 10.0  # seconds for a JSON-RPC request to connect and be answered (node.eth.rpc_http)

log = logging.getLogger("lpnode.eth.chain")

# anvil_mine asks for at most this many blocks at once (the devchain refuses over 10,000 a call)
MINE_CHUNK = 1000

# The well-known development mnemonic (anvil and hardhat use it too); keys derive from it.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_HD_PATH = "m/44'/60'/0'/0"
DEV_CHAIN_ID = 31337  # anvil's default
GAS_LIMIT_MARGIN_PERCENT = 130  # the gas limit sent is 130 % of the estimate (foundry's default multiplier)


@dataclass(frozen=True)
class Account:
    address: str
    key: bytes | None = None  # private key when known (needed to sign tickets and raw transactions)

    def __str__(self) -> str:
        return self.address


def dev_accounts(count: int, mnemonic: str = DEV_MNEMONIC) -> list[Account]:
    """The first `count` accounts of the development mnemonic (same as anvil's)."""
    return list(_dev_accounts(count, mnemonic))


@functools.lru_cache(maxsize=8)
def _dev_accounts(count: int, mnemonic: str) -> tuple[Account, ...]:
    # BIP-32 as eth_account's from_mnemonic does it, but the seed and the parent node
    # (m/44'/60'/0'/0) derived once rather than once per account: 1,100 accounts in ~0.1 s, not ~3.5 s
    from eth_account.hdaccount import seed_from_mnemonic
    from eth_account.hdaccount.deterministic import HDPath, derive_child_key, hmac_sha512
    from eth_keys import keys

    main = hmac_sha512(b"Bitcoin seed", seed_from_mnemonic(mnemonic, ""))
    key, chain_code = main[:32], main[32:]
    for node in HDPath(DEV_HD_PATH)._path:
        key, chain_code = derive_child_key(key, chain_code, node)
    accounts = []
    for i in range(count):
        child, _ = derive_child_key(key, chain_code, HDPath(f"m/{i}")._path[0])
        accounts.append(Account(keys.PrivateKey(child).public_key.to_checksum_address(), bytes(child)))
    return tuple(accounts)


class Chain(ABC):
    """The interface every backend provides."""

    accounts: list[Account]

    def __init__(self) -> None:
        self.events = EventRegistry()

    # --- backend primitives -------------------------------------------------------------
    @property
    @abstractmethod
    def block_number(self) -> int:
        """The latest mined block; the next transaction lands in block_number + 1."""

    @abstractmethod
    def mine(self, blocks: int = 1) -> None:
        """Mine `blocks` empty blocks in one step."""

    @property
    @abstractmethod
    def timestamp(self) -> int:
        """The latest mined block's timestamp."""

    @abstractmethod
    def set_next_block_timestamp(self, timestamp: int) -> None:
        """The next block (mined or carrying a transaction) gets this timestamp; later blocks
        continue from it. Nothing is mined."""

    def increase_time(self, seconds: int) -> None:
        """Move the clock: the next block is stamped `seconds` after the latest one."""
        self.set_next_block_timestamp(self.timestamp + seconds)

    @abstractmethod
    def snapshot(self) -> Any:
        """Save the chain state; `revert(token)` restores it (block number included)."""

    @abstractmethod
    def revert(self, token: Any) -> None: ...

    @contextmanager
    def reverting(self) -> Iterator[None]:
        """Run the block on a snapshot that is reverted when it ends, however it ends."""
        token = self.snapshot()
        try:
            yield
        finally:
            self.revert(token)

    @abstractmethod
    def eth_balance(self, address: str) -> int: ...

    @abstractmethod
    def block_hash(self, number: int) -> bytes: ...

    @abstractmethod
    def _call_raw(self, to: str, data: bytes, sender: str, value: int) -> bytes:
        """Execute without a transaction; raise TransactionFailed on revert."""

    @abstractmethod
    def _send_raw(self, to: str | None, data: bytes, sender: Account, value: int) -> tuple[Receipt, list]:
        """Send a transaction; return its receipt (events not yet decoded) and raw logs
        as (address, topics, data, log_index). Raise TransactionFailed on revert."""

    # --- built on the primitives ----------------------------------------------------------
    @property
    def default_account(self) -> Account:
        return self.accounts[0]

    def account(self, address: str) -> Account:
        """The Account (with its key when known) for `address`."""
        address = to_checksum_address(address)
        for acct in self.accounts:
            if acct.address == address:
                return acct
        return Account(address)

    def call(self, to: str, entry: dict, args: tuple, sender: Account | None = None, value: int = 0) -> Any:
        data = selector(entry) + encode_args(entry.get("inputs", []), args)
        sender = sender or self.default_account
        try:
            out = self._call_raw(to, data, sender.address, value)
        except TransactionFailed as exc:
            exc.function = exc.function or entry["name"]
            raise
        return decode_output(entry, out)

    def transact(self, to: str, entry: dict, args: tuple, sender: Account | None = None, value: int = 0) -> Receipt:
        data = selector(entry) + encode_args(entry.get("inputs", []), args)
        try:
            return self._with_events(*self._send_raw(to, data, sender or self.default_account, value))
        except TransactionFailed as exc:
            exc.function = exc.function or entry["name"]
            raise

    def send_eth(self, sender: Account, to: str, value: int) -> Receipt:
        return self._with_events(*self._send_raw(to, b"", sender, value))

    def deploy(self, compiled: CompiledContract, *args, sender: Account | None = None, value: int = 0) -> Contract:
        ctor = next((e for e in compiled.abi if e.get("type") == "constructor"), {"inputs": []})
        data = compiled.bytecode + encode_args(ctor.get("inputs", []), args)
        try:
            receipt = self._with_events(*self._send_raw(None, data, sender or self.default_account, value))
        except TransactionFailed as exc:
            exc.function = exc.function or f"{compiled.name}.constructor"
            raise
        if not receipt.contract_address:
            raise ChainError(f"deploying {compiled.name} created no contract")
        return Contract(self, compiled.name, receipt.contract_address, compiled.abi)

    def at(self, compiled: CompiledContract, address: str) -> Contract:
        return Contract(self, compiled.name, to_checksum_address(address), compiled.abi)

    def _with_events(self, receipt: Receipt, logs: list) -> Receipt:
        for address, topics, data, index in logs:
            event = self.events.decode(address, topics, data, index)
            if event is not None:
                receipt.events.append(event)
        return receipt


class Web3Chain(Chain):
    """A backend over a web3.py `Web3` instance (eth-tester in process, or any JSON-RPC URL)."""

    def __init__(self, w3, accounts: list[Account]):
        super().__init__()
        self.w3 = w3
        self.accounts = accounts

    @property
    def block_number(self) -> int:
        return self.w3.eth.block_number

    def eth_balance(self, address: str) -> int:
        return self.w3.eth.get_balance(to_checksum_address(address))

    @property
    def timestamp(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def block_hash(self, number: int) -> bytes:
        return bytes(self.w3.eth.get_block(number)["hash"])

    def _call_raw(self, to: str, data: bytes, sender: str, value: int) -> bytes:
        tx = {"from": sender, "to": to, "data": data}
        if value:
            tx["value"] = value
        with _reverts_as_transaction_failed():
            return bytes(self.w3.eth.call(tx))

    def _send_raw(self, to, data, sender, value):
        tx: dict = {"from": sender.address, "data": data, "value": value}
        if to is not None:
            tx["to"] = to
        with _reverts_as_transaction_failed():
            tx["gas"] = self._gas_limit(self.w3.eth.estimate_gas(tx))  # raises with the revert reason
        mined = self._submit_and_wait(tx, sender)
        rcpt = mined.receipt
        if rcpt["status"] != 1:
            # The estimate passed but the mined transaction reverted (state moved in between).
            raise TransactionFailed(self._replay_reason(tx, rcpt["blockNumber"]))
        receipt = Receipt(
            tx_hash=bytes(mined.tx_hash),
            block_number=rcpt["blockNumber"],
            gas_used=rcpt["gasUsed"],
            gas_cost=rcpt["gasUsed"] * rcpt.get("effectiveGasPrice", 0),
            contract_address=rcpt.get("contractAddress"),
            origin_tx_hash=bytes(mined.origin_tx_hash),
            replacements=mined.replacements,
        )
        logs = [(lg["address"], [bytes(t) for t in lg["topics"]], bytes(lg["data"]), lg["logIndex"]) for lg in rcpt["logs"]]
        return receipt, logs

    def _gas_limit(self, estimate: int) -> int:
        """The gas limit to send with: eth_estimateGas is geth's, the least gas that passes (to
        1.5 %) in the state it ran on; the margin keeps a transaction whole when the state
        moves before it is mined, and leaves nested calls the gas they ask for (a 2,300-gas
        call needs 2,300 x 64/63 left; geth's estimate may leave it less when less suffices)."""
        gas = estimate * GAS_LIMIT_MARGIN_PERCENT // 100
        if gas > 10_000_000:  # only a large one may pass the block's limit
            gas = min(gas, self.w3.eth.get_block("latest")["gasLimit"])
        return max(gas, estimate)

    def _submit_and_wait(self, tx: dict, sender: Account) -> MinedTransaction:
        """Send `tx` and wait for it to be mined (an in-process chain mines it at once)."""
        with _reverts_as_transaction_failed():
            tx_hash = self._submit(tx, sender)
        rcpt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        return MinedTransaction(bytes(tx_hash), rcpt, (bytes(tx_hash),))

    def _submit(self, tx: dict, sender: Account) -> bytes:
        return self.w3.eth.send_transaction(tx)

    def _replay_reason(self, tx: dict, block: int) -> str:
        try:
            self.w3.eth.call({k: v for k, v in tx.items() if k != "gas"}, block - 1)
        except Exception as exc:  # noqa: BLE001 - any revert message will do here
            return revert_reason(str(exc)) or ""
        return ""


class _reverts_as_transaction_failed:
    """Turn the many shapes of 'execution reverted' (eth-tester, web3, JSON-RPC) into TransactionFailed."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, TransactionFailed):
            return False
        data = getattr(exc, "data", None)
        if isinstance(data, str) and data.startswith("0x"):
            reason = decode_revert(bytes.fromhex(data[2:]))
            if reason is not None:
                raise TransactionFailed(reason) from exc
        message = getattr(exc, "message", None) or str(exc)
        reason = revert_reason(message)
        if reason is not None:
            raise TransactionFailed(reason) from exc
        return False


class EmbeddedChain(Web3Chain):
    """The embedded default: web3.py over eth-tester's py-evm backend, in this process.

    Accounts come from the development mnemonic (the same addresses and keys as anvil's),
    each funded with 1,000,000 ETH; each transaction is mined in its own block.
    """

    def __init__(self, num_accounts: int = 10, mnemonic: str = DEV_MNEMONIC, chain_id: int = DEV_CHAIN_ID):
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider, Web3
        from web3.providers.eth_tester.defaults import API_ENDPOINTS, static_return

        if not 1 <= chain_id < 2**64:
            raise ChainError(f"chain id {chain_id} is not from 1 to 2**64 - 1")
        self.chain_id = chain_id
        self.backend = PyEVMBackend.from_mnemonic(mnemonic, num_accounts=num_accounts, hd_path=DEV_HD_PATH)
        self._configure_backend_chain()
        install_fee_free_calls()
        self.tester = EthereumTester(self.backend)
        # web3's tester provider answers eth_chainId and net_version with constants of its own
        endpoints = {ns: dict(methods) for ns, methods in API_ENDPOINTS.items()}
        endpoints["eth"]["chainId"] = static_return(chain_id)
        endpoints["net"]["version"] = static_return(str(chain_id))
        provider = EthereumTesterProvider(self.tester, api_endpoints=endpoints)
        super().__init__(Web3(provider), dev_accounts(num_accounts, mnemonic))
        chain_accounts = [to_checksum_address(a) for a in self.tester.get_accounts()]
        if chain_accounts != [a.address for a in self.accounts]:
            raise ChainError("eth-tester derived different accounts from the development mnemonic")

    def mine(self, blocks: int = 1) -> None:
        if blocks > 0:
            self.tester.mine_blocks(blocks)

    def set_next_block_timestamp(self, timestamp: int) -> None:
        if timestamp <= self.timestamp:
            raise ChainError(f"timestamp {timestamp} is not after the latest block's ({self.timestamp})")
        chain = self.backend.chain
        chain.header = chain.header.copy(timestamp=timestamp)  # the pending block's header

    def snapshot(self) -> int:
        return self.tester.take_snapshot()

    def revert(self, token: int) -> None:
        self.tester.revert_to_snapshot(token)
        self._configure_backend_chain()  # reverting to genesis builds a new chain object

    def _configure_backend_chain(self) -> None:
        # eth-tester's chain class has a fixed chain id; py-evm reads it from the chain object
        # (CHAINID opcode, eth-tester's signing of eth_sendTransaction)
        self.backend.chain.chain_id = self.chain_id
        self.backend.chain.gas_estimator = geth_gas_estimate


class JsonRpcChain(Web3Chain):
    """Any JSON-RPC endpoint. Transactions from accounts whose key is known are signed here;
    others are sent with eth_sendTransaction (the node must hold the account unlocked).

    Sending goes through a TransactionManager (node.eth.txmanager), as go-livepeer's does: a
    transaction not mined within `tx_timeout` seconds is replaced at a higher gas price, up to
    `max_replacements` times (go's -transactionTimeout and -maxTransactionReplacements).

    Every request has `timeout` seconds to connect and be answered, and is sent once: a chain
    that is down, frozen or answering garbage raises ChainUnavailable (node.eth.errors) within
    that time, never a requests/urllib3 exception. A signed transaction whose sending timed
    out is not given up: its hash is known here, so it is waited for like any other."""

    def __init__(self, url: str, accounts: list[Account] | None = None, timeout: float = DEFAULT_RPC_TIMEOUT, *,
                 tx_timeout: float = DEFAULT_TX_TIMEOUT, max_replacements: int = DEFAULT_MAX_REPLACEMENTS,
                 poll_interval: float = 0.1):
        from web3 import Web3

        from .rpc_http import ChainHTTPProvider

        w3 = Web3(ChainHTTPProvider(url, timeout=timeout))
        if accounts is None:
            known = {a.address: a for a in dev_accounts(20)}
            accounts = [known.get(to_checksum_address(a), Account(to_checksum_address(a))) for a in w3.eth.accounts]
        super().__init__(w3, accounts)
        self.url = url
        self.tx_manager = TransactionManager(self, tx_timeout=tx_timeout, max_replacements=max_replacements,
                                             poll_interval=poll_interval)

    @functools.cached_property
    def chain_id(self) -> int:
        """eth_chainId, asked once: a chain's id does not change (go reads it once at start)."""
        return self.w3.eth.chain_id

    def _submit_and_wait(self, tx: dict, sender: Account) -> MinedTransaction:
        with _reverts_as_transaction_failed():
            return self.tx_manager.send(tx, sender)

    # --- the TransactionManager's backend ----------------------------------------------------
    def prepare(self, tx: dict, sender: Account) -> dict:
        """`tx` with the sender's next nonce, the chain id and fees: EIP-1559 (fee cap twice the
        base fee plus the node's suggested tip) where blocks have a base fee, else a gas price."""
        tx = dict(tx, nonce=self.w3.eth.get_transaction_count(sender.address, "pending"), chainId=self.chain_id)
        base = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base is None:
            tx["gasPrice"] = self.w3.eth.gas_price
        else:
            tip = self.w3.eth.max_priority_fee
            tx.update(maxFeePerGas=2 * base + tip, maxPriorityFeePerGas=tip)
        return tx

    def broadcast(self, tx: dict, sender: Account) -> bytes:
        if sender.key is None:
            return bytes(self.w3.eth.send_transaction(tx))
        from eth_account import Account as EthAccount

        signed = EthAccount.sign_transaction(tx, sender.key)
        try:
            return bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        except ChainUnavailable as exc:
            if not exc.maybe_delivered:
                raise
            # The node may have it: wait for it by its hash (a replacement follows if it never
            # arrived) rather than forget a transaction that may yet be mined.
            log.warning("event=tx_send_uncertain sender=%s nonce=%d hash=0x%s error=%r", sender.address,
                        tx["nonce"], bytes(signed.hash).hex(), str(exc))
            return bytes(signed.hash)

    def receipt(self, tx_hash: bytes):
        from web3.exceptions import TransactionNotFound

        try:
            return self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def mine(self, blocks: int = 1) -> None:
        while blocks > 0:
            chunk = min(blocks, MINE_CHUNK)
            resp = self.w3.provider.make_request("anvil_mine", [hex(chunk)])
            if "error" in resp:
                if not _method_missing(resp["error"]):
                    raise ChainError(f"anvil_mine: {_message(resp['error'])}")
                for _ in range(blocks):  # a node without anvil_mine: one evm_mine per block
                    self._rpc("evm_mine", [])
                return
            blocks -= chunk

    def set_next_block_timestamp(self, timestamp: int) -> None:
        self._rpc("evm_setNextBlockTimestamp", [timestamp])

    def snapshot(self) -> str:
        return self._rpc("evm_snapshot", [])

    def revert(self, token: str) -> None:
        if not self._rpc("evm_revert", [token]):
            raise ChainError(f"evm_revert refused snapshot {token}")

    def _rpc(self, method: str, params: list) -> Any:
        resp = self.w3.provider.make_request(method, params)
        if "error" in resp:
            raise ChainError(f"{method}: {_message(resp['error'])}")
        return resp.get("result")


def _message(error: Any) -> str:
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)


def _method_missing(error: Any) -> bool:
    """A JSON-RPC error saying the method does not exist (-32601, or a node's wording of it)."""
    if isinstance(error, dict) and error.get("code") == -32601:
        return True
    message = _message(error).lower()
    return any(words in message for words in ("not found", "not supported", "does not exist", "unknown method",
                                               "not available"))
