"""The transaction manager against a fake node and a fake clock: go-livepeer's wait / replace /
give up, the core's bump, and the races around a replacement. No chain, no sleeping."""
from __future__ import annotations

import argparse

import pytest

from node.core.job import replacement_gas_price
from node.eth.txmanager import (
    DEADLINE_EXCEEDED,
    DEFAULT_MAX_REPLACEMENTS,
    DEFAULT_TX_TIMEOUT,
    ReplacementRefused,
    TransactionManager,
    TransactionTimeout,
    bump_fees,
    mined_or_known,
)
from node.launch import parse_duration

FEE_CAP, TIP = 2_000_000_000, 1_000_000_000


class FakeNode:
    """A node whose pool holds what is broadcast; `mine_at[t]` says which sent index (0 = the
    original) is mined when the clock reaches t; `refuse[i]` makes the i-th broadcast fail."""

    def __init__(self, fees: dict | None = None):
        self.now = 0.0
        self.fees = fees if fees is not None else {"maxFeePerGas": FEE_CAP, "maxPriorityFeePerGas": TIP}
        self.sent: list[tuple[bytes, dict]] = []
        self.mined: dict[bytes, dict] = {}
        self.mine_at: dict[float, int] = {}
        self.refuse: dict[int, str] = {}
        self.on_broadcast = None  # called before a broadcast (to stage a race)
        self.broadcasts = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for t, index in list(self.mine_at.items()):
            if self.now >= t and index < len(self.sent):
                self.mine(index)
                del self.mine_at[t]

    def mine(self, index: int) -> None:
        tx_hash = self.sent[index][0]
        self.mined[tx_hash] = {"transactionHash": tx_hash, "status": 1}

    def prepare(self, tx, sender):
        return dict(tx, nonce=7, chainId=1, **self.fees)

    def broadcast(self, tx, sender):
        index = self.broadcasts
        self.broadcasts += 1
        if self.on_broadcast:
            self.on_broadcast(index)
        if index in self.refuse:
            raise ValueError({"code": -32000, "message": self.refuse[index]})
        tx_hash = bytes([len(self.sent) + 1]) * 32
        self.sent.append((tx_hash, tx))
        return tx_hash

    def receipt(self, tx_hash):
        return self.mined.get(tx_hash)


def manager(node: FakeNode, tx_timeout=10.0, max_replacements=1) -> TransactionManager:
    return TransactionManager(node, tx_timeout=tx_timeout, max_replacements=max_replacements, poll_interval=1.0,
                              clock=node.clock, sleep=node.sleep)


TX = {"to": "0x" + "11" * 20, "data": b"\x01", "value": 0, "gas": 100_000}


def test_go_defaults():
    from node import launch

    assert DEFAULT_TX_TIMEOUT == launch.DEFAULT_TX_TIMEOUT == 300.0  # -transactionTimeout 5m
    assert DEFAULT_MAX_REPLACEMENTS == launch.DEFAULT_MAX_REPLACEMENTS == 1  # -maxTransactionReplacements 1


def test_mined_in_time_is_not_replaced():
    node = FakeNode()
    node.mine_at[3.0] = 0
    tm = manager(node)
    mined = tm.send(dict(TX), "0xsender")
    assert mined.tx_hash == node.sent[0][0] and mined.replacements == 0
    assert len(node.sent) == 1 and tm.replacements == 0


def test_stuck_transaction_is_replaced_at_the_bumped_price_and_the_replacement_is_mined():
    node = FakeNode()
    node.mine_at[12.0] = 1  # the replacement, after the first timeout (10 s)
    tm = manager(node)
    seen = []
    tm.on_replacement.append(seen.append)
    mined = tm.send(dict(TX), "0xsender")
    (h0, tx0), (h1, tx1) = node.sent
    assert mined.tx_hash == h1 and mined.origin_tx_hash == h0 and mined.replacements == 1
    assert tx1["nonce"] == tx0["nonce"] == 7
    assert tx1["maxFeePerGas"] == replacement_gas_price(FEE_CAP)
    assert tx1["maxPriorityFeePerGas"] == replacement_gas_price(TIP)
    assert {k: tx1[k] for k in TX} == TX  # same destination, data, value and gas
    assert tm.replacements == 1
    assert [(r.replaced, r.tx_hash, r.nonce, r.attempt) for r in seen] == [(h0, h1, 7, 1)]
    assert seen[0].fees == {"maxFeePerGas": tx1["maxFeePerGas"], "maxPriorityFeePerGas": tx1["maxPriorityFeePerGas"]}


def test_gives_up_after_max_replacements_with_gos_error():
    node = FakeNode()
    tm = manager(node, tx_timeout=10.0, max_replacements=2)
    with pytest.raises(TransactionTimeout) as err:
        tm.send(dict(TX), "0xsender")
    assert DEADLINE_EXCEEDED in str(err.value)
    assert "transaction failed" not in str(err.value)  # the Redeemer must see it as retryable
    assert err.value.hashes == tuple(h for h, _ in node.sent) and len(node.sent) == 3
    assert node.now == pytest.approx(30.0)  # one tx_timeout per transaction sent
    fees = [tx["maxFeePerGas"] for _, tx in node.sent]
    assert fees == [FEE_CAP, replacement_gas_price(FEE_CAP), replacement_gas_price(replacement_gas_price(FEE_CAP))]


def test_no_replacements_allowed():
    node = FakeNode()
    with pytest.raises(TransactionTimeout):
        manager(node, max_replacements=0).send(dict(TX), "0xsender")
    assert len(node.sent) == 1


def test_original_mined_as_the_replacement_is_sent():
    """The node answers the replacement with "nonce too low": the original made it, so its
    receipt is what the manager returns."""
    node = FakeNode()
    node.refuse[1] = "nonce too low"
    node.on_broadcast = lambda index: node.mine(0) if index == 1 else None
    tm = manager(node)
    mined = tm.send(dict(TX), "0xsender")
    assert mined.tx_hash == node.sent[0][0] and mined.replacements == 0 and tm.replacements == 0


def test_already_known_replacement_keeps_waiting():
    node = FakeNode()
    node.refuse[1] = "already known"
    node.mine_at[15.0] = 0
    mined = manager(node).send(dict(TX), "0xsender")
    assert mined.tx_hash == node.sent[0][0]


def test_original_mined_after_its_replacement_was_accepted():
    """Both are in flight; the original wins (another node had it): every hash sent is watched."""
    node = FakeNode()
    node.mine_at[13.0] = 0
    mined = manager(node).send(dict(TX), "0xsender")
    assert len(node.sent) == 2
    assert mined.tx_hash == node.sent[0][0] and mined.replacements == 1


def test_refused_replacement_stops_replacing():
    node = FakeNode()
    node.refuse[1] = "replacement transaction underpriced"
    with pytest.raises(ReplacementRefused, match="replacement transaction underpriced"):
        manager(node, max_replacements=3).send(dict(TX), "0xsender")
    assert len(node.sent) == 1


def test_first_send_errors_propagate():
    node = FakeNode()
    node.refuse[0] = "insufficient funds for gas * price + value"
    with pytest.raises(ValueError, match="insufficient funds"):
        manager(node).send(dict(TX), "0xsender")


def test_legacy_gas_price_is_bumped():
    node = FakeNode(fees={"gasPrice": 7})
    node.mine_at[11.0] = 1
    manager(node).send(dict(TX), "0xsender")
    assert node.sent[1][1]["gasPrice"] == replacement_gas_price(7) == 8
    assert bump_fees({"gasPrice": 1})["gasPrice"] == 2  # geth needs a strict increase


def test_transient_receipt_errors_are_polled_through():
    node = FakeNode()
    calls = {"n": 0}
    real = node.receipt

    def flaky(tx_hash):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ConnectionError("connection reset")
        return real(tx_hash)

    node.receipt = flaky
    node.mine_at[2.0] = 0
    assert manager(node).send(dict(TX), "0xsender").tx_hash == node.sent[0][0]


def test_mined_or_known_wordings():
    assert mined_or_known("nonce too low")  # geth, anvil
    assert mined_or_known("Nonce too low. Expected nonce to be 3 but got 2.")  # hardhat
    assert mined_or_known("already known")  # geth
    assert mined_or_known("transaction already imported")  # anvil
    assert not mined_or_known("replacement transaction underpriced")


@pytest.mark.parametrize("text, seconds", [("5m", 300), ("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600),
                                           ("2", 2), ("0.25", 0.25), ("1.5s", 1.5)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5 minutes", "m", "5x", "5m x", "1.5.2s"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_orchestrator_flags():
    from node.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["orchestrator"])
    assert args.transactionTimeout == 300 and args.maxTransactionReplacements == 1
    args = parser.parse_args(["orchestrator", "-transactionTimeout", "30s", "-maxTransactionReplacements", "3"])
    assert args.transactionTimeout == 30 and args.maxTransactionReplacements == 3
    assert parser.parse_args(["orchestrator", "-txTimeout", "1m"]).transactionTimeout == 60
    assert parser.parse_args(["gateway", "-orchAddr", "x", "-txTimeout", "2"]).transactionTimeout == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["orchestrator", "-transactionTimeout", "soon"])
    with pytest.raises(SystemExit):
        parser.parse_args(["orchestrator", "-maxTransactionReplacements", "-1"])


def test_durations_refuse_zero():
    from node.launch import _duration

    with pytest.raises(argparse.ArgumentTypeError):
        _duration("0s")
