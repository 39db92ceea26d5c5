"""A simulated orchestrator: the protocol core's recipient, payment receiver and redemption queue
on the simulated chain, a capacity of concurrent jobs, a compute model per pipeline, and its
on-chain duties (bond, register, call reward each round, redeem winning tickets).

Everything protocol is the core's (`node.core`); this module only models what is outside the
protocol: how long work takes, how often it fails, and when the orchestrator acts.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import simpy

from node.core.balances import Balances
from node.core.errors import PaymentError
from node.core.params import TicketParams
from node.core.payment import Payment, PaymentReceiver
from node.core.pricing import PriceInfo, auto_adjust_price
from node.core.recipient import Recipient
from node.core.redemption import Outcome, Redeemer
from node.core.sender_monitor import SenderMonitor
from node.core.ticket import MAX_WIN_PROB, recover_signer
from node.eth import Account, TransactionFailed
from node.eth.payments import ProtocolBroker

from .draws import BlockDraws, UniformDraws
from .world import World

UNREACHABLE = "orchestrator unreachable"
_ZERO = Fraction(0)


class Unreachable(PaymentError):
    """GetOrchestrator to an orchestrator that is down: the gateway's discovery counts it as a
    failed answer, as it does any other error from that call."""


@dataclass(frozen=True)
class PipelineModel:
    """What an orchestrator runs for one pipeline and how long it takes."""

    name: str
    model_id: str
    warm: bool
    compute: Any  # a distribution of seconds (lpsim.distributions)


@dataclass(frozen=True)
class Offer:
    """An orchestrator's answer to GetOrchestrator, as the gateway stores it on a session."""

    orchestrator: "SimOrchestrator"
    price: Fraction  # wei per unit, after auto-adjustment
    price_info: PriceInfo
    params: TicketParams | None  # None when the price is zero (no payments)
    session_id: str  # the auth token's session id: the balance key on both sides
    pipeline: str
    issued_at: float  # simulated time of the GetOrchestrator answer (auth token validity)

    def with_params(self, params: TicketParams | None) -> Offer:
        """This offer on fresh ticket params (dataclasses.replace, without its generic walk)."""
        return Offer(self.orchestrator, self.price, self.price_info, params, self.session_id, self.pipeline,
                     self.issued_at)


class Slots:
    """A capacity of concurrent jobs, waiters served first come first served: simpy.Resource's
    rule without its two scheduled events (request, release) per job: a free slot is taken at
    once, and a freed one passes straight to the first waiter."""

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self.env, self.capacity = env, capacity
        self.count = 0  # slots held
        self._waiting: deque[simpy.Event] = deque()

    def take(self) -> simpy.Event | None:
        """None when a slot was free and is now held; else an event to wait on (it fires when the
        slot is handed over)."""
        if self.count < self.capacity and not self._waiting:
            self.count += 1
            return None
        granted = self.env.event()
        self._waiting.append(granted)
        return granted

    def release(self) -> None:
        if self._waiting:
            self._waiting.popleft().succeed()  # the slot changes hands: the count stays
        else:
            self.count -= 1


@dataclass
class Served:
    """The outcome of one attempt at an orchestrator."""

    error: str | None
    fee: Fraction = Fraction(0)  # what the orchestrator debited
    params: TicketParams | None = None  # fresh ticket params returned with a result


class SimOrchestrator:
    def __init__(self, world: World, name: str, account: Account, *, reward_cut: float, fee_share: float,
                 price_per_pixel: Fraction, ai_prices: dict[str, Fraction], auto_adjust_price: bool,
                 ticket_ev: int, max_face_value: int, capacity: int, pipelines: dict[str, PipelineModel],
                 failure_rate: float, reward_policy: str | float, service_uri: str, redeem_gas: int,
                 rng: np.random.Generator, randbytes, recover=recover_signer) -> None:
        self.world, self.name, self.account = world, name, account
        self.address = account.address
        self.reward_cut, self.fee_share = reward_cut, fee_share
        self.price_per_pixel, self.ai_prices = price_per_pixel, ai_prices
        self.auto_adjust = auto_adjust_price
        self.pipelines = pipelines
        self.failure_rate = failure_rate
        self.reward_policy = reward_policy
        self.service_uri = service_uri
        self.rng = rng
        # compute times and failures, drawn from `rng` a block at a time (lpsim.draws)
        self._compute = {name: BlockDraws(p.compute, rng) for name, p in pipelines.items()}
        self._failure = UniformDraws(rng)
        env = world.env
        self.monitor = SenderMonitor(self.address, world.view)
        self.recipient = Recipient(self.address, randbytes(32), world.view, self.monitor, randbytes, ev=ticket_ev,
                                   redeem_gas=redeem_gas, max_face_value=max_face_value, recover=recover)
        self.redeemer = Redeemer(world.view, self.monitor, ProtocolBroker(world.protocol, account), redeem_gas,
                                 world.protocol.params.ticket_validity_period)
        self.receiver = PaymentReceiver(self.recipient, Balances(lambda: env.now), self.redeemer)
        self.slots = Slots(env, capacity)
        self._randbytes = randbytes
        self._wake: simpy.Event | None = None
        # cumulative counters (sampled into metrics)
        self.jobs_completed = 0
        self.tickets_received = 0
        self.tickets_won = 0
        self._fees_expected = 0  # Σ face value × win prob of credited tickets: fees_expected × MAX_WIN_PROB
        self.winners_expected = self.winners_variance = 0.0
        self.reward_last_round = 0
        self.rewards_total = 0
        self.stake = 0  # LPT wei, refreshed each round
        self.online = True  # False while down (a timeline event): answers nothing, calls nothing
        self._back: simpy.Event | None = None
        self.byoc = None  # lpsim.byoc.SimByoc when its workers register BYOC capabilities
        env.process(self._redemption_loop())

    # ------------------------------------------------------------------ genesis

    def register(self, stake: int) -> None:
        p = self.world.protocol
        p.approve_and_bond(self.account, stake, self.address)
        p.BondingManager.transcoder(round(self.reward_cut * 1e6), round(self.fee_share * 1e6), sender=self.account)
        p.ServiceRegistry.setServiceURI(self.service_uri, sender=self.account)

    # ------------------------------------------------------------------ GetOrchestrator

    def base_price(self, pipeline: str) -> Fraction:
        if pipeline == "transcoding":
            return self.price_per_pixel
        return self.ai_prices.get(pipeline, self.price_per_pixel)

    def set_online(self, online: bool) -> None:
        """Go down (no answers, no reward calls, no redemptions) or come back."""
        self.online = online
        if online and self._back is not None and not self._back.triggered:
            self._back.succeed()

    def offer(self, gateway: str, pipeline: str) -> Offer:
        """Price and fresh ticket params for `gateway` (raises PaymentError, e.g. when its reserve
        cannot back a ticket: go fails the GetOrchestrator call then; Unreachable while down)."""
        if not self.online:
            raise Unreachable(f"{self.service_uri} is down")
        base = self.base_price(pipeline)
        recipient, fv = self.recipient, None
        if self.auto_adjust:
            def multiplier() -> Fraction:  # the face value, computed once for the price and the params
                nonlocal fv
                fv = recipient.face_value(gateway)
                return recipient.tx_cost_multiplier(gateway, fv)
            price = auto_adjust_price(base, multiplier)
        else:
            price = base
        params = recipient.ticket_params(gateway, price, fv) if price.numerator > 0 else None
        session_id = self._randbytes(4).hex()
        return Offer(self, price, PriceInfo.from_fraction(price), params, session_id, pipeline, self.world.env.now)

    def can_run(self, pipeline: str, model_id: str | None) -> bool:
        model = self.pipelines.get(pipeline)
        return model is not None and (model_id is None or pipeline == "transcoding" or model.model_id == model_id)

    # ------------------------------------------------------------------ work

    def _credit(self, payment: Payment, session: str) -> str | None:
        """ProcessPayment, counted; the error to answer with, if any."""
        got = self.receiver.process_payment(payment, session)
        self.tickets_received += got.tickets
        self.tickets_won += got.winning
        if got.tickets:
            params = payment.ticket_params
            # each credited ticket's EV is face value × win prob / MAX_WIN_PROB, exactly
            self._fees_expected += got.tickets * params.face_value * params.win_prob
            p = params.win_prob / MAX_WIN_PROB  # each ticket wins independently with this probability
            self.winners_expected += got.tickets * p
            self.winners_variance += got.tickets * p * (1 - p)
        if got.winning:
            self._wake_redeemer()
        return None if got.error is None else f"payment error: {got.error}"

    def _take_payment(self, payment: Payment, session: str) -> tuple[str | None, Fraction]:
        """ProcessPayment and the balance check before paid work: (error, the session's price)."""
        error = self._credit(payment, session)
        if error is not None:
            return error, _ZERO
        price = self.receiver.balances.fixed_price(payment.sender, session) or _ZERO
        if price.numerator > 0 and not self.receiver.sufficient_balance(payment.sender, session):
            return "Insufficient balance", price
        return None, price

    def serve(self, payment: Payment, session: str, pipeline: str, units: int, *, queue: bool):
        """A SimPy generator the gateway's attempt runs inline (`yield from`: no process of its own
        per job): take the payment, do the work, debit it; returns a `Served`.
        `queue`: wait for a free slot (transcoding) instead of refusing (batch AI, as go's
        "insufficient capacity")."""
        if not self.online:
            return Served(UNREACHABLE)
        error, price = self._take_payment(payment, session)
        if error is not None:
            return Served(error)
        if not queue and self.slots.count >= self.slots.capacity:
            return Served("insufficient capacity")
        wait = self.slots.take()
        if wait is not None:
            yield wait
        try:
            yield self.world.env.timeout(self._compute[pipeline].draw())
        finally:
            self.slots.release()
        if self.failure_rate and self._failure.draw() < self.failure_rate:
            return Served("compute failed")
        fee = self.receiver.debit_fees(payment.sender, session, price, units)
        self.jobs_completed += 1
        params = self.recipient.ticket_params(payment.sender, price) if price.numerator > 0 else None
        return Served(None, fee, params)

    # ------------------------------------------------------------------ live video

    def start_live(self, payment: Payment, session: str):
        """A SimPy generator run inline, as `serve`: take the initial payment, hold a slot for the
        stream and start it; returns (Served, the slot request to hand back to `end_live`, or None)."""
        error, _ = self._take_payment(payment, session) if self.online else (UNREACHABLE, None)
        if error is None and self.slots.count >= self.slots.capacity:
            error = "insufficient capacity"
        if error is not None:
            return Served(error), None
        self.slots.take()  # free: checked above, so held at once
        yield self.world.env.timeout(self._compute["live-video-to-video"].draw())
        return Served(None), True

    def live_payment(self, payment: Payment, session: str, units: int) -> Served:
        """One interval of a live stream: credit the payment, debit the interval's units (go's
        AccountPayment; a balance short of the fee stops the stream), or drop the stream at the
        orchestrator's failure rate."""
        error = self._credit(payment, session) if self.online else UNREACHABLE
        if error is not None:
            return Served(error)
        if self.failure_rate and self._failure.draw() < self.failure_rate:
            return Served("stream dropped")
        price = self.receiver.balances.fixed_price(payment.sender, session) or Fraction(0)
        if price > 0:
            fee = price * units
            balance = self.receiver.balances.balance(payment.sender, session) or Fraction(0)
            if balance < fee:
                return Served(f"insufficient balance, mid={session}, fee={fee}, balance={balance}")
            self.receiver.debit_fees(payment.sender, session, price, units)
            return Served(None, fee)
        return Served(None)

    def end_live(self, slot) -> None:
        """Hand back the slot `start_live` took (`slot`: what it returned; None when it took none)."""
        if slot:
            self.slots.release()
            self.jobs_completed += 1

    # ------------------------------------------------------------------ on-chain duties

    def call_reward(self, round_: int, active: bool | None = None) -> tuple[int, int]:
        """Call reward for `round_` if active and the policy says so; returns the LPT minted:
        (to the orchestrator and its delegators, to the treasury)."""
        self.reward_last_round = 0
        policy = self.reward_policy
        if policy == "never" or (not isinstance(policy, str) and self.rng.random() >= policy):
            return 0, 0
        return self.reward_now(active)

    def reward_now(self, active: bool | None = None) -> tuple[int, int]:
        """Call reward now if active (a policy decided to); the LPT minted, as call_reward.
        `reward_error` says why nothing was minted (not active, or the revert reason). `active`:
        whether it is in this round's active set, when the caller knows (else read)."""
        self.reward_last_round = 0
        self.reward_error = None
        if not (self.world.view.is_active(self.address) if active is None else active):
            self.reward_error = "not in the active set"
            return 0, 0
        try:
            events = self.world.calls.send_for(self.world.protocol.BondingManager.reward, sender=self.account,
                                               events=("Reward", "TreasuryReward"))
        except TransactionFailed as exc:
            self.reward_error = exc.reason or str(exc)
            return 0, 0
        amount = next((e.args["amount"] for e in events if e.name == "Reward"), 0)
        self.reward_last_round = amount
        self.rewards_total += amount
        return amount, sum(e.args["amount"] for e in events if e.name == "TreasuryReward")

    def forget_stale(self) -> None:
        """Drop the nonces of expired offers and idle balances and senders, as the node's
        cleanup loops do (every offer and session would otherwise be kept for ever)."""
        self.receiver.forget_stale(self.world.block_now(), self.world.env.now)

    def _wake_redeemer(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _redemption_loop(self):
        """Redeem winning tickets once their params expire (the queue decides; this only wakes
        it at the right blocks instead of on every one)."""
        env, world = self.world.env, self.world
        while True:
            if not self.online:  # down: the tickets wait (and may expire) until it is back
                self._back = env.event()
                yield self._back
                continue
            queued = self.redeemer.queued()
            if not queued:
                self._wake = env.event()
                yield self._wake
                continue
            due = min(t.expiration_block for t in queued)
            wait = world.time_of_block(max(due, world.block_now())) - env.now
            if wait > 0:
                yield env.timeout(wait)
            if not self.online:
                continue
            world.sync()
            results = self.redeemer.on_block(world.block_now())
            if not results or any(r.outcome is Outcome.RETRY for r in results):
                yield env.timeout(world.block_time)

    # ------------------------------------------------------------------ metrics

    @property
    def fees_expected(self) -> Fraction:
        """The EV of the tickets credited (wei, exact): one integer sum, not a fraction per payment."""
        return Fraction(self._fees_expected, MAX_WIN_PROB)

    @property
    def fees_realised(self) -> int:
        return self.redeemer.value_redeemed

    def ticket_counts(self) -> dict[str, int]:
        c = self.redeemer.counts
        return {"redeemed": c["redeemed"], "expired": c["expired"], "dropped": c["dropped"],
                "pending": c["queued"] - c["redeemed"] - c["expired"] - c["dropped"]}

