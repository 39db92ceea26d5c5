"""The gateway's on-chain orchestrator pool (go's DB pool, discovery/db_discovery.go): the
orchestrators active in the current round that registered a service URI, with their stakes.

go keeps this in a database filled by chain watchers; here it is read straight from the contracts
and kept until the round changes: BondingManager's transcoder pool (a linked list), each member's
activation (`isActiveTranscoder`), its service URI (ServiceRegistry) and its stake for selection,
which go stores as the earnings pool's total stake for the round in LPT × 10^5 (an int64).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from eth_utils import to_checksum_address

log = logging.getLogger("lpnode.discovery")

ZERO_ADDRESS = "0x" + "00" * 20
STAKE_UNIT = 10**13  # wei per stored stake unit: go keeps LPT x 10^5


@dataclass(frozen=True)
class RegisteredOrchestrator:
    address: str
    service_uri: str
    stake: int  # LPT x 10^5, go's DB column


def stake_units(total_stake_wei: int) -> int:
    """A stake in wei as go's DB stores it (LPT x 10^5, truncated)."""
    return total_stake_wei // STAKE_UNIT


def pool_members(bm, attempts: int = 3) -> list[str]:
    """The transcoder pool's addresses in list order. Over JSON-RPC the walk spans blocks, and a
    `reward` or bond in between re-sorts the list (an address met twice, another skipped), so a
    walk whose distinct addresses do not add up to the pool size is done again."""
    for _ in range(attempts):
        size, seen = bm.getTranscoderPoolSize(), {}
        address = bm.getFirstTranscoderInPool()
        while address and address.lower() != ZERO_ADDRESS and address not in seen and len(seen) <= size:
            seen[address] = None
            address = bm.getNextTranscoderInPool(address)
        if len(seen) == size:
            break
    return list(seen)


def active_orchestrators(protocol) -> list[RegisteredOrchestrator]:
    """Every orchestrator active this round with a non-empty service URI, in pool order."""
    bm, rm, registry = protocol.BondingManager, protocol.RoundsManager, protocol.ServiceRegistry
    current = rm.currentRound()
    found = []
    for address in pool_members(bm):
        uri = registry.getServiceURI(address)
        if uri and bm.isActiveTranscoder(address):
            # as go: 0 until the round's earnings pool is written (a bond in the round before, or
            # this round's reward call), and selection then treats the stake as unknown
            total_stake = bm.getTranscoderEarningsPoolForRound(address, current)[0]
            found.append(RegisteredOrchestrator(to_checksum_address(address), uri, stake_units(total_stake)))
    return found


class ChainOrchestratorPool:
    """`active_orchestrators`, re-read when the last initialised round changes (thread-safe).
    `last_round` is how the round is learnt: a node passes its cached chain view's (go asks its
    round watcher, not the chain, on every request); the default asks the RoundsManager."""

    def __init__(self, protocol, last_round=None) -> None:
        self.protocol = protocol
        self.last_round = last_round or protocol.RoundsManager.lastInitializedRound
        self._round: int | None = None
        self._members: list[RegisteredOrchestrator] = []
        self._lock = threading.Lock()

    def orchestrators(self) -> list[RegisteredOrchestrator]:
        with self._lock:
            current = self.last_round()
            if current != self._round:
                self._members, self._round = active_orchestrators(self.protocol), current
                log.info("orchestrators active in round %d: %s", current,
                         ", ".join(f"{m.address} at {m.service_uri} (stake {m.stake})" for m in self._members)
                         or "none")
            return list(self._members)
