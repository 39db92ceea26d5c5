"""The orchestrator's view of each gateway's funds: max float and redemption float
(pm/sendermonitor.go; spec node.md §2.6).

A gateway's reserve is split evenly over the active set: each orchestrator may draw
`(fundsRemaining + claimedInCurrentRound) / poolSize` per round, less what it already claimed.
Face values of tickets being redeemed right now are *pending*. The max float — the largest face
value this orchestrator will offer the sender — is the reserve allocation, less pending unless the
deposit covers pending at least `MIN_DEPOSIT_PENDING_RATIO` times over.
"""
from __future__ import annotations

from dataclasses import dataclass

from .chain_view import ChainView
from .errors import FatalReceiveError

MIN_DEPOSIT_PENDING_RATIO = 3
SENDER_MONITOR_TTL = 172_800  # seconds (2 days) an idle sender stays cached


@dataclass(slots=True)
class _SenderState:
    pending: int = 0
    last_access: float = 0.0


class SenderMonitor:
    """Max float, available funds and sender validation for one claimant (this orchestrator)."""

    def __init__(self, claimant: str, chain: ChainView, ttl: float = SENDER_MONITOR_TTL) -> None:
        self.claimant = claimant
        self.chain = chain
        self.ttl = ttl
        self._senders: dict[str, _SenderState] = {}

    def _state(self, sender: str, now: float | None = None) -> _SenderState:
        state = self._senders.get(sender)
        if state is None:
            state = self._senders[sender] = _SenderState()
        if now is not None:
            state.last_access = now
        return state

    def pending(self, sender: str) -> int:
        state = self._senders.get(sender)
        return state.pending if state else 0

    def reserve_alloc(self, sender: str) -> int:
        """This orchestrator's share of the sender's reserve this round (may be negative)."""
        pool_size = self.chain.transcoder_pool_size()
        if pool_size == 0:
            return 0
        reserve = self.chain.sender_info(sender).reserve
        claimed = self.chain.claimed_reserve(sender, self.claimant)
        return (reserve.funds_remaining + reserve.claimed_in_current_round) // pool_size - claimed

    def max_float(self, sender: str, now: float | None = None) -> int:
        pending = self._state(sender, now).pending
        alloc = self.reserve_alloc(sender)
        # Pending redemptions come out of the deposit first; only when the deposit is thin do they
        # eat into the reserve allocation (go compares the ratio as a float; integers are exact).
        if pending > 0 and self.chain.sender_info(sender).deposit >= MIN_DEPOSIT_PENDING_RATIO * pending:
            return alloc
        return alloc - pending

    def available_funds(self, sender: str) -> int:
        """What could cover a redemption now: reserve allocation + deposit − pending."""
        return self.reserve_alloc(sender) + self.chain.sender_info(sender).deposit - self.pending(sender)

    def validate_sender(self, sender: str) -> None:
        """Reject senders whose deposit and reserve unlock by the next round (fatal for a payment)."""
        try:
            info = self.chain.sender_info(sender)
        except Exception as exc:  # the chain view's own failure, whatever its type
            raise FatalReceiveError(f"could not get sender info for {sender}: {exc}") from exc
        if info.withdraw_round != 0 and info.withdraw_round <= self.chain.last_initialized_round() + 1:
            raise FatalReceiveError(f"deposit and reserve for sender {sender} is set to unlock soon")

    def begin_redemption(self, sender: str, face_value: int) -> None:
        """A redemption of `face_value` was submitted: it is pending until `end_redemption`."""
        self._state(sender).pending += face_value

    def end_redemption(self, sender: str, face_value: int) -> None:
        state = self._state(sender)
        if state.pending < face_value:
            raise ValueError("cannot subtract from insufficient pendingAmount")
        state.pending -= face_value

    def cleanup(self, now: float) -> list[str]:
        """Forget senders idle for longer than the TTL with nothing pending; returns them."""
        stale = [s for s, st in self._senders.items() if st.pending == 0 and now - st.last_access > self.ttl]
        for sender in stale:
            del self._senders[sender]
        return stale
