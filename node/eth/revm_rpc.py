"""The standard JSON-RPC methods the py-evm devchain leaves to eth-tester, answered on the revm
backend (node.eth.revm_devchain) in the same shapes: state reads, eth_call and eth_estimateGas
(geth's algorithm), counts and the constant answers. State is the head's: a read at an earlier
block is refused with a message that names `--backend py-evm`, which keeps every block's state.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .abi import decode_revert, encode_revert
from .devchain import (  # at the top: devchain imports this module only when it is used
    RpcError,
    _bytes,
    _int,
)
from .errors import ChainError, TransactionFailed
from .revm_devchain import to_checksum_address

if TYPE_CHECKING:
    from .devchain import DevchainRpc

ZERO_ADDRESS = "0x" + "00" * 20


class RevmMethods:
    """`methods(name, params)`: the answer, or RpcError (devchain's)."""

    def __init__(self, rpc: DevchainRpc):
        self.rpc = rpc
        self.chain = rpc.chain
        self.table = {
            "eth_blockNumber": lambda p: hex(self.chain.block_number),
            "eth_accounts": lambda p: [a.address for a in self.chain.accounts],
            "eth_coinbase": lambda p: ZERO_ADDRESS,
            "eth_syncing": lambda p: False,
            "eth_mining": lambda p: rpc.automine,
            "eth_hashrate": lambda p: "0x0",
            "eth_protocolVersion": lambda p: "0x41",
            "net_listening": lambda p: True,
            "net_peerCount": lambda p: "0x0",
            "eth_getBalance": lambda p: hex(self.chain.eth_balance(self._address(p, "eth_getBalance"))),
            "eth_getCode": lambda p: "0x" + self.chain.code(self._address(p, "eth_getCode")).hex(),
            "eth_getTransactionCount": lambda p: hex(self.chain.nonce(self._address(p, "eth_getTransactionCount"))),
            "eth_getStorageAt": self._storage_at,
            "eth_call": self._call,
            "eth_estimateGas": self._estimate_gas,
            "eth_getBlockTransactionCountByNumber": self._count_by_number,
            "eth_getBlockTransactionCountByHash": self._count_by_hash,
            "eth_getUncleCountByBlockNumber": lambda p: "0x0",
            "eth_getUncleCountByBlockHash": lambda p: "0x0",
            "eth_getUncleByBlockNumberAndIndex": lambda p: None,
            "eth_getUncleByBlockHashAndIndex": lambda p: None,
        }

    def __call__(self, method: str, params: list) -> Any:
        answer = self.table.get(method)
        if answer is None:
            raise RpcError(-32601, f"the method {method} does not exist/is not available")
        return answer(params)

    # --- helpers ------------------------------------------------------------------------------
    def _at_head(self, params: list, index: int, method: str) -> None:
        tag = params[index] if len(params) > index else None
        if tag is None or tag in ("latest", "pending"):
            return
        number = self.rpc._block_number(tag)
        if number != self.chain.block_number:
            raise RpcError(-32000, f"{method}: the revm backend serves the state of the head block "
                                   f"({self.chain.block_number}) only, not block {number}; start the devchain "
                                   "with --backend py-evm for historical state")

    def _address(self, params: list, method: str) -> str:
        if not params or not isinstance(params[0], str):
            raise RpcError(-32602, f"{method} expects an address")
        try:
            address = to_checksum_address(params[0])
        except ValueError:
            raise RpcError(-32602, f"{method}: invalid address {params[0][:60]!r}") from None
        self._at_head(params, 1, method)
        return address

    def _storage_at(self, params: list) -> str:
        if len(params) < 2:
            raise RpcError(-32602, "eth_getStorageAt expects an address and a slot")
        address = self._address([params[0], params[2] if len(params) > 2 else None], "eth_getStorageAt")
        return "0x" + self.chain.storage(address, _int(params[1])).to_bytes(32, "big").hex()

    def _call_fields(self, params: list, method: str) -> tuple[str, str | None, bytes, int, int | None, list]:
        call = params[0]
        self._at_head(params, 1, method)
        to = call.get("to")
        access = [(e["address"], [_int(k) for k in e.get("storageKeys", ())]) for e in call.get("accessList") or ()]
        return (to_checksum_address(call.get("from") or ZERO_ADDRESS), to_checksum_address(to) if to else None,
                _bytes(call.get("data") or "0x"), _int(call.get("value") or 0),
                _int(call["gas"]) if call.get("gas") is not None else None, access)

    def _call(self, params: list) -> str:
        sender, to, data, value, gas, access = self._call_fields(params, "eth_call")
        try:
            executed = self.chain.execute_call(sender, to, data, value, gas, 0, access)
        except TransactionFailed as exc:
            raise _error(exc.reason) from None
        if executed.error is not None:
            raise _error(executed.error)  # a halt: geth's words, no data
        if not executed.success:
            raise _reverted(executed.output)
        return "0x" + executed.output.hex()

    def _estimate_gas(self, params: list) -> str:
        sender, to, data, value, _, access = self._call_fields(params, "eth_estimateGas")
        try:
            return hex(self.chain.estimate_gas(sender, to, data, value, access))
        except TransactionFailed as exc:
            raise _reverted(exc.output) if getattr(exc, "output", None) is not None else _error(exc.reason) from None
        except ChainError as exc:
            raise RpcError(-32000, str(exc)) from None

    def _count_by_number(self, params: list) -> Any:
        number = self.rpc._block_number(params[0] if params else None)
        if number > self.chain.block_number:
            return None
        return hex(len(self.chain.store.get_canonical_block_by_number(number).transactions))

    def _count_by_hash(self, params: list) -> Any:
        block = self.rpc._block_by_hash(params[0] if params else None)
        return None if block is None else hex(len(block.transactions))

    # --- automine -------------------------------------------------------------------------------
    def mine_one(self, tx: Any) -> str:
        """Mine admitted transaction `tx` in a block of its own (automine); its hash."""
        block = self.chain.mine_transactions([tx])
        if not block.transactions:
            raise _error(self.chain.last_refusal or "the transaction could not be executed")
        return "0x" + bytes(tx.hash).hex()


def _error(message: str):
    return RpcError(-32000, message)


def _reverted(output: bytes):
    """geth's answer to a reverted call: code 3, the reason in the message, the data as given."""
    reason = decode_revert(output) if output else None
    if reason:
        return RpcError(3, f"execution reverted: {reason}", "0x" + encode_revert(reason).hex())
    return RpcError(3, "execution reverted", "0x" + output.hex())
