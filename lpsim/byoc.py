"""The simulator's `byoc` workload: bring-your-own-container jobs paid by the second (spec node.md
§4.4, §6, §19 "BYOC job"), through the same core rules as the node (node.core.byoc): the
orchestrator's registry of external capabilities and its JobPriceInfo, the job token, the gateway's
ticket count for a job (pay the whole timeout when holding under 120 s of credit), the
orchestrator's minute of credit before work, and ceil(elapsed) × price charged on every outcome.

What this module models, outside the protocol: how long a job runs (the workload's duration
distribution, cut at its timeout), the network's round trips, orchestrators that are down or fail
(their failure rate, answered as a worker's 500).

`mode: sse` is a job whose answer is a server-sent event stream: the orchestrator debits
SSE_DEBIT_INTERVAL seconds at a time while it runs and ends it with "insufficient balance" when a
debit leaves the balance negative (node/orchestrator/byoc.py's _proxy_sse), then charges what the
ticks did not cover.

`mode: stream` is a BYOC stream (/process/stream/start, byoc/stream_*.go): started as a job paid
for its timeout, then the orchestrator debits STREAM_DEBIT_INTERVAL seconds at a time
(StreamBilling: the second negative balance removes the stream) while the gateway refreshes its
token and pays for STREAM_PAYMENT_SECONDS every STREAM_PAYMENT_INTERVAL unless the orchestrator
holds two minutes of credit; a stream lost at an orchestrator (removed, down, or dropped at its
failure rate, drawn at each debit) moves to the next token (fetched afresh), and too many swaps
(StreamSwaps, go's rule) end it. The stream's trickle channels (video in and out, data) are not modelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import simpy

from node.core import byoc
from node.core.errors import PaymentError
from node.core.params import TicketParams
from node.core.payment import Payment
from node.core.pricing import PriceInfo, PriceTable

BYOC = "byoc"  # the workload's name in job rows
TRANSPORT_ERROR = "orchestrator unreachable"
WORKER_ERROR = "worker error"  # a worker's 500 (the orchestrator's failure rate)
TIMEOUT = "context deadline exceeded"  # the job ran past timeout_seconds


@dataclass(frozen=True)
class ByocJobSpec:
    """One `byoc` workload's jobs (lpsim.scenario.ByocWorkload, resolved by the engine)."""

    capability: str
    price_per_second: Fraction
    job_duration: Any  # a distribution of seconds
    timeout_seconds: int
    mode: str = "batch"  # "batch", "sse" or "stream"


@dataclass(frozen=True)
class Token:
    """GET /process/token's answer, as the gateway keeps it."""

    orchestrator: Any  # SimOrchestrator
    price: PriceInfo  # per second, whole wei
    params: TicketParams | None
    balance: int
    available_capacity: int


@dataclass(frozen=True)
class Answer:
    """How one attempt at an orchestrator ended: `status` 200, a 4xx/5xx, or 0 for a transport
    error; `charged` what the orchestrator debited; `error` None when the job succeeded."""

    status: int
    error: str | None = None
    elapsed: float = 0.0
    charged: Fraction = Fraction(0)


class SimByoc:
    """One orchestrator's BYOC side: its registered capabilities (the worker registers at the
    start, with the workload's price) and the /process/token and /process/request handlers."""

    def __init__(self, orchestrator, capabilities: dict[str, tuple[int, Fraction]]) -> None:
        """`capabilities`: name -> (capacity, price per second in wei)."""
        self.o = orchestrator
        self.registry = byoc.ExternalCapabilities()
        self.prices = PriceTable()
        for name, (capacity, price) in capabilities.items():
            cap = self.registry.register(byoc.ExternalCapability(name=name, url=f"{orchestrator.service_uri}/{name}",
                                                                  capacity=capacity, price_per_unit=0))
            self.prices.set_job_price(cap.name, Fraction(price))
        self.seconds_charged = 0  # cumulative, for metrics
        self.fees_charged = Fraction(0)  # wei, cumulative

    def balance(self, sender: str, capability: str) -> Fraction | None:
        return self.o.receiver.balances.balance(sender, capability)

    def token(self, sender: str, capability: str) -> Token:
        """The job token (raises PaymentError, e.g. "insufficient sender reserve", as go's 503)."""
        o = self.o
        price = byoc.job_price_info(self.prices, sender, capability, auto_adjust=o.auto_adjust,
                                    tx_cost_multiplier=lambda: o.recipient.tx_cost_multiplier(sender))
        params = o.recipient.ticket_params(sender, price.price) if price.price > 0 else None
        return Token(o, price, params, byoc.token_balance(self.balance(sender, capability)),
                     self.registry.available(capability))

    def process(self, payment: Payment | None, sender: str, spec: ByocJobSpec, price: PriceInfo, duration: float):
        """A SimPy generator (run inline by the gateway's job): POST /process/request: reserve,
        take the payment, require a minute of credit, run the job, charge by the second."""
        o, env = self.o, self.o.world.env
        if not o.online:
            return Answer(0, TRANSPORT_ERROR)
        name = spec.capability
        if not self.registry.reserve(name):
            return Answer(503, byoc.ERR_NO_CAPACITY)
        try:
            error = self.pay(payment, sender, name, price)
            if error is not None:
                return Answer(400, error)
            elapsed = min(duration, float(spec.timeout_seconds))
            if spec.mode == "sse":
                return (yield from self._stream(sender, name, price.price, elapsed, duration > elapsed))
            yield env.timeout(elapsed)
            charged = self._charge(sender, name, price.price, byoc.compute_charge(elapsed, price.price))
            if duration > elapsed:
                return Answer(500, TIMEOUT, elapsed, charged)
            if o.failure_rate and o.rng.random() < o.failure_rate:
                return Answer(500, WORKER_ERROR, elapsed, charged)
            o.jobs_completed += 1
            return Answer(200, None, elapsed, charged)
        finally:
            self.registry.free(name)

    def _stream(self, sender: str, name: str, price: Fraction, elapsed: float, timed_out: bool):
        """The SSE pass-through: a debit of SSE_DEBIT_INTERVAL seconds at every tick while the job
        runs, ended when one leaves the balance negative; then the rest of ceil(elapsed)."""
        env, step = self.o.world.env, byoc.SSE_DEBIT_INTERVAL
        start, ticks, charged = env.now, 0, Fraction(0)
        while (ticks + 1) * step < elapsed:
            yield env.timeout(start + (ticks + 1) * step - env.now)
            ticks += 1
            charged += self._charge(sender, name, price, step * price)
            if byoc.sse_out_of_credit(price, self.balance(sender, name)):
                return Answer(200, "insufficient balance", env.now - start, charged)
        yield env.timeout(max(0.0, start + elapsed - env.now))
        charged += self._charge(sender, name, price, byoc.compute_charge(elapsed, price) - ticks * step * price)
        if timed_out:
            return Answer(200, TIMEOUT, elapsed, charged)
        if self.o.failure_rate and self.o.rng.random() < self.o.failure_rate:
            return Answer(200, WORKER_ERROR, elapsed, charged)
        self.o.jobs_completed += 1
        return Answer(200, None, elapsed, charged)

    # ------------------------------------------------------------------ streams

    def start_stream(self, payment: Payment | None, sender: str, spec: ByocJobSpec, price: PriceInfo) -> Answer:
        """POST /ai/stream/start: reserve, take the payment, require a minute of credit; the slot
        stays taken until `stream` ends."""
        if not self.o.online:
            return Answer(0, TRANSPORT_ERROR)
        name = spec.capability
        if not self.registry.reserve(name):
            return Answer(503, byoc.ERR_NO_CAPACITY)
        error = self.pay(payment, sender, name, price)
        if error is not None:
            self.registry.free(name)
            return Answer(400, error)
        return Answer(200)

    def pay(self, payment: Payment | None, sender: str, name: str, price: PriceInfo) -> str | None:
        """go's confirmPayment (jobs, stream starts and /ai/stream/payment): credit the tickets, then
        require a minute of credit for a priced capability; the error, or None."""
        if price.price <= 0:
            return None
        if payment is not None and self.o._credit(payment, name) is not None:
            return byoc.ERR_PAYMENT
        if not byoc.has_minimum_balance(self.balance(sender, name), price.price):
            return byoc.ERR_INSUFFICIENT_BALANCE
        return None

    def stream(self, sender: str, name: str, price: Fraction, ended):
        """A SimPy process: go's monitorOrchStream until `ended` (the client stopped) or the stream
        is lost here; returns (why it was lost or None, what was charged)."""
        env, billing, charged = self.o.world.env, byoc.StreamBilling(), Fraction(0)
        try:
            while True:
                tick = env.timeout(byoc.STREAM_DEBIT_INTERVAL)
                yield tick | ended
                if ended.triggered:
                    return None, charged
                if not self.o.online:
                    return TRANSPORT_ERROR, charged
                if self.o.failure_rate and self.o.rng.random() < self.o.failure_rate:
                    return "stream dropped", charged
                charged += self._charge(sender, name, price, byoc.STREAM_DEBIT_INTERVAL * price)
                if billing.after_debit(self.balance(sender, name)) == billing.STOP:
                    return f"insufficient balance {byoc.balance_header(self.balance(sender, name))}", charged
        finally:
            self.registry.free(name)

    def _charge(self, sender: str, name: str, price: Fraction, amount: Fraction) -> Fraction:
        """Debit `amount` (whole seconds at `price`) from the (sender, capability) balance."""
        if price <= 0 or amount <= 0:
            return Fraction(0)
        self.seconds_charged += int(amount / price)
        self.fees_charged += amount
        self.o.receiver.balances.debit(sender, name, amount)
        return amount


def run_job(gw, spec: ByocJobSpec):
    """A SimPy process: one BYOC job from a gateway (go's job_gateway.go): token discovery in a
    random order (500 ms an answer, 1 s in all), then each token in turn: sync the local balance,
    pay if it is under 120 s of credit, submit; a 2xx ends it, a 4xx is returned to the client, a
    5xx or transport error moves to the next orchestrator. The row's latency runs from arrival to
    the answer. (`mode: stream` jobs are streams: `run_stream`.)"""
    if spec.mode == "stream":
        return (yield from run_stream(gw, spec))
    env = gw.world.env
    job_id = gw._next_job_id()
    gw.jobs_submitted += 1
    submitted = env.now
    duration = float(spec.job_duration.sample(gw.demand_rng))
    tokens = yield from _discover_tokens(gw, spec.capability)
    last, error, attempts, tickets, fee = "", "no orchestrators available", 0, 0, Fraction(0)
    for token in tokens:
        o = token.orchestrator
        attempts += 1
        last = o.name
        try:
            payment = _payment(gw, token, spec.capability, spec.timeout_seconds)
        except PaymentError as exc:
            error = f"Unable to create ticket batch err={exc}"
            continue
        tickets += len(payment.ticket_sender_params) if payment is not None else 0
        yield env.timeout(gw.network.one_way())
        answer = yield from o.byoc.process(payment, gw.address, spec, token.price, duration)
        if answer.status:
            yield env.timeout(gw.network.one_way())
        if answer.elapsed and token.params is not None:
            byoc.charge_gateway(gw.balances, o.address, spec.capability, answer.elapsed, token.price.price)
        fee += answer.charged
        error = answer.error
        if answer.status == 0 or answer.status >= 500:
            continue  # the next orchestrator
        break  # 2xx (done, or a stream the orchestrator ended) or 4xx (back to the client)
    gw._finish(job_id, BYOC, spec.capability, submitted, last, error, attempts, 0, tickets, fee)


def _payment(gw, token: Token, capability: str, timeout_seconds: int) -> Payment | None:
    """The gateway's payment on a token: the local balance set to the token's, then, under two
    minutes of credit, tickets for `timeout_seconds` of work (credited locally at once); None when
    none are needed. Raises PaymentError when the tickets cannot be made."""
    params = token.params
    if params is None or token.price.price <= 0:
        return None
    o = token.orchestrator
    balance = byoc.sync_gateway_balance(gw.balances, o.address, capability, token.balance)
    count = byoc.tickets_for_job(balance, token.price.price, timeout_seconds, params.ev)
    if not count:
        return None
    session = gw.sender.start_session(params)
    try:
        batch = gw.sender.create_ticket_batch(session, count)
    finally:
        gw.sender.cleanup_session(session)
    byoc.credit_tickets(gw.balances, o.address, capability, count, params.ev)
    gw.tickets_sent += count
    return Payment(gw.address, params, batch.expiration_params, batch.sender_params, token.price)


def run_stream(gw, spec: ByocJobSpec):
    """A SimPy process: one BYOC stream from a gateway (byoc/stream_gateway.go): the tokens as for
    a job; the stream starts on the first orchestrator that accepts it (paid for the job's
    timeout), runs for its duration while the gateway pays every STREAM_PAYMENT_INTERVAL, and moves
    to the next token when that orchestrator loses it. Completed when it streamed its whole
    duration; the row's latency is the time to start, its fee what the orchestrators debited."""
    env = gw.world.env
    job_id = gw._next_job_id()
    gw.jobs_submitted += 1
    submitted = env.now
    end_at = env.now + float(spec.job_duration.sample(gw.demand_rng))
    tokens = yield from _discover_tokens(gw, spec.capability)
    last, error, attempts, tickets, fee = "", "All Orchestrators exhausted, restart the stream", 0, 0, Fraction(0)
    started_at, swaps, lost_count, paid = None, byoc.StreamSwaps(env.now), 0, [0]
    while tokens and env.now < end_at:
        token = tokens.pop(0)
        o = token.orchestrator
        attempts += 1
        last = o.name
        try:
            if swaps.swapping:  # go refreshes a later token (capacity, ticket params)
                token = o.byoc.token(gw.address, spec.capability)
            payment = _payment(gw, token, spec.capability, spec.timeout_seconds)
        except PaymentError:
            continue
        tickets += len(payment.ticket_sender_params) if payment is not None else 0
        yield env.timeout(gw.network.one_way())
        answer = o.byoc.start_stream(payment, gw.address, spec, token.price)
        if answer.status != 200:  # passed over for the next orchestrator
            continue
        yield env.timeout(gw.network.one_way())
        started_at = env.now if started_at is None else started_at
        ended = env.event()
        monitor = env.process(o.byoc.stream(gw.address, spec.capability, token.price.price, ended))
        payer = env.process(_pay_stream(gw, token, spec.capability, byoc.STREAM_PAYMENT_SECONDS, monitor, paid))
        yield env.timeout(max(0.0, end_at - env.now)) | monitor
        if not monitor.triggered:
            ended.succeed()
        lost, charged = yield monitor
        if payer.is_alive:
            payer.interrupt()
        fee += charged
        if lost is None:  # streamed to its end
            error = None
            break
        lost_count += 1
        error = lost
        if swaps.lost(env.now):
            error = f"too many swaps: {lost}"
            break
    gw._finish(job_id, BYOC, spec.capability, submitted, last, error, attempts, lost_count, tickets + paid[0], fee,
               finished=started_at if error is None else None)


def _pay_stream(gw, token: Token, capability: str, seconds: int, monitor, paid: list[int]):
    """A SimPy process: go's monitorStream payment loop: every STREAM_PAYMENT_INTERVAL a fresh
    token from the orchestrator and, under two minutes of credit there, a payment for `seconds`
    (its tickets added to `paid[0]`)."""
    env, o = gw.world.env, token.orchestrator
    try:
        while monitor.is_alive:
            yield env.timeout(byoc.STREAM_PAYMENT_INTERVAL)
            if not monitor.is_alive or not o.online:
                continue
            try:
                fresh = o.byoc.token(gw.address, capability)
                payment = _payment(gw, fresh, capability, seconds)
            except PaymentError:
                continue
            if payment is not None:
                paid[0] += len(payment.ticket_sender_params)
                o.byoc.pay(payment, gw.address, capability, fresh.price)
    except simpy.Interrupt:
        return


def _discover_tokens(gw, capability: str):
    """A SimPy process: GET /process/token to every active orchestrator running `capability`, in
    a random order, concurrently; the tokens with capacity, in the order their answers arrived."""
    env = gw.world.env
    candidates = [o for o in gw.orchestrators
                  if o.byoc is not None and capability in o.byoc.registry and gw.world.view.is_active(o.address)]
    order = byoc.filter_orchestrators([o.service_uri for o in candidates], byoc.JobParameters(),
                                      gw.rng.permutation(len(candidates)).tolist())
    by_uri = {o.service_uri: o for o in candidates}
    answers, waited = [], 0.0
    for uri in order:
        o = by_uri[uri]
        rtt = 2 * gw.network.one_way()
        waited = max(waited, min(rtt, byoc.TOKEN_RESPONSE_TIMEOUT))
        if rtt > byoc.TOKEN_RESPONSE_TIMEOUT or not o.online:
            continue
        try:
            token = o.byoc.token(gw.address, capability)
        except PaymentError:
            continue
        if token.available_capacity > 0:
            answers.append((rtt, token))
    yield env.timeout(min(waited, byoc.TOKEN_SEARCH_TIMEOUT))
    return [token for _, token in sorted(answers, key=lambda a: a[0])]
