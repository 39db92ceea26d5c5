"""`lpnode devnet`: a whole Livepeer network on loopback in one command — a devchain with the
protocol deployed (JSON-RPC, anvil semantics), orchestrators that bond, register their service
URI and do their round duties, each with an AI runner (the tiny Stable Diffusion built locally,
or declared mocks) and a PyAV transcoder, and a gateway funded on TicketBroker. Every node talks to
the chain over JSON-RPC and to each other over gRPC and HTTP, paid in tickets.

The devchain mines a block every `block_time` seconds, so ticket params expire and winning tickets
get redeemed as on a real chain; rounds are `round_length` blocks.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from node.core.live_payment import LIVE_PAYMENT_INTERVAL
from node.net.serving import start_serving

log = logging.getLogger("lpnode.devnet")

ETH = 10**18
LIVE = "live-video-to-video"
BYOC_SECRET = "devnet-secret"  # the orchestrators' -orchSecret for BYOC workers (lpnode byoc-worker)


@dataclass
class DevnetConfig:
    host: str = "127.0.0.1"
    gateway_port: int = 9935
    orchestrators: int = 1
    round_length: int = 50
    block_time: float = 1.0
    chain_backend: str = "revm"  # the devchain's EVM: revm or py-evm (lpnode devchain --backend)
    mode: str = "real"  # AI runners: real (tiny SD from configs) or mock
    pipeline: str = "text-to-image"
    model_id: str = "test/tiny-sd"
    # live-video-to-video model beside it (a live runner from node.worker.live; "" for none):
    # `noop` needs no weights, so every devnet offers a live path (the livepeer-gateway SDK's)
    live_model: str = "noop"
    live_capacity: int = 1  # live runners per orchestrator, one stream each (go: one container per unit)
    live_payment_interval: float = LIVE_PAYMENT_INTERVAL  # go's -livePaymentInterval (s), gateway and orchestrators
    models_dir: str = str(Path.home() / ".cache" / "lpsim" / "models")
    price_per_pixel: Fraction = Fraction(1)  # wei per pixel, transcoding and AI
    ticket_ev: int = 10**15  # high so that tickets win in a demo (go's default is 8 gwei)
    max_face_value: int = 0  # the orchestrators' -maxFaceValue (0: none); just above ticket_ev, every ticket wins
    deposit: int = 10 * ETH
    reserve: int = 10 * ETH
    transcoding: bool = True
    broken_runners: int = 0  # orchestrators whose runner is unreachable (failure drills)
    slow_transcoders: int = 0  # orchestrators whose transcoder stalls 20 s a segment (failure drills)
    # orchestrators (after the slow ones) that report twice the pixels they transcoded (failure drills:
    # the gateway's local verification finds "PixelMismatch" and swaps)
    lying_transcoders: int = 0
    # BYOC: each orchestrator takes registrations with BYOC_SECRET and serves the example image
    # filter (node.worker.byoc.examples) at this price, wei per second (None: no BYOC worker)
    byoc_price: int | None = None


class Devnet:
    def __init__(self, config: DevnetConfig) -> None:
        self.config = config
        self.stopping = threading.Event()
        self.urls: dict[str, str] = {}
        self.servers: list = []
        self.views: list = []  # the nodes' cached chain views, cleared once set-up is done
        self.orchestrator_nodes: list = []  # node.orchestrator.node.OrchestratorNode, in start order
        import tempfile

        self.tls_dir = Path(tempfile.mkdtemp(prefix="lpsim-devnet-"))  # the orchestrators' data dirs (cert.pem)

    # ------------------------------------------------------------------ chain

    def start_chain(self) -> None:
        from node.eth import (
            EmbeddedChain,
            JsonRpcChain,
            ProtocolParams,
            attach_protocol,
            deploy_protocol,
        )
        from node.eth.devchain import DevchainRpc
        from node.eth.devchain_server import make_server

        cfg = self.config
        n = 2 + cfg.orchestrators
        if cfg.chain_backend == "revm":
            from node.eth.revm_devchain import RevmDevchain

            self.chain = RevmDevchain(num_accounts=n)
        elif cfg.chain_backend == "py-evm":
            self.chain = EmbeddedChain(num_accounts=n)
        else:
            raise ValueError(f"chain_backend must be revm or py-evm, not {cfg.chain_backend!r}")
        deployed = deploy_protocol(self.chain, ProtocolParams(round_length=cfg.round_length, num_active_transcoders=10))
        self.rpc_server = make_server(DevchainRpc(self.chain), cfg.host, 0)
        threading.Thread(target=self.rpc_server.serve_forever, daemon=True).start()
        url = f"http://{cfg.host}:{self.rpc_server.server_address[1]}"
        self.urls["devchain"] = url
        self.addresses = deployed.addresses
        self.client = JsonRpcChain(url, accounts=self.chain.accounts)
        self.protocol = attach_protocol(self.client, deployed.addresses, owner=self.chain.accounts[0])

    def _view(self):
        from node.eth.payments import CachedChainView, ProtocolChainView

        view = CachedChainView(ProtocolChainView(self.protocol))
        self.views.append(view)
        return view

    def _produce_blocks(self) -> None:
        while not self.stopping.wait(self.config.block_time):
            try:
                self.client.mine(1)
            except Exception as exc:  # noqa: BLE001 - a missed block is not fatal
                log.warning("block production: %s", exc)

    # ------------------------------------------------------------------ nodes

    def start_runner(self, index: int) -> str:
        from node.worker.ai.local_runner import start_local_runner

        cfg = self.config
        if index < cfg.broken_runners:
            return f"http://{cfg.host}:9"  # discard port: nothing listens (a worker that is down)
        if cfg.mode == "real":
            from node.worker.ai.tiny_models import build_tiny_sd

            build_tiny_sd(cfg.models_dir, cfg.model_id)
            # one torch thread: the devnet's nodes share the machine with the runner
            return start_local_runner(cfg.pipeline, cfg.model_id, mode="real", models_dir=cfg.models_dir,
                                      host=cfg.host, num_threads=1)
        return start_local_runner(cfg.pipeline, cfg.model_id, mode="mock", host=cfg.host)

    def start_live_runner(self, index: int) -> list[str]:
        from node.worker.ai.local_runner import start_live_runners

        cfg = self.config
        if index < cfg.broken_runners:
            return [f"http://{cfg.host}:9"] * max(cfg.live_capacity, 1)
        return start_live_runners(cfg.live_model, cfg.live_capacity, mode=cfg.mode, models_dir=cfg.models_dir,
                                  host=cfg.host)

    async def start_orchestrator(self, index: int):
        from node.core.ai_models import AIModelConfig
        from node.eth.payments import ProtocolBroker
        from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
        from node.orchestrator.server import serve_orchestrator

        cfg = self.config
        account = self.chain.accounts[1 + index]
        p = self.protocol
        from node.net.serving import reserve_port

        sock = reserve_port(cfg.host)  # held until the server listens: its URI is registered first
        port = sock.getsockname()[1]
        uri = f"https://{cfg.host}:{port}"  # TLS as go's orchestrators (node.net.tls)
        p.approve_and_bond(account, 1000 * 10**18, account.address)
        p.BondingManager.transcoder(0, 1_000_000, sender=account)
        runner = self.start_runner(index)
        ai = [AIModelConfig(cfg.pipeline, cfg.model_id, warm=True, price_per_unit=cfg.price_per_pixel)]
        runners = {cfg.pipeline: runner}
        if cfg.live_model:
            ai.append(AIModelConfig(LIVE, cfg.live_model, warm=True, capacity=cfg.live_capacity,
                                    price_per_unit=cfg.price_per_pixel))
            runners[LIVE] = self.start_live_runner(index)
        node = OrchestratorNode(
            OrchestratorConfig(uri, price_per_unit=cfg.price_per_pixel, ai_models=ai, transcoding=cfg.transcoding,
                               ticket_ev=cfg.ticket_ev, max_face_value=cfg.max_face_value,
                               live_payment_interval=cfg.live_payment_interval),
            address=account.address, chain=self._view(), broker=ProtocolBroker(p, account))
        node.register_service_uri(p, account)
        # keep the servers referenced: a grpc.aio server that is garbage-collected stops serving
        lying = cfg.slow_transcoders <= index < cfg.slow_transcoders + cfg.lying_transcoders
        transcode = _transcoder(stall=20.0 if index < cfg.slow_transcoders else 0.0, pixels_factor=2 if lying else 1)
        from node.net.tls import new_cert, server_context

        tls = server_context(*new_cert(self.tls_dir / f"orchestrator-{index}", cfg.host))
        self.servers.append(await serve_orchestrator(node, cfg.host, port, private_key=account.key,
                                                     transcode=transcode, runners=runners,
                                                     ssl_context=tls, byoc_secret=BYOC_SECRET, sock=sock))
        if cfg.byoc_price is not None:
            await self.start_byoc_worker(uri, cfg.byoc_price)
        threading.Thread(target=self._duties, args=(node, account), daemon=True).start()
        self.urls[f"orchestrator-{index}"] = uri
        self.orchestrator_nodes.append(node)
        return node

    async def start_byoc_worker(self, orchestrator: str, price: int) -> None:
        """The example BYOC capability, registered with `orchestrator` as a worker process would."""
        import httpx

        from node.net.serving import serve_in_thread
        from node.worker.byoc.app import create_app, keep_registered
        from node.worker.byoc.examples import StreamingImageFilter

        cap = StreamingImageFilter()  # the image filter, batch and streaming (/process/stream/*)
        _, port = serve_in_thread(create_app(cap), self.config.host)
        # the orchestrator's self-signed TLS; generous waits: a loaded machine answers slowly
        async with httpx.AsyncClient(verify=False, timeout=30) as client:
            await asyncio.wait_for(keep_registered(client, orchestrator, BYOC_SECRET, cap.registration(
                f"http://{self.config.host}:{port}", price_per_unit=price), interval=0), 120)

    def _duties(self, node, account) -> None:
        while not self.stopping.wait(self.config.block_time):
            try:
                done = node.round_duties(self.protocol, account)
                if done.get("redemptions") or "reward" in done or "initialized" in done:
                    log.info("orchestrator %s: %s", account.address, done)
            except Exception as exc:  # noqa: BLE001 - keep serving; the next block retries
                log.warning("round duties: %s", exc)

    async def start_gateway(self) -> None:
        from node.eth.orchestrator_pool import ChainOrchestratorPool
        from node.eth.payments import ProtocolBroker
        from node.gateway.node import GatewayNode
        from node.gateway.server import create_app
        from node.net.headers import VideoProfile

        cfg = self.config
        account = self.chain.accounts[1 + cfg.orchestrators]
        if cfg.deposit or cfg.reserve:
            ProtocolBroker(self.protocol, account).fund_deposit_and_reserve(cfg.deposit, cfg.reserve)
        # discovery as an on-chain go gateway without -orchAddr: the active set and ServiceRegistry
        view = self._view()
        self.gateway = GatewayNode(account=account, chain=view, live_payment_interval=cfg.live_payment_interval,
                                   pool=ChainOrchestratorPool(self.protocol, view.last_initialized_round))
        self.gateway.sender.max_ev = self.gateway.sender.max_total_ev = Fraction(100 * cfg.ticket_ev)
        profiles = (VideoProfile("P240p30fps16x9", 426, 240, 250_000, 30, 1),
                    VideoProfile("P360p30fps16x9", 640, 360, 400_000, 30, 1))
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(create_app(self.gateway, profiles), host=cfg.host,
                                               port=cfg.gateway_port, log_level="warning"))
        self.gateway_task, port = await start_serving(server)
        self.urls["gateway"] = f"http://{cfg.host}:{port}"

    async def start_signer(self) -> None:
        """A remote signer (lpnode remote-signer) with the gateway's key and funds, discovering the
        chain's active set as the gateway does: for clients such as the livepeer-gateway SDK."""
        import uvicorn

        from node.core.sender import Sender
        from node.signer.launch import make_discover
        from node.signer.server import RemoteSigner, create_signer_app

        account, view = self.gateway.account, self._view()
        sender = Sender(account.address, account.key, view)
        sender.max_ev = sender.max_total_ev = Fraction(100 * self.config.ticket_ev)
        signer = RemoteSigner(account.address, account.key, sender, view)
        app = create_signer_app(signer, make_discover(self.gateway, self.gateway.refresh_pool))
        server = uvicorn.Server(uvicorn.Config(app, host=self.config.host, port=0, log_level="warning"))
        self.signer_task, port = await start_serving(server)
        self.urls["remote-signer"] = f"http://{self.config.host}:{port}"

    async def start(self) -> None:
        self.start_chain()
        for i in range(self.config.orchestrators):
            await self.start_orchestrator(i)
        await self.start_gateway()
        await self.start_signer()
        self.protocol.next_round()  # the orchestrators join the active set
        for view in self.views:  # what they cached during set-up predates the round
            view.invalidate()
        # blocks from now on (not during set-up, which must stay within one initialised round)
        threading.Thread(target=self._produce_blocks, daemon=True).start()


def _transcoder(stall: float = 0.0, pixels_factor: int = 1, gpus: list[str] | None = None):
    """The orchestrator's local transcoder: PyAV, software x264, or NVENC on the `gpus` (-nvidia ids)
    taken in turn, a segment each, as go spreads sessions over its GPUs. Declared failure drills:
    `stall`, seconds to sit on each segment first (a slow orchestrator); `pixels_factor`, what it
    multiplies the pixels it reports by (2: a lying orchestrator that bills twice the work — honest
    renditions, a false count, which the gateway's local verification catches as "PixelMismatch")."""
    import itertools

    from node.worker.profiles import VideoProfile as WorkerProfile
    from node.worker.transcode import transcode

    devices = itertools.cycle([int(g) for g in gpus]) if gpus else None
    lock = threading.Lock()

    def run(data: bytes, profiles) -> list[tuple[bytes, int]]:
        if stall:
            time.sleep(stall)
        wanted = [WorkerProfile(p.name, p.width, p.height, p.bitrate, p.framerate, p.framerate_den) for p in profiles]
        if devices is None:
            result = transcode(data, wanted, preset="ultrafast")
        else:
            with lock:
                device = next(devices)
            result = transcode(data, wanted, accel="nvidia", device=device)
        return [(r.data, r.pixels * pixels_factor) for r in result.renditions]

    return run


async def run_devnet(config: DevnetConfig, ready=None) -> None:
    net = Devnet(config)
    await net.start()
    if ready is not None:
        ready(net)
    try:
        await asyncio.Event().wait()
    finally:
        net.stopping.set()
