"""The payment core's chain interfaces (node.core.chain_view) over a deployed protocol.

`ProtocolChainView` reads rounds, the active set and sender funds from the contracts;
`ProtocolBroker` funds deposits and reserves for a gateway and redeems winning tickets for an
orchestrator. The live node uses them directly; a simulation may wrap them with caches.
"""
from __future__ import annotations

from node.core.chain_view import ReserveInfo, SenderInfo
from node.core.errors import RedemptionError
from node.core.ticket import Ticket

from .chain import Account
from .deploy import Protocol
from .errors import ChainError, TransactionFailed

DEFAULT_GAS_PRICE = 10**9  # wei, when the backend has no fixed price of its own


class ProtocolChainView:
    """node.core.chain_view.ChainView over the RoundsManager, BondingManager and TicketBroker."""

    def __init__(self, protocol: Protocol, gas_price: int | None = None) -> None:
        self.protocol = protocol
        self._gas_price = gas_price

    def last_initialized_round(self) -> int:
        return self.protocol.RoundsManager.lastInitializedRound()

    def block_hash_for_round(self, round_: int) -> bytes:
        return bytes(self.protocol.RoundsManager.blockHashForRound(round_))

    def transcoder_pool_size(self) -> int:
        return self.protocol.BondingManager.getTranscoderPoolSize()

    def last_seen_block(self) -> int:
        return self.protocol.chain.block_number

    def sender_info(self, sender: str) -> SenderInfo:
        (deposit, withdraw_round), (funds, claimed) = self.protocol.TicketBroker.getSenderInfo(sender)
        return SenderInfo(deposit, withdraw_round, ReserveInfo(funds, claimed))

    def claimed_reserve(self, reserve_holder: str, claimant: str) -> int:
        return self.protocol.TicketBroker.claimedReserve(reserve_holder, claimant)

    def is_active(self, orchestrator: str) -> bool:
        return self.protocol.BondingManager.isActiveTranscoder(orchestrator)

    def gas_price(self) -> int:
        if self._gas_price is not None:
            return self._gas_price
        return getattr(self.protocol.chain, "gas_price", DEFAULT_GAS_PRICE)


class ProtocolBroker:
    """node.core.chain_view.Broker for `account`, plus the gateway's funding calls."""

    def __init__(self, protocol: Protocol, account: Account) -> None:
        self.protocol = protocol
        self.account = account
        self.receipts: list = []  # receipts of the redemptions this broker submitted

    def is_used_ticket(self, ticket: Ticket) -> bool:
        return self.protocol.TicketBroker.usedTickets(ticket.hash())

    def redeem_winning_ticket(self, ticket: Ticket, sig: bytes, recipient_rand: int) -> None:
        try:
            receipt = self.protocol.TicketBroker.redeemWinningTicket(
                ticket.as_abi_tuple(), sig, recipient_rand, sender=self.account)
        except ChainError as exc:
            # Our backends refuse a reverting transaction before it is mined, as go-ethereum's gas
            # estimate does, and go retries those on the next block (the ticket expires out of the
            # queue if it never succeeds); only a mined failure is its non-retryable
            # "transaction failed". A round not yet initialised, for one, passes. So does a
            # transaction still not mined after its replacements (txmanager.TransactionTimeout,
            # go's "context deadline exceeded"), which go's queue also retries.
            message = f"execution reverted: {exc.reason}" if isinstance(exc, TransactionFailed) else str(exc)
            raise RedemptionError(message, retryable=True) from exc
        self.receipts.append(receipt)

    def fund_deposit_and_reserve(self, deposit: int, reserve: int):
        return self.protocol.TicketBroker.fundDepositAndReserve(
            deposit, reserve, sender=self.account, value=deposit + reserve)


class CachedChainView:
    """A ChainView that reads the chain at most once per `ttl` seconds per question, as
    go-livepeer's watchers do (the block poller ticks every -blockPollingInterval; sender info is
    cached and refreshed from events): payments ask for sender funds on every ticket, and a
    JSON-RPC round trip per ticket would dominate a node's latency. As go's watchers, a known
    answer is refreshed in the background once it is `ttl` old and served meanwhile (until it
    is `max_age` old: then the caller waits for the chain), so the request path does not wait on
    the chain after the first read of each question. `invalidate()` after a transaction of our
    own: the next reads wait for fresh answers. As go re-reads only on a new block's events, an
    answer read in the last seen block (itself re-read every `ttl`) stays fresh until another
    block is seen, and the active set, pool size and a round's block hash are read once a round
    (`_get_in_round`). `_get` decides freshness; the simulator's view (lpsim.world) keys it to the
    chain's blocks and transactions instead of a TTL."""

    def __init__(self, base: ProtocolChainView, ttl: float = 1.0, clock=None, max_age: float | None = None) -> None:
        import threading
        import time

        self.base, self.ttl = base, ttl
        self.max_age = 5 * ttl if max_age is None else max_age
        self._clock = clock or time.monotonic
        self._cache: dict = {}
        self._in_round: dict = {}  # key -> answer, read in round _in_round_of (_get_in_round)
        self._in_round_of: int | None = None
        self._refreshing: set = set()  # keys being re-read in the background
        self._generation = 0  # bumped by invalidate: a background read begun before it is dropped
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()
            self._in_round.clear()
            self._generation += 1

    def _get_in_round(self, key, read, *args):
        """An answer that changes only with the round, as go's watchers keep it: the active set (go
        filters its orchestrator table by the last initialised round), the pool size and a round's
        block hash, re-read by go on NewRound only. Read once in each last initialised round (that
        answer is itself re-read every `ttl`), not every `ttl`."""
        round_ = self.last_initialized_round()
        with self._lock:
            generation = self._generation
            if self._in_round_of == round_ and key in self._in_round:
                return self._in_round[key]
        value = read(*args)
        with self._lock:
            if generation == self._generation:
                if self._in_round_of != round_:  # a new round: the last one's answers go
                    self._in_round, self._in_round_of = {}, round_
                self._in_round[key] = value
        return value

    def _get(self, key, read, *args):
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
            generation = self._generation
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
            if hit is not None and now - hit[0] < self.max_age:
                if hit[2] is not None and hit[2] == self._known_block(now):
                    # no block since this answer was read (the last seen block, itself re-read
                    # every ttl, is the one it was read in): the chain cannot have changed it;
                    # go's watchers likewise re-read on a new block's events only
                    self._cache[key] = (now, hit[1], hit[2])
                    return hit[1]
                if key not in self._refreshing:
                    self._refreshing.add(key)
                    _refresh_in_background(self, key, read, args, generation)
                return hit[1]
            block = self._known_block(now)
        value = read(*args)
        self._store(key, value, now, generation, block)
        return value

    def _known_block(self, now: float) -> int | None:
        """The last seen block, if its answer is under `ttl` old (call with the lock held)."""
        hit = self._cache.get("block")
        return hit[1] if hit is not None and now - hit[0] < self.ttl else None

    def answered(self, *keys) -> bool:
        """Whether each question (a cache key: "round", "block", ("sender", address), ("active",
        address), ...) has an answer young enough to be served at once: a caller on an event loop
        asks before doing what would otherwise wait on the chain."""
        now = self._clock()
        with self._lock:
            round_ = self._cache.get("round")
            this_round = round_ is not None and now - round_[0] < self.max_age and round_[1] == self._in_round_of
            return all((hit := self._cache.get(key)) is not None and now - hit[0] < self.max_age
                       or this_round and key in self._in_round for key in keys)

    def _store(self, key, value, when: float, generation: int, block: int | None) -> None:
        """Keep an answer read from `when` on, when the last seen block was `block` (None: unknown)."""
        with self._lock:
            self._refreshing.discard(key)
            if generation == self._generation:
                self._cache[key] = (when, value, None if key == "block" else block)

    def last_initialized_round(self) -> int:
        return self._get("round", self.base.last_initialized_round)

    def block_hash_for_round(self, round_: int) -> bytes:
        return self._get_in_round(("hash", round_), self.base.block_hash_for_round, round_)

    def transcoder_pool_size(self) -> int:
        return self._get_in_round("pool", self.base.transcoder_pool_size)

    def last_seen_block(self) -> int:
        return self._get("block", self.base.last_seen_block)

    def sender_info(self, sender: str) -> SenderInfo:
        return self._get(("sender", sender), self.base.sender_info, sender)

    def claimed_reserve(self, reserve_holder: str, claimant: str) -> int:
        return self._get(("claimed", reserve_holder, claimant), self.base.claimed_reserve, reserve_holder, claimant)

    def is_active(self, orchestrator: str) -> bool:
        return self._get_in_round(("active", orchestrator), self.base.is_active, orchestrator)

    def gas_price(self) -> int:
        return self.base.gas_price()


def _refresh_in_background(view: CachedChainView, key, read, args, generation: int) -> None:
    """Re-read one answer of `view` on a daemon thread; a failed read leaves the old answer, and
    the next question after `ttl` tries again."""
    import threading

    def run() -> None:
        when = view._clock()
        with view._lock:
            block = view._known_block(when)
        try:
            value = read(*args)
        except Exception:  # noqa: BLE001 - the next question retries; max_age bounds the staleness
            with view._lock:
                view._refreshing.discard(key)
            return
        view._store(key, value, when, generation, block)

    threading.Thread(target=run, name="chain-view-refresh", daemon=True).start()
