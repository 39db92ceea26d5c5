"""A simulated delegator: bonds LPT to an orchestrator at genesis and, round by round, may unbond,
withdraw once the unbonding period is over, bond again later, and claim its earnings — all as
transactions on the simulated chain, so stake, rewards and fees are the contracts' figures.
"""
from __future__ import annotations

import numpy as np

from node.eth import Account, TransactionFailed

from .world import World

BOND_POLICIES = ("stake_weighted", "uniform", "lowest_cut")


def choose_orchestrator(policy: str, orchestrators: list, stakes: dict[str, int], rng: np.random.Generator):
    """Pick an orchestrator for a delegation: in proportion to stake, uniformly, or the lowest
    reward cut (ties by stake)."""
    if policy == "uniform":
        return orchestrators[int(rng.integers(len(orchestrators)))]
    if policy == "lowest_cut":
        return min(orchestrators, key=lambda o: (o.reward_cut, -stakes.get(o.address, 0)))
    weights = np.array([float(stakes.get(o.address, 0)) for o in orchestrators])
    if weights.sum() <= 0:
        return orchestrators[int(rng.integers(len(orchestrators)))]
    return orchestrators[int(rng.choice(len(orchestrators), p=weights / weights.sum()))]


class SimDelegator:
    def __init__(self, world: World, name: str, account: Account, *, policy: str, unbond_probability: float,
                 rebond_after: float | None, claim_every: float | None, rng: np.random.Generator) -> None:
        self.world, self.name, self.account = world, name, account
        self.address = account.address
        self.policy = policy
        self.unbond_probability = unbond_probability
        self.rebond_after = rebond_after
        self.claim_every = claim_every
        self.rng = rng
        self.delegate: str | None = None
        self.unbonds = self.rebonds = self.claims = 0

    def bond(self, amount: int, orchestrators: list, stakes: dict[str, int]) -> None:
        target = choose_orchestrator(self.policy, orchestrators, stakes, self.rng)
        self.world.protocol.approve_and_bond(self.account, amount, target.address)
        self.delegate = target.address

    def start(self, orchestrators: list, stakes: dict[str, int]) -> None:
        self.world.env.process(self._life(orchestrators, stakes))

    def _life(self, orchestrators: list, stakes: dict[str, int]):
        world, env = self.world, self.world.env
        bm = world.protocol.BondingManager
        last_claim = 0.0
        while True:
            # act once per round, just after it starts
            yield env.timeout(world.time_of_round(world.current_round() + 1) - env.now + world.block_time)
            world.sync()
            round_ = world.current_round()
            if self.delegate is None:
                continue
            if self.claim_every is not None and env.now - last_claim >= self.claim_every:
                if self._transact(bm.claimEarnings, round_):
                    self.claims += 1
                last_claim = env.now
            if self.unbond_probability and self.rng.random() < self.unbond_probability:
                amount = bm.pendingStake(self.address, round_)
                lock_id = bm.getDelegator(self.address)[-1]  # nextUnbondingLockId: the lock unbond creates
                if amount and self._transact(bm.unbond, amount):
                    self.unbonds += 1
                    self.delegate = None
                    yield from self._withdraw_and_return(lock_id, orchestrators, stakes)

    def _withdraw_and_return(self, lock_id: int, orchestrators: list, stakes: dict[str, int]):
        world, env = self.world, self.world.env
        bm = world.protocol.BondingManager
        _, withdraw_round = bm.getDelegatorUnbondingLock(self.address, lock_id)
        yield env.timeout(max(0.0, world.time_of_round(withdraw_round) - env.now) + world.block_time)
        world.sync()
        amount = world.protocol.LivepeerToken.balanceOf(self.address)
        self._transact(bm.withdrawStake, lock_id)
        if self.rebond_after is None:
            return
        yield env.timeout(self.rebond_after)
        world.sync()
        amount = world.protocol.LivepeerToken.balanceOf(self.address)
        if amount:
            try:
                self.bond(amount, orchestrators, stakes)
                self.rebonds += 1
            except TransactionFailed:
                pass

    def _transact(self, fn, *args) -> bool:
        try:
            fn(*args, sender=self.account)
            return True
        except TransactionFailed:
            return False
