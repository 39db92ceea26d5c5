"""Property-based tests of the deployed protocol: a hypothesis state machine drives random
sequences of bonding, unbonding, rebonding, withdrawals, rewards, winning tickets, fee
withdrawals, claims and round changes through the real contracts, and checks the invariants of
spec contracts.md §11.3 after every step:

1. stake accounting: nextRoundTotalActiveStake == Σ transcoderTotalStake over the pool (walked
   through getFirstTranscoderInPool / getNextTranscoderInPool), and for every delegate T,
   Σ pendingStake of T's delegators <= transcoderTotalStake(T) (claims round down, never up);
2. LPT conservation: totalSupply == initial supply + Σ minted (Reward + TreasuryReward events),
   Minted this round == Minter.currentMintedTokens <= currentMintableTokens, the Minter's LPT
   balance is exactly what was bonded + minted - withdrawn, and it covers Σ pendingStake +
   Σ outstanding unbonding locks;
3. nobody withdraws more than owed: withdrawStake pays exactly the lock once (a second attempt
   reverts "invalid unbonding lock ID"), withdrawFees above pendingFees reverts "insufficient fees
   to withdraw" and pays exactly the amount otherwise, and the Minter's ETH (exactly funded -
   withdrawn) covers the gateway's deposit + reserve + Σ pendingFees.

Also checked on the way: currentRoundTotalActiveStake changes only at initializeRound (to the
pending total), the pool is sorted and holds exactly the registered orchestrators, the model's
unbonding locks match the chain's, each orchestrator mints at most once a round, a ticket pays
exactly what the deposit and the reserve allotment (floor((funds + claimed) / poolSize)) allow and
only once, claimEarnings leaves pendingStake/pendingFees unchanged.

Every action predicts whether the protocol accepts it; a rejected one must fail with exactly the
revert string the spec gives, anything else fails the test.

Two tests share the machine: a scripted tour that takes every action's success path once (with
regressions for spec §11.2 item 2 and for a resigning orchestrator), and the hypothesis run
(derandomized, 15 examples of up to 20 steps) from the same starting network.

Speed (~70 s for the file on a 2-core machine): views are batched through a small Multicall
helper contract (one eth_call per check instead of ~50), a step that mined nothing is not
re-read, the starting network is built once per test and every hypothesis example runs on a
chain snapshot that its teardown reverts.
"""
from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from node.core.ticket import MAX_WIN_PROB, Ticket, recipient_rand_hash, sign_ticket
from node.eth import LPT, TransactionFailed
from node.eth.abi import decode_output, encode_args, selector
from node.eth.compiler import compile_source

ETH = 10**18
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
BONDERS = range(1, 6)  # accounts[1..5] bond / orchestrate
GATEWAY = 6  # accounts[6] funds tickets
PAYEE = 7  # accounts[7] only receives withdrawn fees (it never sends, so its balance moves exactly)
PENDING, BONDED, UNBONDED = 0, 1, 2  # BondingManager.delegatorStatus

# Shrinking a failure replays whole sequences hundreds of times (minutes at ~3 s a sequence), so
# it is off unless LPSIM_SHRINK=1: CI reports the failing sequence as found, and a developer
# re-runs with LPSIM_SHRINK=1 for a minimal one.
PROPERTY_SETTINGS = settings(
    max_examples=15,
    stateful_step_count=20,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    phases=[Phase.explicit, Phase.generate] + ([Phase.shrink] if os.environ.get("LPSIM_SHRINK") == "1" else []),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

# One eth_call for a whole batch of views (the views cost ~7 ms each through eth-tester).
MULTICALL_SOURCE = """
#pragma version ~=0.4.3
struct Call:
    target: address
    data: Bytes[100]

@external
@view
def aggregate(calls: DynArray[Call, 128]) -> DynArray[Bytes[320], 128]:
    out: DynArray[Bytes[320], 128] = []
    for c: Call in calls:
        out.append(raw_call(c.target, c.data, max_outsize=320, is_static_call=True))
    return out
"""


class Batch:
    """Queue view calls, run them in one Multicall eth_call, get the decoded results back."""

    def __init__(self, multicall):
        self.multicall = multicall
        self.calls: list[tuple[str, bytes]] = []
        self.entries: list[dict] = []

    def add(self, contract, fn: str, *args) -> int:
        entry = next(e for e in getattr(contract, fn).entries if len(e.get("inputs", [])) == len(args))
        self.calls.append((contract.address, selector(entry) + encode_args(entry.get("inputs", []), args)))
        self.entries.append(entry)
        return len(self.calls) - 1

    def run(self) -> list:
        outs = self.multicall.aggregate(self.calls) if self.calls else []
        return [decode_output(e, o) for e, o in zip(self.entries, outs)]


@dataclass(frozen=True)
class Delegator:
    bonded: int
    fees: int
    delegate: str
    delegated: int
    start_round: int
    last_claim_round: int
    next_lock_id: int


@dataclass(frozen=True)
class Transcoder:
    last_reward_round: int
    reward_cut: int
    fee_share: int
    last_active_stake_update_round: int
    activation_round: int
    deactivation_round: int
    active_cumulative_rewards: int
    cumulative_rewards: int
    cumulative_fees: int
    last_fee_round: int


@dataclass
class View:
    """Chain state read after each step (one batch); actions use it to predict outcomes."""

    round: int = 0
    delegators: dict = field(default_factory=dict)  # account index -> Delegator
    transcoders: dict = field(default_factory=dict)  # account index -> Transcoder
    pending_stake: dict = field(default_factory=dict)
    pending_fees: dict = field(default_factory=dict)
    pool: list = field(default_factory=list)  # addresses, walked from the head
    deposit: int = 0
    reserve: int = 0
    reserve_claimed_round: int = 0

    def status(self, i: int) -> int:
        d = self.delegators[i]
        if d.bonded == 0:
            return UNBONDED
        return PENDING if d.start_round > self.round else BONDED

    def registered(self, i: int, address: str) -> bool:
        d = self.delegators[i]
        return d.delegate == address and d.bonded > 0

    def active(self, i: int) -> bool:
        t = self.transcoders[i]
        return t.activation_round <= self.round < t.deactivation_round

    def claimed_stake(self, i: int) -> int:
        """bondedAmount right after the auto-claim a transaction of i's runs first."""
        d = self.delegators[i]
        return self.pending_stake[i] if d.last_claim_round < self.round else d.bonded

    def claimed_fees(self, i: int) -> int:
        d = self.delegators[i]
        return self.pending_fees[i] if d.last_claim_round < self.round else d.fees


def build_network(protocol, accounts):
    """The state every example starts from: orchestrators 1 (rewardCut 50 %, feeShare 25 %) and
    2 (10 %, 90 %) self-bonded and active, 4 delegating to 1, 3 and 5 unbonded, the gateway
    funded with 0.2 ETH deposit + 1 ETH reserve (tickets soon draw on the reserve), and every
    bonder's LPT approved for the BondingManager."""
    bm = protocol.BondingManager
    for i in BONDERS:
        protocol.LivepeerToken.approve(bm.address, 2**256 - 1, sender=accounts[i])
    bm.bond(2000 * LPT, accounts[1].address, sender=accounts[1])
    bm.transcoder(500_000, 250_000, sender=accounts[1])
    bm.bond(1000 * LPT, accounts[2].address, sender=accounts[2])
    bm.transcoder(100_000, 900_000, sender=accounts[2])
    bm.bond(1500 * LPT, accounts[1].address, sender=accounts[4])
    protocol.TicketBroker.fundDepositAndReserve(ETH // 5, ETH, sender=accounts[GATEWAY], value=ETH // 5 + ETH)
    protocol.next_round()


amounts = st.one_of(st.integers(1, 5000).map(lambda x: x * LPT), st.integers(0, 5000 * LPT))
bonder = st.sampled_from(list(BONDERS))
picks = st.integers(0, 63)
fractions = st.integers(1, 999)  # per mille
ACTIONS = (  # drawn uniformly (repeats weigh more)
    "bond", "bond", "unbond", "unbond", "rebond", "rebond_from_unbonded", "withdraw_stake", "withdraw_stake",
    "reward", "reward", "redeem_ticket", "redeem_ticket", "withdraw_fees", "claim_earnings", "set_transcoder",
    "fund_gateway", "next_round",
)
face_values = st.one_of(st.integers(1, ETH // 2), st.sampled_from([ETH // 100, ETH // 10, ETH // 4]))


def choose(pick: int, preferred: list, fallback: list):
    """Three times in four an element of `preferred` (when there is one), else of `fallback`."""
    if preferred and pick % 4:
        return preferred[(pick // 4) % len(preferred)]
    return fallback[pick % len(fallback)]


def make_machine(protocol, accounts, chain, multicall, stats: Counter):
    bm, tb, rm = protocol.BondingManager, protocol.TicketBroker, protocol.RoundsManager
    token, minter = protocol.LivepeerToken, protocol.Minter
    unbonding_period = bm.unbondingPeriod()
    # move to the next round before a step could run into the round lock (transcoder() is refused
    # there) or past the round's end (a step mines at most a couple of blocks)
    round_margin = rm.roundLength() * rm.roundLockAmount() // 10**6 + 3
    addr = {i: accounts[i].address for i in range(len(accounts))}
    gateway, payee = accounts[GATEWAY], accounts[PAYEE]

    def expect_revert(reason: str, fn, *args, **kwargs):
        with pytest.raises(TransactionFailed) as failed:
            fn(*args, **kwargs)
        assert failed.value.reason == reason, (
            f"{fn.name}{args}: expected revert {reason!r}, got {failed.value.reason!r}")
        stats[f"rejected {fn.name}: {reason or '<bare revert>'}"] += 1

    class ProtocolMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snapshot = chain.snapshot()
            self.initial_supply = token.totalSupply()
            self.minter_lpt = token.balanceOf(minter.address)  # expected, kept exact
            self.minter_eth = chain.eth_balance(minter.address)
            self.minted = 0
            self.locks: dict[tuple[int, int], tuple[int, int]] = {}  # (account, id) -> (amount, withdrawRound)
            self.next_lock_id = {i: bm.getDelegator(addr[i])[6] for i in BONDERS}
            for i in BONDERS:
                for lock_id in range(self.next_lock_id[i]):
                    amount, withdraw_round = bm.getDelegatorUnbondingLock(addr[i], lock_id)
                    if withdraw_round > 0:
                        self.locks[(i, lock_id)] = (amount, withdraw_round)
            self.nonce = 0
            self.steps = 0
            self._round_changed()
            self.checked_block = None  # hypothesis checks the invariants (and so reads) first

        def teardown(self):
            chain.revert(self.snapshot)

        # --- helpers ---------------------------------------------------------------------
        def _round_changed(self):
            self.round_end = protocol.next_round_start_block()
            self.round_hash = rm.blockHashForRound(protocol.current_round())
            self.minted_this_round = minter.currentMintedTokens()
            self.current_total = bm.currentRoundTotalActiveStake()

        def _next_round(self):
            pending_total = bm.nextRoundTotalActiveStake()
            protocol.next_round()
            self._round_changed()
            # initializeRound snapshots the pending active stake, and only then does it change
            assert self.current_total == pending_total
            assert self.minted_this_round == 0
            stats["rounds"] += 1

        def _read(self) -> View:
            b = Batch(multicall)
            ix = {
                "round": b.add(rm, "currentRound"),
                "next_total": b.add(bm, "nextRoundTotalActiveStake"),
                "current_total": b.add(bm, "currentRoundTotalActiveStake"),
                "pool_size": b.add(bm, "getTranscoderPoolSize"),
                "first": b.add(bm, "getFirstTranscoderInPool"),
                "supply": b.add(token, "totalSupply"),
                "minter_lpt": b.add(token, "balanceOf", minter.address),
                "mintable": b.add(minter, "currentMintableTokens"),
                "minted": b.add(minter, "currentMintedTokens"),
                "sender": b.add(tb, "getSenderInfo", gateway.address),
            }
            per = {}
            for i in BONDERS:
                a = addr[i]
                per[i] = (b.add(bm, "getDelegator", a), b.add(bm, "getTranscoder", a), b.add(bm, "pendingStake", a, 0),
                          b.add(bm, "pendingFees", a, 0), b.add(bm, "getNextTranscoderInPool", a),
                          b.add(bm, "transcoderTotalStake", a))
            lock_ix = {key: b.add(bm, "getDelegatorUnbondingLock", addr[key[0]], key[1]) for key in self.locks}
            r = b.run()
            self.raw = {k: r[n] for k, n in ix.items()}
            v = View(round=r[ix["round"]])
            (deposit, _withdraw_round), (v.reserve, v.reserve_claimed_round) = r[ix["sender"]]
            v.deposit = deposit
            nxt, total_stake = {}, {}
            for i, (d, t, ps, pf, n, ts) in per.items():
                v.delegators[i] = Delegator(*r[d])
                v.transcoders[i] = Transcoder(*r[t])
                v.pending_stake[i], v.pending_fees[i] = r[ps], r[pf]
                nxt[addr[i]], total_stake[addr[i]] = r[n], r[ts]
            self.total_stake = total_stake
            self.next_in_pool = nxt
            self.chain_locks = {key: r[n] for key, n in lock_ix.items()}
            return v

        # --- invariants --------------------------------------------------------------------
        @invariant()
        def protocol_invariants(self):
            # Keep every step inside one initialised round and clear of the round lock; moving
            # on here (rather than in a rule) keeps the cached view fresh for the next rule.
            if chain.block_number + round_margin >= self.round_end:
                self._next_round()
            if chain.block_number == self.checked_block:
                return  # nothing mined (the step's transactions were all rejected): state unchanged
            v = self.v = self._read()
            self.checked_block = chain.block_number
            raw = self.raw

            # 1. the pool's stakes add up to the next round's total active stake
            pool, node = [], raw["first"]
            while node != ZERO_ADDRESS:
                assert node in self.next_in_pool, f"pool member {node} is not a bonder"
                assert node not in pool, "pool list has a cycle"
                pool.append(node)
                node = self.next_in_pool[node]
            assert len(pool) == raw["pool_size"]
            v.pool = pool
            assert raw["next_total"] == sum(self.total_stake[a] for a in pool)
            assert raw["current_total"] == self.current_total, "currentRoundTotalActiveStake moved mid-round"
            stakes = [self.total_stake[a] for a in pool]
            assert stakes == sorted(stakes, reverse=True), "pool not sorted by stake"
            for i in BONDERS:
                assert self.total_stake[addr[i]] == v.delegators[i].delegated
                # the pool (10 seats) never fills with 5 bonders, so every registered one is in it
                assert (addr[i] in pool) == v.registered(i, addr[i]), f"account {i}: pool membership != registered"
            #    and no delegate's delegators are worth more than its total stake
            by_delegate: dict[str, int] = {}
            for i in BONDERS:
                d = v.delegators[i]
                if d.bonded > 0:
                    by_delegate[d.delegate] = by_delegate.get(d.delegate, 0) + v.pending_stake[i]
                else:
                    assert (d.delegate, v.pending_stake[i]) == (ZERO_ADDRESS, 0), f"unbonded account {i}"
            for delegate, owed in by_delegate.items():
                assert delegate in self.total_stake, f"delegate {delegate} is not a bonder"
                assert owed <= self.total_stake[delegate], (
                    f"delegators of {delegate} are owed {owed} > its total stake {self.total_stake[delegate]}")

            # 2. LPT conservation
            assert raw["supply"] == self.initial_supply + self.minted
            assert raw["minted"] == self.minted_this_round <= raw["mintable"]
            assert raw["minter_lpt"] == self.minter_lpt
            for key, lock in self.locks.items():
                assert self.chain_locks[key] == lock, f"unbonding lock {key}"
            for i in BONDERS:
                assert v.delegators[i].next_lock_id == self.next_lock_id[i]
            owed_lpt = sum(v.pending_stake.values()) + sum(amount for amount, _ in self.locks.values())
            assert raw["minter_lpt"] >= owed_lpt, f"Minter holds {raw['minter_lpt']} LPT < owed {owed_lpt}"

            # 3. ETH held covers deposits, reserves and everybody's fees
            eth = chain.eth_balance(minter.address)
            assert eth == self.minter_eth
            owed_eth = v.deposit + v.reserve + sum(v.pending_fees.values())
            assert eth >= owed_eth, f"Minter holds {eth} wei < owed {owed_eth}"

        # --- actions -----------------------------------------------------------------------
        # One hypothesis rule draws the action, so every example mixes all of them (with a rule
        # per action, hypothesis' swarm testing switches most of them off in a short run). Each
        # action draws a `pick`: three times in four it selects among the accounts/locks for
        # which the action can succeed, otherwise among all of them (exercising rejections).
        def applicable(self, action: str) -> bool:
            if action in ("rebond", "rebond_from_unbonded", "withdraw_stake"):
                return bool(self.locks)
            if action == "redeem_ticket":
                return any(self.v.active(i) for i in BONDERS)
            return True

        @rule(data=st.data())
        def step(self, data):
            # The drawn index is offset by the step number: uniform when drawn at random, and the
            # all-zero example hypothesis always tries first cycles through every action instead
            # of repeating one.
            self.steps += 1
            actions = [a for a in ACTIONS if self.applicable(a)]
            action = actions[(data.draw(st.integers(0, len(ACTIONS) - 1), label="action") + self.steps) % len(actions)]
            note(f"step {self.steps}: {action}")
            getattr(self, action)(data.draw)

        def bond(self, draw):
            """Self-bond, delegate, top up, or switch delegate (amount 0 moves the stake only)."""
            i = draw(bonder, label="i")
            to = draw(bonder, label="to")
            amount = draw(amounts, label="amount")
            pick = draw(picks, label="pick")
            v, d = self.v, self.v.delegators[i]
            if v.registered(i, addr[i]) and pick % 4:
                to = i  # a transcoder tops up its self-bond
            changing = d.bonded > 0 and d.delegate != addr[to]
            if changing and v.registered(i, addr[i]):
                return expect_revert("registered transcoders can't delegate towards other addresses",
                                     bm.bond, amount, addr[to], sender=accounts[i])
            if amount == 0 and not changing:
                return expect_revert("delegation amount must be greater than 0",
                                     bm.bond, amount, addr[to], sender=accounts[i])
            before = token.balanceOf(addr[i])
            ev = bm.bond(amount, addr[to], sender=accounts[i]).event("Bond").args
            assert ev == {"newDelegate": addr[to], "oldDelegate": d.delegate, "delegator": addr[i],
                          "additionalAmount": amount, "bondedAmount": v.claimed_stake(i) + amount}
            assert token.balanceOf(addr[i]) == before - amount
            self.minter_lpt += amount
            stats["bond (switch)" if changing else ("self-bond" if to == i else "bond")] += 1

        def unbond(self, draw):
            pick = draw(picks, label="pick")
            kind = draw(st.sampled_from(["partial", "partial", "full", "excess", "zero"]), label="kind")
            frac = draw(fractions, label="frac")
            v = self.v
            i = choose(pick, [j for j in BONDERS if v.status(j) == BONDED], list(BONDERS))
            if v.status(i) != BONDED:
                return expect_revert("caller must be bonded", bm.unbond, 1, sender=accounts[i])
            bonded = v.claimed_stake(i)
            amount = {"partial": max(1, bonded * frac // 1000), "full": bonded, "excess": bonded + 1, "zero": 0}[kind]
            if amount == 0:
                return expect_revert("unbond amount must be greater than 0", bm.unbond, 0, sender=accounts[i])
            if amount > bonded:
                return expect_revert("amount is greater than bonded amount", bm.unbond, amount, sender=accounts[i])
            lock_id = self.next_lock_id[i]
            ev = bm.unbond(amount, sender=accounts[i]).event("Unbond").args
            assert ev == {"delegate": v.delegators[i].delegate, "delegator": addr[i], "unbondingLockId": lock_id,
                          "amount": amount, "withdrawRound": v.round + unbonding_period}
            self.locks[(i, lock_id)] = (amount, v.round + unbonding_period)
            self.next_lock_id[i] += 1
            assert bm.getDelegator(addr[i])[0] == bonded - amount
            stats["unbond full" if amount == bonded else "unbond partial"] += 1

        def rebond(self, draw):
            pick = draw(picks, label="pick")
            bogus = draw(st.integers(0, 5), label="bogus")
            v = self.v
            i, lock_id = choose(pick, [k for k in sorted(self.locks) if v.status(k[0]) != UNBONDED], sorted(self.locks))
            if bogus == 0:
                lock_id = self.next_lock_id[i]  # never created
            if v.status(i) == UNBONDED:
                return expect_revert("caller must be bonded", bm.rebond, lock_id, sender=accounts[i])
            if (i, lock_id) not in self.locks:
                return expect_revert("invalid unbonding lock ID", bm.rebond, lock_id, sender=accounts[i])
            amount, _ = self.locks.pop((i, lock_id))
            ev = bm.rebond(lock_id, sender=accounts[i]).event("Rebond").args
            assert ev == {"delegate": v.delegators[i].delegate, "delegator": addr[i],
                          "unbondingLockId": lock_id, "amount": amount}
            assert bm.getDelegatorUnbondingLock(addr[i], lock_id) == (0, 0)
            stats["rebond"] += 1

        def rebond_from_unbonded(self, draw):
            pick = draw(picks, label="pick")
            to = draw(bonder, label="to")
            v = self.v
            i, lock_id = choose(pick, [k for k in sorted(self.locks) if v.status(k[0]) == UNBONDED], sorted(self.locks))
            if v.status(i) != UNBONDED:
                return expect_revert("caller must be unbonded",
                                     bm.rebondFromUnbonded, addr[to], lock_id, sender=accounts[i])
            amount, _ = self.locks.pop((i, lock_id))
            ev = bm.rebondFromUnbonded(addr[to], lock_id, sender=accounts[i]).event("Rebond").args
            assert ev == {"delegate": addr[to], "delegator": addr[i], "unbondingLockId": lock_id, "amount": amount}
            d = Delegator(*bm.getDelegator(addr[i]))
            assert (d.bonded, d.delegate, d.start_round) == (amount, addr[to], v.round + 1)
            stats["rebondFromUnbonded"] += 1

        def withdraw_stake(self, draw):
            pick = draw(picks, label="pick")
            bogus = draw(st.integers(0, 5), label="bogus")
            matured = [k for k in sorted(self.locks) if self.locks[k][1] <= self.v.round]
            i, lock_id = choose(pick, matured, sorted(self.locks))
            if bogus == 0:
                return expect_revert("invalid unbonding lock ID",
                                     bm.withdrawStake, self.next_lock_id[i], sender=accounts[i])
            amount, withdraw_round = self.locks[(i, lock_id)]
            if withdraw_round > self.v.round:
                expect_revert("withdraw round must be before or equal to the current round",
                              bm.withdrawStake, lock_id, sender=accounts[i])
                if pick % 2:
                    return
                while protocol.current_round() < withdraw_round:  # wait out the unbonding period
                    self._next_round()
            before = token.balanceOf(addr[i])
            ev = bm.withdrawStake(lock_id, sender=accounts[i]).event("WithdrawStake").args
            assert ev == {"delegator": addr[i], "unbondingLockId": lock_id, "amount": amount,
                          "withdrawRound": withdraw_round}
            assert token.balanceOf(addr[i]) == before + amount, "withdrawStake must pay exactly the lock"
            del self.locks[(i, lock_id)]
            self.minter_lpt -= amount
            # ... and only once
            expect_revert("invalid unbonding lock ID", bm.withdrawStake, lock_id, sender=accounts[i])
            assert bm.getDelegatorUnbondingLock(addr[i], lock_id) == (0, 0)
            stats["withdrawStake"] += 1

        def reward(self, draw):
            pick = draw(picks, label="pick")
            v = self.v
            i = choose(pick, [j for j in BONDERS if v.active(j) and v.transcoders[j].last_reward_round < v.round],
                       list(BONDERS))
            if not v.active(i):
                return expect_revert("caller must be an active transcoder", bm.reward, sender=accounts[i])
            if v.transcoders[i].last_reward_round == v.round:
                return expect_revert("caller has already called reward for the current round",
                                     bm.reward, sender=accounts[i])
            r = bm.reward(sender=accounts[i])
            ev = r.event("Reward").args
            assert ev["transcoder"] == addr[i]
            treasury = sum(e.args["amount"] for e in r.events_named("TreasuryReward"))
            self.minted += ev["amount"] + treasury
            self.minted_this_round += ev["amount"] + treasury
            self.minter_lpt += ev["amount"]
            assert bm.transcoderTotalStake(addr[i]) == v.delegators[i].delegated + ev["amount"]
            # each active transcoder mints at most once per round
            expect_revert("caller has already called reward for the current round", bm.reward, sender=accounts[i])
            stats["reward"] += 1

        def redeem_ticket(self, draw):
            """The gateway pays an active orchestrator with a winning ticket."""
            pick = draw(picks, label="pick")
            face = draw(face_values, label="face")
            v = self.v
            actives = [j for j in BONDERS if v.active(j)]
            i = choose(pick, [j for j in actives if v.registered(j, addr[j])], actives)
            recipient = accounts[i]
            self.nonce += 1
            ticket = Ticket(recipient.address, gateway.address, face, MAX_WIN_PROB, self.nonce,
                            recipient_rand_hash(self.nonce), v.round, self.round_hash)
            args = (ticket.as_abi_tuple(), sign_ticket(ticket, gateway.key), self.nonce)
            if not v.registered(i, addr[i]):  # resigned this round, still active until the next
                return expect_revert("transcoder must be registered", tb.redeemWinningTicket, *args, sender=recipient)
            if v.deposit == 0 and v.reserve == 0:
                return expect_revert("sender deposit and reserve are zero",
                                     tb.redeemWinningTicket, *args, sender=recipient)
            claim = 0
            if face > v.deposit:
                allotment = (v.reserve + v.reserve_claimed_round) // len(v.pool) if v.pool else 0
                already = tb.claimedReserve(gateway.address, recipient.address)
                if already > allotment:
                    # the pool grew after this recipient claimed this round: the reference's
                    # claimableReserve underflows (spec §7.6), so the redemption reverts
                    return expect_revert("", tb.redeemWinningTicket, *args, sender=recipient)
                claim = min(face - v.deposit, allotment - already)
            amount = min(face, v.deposit) + claim
            r = tb.redeemWinningTicket(*args, sender=recipient)
            transfers = [e.args for e in r.events_named("WinningTicketTransfer")]
            expected = [{"sender": gateway.address, "recipient": addr[i], "amount": amount}] if amount else []
            assert transfers == expected
            (deposit, _), (reserve, _) = tb.getSenderInfo(gateway.address)
            assert (deposit, reserve) == (max(0, v.deposit - face), v.reserve - claim)
            assert tb.usedTickets(ticket.hash())
            expect_revert("ticket is used", tb.redeemWinningTicket, *args, sender=recipient)  # at most once
            stats["ticket from reserve" if claim else ("ticket" if amount else "ticket paying 0")] += 1

        def withdraw_fees(self, draw):
            pick = draw(picks, label="pick")
            kind = draw(st.sampled_from(["part", "all", "all", "excess"]), label="kind")
            frac = draw(fractions, label="frac")
            v = self.v
            i = choose(pick, [j for j in BONDERS if v.claimed_fees(j) > 0], list(BONDERS))
            owed, withdrawable = v.pending_fees[i], v.claimed_fees(i)
            if kind == "excess":
                return expect_revert("insufficient fees to withdraw", bm.withdrawFees, payee.address, owed + 1,
                                     sender=accounts[i])
            amount = withdrawable if kind == "all" else withdrawable * frac // 1000
            before = chain.eth_balance(payee.address)
            ev = bm.withdrawFees(payee.address, amount, sender=accounts[i]).event("WithdrawFees").args
            assert ev == {"delegator": addr[i], "recipient": payee.address, "amount": amount}
            assert chain.eth_balance(payee.address) == before + amount
            assert bm.pendingFees(addr[i], 0) == owed - amount
            self.minter_eth -= amount
            stats["withdrawFees" if amount else "withdrawFees 0"] += 1

        def claim_earnings(self, draw):
            pick = draw(picks, label="pick")
            v = self.v
            unclaimed = [j for j in BONDERS if v.delegators[j].bonded and v.delegators[j].last_claim_round < v.round]
            i = choose(pick, unclaimed, list(BONDERS))
            bm.claimEarnings(0, sender=accounts[i])
            assert bm.pendingStake(addr[i], 0) == v.pending_stake[i]
            assert bm.pendingFees(addr[i], 0) == v.pending_fees[i]
            assert bm.getDelegator(addr[i])[5] == v.round  # lastClaimRound
            stats["claimEarnings"] += 1

        def set_transcoder(self, draw):
            pick = draw(picks, label="pick")
            reward_cut = draw(st.integers(0, 10**6), label="reward_cut")
            fee_share = draw(st.integers(0, 10**6), label="fee_share")
            v = self.v
            i = choose(pick, [j for j in BONDERS if v.registered(j, addr[j])], list(BONDERS))
            if not v.registered(i, addr[i]):
                return expect_revert("transcoder must be registered",
                                     bm.transcoder, reward_cut, fee_share, sender=accounts[i])
            if v.active(i) and v.transcoders[i].last_reward_round != v.round:
                return expect_revert("caller can't be active or must have already called reward for the current round",
                                     bm.transcoder, reward_cut, fee_share, sender=accounts[i])
            bm.transcoder(reward_cut, fee_share, sender=accounts[i])
            assert bm.getTranscoder(addr[i])[1:3] == (reward_cut, fee_share)
            stats["transcoder"] += 1

        def fund_gateway(self, draw):
            deposit = draw(st.integers(0, ETH // 5), label="deposit")
            reserve = draw(st.integers(0, ETH), label="reserve")
            tb.fundDepositAndReserve(deposit, reserve, sender=gateway, value=deposit + reserve)
            self.minter_eth += deposit + reserve
            stats["fund"] += 1

        def next_round(self, draw):
            n = draw(st.integers(1, 2), label="n")
            for _ in range(n):
                self._next_round()

    return ProtocolMachine


def in_fresh_thread(fn):
    """Run fn on a new thread and re-raise what it raised.

    CPython 3.11 frees a frame-stack chunk as soon as the last frame in it returns, so a hot
    loop that happens to straddle a chunk boundary mmaps/munmaps on every call (seen here as
    ~2/3 of the run spent in the kernel under pytest's deep stack). A fresh thread starts the
    EVM at a shallow, fixed depth, independent of how deep the test runner's stack is."""
    outcome: dict = {}

    def target():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="property-test", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]


def account_pick(i: int) -> int:
    """A `pick` that makes `choose` take accounts[i] from the list of all bonders."""
    return next(p for p in range(0, 64, 4) if p % len(BONDERS) == list(BONDERS).index(i))


A = account_pick
# Every action's success path (and a few rejections) from the starting network, in order. Built
# in are two regressions for spec §11.2 item 2 (a delegator starting to delegate to an orchestrator
# whose current-round pool nothing else touches that round, once by rebondFromUnbonded and once by
# bond: without ensureInitializedCumulativeFactorsPool its stake inflates, which invariant 1
# catches a round later) and an orchestrator resigning (its whole stake must leave
# nextRoundTotalActiveStake).
TOUR = [
    # round R: orchestrators 1 and 2 active, 4 delegating to 1
    ("reward", {"pick": A(1)}),
    ("reward", {"pick": A(2)}),
    ("redeem_ticket", {"pick": 0, "face": ETH // 100}),  # to 1, paid from the deposit
    ("redeem_ticket", {"pick": 4, "face": ETH // 2}),  # to 1, the rest of the deposit + the reserve
    ("set_transcoder", {"pick": A(1), "reward_cut": 300_000, "fee_share": 600_000}),  # after its reward
    ("bond", {"i": 3, "to": 1, "amount": 700 * LPT, "pick": 0}),
    ("bond", {"i": 5, "to": 5, "amount": 800 * LPT, "pick": 0}),  # a third orchestrator
    ("unbond", {"pick": A(4), "kind": "partial", "frac": 400}),
    ("rebond", {"pick": 0, "bogus": 1}),
    ("unbond", {"pick": A(4), "kind": "full", "frac": 1}),
    ("next_round", {"n": 1}),
    # round R+1: nothing touches 2's pool this round (2 does not call reward)
    ("rebond_from_unbonded", {"pick": 0, "to": 2}),
    ("reward", {"pick": A(1)}),
    ("claim_earnings", {"pick": A(3)}),
    ("redeem_ticket", {"pick": 0, "face": ETH // 10}),  # to 1, from the reserve alone
    ("fund_gateway", {"deposit": ETH // 5, "reserve": 0}),
    ("redeem_ticket", {"pick": 0, "face": ETH // 20}),  # to 1, from the new deposit
    ("withdraw_fees", {"pick": A(1), "kind": "all", "frac": 1}),
    ("withdraw_fees", {"pick": A(4), "kind": "excess", "frac": 1}),
    ("bond", {"i": 3, "to": 5, "amount": 0, "pick": 0}),  # switch delegate, no new LPT
    ("unbond", {"pick": A(3), "kind": "partial", "frac": 500}),  # Pending after the switch: rejected
    ("unbond", {"pick": A(5), "kind": "partial", "frac": 500}),
    ("next_round", {"n": 1}),
    # round R+2: nothing touches 1's pool this round
    ("unbond", {"pick": A(5), "kind": "full", "frac": 1}),  # 5 resigns
    ("bond", {"i": 5, "to": 1, "amount": 500 * LPT, "pick": 0}),  # from unbonded to 1
    ("reward", {"pick": A(2)}),
    ("withdraw_stake", {"pick": 0, "bogus": 1}),  # too early, then after the unbonding period (R+3)
]


def start(protocol, accounts, chain, stats: Counter):
    multicall = chain.deploy(compile_source("PropertiesMulticall", MULTICALL_SOURCE))
    build_network(protocol, accounts)
    return make_machine(protocol, accounts, chain, multicall, stats)


def test_invariants_along_a_scripted_tour(protocol, accounts, chain):
    """Every action's success path once, deterministically, with the invariants after each."""
    stats: Counter = Counter()
    machine_class = start(protocol, accounts, chain, stats)

    def tour():
        machine = machine_class()
        try:
            machine.protocol_invariants()
            for action, values in TOUR:
                getattr(machine, action)(lambda _strategy, label, values=values: values[label])
                machine.protocol_invariants()
        finally:
            machine.teardown()

    in_fresh_thread(tour)
    print(dict(sorted(stats.items())))
    for action in ("bond", "self-bond", "bond (switch)", "unbond partial", "unbond full", "rebond",
                   "rebondFromUnbonded", "withdrawStake", "reward", "ticket", "ticket from reserve",
                   "withdrawFees", "claimEarnings", "transcoder", "fund"):
        assert stats[action] > 0, f"the tour no longer reaches a successful {action!r}: {dict(stats)}"


def test_invariants_hold_under_random_actions(protocol, accounts, chain):
    stats: Counter = Counter()
    machine_class = start(protocol, accounts, chain, stats)
    in_fresh_thread(lambda: run_state_machine_as_test(machine_class, settings=PROPERTY_SETTINGS))
    print(dict(sorted(stats.items())))
    # Deterministic (derandomize), but the sequence hinges on the machine's source; make sure the
    # run still does real work rather than only rejected calls.
    for action in ("bond", "reward", "ticket"):
        assert stats[action] > 0, f"no successful {action!r} in the whole run: {dict(stats)}"
