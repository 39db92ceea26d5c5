"""`lpnode devchain`: a local chain with the protocol deployed, served over JSON-RPC (HTTP and
WebSocket on one port), with anvil's command line where anvil has one.

Differences from anvil, on purpose: accounts hold 1,000,000 ETH unless --balance says otherwise
(anvil: 10,000; the protocol's tests spend more on gas); the chain starts with the protocol
deployed, and anvil_reset returns there; a state file is our own format (node.eth.anvil), which
also loads anvil's `accounts` dumps.

`--backend revm` (the default) runs the EVM in revm (node.eth.revm_devchain): mining any number of
blocks is one step, and every call is answered from Rust; `--backend py-evm` runs eth-tester's
py-evm, which keeps every block's state (reads at past blocks).
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from node.cli import (
    add_protocol_params,
    non_negative_int,
    protocol_params_from,
    write_atomically,
)

DEFAULT_BALANCE_ETH = 1_000_000  # EmbeddedChain's funding (anvil's default is 10,000)
KEYSTORE_SCRYPT_N = 4096  # geth's "light" scrypt (LightScryptN): dev keys, opened in milliseconds


DEFAULT_BACKEND = "revm"


def devchain_parser(sub) -> argparse.ArgumentParser:
    from node.eth.chain import DEV_MNEMONIC

    dev = sub.add_parser(
        "devchain",
        help="serve a local chain with the protocol deployed over JSON-RPC",
        description="Start the embedded EVM as a JSON-RPC server (HTTP and WebSocket on one port) on loopback, "
        "deploy the Livepeer protocol, fund unlocked accounts with ETH and LPT, and serve until Ctrl-C or SIGTERM.",
    )
    dev.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    dev.add_argument("--port", type=non_negative_int, default=8545, help="port (default 8545; 0 picks a free one)")
    dev.add_argument("--accounts", type=non_negative_int, default=10, help="funded, unlocked accounts (default 10)")
    dev.add_argument("--mnemonic", default=DEV_MNEMONIC,
                     help="BIP-39 mnemonic the accounts derive from (default anvil's and hardhat's test mnemonic)")
    dev.add_argument("--balance", type=non_negative_int, default=None, metavar="ETH",
                     help="ETH in each account, exactly, once the protocol is deployed (default "
                     f"{DEFAULT_BALANCE_ETH:,} less the deployer's gas; anvil's default is 10,000)")
    dev.add_argument("--backend", choices=("revm", "py-evm"), default=DEFAULT_BACKEND,
                     help=f"the EVM (default {DEFAULT_BACKEND}): revm (Rust, through pyrevm; mining any number of "
                     "blocks is one step) or py-evm (eth-tester's; keeps every block's state)")
    dev.add_argument("--chain-id", type=non_negative_int, default=31337, help="chain id (default 31337, anvil's)")
    dev.add_argument("--addresses", metavar="FILE", help="write the contract addresses, as JSON keyed by name, to FILE")
    dev.add_argument("--block-time", type=float, default=0, metavar="SECONDS",
                     help="mine a block every SECONDS instead of one per transaction (anvil's --block-time)")
    dev.add_argument("--no-mining", action="store_true",
                     help="automine off: transactions wait in the pending pool until evm_mine (anvil's --no-mining)")
    dev.add_argument("--state", metavar="FILE",
                     help="load the state from FILE at start if it exists, and dump it there on exit (anvil's --state)")
    dev.add_argument("--load-state", metavar="FILE",
                     help="load the state from FILE at start (a --dump-state file, anvil_dumpState's answer, "
                     "or anvil's own dump)")
    dev.add_argument("--dump-state", metavar="FILE", help="dump the state to FILE on exit (Ctrl-C or SIGTERM)")
    dev.add_argument("--ready-file", metavar="FILE",
                     help="once listening, write JSON {url, ws_url, chain_id, addresses, controller, accounts: "
                     "[{address, private_key}]} to FILE (atomically: a reader sees all of it or nothing)")
    dev.add_argument("--keystore", metavar="DIR",
                     help="export each account as an encrypted JSON keystore (geth's UTC--<time>--<address> "
                     "files) into DIR, for go-livepeer's -ethKeystorePath")
    dev.add_argument("--password", default="",
                     help="password of the --keystore files (default empty; go-livepeer's -ethPassword)")
    dev.add_argument("--artifacts", metavar="DIR",
                     help="write each contract's address, ABI and bytecode (Hardhat artifact JSON) into DIR")
    add_protocol_params(dev)
    dev.set_defaults(func=cmd_devchain, parser=dev)
    return dev


def keystore_name(address: str, when: datetime) -> str:
    """geth's keystore file name: UTC--<ISO 8601 time, ':' as '-', nanoseconds>--<address, lowercase hex>."""
    stamp = when.strftime("%Y-%m-%dT%H-%M-%S") + f".{when.microsecond * 1000:09d}Z"
    return f"UTC--{stamp}--{address.lower().removeprefix('0x')}"


def export_keystore(accounts, directory: str | Path, password: str) -> list[Path]:
    from eth_account import Account as EthAccount

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for acct in accounts:
        existing = list(directory.glob(f"UTC--*--{acct.address.lower()[2:]}"))
        if existing:  # go's keystore refuses two files for one address ("multiple keys match")
            written.append(existing[0])
            continue
        encrypted = EthAccount.encrypt(acct.key, password, kdf="scrypt", iterations=KEYSTORE_SCRYPT_N)
        path = directory / keystore_name(acct.address, datetime.now(UTC))
        write_atomically(path, json.dumps(encrypted))
        path.chmod(0o600)
        written.append(path)
    return written


def cmd_devchain(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from node.eth import EmbeddedChain, deploy_protocol
    from node.eth.anvil import apply_state, edit_state, parse_state, state_document
    from node.eth.devchain import DevchainRpc
    from node.eth.devchain_server import make_server

    params = protocol_params_from(args, parser)
    if not 1 <= args.accounts <= 1000:
        parser.error("--accounts must be between 1 and 1000")
    if not 1 <= args.chain_id < 2**64:
        parser.error("--chain-id must be from 1 to 2**64 - 1")
    if args.state and (args.load_state or args.dump_state):
        parser.error("--state loads and dumps; use it, or --load-state/--dump-state, not both")
    load_from = args.load_state or (args.state if args.state and Path(args.state).exists() else None)
    dump_to = args.dump_state or args.state
    loaded = None
    if load_from:
        try:
            loaded = parse_state(Path(load_from).read_text())
        except (OSError, ValueError, EOFError) as exc:
            print(f"lpnode devchain: cannot read the state in {load_from}: {exc}", file=sys.stderr)
            return 1
    try:
        if args.backend == "revm":
            from node.eth.revm_devchain import RevmDevchain

            chain = RevmDevchain(num_accounts=args.accounts, mnemonic=args.mnemonic, chain_id=args.chain_id)
        else:
            chain = EmbeddedChain(num_accounts=args.accounts, mnemonic=args.mnemonic, chain_id=args.chain_id)
    except Exception as exc:  # noqa: BLE001 - e.g. a mnemonic that is not BIP-39
        print(f"lpnode devchain: {exc}", file=sys.stderr)
        return 1
    protocol = deploy_protocol(chain, params)
    rpc = DevchainRpc(chain)
    rpc.known_addresses = protocol.addresses
    if args.balance is not None:
        wei = args.balance * 10**18
        if rpc.revm:
            for a in chain.accounts:
                chain.edit(a.address, balance=wei)
        else:
            raw = [bytes.fromhex(a.address[2:]) for a in chain.accounts]
            edit_state(rpc, lambda state: [state.set_balance(address, wei) for address in raw])
    if loaded is not None:
        try:
            apply_state(rpc, loaded)
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file
            print(f"lpnode devchain: cannot load the state in {load_from}: {exc}", file=sys.stderr)
            return 1
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
    controller = addresses.get("Controller")
    if args.addresses:
        write_atomically(args.addresses, json.dumps(addresses, indent=2) + "\n")
    if args.artifacts:
        from node.eth.artifacts import write_artifacts

        write_artifacts(protocol, args.artifacts)
    if args.keystore:
        export_keystore(chain.accounts, args.keystore, args.password)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url, ws_url = f"http://{host}:{server.server_address[1]}", f"ws://{host}:{server.server_address[1]}"
    print(f"devchain: {url} (chain id {chain.chain_id}, round {protocol.current_round()}, "
          f"round length {params.round_length} blocks)")
    print(f"websocket: {ws_url}")
    for name, address in addresses.items():
        print(f"  {name:<16} {address}")
    print(f"controller (go-livepeer -ethController): {controller}")
    print("accounts (unlocked; keys from the mnemonic):")
    for acct in chain.accounts:
        print(f"  {acct.address}  0x{acct.key.hex()}")
    for flag, value in (("contract addresses", args.addresses), ("artifacts", args.artifacts),
                        ("keystore (go-livepeer -ethKeystorePath)", args.keystore), ("state loaded from", load_from)):
        if value:
            print(f"{flag}: {value}")
    if args.ready_file:
        write_atomically(args.ready_file, json.dumps({
            "url": url, "ws_url": ws_url, "chain_id": chain.chain_id, "addresses": addresses,
            "controller": controller,
            "accounts": [{"address": a.address, "private_key": "0x" + a.key.hex()} for a in chain.accounts],
        }, indent=2) + "\n")
    print("listening; Ctrl-C to stop", flush=True)

    # SIGTERM asks serve_forever to return (from another thread, as shutdown() must be called);
    # an exception raised by the handler could land inside the server's own bookkeeping and be lost
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the dump short
        server.server_close()
        if dump_to:
            rpc.start_interval_mining(0)
            with rpc.lock:  # after any call in flight
                write_atomically(dump_to, json.dumps(state_document(rpc)) + "\n")
            print(f"state dumped to {dump_to}", flush=True)
    return 0

