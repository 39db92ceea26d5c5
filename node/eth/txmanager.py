"""Send a transaction and see it mined, replacing it at a higher gas price when it is stuck
(go-livepeer's eth/transactionManager.go).

go's rules, which this module follows:
- wait up to `tx_timeout` for the receipt (`-transactionTimeout`, default 5 minutes);
- if none came, sign a replacement: the same nonce, gas, destination, value and data, with the fee
  cap and the tip each bumped (go: +11 %, geth asks for at least +10 %), and send it; up to
  `max_replacements` times (`-maxTransactionReplacements`, default 1), waiting `tx_timeout` after
  each;
- when the last wait runs out, fail with go's error, "context deadline exceeded"; a replacement
  the node refuses ends the attempt with the node's error.

The bump is the core's `replacement_gas_price` (node.core.job), so the rule has one
implementation. Two deliberate differences from go: the bump rounds up and always raises the
price by at least 1 wei (go's integer percentage rounds down, which a node refuses for a 1-wei
tip); and the wait watches every hash sent for the nonce, not only the latest, so the original
being mined just as its replacement goes out is seen ("nonce too low" or "already known" from the
node when sending the replacement means exactly that: keep waiting).

The chain is reached through a small backend (`TxBackend`): fill in nonce and fees, broadcast a
transaction, read a receipt. JsonRpcChain is the live one; tests drive fakes with a fake clock.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from node.core.job import replacement_gas_price

from .errors import ChainError

log = logging.getLogger("lpnode.eth.tx")

DEFAULT_TX_TIMEOUT = 5 * 60.0  # seconds; go's -transactionTimeout default (5m)
DEFAULT_MAX_REPLACEMENTS = 1  # go's -maxTransactionReplacements default
DEADLINE_EXCEEDED = "context deadline exceeded"  # what go's wait returns when txTimeout runs out

# What nodes answer when a replacement's nonce has been mined already, or the transaction is in
# the pool already (geth, anvil, hardhat wordings): the earlier transaction may still be mined.
_MINED_OR_KNOWN = ("nonce too low", "already known", "already imported", "known transaction")


def mined_or_known(message: str) -> bool:
    message = message.lower()
    return any(text in message for text in _MINED_OR_KNOWN)


class TxBackend(Protocol):
    def prepare(self, tx: dict, sender: Any) -> dict:
        """`tx` with its nonce, chain id and fees filled in."""

    def broadcast(self, tx: dict, sender: Any) -> bytes:
        """Sign (where the key is known) and send `tx`; return its hash. Raise on refusal."""

    def receipt(self, tx_hash: bytes) -> Mapping | None:
        """The receipt of a mined transaction, None while it is not mined."""


class TransactionTimeout(ChainError):
    """Not mined within tx_timeout after the last of its replacements (go: context deadline exceeded)."""

    def __init__(self, hashes: tuple[bytes, ...], nonce: int, tx_timeout: float):
        self.hashes, self.nonce, self.tx_timeout = hashes, nonce, tx_timeout
        super().__init__(f"transaction 0x{hashes[0].hex()} (nonce {nonce}) not mined within {tx_timeout:g}s "
                         f"after {len(hashes) - 1} replacement(s): {DEADLINE_EXCEEDED}")


class ReplacementRefused(ChainError):
    """The node refused a replacement transaction (go stops replacing and returns this error)."""


@dataclass(frozen=True)
class MinedTransaction:
    tx_hash: bytes  # the hash that was mined
    receipt: Mapping
    sent: tuple[bytes, ...]  # every hash sent for this nonce, the original first

    @property
    def origin_tx_hash(self) -> bytes:
        return self.sent[0]

    @property
    def replacements(self) -> int:
        return len(self.sent) - 1


@dataclass(frozen=True)
class Replacement:
    """One replacement sent: what it replaced and at what price (for logs and metrics)."""

    sender: str
    nonce: int
    replaced: bytes
    tx_hash: bytes
    fees: dict  # the replacement's gasPrice, or maxFeePerGas and maxPriorityFeePerGas
    attempt: int  # 1 for the first replacement


def bump_fees(tx: dict) -> dict:
    """`tx` with its gas price (legacy) or its fee cap and tip (EIP-1559) raised by the core's
    replacement rule."""
    if "gasPrice" in tx:
        return dict(tx, gasPrice=replacement_gas_price(tx["gasPrice"]))
    if "maxFeePerGas" not in tx or "maxPriorityFeePerGas" not in tx:
        raise ChainError("cannot replace a transaction without explicit fees")
    return dict(tx, maxFeePerGas=replacement_gas_price(tx["maxFeePerGas"]),
                maxPriorityFeePerGas=replacement_gas_price(tx["maxPriorityFeePerGas"]))


def _fees(tx: dict) -> dict:
    return {k: tx[k] for k in ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas") if k in tx}


class TransactionManager:
    def __init__(self, backend: TxBackend, tx_timeout: float = DEFAULT_TX_TIMEOUT,
                 max_replacements: int = DEFAULT_MAX_REPLACEMENTS, poll_interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if tx_timeout <= 0:
            raise ValueError(f"tx_timeout must be positive, got {tx_timeout}")
        if max_replacements < 0:
            raise ValueError(f"max_replacements must not be negative, got {max_replacements}")
        self.backend = backend
        self.tx_timeout = tx_timeout
        self.max_replacements = max_replacements
        self.poll_interval = poll_interval
        self.clock, self.sleep = clock, sleep
        self.replacements = 0  # replacement transactions sent, over this manager's life
        self.on_replacement: list[Callable[[Replacement], None]] = []  # e.g. a metrics counter
        self._submit_lock = threading.Lock()  # one nonce at a time: prepare and first send together

    def send(self, tx: dict, sender: Any) -> MinedTransaction:
        """Send `tx` from `sender` and return it mined, replacing it while it is stuck. Raises
        what the node says to the first send, ReplacementRefused, or TransactionTimeout."""
        with self._submit_lock:
            tx = self.backend.prepare(tx, sender)
            sent = [self.backend.broadcast(tx, sender)]
        log.info("event=tx_submitted sender=%s nonce=%d hash=0x%s %s", sender, tx["nonce"], sent[0].hex(),
                 _fields(_fees(tx)))
        for attempt in range(self.max_replacements + 1):
            mined = self._wait(sent)
            if mined is not None:
                return mined
            if attempt == self.max_replacements:
                break
            replacement = bump_fees(tx)
            try:
                tx_hash = self.backend.broadcast(replacement, sender)
            except Exception as exc:  # noqa: BLE001 - the node's answer decides what follows
                if mined_or_known(str(exc)):
                    # the nonce was taken, most likely by what we sent: wait on it again
                    log.info("event=tx_replacement_not_needed sender=%s nonce=%d hash=0x%s reason=%r", sender,
                             tx["nonce"], sent[-1].hex(), str(exc))
                    continue
                log.warning("event=tx_replacement_refused sender=%s nonce=%d hash=0x%s %s error=%r", sender,
                            tx["nonce"], sent[-1].hex(), _fields(_fees(replacement)), str(exc))
                raise ReplacementRefused(f"replacing transaction 0x{sent[-1].hex()}: {exc}") from exc
            record = Replacement(str(sender), tx["nonce"], sent[-1], tx_hash, _fees(replacement), attempt + 1)
            tx = replacement
            sent.append(tx_hash)
            self.replacements += 1
            log.info("event=tx_replaced sender=%s nonce=%d replaced=0x%s hash=0x%s %s replacement=%d/%d",
                     record.sender, record.nonce, record.replaced.hex(), record.tx_hash.hex(), _fields(record.fees),
                     record.attempt, self.max_replacements)
            for hook in self.on_replacement:
                hook(record)
        error = TransactionTimeout(tuple(sent), tx["nonce"], self.tx_timeout)
        log.warning("event=tx_timeout sender=%s nonce=%d hashes=%s error=%r", sender, tx["nonce"],
                    ",".join("0x" + h.hex() for h in sent), DEADLINE_EXCEEDED)
        raise error

    def _wait(self, sent: list[bytes]) -> MinedTransaction | None:
        """Poll every hash sent until one has a receipt or tx_timeout passes (one last look at
        the deadline)."""
        deadline = self.clock() + self.tx_timeout
        while True:
            for tx_hash in sent:
                try:
                    receipt = self.backend.receipt(tx_hash)
                except Exception as exc:  # noqa: BLE001 - as go's WaitMined: log and poll again
                    log.debug("receipt 0x%s: %s", tx_hash.hex(), exc)
                    continue
                if receipt is not None:
                    return MinedTransaction(tx_hash, receipt, tuple(sent))
            left = deadline - self.clock()
            if left <= 0:
                return None
            self.sleep(min(self.poll_interval, left))


def _fields(values: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())

