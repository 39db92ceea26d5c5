"""The engine's side of policies: build each round's observations, call the agents' policies and
carry out their actions as transactions, recording every action that reverted (with the
contract's reason) rather than dropping it. Agents without a policy keep the default behaviour
(orchestrators: reward with the group's `reward` probability; delegators: their own process in
lpsim.delegator), so a scenario that names no policy runs exactly as before.
"""
from __future__ import annotations

import csv
from functools import cached_property
from pathlib import Path

from node.eth import TransactionFailed

from . import policies as pol
from .results import POLICY_ACTIONS_FILE as ACTIONS_FILE

LPT_F = 1e18


class ChainDelegatorObservation(pol.DelegatorObservation):
    """A DelegatorObservation whose chain fields (bonded, delegate, balance, unbonding; and
    pending_fees apart) are read from the contracts when a policy first uses one of them.
    Most delegators sit most rounds out (a policy's inertia draw comes first), and an observation
    that nobody reads then costs no contract call; one that is read is what the eager one was."""

    def __init__(self, behaviour: Behaviour, d, round_: int, net: pol.Network) -> None:
        for name, value in (("name", d.name), ("network", net), ("rng", d.policy_rng),
                            ("_source", (behaviour, d, round_))):
            object.__setattr__(self, name, value)

    @cached_property
    def _state(self) -> tuple:
        behaviour, d, round_ = self._source
        return behaviour.delegator_state(d, round_)

    def read(self) -> None:
        self._state  # noqa: B018 (read now)

    @cached_property
    def pending_fees(self) -> float:  # type: ignore[override]
        behaviour, d, round_ = self._source
        return behaviour.delegator_fees(d, round_) if self.bonded else 0.0

    bonded = property(lambda self: self._state[0])
    delegate = property(lambda self: self._state[1])
    balance = property(lambda self: self._state[2])
    unbonding = property(lambda self: self._state[3])


class ChainOrchestratorObservation(pol.OrchestratorObservation):
    """An OrchestratorObservation whose `self_bond` and `balance` (free LPT) are read when a
    policy first uses them (reward_when_profitable needs the self-bond only when the reward cut
    alone does not pay the gas; only an orchestrator outside the set looks at its balance)."""

    def __init__(self, *fields, read_self_bond, read_balance) -> None:
        for f, value in zip(("name", "network", "me", "expected_reward", "reward_gas", "rng"), fields):
            object.__setattr__(self, f, value)
        object.__setattr__(self, "_reads", (read_self_bond, read_balance))

    @cached_property
    def self_bond(self) -> float:  # type: ignore[override]
        return self._reads[0]()

    @cached_property
    def balance(self) -> float:  # type: ignore[override]
        return self._reads[1]()


class Behaviour:
    def __init__(self, sim) -> None:
        self.sim = sim
        self.world = sim.world
        self.names = {o.address: o.name for o in sim.orchestrators}
        self.names_by_word = {int(o.address, 16): o.name for o in sim.orchestrators}  # a delegate read as a word
        self.calls = sim.world.calls
        self.by_name = {o.name: o for o in sim.orchestrators}
        self.actions: list[tuple] = []  # (time, round, entity, action, ok, reason)
        # address -> its unwithdrawn unbonding locks: (id, amount, withdraw round), read once when made
        self.locks: dict[str, list[tuple[int, int, int]]] = {}

    # ------------------------------------------------------------------ observations

    def network(self, round_: int, bonding_rate: float) -> pol.Network:
        sim, p = self.sim, self.world.protocol
        per_year = 365.25 * 86400 / (self.world.round_length * self.world.block_time)
        infos = tuple(pol.OrchestratorInfo(
            o.name, o.stake / LPT_F, o.reward_cut, o.fee_share, o.address in sim.stakes,
            o.reward_last_round * (1 - o.reward_cut) / o.stake * per_year if o.stake else 0.0)
            for o in sim.orchestrators)
        index = round_ - sim.first_round
        calls = self.calls
        return pol.Network(round_, per_year, bonding_rate, calls.uint(p.Minter.targetBondingRate) / 1e9,
                           calls.uint(p.Minter.inflation) / 1e9, calls.uint(p.Minter.getGlobalTotalSupply) / LPT_F, infos,
                           sim.series.at(index), sim.series.at(index - 1),
                           calls.uint(p.BondingManager.getTranscoderPoolMaxSize))

    # ------------------------------------------------------------------ orchestrators

    def orchestrator_round(self, o, round_: int, net: pol.Network, active_stake: int) -> tuple[int, int]:
        """Run `o`'s policy for `round_`; the LPT its reward call minted (stake, treasury)."""
        p = self.world.protocol
        bm = p.BondingManager
        if self.locks.get(o.address):
            self._withdraw_matured(o, round_)
        info = net.orchestrator(o.name)
        expected = net.total_supply * net.inflation * (o.stake / active_stake) if info.active and active_stake else 0.0
        obs = ChainOrchestratorObservation(o.name, net, info, expected, pol.REWARD_GAS, o.policy_rng,
                                           read_self_bond=lambda: self.calls.uint(bm.pendingStake, o.address, round_) / LPT_F,
                                           read_balance=lambda: self.calls.uint(p.LivepeerToken.balanceOf, o.address) / LPT_F)
        minted = (0, 0)
        for action in pol.decide(o.policy_spec.function, obs, o.policy_spec.params, pol.ORCHESTRATOR_ACTIONS):
            if isinstance(action, pol.CallReward):
                minted = o.reward_now(info.active)
                self._record(o.name, round_, action, o.reward_error)
            elif isinstance(action, pol.SetTerms):
                cut = o.reward_cut if action.reward_cut is None else float(action.reward_cut)
                share = o.fee_share if action.fee_share is None else float(action.fee_share)
                if self._transact(o.name, round_, action, bm.transcoder, round(cut * 1e6), round(share * 1e6),
                                  sender=o.account):
                    o.reward_cut, o.fee_share = cut, share
            elif isinstance(action, pol.Leave):
                lock_id = self.calls.words(bm.getDelegator, o.address)[-1]
                if self._transact(o.name, round_, action, bm.unbond, bm.pendingStake(o.address, round_),
                                  sender=o.account):
                    self._add_lock(o.address, lock_id)
            elif isinstance(action, pol.Join):
                self._join(o, round_, action)
        return minted

    def _join(self, o, round_: int, action) -> None:
        """Bond the free LPT to itself, then `transcoder(cut, share)`: registers it and lets the
        contract take it into the active set (or not); its service URI once, as at genesis."""
        p = self.world.protocol
        bm = p.BondingManager
        amount = p.LivepeerToken.balanceOf(o.address)
        if amount and not (self._transact(o.name, round_, action, p.LivepeerToken.approve, bm.address, amount,
                                          sender=o.account)
                           and self._transact(o.name, round_, action, bm.bond, amount, o.address, sender=o.account)):
            return
        if self._transact(o.name, round_, action, bm.transcoder, round(o.reward_cut * 1e6), round(o.fee_share * 1e6),
                          sender=o.account) and not p.ServiceRegistry.getServiceURI(o.address):
            p.ServiceRegistry.setServiceURI(o.service_uri, sender=o.account)

    # ------------------------------------------------------------------ delegators

    def delegator_round(self, d, round_: int, net: pol.Network) -> None:
        if self.locks.get(d.address):
            self._withdraw_matured(d, round_)
        obs = ChainDelegatorObservation(self, d, round_, net)
        actions = pol.decide(d.policy_spec.function, obs, d.policy_spec.params, pol.DELEGATOR_ACTIONS)
        if actions:
            obs.read()  # what the delegator saw before acting, whether its policy looked or not
        for action in actions:
            self._delegator_action(d, round_, action, obs)

    def delegator_state(self, d, round_: int) -> tuple:
        """(pending stake, delegate's name, free balance, unbonding), LPT floats."""
        p, calls = self.world.protocol, self.calls
        bm = p.BondingManager
        bonded, _, delegate, *_ = calls.words(bm.getDelegator, d.address)
        pending = calls.uint(bm.pendingStake, d.address, round_) if bonded else 0
        unbonding = sum(amount for _, amount, _ in self.locks.get(d.address, ()))
        return (pending / LPT_F, self.names_by_word.get(delegate) if pending else None,
                calls.uint(p.LivepeerToken.balanceOf, d.address) / LPT_F, unbonding / LPT_F)

    def delegator_fees(self, d, round_: int) -> float:
        """ETH fees the delegator could claim now."""
        return self.world.protocol.BondingManager.pendingFees(d.address, round_) / 1e18

    def _delegator_action(self, d, round_: int, action, obs: pol.DelegatorObservation) -> None:
        p = self.world.protocol
        bm = p.BondingManager
        if isinstance(action, (pol.Bond, pol.Move, pol.Rebond)) and getattr(action, "to", None) is not None \
                and action.to not in self.by_name:
            self._record(d.name, round_, action, f"unknown orchestrator {action.to!r}")
            return
        if isinstance(action, pol.Bond):
            balance = self.calls.uint(p.LivepeerToken.balanceOf, d.address)
            amount = balance if action.amount is None else min(balance, int(action.amount * LPT_F))
            to = self.by_name[action.to].address
            if self._transact(d.name, round_, action, p.LivepeerToken.approve, bm.address, amount, sender=d.account):
                self._transact(d.name, round_, action, bm.bond, amount, to, sender=d.account)
        elif isinstance(action, pol.Move):
            self._transact(d.name, round_, action, bm.bond, 0, self.by_name[action.to].address, sender=d.account)
        elif isinstance(action, pol.Unbond):
            amount = self.calls.uint(bm.pendingStake, d.address, round_)
            if action.amount is not None:
                amount = min(amount, int(action.amount * LPT_F))
            lock_id = self.calls.words(bm.getDelegator, d.address)[-1]
            if self._transact(d.name, round_, action, bm.unbond, amount, sender=d.account):
                self._add_lock(d.address, lock_id)
        elif isinstance(action, pol.Rebond):
            locks = self.locks.get(d.address)
            if not locks:
                self._record(d.name, round_, action, "no unbonding lock to rebond")
                return
            lock_id = locks[-1][0]
            ok = (self._transact(d.name, round_, action, bm.rebond, lock_id, sender=d.account) if obs.delegate
                  else self._transact(d.name, round_, action, bm.rebondFromUnbonded,
                                      self.by_name[action.to].address if action.to else
                                      max(self.sim.orchestrators, key=lambda o: o.stake).address, lock_id,
                                      sender=d.account))
            if ok:
                locks.pop()

    def _add_lock(self, address: str, lock_id: int) -> None:
        amount, withdraw_round = self.calls.words(self.world.protocol.BondingManager.getDelegatorUnbondingLock,
                                                  address, lock_id)
        self.locks.setdefault(address, []).append((lock_id, amount, withdraw_round))

    def _withdraw_matured(self, d, round_: int) -> None:
        """Withdraw the locks whose unbonding period is over (what a wallet would do; a lock's
        withdraw round is fixed when it is made, so no read is needed until then)."""
        bm = self.world.protocol.BondingManager
        keep = []
        for lock in self.locks.get(d.address, ()):
            if lock[2] <= round_:
                self._transact(d.name, round_, "withdraw", bm.withdrawStake, lock[0], sender=d.account)
            else:
                keep.append(lock)
        self.locks[d.address] = keep

    # ------------------------------------------------------------------ timeline events

    def timeline(self, event):
        """A SimPy process: at `event.at`, the protocol owner calls each governance setter
        (entity "governance"; a reverted one with its reason), the orchestrators in `down` go down
        and those in `up` come back (entity: the orchestrator), and the shocks, already applied to
        the series by the engine, are recorded (entity "series")."""
        from .scenario import GOVERNANCE_SETTERS

        world = self.world
        yield world.env.timeout(max(0.0, event.at - world.env.now))
        world.sync()
        round_ = world.current_round()
        if event.set is not None:
            for name in event.set.model_dump(exclude_none=True):
                value = getattr(event.set, name)  # the parsed int (the dump writes LPT amounts as "5 LPT")
                contract, setter = GOVERNANCE_SETTERS[name]
                fn = getattr(getattr(world.protocol, contract), setter)
                self._transact("governance", round_, f"{name}={value}", fn, value, sender=world.protocol.owner)
        scenario = self.sim.scenario
        for online, names in ((False, event.down), (True, event.up)):
            for name in scenario.orchestrator_names(names):
                self.by_name[name].set_online(online)
                self._record(name, round_, "up" if online else "down", None)
        for name, shock in event.shock.items():
            self._record("series", round_, f"{name}*={shock.multiply:g}" if shock.multiply is not None
                         else f"{name}={shock.set:g}", None)

    # ------------------------------------------------------------------ records

    def _transact(self, entity: str, round_: int, action, fn, *args, sender) -> bool:
        try:
            self.calls.send(fn, *args, sender=sender)  # (nobody reads these transactions' events)
        except TransactionFailed as exc:
            self._record(entity, round_, action, exc.reason or str(exc))
            return False
        self._record(entity, round_, action, None)
        return True

    def _record(self, entity: str, round_: int, action, error: str | None) -> None:
        text = action if isinstance(action, str) else repr(action)
        self.actions.append((round(self.world.env.now, 6), round_, entity, text, error is None, error or ""))

    def write(self, out: Path) -> None:
        """policy_actions.csv: every action a policy returned, whether it went through and why not."""
        if not self.actions:
            return
        with open(out / ACTIONS_FILE, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(("time", "round", "entity", "action", "ok", "revert_reason"))
            w.writerows(self.actions)
