"""`lpnode`: the node's command line.

Two syntaxes, as the commands come from two places: the node modes (orchestrator, gateway,
transcoder, ai-worker) take go-livepeer's flags in go's syntax (node/goflags.py, node/launch.py),
and are also reached as go names them — `lpnode -orchestrator ...`, `lpnode -gateway ...`
(`-broadcaster`), `lpnode -transcoder ...`, `lpnode -aiWorker ...`, `lpnode -orchestrator
-transcoder ...` (an orchestrator that transcodes itself); lpnode's own commands (devchain, devnet,
ai-runner) take GNU-style `--flags` (argparse).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from pathlib import Path

from node.eth.deploy import LPT, LPT_AMOUNT_FIELDS, ProtocolParams

PARAM_HELP = {
    "round_length": "round length in blocks",
    "round_lock_amount": "share of a round, in 1e6 units, during which transcoder() is locked",
    "unbonding_period": "rounds between unbond and withdrawStake",
    "num_active_transcoders": "maximum size of the active set",
    "inflation": "initial inflation per round, in 1e9 units",
    "inflation_change": "inflation step per round, in 1e9 units",
    "target_bonding_rate": "target bonding rate, in 1e9 units",
    "treasury_reward_cut_rate": "treasury share of rewards, in 1e27 units",
    "treasury_balance_ceiling": "treasury balance (LPT) above which its cut stops",
    "unlock_period": "rounds a sender waits between unlock and withdraw",
    "ticket_validity_period": "rounds a ticket stays redeemable after its creation round",
    "l1_circulating_supply": "LPT circulating on L1, added to the supply by the Minter",
    "lpt_per_account": "LPT minted to each funded account",
}


def _lpt_amount(text: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount of LPT: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return int(value * LPT)


def write_atomically(path: str | Path, text: str) -> None:
    """A temp file in the same folder, then a rename: a reader sees the whole file or none."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, target)


def non_negative_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def add_protocol_params(parser: argparse.ArgumentParser, defaults: ProtocolParams = ProtocolParams()) -> None:
    """One flag per protocol parameter (--round-length, --inflation, ...), defaulting to `defaults`."""
    group = parser.add_argument_group("protocol parameters (defaults: Arbitrum mainnet)")
    for f in fields(ProtocolParams):
        default = getattr(defaults, f.name)
        is_lpt = f.name in LPT_AMOUNT_FIELDS
        shown = f"{Decimal(default) / LPT:f} LPT" if is_lpt else default
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=_lpt_amount if is_lpt else non_negative_int,
            default=default,
            help=f"{PARAM_HELP[f.name]} (default {shown})",
        )


def protocol_params_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> ProtocolParams:
    try:
        return ProtocolParams(**{f.name: getattr(args, f.name) for f in fields(ProtocolParams)})
    except ValueError as exc:
        parser.error(str(exc))


def cmd_devnet(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from fractions import Fraction

    from node import event_loop
    from node.devnet import DevnetConfig, run_devnet
    from node.launch import write_ready_file
    from node.logging_setup import setup_logging

    setup_logging(args.v, level=args.log_level if args.log_level is not None else
                  None if args.verbose or args.v != 3 else logging.WARNING)
    if args.live_capacity < 1:
        parser.error("--live-capacity must be at least 1 (--live-model '' offers no live path)")
    config = DevnetConfig(host=args.host, gateway_port=args.port, orchestrators=args.orchestrators,
                          round_length=args.round_length, block_time=args.block_time, mode=args.mode,
                          models_dir=args.models_dir or DevnetConfig.models_dir,
                          price_per_pixel=Fraction(args.price_per_pixel), ticket_ev=args.ticket_ev,
                          broken_runners=args.broken_runners, slow_transcoders=args.slow_transcoders,
                          lying_transcoders=args.lying_transcoders, deposit=int(args.deposit * 10**18),
                          reserve=int(args.reserve * 10**18), live_model=args.live_model,
                          live_capacity=args.live_capacity, chain_backend=args.chain_backend,
                          byoc_price=args.byoc, max_face_value=args.max_face_value)

    def ready(net) -> None:
        for name, url in net.urls.items():
            print(f"{name}: {url}")
        if args.addresses:
            Path(args.addresses).write_text(json.dumps(net.addresses, indent=2) + "\n")
            print(f"contract addresses written to {args.addresses}")
        if args.ready_file:
            write_ready_file(args.ready_file, {"urls": net.urls, "addresses": net.addresses})
        print(f"try: curl -s -X POST {net.urls['gateway']}/text-to-image -H 'Content-Type: application/json' "
              "-d '{\"prompt\": \"a cat\", \"model_id\": \"" + config.model_id + "\", \"width\": 64, "
              "\"height\": 64, \"num_inference_steps\": 2}'")
        if config.live_model and "remote-signer" in net.urls:
            print(f"live: start_lv2v(None, StartJobRequest(model_id={config.live_model!r}), "
                  f"signer_url={net.urls['remote-signer']!r})  (the livepeer-gateway SDK; see the README)")
        if config.byoc_price is not None:
            from node.core.byoc import JobRequest, job_request_header
            from node.devnet import BYOC_SECRET

            job = job_request_header(JobRequest(request="{}", parameters="{}", capability="image-filter",
                                                timeout_seconds=30))
            print(f"byoc: curl -s -X POST {net.urls['gateway']}/process/request/sepia -H 'Livepeer: {job}' "
                  f"--data-binary @image.png -o sepia.png  (workers register with -orchSecret {BYOC_SECRET})")
        print(f"devnet listening on {net.urls['gateway']}", flush=True)
        print("running; Ctrl-C to stop", flush=True)

    try:
        event_loop.run(run_devnet(config, ready))
    except KeyboardInterrupt:
        pass
    return 0


def _log_level(text: str) -> int:
    from node.logging_setup import log_level

    try:
        return log_level(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_argparse() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lpnode", description="Livepeer node (Python)",
        epilog="The node modes also take go-livepeer's mode flags: lpnode -orchestrator [-transcoder] ..., "
        "lpnode -gateway ..., lpnode -transcoder ..., lpnode -aiWorker ...; lpnode -orchestrator -h lists "
        "their flags.")
    sub = parser.add_subparsers(dest="command", required=True)
    from node.devchain_cli import DEFAULT_BACKEND, devchain_parser

    devchain_parser(sub)
    net = sub.add_parser(
        "devnet", help="run a devchain, orchestrators with AI and transcoding workers, and a gateway",
        description="Start a whole network on loopback: a devchain with the protocol deployed, orchestrators "
        "(bonded, registered, calling reward, redeeming tickets) each with an AI runner and a PyAV "
        "transcoder, and a funded gateway; print the gateway's URL and run until Ctrl-C.")
    net.add_argument("--host", default="127.0.0.1", help="address every node binds (default 127.0.0.1)")
    net.add_argument("--port", type=non_negative_int, default=9935, help="gateway port (default 9935; 0 picks one)")
    net.add_argument("--orchestrators", type=non_negative_int, default=1, help="orchestrators (default 1)")
    net.add_argument("--round-length", type=non_negative_int, default=50, help="blocks per round (default 50)")
    net.add_argument("--block-time", type=float, default=1.0, help="seconds between devchain blocks (default 1)")
    net.add_argument("--chain-backend", choices=("revm", "py-evm"), default=DEFAULT_BACKEND,
                     help="the devchain's EVM, as lpnode devchain --backend: revm (default; Rust, a round "
                     "jump in constant time) or py-evm (eth-tester's pure-Python EVM)")
    net.add_argument("--mode", choices=("real", "mock"), default="real",
                     help="AI runners: real (a tiny Stable Diffusion built from configs) or declared mocks")
    net.add_argument("--models-dir", default=None, help="where models are built/loaded (default ~/.cache/lpsim/models)")
    net.add_argument("--price-per-pixel", type=non_negative_int, default=1, help="wei per pixel (default 1)")
    net.add_argument("--ticket-ev", type=non_negative_int, default=10**15,
                     help="orchestrators' ticket EV in wei (default 1e15, so tickets win in a demo)")
    net.add_argument("--max-face-value", type=non_negative_int, default=0, metavar="WEI",
                     help="orchestrators' -maxFaceValue (0: none; just above --ticket-ev every ticket wins)")
    net.add_argument("--broken-runners", type=non_negative_int, default=0,
                     help="orchestrators whose AI runner is unreachable (to see retries and swaps)")
    net.add_argument("--slow-transcoders", type=non_negative_int, default=0,
                     help="orchestrators whose transcoder stalls 20 s a segment (to see timeouts and swaps)")
    net.add_argument("--lying-transcoders", type=non_negative_int, default=0,
                     help="orchestrators (after the slow ones) that report twice the pixels they transcoded, "
                     "to see the gateway's local verification (-localVerify) find a PixelMismatch and swap")
    net.add_argument("--byoc", type=int, default=None, metavar="WEI",
                     help="serve the example BYOC capability image-filter on every orchestrator at WEI per "
                          "second (docs/byoc.md)")
    net.add_argument("--live-model", default="noop", metavar="MODEL",
                     help="the live-video-to-video model each orchestrator's live runner serves (default noop: "
                          "frames passed through; a diffusion model id runs image-to-image per frame in --mode real; "
                          "'' for none)")
    net.add_argument("--live-capacity", type=non_negative_int, default=1, metavar="N",
                     help="live runners per orchestrator, one stream each (default 1; with N, N concurrent "
                          "live sessions per orchestrator, the N+1th is refused 503 insufficient capacity)")
    net.add_argument("--deposit", type=float, default=10.0, help="the gateway's TicketBroker deposit in ETH (default 10)")
    net.add_argument("--reserve", type=float, default=10.0, help="the gateway's TicketBroker reserve in ETH (default 10)")
    net.add_argument("--verbose", action="store_true", help="log round duties and redemptions (INFO)")
    net.add_argument("-v", type=non_negative_int, default=3,
                     help="log verbosity as go's -v: 4 and below info, 5 debug, 6 debug with third-party lines")
    net.add_argument("--log-level", type=_log_level, default=None, metavar="LEVEL",
                     help="debug, info, warning or error (overrides -v and --verbose; default warning)")
    net.add_argument("--addresses", metavar="FILE", help="write the contract addresses, as JSON keyed by name, to FILE")
    net.add_argument("--ready-file", metavar="FILE", help="once every node serves, write JSON {\"urls\": {name: "
                     "url}, \"addresses\": {contract: address}} to FILE (atomically)")
    net.set_defaults(func=cmd_devnet, parser=net)
    for name, help_text in GO_COMMANDS.items():  # listed here; parsed in go's syntax (CommandLine)
        sub.add_parser(name, help=help_text + " (go-livepeer flags: lpnode " + name + " -h)", add_help=False)
    sub.add_parser("ai-runner", help="serve one AI pipeline with ai-runner's HTTP API "
                   "(lpnode ai-runner --help)", add_help=False)
    sub.add_parser("live-runner", help="serve a live-video-to-video pipeline with ai-runner's live API "
                   "(lpnode live-runner --help)", add_help=False)
    sub.add_parser("byoc-worker", help="serve a BYOC capability and register it with an orchestrator "
                   "(lpnode byoc-worker --help)", add_help=False)
    return parser


GO_COMMANDS = {
    "orchestrator": "run an orchestrator (gRPC + HTTP on -serviceAddr)",
    "gateway": "run a gateway (client HTTP API on -httpAddr)",
    "transcoder": "run a remote transcoder attached to an orchestrator",
    "ai-worker": "run a remote AI worker attached to an orchestrator",
    "remote-signer": "run a remote signer: GetOrchestrator and live-payment signing for gateways (-remoteSigner)",
    "redeemer": "run a ticket redemption service for orchestrators started with -redeemerAddr (-redeemer)",
}
# go's node type when several mode flags are given (starter.go): redeemer, orchestrator, transcoder, aiWorker,
# gateway
MODE_FLAGS = (("redeemer", "redeemer"), ("orchestrator", "orchestrator"), ("transcoder", "transcoder"),
              ("aiWorker", "ai-worker"), ("broadcaster", "gateway"), ("gateway", "gateway"),
              ("remoteSigner", "remote-signer"))


def _own_mode_flag(command: str) -> str:
    return next(flag for flag, c in MODE_FLAGS if c == command and flag != "broadcaster")


class CommandLine:
    """lpnode's parser: `parse_args(argv)` returns a Namespace whose `func(args, parser)` runs the
    command, as argparse's would; the go-style commands parse with their go flag sets."""

    def __init__(self) -> None:
        self.argparse = build_argparse()

    def flagset(self, command: str, prog: str | None = None):
        from node.launch import COMMANDS

        factory, runner = COMMANDS[command]
        fs = factory(prog or f"lpnode {command}")
        fs.set_defaults(func=runner, command=command)
        for flag, other in MODE_FLAGS:  # go's one flag set takes every mode flag; its priority picks the node
            if flag not in fs.flags:
                fs.bool(flag, False, f"go's mode flag for `lpnode {other}`; accepted where a higher-priority mode "
                        "flag names this node, as go's priority does")
        return fs

    def parse_args(self, argv: list[str]) -> argparse.Namespace:
        if argv and argv[0] in GO_COMMANDS:
            fs = self.flagset(argv[0])
            args = fs.parse_args(argv[1:])
            if self.mode_of(argv[1:] + [f"-{_own_mode_flag(argv[0])}"]) != argv[0]:
                fs.error(f"a mode flag in the line names another command than {argv[0]}")
        elif argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
            command = self.mode_of(argv)
            fs = self.flagset(command, "lpnode")
            args = fs.parse_args(argv)
        else:
            return self.argparse.parse_args(argv)
        args.parser = fs
        return args

    def mode_of(self, argv: list[str]) -> str:
        """The command a go-style line (`-orchestrator -transcoder ...`) means: parsed with every
        go-style flag known, then the mode flags read in go's order."""
        from node.goflags import FlagError, FlagSet, HelpRequested

        union = FlagSet("lpnode", config_flag="config")  # a mode may come from LP_ variables or -config too
        for command in GO_COMMANDS:
            for flag in self.flagset(command).unique():
                for name in (flag.name, *flag.aliases):
                    if name not in union.flags:
                        union.flags[name] = flag
        try:
            values, _, seen = union.parse(argv)
        except HelpRequested:  # `lpnode -orchestrator -h`: the mode flags before it, as written
            seen = {t.lstrip("-") for t in argv[:argv.index("-h") if "-h" in argv else len(argv)]}
            values = dict.fromkeys(seen, True)
        except FlagError as exc:
            union.error(str(exc))
        for flag, command in MODE_FLAGS:
            if flag in seen and values[flag]:
                return command
        union.error("No services enabled; must be at least one of -gateway, -transcoder, -aiWorker, -orchestrator "
                    "(or a command: " + ", ".join((*GO_COMMANDS, "devchain", "devnet", "ai-runner")) + ")")


def build_parser() -> CommandLine:
    return CommandLine()


def run(parser: CommandLine, argv: list[str] | None) -> int:
    """Parse `argv` and run the chosen subcommand, which reports errors through its own parser."""
    args = parser.parse_args(argv)
    return args.func(args, args.parser)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ai-runner"]:  # its own parser takes every flag that follows
        from node.worker.ai.app import main as runner_main

        return runner_main(argv[1:])
    if argv[:1] == ["live-runner"]:  # ai-runner's live interface, its own parser too
        from node.worker.live.app import main as live_main

        return live_main(argv[1:])
    if argv[:1] == ["byoc-worker"]:  # the BYOC worker kit (node.worker.byoc), its own parser
        from node.worker.byoc.app import main as byoc_main

        return byoc_main(argv[1:])
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
