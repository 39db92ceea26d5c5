"""`lpsim`: the simulator's command line: run, validate and report scenarios; `rounds`, the
bare economics loop."""
from __future__ import annotations

import argparse
import sys
import time

from node.cli import add_protocol_params, non_negative_int, protocol_params_from, run
from node.eth import ProtocolParams, TransactionFailed


def cmd_rounds(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from lpsim.rounds import HEADER, format_row, run

    params = protocol_params_from(args, parser)
    for flag in ("orchestrators", "rounds"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")
    print(f"lpsim rounds: {args.orchestrators} orchestrators, {args.delegators} delegators, {args.rounds} rounds "
          f"of {params.round_length} blocks on the embedded chain (seed {args.seed})")
    print(HEADER)
    start = time.perf_counter()
    try:
        run(params, args.orchestrators, args.delegators, args.rounds, args.seed,
            on_row=lambda row: print(format_row(row), flush=True))
    except (TransactionFailed, ValueError) as exc:
        print(f"lpsim rounds: {exc}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_validate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from lpsim.scenario import ScenarioError, load_scenario

    failed = 0
    for path in args.scenarios:
        try:
            sc = load_scenario(path)
        except (ScenarioError, OSError) as exc:
            print(exc, file=sys.stderr)
            failed += 1
            continue
        agents = (f"{sum(g.count for g in sc.orchestrators)} orchestrators, {sum(g.count for g in sc.gateways)} "
                  f"gateways, {sum(g.count for g in sc.delegators)} delegators")
        sweep = ""
        if sc.sweep is not None:
            from lpsim.sweep import iter_units

            try:
                points = sum(1 for u in iter_units(sc) if u.run == 0)  # each validated, none kept
            except ScenarioError as exc:
                print(exc, file=sys.stderr)
                failed += 1
                continue
            sweep = f"; sweep of {points} points x {sc.sweep.runs} runs"
        print(f"{path}: ok ({sc.name}: {agents}, {sc.duration:g} s simulated, seed {sc.seed}{sweep})")
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pathlib import Path

    from lpsim.engine import RunInterrupted, run_scenario
    from lpsim.report import write_report
    from lpsim.results import RUN_FILES
    from lpsim.scenario import ScenarioError, load_scenario
    from lpsim.summary import format_summary

    try:
        sc = load_scenario(args.scenario, seed=args.seed)
        if args.jobs_sample is not None or args.jobs_format is not None:  # metrics.jobs, as a mapping
            jobs = {} if isinstance(sc.metrics.jobs, bool) else sc.metrics.jobs.model_dump()
            given = {"sample": args.jobs_sample, "format": args.jobs_format}
            sc = sc.with_overrides({"metrics.jobs": {**jobs, **{k: v for k, v in given.items() if v is not None}}})
    except (ScenarioError, OSError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    out = Path(args.out or Path("results") / f"{sc.name}-seed{sc.seed}")
    print(f"lpsim run: {sc.name} (seed {sc.seed}) on the {sc.chain.backend} chain, {sc.duration:g} s simulated -> {out}")
    progress = _progress_bar(sc.duration, enabled=not args.quiet)
    try:
        summary = run_scenario(sc, out, progress=progress.update)
    except ValueError as exc:  # a scenario the engine cannot build (e.g. an unavailable mode)
        print(f"lpsim run: {exc}", file=sys.stderr)
        return 1
    except RunInterrupted as stop:
        progress.close()
        written = sorted(p.name for p in out.iterdir() if p.is_file() and p.name in RUN_FILES)
        print(f"lpsim run: interrupted at {stop.at:g} of {sc.duration:g} simulated s; wrote the run so far "
              f"to {out}: {', '.join(written)} (summary.json has interrupted_at_s)", file=sys.stderr)
        return 130
    finally:
        progress.close()
    print(format_summary(summary))
    if not args.no_report:
        print(f"report: {write_report(out)}")
    return 0


def cmd_sweep(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pathlib import Path

    from lpsim.backends import make_backend
    from lpsim.scenario import ScenarioError, load_scenario
    from lpsim.sweep import expand, format_summary, run_sweep
    from lpsim.sweep_report import write_sweep_report

    try:
        sc = load_scenario(args.scenario, seed=args.seed)
        units = expand(sc, runs=args.runs)
    except (ScenarioError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 1
    out = Path(args.out or Path("results") / f"{sc.name}-sweep-seed{sc.seed}")
    points = len({u.point for u in units})
    print(f"lpsim sweep: {sc.name}, {points} point(s) x {len(units) // points} run(s) on the {args.backend} "
          f"backend -> {out}")
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(units), unit="run", dynamic_ncols=True, file=sys.stderr)

    def progress(result: dict) -> None:
        if result["status"] != "ok":
            print(f"run failed: point {result['point']} run {result['run']} seed {result['seed']}: "
                  f"{result['error']}", file=sys.stderr)
        if bar is not None:
            bar.update(1)

    try:
        backend = make_backend(args.backend, args.workers, args.address)
        result = run_sweep(sc, out, backend=backend, runs=args.runs, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(format_summary(out))
    print(f"report: {write_sweep_report(out)}")
    resumed = sum(1 for r in result.results if r.get("resumed"))
    if resumed:
        print(f"{resumed} run(s) reused from an earlier, identical sweep in {out}")
    return 1 if result.failed else 0


def cmd_validation(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from lpsim.backends import make_backend
    from lpsim.validation_report import write_validation_report

    page, result = write_validation_report(args.out, runs=args.runs, backend=make_backend(args.backend),
                                           quarter=args.quarter)
    replay, fees = result["inflation_replay"], result["fee_flow"]
    print(f"inflation replay: {replay['matched']}/{replay['compared']} rounds match "
          f"({100 * replay['match_rate']:.2f} %); mismatches {replay['mismatches']}")
    print(f"fee flow ({fees['runs']} runs vs {fees['quarter']}): tickets/day {fees['tickets_per_day']['band']}, "
          f"ETH/day {fees['eth_per_day']['band']}: {'within' if fees['ok'] else 'outside'} the recorded range")
    print(f"report: {page}")
    return 0 if fees["ok"] and not result["failed_runs"] else 1


def cmd_report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pathlib import Path

    from lpsim.report import write_report

    if not (Path(args.results) / "metrics.csv").exists():
        print(f"lpsim report: {args.results} is not a results folder (no metrics.csv)", file=sys.stderr)
        return 1
    print(write_report(args.results))
    return 0


class _progress_bar:
    """A tqdm bar over simulated time (or nothing when disabled or tqdm is missing)."""

    def __init__(self, total: float, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=round(total), unit="sim s", unit_scale=True, dynamic_ncols=True, file=sys.stderr)

    def update(self, now: float) -> None:
        if self.bar is not None:
            self.bar.update(round(now) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _version() -> str:
    """The installed distribution's version (the checkout's, when run uninstalled)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lpsim")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lpsim", description="Livepeer network simulator")
    parser.add_argument("--version", action="version", version=f"lpsim {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run a scenario and write its results folder and report",
                           description="Run a scenario file in simulated time with the contracts in the loop; "
                           "write tidy results, a summary and an HTML report.")
    run_p.add_argument("scenario", help="scenario file (YAML), e.g. scenarios/quickstart.yaml")
    run_p.add_argument("--seed", type=non_negative_int, default=None, help="override the scenario's seed")
    run_p.add_argument("--out", default=None, help="results folder (default results/<name>-seed<seed>)")
    run_p.add_argument("--quiet", action="store_true", help="no progress bar")
    run_p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    run_p.add_argument("--jobs-sample", default=None, metavar="FRACTION",
                       help="keep this fraction of the job rows (e.g. 10%%; metrics.jobs.sample)")
    run_p.add_argument("--jobs-format", choices=("csv", "parquet"), default=None,
                       help="job rows to jobs.csv or jobs.parquet (metrics.jobs.format; parquet needs pyarrow)")
    run_p.set_defaults(func=cmd_run, parser=run_p)
    sw = sub.add_parser("sweep", help="run a scenario's sweep (points x Monte Carlo runs) on a backend",
                        description="Expand the scenario's `sweep:` (parameters as a grid or zipped) into "
                        "points x runs, each with its own seed, run them on a backend, and gather one tidy "
                        "table with confidence intervals. Rerunning into the same folder resumes.")
    sw.add_argument("scenario", help="scenario file with a `sweep:` section (without one: Monte Carlo runs)")
    sw.add_argument("--backend", choices=("local", "process", "ray"), default="process",
                    help="where runs execute (default process: a pool of all cores)")
    sw.add_argument("--runs", type=non_negative_int, default=None, help="Monte Carlo runs per point "
                    "(default: the sweep's `runs`)")
    sw.add_argument("--workers", type=non_negative_int, default=None, help="processes (process) or CPUs (local ray)")
    sw.add_argument("--address", default=None, help="Ray cluster address (default: ray.init's own)")
    sw.add_argument("--seed", type=non_negative_int, default=None, help="override the scenario's seed")
    sw.add_argument("--out", default=None, help="results folder (default results/<name>-sweep-seed<seed>)")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sw.set_defaults(func=cmd_sweep, parser=sw)
    val = sub.add_parser("validate", help="check scenario files without running them")
    val.add_argument("scenarios", nargs="+", help="scenario files")
    val.set_defaults(func=cmd_validate, parser=val)
    vr = sub.add_parser("validation", help="compare the simulator with the recorded network (inflation replay, fee flow)")
    vr.add_argument("--out", default="results/validation", help="folder (default results/validation)")
    vr.add_argument("--runs", type=non_negative_int, default=5, help="fee-flow Monte Carlo runs (default 5)")
    vr.add_argument("--backend", choices=("local", "process", "ray"), default="process")
    vr.add_argument("--quarter", default="2026Q1", help="recorded quarter to compare with (default 2026Q1)")
    vr.set_defaults(func=cmd_validation, parser=vr)
    rep = sub.add_parser("report", help="(re)build the HTML report of a results folder")
    rep.add_argument("results", help="results folder written by `lpsim run`")
    rep.set_defaults(func=cmd_report, parser=rep)
    rounds = sub.add_parser(
        "rounds",
        help="deploy the protocol, bond orchestrators and delegators, run rounds, print the economics",
        description="Deploy the protocol on the embedded chain, bond orchestrators and delegators, and run "
        "rounds (initialise, every active orchestrator calls reward), printing a per-round table.",
    )
    rounds.add_argument("--orchestrators", type=non_negative_int, default=5, help="orchestrators (default 5)")
    rounds.add_argument("--delegators", type=non_negative_int, default=10, help="delegators (default 10)")
    rounds.add_argument("--rounds", type=non_negative_int, default=10, help="rounds to run (default 10)")
    rounds.add_argument("--seed", type=non_negative_int, default=1, help="seed for stakes and delegation choices (default 1)")
    # Rounds are shorter than mainnet's 6377 blocks by default: mining blocks one by one costs
    # time on the embedded chain, and nothing in the per-round economics depends on the length.
    add_protocol_params(rounds, ProtocolParams(round_length=100))
    rounds.set_defaults(func=cmd_rounds, parser=rounds)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return run(build_parser(), argv)
    except KeyboardInterrupt:
        print("lpsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
