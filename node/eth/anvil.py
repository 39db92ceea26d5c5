"""anvil's state-editing JSON-RPC methods on the devchain (anvil_setBalance, impersonation, ...).

Each method takes the JSON-RPC params list and runs under the devchain's chain lock, as the
other control methods do; answers are anvil's (null, or true where anvil answers true).
Offered: anvil_setBalance, anvil_setCode, anvil_setStorageAt, anvil_setNonce,
anvil_impersonateAccount, anvil_stopImpersonatingAccount, anvil_autoImpersonateAccount,
anvil_dumpState, anvil_loadState, anvil_reset, anvil_nodeInfo, anvil_metadata,
anvil_dropTransaction, anvil_dropAllTransactions, evm_setIntervalMining, the hardhat_ aliases
of those hardhat has, and the debug_trace* methods of node.eth.trace.

How an edit is made: py-evm's state is a trie whose root sits in the latest block's header, and
eth-tester answers "latest" reads from that root. An edit (set balance, code, storage, nonce, or
a loaded state) is written to the trie and the latest block's header is rewritten with the new
state root (same number, parent and transactions; a new hash), as anvil edits its state without
mining. evm_revert to an earlier snapshot restores the old header, so edits are undone like
transactions. For that, reverting no longer re-executes the snapshot's block (eth-tester's
revert does, which would refuse an edited block): it makes the block the head again.

Impersonation: `eth_sendTransaction` from an impersonated address (or any address under
`anvil_autoImpersonateAccount true`) is sent as an EIP-1559 transaction whose signature is a
placeholder derived from the sender; its sender is recorded by hash, and py-evm is taught to
answer that sender for that hash (`_install_impersonation`), so the transaction is mined,
receipted, re-read and re-executed like any other.

`anvil_dumpState` answers anvil's shape, a hex string of gzipped JSON, holding (format
"lpsim-devchain-state/1") the state root and every trie node and code blob under it, plus a
readable `accounts` map for the addresses the devchain knows. `anvil_loadState` takes that
(restoring every account, balance, nonce, code and storage slot exactly) or anvil's own dump
(`accounts` keyed by address), applied on top of the current state; the block number stays.

`anvil_reset` goes back to the state just after the protocol deployment (the chain as
`lpnode devchain` first served it, the contract addresses still valid), not an empty genesis:
that is what a user of a protocol devchain expects. Forking is not supported.
"""
from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import rlp
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from .devchain import UINT256_MAX, RpcError, _count, _int, transaction_request

if TYPE_CHECKING:
    from .devchain import DevchainRpc

MAX_CODE_BYTES = 1024 * 1024  # anvil_setCode, like anvil, takes code over EIP-170's 24 KiB; bounded still
STATE_FORMAT = "lpsim-devchain-state/1"
MAX_CATCH_UP = 100_000  # blocks mined by a load to reach the dump's block number (~1 min of py-evm)
BLANK_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# tx hash -> impersonated sender, for every impersonated transaction this process has sent
_IMPERSONATED: dict[bytes, bytes] = {}


# --- parameters -----------------------------------------------------------------------------
def _param(params: list, index: int, method: str, name: str) -> Any:
    if len(params) <= index or params[index] is None:
        raise RpcError(-32602, f"{method}: missing param {index + 1}, {name}")
    return params[index]


def _address(params: list, index: int, method: str, name: str = "address") -> bytes:
    value = _param(params, index, method, name)
    raw = _hex_bytes(value, method, name)
    if len(raw) != 20:
        raise RpcError(-32602, f"{method}: {name} must be a 20-byte hex address, got {str(value)[:60]!r}")
    return raw


def _hex_bytes(value: Any, method: str, name: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise RpcError(-32602, f"{method}: {name} must be a 0x-prefixed hex string, got {str(value)[:60]!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise RpcError(-32602, f"{method}: {name} is not valid hex: {value[:60]!r}") from None


def _quantity(params: list, index: int, method: str, name: str, maximum: int = UINT256_MAX) -> int:
    return _count(_param(params, index, method, name), f"{method}: {name}", maximum)


def _word(params: list, index: int, method: str, name: str) -> int:
    """A storage slot or value: a 32-byte hex word (anvil's B256) or a quantity."""
    value = _param(params, index, method, name)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 66:
        return int.from_bytes(_hex_bytes(value, method, name), "big")
    return _count(value, f"{method}: {name}", UINT256_MAX)


# --- editing the latest state -----------------------------------------------------------------
def edit_state(rpc: DevchainRpc, edit: Callable[[Any], None]) -> None:
    """Apply `edit(state)` to the latest state and make it the head's state (see the module doc).
    On revm, `edit` gets _RevmState, whose writes an evm_revert undoes."""
    if rpc.revm:
        edit(_RevmState(rpc.chain))
        return
    chain = rpc.chain.backend.chain
    head = chain.get_canonical_head()
    state = chain.get_vm(at_header=head).state
    edit(state)
    state.persist()
    _set_head_state_root(rpc, state.state_root)


class _RevmState:
    """py-evm's state setters (the ones the methods here call) over RevmDevchain.edit."""

    def __init__(self, chain: Any):
        self.chain = chain

    def set_balance(self, address: bytes, balance: int) -> None:
        self.chain.edit(to_checksum_address(address), balance=balance)

    def set_nonce(self, address: bytes, nonce: int) -> None:
        self.chain.edit(to_checksum_address(address), nonce=nonce)

    def set_code(self, address: bytes, code: bytes) -> None:
        self.chain.edit(to_checksum_address(address), code=code)

    def set_storage(self, address: bytes, slot: int, value: int) -> None:
        self.chain.edit(to_checksum_address(address), slots={slot: value})


def _set_head_state_root(rpc: DevchainRpc, state_root: bytes) -> None:
    from eth.constants import GENESIS_PARENT_HASH

    chain = rpc.chain.backend.chain
    head = chain.get_canonical_head()
    if head.state_root == state_root:
        return
    block = chain.get_block_by_header(head)
    new_head = head.copy(state_root=state_root)
    chaindb = chain.chaindb
    chaindb.persist_block(block.copy(header=new_head))
    chaindb._set_as_canonical_chain_head(chaindb.db, new_head, GENESIS_PARENT_HASH)
    # the pending block keeps its timestamp (evm_setNextBlockTimestamp) and builds on the new head
    chain.header = chain.header.copy(parent_hash=new_head.hash, state_root=state_root)


def _install_plain_revert(rpc: DevchainRpc) -> None:
    """Reverting makes the snapshot's block the head again without re-executing it (an edited
    block cannot be re-executed to the same state root; an unedited one need not be)."""
    backend = rpc.chain.backend

    def revert_to_snapshot(snapshot: bytes) -> None:
        from eth.constants import GENESIS_PARENT_HASH

        block = backend.chain.get_block_by_hash(snapshot)
        chaindb = backend.chain.chaindb
        chaindb._set_as_canonical_chain_head(chaindb.db, block.header, GENESIS_PARENT_HASH)
        if block.number > 0:
            backend.chain.header = backend.chain.create_header_from_parent(block.header)
        else:
            backend.chain = backend.chain.from_genesis_header(chaindb.db, block.header)

    backend.revert_to_snapshot = revert_to_snapshot


# --- impersonation ------------------------------------------------------------------------------
def _install_impersonation() -> None:
    """Teach py-evm's typed transactions the senders of impersonated ones (by hash); every other
    transaction is untouched. Process-wide, installed once."""
    from eth.vm.forks.berlin.transactions import TypedTransaction

    if getattr(TypedTransaction, "_lpsim_impersonation", False):
        return
    get_sender, check, validate = (TypedTransaction.get_sender, TypedTransaction.check_signature_validity,
                                   TypedTransaction.validate)

    def impersonated(tx) -> bytes | None:
        return _IMPERSONATED.get(tx.hash) if _IMPERSONATED else None

    def get_sender_(self):
        return impersonated(self) or get_sender(self)

    def check_(self):
        if impersonated(self) is None:
            check(self)

    def validate_(self):
        if impersonated(self) is None:
            validate(self)
        elif self.gas < self.intrinsic_gas:
            from eth.exceptions import ValidationError

            raise ValidationError("Insufficient gas")

    TypedTransaction.get_sender, TypedTransaction.check_signature_validity = get_sender_, check_
    TypedTransaction.validate = validate_
    TypedTransaction._lpsim_impersonation = True


def placeholder_signature(sender: bytes) -> tuple[int, int, int]:
    """(y_parity, r, s) standing in for a signature: r derives from the sender, so two senders'
    otherwise identical transactions have different hashes (anvil hashes in the sender too)."""
    return 0, int.from_bytes(keccak(b"lpsim-impersonated" + sender), "big") % (SECP256K1_N - 1) + 1, 1


class Impersonation:
    """Who may send without a key, and eth_sendTransaction for them (the devchain's own for the rest)."""

    def __init__(self, rpc: DevchainRpc):
        self.rpc = rpc
        self.accounts: set[bytes] = set()
        self.auto = False
        self.send_signed = rpc.control.get("eth_sendTransaction", rpc._send_transaction)  # the devchain's own

    def impersonate(self, params: list) -> None:
        self.accounts.add(_address(params, 0, "anvil_impersonateAccount"))

    def stop(self, params: list) -> None:
        self.accounts.discard(_address(params, 0, "anvil_stopImpersonatingAccount"))

    def set_auto(self, params: list) -> None:
        from .devchain import _bool

        try:
            self.auto = _bool(_param(params, 0, "anvil_autoImpersonateAccount", "enabled"))
        except ValueError as exc:
            raise RpcError(-32602, f"anvil_autoImpersonateAccount: enabled: {exc}") from None

    def send_transaction(self, params: list) -> str:
        request = params[0] if params and isinstance(params[0], dict) else None
        if request is None or "from" not in request:
            return self.send_signed(params)
        sender = _address([request["from"]], 0, "eth_sendTransaction", "from")
        keyed = any(a.key and a.address == to_checksum_address(sender) for a in self.rpc.chain.accounts)
        if keyed or not (self.auto or sender in self.accounts):
            return self.send_signed(params)
        return self.rpc.send_completed(transaction_request(params), lambda tx: self._placeholder_signed(sender, tx))

    def _placeholder_signed(self, sender: bytes, tx: dict) -> bytes:
        """`tx` (send_completed's fields) as a py-evm transaction with a placeholder signature,
        remembered as `sender`'s so that its recovery answers that address."""
        builder = self.rpc.chain.backend.chain.get_vm().get_transaction_builder()
        y, r, s = placeholder_signature(sender)
        to = bytes.fromhex(tx["to"][2:]) if "to" in tx else b""
        data = _hex_bytes(tx["data"] or "0x", "eth_sendTransaction", "input")
        access = tuple((bytes.fromhex(e["address"][2:]), tuple(_int(k) for k in e.get("storageKeys", ())))
                       for e in tx.get("accessList", ()))
        if "gasPrice" in tx:  # a fixed price: an access-list (type 1) transaction
            signed = builder.new_access_list_transaction(tx["chainId"], tx["nonce"], tx["gasPrice"], tx["gas"], to,
                                                         tx["value"], data, access, y, r, s)
        else:
            signed = builder.new_dynamic_fee_transaction(tx["chainId"], tx["nonce"], tx["maxPriorityFeePerGas"],
                                                         tx["maxFeePerGas"], tx["gas"], to, tx["value"], data, access,
                                                         y, r, s)
        _IMPERSONATED[bytes(signed.hash)] = sender
        return signed.encode()


# --- dump and load ------------------------------------------------------------------------------
def _walk_trie(db, root: bytes, nodes: dict[bytes, bytes], on_leaf: Callable[[bytes], None] | None) -> None:
    """Every hash-referenced node of the trie at `root` into `nodes`; `on_leaf(value)` per leaf."""
    def visit(node: list) -> None:
        if len(node) == 17:
            for child in node[:16]:
                ref(child)
        elif len(node) == 2:
            is_leaf = node[0][0] >> 4 in (2, 3)  # compact (hex-prefix) encoding's leaf flag
            if is_leaf:
                if on_leaf is not None:
                    on_leaf(node[1])
            else:
                ref(node[1])

    stack: list[bytes] = []

    def ref(child: Any) -> None:
        if isinstance(child, list):
            visit(child)  # a node under 32 bytes is inlined in its parent
        elif len(child) == 32:
            stack.append(child)

    if root != BLANK_ROOT:
        stack.append(root)
    while stack:
        key = stack.pop()
        if key in nodes:
            continue
        raw = db[key]
        nodes[key] = raw
        visit(rlp.decode(raw))


def dump_state(rpc: DevchainRpc, params: list) -> str:
    return "0x" + gzip.compress(json.dumps(state_document(rpc)).encode(), mtime=0).hex()


def state_document(rpc: DevchainRpc) -> dict:
    """The latest state as a JSON-able dict (the module doc describes it); on revm every
    account with its storage, and no trie."""
    if rpc.revm:
        return {"format": STATE_FORMAT, "block": {"number": rpc.chain.block_number, "timestamp": rpc.chain.timestamp},
                "accounts": rpc.chain.dump_accounts()}
    chain = rpc.chain.backend.chain
    head = chain.get_canonical_head()
    db = chain.chaindb.db
    nodes: dict[bytes, bytes] = {}

    def account(value: bytes) -> None:
        _nonce, _balance, storage_root, code_hash = rlp.decode(value)
        _walk_trie(db, storage_root, nodes, None)
        if code_hash != EMPTY_CODE_HASH:
            nodes[code_hash] = db[code_hash]

    _walk_trie(db, head.state_root, nodes, account)
    state = chain.get_vm(at_header=head).state
    known = {a.address for a in rpc.chain.accounts} | set(getattr(rpc, "known_addresses", {}).values())
    accounts = {}
    for address in sorted(known):
        raw = bytes.fromhex(address[2:])
        accounts[address] = {"nonce": state.get_nonce(raw), "balance": hex(state.get_balance(raw)),
                             "code": "0x" + state.get_code(raw).hex()}
    return {"format": STATE_FORMAT, "block": {"number": head.block_number, "timestamp": head.timestamp},
            "stateRoot": "0x" + head.state_root.hex(), "accounts": accounts,
            "nodes": ["0x" + raw.hex() for raw in nodes.values()]}


def parse_state(text_or_hex: str) -> dict:
    """A dump (hex of gzipped JSON, hex of JSON, or JSON text) as a dict, or ValueError."""
    text = text_or_hex.strip()
    if text.startswith("0x"):
        raw = bytes.fromhex(text[2:])
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("a state dump is a JSON object")
    return document


def load_state(rpc: DevchainRpc, params: list) -> bool:
    value = _param(params, 0, "anvil_loadState", "state")
    if not isinstance(value, (str, dict)):
        raise RpcError(-32602, "anvil_loadState: state must be a hex string (anvil_dumpState's answer)")
    try:
        document = value if isinstance(value, dict) else parse_state(value)
        apply_state(rpc, document)
    except RpcError:
        raise
    except (ValueError, TypeError, KeyError, OSError, EOFError, rlp.DecodingError) as exc:
        raise RpcError(-32602, f"anvil_loadState: state is not a state dump: {str(exc)[:200]}") from None
    return True


def apply_state(rpc: DevchainRpc, document: dict) -> None:
    """Load a dump (ours: exact; anvil's `accounts` map: account by account). Checked in full
    before anything is written, so a bad dump changes nothing."""
    chain = rpc.chain.backend.chain
    trie = document.get("format") == STATE_FORMAT and "nodes" in document
    if trie and rpc.revm:
        raise ValueError("this dump holds py-evm's state trie; load it into a devchain with --backend py-evm")
    if trie:
        ahead = _int((document.get("block") or {}).get("number", 0)) - rpc.chain.block_number
        if ahead > MAX_CATCH_UP:
            raise ValueError(f"the dump's block is {ahead} blocks ahead; at most {MAX_CATCH_UP} are mined to reach it")
        root = bytes.fromhex(document["stateRoot"][2:])
        nodes = {}
        for item in document["nodes"]:
            raw = bytes.fromhex(item[2:])
            nodes[keccak(raw)] = raw
        if root != BLANK_ROOT and root not in nodes:
            raise ValueError("the state root's node is missing")
        for key, raw in nodes.items():
            chain.chaindb.db[key] = raw
        _walk_trie(chain.chaindb.db, root, {}, None)  # every node reachable: a truncated dump fails here
        _set_head_state_root(rpc, root)
        _catch_up(rpc, document.get("block") or {})
        return
    accounts = document.get("accounts")
    if not isinstance(accounts, dict):
        raise ValueError("no `accounts` in the state dump")
    parsed = []
    for address, entry in accounts.items():
        raw = bytes.fromhex(address.removeprefix("0x"))
        if len(raw) != 20:
            raise ValueError(f"bad address {address[:60]!r}")
        storage = {_int(k): _int(v) for k, v in (entry.get("storage") or {}).items()}
        parsed.append((raw, _int(entry.get("nonce", 0)), _int(entry.get("balance", 0)),
                       bytes.fromhex((entry.get("code") or "0x").removeprefix("0x")), storage))

    def edit(state) -> None:
        for raw, nonce, balance, code, storage in parsed:
            state.set_nonce(raw, nonce)
            state.set_balance(raw, balance)
            state.set_code(raw, code)
            for slot, word in storage.items():
                state.set_storage(raw, slot, word)

    edit_state(rpc, edit)
    if document.get("format") == STATE_FORMAT:  # a revm devchain's dump: its block too
        _catch_up(rpc, document.get("block") or {})


def _catch_up(rpc: DevchainRpc, block: dict) -> None:
    """Mine up to the dumped block number and time, as anvil restores its best block: the
    protocol's rounds count blocks, and a round the state has initialised must not lie ahead."""
    number, timestamp = _int(block.get("number", 0)), _int(block.get("timestamp", 0))
    missing = number - rpc.chain.block_number
    if missing <= 0:
        return
    if timestamp > rpc.chain.timestamp + missing:
        rpc.chain.set_next_block_timestamp(timestamp - missing + 1)
    rpc.mine(missing)


# --- the table ---------------------------------------------------------------------------------
def anvil_methods(rpc: DevchainRpc) -> dict[str, Callable[[list], Any]]:
    """The methods to add to `rpc`'s control table, by JSON-RPC name."""
    _install_impersonation()
    if not rpc.revm:
        _install_plain_revert(rpc)
    deployed = rpc.chain.snapshot()  # anvil_reset's destination: the chain as first served
    imp = Impersonation(rpc)
    rpc.impersonation = imp

    def set_balance(params: list) -> None:
        address = _address(params, 0, "anvil_setBalance")
        balance = _quantity(params, 1, "anvil_setBalance", "balance")
        edit_state(rpc, lambda state: state.set_balance(address, balance))

    def set_nonce(params: list) -> None:
        address = _address(params, 0, "anvil_setNonce")
        nonce = _quantity(params, 1, "anvil_setNonce", "nonce", 2**64 - 1)
        edit_state(rpc, lambda state: state.set_nonce(address, nonce))

    def set_code(params: list) -> None:
        address = _address(params, 0, "anvil_setCode")
        code = _hex_bytes(_param(params, 1, "anvil_setCode", "code"), "anvil_setCode", "code")
        if len(code) > MAX_CODE_BYTES:
            raise RpcError(-32602, f"anvil_setCode: code is {len(code)} bytes, over the limit of {MAX_CODE_BYTES}")
        edit_state(rpc, lambda state: state.set_code(address, code))

    def set_storage_at(params: list) -> bool:
        address = _address(params, 0, "anvil_setStorageAt")
        slot = _word(params, 1, "anvil_setStorageAt", "slot")
        word = _word(params, 2, "anvil_setStorageAt", "value")
        edit_state(rpc, lambda state: state.set_storage(address, slot, word))
        return True

    def reset(params: list) -> None:
        if params and params[0] and (not isinstance(params[0], dict) or params[0].get("forking")):
            raise RpcError(-32602, "anvil_reset: forking is not supported; call it without params")
        rpc.chain.revert(deployed)  # the mining mode stays, as anvil's does
        rpc._snapshots.clear()
        rpc.pool.clear()
        rpc._time_offset = 0
        imp.accounts.clear()
        imp.auto = False

    def node_info(params: list) -> dict:
        head = rpc.chain.backend.chain.get_canonical_head()
        return {"currentBlockNumber": hex(head.block_number), "currentBlockTimestamp": head.timestamp,
                "currentBlockHash": "0x" + head.hash.hex(), "hardFork": "prague", "transactionOrder": "fees",
                "environment": {"baseFee": hex(head.base_fee_per_gas or 0), "chainId": hex(rpc.chain.chain_id),
                                "gasLimit": hex(head.gas_limit), "gasPrice": hex(head.base_fee_per_gas or 0)},
                "forkConfig": {"forkUrl": None, "forkBlockNumber": None, "forkRetryBackoff": None}}

    instance_id = "0x" + keccak(repr((id(rpc), deployed)).encode() + os.urandom(16)).hex()

    def metadata(params: list) -> dict:
        """anvil_metadata / hardhat_metadata: what tools read to tell one node instance from another."""
        head = rpc.chain.backend.chain.get_canonical_head()
        return {"clientVersion": rpc._forward("web3_clientVersion", []), "chainId": rpc.chain.chain_id,
                "instanceId": instance_id, "latestBlockNumber": head.block_number,
                "latestBlockHash": "0x" + head.hash.hex(), "forkedNetwork": None, "snapshots": {}}

    def drop_transaction(params: list) -> str | None:
        """A pooled transaction taken out of the pool: its hash, or null when none was pooled."""
        tx_hash = _hex_bytes(_param(params, 0, "anvil_dropTransaction", "hash"), "anvil_dropTransaction", "hash")
        pooled = rpc.pool.get(tx_hash)
        if pooled is None:
            return None
        rpc.pool._forget(pooled)
        return "0x" + tx_hash.hex()

    methods: dict[str, Callable[[list], Any]] = {
        "anvil_metadata": metadata,
        "hardhat_metadata": metadata,
        "anvil_dropTransaction": drop_transaction,
        "hardhat_dropTransaction": drop_transaction,
        "anvil_dropAllTransactions": lambda params: rpc.pool.clear(),
        "anvil_setBalance": set_balance,
        "anvil_setNonce": set_nonce,
        "anvil_setCode": set_code,
        "anvil_setStorageAt": set_storage_at,
        "anvil_impersonateAccount": imp.impersonate,
        "anvil_stopImpersonatingAccount": imp.stop,
        "anvil_autoImpersonateAccount": imp.set_auto,
        "eth_sendTransaction": imp.send_transaction,
        "anvil_dumpState": lambda params: dump_state(rpc, params),
        "anvil_loadState": lambda params: load_state(rpc, params),
        "anvil_reset": reset,
        "anvil_nodeInfo": node_info,
        "evm_setIntervalMining": rpc.control["anvil_setIntervalMining"],
        "hardhat_getAutomine": rpc.control["anvil_getAutomine"],
    }
    for name in ("setBalance", "setNonce", "setCode", "setStorageAt", "impersonateAccount",
                 "stopImpersonatingAccount", "reset"):
        methods[f"hardhat_{name}"] = methods[f"anvil_{name}"]
    from .trace import trace_methods

    methods.update(trace_methods(rpc))
    return methods
