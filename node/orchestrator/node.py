"""The orchestrator's state and decisions, for its network servers to drive: prices, capabilities,
auth tokens, ticket params, payments, capacity, and its on-chain duties (initialise the round,
call reward once per round while active, redeem winning tickets, register its service URI).

Every protocol rule is the core's (node.core); this module wires them to a real clock, real
randomness and a real chain (node.eth), and keeps per-process state. Offchain (no chain) there are
no prices, tickets or payments, as go-livepeer's `-network offchain`.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

from node.core.ai_models import AIModelConfig, ai_model_constraints, ai_model_prices
from node.core.balances import Balances
from node.core.capabilities import DEFAULT_CAPABILITIES, MANDATORY_CAPABILITIES, Capabilities
from node.core.live_payment import LIVE_PAYMENT_INTERVAL
from node.core.params import TicketParams
from node.core.payment import Payment, PaymentReceived, PaymentReceiver
from node.core.pricing import PriceInfo, PriceTable
from node.core.recipient import DEFAULT_TICKET_EV, REDEEM_GAS_L1, Recipient
from node.core.redemption import Outcome, Redeemer
from node.core.sender_monitor import SenderMonitor
from node.net.auth import AuthToken, issue_auth_token, new_secret, new_session_id
from node.metrics import NodeMetrics

VERSION = "0.1.0"
SESSION_IDLE_TIMEOUT = 70.0  # seconds (core/orchestrator.go transcodeLoopTimeout)


@dataclass
class OrchestratorConfig:
    service_uri: str  # e.g. http://127.0.0.1:8935 (go's -serviceAddr)
    price_per_unit: Fraction = Fraction(0)  # -pricePerUnit (wei)
    pixels_per_unit: int = 1  # -pixelsPerUnit
    ai_models: list[AIModelConfig] = field(default_factory=list)  # -aiModels
    transcoding: bool = True  # runs a transcoder (-transcoder)
    max_sessions: int = 10  # -maxSessions
    ticket_ev: int = DEFAULT_TICKET_EV  # -ticketEV
    max_face_value: int = 0  # -maxFaceValue
    redeem_gas: int = REDEEM_GAS_L1
    auto_adjust_price: bool = True  # -autoAdjustPrice
    live_payment_interval: float = LIVE_PAYMENT_INTERVAL  # -livePaymentInterval (s): live sessions charged


@dataclass(frozen=True)
class Offer:
    """What GetOrchestrator answers a gateway (before wire encoding)."""

    transcoder: str
    address: str
    price: PriceInfo | None
    ticket_params: TicketParams | None
    auth_token: AuthToken
    capabilities: Capabilities


class OrchestratorNode:
    """One orchestrator. `chain` is a node.core.chain_view.ChainView and `broker` a Broker (both
    from node.eth.payments) for on-chain mode; None for both means offchain."""

    def __init__(self, config: OrchestratorConfig, *, address: str = "", chain=None, broker=None,
                 clock: Callable[[], float] = time.time, randbytes: Callable[[int], bytes] = os.urandom,
                 metrics: NodeMetrics | None = None, ticket_store=None, monitor=None, redeemer=None) -> None:
        self.config = config
        self.address = address
        self.chain = chain
        self.clock = clock
        self.randbytes = randbytes
        self.metrics = metrics or NodeMetrics("orchestrator", config.service_uri)
        self.secret = new_secret(randbytes)
        self.lock = threading.RLock()  # the core's state is touched from server threads and the loop
        self.onchain = chain is not None
        self.prices = PriceTable()
        if self.onchain:  # prices only mean something with payments (go: AI prices are on-chain only)
            self.prices.set_base_price(PriceTable.DEFAULT, Fraction(config.price_per_unit) / config.pixels_per_unit)
            price_flag = str(config.price_per_unit) if config.price_per_unit else None
            for (gateway, cap, model), price in ai_model_prices(config.ai_models, price_flag,
                                                                config.pixels_per_unit).items():
                self.prices.set_capability_price(gateway, int(cap), model, price)
        self.capabilities = self._capabilities()
        self.sessions: dict[str, float] = {}  # transcoding session id -> last use
        self._duties_done_round: int | None = None  # the round round_duties has nothing left to do in
        if self.onchain:
            # with a remote redeemer (-redeemerAddr), `monitor` takes max float from it and `redeemer`
            # forwards winning tickets to it (node.redeemer.client)
            self.monitor = monitor if monitor is not None else SenderMonitor(address, chain)
            self.recipient = Recipient(address, randbytes(32), chain, self.monitor, randbytes, ev=config.ticket_ev,
                                       redeem_gas=config.redeem_gas, max_face_value=config.max_face_value)
            # winning tickets wait in `ticket_store` (a node.core.redemption.TicketStore; in memory
            # when None): the live node's is SQLite in -datadir, and a restart redeems what it holds
            self.redeemer = redeemer if redeemer is not None else \
                Redeemer(chain, self.monitor, broker, config.redeem_gas, store=ticket_store)
            self.receiver = PaymentReceiver(self.recipient, Balances(clock), self.redeemer)

    def _capabilities(self) -> Capabilities:
        caps = set(DEFAULT_CAPABILITIES)  # every go orchestrator advertises these, transcoder or not
        constraints = ai_model_constraints(self.config.ai_models)
        caps |= {int(c) for c in constraints}
        base = Capabilities.new(sorted(caps), MANDATORY_CAPABILITIES, version=VERSION)
        capacities = dict(base.capacities)
        for cap, models in constraints.items():
            capacities[int(cap)] = sum(m.capacity for m in models.values())
        return Capabilities(base.bitstring, base.mandatories, VERSION, "",
                            {int(c): dict(models) for c, models in constraints.items()}, capacities)

    # ------------------------------------------------------------------ GetOrchestrator

    def offer(self, sender: str, job_caps: Capabilities | None = None) -> Offer:
        """Price, ticket params and a fresh auth token for `sender` (go's orchestratorInfoWithCaps);
        raises PaymentError (e.g. "insufficient sender reserve") like the RPC does."""
        token = issue_auth_token(self.secret, new_session_id(self.randbytes), self.clock())
        price, params = None, None
        if self.onchain:
            value = self.current_price(sender, job_caps)
            price = PriceInfo.from_fraction(value)
            if value > 0:
                with self.lock:
                    params = self.recipient.ticket_params(sender, price.price)
        return Offer(self.config.service_uri, self.address, price, params, token, self.capabilities)

    def current_price(self, sender: str, job_caps: Capabilities | None = None) -> Fraction:
        """What this orchestrator charges `sender` now for the job (0 offchain)."""
        if not self.onchain:
            return Fraction(0)
        with self.lock:
            return self.prices.price(sender, job_caps, auto_adjust=self.config.auto_adjust_price,
                                     tx_cost_multiplier=lambda: self.recipient.tx_cost_multiplier(sender))

    # ------------------------------------------------------------------ payments

    def process_payment(self, payment: Payment, session: str) -> PaymentReceived:
        """go's ProcessPayment (offchain: accepted as it is)."""
        if not self.onchain:
            return PaymentReceived()
        with self.lock:
            got = self.receiver.process_payment(payment, session)
        sender = payment.sender or ""
        m = self.metrics
        m.tickets_recv.labels(sender).inc(got.tickets)
        m.ticket_value_recv.labels(sender).inc(float(got.ev))
        m.winning_tickets_recv.labels(sender).inc(got.winning)
        if got.error is not None:
            m.payment_recv_errors.labels(sender, "fatal" if got.error.fatal else "non_fatal").inc()
        return got

    def payment_is_local(self, payment: Payment, session: str) -> bool:
        """Whether processing `payment` (and the balance check after it) needs only answers the
        chain view holds, so that the event loop may do it without a thread: offchain always; on
        chain when the view says so for the recipient, the sender's funds, the round and the block
        (a payment without tickets: when the session's price is pinned, pricing it reads more), and
        no ticket of it wins (queueing a winner is a durable write)."""
        if not self.onchain:
            return True
        answered = getattr(self.chain, "answered", None)
        if answered is None:
            return False
        sender = payment.sender or ""
        if payment.ticket_params is None:
            return self.receiver.balances.fixed_price(sender, session) is not None
        return answered(("active", payment.ticket_params.recipient), ("sender", sender), "round", "block") \
            and not self.receiver.queues_a_winner(payment)

    def price_for(self, sender: str, session: str, job_caps: Capabilities | None = None) -> Fraction:
        """The session's pinned price, else the current one: a session nobody has paid for yet
        costs what a new offer would (go falls back to no charge at all here; see payment.py)."""
        if not self.onchain:
            return Fraction(0)
        pinned = self.receiver.balances.fixed_price(sender, session)
        return pinned if pinned is not None else self.current_price(sender, job_caps)

    def sufficient_balance(self, sender: str, session: str, job_caps: Capabilities | None = None) -> bool:
        """Offchain or free: always; else at least one ticket's EV in hand."""
        if self.price_for(sender, session, job_caps) <= 0:
            return True
        with self.lock:
            return self.receiver.sufficient_balance(sender, session)

    def debit(self, sender: str, session: str, units: int, job_caps: Capabilities | None = None) -> Fraction:
        if not self.onchain:
            return Fraction(0)
        price = self.price_for(sender, session, job_caps)
        with self.lock:
            return self.receiver.debit_fees(sender, session, price, units)

    def debit_is_local(self, sender: str, session: str) -> bool:
        """Whether `debit` needs nothing from the chain (offchain, or the session's price is pinned:
        pricing it afresh may read the chain), so that the event loop may do it without a thread."""
        return not self.onchain or self.receiver.balances.fixed_price(sender, session) is not None

    def fresh_params(self, sender: str, session: str,
                     job_caps: Capabilities | None = None) -> tuple[PriceInfo | None, TicketParams | None]:
        """The session's price and new ticket params, sent back with every result."""
        if not self.onchain:
            return None, None
        price = self.price_for(sender, session, job_caps)
        if price <= 0:
            return PriceInfo.from_fraction(price), None
        with self.lock:
            return PriceInfo.from_fraction(price), self.recipient.ticket_params(sender, price)

    # ------------------------------------------------------------------ capacity

    def _expire_sessions(self) -> None:
        """go's transcode loop ends after 70 s without a segment, freeing its slot."""
        now = self.clock()
        for sid, last in list(self.sessions.items()):
            if now - last > SESSION_IDLE_TIMEOUT:
                del self.sessions[sid]

    def check_capacity(self, session: str) -> bool:
        """go's CheckCapacity: a known session, or room for a new one. Takes no slot."""
        with self.lock:
            self._expire_sessions()
            return session in self.sessions or len(self.sessions) < self.config.max_sessions

    def at_capacity(self) -> bool:
        """GetOrchestrator's check (CheckCapacity("")): every transcoding slot held."""
        return not self.check_capacity("")

    def use_session(self, session: str) -> bool:
        """A paid segment for `session`: start its transcoding session (go's getSegmentChan) or
        keep it alive; False when every slot is held by other running sessions."""
        with self.lock:
            self._expire_sessions()
            if session not in self.sessions and len(self.sessions) >= self.config.max_sessions:
                return False
            self.sessions[session] = self.clock()
            return True

    def end_session(self, session: str) -> None:
        with self.lock:
            self.sessions.pop(session, None)

    # ------------------------------------------------------------------ on-chain duties

    def register_service_uri(self, protocol, account) -> bool:
        """Point ServiceRegistry at this node's -serviceAddr unless it already does (gateways find
        on-chain orchestrators there); True when a transaction was sent."""
        if protocol.ServiceRegistry.getServiceURI(self.address) == self.config.service_uri:
            return False
        protocol.ServiceRegistry.setServiceURI(self.config.service_uri, sender=account)
        return True

    def round_duties(self, protocol, account, *, initialize_round: bool = True, reward: bool = True) -> dict:
        """Once per new block: initialise the round if nobody has (go's -initializeRound), call
        reward if active and not yet this round (go's reward service, which waits for an
        initialised round), redeem what is due. Returns what happened (for logs)."""
        from node.eth import TransactionFailed

        done: dict = {}
        rm, bm = protocol.RoundsManager, protocol.BondingManager
        try:
            current = rm.currentRound()
            # a round initialised and rewarded (or not ours to reward: the active set is fixed for
            # the round) needs one read a block, not four
            if current != self._duties_done_round:
                initialized = rm.currentRoundInitialized()
                if not initialized and initialize_round:
                    rm.initializeRound(sender=account)
                    done["initialized"] = current
                    initialized = True
                    invalidate = getattr(self.chain, "invalidate", None)
                    if invalidate is not None:  # offers from now on use the new round, not a cached one
                        invalidate()
                if reward and initialized and bm.isActiveTranscoder(self.address) \
                        and bm.getTranscoder(self.address)[0] != current:
                    bm.reward(sender=account)
                    done["reward"] = current
                if initialized:
                    self._duties_done_round = current
        except TransactionFailed as exc:
            self.metrics.reward_call_errors.inc()
            done["error"] = exc.reason
        block = self.chain.last_seen_block()
        with self.lock:
            results = self.redeemer.on_block(block)
            self.receiver.forget_stale(block, self.clock())
        for r in results:
            sender = r.ticket.ticket.sender
            if r.outcome is Outcome.REDEEMED:
                self.metrics.value_redeemed.labels(sender).inc(r.ticket.ticket.face_value)
            elif r.outcome is not Outcome.EXPIRED:
                self.metrics.ticket_redemption_errors.labels(sender).inc()
        done["redemptions"] = [f"{r.outcome.value}: {r.error}" if r.error else r.outcome.value for r in results]
        return done

