"""debug_traceTransaction, debug_traceCall and debug_traceBlockByNumber/ByHash with geth's
callTracer, on the devchain.

A mined transaction is traced by executing it again on the state it met: its block's parent
state, then the transactions before it in the block. The execution uses a computation class
that records which opcode (CALL, STATICCALL, DELEGATECALL, CALLCODE, CREATE, CREATE2) made each
child frame: py-evm keeps the frames (computation.children, each with its message) but not the
opcode. The frames become geth's callTracer JSON: type, from, to, value, gas, gasUsed, input,
output, error, revertReason, calls.

Only the callTracer is offered (`{"tracer": "callTracer"}`, with `tracerConfig.onlyTopCall`);
geth's default struct logger and other tracers are refused with -32602.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from .abi import decode_revert
from .devchain import RpcError, _int

if TYPE_CHECKING:
    from .devchain import DevchainRpc

CALL_OPCODES = frozenset({"CALL", "CALLCODE", "DELEGATECALL", "STATICCALL", "CREATE", "CREATE2"})


@cache
def tracing_computation(base: type) -> type:
    """`base` (a fork's computation class) recording the opcode behind each child frame."""

    def recording(opcode: Any) -> Callable:
        def run(computation: Any) -> None:
            computation._lpsim_next_kind = opcode.mnemonic
            return opcode(computation=computation)

        return run

    class Tracing(base):  # type: ignore[misc, valid-type]
        opcodes = {code: recording(op) if getattr(op, "mnemonic", None) in CALL_OPCODES else op
                   for code, op in base.opcodes.items()}

        def apply_child_computation(self, child_msg: Any) -> Any:
            kind = getattr(self, "_lpsim_next_kind", None)
            child = super().apply_child_computation(child_msg)
            child._lpsim_kind = kind
            return child

    Tracing.__name__ = f"Tracing{base.__name__}"
    return Tracing


def _tracer_options(params: list, index: int, method: str) -> bool:
    """Checks the tracer options; answers onlyTopCall."""
    options = params[index] if len(params) > index and params[index] is not None else {}
    if not isinstance(options, dict):
        raise RpcError(-32602, f"{method}: tracer options must be an object")
    tracer = options.get("tracer")
    if tracer != "callTracer":
        raise RpcError(-32602, f"{method}: tracer {tracer!r} is not supported; only {{\"tracer\": \"callTracer\"}}")
    config = options.get("tracerConfig") or {}
    if not isinstance(config, dict):
        raise RpcError(-32602, f"{method}: tracerConfig must be an object")
    return bool(config.get("onlyTopCall"))


def _error_text(computation: Any) -> str:
    from eth.exceptions import InvalidInstruction, OutOfGas, Revert

    error = computation.error
    if isinstance(error, Revert):
        return "execution reverted"
    if isinstance(error, OutOfGas):
        return "out of gas"
    if isinstance(error, InvalidInstruction):
        return "invalid opcode"
    return str(error) or type(error).__name__


def _frame(computation: Any, parent_address: bytes | None, kind: str, only_top: bool) -> dict:
    msg = computation.msg
    frame: dict = {"type": kind,
                   "from": to_checksum_address(parent_address if parent_address is not None else msg.sender),
                   "gas": hex(msg.gas), "gasUsed": hex(computation.get_gas_used()),
                   "to": to_checksum_address(msg.storage_address if msg.is_create else msg.code_address),
                   "input": "0x" + (msg.code if msg.is_create else msg.data_as_bytes).hex()}
    if kind not in ("STATICCALL", "DELEGATECALL"):
        frame["value"] = hex(msg.value)
    if computation.output:
        frame["output"] = "0x" + bytes(computation.output).hex()
    if computation.is_error:
        frame["error"] = _error_text(computation)
        reason = decode_revert(bytes(computation.output)) if computation.output else None
        if reason:
            frame["revertReason"] = reason
    if not only_top:
        calls = [_frame(child, msg.storage_address, getattr(child, "_lpsim_kind", None) or
                        ("CREATE" if child.msg.is_create else "CALL"), False) for child in computation.children]
        if calls:
            frame["calls"] = calls
    return frame


def _execute(state: Any, transaction: Any) -> Any:
    state.computation_class = tracing_computation(type(state).computation_class)
    return state.apply_transaction(transaction)


def _top_frame(computation: Any, transaction: Any, sender: bytes, gas_used: int, only_top: bool) -> dict:
    frame = _frame(computation, sender, "CREATE" if computation.msg.is_create else "CALL", only_top)
    frame["gas"], frame["gasUsed"] = hex(transaction.gas), hex(gas_used)
    return frame


def _trace_block_transactions(rpc: DevchainRpc, block: Any, only_top: bool, index: int | None = None) -> list:
    """(hash, frame) for each transaction of `block` (only the one at `index` when given),
    executed again from the parent's state."""
    chain = rpc.chain.backend.chain
    if rpc.revm:  # re-executed on py-evm, from the state revm had at the block's start
        state = rpc.chain.replay_state(block)
    else:
        parent = chain.get_block_header_by_hash(block.header.parent_hash)
        state = chain.get_vm(at_header=block.header.copy(state_root=parent.state_root, gas_used=0)).state
    cumulative = [0] + [r.gas_used for r in block.get_receipts(chain.chaindb)]  # receipts carry cumulative gas
    traced = []
    for i, transaction in enumerate(block.transactions):
        if index is not None and i < index:
            state.apply_transaction(transaction)
            state.lock_changes()
            continue
        tx_hash = "0x" + bytes(transaction.hash).hex()
        computation = _execute(state, transaction)
        state.lock_changes()
        gas_used = cumulative[i + 1] - cumulative[i]
        traced.append((tx_hash, _top_frame(computation, transaction, transaction.sender, gas_used, only_top)))
        if index is not None:
            break
    return traced


def trace_transaction(rpc: DevchainRpc, params: list) -> dict:
    method = "debug_traceTransaction"
    if not params or not isinstance(params[0], str) or len(params[0]) != 66:
        raise RpcError(-32602, f"{method}: param 1 must be a 32-byte transaction hash")
    only_top = _tracer_options(params, 1, method)
    mined = rpc._mined(params[0])
    if mined is None:
        raise RpcError(-32000, "transaction not found")  # geth's wording
    block, index = mined
    return _trace_block_transactions(rpc, block, only_top, index)[0][1]


def trace_block(rpc: DevchainRpc, params: list, by_hash: bool) -> list:
    """debug_traceBlockByNumber/ByHash: geth's [{"txHash": ..., "result": frame}, ...]."""
    method = "debug_traceBlockByHash" if by_hash else "debug_traceBlockByNumber"
    if not params or not isinstance(params[0], str):
        raise RpcError(-32602, f"{method}: param 1 must be a block {'hash' if by_hash else 'number or tag'}")
    only_top = _tracer_options(params, 1, method)
    if by_hash:
        block = rpc._block_by_hash(params[0])
    else:
        number = rpc._block_number(params[0])
        block = rpc._evm.get_canonical_block_by_number(number) if number <= rpc._head() else None
    if block is None:
        raise RpcError(-32000, f"block {params[0][:80]} not found")
    if block.header.block_number == 0:
        raise RpcError(-32000, "genesis is not traceable")  # geth's wording
    return [{"txHash": h, "result": frame} for h, frame in _trace_block_transactions(rpc, block, only_top)]


def trace_call(rpc: DevchainRpc, params: list) -> dict:
    """The call traced on the latest state (block tags other than latest are refused)."""
    from eth.vm.spoof import SpoofTransaction

    method = "debug_traceCall"
    if not params or not isinstance(params[0], dict):
        raise RpcError(-32602, f"{method}: param 1 must be a call object")
    if len(params) > 1 and params[1] not in (None, "latest", "pending"):
        raise RpcError(-32602, f"{method}: only the latest block is supported")
    only_top = _tracer_options(params, 2, method)
    call = params[0]

    def address(name: str) -> bytes:
        try:
            raw = bytes.fromhex(str(call[name]).removeprefix("0x"))
        except ValueError:
            raw = b""
        if len(raw) != 20:
            raise RpcError(-32602, f"{method}: {name} must be a 20-byte hex address")
        return raw

    sender = address("from") if call.get("from") else b"\0" * 20
    to = address("to") if call.get("to") else b""
    try:
        data = bytes.fromhex(str(call.get("input", call.get("data")) or "0x").removeprefix("0x"))
        value = _int(call.get("value", 0))
    except ValueError as exc:
        raise RpcError(-32602, f"{method}: {exc}") from None
    chain = rpc.chain.backend.chain
    head = chain.get_canonical_head()
    gas = _int(call["gas"]) if call.get("gas") else head.gas_limit
    if rpc.revm:  # re-executed on py-evm, from revm's head state
        state = rpc.chain.replay_state(None, base_fee=0)
    else:
        state = chain.get_vm(at_header=chain.create_header_from_parent(head).copy(base_fee_per_gas=0)).state  # geth's eth_call: no fee
    nonce = state.get_nonce(sender)
    unsigned = chain.get_vm().get_transaction_builder().new_unsigned_dynamic_fee_transaction(
        rpc.chain.chain_id, nonce, 0, 0, gas, to, value, data, ())
    transaction = SpoofTransaction(unsigned, from_=sender)
    snapshot = state.snapshot()
    try:
        computation = _execute(state, transaction)
        used = gas - computation.get_gas_remaining()
        used -= min(computation.get_gas_refund(), used // 5)
        return _top_frame(computation, transaction, sender, used, only_top)
    finally:
        state.revert(snapshot)


def trace_methods(rpc: DevchainRpc) -> dict[str, Callable[[list], Any]]:
    return {"debug_traceTransaction": lambda params: trace_transaction(rpc, params),
            "debug_traceCall": lambda params: trace_call(rpc, params),
            "debug_traceBlockByNumber": lambda params: trace_block(rpc, params, by_hash=False),
            "debug_traceBlockByHash": lambda params: trace_block(rpc, params, by_hash=True)}
