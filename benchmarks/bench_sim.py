"""Simulator speed: the issue's three workloads, plus baselines measured in the same run that show
where the time goes.

    python benchmarks/bench_sim.py            # quickstart, one network day, one economics year
    python benchmarks/bench_sim.py --quick    # shorter horizons (smoke)
    python benchmarks/bench_sim.py --profile  # also print the top functions of the day run
    python benchmarks/bench_sim.py --check    # short: jobs/s (wall and CPU) as ratios to the goal and the
                                              # core loop, also with the declared known-signers mode (no
                                              # recovery), and the crypto ceiling of each run

Figures printed:
- ticket crypto floor: signing + recovering one ticket (secp256k1), the cost every paid job pays
  per ticket whatever the engine does;
- core loop: select an orchestrator, stage a payment, sign, receive and validate it, debit the
  work — the protocol core alone, no SimPy, no chain — per job, as the engine's baseline;
- quickstart, network day (100 orchestrators, 20 gateways, transcoding + batch AI) and
  economics year (100 orchestrators, ~412 rounds): wall time, simulated jobs per wall second,
  tickets per job, and the ratio of the engine's cost per job to the core loop's.
Targets on the 2-core development machine: >= 5,000 jobs per wall second, a simulated year of the
economics scenario in <= 60 s.

Figures (`--check`, CPU jobs/s, the shared 2-core machine under load; before = the tree at
1fec51d, run alternately with after in the same conditions, two rounds each):

    run                            before        after         after / core loop
    quickstart                     2,200-2,240   2,300-2,450   0.58-0.60
    network day                    2,320-2,510   2,730-2,930   0.67-0.71
    network day, known signers     2,750-3,370   3,570-3,820   0.87-0.97
    core loop (baseline)           3,860-4,110   3,860-4,300

Where the time goes now (py-spy, one network-day hour): secp256k1 signing and recovery ~34 %
(~40 % with their wrappers and keccak); the rest is flat, no single item above ~3 %: offers and
discovery (~15 %, every gateway asks every orchestrator, so this grows with gateways x
orchestrators), exact-fraction balances (~5 %, go's big.Rat arithmetic, kept exact), dataclass
construction (~5 %), SimPy (~4 %; 6 scheduled events a job, down from 8). The crypto ceiling alone
(the jobs/s at which signing and recovering the run's tickets would take all the CPU) is ~8,500
for the network day (1.6 tickets a job) and ~4,200 for quickstart (3.1 tickets a job): quickstart
cannot reach 5,000 jobs/s in one process with every ticket signed and recovered, and the network
day would need the rest of a job to cost ~80 us (it costs ~240 us).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lpsim.engine import Simulation
from lpsim.scenario import load_scenario
from node.core.balances import Balances, UpdateStatus, complete_update
from node.core.chain_view import ReserveInfo, SenderInfo
from node.core.payment import PaymentReceiver, new_payment
from node.core.pricing import PriceInfo, estimate_transcode_fee
from node.core.recipient import REDEEM_GAS_ARBITRUM, Recipient
from node.core.redemption import Redeemer
from node.core.selection import ProbabilitySelectionAlgorithm
from node.core.sender import Sender
from node.core.sender_monitor import SenderMonitor
from node.core.ticket import Ticket, recipient_rand_hash, recover_signer, sign_ticket


@dataclass
class _View:
    """A constant chain view: the core loop measures the protocol rules, not chain reads."""

    block: int = 1000

    def last_initialized_round(self): return 10
    def block_hash_for_round(self, r): return b"\x0a" * 32
    def transcoder_pool_size(self): return 100
    def last_seen_block(self): return self.block
    def sender_info(self, s): return SenderInfo(10**19, 0, ReserveInfo(10**19, 0))
    def claimed_reserve(self, h, c): return 0
    def is_active(self, o): return True
    def gas_price(self): return 10_000_000


@dataclass(frozen=True)
class _Rendition:
    width: int
    height: int
    framerate: int = 30
    framerate_den: int = 1


def crypto_floor(n: int, clock=time.perf_counter) -> float:
    """Seconds to sign and recover one ticket (by `clock`: wall, or time.process_time for CPU)."""
    key = bytes([7]) * 32
    ticket = Ticket("0x" + "11" * 20, "0x" + "22" * 20, 10**15, 2**200, 1, recipient_rand_hash(5), 10, b"\x0a" * 32)
    h = ticket.hash()
    t0 = clock()
    for _ in range(n):
        recover_signer(h, sign_ticket(h, key))
    return (clock() - t0) / n


def core_loop(n: int, price_per_pixel: int = 700, clock=time.perf_counter) -> tuple[float, float]:
    """Seconds per job and tickets per job for the protocol core alone (a 2 s segment, two
    renditions, 100 orchestrators, go's default ticket parameters)."""
    from eth_account import Account

    view, rng = _View(), random.Random(1)
    gw_key = bytes([2]) * 32
    gw = Account.from_key(gw_key).address
    orchs = []
    for i in range(100):
        addr = Account.from_key(bytes([3]) + i.to_bytes(31, "big")).address
        monitor = SenderMonitor(addr, view)
        rec = Recipient(addr, bytes(32), view, monitor, rng.randbytes, redeem_gas=REDEEM_GAS_ARBITRUM)
        orchs.append(PaymentReceiver(rec, Balances(lambda: 0.0), Redeemer(view, monitor, None, REDEEM_GAS_ARBITRUM)))
    stakes = {o.recipient.address: 1000 + i for i, o in enumerate(orchs)}
    by_addr = {o.recipient.address: o for o in orchs}
    sender, balances, algo = Sender(gw, gw_key, view), Balances(lambda: 0.0), ProbabilitySelectionAlgorithm()
    price = Fraction(price_per_pixel)
    renditions = (_Rendition(426, 240), _Rendition(640, 360))
    pixels = sum(r.width * r.height * 60 for r in renditions)
    sessions = {}
    for o in orchs:
        params = o.recipient.ticket_params(gw, price)
        sessions[o.recipient.address] = [params, sender.start_session(params)]
    tickets = 0
    t0 = clock()
    for i in range(n):
        addr = algo.select(list(stakes), stakes, rng)
        o, (params, pm) = by_addr[addr], sessions[addr]
        fee = estimate_transcode_fee(renditions, 2.0, price)
        payment, update = new_payment(sender, balances, addr, "s", pm, fee, PriceInfo.from_fraction(price))
        tickets += len(payment.ticket_sender_params)
        got = o.process_payment(payment, "s")
        got.raise_for_error()
        update.status, update.debit = UpdateStatus.RECEIVED_CHANGE, o.debit_fees(gw, "s", price, pixels)
        complete_update(balances, update)
        fresh = o.recipient.ticket_params(gw, price)
        sender.cleanup_session(pm)
        sessions[addr] = [fresh, sender.start_session(fresh)]
    return (clock() - t0) / n, tickets / n


def run(path: Path, duration: float | None, profile: bool = False, known_signers: bool = False) -> dict:
    sc = load_scenario(path)
    t0 = time.perf_counter()
    sim = Simulation(sc, known_signers=known_signers)
    setup = time.perf_counter() - t0
    end = sc.duration if duration is None else min(duration, sc.duration)
    profiler = cProfile.Profile() if profile else None
    t1, c1 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    sim.run(end)
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - t1, time.process_time() - c1
    jobs = sum(g.jobs_submitted for g in sim.gateways)
    tickets = sum(g.tickets_sent for g in sim.gateways)
    if profiler:
        with tempfile.NamedTemporaryFile(suffix=".prof") as f:
            profiler.dump_stats(f.name)
            pstats.Stats(f.name).sort_stats("tottime").print_stats(20)
    return {"name": sc.name, "simulated": end, "setup": setup, "wall": wall, "cpu": cpu, "jobs": jobs,
            "tickets": tickets, "rounds": sim.world.current_round() - sim.first_round}


GOAL_JOBS_PER_S = 5000


def check(scen: Path) -> int:
    """Short runs of quickstart and the network day (the default, then the declared known-signers
    mode): jobs per second ÷ the goal, and ÷ the core loop's measured in the same run (so a slow or
    busy machine shows in both). Each figure by the wall clock and by this process's CPU time,
    which moves less when other processes share the cores. `crypto ceiling`: the jobs/s at which
    signing and recovering the run's tickets alone would take all the CPU time."""
    floor = crypto_floor(300, time.process_time)
    per_job, core_tpj = core_loop(1000, clock=time.process_time)
    core_jps = 1 / per_job
    print(f"ticket crypto floor   {floor * 1e6:8.1f} us CPU per ticket (sign + recover)")
    print(f"core loop (baseline)  {core_jps:8,.0f} jobs per CPU s ({core_tpj:.2f} tickets/job; crypto ceiling "
          f"{1 / (floor * core_tpj):,.0f} jobs/s)")
    print(f"{'run':<40} {'wall jobs/s':>11} {'CPU jobs/s':>10} {'of goal':>7} {'of core':>7} {'crypto ceiling':>14}")
    for path, duration, known in ((scen / "quickstart.yaml", 900, False), (scen / "network-day.yaml", 1800, False),
                                  (scen / "network-day.yaml", 1800, True)):
        r = run(path, duration, known_signers=known)
        wall_jps, cpu_jps = r["jobs"] / r["wall"], r["jobs"] / r["cpu"]
        ceiling = "-" if known else f"{r['jobs'] / (floor * r['tickets']):,.0f}" if r["tickets"] else "-"
        name = r["name"] + (" (known signers: no recovery)" if known else "")
        print(f"{name:<40} {wall_jps:>11,.0f} {cpu_jps:>10,.0f} {cpu_jps / GOAL_JOBS_PER_S:>7.2f} "
              f"{cpu_jps / core_jps:>7.2f} {ceiling:>14}")
    print(f"(of goal: CPU jobs/s / {GOAL_JOBS_PER_S:,}; of core: CPU jobs/s / the core loop's)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter horizons")
    ap.add_argument("--profile", action="store_true", help="profile the network-day run")
    ap.add_argument("--check", action="store_true", help="short runs: ratios to the goal and the core loop")
    args = ap.parse_args()
    scen = ROOT / "scenarios"
    if args.check:
        return check(scen)

    floor = crypto_floor(300 if args.quick else 2000)
    per_job, tickets_per_job = core_loop(500 if args.quick else 5000)
    print(f"ticket crypto floor   {floor * 1e6:8.1f} us per ticket (sign + recover)")
    print(f"core loop (baseline)  {per_job * 1e6:8.1f} us per job, {tickets_per_job:.2f} tickets/job "
          f"-> {1 / per_job:,.0f} jobs/s; crypto {floor * tickets_per_job / per_job:.0%} of it")

    runs = [(scen / "quickstart.yaml", 1800 if args.quick else None, False),
            (scen / "network-day.yaml", 3 * 3600 if args.quick else None, args.profile),
            (scen / "economics.yaml", 30 * 86400 if args.quick else None, False)]
    print(f"{'run':<14} {'simulated':>11} {'setup s':>8} {'wall s':>8} {'jobs':>9} {'jobs/s':>8} "
          f"{'tickets/job':>11} {'rounds':>6} {'us/job vs core':>15}")
    for path, duration, profile in runs:
        r = run(path, duration, profile)
        jps = r["jobs"] / r["wall"] if r["jobs"] else 0.0
        tpj = r["tickets"] / r["jobs"] if r["jobs"] else 0.0
        ratio = f"{(r['wall'] / r['jobs']) / per_job:.2f}x" if r["jobs"] else "-"
        print(f"{r['name']:<14} {r['simulated'] / 86400:>9.2f} d {r['setup']:>8.1f} {r['wall']:>8.1f} {r['jobs']:>9,} "
              f"{jps:>8,.0f} {tpj:>11.2f} {r['rounds']:>6} {ratio:>15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
