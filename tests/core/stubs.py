"""In-memory stand-ins for the payment core's chain interfaces (go-livepeer's pm/stub.go)."""
from __future__ import annotations

from dataclasses import dataclass, field

from node.core.chain_view import ReserveInfo, SenderInfo
from node.core.errors import RedemptionError
from node.core.ticket import Ticket


@dataclass
class StubChain:
    round: int = 10
    block: int = 1000
    pool_size: int = 10
    price: int = 0  # gas price
    hashes: dict[int, bytes] = field(default_factory=dict)
    senders: dict[str, SenderInfo] = field(default_factory=dict)
    claimed: dict[tuple[str, str], int] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)

    def last_initialized_round(self) -> int:
        return self.round

    def block_hash_for_round(self, round_: int) -> bytes:
        return self.hashes.get(round_, bytes([round_ % 256]) * 32)

    def transcoder_pool_size(self) -> int:
        return self.pool_size

    def last_seen_block(self) -> int:
        return self.block

    def sender_info(self, sender: str) -> SenderInfo:
        return self.senders.get(sender, SenderInfo(0, 0, ReserveInfo(0, 0)))

    def fund(self, sender: str, deposit: int, reserve: int, withdraw_round: int = 0, claimed_this_round: int = 0) -> None:
        self.senders[sender] = SenderInfo(deposit, withdraw_round, ReserveInfo(reserve, claimed_this_round))

    def claimed_reserve(self, reserve_holder: str, claimant: str) -> int:
        return self.claimed.get((reserve_holder, claimant), 0)

    def is_active(self, orchestrator: str) -> bool:
        return orchestrator in self.active

    def gas_price(self) -> int:
        return self.price


@dataclass
class StubBroker:
    used: set[bytes] = field(default_factory=set)
    redeemed: list[Ticket] = field(default_factory=list)
    fail_with: RedemptionError | None = None
    during: list = field(default_factory=list)  # hook: called inside redeem (to observe pending float)

    def is_used_ticket(self, ticket: Ticket) -> bool:
        return ticket.hash() in self.used

    def redeem_winning_ticket(self, ticket: Ticket, sig: bytes, recipient_rand: int) -> None:
        for hook in self.during:
            hook(ticket)
        if self.fail_with is not None:
            raise self.fail_with
        self.used.add(ticket.hash())
        self.redeemed.append(ticket)
