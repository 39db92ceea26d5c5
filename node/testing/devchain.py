"""`lpnode devchain` as a separate process, for tests that talk to a chain over JSON-RPC the way
another client (web3.py, ethers, foundry, a go-livepeer node) would.

The process writes a ready file (`--ready-file`) once it listens: JSON with `url`, `ws_url`,
`chain_id`, `addresses`, `controller` and `accounts` ([{address, private_key}]), written atomically,
so a reader never sees half of it and nothing is parsed from stdout."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


class DevchainError(RuntimeError):
    """The devchain process did not start (its log is in the message)."""


@dataclass
class Devchain:
    """A running devchain: where it listens, what is deployed, the funded unlocked accounts."""

    url: str
    ws_url: str | None
    chain_id: int
    addresses: dict[str, str]  # contract name -> address
    controller: str
    accounts: list = field(repr=False)  # node.eth.chain.Account, with private keys
    process: subprocess.Popen = field(repr=False)
    log_path: Path = field(repr=False)

    def web3(self):
        """A web3.py client of this chain over HTTP."""
        from web3 import HTTPProvider, Web3

        return Web3(HTTPProvider(self.url))

    def chain(self):
        """A node.eth chain (JSON-RPC) that signs with the devchain's accounts."""
        from node.eth import JsonRpcChain

        return JsonRpcChain(self.url, accounts=list(self.accounts))

    def protocol(self):
        """Bindings of the deployed protocol over `chain()`; the owner is account 0, the deployer."""
        from node.eth import attach_protocol

        chain = self.chain()
        return attach_protocol(chain, self.addresses, owner=chain.accounts[0])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then SIGKILL after `timeout` s; the exit status (0: it stopped cleanly)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def read_ready_file(path: Path, process: subprocess.Popen, log_path: Path) -> Devchain:
    from node.eth.chain import Account

    data = json.loads(path.read_text())
    accounts = [Account(a["address"], bytes.fromhex(a["private_key"].removeprefix("0x"))) for a in data["accounts"]]
    return Devchain(data["url"], data.get("ws_url"), int(data["chain_id"]), data["addresses"], data["controller"],
                    accounts, process, log_path)


@contextmanager
def start_devchain(directory: Path | str, *args: str, params=None, accounts: int = 20,
                   timeout: float = 180) -> Iterator[Devchain]:
    """Run `lpnode devchain --port 0` (this Python, the installed package) with `accounts` funded
    accounts and the protocol deployed with `params` (node.eth.ProtocolParams; default: the
    devchain's own, mainnet's), plus any further command-line `args`, until the block ends.
    `directory` receives the ready file and the process's log."""
    from node.eth.deploy import params_to_flags

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ready, log_path = directory / "devchain-ready.json", directory / "devchain.log"
    ready.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "node.cli", "devchain", "--port", "0", "--accounts", str(accounts),
           "--ready-file", str(ready), *(params_to_flags(params) if params is not None else ()), *args]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not ready.exists():
        proc.kill()
        proc.wait()
        raise DevchainError(f"lpnode devchain did not start (exit status {proc.returncode}):\n"
                            + log_path.read_text(errors="replace"))
    devchain = read_ready_file(ready, proc, log_path)
    try:
        yield devchain
    finally:
        devchain.stop()

