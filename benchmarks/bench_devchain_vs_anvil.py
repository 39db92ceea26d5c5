"""The devchain (each backend: revm, py-evm) next to anvil, on the same workloads, in one run
(issue 17's speed goal: every ratio devchain ÷ anvil ≤ 2, and a round jump in constant time).

Both chains run as processes with the protocol deployed with the same parameters (the devchain
deploys it itself; on anvil it is deployed over JSON-RPC), and both are driven with raw JSON-RPC
over one keep-alive HTTP session, so the client's cost is the same on both sides:

- N signed raw transactions (ETH transfers, signed beforehand), sent one after another, automined;
- N receipts of those transactions;
- N `BondingManager.pendingStake` calls (`eth_call`);
- N `eth_getBlockByNumber`;
- one batch of about 280 view calls (pendingStake, pendingFees, LivepeerToken.balanceOf,
  RoundsManager.currentRound over 70 accounts), the best of 5 on each side (one batch takes
  milliseconds, so a single run on a shared machine measures its neighbours);
- a round jump: `anvil_mine` of one mainnet round (6,377 blocks).

On the revm backend it also mines 1 block, then one round, each from the same state (the best of
5): a round jump in constant time costs what one block does.

anvil comes from the npm package `@foundry-rs/anvil-linux-amd64` (installed into a cache
directory on first use; `--anvil PATH` takes a binary instead).

    python benchmarks/bench_devchain_vs_anvil.py [--n 200] [--anvil PATH] [--backends revm,py-evm]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from eth_abi import encode  # noqa: E402
from eth_account import Account as EthAccount  # noqa: E402
from eth_utils import keccak  # noqa: E402

from node.eth import JsonRpcChain, ProtocolParams, deploy_protocol, dev_accounts  # noqa: E402
from node.eth.deploy import params_to_flags  # noqa: E402

ANVIL_PACKAGE = "@foundry-rs/anvil-linux-amd64@1.7.1"
ROUND_BLOCKS = 6_377  # a mainnet round
PARAMS = ProtocolParams(round_length=ROUND_BLOCKS)
ACCOUNTS = 70


def anvil_binary(path: str | None) -> str:
    if path:
        return path
    if shutil.which("anvil"):
        return shutil.which("anvil")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lpsim" / "anvil"
    binary = cache / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    if not binary.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache), ANVIL_PACKAGE],
                       check=True, stdout=subprocess.DEVNULL)
    return str(binary)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_rpc(url: str, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                             timeout=2).ok:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


@contextlib.contextmanager
def process(cmd: list[str], url: str, log: Path) -> Iterator[None]:
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_rpc(url, proc)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def devchain(tmp: Path, backend: str) -> Iterator[tuple[str, dict]]:
    port, out = free_port(), tmp / f"addresses-{backend}.json"
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "node.cli", "devchain", "--backend", backend, "--port", str(port), "--accounts",
           str(ACCOUNTS), "--addresses", str(out), *params_to_flags(PARAMS)]
    with process(cmd, url, tmp / f"devchain-{backend}.log"):
        while not out.exists():
            time.sleep(0.1)
        yield url, json.loads(out.read_text())


@contextlib.contextmanager
def anvil(binary: str, tmp: Path) -> Iterator[tuple[str, dict]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with process([binary, "--port", str(port), "--accounts", str(ACCOUNTS), "--silent"], url, tmp / "anvil.log"):
        chain = JsonRpcChain(url, accounts=dev_accounts(ACCOUNTS))
        yield url, deploy_protocol(chain, PARAMS).addresses


class Rpc:
    def __init__(self, url: str):
        self.url, self.session, self.id = url, requests.Session(), 0

    def payload(self, method: str, params: list) -> dict:
        self.id += 1
        return {"jsonrpc": "2.0", "id": self.id, "method": method, "params": params}

    def __call__(self, method: str, *params):
        reply = self.session.post(self.url, json=self.payload(method, list(params)), timeout=900).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def batch(self, calls: list[tuple[str, list]]) -> list:
        replies = self.session.post(self.url, json=[self.payload(m, p) for m, p in calls], timeout=120).json()
        bad = [r["error"] for r in replies if "error" in r]
        if bad:
            raise RuntimeError(f"batch: {bad[0]}")
        return replies


def call_data(signature: str, types: list[str], args: list) -> str:
    return "0x" + (keccak(text=signature)[:4] + encode(types, args)).hex()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def workloads(url: str, addresses: dict, n: int) -> dict[str, float]:
    """Seconds per workload on the chain at `url`."""
    rpc = Rpc(url)
    accounts = dev_accounts(ACCOUNTS)
    sender, to = accounts[-1], accounts[-2].address
    chain_id = int(rpc("eth_chainId"), 16)
    base = int(rpc("eth_getBlockByNumber", "latest", False).get("baseFeePerGas") or "0x0", 16)
    nonce = int(rpc("eth_getTransactionCount", sender.address, "pending"), 16)
    raw = [EthAccount.sign_transaction({"to": to, "value": 1, "gas": 21_000, "nonce": nonce + i, "chainId": chain_id,
                                        "maxFeePerGas": 4 * base + 10**9, "maxPriorityFeePerGas": 10**9},
                                       sender.key).raw_transaction.to_0x_hex() for i in range(n)]
    bm, lpt, rm = addresses["BondingManager"], addresses["LivepeerToken"], addresses["RoundsManager"]
    round_ = int(rpc("eth_call", {"to": rm, "data": call_data("currentRound()", [], [])}, "latest"), 16)
    stake_calls = [{"to": bm, "data": call_data("pendingStake(address,uint256)", ["address", "uint256"],
                                                [accounts[i % ACCOUNTS].address, round_])} for i in range(n)]
    views = []
    for a in accounts:
        views += [("eth_call", [{"to": bm, "data": call_data("pendingStake(address,uint256)", ["address", "uint256"],
                                                             [a.address, round_])}, "latest"]),
                  ("eth_call", [{"to": bm, "data": call_data("pendingFees(address,uint256)", ["address", "uint256"],
                                                             [a.address, round_])}, "latest"]),
                  ("eth_call", [{"to": lpt, "data": call_data("balanceOf(address)", ["address"], [a.address])},
                                "latest"]),
                  ("eth_call", [{"to": rm, "data": call_data("currentRound()", [], [])}, "latest"])]
    hashes: list[str] = []
    out = {
        f"{n} signed raw transactions": timed(lambda: hashes.extend(rpc("eth_sendRawTransaction", r) for r in raw)),
        f"{n} receipts": timed(lambda: [rpc("eth_getTransactionReceipt", h) for h in hashes]),
        f"{n} pendingStake calls": timed(lambda: [rpc("eth_call", c, "latest") for c in stake_calls]),
    }
    latest = int(rpc("eth_blockNumber"), 16)
    out[f"{n} eth_getBlockByNumber"] = timed(
        lambda: [rpc("eth_getBlockByNumber", hex(latest - i % max(1, latest)), False) for i in range(n)])
    out[f"one batch of {len(views)} view calls"] = min(timed(lambda: rpc.batch(views)) for _ in range(5))
    assert all(r is not None for r in (rpc("eth_getTransactionReceipt", h) for h in hashes[-3:]))
    snapshot = rpc("evm_snapshot")
    out[f"round jump ({ROUND_BLOCKS:,} blocks)"] = timed(lambda: rpc("anvil_mine", hex(ROUND_BLOCKS)))
    rpc("evm_revert", snapshot)
    return out


def round_jumps(url: str) -> tuple[float, float]:
    """Seconds to mine 1 block, then one round, each from the same state (the best of 5)."""
    rpc = Rpc(url)

    def jump(blocks: int) -> float:
        snapshot = rpc("evm_snapshot")
        seconds = timed(lambda: rpc("anvil_mine", hex(blocks)))
        rpc("evm_revert", snapshot)
        return seconds

    return min(jump(1) for _ in range(5)), min(jump(ROUND_BLOCKS) for _ in range(5))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="calls per workload (default 200)")
    ap.add_argument("--anvil", default=None, help="an anvil binary (default: from npm, cached)")
    ap.add_argument("--backends", default="revm,py-evm",
                    help="the devchain's backends to measure, comma-separated (default revm,py-evm)")
    args = ap.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    binary = anvil_binary(args.anvil)
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ours, jumps = {}, None
        for backend in backends:
            with devchain(tmp, backend) as (url, addresses):
                ours[backend] = workloads(url, addresses, args.n)
                if backend == "revm":
                    jumps = round_jumps(url)
        with anvil(binary, tmp) as (url, addresses):
            theirs = workloads(url, addresses, args.n)
    print(f"devchain vs {version} (protocol deployed on both; seconds, one run, the batch the best of 5; "
          "ratio = devchain ÷ anvil)")
    print(f"{'workload':<36} {'anvil':>8}" + "".join(f" {b:>8} {'ratio':>7}" for b in backends) + "  goal ≤ 2×")
    worst = dict.fromkeys(backends, 0.0)
    for name, anvil_s in theirs.items():
        line = f"{name:<36} {anvil_s:>8.3f}"
        for backend in backends:
            ratio = ours[backend][name] / anvil_s
            worst[backend] = max(worst[backend], ratio)
            line += f" {ours[backend][name]:>8.3f} {ratio:>6.1f}×"
        print(line)
    print("worst ratio " + ", ".join(f"{b} {w:.1f}×" for b, w in worst.items()))
    if jumps is not None:
        print(f"constant-time mining on revm: 1 block {jumps[0] * 1e3:.2f} ms, {ROUND_BLOCKS:,} blocks "
              f"{jumps[1] * 1e3:.2f} ms ({jumps[1] / jumps[0]:.1f}× for {ROUND_BLOCKS:,}× the blocks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
