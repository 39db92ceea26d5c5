"""eth_estimateGas and eth_call as geth runs them, on eth-tester's py-evm chain.

The estimate is geth's DoEstimateGas (internal/ethapi, eth/gasestimator): the least gas limit
that passes, to within 1.5 %, never below the intrinsic gas. Calls and estimates charge no
fees, so an account without ether may call and estimate (geth charges none when given none;
given a fee cap it would charge it, and refuse one under the base fee, which here is lifted
to it). EmbeddedChain installs both.
"""
from __future__ import annotations

from .errors import ChainError

TX_GAS = 21_000  # a plain transfer's gas (geth's params.TxGas)
CALL_STIPEND = 2_300  # geth adds it to its first guess: a value call's stipend is not counted as used
ESTIMATE_ERROR_RATIO = 0.015  # geth's binary search stops within 1.5 % of the answer


def geth_gas_estimate(state, transaction) -> int:
    """eth_estimateGas as geth's DoEstimateGas (py-evm's `gas_estimator` hook): a transfer to
    an account without code is 21,000 when it runs with that; otherwise one run at the block
    gas limit (its error is the answer's, e.g. a revert), geth's optimistic guess (gas used
    before refunds + 2,300, times 64/63) tried once, and a binary search between the gas used
    and a passing limit, to within 1.5 %, only if that fails.
    The result is never below the intrinsic gas (21,000, calldata, creation, initcode words)
    nor Prague's calldata floor (EIP-7623)."""
    if transaction.value and state.get_balance(transaction.sender) < transaction.value:
        raise InsufficientFundsForTransfer("insufficient funds for transfer")  # geth's words
    if transaction.to != b"" and not transaction.data and not state.get_code(transaction.to) \
            and _passes(state, transaction, TX_GAS):  # tried, as geth does: an access list costs more
        return TX_GAS
    floor = transaction_floor(transaction)
    hi = state.gas_limit
    computation = _trial(state, transaction, hi)
    if computation.is_error:
        raise computation.error
    spent = transaction.intrinsic_gas + computation.get_gas_used()  # before refunds
    refund = min(computation.get_gas_refund(), spent // 5)  # EIP-3529's cap
    used = max(spent - refund, floor)  # what the receipt would say (geth's UsedGas)
    return gas_search(used, refund, hi, floor, lambda gas: _passes(state, transaction, gas))


def gas_search(used: int, refund: int, hi: int, floor: int, passes) -> int:
    """geth's search for the least passing gas limit, from a run at `hi` that used `used` (after
    refunds) and refunded `refund`: the optimistic guess tried once, then a binary search to within
    1.5 %; `passes(gas)` runs the call with that limit. Shared by both devchain backends."""
    lo = used - 1
    optimistic = (used + refund + CALL_STIPEND) * 64 // 63
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


class InsufficientFundsForTransfer(ChainError):
    """eth_estimateGas of a value the sender does not have (geth's ErrInsufficientFundsForTransfer)."""


def intrinsic_gas(data: bytes, is_create: bool, access_list=()) -> int:
    """geth's core.IntrinsicGas from Shanghai on: 21,000, 4 a zero and 16 a non-zero calldata byte,
    a creation's 32,000 and 2 a word of initcode (EIP-3860), an access list's 2,400 an address
    and 1,900 a slot. One rule for both backends' transactions and call objects (py-evm's own
    intrinsic gas leaves the initcode words to the execution)."""
    zeros = data.count(0)
    gas = TX_GAS + 4 * zeros + 16 * (len(data) - zeros)
    if is_create:
        gas += 32_000 + 2 * ((len(data) + 31) // 32)
    for _, keys in access_list or ():
        gas += 2_400 + 1_900 * len(keys)
    return gas


def intrinsic_floor(data: bytes, is_create: bool, access_list=()) -> int:
    """The least gas limit a transaction can carry: its intrinsic gas, and from Prague the
    calldata floor of EIP-7623 (21,000 + 10 per token, a non-zero byte being 4 tokens)."""
    zeros = data.count(0)
    return max(intrinsic_gas(data, is_create, access_list), TX_GAS + 10 * (zeros + 4 * (len(data) - zeros)))


def transaction_floor(transaction) -> int:
    """intrinsic_floor of a py-evm transaction (`to` is b"" for a creation; legacy has no access list)."""
    return intrinsic_floor(transaction.data, not transaction.to, getattr(transaction, "access_list", ()))


def _trial(state, transaction, gas: int):
    """Execute `transaction` with `gas` on a throwaway snapshot of `state`, fees not charged."""
    snapshot = state.snapshot()
    try:
        return state.apply_transaction(fee_free(state, transaction, gas))
    finally:
        state.revert(snapshot)


def fee_free(state, transaction, gas: int):
    """`transaction` made to run with `gas` and charge nothing, as geth runs a call or an
    estimate given no fees (inside a snapshot the caller reverts): its fee cap lifted to the
    block's base fee where below (py-evm refuses less; eth-tester's default cap is 1 gwei),
    and the sender given what py-evm takes up front, so the execution sees its own balance."""
    from eth.vm.spoof import SpoofTransaction

    overrides: dict = {"gas": gas}
    base = state.base_fee
    if transaction.max_fee_per_gas < base:
        overrides.update(max_fee_per_gas=base, max_priority_fee_per_gas=0)
    spoofed = SpoofTransaction(transaction, **overrides)
    sender = transaction.sender
    state.set_balance(sender, state.get_balance(sender) + gas * spoofed.max_fee_per_gas)
    return spoofed


def _passes(state, transaction, gas: int) -> bool:
    try:
        return not _trial(state, transaction, gas).is_error
    except Exception:  # noqa: BLE001 - e.g. py-evm's "insufficient gas" validation: too little
        return False


def install_fee_free_calls() -> None:
    """eth_call as geth runs it: fees are not charged, so a sender without ether may call
    (eth-tester takes gas x fee cap from the sender first). Process-wide, installed once."""
    from eth_tester.backends.pyevm import main as pyevm_main

    if getattr(pyevm_main, "_lpsim_fee_free", False):
        return

    def execute_and_revert(chain, transaction, block_number="latest"):
        state = pyevm_main._get_vm_for_block_number(chain, block_number).state
        snapshot = state.snapshot()
        try:
            return state.apply_transaction(fee_free(state, transaction, transaction.gas))
        finally:
            state.revert(snapshot)

    pyevm_main._execute_and_revert_transaction = execute_and_revert
    pyevm_main._lpsim_fee_free = True
