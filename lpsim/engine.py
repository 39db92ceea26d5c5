"""Build a simulated network from a scenario and run it: genesis on the chain, the agents' SimPy
processes, the round keeper (initialise each round, orchestrators call reward, delegators act),
the metric sampler, the housekeeper (agents drop stale per-offer and per-session protocol state,
so memory does not grow with the requests served), and the results folder.

`Simulation` can be stepped (a round, or to a time) and inspected between steps, which is what a
notebook wants; `run_scenario` runs one to the end and writes its results.
"""
from __future__ import annotations

import json
import time
from fractions import Fraction
from pathlib import Path

from node.core.balances import BALANCES_TTL
from node.core.selection import ProbabilitySelectionAlgorithm
from node.core.ticket import KnownSignatures, recover_signer, sign_ticket
from node.eth import TransactionFailed

from . import metric_names as m
from .behaviour import Behaviour
from .byoc import BYOC, ByocJobSpec, SimByoc
from .network_start import date_of_round, network_day, recorded_bonding_rate, scale_stakes
from .compute import RealCompute
from .delegator import SimDelegator
from .exogenous import Series
from .gateway import Network, SimGateway, Workload
from .orchestrator import PipelineModel, SimOrchestrator
from .results import SCENARIO_FILE, TIMING_FILE, Recorder, clear_run_files
from .scenario import Scenario
from .seeds import SeedTree
from .world import World

LPT_F = 1e18


class Arrival:
    """Inter-arrival times from the scenario's arrival process; `multiplier()` (the `demand`
    series now, when the scenario has one) scales the rate."""

    def __init__(self, spec, multiplier=None) -> None:
        self.dist = spec.interarrival
        self.multiplier = multiplier

    def next_interval(self, rng) -> float:
        interval = float(self.dist.sample(rng))
        if self.multiplier is None:
            return interval
        m_ = self.multiplier()
        return interval / m_ if m_ > 0 else float("inf")


def _price(x: float) -> Fraction:
    """A drawn price (float wei per unit) to go's 3-decimal fixed point."""
    return Fraction(round(x * 1000), 1000)


class Simulation:
    """One run of one scenario with one seed."""

    def __init__(self, scenario: Scenario, seed: int | None = None, run: int | str = 0, *,
                 known_signers: bool = False) -> None:
        """`known_signers`: a declared mode for very large studies, off by default. Orchestrators
        look up who signed each ticket (the simulator made every signature) instead of recovering
        the signer with secp256k1; the answers are the same, half the ticket crypto is skipped,
        and the summary says the mode was on (node.core.ticket.KnownSignatures)."""
        self.scenario = scenario
        self.known_signers = known_signers
        self.signatures = KnownSignatures() if known_signers else None
        self._sign, self._recover = ((self.signatures.sign, self.signatures.recover) if known_signers
                                     else (sign_ticket, recover_signer))
        self.seed = scenario.seed if seed is None else seed
        self.tree = SeedTree(self.seed)
        sc = scenario
        n_orch = sum(g.count for g in sc.orchestrators)
        n_gw = sum(g.count for g in sc.gateways)
        n_del = sum(g.count for g in sc.delegators)
        self.world = world = World(sc.protocol_params(), backend=sc.chain.backend,
                                   num_accounts=2 + n_orch + n_gw + n_del, block_time=sc.chain.block_time,
                                   gas_price=sc.chain.gas_price)
        self.rec = Recorder(run, self.seed, jobs=sc.metrics.jobs, transitions=sc.metrics.transitions,
                            start_date=sc.start.from_network if sc.start else None)
        self.series = Series({k: v.model_dump() for k, v in sc.series.items()}, int(sc.duration // sc.chain.round_seconds) + 2, sc.chain.round_seconds,
                             self.tree)
        for event in sc.events:  # shocks change the drawn paths from the round the event falls in
            for name, shock in event.shock.items():
                self.series.shock(name, int(event.at // sc.chain.round_seconds), multiply=shock.multiply,
                                  value=shock.set)
        accounts = iter(world.accounts[2:])  # 0: the protocol owner, 1: the rest of the supply
        self.stakes: dict[str, int] = {}
        self.orchestrators = [self._orchestrator(g, i, next(accounts)) for g in sc.orchestrators for i in range(g.count)]
        self.gateways = [self._gateway(g, i, next(accounts)) for g in sc.gateways for i in range(g.count)]
        self.delegators = [self._delegator(g, i, next(accounts)) for g in sc.delegators for i in range(g.count)]
        self.behaviour = Behaviour(self)
        self._genesis()
        self.wall_setup = 0.0

    # ------------------------------------------------------------------ agents

    def _orchestrator(self, g, i: int, account) -> SimOrchestrator:
        name = f"{g.name}-{i}"
        tree = self.tree.child("orchestrator", name)
        rng = tree.generator("draws")
        o = SimOrchestrator(
            self.world, name, account, reward_cut=g.reward_cut, fee_share=g.fee_share,
            price_per_pixel=_price(g.price_per_pixel.sample(rng)),
            ai_prices={k: Fraction(v) for k, v in g.ai_prices.items()}, auto_adjust_price=g.auto_adjust_price,
            ticket_ev=g.ticket_ev, max_face_value=g.max_face_value, capacity=g.capacity,
            pipelines={n: PipelineModel(n, p.model_id, p.warm, RealCompute.for_scenario(self.scenario, n, p.model_id)
                                        if p.mode == "real" else p.compute)
                       for n, p in g.pipelines.items()},
            failure_rate=g.failure_rate, reward_policy=g.reward, service_uri=g.service_uri_for(i),
            redeem_gas=self.scenario.chain.redeem_gas, rng=tree.generator("work"), randbytes=tree.randbytes("seeds"),
            recover=self._recover)
        if g.byoc:  # its workers register each capability at the price the byoc workloads give it
            prices = {w.capability: w.price_per_second for gw in self.scenario.gateways for w in gw.demand
                      if w.type == BYOC}
            o.byoc = SimByoc(o, {n: (c.capacity, prices.get(n, Fraction(0))) for n, c in g.byoc.items()})
        o.genesis_stake = int(g.stake.sample(rng))
        o.policy_spec, o.policy_rng = g.policy, self.tree.generator("policy", name)
        o.registered_at_start = g.registered_at_start
        return o

    def _gateway(self, g, i: int, account) -> SimGateway:
        name = f"{g.name}-{i}"
        tree = self.tree.child("gateway", name)
        sel = g.selection
        gw = SimGateway(
            self.world, name, account, recorder=self.rec, orchestrators=self.orchestrators, stakes=self.stakes,
            selection=ProbabilitySelectionAlgorithm(sel.stake_weight, sel.price_weight, sel.rand_weight,
                                                    sel.price_exp_factor),
            max_price_per_pixel=g.max_price_per_pixel, max_ai_prices=dict(g.max_ai_prices),
            max_attempts=g.max_attempts, max_ticket_ev=g.max_ticket_ev, max_total_ev=g.max_total_ev,
            network=Network(self.scenario.network.latency, self.scenario.network.loss, tree.generator("network")),
            rng=tree.generator("selection"), demand_rng=tree.generator("demand"),
            record_jobs=self.scenario.metrics.jobs, sign=self._sign)
        gw.deposit, gw.reserve = g.deposit, g.reserve
        gw.workloads = [self._workload(w) for w in g.demand]
        return gw

    def _workload(self, w) -> Workload:
        stop = self.scenario.duration if w.stop is None else w.stop
        demand = self.series.values.get("demand")
        arrival = Arrival(w.arrival, None if demand is None else lambda: self.series.at(self._round_index())["demand"])
        if w.type == m.TRANSCODING:
            return Workload(m.TRANSCODING, arrival, w.start, stop, stream_duration=w.stream_duration,
                            segment_duration=w.segment_duration,
                            renditions=tuple(w.profiles))
        if w.type == m.LIVE_AI:
            return Workload(m.LIVE_AI, arrival, w.start, stop, pipeline="live-video-to-video",
                            model_id=w.model_id, stream_duration=w.session_duration,
                            payment_interval=w.payment_interval)
        if w.type == BYOC:
            return Workload(BYOC, arrival, w.start, stop, pipeline=w.capability,
                            byoc=ByocJobSpec(w.capability, w.price_per_second, w.job_duration, int(w.timeout), w.mode))
        return Workload(m.BATCH_AI, arrival, w.start, stop, pipeline=w.pipeline, model_id=w.model_id,
                        request=dict(w.request))

    def _delegator(self, g, i: int, account) -> SimDelegator:
        name = f"{g.name}-{i}"
        rng = self.tree.generator("delegator", name)
        d = SimDelegator(self.world, name, account, policy=g.bond_to, unbond_probability=g.unbond_probability,
                         rebond_after=g.rebond_after, claim_every=g.claim_every, rng=rng)
        d.genesis_stake = int(g.stake.sample(rng))
        d.policy_spec, d.policy_rng = g.policy, self.tree.generator("policy", name)
        d.bonded_at_start = g.bonded_at_start
        return d

    # ------------------------------------------------------------------ genesis

    def _genesis(self) -> None:
        world, sc = self.world, self.scenario
        world.open_genesis_block()
        initial_supply = sc.chain.initial_supply
        if sc.start and sc.start.from_network:  # the recorded day's bonded total and supply
            day = network_day(sc.start.from_network)
            holders = [a for a in self.orchestrators + self.delegators if self._bonded_at_start(a)]
            for a, stake in zip(holders, scale_stakes([a.genesis_stake for a in holders], day.bonded_wei)):
                a.genesis_stake = stake
            outside = sum(a.genesis_stake for a in self.orchestrators + self.delegators if not self._bonded_at_start(a))
            initial_supply = day.total_supply_wei - day.bonded_wei - outside  # entrants' LPT is part of the supply
            if initial_supply < 0:
                raise ValueError(f"the entrants' stakes ({outside / LPT_F:,.0f} LPT) exceed the unbonded supply "
                                 f"recorded on {day.date} ({(day.total_supply_wei - day.bonded_wei) / LPT_F:,.0f} LPT)")
        supply = {world.accounts[1].address: initial_supply}
        supply.update({a.address: a.genesis_stake for a in self.orchestrators + self.delegators})
        world.mint(supply)
        registered = [o for o in self.orchestrators if o.registered_at_start]
        for o in registered:
            o.register(o.genesis_stake)
            self.stakes[o.address] = o.genesis_stake
        for d in self.delegators:
            if d.bonded_at_start:  # (an entrant holds its LPT until its policy bonds it)
                d.bond(d.genesis_stake, registered, self.stakes)
        for gw in self.gateways:
            gw.fund(gw.deposit, gw.reserve)
        world.start_clock()
        self._refresh_stakes()
        env = world.env
        env.process(self._round_keeper())
        env.process(self._sampler())
        if self.gateways:  # only agents that served work hold per-offer and per-session state
            env.process(self._housekeeper())
        for gw in self.gateways:
            gw.start(gw.workloads)
        for event in sc.events:
            env.process(self.behaviour.timeline(event))
        for d in self.delegators:
            if d.policy_spec is None:  # the default behaviour; a policy acts from the round keeper
                d.start(self.orchestrators, self.stakes)
        self.first_round = world.current_round()
        if any(getattr(g.policy, "params", {}).get("target") == "recorded" for g in sc.delegators):
            self._recorded_bonding_rate(sc)
        for o in self.orchestrators:  # prices are fixed for a run: one row each, at time 0
            self.rec.metric(0.0, self.first_round, o.name, m.PRICE_PER_PIXEL, float(o.price_per_pixel))

    # ------------------------------------------------------------------ rounds

    def _refresh_stakes(self, active_set: bool = True) -> None:
        """Every orchestrator's total stake, and the active ones' in `stakes`. The active set is
        fixed for a round (joins, leaves and evictions take effect at the next), so within a
        round `active_set=False` re-reads only the stakes."""
        bm, calls = self.world.protocol.BondingManager, self.world.calls
        active = set(self.stakes) if not active_set else None
        self.stakes.clear()
        for o in self.orchestrators:
            o.stake = calls.uint(bm.transcoderTotalStake, o.address)
            if (o.address in active) if active is not None else calls.uint(bm.isActiveTranscoder, o.address):
                self.stakes[o.address] = o.stake

    def _round_keeper(self):
        world, env = self.world, self.world.env
        p = world.protocol
        while True:
            round_ = world.current_round()
            world.sync()
            if round_ > self.first_round:
                try:
                    p.RoundsManager.initializeRound(sender=self.orchestrators[0].account)
                except TransactionFailed:
                    pass  # somebody already did
                self._refresh_stakes()  # this round's active set (joins, leaves and evictions take effect now)
            active, active_stake = set(self.stakes), sum(self.stakes.values())
            # the bonding rate the Minter set this round's inflation from (active stake / supply at
            # initialisation, before this round's rewards)
            supply = world.calls.uint(p.Minter.getGlobalTotalSupply)
            bonding_rate = world.calls.uint(p.BondingManager.getTotalBonded) / supply if supply else 0.0
            minted = treasury = 0
            net = self.behaviour.network(round_, bonding_rate) if self._has_policies else None
            for o in self.orchestrators:
                if not o.online:  # down (a timeline event): no reward call, no policy
                    o.reward_last_round = 0
                    continue
                if o.policy_spec is None:
                    to_stake, to_treasury = o.call_reward(round_, active=o.address in active)
                else:
                    to_stake, to_treasury = self.behaviour.orchestrator_round(o, round_, net, active_stake)
                minted += to_stake + to_treasury
                treasury += to_treasury
            self._refresh_stakes(active_set=False)
            if any(d.policy_spec is not None for d in self.delegators):
                net = self.behaviour.network(round_, bonding_rate)  # with this round's rewards
                for d in self.delegators:
                    if d.policy_spec is not None:
                        self.behaviour.delegator_round(d, round_, net)
                if self.gateways:  # selection weighs the stakes as they are now; the next round re-reads them
                    self._refresh_stakes(active_set=False)
            self._record_round(round_, minted, treasury, bonding_rate)
            yield env.timeout(world.time_of_round(round_ + 1) - env.now)

    def _record_round(self, round_: int, minted: int, treasury: int, bonding_rate: float) -> None:
        p, now, rec = self.world.protocol, self.world.env.now, self.rec
        for metric, value in ((m.INFLATION, p.Minter.inflation()),
                              (m.BONDING_RATE, bonding_rate),
                              (m.TOTAL_SUPPLY, p.LivepeerToken.totalSupply() / LPT_F),
                              (m.TOTAL_BONDED, p.BondingManager.getTotalBonded() / LPT_F),
                              (m.MINTED, minted / LPT_F),
                              (m.TREASURY_MINTED, treasury / LPT_F),
                              (m.TREASURY_BALANCE, p.LivepeerToken.balanceOf(p.treasury) / LPT_F),
                              (m.ACTIVE_ORCHESTRATORS, len(self.stakes))):
            rec.metric(now, round_, m.NETWORK, metric, value)
        for o in self.orchestrators:
            rec.metric(now, round_, o.name, m.REWARD, o.reward_last_round / LPT_F)
        for name, value in self.series.at(round_ - self.first_round).items():
            rec.metric(now, round_, m.NETWORK, m.SERIES_METRICS[name], value)

    def _recorded_bonding_rate(self, sc) -> None:
        """The series `bonding_rate`: the chain's recorded rate on each round's date (hold_bonding_rate's
        `target: recorded`); the scenario has a recorded start date (Scenario._recorded_target), and
        the run must end within the data."""
        self.series.values["bonding_rate"] = recorded_bonding_rate(
            sc.start.from_network, self.series.length - 1, self.first_round, sc.chain.round_seconds)

    @staticmethod
    def _bonded_at_start(agent) -> bool:
        return getattr(agent, "registered_at_start", getattr(agent, "bonded_at_start", True))

    @property
    def _has_policies(self) -> bool:
        return any(a.policy_spec is not None for a in (*self.orchestrators, *self.delegators))

    def _round_index(self) -> int:
        """Rounds since the first one: the index into the exogenous series."""
        return self.world.current_round() - self.first_round

    def _sampler(self):
        env = self.world.env
        every = self.scenario.metrics.sample_every
        while True:
            yield env.timeout(every)
            self.sample()

    def _housekeeper(self):
        """Every agent forgets what has gone stale, once per balance TTL (go's cleanup interval):
        without it the core's per-offer and per-session state grows with every request."""
        env = self.world.env
        while True:
            yield env.timeout(BALANCES_TTL)
            for agent in (*self.orchestrators, *self.gateways):
                agent.forget_stale()

    def sample(self) -> None:
        """Record every agent's cumulative counters now."""
        now, round_, rec = self.world.env.now, self.world.current_round(), self.rec
        total_active = sum(self.stakes.values())
        for o in self.orchestrators:
            counts = o.ticket_counts()
            for metric, value in ((m.STAKE, o.stake / LPT_F),
                                  (m.STAKE_SHARE, self.stakes.get(o.address, 0) / total_active if total_active else 0.0),
                                  (m.JOBS_COMPLETED, o.jobs_completed), (m.TICKETS_RECEIVED, o.tickets_received),
                                  (m.TICKETS_WON, o.tickets_won), (m.TICKETS_REDEEMED, counts["redeemed"]),
                                  (m.TICKETS_EXPIRED, counts["expired"]), (m.TICKETS_PENDING, counts["pending"]),
                                  (m.TICKETS_WON_EXPECTED, o.winners_expected),
                                  (m.TICKETS_WON_VARIANCE, o.winners_variance),
                                  (m.FEES_EXPECTED, float(o.fees_expected)), (m.FEES_REALISED, o.fees_realised)):
                rec.metric(now, round_, o.name, metric, value)
        for gw in self.gateways:
            info = self.world.view.sender_info(gw.address)
            for metric, value in ((m.JOBS_SUBMITTED, gw.jobs_submitted), (m.JOBS_COMPLETED, gw.jobs_completed),
                                  (m.JOBS_FAILED, gw.jobs_failed), (m.TICKETS_SENT, gw.tickets_sent),
                                  (m.DEPOSIT, info.deposit), (m.RESERVE, info.reserve.funds_remaining)):
                rec.metric(now, round_, gw.name, metric, value)

    # ------------------------------------------------------------------ stepping

    @property
    def now(self) -> float:
        return self.world.env.now

    def run(self, until: float | None = None, progress=None) -> None:
        """Advance to simulated time `until` (default: the scenario's end); `progress(now)` is
        called about once per simulated round."""
        end = self.scenario.duration if until is None else min(until, self.scenario.duration)
        env, step = self.world.env, self.world.round_length * self.world.block_time
        while env.now < end:
            env.run(until=min(end, env.now + step))
            if progress is not None:
                progress(env.now)

    def finish(self, out: str | Path, timing: dict | None = None, note: dict | None = None) -> dict:
        """Write the results folder for the run so far (a stepped run included), replacing what an
        earlier run wrote there (`clear_run_files`): the rows, the resolved scenario,
        summary.json, and the wall-clock `timing` apart in timing.json (it varies run to run, so
        summary.json stays reproducible). Returns the summary."""
        from .summary import summarize, write_summary

        self.sample()
        out = Path(out)
        clear_run_files(out)
        self.rec.write(out)
        self.behaviour.write(out)
        (out / SCENARIO_FILE).write_text(self.scenario.to_yaml())
        extra = {"scenario": self.scenario.name, "seed": self.seed, "duration_s": self.scenario.duration,
                 "backend": self.scenario.chain.backend}
        if self.known_signers:  # only then, so a default run's summary is what it always was
            extra["signature_recovery"] = "skipped: known signers"
        extra.update(note or {})  # e.g. interrupted_at_s
        if self.scenario.start and self.scenario.start.from_network:  # rounds on the calendar
            start = self.scenario.start.from_network
            extra["start_date"] = start
            extra["end_date"] = date_of_round(start, self.world.current_round(), self.first_round,
                                              self.scenario.chain.round_seconds)
        summary = summarize(out, extra=extra)
        write_summary(out, summary)
        if timing is not None:
            (out / TIMING_FILE).write_text(json.dumps(timing) + "\n")
        return summary

    def step_round(self) -> int:
        """Run to the start of the next round; returns it."""
        nxt = self.world.current_round() + 1
        self.run(self.world.time_of_round(nxt) + 1e-9)
        return self.world.current_round()


def run_scenario(scenario: Scenario, out: str | Path, seed: int | None = None, progress=None, *,
                 known_signers: bool = False) -> dict:
    """Run `scenario` to its end and write the results folder; returns the summary."""
    t0 = time.perf_counter()
    sim = Simulation(scenario, seed, known_signers=known_signers)
    setup = time.perf_counter() - t0
    try:
        sim.run(progress=progress)
    except KeyboardInterrupt:  # Ctrl-C: keep what ran, marked as cut short
        summary = sim.finish(out, timing={"wall_s": round(time.perf_counter() - t0, 3), "setup_s": round(setup, 3)},
                             note={"interrupted_at_s": sim.now})
        raise RunInterrupted(summary, sim.now) from None
    return sim.finish(out, timing={"wall_s": round(time.perf_counter() - t0, 3), "setup_s": round(setup, 3)})


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C after it wrote its results folder for the time it had simulated."""

    def __init__(self, summary: dict, at: float) -> None:
        super().__init__(f"interrupted at {at:g} simulated s")
        self.summary, self.at = summary, at
