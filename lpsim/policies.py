"""Behaviour policies: what delegators and orchestrators choose to do each round.

A policy is a plain Python callable named in the scenario (`policy: {name: module:function,
params: {...}}`, or a shipped name such as `yield_seeking`). Once a round, just after the round
is initialised, the engine calls it with a read-only observation and the group's `params`:

    def my_policy(obs: DelegatorObservation, params: Mapping[str, Any]) -> Iterable[Action]

and carries out the actions it returns as transactions on the simulated chain, in order. A
reverted action is recorded (`policy_actions.csv`, with the contract's revert reason) and the
round goes on. A policy that raises stops the run with a PolicyError naming the entity and round.
Every amount is in LPT (floats); every rate is a fraction (0.5 = 50 %); yields are annual.
docs/policies.md documents the interface; this module is its reference.
"""
from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

# --------------------------------------------------------------------------- observations

@dataclass(frozen=True)
class OrchestratorInfo:
    """One orchestrator as everybody sees it on chain."""

    name: str
    stake: float  # LPT: total stake bonded to it
    reward_cut: float  # fraction of rewards it keeps
    fee_share: float  # fraction of fees it passes to delegators
    active: bool
    reward_yield: float  # annualised reward yield to its delegators, net of its cut, last round
    fee_yield: float = 0.0  # annualised fee yield to its delegators (ETH fees valued in LPT), last round

    @property
    def net_yield(self) -> float:
        return self.reward_yield + self.fee_yield


@dataclass(frozen=True)
class Network:
    """What every policy sees of the network in this round."""

    round: int
    rounds_per_year: float
    bonding_rate: float  # total bonded / supply at this round's initialisation
    target_bonding_rate: float
    inflation: float  # fraction of supply minted per round
    total_supply: float  # LPT
    orchestrators: tuple[OrchestratorInfo, ...]
    series: Mapping[str, float]  # exogenous series at this round: lpt_usd, eth_usd, gas_price_gwei, ...
    previous_series: Mapping[str, float]  # the same one round earlier (equal at the first round)
    active_set_size: int = 100  # the BondingManager's pool size (numActiveTranscoders)

    def orchestrator(self, name: str) -> OrchestratorInfo | None:
        return self._by_name.get(name)

    # computed once per round for all its observers (a frozen dataclass: the values never change)
    @cached_property
    def _by_name(self) -> dict[str, OrchestratorInfo]:
        return {o.name: o for o in self.orchestrators}

    @cached_property
    def active(self) -> tuple[OrchestratorInfo, ...]:
        """The orchestrators in this round's active set."""
        return tuple(o for o in self.orchestrators if o.active)

    @cached_property
    def best(self) -> OrchestratorInfo | None:
        """The active orchestrator with the highest net yield (ties: the larger stake)."""
        return max(self.active, key=lambda o: (o.net_yield, o.stake), default=None)


@dataclass(frozen=True)
class DelegatorObservation:
    name: str
    network: Network
    bonded: float  # LPT: pending stake (bonded plus unclaimed rewards)
    pending_fees: float  # ETH
    delegate: str | None  # the orchestrator's name, None when not bonded
    balance: float  # LPT held unbonded (withdrawn), free to bond
    unbonding: float  # LPT in unbonding locks not yet withdrawn
    rng: np.random.Generator  # this delegator's own seeded stream


@dataclass(frozen=True)
class OrchestratorObservation:
    name: str
    network: Network
    me: OrchestratorInfo
    self_bond: float  # LPT bonded by the orchestrator itself
    expected_reward: float  # LPT that calling reward would mint for its pool this round
    reward_gas: int  # gas a reward call takes
    rng: np.random.Generator
    balance: float = 0.0  # LPT it holds unbonded (withdrawn): what Join would bond


# --------------------------------------------------------------------------- actions

@dataclass(frozen=True)
class Bond:
    """Bond `amount` LPT of the free balance (None: all of it) to orchestrator `to`."""

    to: str
    amount: float | None = None


@dataclass(frozen=True)
class Unbond:
    """Unbond `amount` LPT (None: all); it can be withdrawn after the unbonding period."""

    amount: float | None = None


@dataclass(frozen=True)
class Rebond:
    """Rebond the most recent unbonding lock (to the current delegate, or to `to` if unbonded)."""

    to: str | None = None


@dataclass(frozen=True)
class Move:
    """Move the whole bonded stake to orchestrator `to` (bond 0 to a new delegate)."""

    to: str


@dataclass(frozen=True)
class CallReward:
    """Orchestrator: call reward this round."""


@dataclass(frozen=True)
class SetTerms:
    """Orchestrator: set reward cut and fee share (fractions; None keeps the current one)."""

    reward_cut: float | None = None
    fee_share: float | None = None


@dataclass(frozen=True)
class Leave:
    """Orchestrator: unbond its whole self-bond: the contract resigns it from the active set at
    once; the lock is withdrawn once the unbonding period is over."""


@dataclass(frozen=True)
class Join:
    """Orchestrator: bond its free LPT to itself and (re)register with its terms; the contract
    takes it into the active set if the set has room, or if its stake strictly beats the
    smallest active stake, which it evicts (BondingManager._tryToJoinActiveSet)."""


Action = Bond | Unbond | Rebond | Move | CallReward | SetTerms | Leave | Join
DELEGATOR_ACTIONS = (Bond, Unbond, Rebond, Move)
ORCHESTRATOR_ACTIONS = (CallReward, SetTerms, Leave, Join)
Policy = Callable[[Any, Mapping[str, Any]], Iterable[Action]]


REWARD_GAS = 350_000  # gas of a BondingManager.reward call with hints, roughly, on Arbitrum


class PolicyError(RuntimeError):
    """A policy raised or returned something that is not an action."""


# --------------------------------------------------------------------------- shipped policies

def _noise(obs, params) -> float:
    sd = float(params.get("noise", 0.0))
    return float(obs.rng.normal(0.0, sd)) if sd > 0 else 0.0


def _price_return(net: Network) -> float:
    """Log return of LPT/USD over the last round (0 without a price series)."""
    now, before = net.series.get("lpt_usd"), net.previous_series.get("lpt_usd")
    return math.log(now / before) if now and before else 0.0


def yield_seeking(obs: DelegatorObservation, params: Mapping[str, Any]) -> list[Action]:
    """Compare yields net of reward cut with a required annual return.

    params: required_return (0.1), inertia (0.9: probability of doing nothing this round),
    unbond_fraction (0.5 of the stake when the yield falls short), switch_margin (0.02: move to
    the best orchestrator when it yields this much more), noise (0: sd of a normal added to the
    required return), price_sensitivity (0: the required return rises by this × the last
    round's LPT/USD log-return fall, i.e. delegators leave on price drops). Withdrawn LPT is
    bonded again (to its orchestrator, or to the best one when fully unbonded) once the yield
    clears the requirement."""
    if obs.rng.random() < float(params.get("inertia", 0.9)):
        return []
    net = obs.network
    required = float(params.get("required_return", 0.1)) + _noise(obs, params)
    required -= float(params.get("price_sensitivity", 0.0)) * _price_return(net)
    best = net.best
    if best is None:
        return []
    mine = net.orchestrator(obs.delegate) if obs.delegate else None
    if mine is not None and obs.bonded > 0:
        if mine.net_yield < required:
            return [Unbond(obs.bonded * float(params.get("unbond_fraction", 0.5)))]
        if best.net_yield - mine.net_yield > float(params.get("switch_margin", 0.02)):
            return [Move(best.name)]
        return [Bond(mine.name)] if obs.balance > 0 else []  # (bonding elsewhere would move the whole stake)
    if obs.balance > 0 and best.net_yield >= required:
        return [Bond(best.name)]
    return []


def hold_bonding_rate(obs: DelegatorObservation, params: Mapping[str, Any]) -> list[Action]:
    """Push the bonding rate towards `target` (the protocol's target when absent; `recorded`: the
    series `bonding_rate`, the chain's daily recorded rate on the round's date) outside a dead
    band `band` (0.005): bond or unbond this delegator's share of `step` (0.5) × the gap.

    The gap is |rate - target| × supply LPT; a delegator's share is its bonded stake / total
    bonded when unbonding, its free balance / unbonded supply when bonding, so however many
    delegators hold the rate together they never move more than the gap (no overshoot)."""
    net = obs.network
    target = params.get("target", net.target_bonding_rate)
    if target == "recorded":  # the chain's recorded path (network_start.recorded_bonding_rate)
        if "bonding_rate" not in net.series:
            raise ValueError("hold_bonding_rate: target: recorded needs the run's `bonding_rate` series "
                             "(network_start.recorded_bonding_rate, a run started from_network: <date>)")
        target = net.series["bonding_rate"]
    target = float(target)
    band, step = float(params.get("band", 0.005)), float(params.get("step", 0.5))
    gap = (net.bonding_rate - target) * net.total_supply
    bonded_total = net.bonding_rate * net.total_supply
    if gap < -band * net.total_supply and obs.balance > 0:
        to = obs.delegate or max((o for o in net.orchestrators if o.active), key=lambda o: o.stake).name
        amount = min(obs.balance, step * -gap * obs.balance / (net.total_supply - bonded_total))
        return [Bond(to, amount)]
    if gap > band * net.total_supply and obs.bonded > 0:
        return [Unbond(step * gap * obs.bonded / bonded_total)]
    return []


def _entry_probability(rate: float, sensitivity: float, surplus: float) -> float:
    return min(1.0, rate * math.exp(max(-50.0, min(50.0, sensitivity * surplus))))


def enter_and_exit(obs: DelegatorObservation, params: Mapping[str, Any]) -> list[Action]:
    """Population flows: new delegators enter, delegators exit for good.

    Outside (nothing bonded, free LPT): enters, bonding all of it, with probability
    `entry_rate` (0.01 a round) × exp(`sensitivity` (10) × (best active net yield − required)).
    Inside: exits, unbonding everything (withdrawn once the unbonding period is over), with
    probability `exit_rate` (0.002 a round) × exp(−`sensitivity` × (its orchestrator's net yield −
    required)). required = `required_return` (0.1) + normal noise (`noise`, 0) −
    `price_sensitivity` (0) × LPT/USD's last log-return, as in yield_seeking. An entrant bonds to
    `choose`: "stake_weighted" (default: drawn in proportion to active stake) or "best" (highest
    net yield). One draw a round whatever happens, so the stream does not depend on the path."""
    u = obs.rng.random()
    net = obs.network
    required = float(params.get("required_return", 0.1)) + _noise(obs, params)
    required -= float(params.get("price_sensitivity", 0.0)) * _price_return(net)
    sensitivity = float(params.get("sensitivity", 10.0))
    active = net.active
    if obs.bonded > 0:
        mine = net.orchestrator(obs.delegate) if obs.delegate else None
        surplus = (mine.net_yield if mine else 0.0) - required
        return [Unbond()] if u < _entry_probability(float(params.get("exit_rate", 0.002)), -sensitivity, surplus) else []
    if obs.balance <= 0 or not active:
        return []
    best = net.best
    if u >= _entry_probability(float(params.get("entry_rate", 0.01)), sensitivity, best.net_yield - required):
        return []
    if params.get("choose", "stake_weighted") == "best":
        return [Bond(best.name)]
    weights = np.array([o.stake for o in active])
    pick = int(obs.rng.choice(len(active), p=weights / weights.sum())) if weights.sum() > 0 else 0
    return [Bond(active[pick].name)]


def passive(obs: Any, params: Mapping[str, Any]) -> list[Action]:
    """Never act (a delegator that stays bonded where it is)."""
    return []


def always_reward(obs: OrchestratorObservation, params: Mapping[str, Any]) -> list[Action]:
    """Call reward every round it is active."""
    return [CallReward()]


def compete_for_stake(obs: OrchestratorObservation, params: Mapping[str, Any]) -> list[Action]:
    """Call reward (when `reward`, default true) and adapt its terms to the competition for stake.

    When its delegators' net yield ranks below the median of the active set's, it lowers its
    reward cut and raises its fee share by `step` (0.01), within [`min_cut` 0, `max_cut` 0.5] and
    [`min_share` 0, `max_share` 1]; when over-subscribed (its stake above `over` (2) × the active
    set's median stake) it raises the cut and lowers the share by `step` back. The new terms go on
    chain through BondingManager.transcoder(rewardCut, feeShare), as the node sets them."""
    step = float(params.get("step", 0.01))
    lo_cut, hi_cut = float(params.get("min_cut", 0.0)), float(params.get("max_cut", 0.5))
    lo_share, hi_share = float(params.get("min_share", 0.0)), float(params.get("max_share", 1.0))
    actions: list[Action] = [CallReward()] if params.get("reward", True) else []
    active, me = obs.network.active, obs.me
    if not active or not me.active:
        return actions
    cut, share = me.reward_cut, me.fee_share
    if me.net_yield < float(np.median([o.net_yield for o in active])):
        cut, share = max(lo_cut, cut - step), min(hi_share, share + step)
    elif me.stake > float(params.get("over", 2.0)) * float(np.median([o.stake for o in active])):
        cut, share = min(hi_cut, cut + step), max(lo_share, share - step)
    if (cut, share) != (me.reward_cut, me.fee_share):
        actions.append(SetTerms(round(cut, 6), round(share, 6)))
    return actions


def reward_when_profitable(obs: OrchestratorObservation, params: Mapping[str, Any]) -> list[Action]:
    """Call reward only when what the orchestrator keeps is worth the gas.

    Kept = expected reward × (reward cut + (1 - reward cut) × self-bond share of its stake), in USD
    at lpt_usd; cost = reward_gas × gas_price_gwei × 1e-9 × eth_usd. Calls when kept ≥ cost ×
    `margin` (1). Without price series it always calls. `reward_cut`/`fee_share` in params set
    its terms once, at the first round it acts."""
    actions: list[Action] = []
    if ("reward_cut" in params or "fee_share" in params) and (
            obs.me.reward_cut != params.get("reward_cut", obs.me.reward_cut)
            or obs.me.fee_share != params.get("fee_share", obs.me.fee_share)):
        actions.append(SetTerms(params.get("reward_cut"), params.get("fee_share")))
    if reward_pays(obs, float(params.get("margin", 1.0))):
        actions.append(CallReward())
    return actions


def join_when_profitable(obs: OrchestratorObservation, params: Mapping[str, Any]) -> list[Action]:
    """Enter the active set when it pays, leave it when it does not.

    Outside the set: Join when its stake (self-bond + free LPT + what is delegated to it) would
    make the set (room, or strictly more than the smallest active stake) and the reward it would
    then mint, valued at lpt_usd, covers `margin` (1) × its cost a round: `cost_usd_per_month`
    (0) / months + a reward call's gas at gas_price_gwei × eth_usd. In the set: calls reward when
    it pays (reward_when_profitable, the same params) and, when what it keeps of the expected
    reward is below that cost, Leaves with probability `leave_rate` (0.1) a round. Without the
    price series it joins whenever it would make the set and never leaves."""
    net, s = obs.network, obs.network.series
    priced = {"lpt_usd", "eth_usd", "gas_price_gwei"} <= s.keys()
    cost = (float(params.get("cost_usd_per_month", 0.0)) * 12 / net.rounds_per_year
            + (obs.reward_gas * s["gas_price_gwei"] * 1e-9 * s["eth_usd"] if priced else 0.0))
    margin = float(params.get("margin", 1.0))
    if not obs.me.active:
        stake = obs.me.stake + obs.balance
        active = sorted((o.stake for o in net.orchestrators if o.active and o.name != obs.name), reverse=True)
        full = len(active) >= net.active_set_size
        if stake <= 0 or (full and stake <= active[-1]):
            return []
        total = sum(active[:-1] if full else active) + stake
        reward = net.total_supply * net.inflation * stake / total
        own = (obs.self_bond + obs.balance) / stake
        kept = reward * (obs.me.reward_cut + (1 - obs.me.reward_cut) * own)
        return [Join()] if not priced or kept * s["lpt_usd"] >= margin * cost else []
    actions = reward_when_profitable(obs, params)
    if priced and cost > 0:
        share = obs.self_bond / obs.me.stake if obs.me.stake else 0.0
        kept = obs.expected_reward * (obs.me.reward_cut + (1 - obs.me.reward_cut) * share) * s["lpt_usd"]
        if kept < cost and obs.rng.random() < float(params.get("leave_rate", 0.1)):
            actions.append(Leave())
    return actions


def reward_pays(obs: OrchestratorObservation, margin: float = 1.0) -> bool:
    s = obs.network.series
    if not {"lpt_usd", "eth_usd", "gas_price_gwei"} <= s.keys():
        return True
    cost = obs.reward_gas * s["gas_price_gwei"] * 1e-9 * s["eth_usd"]
    if obs.expected_reward * obs.me.reward_cut * s["lpt_usd"] >= cost * margin:
        return True  # the cut alone pays: no need to look at the self-bond
    share = obs.self_bond / obs.me.stake if obs.me.stake else 0.0
    kept = obs.expected_reward * (obs.me.reward_cut + (1 - obs.me.reward_cut) * share) * s["lpt_usd"]
    return kept >= cost * margin


SHIPPED: dict[str, Policy] = {f.__name__: f for f in (yield_seeking, hold_bonding_rate, enter_and_exit, passive,
                                                      always_reward, reward_when_profitable, join_when_profitable,
                                                      compete_for_stake)}


def resolve(name: str) -> Policy:
    """A shipped policy by name, or `package.module:function` (ValueError naming what failed)."""
    if name in SHIPPED:
        return SHIPPED[name]
    module, sep, attr = name.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"unknown policy {name!r}: expected one of {', '.join(SHIPPED)} or module:function")
    try:
        target: Any = importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"policy {name!r}: cannot import {module!r} ({exc})") from None
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ValueError(f"policy {name!r}: {module!r} has no {attr!r}")
    if not callable(target):
        raise ValueError(  # noqa: TRY004 (pydantic reports ValueErrors at the field)
            f"policy {name!r} is not callable")
    return target


@dataclass(frozen=True)
class PolicySpec:
    """A policy as the scenario names it: `name` and its `params`."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def function(self) -> Policy:
        return resolve(self.name)


def decide(policy: Policy, obs: Any, params: Mapping[str, Any], allowed: tuple) -> list[Action]:
    """Call `policy`; its actions as a list, or PolicyError naming the entity and round."""
    try:
        actions = list(policy(obs, params) or ())
    except Exception as exc:
        raise PolicyError(f"policy {getattr(policy, '__name__', policy)!r} of {obs.name} raised in round "
                          f"{obs.network.round}: {type(exc).__name__}: {exc}") from exc
    for a in actions:
        if not isinstance(a, allowed):
            raise PolicyError(f"policy of {obs.name} returned {a!r} in round {obs.network.round}: expected one of "
                              f"{', '.join(t.__name__ for t in allowed)}")
    return actions
