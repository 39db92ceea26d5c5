"""`lpnode devchain`: a local chain with the protocol deployed, served over JSON-RPC."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from node.cli import add_protocol_params, non_negative_int, protocol_params_from


def devchain_parser(sub) -> argparse.ArgumentParser:
    dev = sub.add_parser(
        "devchain",
        help="serve a local chain with the protocol deployed over JSON-RPC",
        description="Start the embedded EVM as a JSON-RPC server on loopback, deploy the Livepeer "
        "protocol, fund unlocked accounts with ETH and LPT, and serve until Ctrl-C.",
    )
    dev.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    dev.add_argument("--port", type=non_negative_int, default=8545, help="port (default 8545; 0 picks a free one)")
    dev.add_argument("--accounts", type=non_negative_int, default=10, help="funded, unlocked accounts (default 10)")
    dev.add_argument("--addresses", metavar="FILE", help="write the contract addresses, as JSON keyed by name, to FILE")
    dev.add_argument("--block-time", type=float, default=0, metavar="SECONDS",
                     help="mine a block every SECONDS instead of one per transaction (anvil's --block-time)")
    dev.add_argument("--no-mining", action="store_true",
                     help="automine off: transactions wait in the pending pool until evm_mine (anvil's --no-mining)")
    add_protocol_params(dev)
    dev.set_defaults(func=cmd_devchain, parser=dev)
    return dev


def cmd_devchain(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from node.eth import EmbeddedChain, deploy_protocol
    from node.eth.devchain import DevchainRpc
    from node.eth.devchain_server import make_server

    params = protocol_params_from(args, parser)
    if not 1 <= args.accounts <= 1000:
        parser.error("--accounts must be between 1 and 1000")
    chain = EmbeddedChain(num_accounts=args.accounts)
    protocol = deploy_protocol(chain, params)
    rpc = DevchainRpc(chain)
    if args.no_mining:
        rpc.automine = False
    if args.block_time:
        rpc.start_interval_mining(args.block_time)
    try:
        server = make_server(rpc, args.host, args.port)
    except OSError as exc:
        print(f"lpnode devchain: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    addresses = protocol.addresses
    if args.addresses:
        path = Path(args.addresses)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(addresses, indent=2) + "\n")
    url = f"http://{args.host}:{server.server_address[1]}"
    print(f"devchain: {url} (chain id {chain.w3.eth.chain_id}, round {protocol.current_round()}, "
          f"round length {params.round_length} blocks)")
    for name, address in addresses.items():
        print(f"  {name:<16} {address}")
    print("accounts (unlocked; keys from the development mnemonic):")
    for acct in chain.accounts:
        print(f"  {acct.address}  0x{acct.key.hex()}")
    if args.addresses:
        print(f"contract addresses written to {args.addresses}")
    print("listening; Ctrl-C to stop", flush=True)

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _stop(*_) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the server like Ctrl-C
