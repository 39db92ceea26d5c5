"""A simulated gateway: its clients' demand (transcoding streams cut into segments, batch AI
requests), discovery and selection through the protocol core's session pools, payments with real
signed tickets, retries and swaps, and a job row for every segment or request.

Every decision is the core's: discovery ordering (`node.core.discovery`), session reuse and
suspensions (`node.core.sessions`, `node.core.ai_sessions`), the selection algorithm
(`node.core.selection`), fees and tickets (`node.core.pricing`, `node.core.payment`). What is
modelled here is only what the protocol leaves open: when clients arrive and the network between
the parties.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import count
from typing import Any

import numpy as np

from node.core.ai_sessions import AIErrorAction, AIRequestRetry, AISessionSelector, ServiceUnavailableError
from node.core.balances import Balances, UpdateStatus, complete_update
from node.core.capabilities import pipeline_capability
from node.core.discovery import Discovery, OrchestratorInfo, db_pool_predicate
from node.core.errors import PaymentError, TicketParamsExpired
from node.core.job import Event, Job, State
from node.core.live_payment import LIVE_PAYMENT_INTERVAL, record_swap
from node.core.params import TicketParams
from node.core.payment import Payment, new_payment
from node.core.pricing import LIVE_INITIAL_UNITS, estimate_transcode_fee, gateway_ai_units, live_video_units
from node.core.selection import LiveSelectionAlgorithm, ProbabilitySelectionAlgorithm, select_session
from node.core.sender import Sender
from node.core.sender import PARAMS_EXPIRY_BUFFER
from node.core.ticket import sign_ticket
from node.core.sessions import (AUTH_TOKEN_VALID_PERIOD, SegmentAction, SegmentAttempts, Session, TranscodeSessions,
                                auth_token_needs_refresh, latency_score)
from node.eth import Account

from . import metric_names as m
from .byoc import run_job as byoc_job
from .draws import BlockDraws, UniformDraws
from .orchestrator import Offer, Served, SimOrchestrator
from .world import World

NO_ORCHESTRATORS = "no orchestrators available"
_ZERO = Fraction(0)
LIVE_PIPELINE = "live-video-to-video"


def _offer_price(session: Session) -> Fraction | None:
    return session.info.price


@dataclass
class _LiveStart:
    session: Session | None = None
    slot: Any = None
    error: str | None = None
    attempts: int = 0
    tickets: int = 0


@dataclass
class Workload:
    kind: str  # m.TRANSCODING or m.BATCH_AI
    arrival: Any  # object with .next_interval(rng) -> seconds
    start: float
    stop: float
    pipeline: str = "transcoding"
    model_id: str | None = None
    stream_duration: Any = None  # distribution of seconds (transcoding, live sessions)
    payment_interval: float = LIVE_PAYMENT_INTERVAL  # live sessions
    segment_duration: float = 2.0
    renditions: tuple = ()  # lpsim.scenario.VideoProfile (the pricing rules' PixelProfile)
    request: dict | None = None  # batch AI request fields
    byoc: Any = None  # lpsim.byoc.ByocJobSpec (byoc jobs)


class Network:
    """Latency and loss between a gateway and orchestrators."""

    def __init__(self, latency, loss: float, rng: np.random.Generator) -> None:
        self.latency, self.loss, self.rng = latency, loss, rng
        self._latency, self._uniform = BlockDraws(latency, rng), UniformDraws(rng)  # a block at a time

    def one_way(self) -> float:
        return self._latency.draw()

    def lost(self) -> bool:
        return bool(self.loss) and self._uniform.draw() < self.loss


class SimGateway:
    def __init__(self, world: World, name: str, account: Account, *, recorder, orchestrators: list[SimOrchestrator],
                 stakes: dict[str, int], selection: ProbabilitySelectionAlgorithm, max_price_per_pixel: Fraction | None,
                 max_ai_prices: dict[str, Fraction], max_attempts: int, max_ticket_ev: int, max_total_ev: int,
                 network: Network, rng: np.random.Generator, demand_rng: np.random.Generator,
                 record_jobs: bool, sign=sign_ticket) -> None:
        self.world, self.name, self.account = world, name, account
        self.address = account.address
        self.rec = recorder
        self.orchestrators = orchestrators
        self.stakes = stakes  # address -> active stake, refreshed by the engine every round
        self.selection = selection
        self.live_selection = LiveSelectionAlgorithm()
        self._predicate = db_pool_predicate(lambda p: p is None or self.sender.validate_ticket_params(p))
        self.max_price_per_pixel = max_price_per_pixel
        self.max_ai_prices = max_ai_prices
        self.max_attempts = max_attempts
        self.network = network
        self.rng = rng  # protocol draws: discovery order, selection
        self.demand_rng = demand_rng  # the clients: arrivals, stream lengths (apart, so that a
        # protocol change does not change the demand a run sees)
        self.record_jobs = record_jobs
        self.sender = Sender(self.address, account.key, world.view, max_ev=max_ticket_ev, max_total_ev=max_total_ev,
                             sign=sign)
        self.balances = Balances(lambda: world.env.now)
        self.ai_selectors: dict[tuple[str, str | None], AISessionSelector] = {}
        self._job_numbers = count()
        self._pool_sizes: dict[tuple[str, str | None], int] = {}  # the orchestrators and what they run are fixed
        self._units: dict[int, int] = {}  # per workload (they live for the whole run)
        # cumulative counters
        self.jobs_submitted = self.jobs_completed = self.jobs_failed = self.tickets_sent = 0

    def fund(self, deposit: int, reserve: int) -> None:
        self.world.protocol.TicketBroker.fundDepositAndReserve(deposit, reserve, sender=self.account,
                                                              value=deposit + reserve)

    def start(self, workloads: list[Workload]) -> None:
        for w in workloads:
            self.world.env.process(self._arrivals(w))

    def _arrivals(self, w: Workload):
        env = self.world.env
        if w.start > env.now:
            yield env.timeout(w.start - env.now)
        while True:
            yield env.timeout(w.arrival.next_interval(self.demand_rng))
            if env.now >= w.stop:
                return
            if w.kind == m.TRANSCODING:
                env.process(self._stream(w))
            elif w.kind == m.LIVE_AI:
                env.process(self._live_session(w))
            elif w.byoc is not None:
                env.process(byoc_job(self, w.byoc))
            else:
                env.process(self._ai_request(w))

    # ------------------------------------------------------------------ discovery

    def _discover(self, pipeline: str, model_id: str | None, suspended):
        """A SimPy process: GetOrchestrator to every active orchestrator that runs `pipeline`,
        in simulated parallel, ordered and filtered by the core's Discovery; returns sessions."""
        candidates = {o.service_uri: o for o in self.orchestrators
                      if o.can_run(pipeline, model_id) and self.world.view.is_active(o.address)}
        discovery = Discovery(list(candidates), len(candidates), self.rng, suspended=suspended,
                              predicate=self._acceptable)
        answers = []
        for uri in discovery.to_query:
            o = candidates[uri]
            rtt = 2 * self.network.one_way()
            try:
                offer = o.offer(self.address, pipeline)
            except PaymentError:
                answers.append((rtt, uri, None, None))
                continue
            info = OrchestratorInfo(uri, o.address, offer.params, offer.price)
            answers.append((rtt, uri, info, offer))
        answers.sort(key=lambda a: a[0])
        offers, elapsed = {}, 0.0
        for rtt, uri, info, offer in answers:
            while not discovery.done and discovery.deadline <= rtt:
                elapsed = discovery.deadline
                discovery.timer_fired()
            if discovery.done:
                break
            elapsed = rtt
            if info is None or self.network.lost():
                discovery.error(uri)
            else:
                offers[uri] = offer
                discovery.response(uri, info, rtt)
        while not discovery.done:
            elapsed = discovery.deadline
            discovery.timer_fired()
        yield self.world.env.timeout(elapsed)
        return [self._session(offers[d.url], d.latency, pipeline) for d in discovery.result()]

    def _pool_size(self, pipeline: str, model_id: str | None) -> int:
        """How many orchestrators run `pipeline` (and `model_id`): the pool size discovery reports."""
        key = (pipeline, model_id)
        size = self._pool_sizes.get(key)
        if size is None:
            size = self._pool_sizes[key] = sum(1 for o in self.orchestrators if o.can_run(pipeline, model_id))
        return size

    def _acceptable(self, info: OrchestratorInfo) -> bool:
        """The on-chain pool's predicate (free orchestrators send no ticket params here)."""
        return self._predicate(info)

    def _session(self, offer: Offer, latency: float, pipeline: str) -> Session:
        self._start_pm_session(offer.params)
        o = offer.orchestrator
        return Session(o.service_uri, o.address, initial_latency=latency, info=offer, warm=o.pipelines[pipeline].warm)

    def _choose(self, max_price: Fraction | None):
        """The selection algorithm over unknown sessions (on-chain: stake, price and random)."""
        return lambda sessions: select_session(self.selection, sessions, self.stakes, self.rng, _offer_price,
                                               max_price)

    # ------------------------------------------------------------------ paying

    def _pay(self, offer: Offer, fee: Fraction):
        """Stage the balance and sign the tickets for one attempt (raises PaymentError)."""
        if offer.params is None:
            return Payment(self.address), None
        payment, update = new_payment(self.sender, self.balances, offer.orchestrator.address, offer.session_id,
                                      offer.params.session_id, fee, offer.price_info)
        self.tickets_sent += len(payment.ticket_sender_params)
        return payment, update

    def _settle(self, offer: Offer, update, served, responded: bool) -> Offer:
        """Complete the balance update; a result carries fresh ticket params: a new PM session."""
        if update is None:
            return offer
        if served is not None and served.error is None:
            update.status, update.debit = UpdateStatus.RECEIVED_CHANGE, served.fee
        elif responded:
            update.status = UpdateStatus.CREDIT_SPENT
        complete_update(self.balances, update)
        if served is not None and served.params is not None:
            self._end_pm_session(offer.params)
            self._start_pm_session(served.params)
            return offer.with_params(served.params)
        return offer

    def _refreshed(self, offer: Offer):
        """A SimPy process: the offer, renewed through GetOrchestrator first if its ticket params
        are about to expire or its auth token is in its last 10 % (go's shouldRefreshSession)."""
        world = self.world
        stale = offer.params is not None and \
            offer.params.expiration_block - world.block_now() <= PARAMS_EXPIRY_BUFFER
        if not stale and not auth_token_needs_refresh(world.env.now, offer.issued_at + AUTH_TOKEN_VALID_PERIOD):
            return offer
        yield world.env.timeout(2 * self.network.one_way())
        fresh = offer.orchestrator.offer(self.address, offer.pipeline)  # PaymentError: the attempt fails
        self._end_pm_session(offer.params)
        self._start_pm_session(fresh.params)
        return fresh

    def _start_pm_session(self, params: TicketParams | None) -> None:
        if params is not None:
            self.sender.start_session(params)

    def _end_pm_session(self, params: TicketParams | None) -> None:
        if params is not None:
            self.sender.cleanup_session(params.session_id)

    def forget_stale(self) -> None:
        """Drop idle balances (go's balance cleanup loop) and the PM sessions of expired ticket
        params: no payment can use those any more (`_refreshed` renews such an offer first), and
        sessions dropped from a pool would otherwise be kept for ever."""
        self.balances.cleanup()
        self.sender.cleanup_expired(self.world.block_now())

    # ------------------------------------------------------------------ transcoding

    def _stream(self, w: Workload):
        env = self.world.env
        segments = max(1, math.ceil(float(w.stream_duration.sample(self.demand_rng)) / w.segment_duration))
        pools: TranscodeSessions | None = None
        for seq in range(segments):
            started = env.now
            if pools is None or pools.untrusted.needs_refresh() or pools.untrusted.refresh_wanted:
                pools = yield from self._refresh(pools, w)
            env.process(self._segment(w, pools, started))
            yield env.timeout(max(0.0, started + w.segment_duration - env.now))
        if pools is not None:
            pools.cleanup()

    def _segment_units(self, w: Workload) -> int:
        """The pixels one segment of `w` is charged for (its renditions are fixed)."""
        units = self._units.get(id(w))
        if units is None:
            units = self._units[id(w)] = sum(r.width * r.height * round(r.framerate / (r.framerate_den or 1) * w.segment_duration)
                                             for r in w.renditions)
        return units

    def _refresh(self, pools: TranscodeSessions | None, w: Workload):
        if pools is None:
            pool_size = self._pool_size("transcoding", None)
            pools = TranscodeSessions(0, pool_size, choose_unknown=self._choose(self.max_price_per_pixel))
        if pools.untrusted.begin_refresh() is not None:
            sessions = yield from self._discover("transcoding", None, pools.untrusted.suspender.suspended)
            pools.untrusted.end_refresh(sessions)
        return pools

    def _segment(self, w: Workload, pools: TranscodeSessions, submitted: float):
        env = self.world.env
        job = Job(self.max_attempts, max_swaps=0, record=False)
        job_id = self._next_job_id()
        self.jobs_submitted += 1
        self._fire(job, job_id, Event.INGEST)
        attempts = SegmentAttempts(self.max_attempts)
        units = self._segment_units(w)
        last, tickets, fee_paid, error = "", 0, _ZERO, None
        swaps_before = pools.untrusted.swaps
        self._fire(job, job_id, Event.SESSION_READY)
        while True:
            session = pools.select(env.now)
            if session is None:
                error = NO_ORCHESTRATORS
                self._fire(job, job_id, Event.NO_ORCHESTRATOR if job.state is State.RETRY else Event.GIVE_UP, error)
                break
            offer: Offer = session.info
            last = offer.orchestrator.name
            if job.state is State.RETRY:
                self._fire(job, job_id, Event.REDISPATCH)
            else:
                self._fire(job, job_id, Event.DISPATCH)
            pools.untrusted.push_in_flight(session, env.now, w.segment_duration)
            sent_at = env.now
            served, responded, update = None, False, None
            try:
                offer = session.info = yield from self._refreshed(offer)
                fee = estimate_transcode_fee(w.renditions, w.segment_duration, offer.price) or _ZERO
                payment, update = self._pay(offer, fee)
                tickets += len(payment.ticket_sender_params)
                yield env.timeout(self.network.one_way())
                if self.network.lost():
                    yield env.timeout(max(8.0, 4 * w.segment_duration))  # the HTTP timeout
                    attempt_error = "segment upload timed out"
                else:
                    self._fire(job, job_id, Event.SUBMITTED)
                    served = yield from offer.orchestrator.serve(payment, offer.session_id, "transcoding", units,
                                                                 queue=True)
                    yield env.timeout(self.network.one_way())
                    responded = True
                    attempt_error = served.error
            except TicketParamsExpired as exc:
                attempt_error = str(exc)
            except PaymentError as exc:
                attempt_error = f"payment error: {exc}"
            session.info = self._settle(offer, update, served, responded)
            action = attempts.record(attempt_error)
            if action is SegmentAction.DONE:
                fee_paid = served.fee
                pools.complete(session, latency_score(env.now - sent_at, w.segment_duration))
                for event in (Event.RESULT, Event.RECEIVED, Event.VERIFIED, Event.PUBLISHED, Event.SETTLED):
                    self._fire(job, job_id, event)
                break
            pools.fail(session, attempt_error)
            self._fire(job, job_id, Event.COMPUTE_FAILED, attempt_error)
            if action is not SegmentAction.RETRY:
                error = str(attempts.error)
                if not job.done:
                    self._fire(job, job_id, Event.GIVE_UP, error)
                break
        self._finish(job_id, m.TRANSCODING, "transcoding", submitted, last, error, attempts.attempts,
                     pools.untrusted.swaps - swaps_before, tickets, fee_paid)

    # ------------------------------------------------------------------ batch AI

    def _ai_selector(self, pipeline: str, model_id: str | None) -> AISessionSelector:
        key = (pipeline, model_id)
        selector = self.ai_selectors.get(key)
        if selector is None:
            max_price = self.max_ai_prices.get(pipeline)
            live = pipeline == LIVE_PIPELINE
            choose = self._choose_live(max_price) if live else self._choose(max_price)
            selector = self.ai_selectors[key] = AISessionSelector(
                int(pipeline_capability(pipeline)), model_id or pipeline, choose=choose)
        return selector

    def _choose_live(self, max_price: Fraction | None):
        """go's LiveSelectionAlgorithm: the first session under the max price, in the pool's order
        (discovery latency)."""
        return lambda sessions: select_session(self.live_selection, sessions, self.stakes, self.rng, _offer_price,
                                               max_price)

    def _ai_request(self, w: Workload):
        env = self.world.env
        retry = AIRequestRetry(env.now)
        job = Job(retry.max_tries, max_swaps=0, record=False)  # go's AI loop: up to 20 tries in 2 s
        job_id = self._next_job_id()
        self.jobs_submitted += 1
        submitted = env.now
        self._fire(job, job_id, Event.INGEST)
        selector = self._ai_selector(w.pipeline, w.model_id)
        units = gateway_ai_units(w.pipeline, w.request or {})
        last, tickets, fee_paid, error, tries = "", 0, _ZERO, None, 0
        done = False
        try:
            while retry.begin_try(env.now):
                pool_size = self._pool_size(w.pipeline, w.model_id)
                if selector.wants_refresh(env.now, pool_size):
                    if job.state is State.INGESTING:
                        self._fire(job, job_id, Event.DISCOVER)
                    sessions = yield from self._discover(w.pipeline, w.model_id, selector.suspender.suspended)
                    selector.refresh(env.now, sessions)
                session = selector.select(env.now, self.rng)
                if session is None:
                    break
                tries += 1
                offer: Offer = session.info
                last = offer.orchestrator.name
                if job.state in (State.INGESTING, State.DISCOVERING):
                    self._fire(job, job_id, Event.SESSION_READY)
                self._fire(job, job_id, Event.REDISPATCH if job.state is State.RETRY else Event.DISPATCH)
                served, responded, update = None, False, None
                try:
                    offer = session.info = yield from self._refreshed(offer)
                    payment, update = self._pay(offer, units * offer.price)
                    tickets += len(payment.ticket_sender_params)
                    yield env.timeout(self.network.one_way())
                    if self.network.lost():
                        attempt_error = "request timed out"
                    else:
                        self._fire(job, job_id, Event.SUBMITTED)
                        served = yield from offer.orchestrator.serve(payment, offer.session_id, w.pipeline, units,
                                                                     queue=False)
                        yield env.timeout(self.network.one_way())
                        responded = True
                        attempt_error = served.error
                except PaymentError as exc:
                    attempt_error = f"payment error: {exc}"
                session.info = self._settle(offer, update, served, responded)
                action = retry.on_result(session, attempt_error)
                if action is AIErrorAction.COMPLETE:
                    selector.complete(session)
                    fee_paid = served.fee
                    for event in (Event.RESULT, Event.RECEIVED, Event.VERIFIED, Event.PUBLISHED, Event.SETTLED):
                        self._fire(job, job_id, event)
                    done = True
                    break
                self._fire(job, job_id, Event.COMPUTE_FAILED, attempt_error)
                if action in (AIErrorAction.RETRY_SAME, AIErrorAction.BAD_REQUEST):
                    selector.complete(session)
                elif action is AIErrorAction.REMOVE:
                    selector.remove(session)
                if action is AIErrorAction.BAD_REQUEST:
                    error = str(attempt_error)
                    break
                if job.state is not State.RETRY:
                    break  # the budget of this machine's attempts is spent
            for s in retry.finish():
                selector.complete(s)
        except ServiceUnavailableError as exc:
            error = str(exc)
        if not done and error is None:
            error = NO_ORCHESTRATORS
        if not done and not job.done:
            self._fire(job, job_id, Event.GIVE_UP if job.state is not State.RETRY else Event.NO_ORCHESTRATOR, error)
        self._finish(job_id, m.BATCH_AI, w.pipeline, submitted, last, error, tries, 0, tickets, fee_paid)

    # ------------------------------------------------------------------ live video

    def _live_session(self, w: Workload):
        """One live video-to-video session: start it on an orchestrator (60 s paid up front),
        pay every interval while it streams, swap when the orchestrator drops it (stop after more
        than 2 swaps within 3 minutes), end it after its duration. The job row's latency is the
        time to start; the job machine sees the stream as one long execution."""
        env = self.world.env
        job = Job(1, max_swaps=None, record=False)  # every drop is a swap; the 3-minute rule is below
        job_id = self._next_job_id()
        self.jobs_submitted += 1
        self._fire(job, job_id, Event.INGEST)
        submitted = env.now
        end_at = env.now + float(w.stream_duration.sample(self.demand_rng))
        selector = self._ai_selector(LIVE_PIPELINE, w.model_id)
        last, tickets, fee_paid, error, attempts = "", 0, Fraction(0), None, 0
        started_at, swap_times = None, []
        while error is None:
            started = yield from self._start_live(w, selector, job, job_id)
            attempts += started.attempts
            tickets += started.tickets
            if started.session is None:
                error = started.error or NO_ORCHESTRATORS
                break
            session, slot = started.session, started.slot
            offer: Offer = session.info
            last = offer.orchestrator.name
            started_at = env.now if started_at is None else started_at
            dropped = None
            while env.now < end_at:  # streaming: pay every interval
                yield env.timeout(min(w.payment_interval, end_at - env.now))
                units = live_video_units(w.payment_interval)
                try:
                    offer = session.info = yield from self._refreshed(offer)
                    payment, update = self._pay(offer, units * offer.price)
                    tickets += len(payment.ticket_sender_params)
                    served = offer.orchestrator.live_payment(payment, offer.session_id, units)
                except PaymentError as exc:
                    update, served = None, Served(f"payment error: {exc}")
                session.info = offer = self._settle(offer, update, served, True)
                if served.error is not None:
                    dropped = served.error
                    break
                fee_paid += served.fee
            offer.orchestrator.end_live(slot)
            if dropped is None:  # streamed to its end
                selector.complete(session)
                for event in (Event.RESULT, Event.RECEIVED, Event.VERIFIED, Event.PUBLISHED, Event.SETTLED):
                    self._fire(job, job_id, event)
                break
            # the orchestrator dropped the stream: swap, unless that is the 3rd within 3 minutes
            selector.remove(session)
            self._fire(job, job_id, Event.COMPUTE_FAILED, dropped)
            swap_times, stop = record_swap(swap_times, env.now)
            if stop:
                error = f"too many swaps: {dropped}"
                self._fire(job, job_id, Event.GIVE_UP, error)
            else:
                self._fire(job, job_id, Event.REDISCOVER)
        if not job.done:
            self._fire(job, job_id, Event.NO_ORCHESTRATOR if job.state is State.DISCOVERING else Event.GIVE_UP, error)
        self._finish(job_id, m.LIVE_AI, LIVE_PIPELINE, submitted, last, error, attempts, len(swap_times), tickets,
                     fee_paid, finished=started_at)

    def _start_live(self, w: Workload, selector: AISessionSelector, job: Job, job_id: str):
        """A SimPy process: go's processAIRequest for a live start (pay 60 s, start the stream).
        Leaves the job executing on success; failed tries are swaps."""
        env = self.world.env
        retry = AIRequestRetry(env.now, live=True)
        result = _LiveStart()
        try:
            while retry.begin_try(env.now):
                pool_size = self._pool_size(LIVE_PIPELINE, w.model_id)
                if selector.wants_refresh(env.now, pool_size):
                    if job.state is State.INGESTING:
                        self._fire(job, job_id, Event.DISCOVER)
                    sessions = yield from self._discover(LIVE_PIPELINE, w.model_id, selector.suspender.suspended)
                    selector.refresh(env.now, sessions)
                session = selector.select(env.now, self.rng)
                if session is None:
                    break
                result.attempts += 1
                self._fire(job, job_id, Event.SESSION_READY)
                self._fire(job, job_id, Event.DISPATCH)
                offer: Offer = session.info
                served, update, slot = None, None, None
                try:
                    offer = session.info = yield from self._refreshed(offer)
                    payment, update = self._pay(offer, LIVE_INITIAL_UNITS * offer.price)
                    result.tickets += len(payment.ticket_sender_params)
                    yield env.timeout(self.network.one_way())
                    self._fire(job, job_id, Event.SUBMITTED)
                    served, slot = yield from offer.orchestrator.start_live(payment, offer.session_id)
                    yield env.timeout(self.network.one_way())
                    attempt_error = served.error
                except PaymentError as exc:
                    attempt_error = f"payment error: {exc}"
                # the initial payment stays as credit for the stream (debited as it streams)
                if served is not None and served.error is None:
                    served = Served(None, Fraction(0), served.params)
                session.info = self._settle(offer, update, served, served is not None)
                action = retry.on_result(session, attempt_error)
                if action is AIErrorAction.COMPLETE:
                    result.session, result.slot = session, slot
                    break
                self._fire(job, job_id, Event.COMPUTE_FAILED, attempt_error)
                self._fire(job, job_id, Event.REDISCOVER)
                if action is AIErrorAction.RETRY_SAME:
                    selector.complete(session)
                else:
                    selector.remove(session)
                if action is AIErrorAction.BAD_REQUEST:
                    result.error = str(attempt_error)
                    break
            retry.finish()  # live: set-aside sessions are dropped, as go removes them
        except ServiceUnavailableError as exc:
            result.error = str(exc)
        return result

    # ------------------------------------------------------------------ records

    def _next_job_id(self) -> str:
        return f"{self.name}/{next(self._job_numbers)}"

    def _fire(self, job: Job, job_id: int, event: Event, reason: str = "") -> None:
        t = job.fire(event, self.world.env.now, reason)
        self.rec.transition(t.time, job_id, t.state, t.event, t.next)

    def _finish(self, job_id, workload, pipeline, submitted, orchestrator, error, attempts, swaps, tickets, fee,
                finished: float | None = None):
        now = self.world.env.now if finished is None else finished
        if error is None:
            self.jobs_completed += 1
        else:
            self.jobs_failed += 1
        if self.record_jobs:
            self.rec.job(job_id, self.name, orchestrator, workload, pipeline, submitted, now,
                         m.COMPLETED if error is None else m.FAILED, error or "", attempts, swaps, tickets, float(fee))
