"""Winning tickets from queue to chain (pm/queue.go, pm/sendermonitor.go redeemWinningTicket;
spec node.md §2.7, §19).

A winning ticket is queued per sender and redeemed on a later L1 block, once its params have
expired: revealing recipientRand earlier would let the sender see which of its future tickets on
the same offer win. On each block, for each sender, the earliest tickets are redeemed in order
while their params have expired and the orchestrator is active; a ticket is redeemed only if the
sender's available funds and its own face value both exceed the transaction cost. Outcomes:

- REDEEMED: the transaction was mined;
- DROPPED: a non-retryable failure (ticket already used, a reverted transaction, no block hash for
  the creation round) — go marks these redeemed so they are never tried again;
- RETRY: anything else; the ticket stays queued for the next block;
- EXPIRED: its creation round fell out of TicketBroker's validity window (ticketValidityPeriod
  rounds) before it could be redeemed; go silently stops selecting such tickets, we report them so
  a run can account for every winning ticket (won = redeemed + dropped + expired + queued).

One simplification: after a retryable failure go retries the same ticket up to once per queued
ticket within the same block; here it waits for the next block.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum

from .chain_view import Broker, ChainView
from .errors import RedemptionError
from .sender_monitor import SenderMonitor
from .ticket import Ticket

TICKET_VALIDITY_PERIOD = 2  # rounds (TicketBroker.ticketValidityPeriod on mainnet)
NON_RETRYABLE = ("ticket already used", "transaction failed", "ticket creationRound does not have a block hash")


@dataclass(frozen=True, slots=True)
class SignedTicket:
    """A winning ticket with what redeeming it needs: the sender's signature and the revealed rand."""

    ticket: Ticket
    sig: bytes
    recipient_rand: int
    expiration_block: int


class Outcome(str, Enum):
    REDEEMED = "redeemed"
    DROPPED = "dropped"
    RETRY = "retry"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Redemption:
    ticket: SignedTicket
    outcome: Outcome
    error: str | None = None


def is_retryable(message: str) -> bool:
    return not any(text in message for text in NON_RETRYABLE)


class Redeemer:
    """The redemption queue and its consumer for one orchestrator (go's ticketQueue per sender
    plus LocalSenderMonitor.redeemWinningTicket)."""

    def __init__(self, chain: ChainView, monitor: SenderMonitor, broker: Broker, redeem_gas: int,
                 ticket_validity_period: int = TICKET_VALIDITY_PERIOD) -> None:
        self.chain = chain
        self.monitor = monitor
        self.broker = broker
        self.redeem_gas = redeem_gas
        self.ticket_validity_period = ticket_validity_period
        self._queues: dict[str, list[SignedTicket]] = {}
        self._known: set[bytes] = set()  # ticket hashes ever queued: a replayed winner is queued once
        self.counts: Counter[str] = Counter()
        self.value_redeemed = 0  # Σ face value of redeemed tickets (go's value_redeemed metric)

    def queue(self, signed: SignedTicket) -> bool:
        """Queue a winning ticket; False when this very ticket was queued before."""
        key = signed.ticket.hash()
        if key in self._known:
            return False
        self._known.add(key)
        self._queues.setdefault(signed.ticket.sender, []).append(signed)
        self.counts["queued"] += 1
        return True

    def queued(self, sender: str | None = None) -> list[SignedTicket]:
        if sender is not None:
            return list(self._queues.get(sender, ()))
        return [t for q in self._queues.values() for t in q]

    def on_block(self, block: int) -> list[Redemption]:
        """Redeem what is due at L1 block `block`; returns every outcome decided."""
        results: list[Redemption] = []
        oldest_round = self.chain.last_initialized_round() - self.ticket_validity_period
        active = None
        for sender, queue in self._queues.items():
            while queue:
                signed = queue[0]
                if signed.ticket.creation_round < oldest_round:
                    results.append(self._finish(queue, Redemption(signed, Outcome.EXPIRED)))
                    continue
                if signed.expiration_block > block:
                    break  # not yet safe to reveal the rand; later tickets wait behind it
                if active is None:
                    active = self.chain.is_active(signed.ticket.recipient)
                if not active:
                    break
                try:
                    self._redeem(signed)
                except RedemptionError as exc:
                    if exc.retryable:
                        results.append(Redemption(signed, Outcome.RETRY, str(exc)))
                        self.counts["retry"] += 1
                        break
                    results.append(self._finish(queue, Redemption(signed, Outcome.DROPPED, str(exc))))
                    continue
                self.value_redeemed += signed.ticket.face_value
                results.append(self._finish(queue, Redemption(signed, Outcome.REDEEMED)))
        return results

    def _finish(self, queue: list[SignedTicket], result: Redemption) -> Redemption:
        queue.pop(0)
        self.counts[result.outcome.value] += 1
        return result

    def _redeem(self, signed: SignedTicket) -> None:
        ticket = signed.ticket
        available = self.monitor.available_funds(ticket.sender)
        if self.broker.is_used_ticket(ticket):
            raise RedemptionError("ticket already used", retryable=False)
        tx_cost = self.redeem_gas * self.chain.gas_price()
        if available <= tx_cost:
            raise RedemptionError("insufficient sender funds for redeem tx cost", retryable=True)
        if ticket.face_value <= tx_cost:
            raise RedemptionError("insufficient ticket face value for redeem tx cost", retryable=True)
        self.monitor.begin_redemption(ticket.sender, ticket.face_value)
        try:
            self.broker.redeem_winning_ticket(ticket, signed.sig, signed.recipient_rand)
        finally:
            self.monitor.end_redemption(ticket.sender, ticket.face_value)
