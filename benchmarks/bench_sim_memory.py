"""Simulator memory per simulated day: peak RSS of one run of 1, 7 and 30 simulated days, each in
its own process, at one batch AI request a minute (the workload of the issue that found the growth).

    python benchmarks/bench_sim_memory.py                 # 1, 7, 30 days, metrics.jobs off and on
    python benchmarks/bench_sim_memory.py --days 1 7      # other horizons
    python benchmarks/bench_sim_memory.py --jobs off      # one setting only
    python benchmarks/bench_sim_memory.py --workload transcoding   # a 1-minute stream a minute instead
    python benchmarks/bench_sim_memory.py --root DIR      # measure another checkout's lpsim (before/after)
    python benchmarks/bench_sim_memory.py --trace 2       # tracemalloc: what grew over 2 days
    python benchmarks/bench_sim_memory.py --chain 100000  # the revm chain alone: 100k transactions
    python benchmarks/bench_sim_memory.py --chain 100000 --root OLD   # ... on another checkout
    python benchmarks/bench_sim_memory.py --check         # short: two horizons a workload, job rows off: the growth
    python benchmarks/bench_sim_memory.py --timeline 250 24 --step 1   # network-day-10x at 250 orchestrators:
                                                          # RSS each simulated hour, then the write's peak apart

Printed per run: wall time, jobs, the child's peak RSS (ru_maxrss from os.wait4) and, between
horizons, the growth in MB per simulated day. It should be about flat with `metrics.jobs` off and
on alike: past the newest 50,000, the rows wait on disk (lpsim.spool), and the summary folds the
job rows in as it reads them. Transcoding, job rows on, 1 and 7 days: 132.8 / 464.3 MB (55 MB a
day) before 08c888f, 93.4 / 102.7 MB (1.5 MB a day) after.

`--chain N`: no simulator, the revm backend alone: the protocol deployed, then N transactions
(an LPT approve each, from five senders in turn) each followed by a view call; the child's peak
RSS at every fifth of the way (a bounded chain stays flat after the first compaction).

`--timeline N HOURS`: scenarios/network-day-10x.yaml at N orchestrators (N/5 gateways) in one
child, stepped `--step` simulated hours at a time: the current RSS (/proc/self/statm), jobs
submitted and the rows the Recorder has recorded (in memory or spooled) after each step, the growth in MB per simulated hour and per
100k jobs from the first step to the last (the first step is warm-up: caches, sessions), then
`Simulation.finish` (rows written, summary read back from the folder) with its own peak apart.

`--check`: with `metrics.jobs` off, batch AI over 1 and 7 simulated days and transcoding (30
segments a minute) over half a day and 2 days; prints the growth in MB per simulated day and the
ratio of the longer run's peak RSS to the shorter's (about 1 when memory is bounded; a regression
that keeps something per request shows as a slope of MB a day).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """\
name: memory
seed: 7
duration: {days} d
chain:
  backend: revm
orchestrators:
  - count: 4
    stake: 1000 LPT
    ai_prices: {{text-to-image: 100000 wei}}
    pipelines: {{text-to-image: {{}}, transcoding: {{}}}}
gateways:
  - count: 1
    deposit: 100 ETH
    reserve: 100 ETH
    demand:
{demand}
metrics:
  jobs: {jobs}
"""

DEMAND = {
    "batch_ai": """\
      - type: batch_ai
        pipeline: text-to-image
        arrival: {process: constant, interval: 1 min}
        request: {width: 512, height: 512}""",
    "transcoding": """\
      - type: transcoding
        arrival: {process: constant, interval: 1 min}
        stream_duration: 1 min""",
}

CHILD = """\
import sys, tempfile
sys.path.insert(0, {root!r})
from lpsim.engine import run_scenario
from lpsim.scenario import parse_scenario
summary = run_scenario(parse_scenario(sys.stdin.read()), tempfile.mkdtemp(prefix="lpsim-mem-"))
print(summary["jobs"]["total"])
"""

TRACE = """\
import sys, tracemalloc
sys.path.insert(0, {root!r})
from lpsim.engine import Simulation
from lpsim.scenario import parse_scenario
sim = Simulation(parse_scenario(sys.stdin.read()))
sim.run(until=86400)
tracemalloc.start(8)
before = tracemalloc.take_snapshot()
sim.run()
after = tracemalloc.take_snapshot()
for stat in after.compare_to(before, "traceback")[:15]:
    print(f"{{stat.size_diff / 2**20:8.2f}} MB {{stat.count_diff:+9d}} blocks")
    for line in stat.traceback.format()[-8:]:
        print("    " + line)
"""


TIMELINE = """\
import json, resource, sys, tempfile, time
sys.path.insert(0, {root!r})
from lpsim.engine import Simulation
from lpsim.scenario import load_scenario
hours, step = {hours}, {step}
scenario = load_scenario({root!r} + "/scenarios/network-day-10x.yaml").with_overrides(json.loads(sys.argv[1]))
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
sim, t, start = Simulation(scenario), 0.0, time.perf_counter()
print("setup", 0, 0, 0, 0, rss(), flush=True)
while t < hours * 3600:
    t = min(hours * 3600, t + step * 3600)
    sim.run(until=t)
    rec = sim.rec
    print(t / 3600, time.perf_counter() - start, sum(g.jobs_submitted for g in sim.gateways), len(rec.metric_rows),
          len(rec.job_rows or ()), rss(), flush=True)
before = peak()
with tempfile.TemporaryDirectory(prefix="lpsim-mem-") as out:
    sim.finish(out)
print("finish", before, peak(), rss(), flush=True)
"""


def timeline(n: int, hours: float, step: float, root: Path) -> None:
    from bench_scale import overrides  # the network day at n orchestrators, as bench_scale grows it

    code = TIMELINE.format(root=str(root), hours=hours, step=step)
    print(f"network-day-10x at {n} orchestrators, {max(1, n // 5)} gateways, {hours:g} simulated h")
    print(f"{'sim h':>6} {'wall s':>7} {'jobs':>8} {'metric rows':>11} {'job rows':>9} {'RSS MB':>7}")
    points = []
    with subprocess.Popen([sys.executable, "-c", code, json.dumps(overrides(n, f"{hours} h", None))],
                          stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout:
            head, *rest = line.split()
            if head == "finish":
                before, after, now = map(float, rest)
                print(f"finish (write + summary): peak RSS {before:.1f} -> {after:.1f} MB (+{after - before:.1f}),"
                      f" RSS after {now:.1f} MB")
                continue
            wall, jobs, metrics, rows, rss = map(float, rest)
            print(f"{head:>6} {wall:>7.1f} {jobs:>8.0f} {metrics:>11.0f} {rows:>9.0f} {rss:>7.1f}", flush=True)
            if head != "setup":
                points.append((float(head), jobs, rss))
    if child.returncode:
        raise SystemExit(f"child failed ({child.returncode})")
    if len(points) > 1:
        (h0, j0, r0), (h1, j1, r1) = points[0], points[-1]
        print(f"run growth {h0:g} h -> {h1:g} h: {(r1 - r0) / (h1 - h0):.2f} MB per simulated hour, "
              f"{(r1 - r0) / max(j1 - j0, 1) * 1e5:.2f} MB per 100k jobs")


CHAIN = """\
import resource, sys
sys.path.insert(0, {root!r})
from node.eth import RevmChain, deploy_protocol
chain = RevmChain(num_accounts=6)
protocol = deploy_protocol(chain)
token, bm, accounts = protocol.LivepeerToken, protocol.BondingManager, chain.accounts
n = {n}
for i in range(n + 1):
    if i % (n // 5) == 0:
        print(i, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, flush=True)
    sender = accounts[1 + i % 5]
    token.approve(bm.address, i, sender=sender)
    token.allowance(sender.address, bm.address)
"""


def chain(n: int, root: Path) -> None:
    print(f"{'transactions':>12} {'wall s':>8} {'peak RSS MB':>12}")
    start = time.perf_counter()
    with subprocess.Popen([sys.executable, "-c", CHAIN.format(root=str(root), n=n)], stdout=subprocess.PIPE,
                          text=True) as child:
        for line in child.stdout:
            done, rss = line.split()
            print(f"{int(done):>12} {time.perf_counter() - start:>8.1f} {float(rss):>12.1f}", flush=True)
    if child.returncode:
        raise SystemExit(f"child failed ({child.returncode})")


def scenario(days: float, jobs: bool, workload: str) -> str:
    return SCENARIO.format(days=days, jobs="true" if jobs else "false", demand=DEMAND[workload])


def measure(days: float, jobs: bool, workload: str, root: Path) -> tuple[float, int, float]:
    """(wall seconds, jobs, peak RSS in MB) of one run in a child process."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(root))], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    child.stdin.write(scenario(days, jobs, workload))
    child.stdin.close()
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)  # reaped here, not by Popen: its own rusage
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stdout.close()
    if child.returncode:
        raise SystemExit(f"child failed ({child.returncode})")
    return time.perf_counter() - start, int(out.split()[-1]), usage.ru_maxrss / 1024


def trace(days: float, jobs: bool, workload: str, root: Path) -> None:
    subprocess.run([sys.executable, "-c", TRACE.format(root=str(root))], input=scenario(days, jobs, workload),
                   text=True, check=True)


CHECK_DAYS = {"batch_ai": (1, 7), "transcoding": (0.5, 2)}  # transcoding: 30 segments a minute


def check(root: Path) -> None:
    """The growth of peak RSS between two horizons (CHECK_DAYS), job rows off, for each workload."""
    print(f"{'workload':>12} {'days':>7} {'short MB':>9} {'long MB':>8} {'MB/day':>7} {'x RSS':>6}")
    for workload, (short, long) in CHECK_DAYS.items():
        (_, _, a), (_, _, b) = (measure(days, False, workload, root) for days in (short, long))
        print(f"{workload:>12} {short:g}->{long:g} {a:>9.1f} {b:>8.1f} {(b - a) / (long - short):>7.2f} {b / a:>6.2f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, nargs="+", default=[1, 7, 30])
    parser.add_argument("--jobs", choices=("off", "on", "both"), default="both")
    parser.add_argument("--workload", choices=sorted(DEMAND), default="batch_ai")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose lpsim runs (default this one)")
    parser.add_argument("--trace", type=float, default=None, metavar="DAYS",
                        help="instead: tracemalloc's top growth between day 1 and DAYS")
    parser.add_argument("--chain", type=int, default=None, metavar="N",
                        help="instead: the revm chain alone over N transactions (and N view calls)")
    parser.add_argument("--check", action="store_true", help="short: 1 and 7 days, the growth as a ratio")
    parser.add_argument("--timeline", nargs=2, type=float, default=None, metavar=("N", "HOURS"),
                        help="instead: network-day-10x at N orchestrators, RSS each --step simulated hours")
    parser.add_argument("--step", type=float, default=1.0, help="--timeline's step in simulated hours")
    args = parser.parse_args()
    if args.timeline is not None:
        n, hours = args.timeline
        if n < 1 or hours <= 0 or args.step <= 0:
            parser.error("--timeline needs N >= 1, HOURS > 0 and --step > 0")
        timeline(int(n), hours, args.step, args.root)
        return
    if args.check:
        check(args.root)
        return
    if args.chain is not None:
        chain(args.chain, args.root)
        return
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.jobs]
    if args.trace is not None:
        for jobs in settings:
            print(f"metrics.jobs {'on' if jobs else 'off'}: growth from day 1 to day {args.trace:g}")
            trace(args.trace, jobs, args.workload, args.root)
        return
    print(f"{'jobs rows':>9} {'days':>5} {'wall s':>8} {'jobs':>7} {'peak RSS MB':>12} {'MB/day since last':>18}")
    for jobs in settings:
        last = None
        for days in sorted(args.days):
            wall, count, rss = measure(days, jobs, args.workload, args.root)
            slope = "" if last is None else f"{(rss - last[1]) / (days - last[0]):.2f}"
            print(f"{'on' if jobs else 'off':>9} {days:>5g} {wall:>8.1f} {count:>7} {rss:>12.1f} {slope:>18}",
                  flush=True)
            last = (days, rss)


if __name__ == "__main__":
    main()
