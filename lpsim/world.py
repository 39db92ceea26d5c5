"""The simulated world's clock and chain: SimPy time mapped to L1 blocks and rounds, the protocol
deployed on an in-process EVM, and the chain view the protocol core reads.

Simulated time 0 is the first block of the first round after genesis. Block `b` happens at
`(b - block0) × block_time`; every transaction made at simulated time `t` lands in the block of
`t` (several transactions share a block, as on the network), so round initialisation, reward
calls, ticket expiry and unbonding happen when they would.
"""
from __future__ import annotations

import simpy

from node.eth import Account, FastChain, Protocol, ProtocolParams, RevmChain, deploy_protocol
from node.eth.deploy import MINTER_ROLE
from node.eth.payments import CachedChainView, ProtocolChainView

from .calls import Calls

BACKENDS = {"revm": RevmChain, "fast": FastChain}
_MISSING = object()


class SimChainView(CachedChainView):
    """node.core.chain_view.ChainView for the simulation: the node's cached view, except that an
    answer stays fresh until the next transaction or block rather than for a wall-clock TTL
    (payments read sender funds for every ticket; the chain only changes when something is
    mined), a round's block hash is kept once set, and the last seen block is simulated time's."""

    def __init__(self, world: "World") -> None:
        super().__init__(ProtocolChainView(world.protocol, world.gas_price))
        self.world = world
        self._chain = world.chain
        self._tx_count = self._block = -1  # the chain's version the cache holds answers for
        self._hashes: dict[int, bytes] = {}  # a round's block hash never changes once set

    def _fresh(self) -> dict:
        """The cache, emptied first if a transaction or a block happened since it was filled."""
        chain, cache = self._chain, self._cache
        if chain._tx_count != self._tx_count or chain.block_number != self._block:
            cache.clear()
            self._tx_count, self._block = chain._tx_count, chain.block_number
        return cache

    def _get(self, key, read, *args):
        cache = self._fresh()
        value = cache.get(key, _MISSING)
        if value is _MISSING:
            value = cache[key] = read(*args)
        return value

    # The reads made for every ticket and offer, without _get's indirection (same cache, same keys).
    def sender_info(self, sender: str):
        cache = self._fresh()
        value = cache.get(("sender", sender))
        if value is None:
            value = cache[("sender", sender)] = self.base.sender_info(sender)
        return value

    def transcoder_pool_size(self) -> int:
        cache = self._fresh()
        value = cache.get("pool")
        if value is None:
            value = cache["pool"] = self.base.transcoder_pool_size()
        return value

    def claimed_reserve(self, reserve_holder: str, claimant: str) -> int:
        cache, key = self._fresh(), ("claimed", reserve_holder, claimant)
        value = cache.get(key)
        if value is None:  # read for every (gateway, orchestrator) offer
            if self.sender_info(reserve_holder).reserve.claimed_in_current_round == 0:
                # TicketBroker adds a claim to the round's total and to the claimant's own count
                # together: a total of 0 (read in this same state) means no claimant's count is above 0
                value = cache[key] = 0
            else:
                world = self.world
                value = cache[key] = world.calls.uint(world.protocol.TicketBroker.claimedReserve, reserve_holder,
                                                      claimant)
        return value

    def is_active(self, orchestrator: str) -> bool:
        """Read for every orchestrator a discovery considers: through lpsim.calls' fast path."""
        cache, key = self._fresh(), ("active", orchestrator)
        value = cache.get(key, _MISSING)
        if value is _MISSING:
            world = self.world
            value = cache[key] = bool(world.calls.uint(world.protocol.BondingManager.isActiveTranscoder, orchestrator))
        return value

    def block_hash_for_round(self, round_: int) -> bytes:
        value = self._hashes.get(round_)
        if value is None:
            value = self.base.block_hash_for_round(round_)
            if any(value):
                self._hashes[round_] = value
        return value

    def last_seen_block(self) -> int:
        return self.world.block_now()


class World:
    """The environment, the chain and the deployed protocol, and the time ↔ block mapping."""

    def __init__(self, params: ProtocolParams, *, backend: str, num_accounts: int, block_time: float,
                 gas_price: int) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"the simulator runs on {sorted(BACKENDS)} (got {backend!r}): "
                             "it needs a backend whose blocks can hold many transactions")
        self.env = simpy.Environment()
        self.block_time = block_time
        self.gas_price = gas_price
        self.chain = BACKENDS[backend](num_accounts=num_accounts, gas_price=gas_price)
        # LPT is minted explicitly (stakes and the rest of the supply), not per account.
        self.protocol: Protocol = deploy_protocol(self.chain, params.with_(lpt_per_account=0))
        self.round_length = params.round_length
        self.view = SimChainView(self)
        self.calls = Calls(self.chain)  # the hot path's views and event-less transactions (lpsim.calls)
        self.block0 = 0
        self.ts0 = 0

    @property
    def accounts(self) -> list[Account]:
        return self.chain.accounts

    def open_genesis_block(self) -> None:
        """Put every genesis transaction (mints, bonds, registrations, funding) in one block, so a
        large network does not spill into an uninitialised round while it is being set up."""
        self.chain.open_block(self.chain.block_number + 1, self.chain.timestamp + 1)

    def mint(self, amounts: dict[str, int]) -> None:
        """Genesis LPT: `amounts` maps address → LPT wei."""
        token, owner = self.protocol.LivepeerToken, self.protocol.owner
        token.grantRole(MINTER_ROLE, owner.address, sender=owner)
        for address, amount in amounts.items():
            if amount:
                token.mint(address, amount, sender=owner)
        token.revokeRole(MINTER_ROLE, owner.address, sender=owner)

    def start_clock(self) -> None:
        """Genesis is over: move to the next round's first block, initialise it, call it time 0."""
        self.protocol.next_round()
        self.block0 = self.chain.block_number
        self.ts0 = self.chain.timestamp

    # ---------------------------------------------------------------------- time and blocks

    def block_at(self, t: float) -> int:
        return self.block0 + int(t // self.block_time)

    def block_now(self) -> int:
        return self.block_at(self.env.now)

    def time_of_block(self, block: int) -> float:
        return (block - self.block0) * self.block_time

    def round_of_block(self, block: int) -> int:
        return block // self.round_length

    def time_of_round(self, round_: int) -> float:
        return self.time_of_block(round_ * self.round_length)

    def current_round(self) -> int:
        return self.round_of_block(self.block_now())

    def sync(self) -> None:
        """Bring the chain to the block of the current simulated time; transactions from now on
        land in that block until time moves on."""
        chain, target = self.chain, self.block_now()
        if chain.block_number < target:
            chain.mine(target - 1 - chain.block_number)
            chain.open_block(target, self.ts0 + int((target - self.block0) * self.block_time))
        elif chain.block_number == target and chain._open is None:
            chain.open_block(target, chain.timestamp)


