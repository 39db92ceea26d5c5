"""Contract calls on the simulation's hot path, without the bindings' per-call work.

Through node.eth's bindings a view call costs about 43 us here, of which the EVM is 7: the
selector is hashed, the arguments encoded and the answer decoded by eth_abi on every call, and a
transaction's events are decoded whether anybody reads them or not. An economics year makes
about a thousand calls a round, most of them the same few views (stakes, delegations, balances)
and delegators' transactions whose events nobody reads. `Calls` makes the same calls on the same
chain through the backend primitives the bindings themselves use (`Chain._call_raw`,
`Chain._send_raw`): the selector computed once per function, static arguments (address, uint,
bool) packed as 32-byte words, answers read as words, and no event decoding. Same contracts,
same transactions, same answers and revert reasons (tests/sim/test_calls.py compares them with
the bindings'). A call that needs events (reward: the minted amounts) goes through the bindings.
"""
from __future__ import annotations

from typing import Any

from node.eth import TransactionFailed
from node.eth.abi import encode_args, selector

_STATIC = ("address", "bool") + tuple(f"uint{n}" for n in range(8, 257, 8))


def _word(value: Any) -> bytes:
    if isinstance(value, str):  # an address
        return int(value, 16).to_bytes(32, "big")
    return int(value).to_bytes(32, "big")  # uint or bool (a negative uint raises, as encoding would)


class Calls:
    def __init__(self, chain) -> None:
        self.chain = chain
        self._sender = chain.default_account.address
        self._functions: dict[tuple, tuple] = {}  # (contract, name, arity) -> (address, selector, entry, static)
        self._topics: dict[tuple, set] = {}  # event names -> their topic0s

    def _calldata(self, fn, args: tuple) -> tuple[str, bytes]:
        key = (fn.contract.address, fn.name, len(args))
        known = self._functions.get(key)
        if known is None:
            entry = next(e for e in fn.entries if len(e.get("inputs", [])) == len(args))
            static = all(i["type"] in _STATIC for i in entry.get("inputs", []))
            known = self._functions[key] = (fn.contract.address, selector(entry), entry, static)
        to, sel, entry, static = known
        return to, sel + (b"".join(map(_word, args)) if static else encode_args(entry["inputs"], args))

    def words(self, fn, *args) -> list[int]:
        """A view's answer as 32-byte words (uints; an address is the word's int)."""
        to, data = self._calldata(fn, args)
        out = self.chain._call_raw(to, data, self._sender, 0)
        return [int.from_bytes(out[i:i + 32], "big") for i in range(0, len(out), 32)]

    def uint(self, fn, *args) -> int:
        """A view that returns one uint (or bool)."""
        return self.words(fn, *args)[0]

    def send_for(self, fn, *args, sender, events: tuple[str, ...]) -> list:
        """A transaction whose events named in `events` are wanted: those are decoded (by the
        chain's registry, as the bindings do), the others not; TransactionFailed as `send`."""
        to, data = self._calldata(fn, args)
        try:
            _, logs = self.chain._send_raw(to, data, sender, 0)
        except TransactionFailed as exc:
            exc.function = exc.function or fn.name
            raise
        registry = self.chain.events
        topics = self._topics.get(events)
        if topics is None:
            topics = self._topics[events] = {t for t, e in registry.by_topic.items() if e["name"] in events}
        return [registry.decode(a, t, d, i) for a, t, d, i in logs if t and bytes(t[0]) in topics]

    def send(self, fn, *args, sender) -> None:
        """A transaction from `sender` whose events are not needed; TransactionFailed (with the
        contract's reason) when it reverts, as through the bindings."""
        to, data = self._calldata(fn, args)
        try:
            self.chain._send_raw(to, data, sender, 0)
        except TransactionFailed as exc:
            exc.function = exc.function or fn.name
            raise
