"""ABI encoding and decoding shared by every backend (eth_abi underneath).

Backends move raw bytes; this module turns Python values into calldata and return data and
logs back into Python values: addresses as checksum strings, bytesN/bytes as bytes, structs
and multiple outputs as tuples.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import eth_abi
from eth_utils import keccak
from eth_utils import to_checksum_address as _to_checksum_address

# Checksumming costs a keccak in Python; the same few addresses recur in every event and return.
to_checksum_address = lru_cache(maxsize=65_536)(_to_checksum_address)


def abi_type(param: dict) -> str:
    """Canonical type string of an ABI parameter, expanding tuples: '(address,uint256)[]'."""
    t = param["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in param["components"]) + ")" + t[len("tuple"):]
    return t


def signature(entry: dict) -> str:
    return f"{entry['name']}({','.join(abi_type(p) for p in entry.get('inputs', []))})"


def selector(entry: dict) -> bytes:
    return keccak(text=signature(entry))[:4]


def encode_args(params: list[dict], args: tuple | list) -> bytes:
    return eth_abi.encode([abi_type(p) for p in params], list(args))


def _checksum(type_str: str, value: Any) -> Any:
    """Turn every address inside a decoded value into its checksum form."""
    if type_str.endswith("]"):
        inner = type_str[: type_str.rindex("[")]
        return [_checksum(inner, v) for v in value]
    if type_str.startswith("("):
        return tuple(_checksum(t, v) for t, v in zip(_split_tuple(type_str), value))
    if type_str == "address":
        return to_checksum_address(value)
    return value


def _split_tuple(type_str: str) -> list[str]:
    parts, depth, start = [], 0, 1
    for i, ch in enumerate(type_str[1:-1], start=1):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(type_str[start:i])
            start = i + 1
    parts.append(type_str[start:-1])
    return [p for p in parts if p]


def decode_values(params: list[dict], data: bytes) -> list:
    types = [abi_type(p) for p in params]
    return [_checksum(t, v) for t, v in zip(types, eth_abi.decode(types, data))]


def decode_output(entry: dict, data: bytes) -> Any:
    """A function's return value: None, the single value, or a tuple of several."""
    outputs = entry.get("outputs", [])
    if not outputs:
        return None
    values = decode_values(outputs, data)
    return values[0] if len(values) == 1 else tuple(values)


def decode_revert(data: bytes) -> str | None:
    """The reason string inside Error(string) return data, '' for an empty revert, None otherwise."""
    if not data:
        return ""
    if data[:4] == bytes.fromhex("08c379a0"):
        return eth_abi.decode(["string"], data[4:])[0]
    return None


def encode_revert(reason: str) -> bytes:
    return bytes.fromhex("08c379a0") + eth_abi.encode(["string"], [reason])


@dataclass
class Event:
    name: str
    args: dict
    address: str
    log_index: int = 0

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


@dataclass
class EventRegistry:
    """Event ABIs by topic0, filled from every contract a chain has bound, to decode receipts."""

    by_topic: dict[bytes, dict] = field(default_factory=dict)

    def add(self, abi: list[dict]) -> None:
        for entry in abi:
            if entry.get("type") == "event" and not entry.get("anonymous"):
                self.by_topic[keccak(text=signature(entry))] = entry

    def decode(self, address: str, topics: list[bytes], data: bytes, log_index: int = 0) -> Event | None:
        entry = self.by_topic.get(bytes(topics[0])) if topics else None
        if entry is None:
            return None
        indexed = [p for p in entry["inputs"] if p.get("indexed")]
        plain = [p for p in entry["inputs"] if not p.get("indexed")]
        values = {p["name"]: v for p, v in zip(plain, decode_values(plain, data))}
        for p, topic in zip(indexed, topics[1:]):
            values[p["name"]] = decode_values([p], bytes(topic))[0]
        args = {p["name"]: values[p["name"]] for p in entry["inputs"]}
        return Event(entry["name"], args, to_checksum_address(address), log_index)
