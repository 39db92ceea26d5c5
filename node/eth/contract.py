"""Contract bindings and receipts that look the same on every backend.

`binding.fn(*args)` calls a view/pure function and returns its decoded value; any other
function is sent as a transaction (keywords `sender=` an Account, `value=` wei) and returns a
`Receipt`. Reverts raise `TransactionFailed` carrying the revert string.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .abi import Event, signature

if TYPE_CHECKING:
    from .chain import Account, Chain


@dataclass
class Receipt:
    tx_hash: bytes
    block_number: int
    gas_used: int
    gas_cost: int  # wei paid for gas: gas_used × effective gas price
    events: list[Event] = field(default_factory=list)
    contract_address: str | None = None
    origin_tx_hash: bytes | None = None  # the hash first sent, when a replacement was mined instead
    replacements: int = 0  # replacement transactions sent for this nonce (node.eth.txmanager)

    def events_named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def event(self, name: str) -> Event:
        for e in self.events:
            if e.name == name:
                return e
        raise LookupError(f"no {name} event in receipt; events: {[e.name for e in self.events]}")


class ContractFunction:
    def __init__(self, contract: "Contract", name: str, entries: list[dict]):
        self.contract = contract
        self.name = name
        self.entries = entries

    def _entry(self, args: tuple) -> dict:
        matches = [e for e in self.entries if len(e.get("inputs", [])) == len(args)]
        if not matches:
            sigs = ", ".join(signature(e) for e in self.entries)
            raise TypeError(f"{self.contract.contract_name}.{self.name} takes different arguments: {sigs}")
        return matches[0]

    def __call__(self, *args, sender: "Account | None" = None, value: int = 0) -> Any:
        entry = self._entry(args)
        if entry.get("stateMutability") in ("view", "pure"):
            return self.call(*args, sender=sender)
        return self.transact(*args, sender=sender, value=value)

    def call(self, *args, sender: "Account | None" = None, value: int = 0) -> Any:
        """Run without sending a transaction (also for state-changing functions: a dry run)."""
        return self.contract.chain.call(self.contract.address, self._entry(args), args, sender, value)

    def transact(self, *args, sender: "Account | None" = None, value: int = 0) -> Receipt:
        return self.contract.chain.transact(self.contract.address, self._entry(args), args, sender, value)


class Contract:
    """A deployed contract: `contract.fn(...)` per ABI function, `contract.address`.

    The binding's own attributes (`address`, `abi`, `chain`, `contract_name`) are chosen not
    to hide ABI functions such as ERC20's `name()`."""

    def __init__(self, chain: "Chain", name: str, address: str, abi: list[dict]):
        self.chain = chain
        self.contract_name = name
        self.address = address
        self.abi = abi
        self._functions: dict[str, ContractFunction] = {}
        by_name: dict[str, list[dict]] = {}
        for entry in abi:
            if entry.get("type") == "function":
                by_name.setdefault(entry["name"], []).append(entry)
        for fname, entries in by_name.items():
            self._functions[fname] = ContractFunction(self, fname, entries)
        chain.events.add(abi)

    def __getattr__(self, name: str) -> ContractFunction:
        try:
            return self.__dict__["_functions"][name]
        except KeyError:
            raise AttributeError(f"{self.__dict__.get('contract_name', 'contract')} has no function {name!r}") from None

    def __repr__(self) -> str:
        return f"<{self.contract_name} at {self.address}>"
