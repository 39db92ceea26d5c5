"""Simulator scale: the network day (scenarios/network-day.yaml) grown to N orchestrators and N/5
gateways (the active set grown with it, to at most 256), each size run in its own process; the curve of wall time
and peak memory from 100 to 1,000 orchestrators (1,000 is scenarios/network-day-10x.yaml).

    python benchmarks/bench_scale.py                    # N = 100, 250, 500, 1000, one simulated day
    python benchmarks/bench_scale.py --quick            # the same sizes, one simulated hour
    python benchmarks/bench_scale.py --sizes 100 1000 --duration "6 h"
    python benchmarks/bench_scale.py --jobs off         # metrics.jobs (default: the scenario's, on)
    python benchmarks/bench_scale.py --check            # short: 100 and 250 orchestrators, one hour,
                                                        # per-job wall and peak RSS as ratios to 100's

Printed per size: setup and total wall seconds, the child's CPU seconds (user + system, from
os.wait4: steadier than wall time when other processes share the cores), jobs, jobs per wall
second (of the whole child, and of the run alone: no start-up, setup or writing), jobs per CPU
second (the whole child), peak RSS of the child
(ru_maxrss from os.wait4), and the ratio of each to the smallest size's.

`--check` prints what a regression would move: the run's wall time per job at 250 orchestrators
as a ratio to that at 100 (about 1 when a job's cost does not grow with the network; the setup,
which does, is left out), the child's CPU time per job likewise (setup included, but steadier on a
busy machine), and peak RSS per orchestrator (below 1: a fixed cost shared by more of them).

Figures (one simulated day, every job row kept as CSV, niced on the shared 2-core machine, 08c888f):

    orchs  gws  wall s  CPU s      jobs  jobs/CPU s  peak RSS MB
      100   20    63.6   63.1   167,138       2,649        123.7
      250   50   227.9  226.4   434,637       1,920        201.2
      500  100   460.4  459.8   851,691       1,852        290.4
     1000  200  1021.7 1020.1 1,683,313       1,650        483.3   (2,589.5 MB before 08c888f)

Wall time grows ~16x for 10x the network: ~10x the jobs, each ~1.6x dearer, because every
stream's and AI pool's discovery asks every orchestrator for fresh ticket params (go's
GetOrchestrators does). Memory grows ~4x: the rows past the newest 50,000 are spooled to disk
(lpsim.spool); before, the summary read the 1.7 M job rows back as ~1 KB dicts at the end.
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
MAX_ACTIVE = 256  # lpsim.scenario's bound on chain.params.num_active_transcoders

CHILD = """\
import json, sys, tempfile
sys.path.insert(0, {root!r})
from lpsim.engine import run_scenario
from lpsim.scenario import load_scenario
n, overrides = json.loads(sys.argv[1])
scenario = load_scenario({path!r}).with_overrides(overrides)
with tempfile.TemporaryDirectory(prefix="lpsim-scale-") as out:
    summary = run_scenario(scenario, out)
    timing = json.loads(open(out + "/timing.json").read())
print(json.dumps({{"jobs": summary["jobs"]["total"], "setup_s": timing["setup_s"], "run_s": timing["wall_s"] - timing["setup_s"]}}))
"""


def overrides(n: int, duration: str | None, jobs: str | None) -> dict:
    """The network day at n orchestrators and n/5 gateways, the active set grown with them up to
    the scenario format's limit (256)."""
    out = {"orchestrators[0].count": n, "gateways[0].count": max(1, n // 5),
           "chain.params.num_active_transcoders": min(n, MAX_ACTIVE)}
    if duration:
        out["duration"] = duration
    if jobs:
        out["metrics.jobs"] = jobs == "on"
    return out


def measure(n: int, duration: str | None, jobs: str | None) -> dict:
    """One size in a child process: wall seconds, jobs, setup seconds, peak RSS in MB."""
    code = CHILD.format(root=str(ROOT), path=str(ROOT / "scenarios" / "network-day.yaml"))
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code, json.dumps([n, overrides(n, duration, jobs)])],
                             stdout=subprocess.PIPE, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)  # reaped here, not by Popen: its own rusage
    child.stdout.close()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"child for N={n} failed ({child.returncode})")
    row = json.loads(out.splitlines()[-1])
    row.update(n=n, wall_s=time.perf_counter() - start, rss_mb=usage.ru_maxrss / 1024,
               cpu_s=usage.ru_utime + usage.ru_stime)
    return row


CHECK_SIZES, CHECK_DURATION = (100, 250), "1 h"


def check() -> None:
    """Short runs at two sizes: the per-job costs and RSS per orchestrator of the larger as ratios
    to the smaller's (see the module docstring)."""
    rows = [measure(n, CHECK_DURATION, None) for n in CHECK_SIZES]
    print(f"network day scaled, {CHECK_DURATION}")
    print(f"{'orchs':>6} {'jobs':>7} {'run s':>7} {'us/job':>7} {'CPU s':>7} {'peak RSS MB':>12} {'MB/orch':>8}")
    for r in rows:
        print(f"{r['n']:>6} {r['jobs']:>7} {r['run_s']:>7.1f} {r['run_s'] / r['jobs'] * 1e6:>7.0f} {r['cpu_s']:>7.1f}"
              f" {r['rss_mb']:>12.1f} {r['rss_mb'] / r['n']:>8.3f}")
    small, large = rows
    per_job = (large["run_s"] / large["jobs"]) / (small["run_s"] / small["jobs"])
    cpu = (large["cpu_s"] / large["jobs"]) / (small["cpu_s"] / small["jobs"])  # setup and start-up included
    rss = (large["rss_mb"] / large["n"]) / (small["rss_mb"] / small["n"])
    print(f"x{large['n'] / small['n']:g} orchestrators: run wall per job x{per_job:.2f}, CPU per job x{cpu:.2f} "
          f"(setup included), peak RSS per orchestrator x{rss:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 500, 1000])
    parser.add_argument("--duration", default=None, help='simulated duration (default the scenario\'s "1 d")')
    parser.add_argument("--quick", action="store_true", help='shorthand for --duration "1 h"')
    parser.add_argument("--jobs", choices=("on", "off"), default=None, help="metrics.jobs (default the scenario's)")
    parser.add_argument("--check", action="store_true", help="short: 100 and 250 orchestrators, ratios")
    args = parser.parse_args()
    if args.check:
        check()
        return
    duration = "1 h" if args.quick and not args.duration else args.duration
    print(f"network day scaled, duration {duration or '1 d'}")
    print(f"{'orchs':>6} {'gws':>5} {'setup s':>8} {'wall s':>8} {'CPU s':>7} {'jobs':>9} {'jobs/s':>7}"
          f" {'run jobs/s':>10} {'jobs/CPU s':>10} {'peak RSS MB':>12} {'x wall':>7} {'x CPU':>6} {'x RSS':>6}")
    first = None
    for n in args.sizes:
        row = measure(n, duration, args.jobs)
        first = first or row
        print(f"{n:>6} {max(1, n // 5):>5} {row['setup_s']:>8.1f} {row['wall_s']:>8.1f} {row['cpu_s']:>7.1f}"
              f" {row['jobs']:>9} {row['jobs'] / row['wall_s']:>7.0f} {row['jobs'] / row['run_s']:>10.0f}"
              f" {row['jobs'] / row['cpu_s']:>10.0f} {row['rss_mb']:>12.1f} {row['wall_s'] / first['wall_s']:>7.2f}"
              f" {row['cpu_s'] / first['cpu_s']:>6.2f} {row['rss_mb'] / first['rss_mb']:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
