"""A whole paid Livepeer network on loopback — a devchain with the protocol deployed,
orchestrators with mock (or real) AI runners and PyAV transcoders, a gateway funded on
TicketBroker — run by node.devnet in a background thread with its own event loop, so a test
talks to it over HTTP, gRPC and JSON-RPC like any client, and reads its URLs from an object."""
from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field


class DevnetError(RuntimeError):
    """The devnet did not start."""


@dataclass
class RunningDevnet:
    """URLs, accounts and the protocol of a running devnet (node.devnet.Devnet is `net`)."""

    net: object = field(repr=False)

    @property
    def urls(self) -> dict[str, str]:
        """"devchain", "orchestrator-0", ..., "gateway" -> base URL."""
        return dict(self.net.urls)

    @property
    def gateway_url(self) -> str:
        return self.net.urls["gateway"]

    @property
    def devchain_url(self) -> str:
        return self.net.urls["devchain"]

    @property
    def orchestrator_urls(self) -> list[str]:
        """https:// with self-signed certificates, as go's orchestrators serve (verify=False to call them)."""
        return [self.net.urls[f"orchestrator-{i}"] for i in range(self.net.config.orchestrators)]

    @property
    def orchestrator_nodes(self) -> list:
        """The running node.orchestrator.node.OrchestratorNode objects (their balances, for tests)."""
        return list(self.net.orchestrator_nodes)

    @property
    def addresses(self) -> dict[str, str]:
        return dict(self.net.addresses)

    @property
    def protocol(self):
        """node.eth bindings over the devnet's JSON-RPC endpoint (owner: account 0)."""
        return self.net.protocol

    @property
    def accounts(self) -> list:
        """Account 0 deployed; 1..n are the orchestrators; the last one is the gateway."""
        return list(self.net.chain.accounts)

    @property
    def orchestrators(self) -> list:
        return self.accounts[1:1 + self.net.config.orchestrators]

    @property
    def gateway(self):
        return self.accounts[1 + self.net.config.orchestrators]

    def metric(self, node: str, name: str) -> float:
        """The sum over labels of `livepeer_<name>` on `node`'s /metrics ("gateway", "orchestrator-0")."""
        import httpx

        text = httpx.get(f"{self.net.urls[node]}/metrics", timeout=10, verify=False).text  # self-signed TLS
        return sum(float(v) for v in re.findall(rf"^livepeer_{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def mock_config(**overrides):
    """node.devnet.DevnetConfig for tests: mock AI runners, any free gateway port, a block every
    0.1 s (ticket params expire and winners get redeemed within seconds), 100-block rounds."""
    from node.devnet import DevnetConfig

    values = dict(mode="mock", gateway_port=0, block_time=0.1, round_length=100)
    values.update(overrides)
    return DevnetConfig(**values)


@contextmanager
def start_devnet(config=None, timeout: float = 180) -> Iterator[RunningDevnet]:
    """Run node.devnet.run_devnet(config) (default `mock_config()`) in a daemon thread; ready when
    this yields; stopped (servers closed, block production and round duties ended) after."""
    from node.devnet import run_devnet

    config = config or mock_config()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict = {}

    def on_ready(net) -> None:
        box["net"] = net
        started.set()

    def main() -> None:
        asyncio.set_event_loop(loop)
        box["task"] = task = loop.create_task(run_devnet(config, on_ready))
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            box["error"] = exc
        finally:
            started.set()
            if "net" in box:
                loop.run_until_complete(_close(box["net"]))
            loop.close()

    thread = threading.Thread(target=main, name="lp-devnet", daemon=True)
    thread.start()
    if not started.wait(timeout) or "net" not in box:
        if "task" in box:
            loop.call_soon_threadsafe(box["task"].cancel)
        raise DevnetError(f"the devnet did not start within {timeout} s: {box.get('error')!r}") from box.get("error")
    try:
        yield RunningDevnet(box["net"])
    finally:
        net = box["net"]
        net.stopping.set()  # block production and round duties
        loop.call_soon_threadsafe(box["task"].cancel)
        thread.join(30)
        net.rpc_server.shutdown()
        net.rpc_server.server_close()


async def _close(net) -> None:
    """Stop what run_devnet leaves serving on this loop: the orchestrators and the gateway.
    (The mock runners' servers are daemon threads of their own; they go with the process.)
    Cancelled connections and a cancelled lifespan are how a stop looks here, not errors."""
    import logging

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda lp, ctx: None if isinstance(ctx.get("exception"), asyncio.CancelledError)
                               else lp.default_exception_handler(ctx))
    uvicorn_log = logging.getLogger("uvicorn.error")
    level, uvicorn_log.level = uvicorn_log.level, logging.CRITICAL
    for _, stop in getattr(net, "servers", []):
        with suppress(Exception):
            await stop()
    # then what is left (the gateway's server, the servers' lifespan tasks), as asyncio.run does
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    uvicorn_log.setLevel(level)
