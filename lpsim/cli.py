"""`lpsim`: the simulator's command line. This issue: `lpsim rounds`."""
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lpsim", description="Livepeer network simulator")
    sub = parser.add_subparsers(dest="command", required=True)
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
