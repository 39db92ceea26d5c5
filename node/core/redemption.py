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

Persistence (go's `ticketQueue` rows in the node's database): the queue sits in front of a
`TicketStore`. A winning ticket is written to the store when it is queued — inside the payment's
processing, so before the payment is acknowledged — and removed once its fate is decided
(redeemed, dropped or expired); a retry leaves it there. A new Redeemer over the same store (a
restarted node) loads what is left and redeems it. The store is an interface: `MemoryTicketStore`
here (the simulator's and the tests' default), SQLite for the live node
(node.orchestrator.ticket_store).

Exactly once: TicketBroker refuses a ticket it has seen (`usedTickets`), so the only question
after a restart is whether a restored ticket's redemption was already mined — sent before the
crash, its removal never recorded. A restored ticket is checked before anything else: found used
on chain (only a redemption reveals its recipientRand, and a redemption pays the recipient
whoever sends it) it is REDEEMED, not an error — its transaction was ours and was mined. The check
repeats while a restored ticket waits at the head of its queue, so an old transaction mined later
(our new attempt then reverting with "ticket is used", a retry) ends the same way. A restored
ticket whose creation round has no block hash, or another one, on this chain (a store left over
from another chain, e.g. an earlier devchain) can never be redeemed and is DROPPED with the
contract's own words.

Max float after a restart: pending amounts (SenderMonitor) are face values of redemptions in
flight, kept in memory as go keeps them; they start at zero after a restart, and a restored
ticket counts in its sender's pending amount while its redemption is in flight, exactly as a
freshly queued one (go never counts queued-but-unsubmitted winners either).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from .chain_view import Broker, ChainView
from .errors import RedemptionError
from .sender_monitor import SenderMonitor
from .ticket import ZERO_HASH, Ticket

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


class TicketStore(Protocol):
    """Where queued winning tickets outlive the process (go's TicketStore: StoreWinningTicket,
    MarkWinningTicketRedeemed). `add` must be durable when it returns: the payment carrying the
    ticket is acknowledged right after. Keyed by ticket hash; adding a stored ticket or removing
    an absent one does nothing."""

    def add(self, signed: SignedTicket) -> None: ...

    def remove(self, signed: SignedTicket) -> None: ...

    def load(self) -> list[SignedTicket]:
        """Every stored ticket, in the order they were added."""
        ...


class MemoryTicketStore:
    """A TicketStore in memory: nothing survives the process (the simulator's default; a test
    hands one store to a second Redeemer to play a restart)."""

    def __init__(self) -> None:
        self._tickets: dict[bytes, SignedTicket] = {}

    def add(self, signed: SignedTicket) -> None:
        self._tickets.setdefault(signed.ticket.hash(), signed)

    def remove(self, signed: SignedTicket) -> None:
        self._tickets.pop(signed.ticket.hash(), None)

    def load(self) -> list[SignedTicket]:
        return list(self._tickets.values())

    def __len__(self) -> int:
        return len(self._tickets)


class Redeemer:
    """The redemption queue and its consumer for one orchestrator (go's ticketQueue per sender
    plus LocalSenderMonitor.redeemWinningTicket), over a TicketStore.

    On construction the store's tickets for this orchestrator (`monitor.claimant`) are queued
    again, before any new one: those of another recipient sharing the store are left alone.
    `counts`: queued (this process), restored (from the store), then redeemed, dropped, expired
    and retry outcomes; every ticket queued or restored ends redeemed, dropped or expired, or is
    still queued."""

    def __init__(self, chain: ChainView, monitor: SenderMonitor, broker: Broker, redeem_gas: int,
                 ticket_validity_period: int = TICKET_VALIDITY_PERIOD, store: TicketStore | None = None) -> None:
        self.chain = chain
        self.monitor = monitor
        self.broker = broker
        self.redeem_gas = redeem_gas
        self.ticket_validity_period = ticket_validity_period
        self.store: TicketStore = store if store is not None else MemoryTicketStore()
        self._queues: dict[str, list[SignedTicket]] = {}
        # hash -> creation round of every ticket queued and not yet past the validity period: a
        # replayed winner is queued once. Older ones are forgotten (memory stays bounded over a long
        # run): a replay of one could only be finished as expired, never redeemed twice.
        self._known: dict[bytes, int] = {}
        self._known_from_round = 0  # the oldest redeemable round when _known was last pruned
        self._restored: set[bytes] = set()  # hashes of restored tickets not yet finished
        self.counts: Counter[str] = Counter()
        self.value_redeemed = 0  # Σ face value of redeemed tickets (go's value_redeemed metric)
        claimant = monitor.claimant.lower()
        for signed in self.store.load():
            key = signed.ticket.hash()
            if signed.ticket.recipient.lower() != claimant or key in self._known:
                continue
            self._known[key] = signed.ticket.creation_round
            self._restored.add(key)
            self._queues.setdefault(signed.ticket.sender, []).append(signed)
            self.counts["restored"] += 1

    def queue(self, signed: SignedTicket) -> bool:
        """Queue a winning ticket, durably (the store's `add` returns once it is written); False
        when this very ticket was queued before. A failing store raises, and the ticket is not
        queued: the payment must not be acknowledged."""
        key = signed.ticket.hash()
        if key in self._known:
            return False
        self.store.add(signed)
        self._known[key] = signed.ticket.creation_round
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
        if oldest_round > self._known_from_round:
            self._known = {k: r for k, r in self._known.items() if r >= oldest_round}
            self._known_from_round = oldest_round
        active = None
        for sender, queue in self._queues.items():
            while queue:
                signed = queue[0]
                if self._restored and signed.ticket.hash() in self._restored:
                    settled = self._settle_restored(signed)
                    if settled is not None:
                        results.append(self._finish(queue, settled))
                        continue
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

    def _settle_restored(self, signed: SignedTicket) -> Redemption | None:
        """A restored ticket's fate when the chain already decided it: redeemed before the
        restart (used on chain), or never redeemable here (not this chain's round hash)."""
        ticket = signed.ticket
        if self.broker.is_used_ticket(ticket):
            self.value_redeemed += ticket.face_value
            return Redemption(signed, Outcome.REDEEMED)
        block_hash = self.chain.block_hash_for_round(ticket.creation_round)
        if block_hash == ZERO_HASH:
            return Redemption(signed, Outcome.DROPPED, "ticket creationRound does not have a block hash")
        if block_hash != ticket.creation_round_block_hash:
            return Redemption(signed, Outcome.DROPPED, "ticket creationRoundBlockHash invalid for creationRound")
        return None

    def _finish(self, queue: list[SignedTicket], result: Redemption) -> Redemption:
        """The ticket's fate is decided: out of the queue, then out of the store (a crash in
        between leaves it stored, and a restart finds it used, or redeems it)."""
        queue.pop(0)
        self.counts[result.outcome.value] += 1
        if self._restored:
            self._restored.discard(result.ticket.ticket.hash())
        self.store.remove(result.ticket)
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
