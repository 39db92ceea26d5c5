"""What the payment rules need to know about, and do on, the chain (spec node.md §14).

go-livepeer splits this into TimeManager, SenderManager, GasPriceMonitor, the orchestrator DB view
and Broker; here reads are one `ChainView` and writes one `Broker`, small enough that `node/eth`
implements them over the deployed contracts for the live node, `lpsim` over its chain for
simulations, and the tests with a dictionary. Amounts are wei, addresses checksum strings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .ticket import Ticket


@dataclass(frozen=True, slots=True)
class ReserveInfo:
    funds_remaining: int
    claimed_in_current_round: int


@dataclass(frozen=True, slots=True)
class SenderInfo:
    """TicketBroker.getSenderInfo: the sender's deposit, its unlock round (0 = not unlocking) and reserve."""

    deposit: int
    withdraw_round: int
    reserve: ReserveInfo


class ChainView(Protocol):
    def last_initialized_round(self) -> int:
        """RoundsManager.lastInitializedRound."""

    def block_hash_for_round(self, round_: int) -> bytes:
        """RoundsManager.blockHashForRound (32 bytes; all zero when unknown)."""

    def transcoder_pool_size(self) -> int:
        """BondingManager.getTranscoderPoolSize: the active set the reserve is split over."""

    def last_seen_block(self) -> int:
        """The latest L1 block number the node has seen (ticket params expire against it)."""

    def sender_info(self, sender: str) -> SenderInfo: ...

    def claimed_reserve(self, reserve_holder: str, claimant: str) -> int:
        """TicketBroker.claimedReserve: what `claimant` already drew from the holder's reserve this round."""

    def is_active(self, orchestrator: str) -> bool:
        """BondingManager.isActiveTranscoder in the current round."""

    def gas_price(self) -> int:
        """The gas price the node would pay now (wei)."""


class Broker(Protocol):
    def is_used_ticket(self, ticket: Ticket) -> bool:
        """TicketBroker.usedTickets(ticket hash)."""

    def redeem_winning_ticket(self, ticket: Ticket, sig: bytes, recipient_rand: int) -> None:
        """Submit TicketBroker.redeemWinningTicket and wait for it; raise RedemptionError on failure
        (retryable=False for a transaction that was mined and reverted, as go's "transaction failed")."""
