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
        print(f"{path}: ok ({sc.name}: {agents}, {sc.duration:g} s simulated, seed {sc.seed})")
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from pathlib import Path

    from lpsim.engine import run_scenario
    from lpsim.report import write_report
    from lpsim.scenario import ScenarioError, load_scenario
    from lpsim.summary import format_summary

    try:
        sc = load_scenario(args.scenario, seed=args.seed)
    except (ScenarioError, OSError) as exc:
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
    finally:
        progress.close()
    print(format_summary(summary))
    if not args.no_report:
        print(f"report: {write_report(out)}")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lpsim", description="Livepeer network simulator")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run a scenario and write its results folder and report",
                           description="Run a scenario file in simulated time with the contracts in the loop; "
                           "write tidy results, a summary and an HTML report.")
    run_p.add_argument("scenario", help="scenario file (YAML), e.g. scenarios/quickstart.yaml")
    run_p.add_argument("--seed", type=non_negative_int, default=None, help="override the scenario's seed")
    run_p.add_argument("--out", default=None, help="results folder (default results/<name>-seed<seed>)")
    run_p.add_argument("--quiet", action="store_true", help="no progress bar")
    run_p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    run_p.set_defaults(func=cmd_run, parser=run_p)
    val = sub.add_parser("validate", help="check scenario files without running them")
    val.add_argument("scenarios", nargs="+", help="scenario files")
    val.set_defaults(func=cmd_validate, parser=val)
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
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
