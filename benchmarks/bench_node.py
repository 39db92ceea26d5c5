"""The node's own cost: gateway → orchestrator → mock AI runner on loopback, paid in tickets on a
devnet, against the runner alone measured in the same run (the baseline), so what is printed as
"added by the node" excludes the pipeline's own time.

    python benchmarks/bench_node.py [--requests 200] [--concurrency 4] [--check]
    python benchmarks/bench_node.py --processes [--check]  # each node its own process, as deployed
    python benchmarks/bench_node.py --clients   # httpx vs aiohttp vs node.net.http_client, one runner
    python benchmarks/bench_node.py --servers   # uvicorn's httptools vs h11, on uvloop vs asyncio
    python benchmarks/bench_node.py --floor     # a do-nothing proxy before the runner: a hop's CPU floor
    python benchmarks/bench_node.py --layers    # FastAPI vs node.net.fast_path vs raw ASGI, server CPU
    python benchmarks/bench_node.py --processes --profile DIR  # where each node's CPU goes (py-spy)

Prints requests per second and latency p50/p95 through the gateway, straight to the runner, and
the difference (discovery, selection, payment signing and checking, seg creds, two extra hops);
and the CPU each request costs the serving processes (the devnet: gateway, orchestrator, its
runner and the chain in one process), which moves less with the machine's load than latency.
`--processes` runs a devchain, the runner, `lpnode orchestrator` and `lpnode gateway` as separate
processes (as go's nodes and ai-runner are deployed) and splits the CPU a request costs by node.
`--clients` and `--servers` are the measurements behind node.net.http_client and the choice of
server and loop (node.event_loop). Segments transcoded per second are in bench_transcode.py.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time

import httpx
from devnet_process import devnet

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's node, not an installed one

GOAL_ADDED_MS, GOAL_RATE = 5.0, 600  # issue 15: the node's own cost and its throughput
BODY = {"prompt": "a cat", "model_id": "test/tiny-sd", "width": 64, "height": 64}
RUNNER_PORT = 18991


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


LOAD_CLIENT = "node"  # --client: what sends the load (httpx costs ~0.75 ms of the 2 CPUs a request, this ~0.1)


async def load(url: str, n: int, concurrency: int, pid: int | None = None) -> tuple[float, list[float], float]:
    """(wall seconds, latencies, CPU seconds of process `pid` during the run) for n POSTs."""
    from node.net.http_client import HTTPClient

    latencies: list[float] = []
    sem = asyncio.Semaphore(concurrency)
    body, headers = json.dumps(BODY).encode(), {"Content-Type": "application/json"}
    client = httpx.AsyncClient(timeout=60) if LOAD_CLIENT == "httpx" else HTTPClient(60)

    async def one():
        async with sem:
            t0 = time.perf_counter()
            r = await client.post(url, content=body, headers=headers) if LOAD_CLIENT == "httpx" else \
                await client.post(url, body, headers)
            if r.status_code != 200:
                raise RuntimeError(f"{url}: {r.status_code} {r.text}")
            latencies.append(time.perf_counter() - t0)

    try:
        await one()  # warm-up: discovery and the first payment session
        latencies.clear()
        cpu0 = cpu_seconds(pid) if pid else 0.0
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - t0
        return wall, latencies, (cpu_seconds(pid) - cpu0) if pid else 0.0
    finally:
        await client.aclose()


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[int(q) - 1] if len(xs) > 1 else xs[0]


def start_runner(port: int, *, http: str = "httptools", loop: str = "uvloop") -> subprocess.Popen:
    """The mock text-to-image runner under uvicorn in its own process, ready to serve."""
    code = ("import sys, uvicorn; from node.worker.ai.app import create_app; "
            "uvicorn.run(create_app('text-to-image', 'test/tiny-sd', mode='mock'), host='127.0.0.1', "
            f"port={port}, http='{http}', loop='{loop}', log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health")
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the runner did not start")


PROXY = """
import sys, uvicorn
from node.net.http_client import HTTPClient
client, target = HTTPClient(60), sys.argv[1]

async def app(scope, receive, send):  # one hop in, one out, nothing else: no FastAPI, no node
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    reply = await client.post(target + scope["path"], body, {"content-type": "application/json"})
    await send({"type": "http.response.start", "status": reply.status_code,
                "headers": [(b"content-type", reply.headers["content-type"].encode())]})
    await send({"type": "http.response.body", "body": reply.content})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), http="httptools", loop="uvloop", log_level="warning")
"""


LAYERS_SERVER = """
import sys, uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from node.net import limits
from node.net.exact_routes import index_exact_routes
from node.net.fast_path import serve_fast

kind, port = sys.argv[1], int(sys.argv[2])
app = FastAPI()
limits.guard_app(app, limits.limit_by_prefix(limits.MAX_SMALL_BODY))
for i in range(30):  # the routes a node registers ahead of its AI routes (live, BYOC)
    app.add_api_route(f"/r{i}/{{p}}", lambda p: None, methods=["GET"])

async def echo(request: Request):  # what a paid route does with the wire: headers in, body in and out
    return Response(await request.body() + request.headers.get("livepeer-payment", "").encode(),
                    media_type="application/json")

app.add_api_route("/text-to-image", echo, methods=["POST"])
index_exact_routes(app)
if kind == "fast path":
    serve_fast(app, ["/text-to-image"])

async def raw(scope, receive, send):
    if scope["type"] != "http":
        return
    body = (await receive())["body"] + dict(scope["headers"]).get(b"livepeer-payment", b"")
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})

uvicorn.run(raw if kind == "raw ASGI" else app, host="127.0.0.1", port=port, http="httptools", loop="uvloop",
            log_level="warning")
"""


def layers(args) -> int:
    """The server CPU a request costs under uvicorn for one echo route: FastAPI (with the body
    limit, error handlers and the exact-route index the nodes use; the baseline), the same app
    with node.net.fast_path, and a raw ASGI callable; twice each, alternating."""
    port = RUNNER_PORT + 4
    url = f"http://127.0.0.1:{port}/text-to-image"
    print(f"{args.requests} POSTs, concurrency {args.concurrency}, client aiohttp (load average "
          f"{os.getloadavg()[0]:.1f})")
    print(f"{'server':<12} {'server CPU us/req':>18} {'vs FastAPI':>11}")
    rows: dict[str, list[float]] = {}
    for kind in ("FastAPI", "fast path", "raw ASGI") * 2:
        server = subprocess.Popen([sys.executable, "-c", LAYERS_SERVER, kind, str(port)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    httpx.get(url)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            asyncio.run(client_run("aiohttp", url, 50, args.concurrency))  # warm-up
            cpu0 = cpu_seconds(server.pid)
            asyncio.run(client_run("aiohttp", url, args.requests, args.concurrency))
            rows.setdefault(kind, []).append(1e6 * (cpu_seconds(server.pid) - cpu0) / args.requests)
        finally:
            server.terminate()
            server.wait()
    baseline = min(rows["FastAPI"])
    for kind, runs in rows.items():
        print(f"{kind:<12} {min(runs):>18.0f} {min(runs) / baseline:>10.2f}x   (runs: "
              f"{', '.join(f'{r:.0f}' for r in runs)})")
    return 0


def floor(args) -> int:
    """The CPU floor of a node's hop: a raw ASGI proxy under uvicorn (httptools, uvloop) that posts
    each request on with the node's HTTP client (node.net.http_client) and does nothing else,
    in front of the same runner; against the runner alone, both in this run."""
    runner = start_runner(RUNNER_PORT)
    proxy = subprocess.Popen([sys.executable, "-c", PROXY, f"http://127.0.0.1:{RUNNER_PORT}", str(RUNNER_PORT + 3)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        url = f"http://127.0.0.1:{RUNNER_PORT}/text-to-image"
        base_wall, base, base_cpu = asyncio.run(load(url, args.requests, args.concurrency, runner.pid))
        cpu0 = cpu_seconds(runner.pid)
        wall, lat, proxy_cpu = asyncio.run(load(f"http://127.0.0.1:{RUNNER_PORT + 3}/text-to-image", args.requests,
                                                args.concurrency, proxy.pid))
        behind_cpu = cpu_seconds(runner.pid) - cpu0
    finally:
        proxy.terminate()
        runner.terminate()
    print(f"{args.requests} requests, concurrency {args.concurrency} (load average {os.getloadavg()[0]:.1f})")
    print(f"{'path':<28} {'req/s':>8} {'p50 ms':>8} {'CPU ms/req':>11}")
    print(f"{'runner alone (baseline)':<28} {args.requests / base_wall:>8.1f} {1000 * pct(base, 50):>8.1f} "
          f"{1000 * base_cpu / args.requests:>11.2f}")
    print(f"{'do-nothing proxy -> runner':<28} {args.requests / wall:>8.1f} {1000 * pct(lat, 50):>8.1f} "
          f"{1000 * proxy_cpu / args.requests:>11.2f}   (the proxy; the runner behind it "
          f"{1000 * behind_cpu / args.requests:.2f})")
    return 0


def node_path(args) -> int:
    with devnet("--block-time", "0.5") as (proc, urls):
        runner = start_runner(RUNNER_PORT)  # the same mock runner as the devnet's, in its own process
        try:
            base_wall, base, base_cpu = asyncio.run(load(f"http://127.0.0.1:{RUNNER_PORT}/text-to-image",
                                                         args.requests, args.concurrency, runner.pid))
            node_wall, node, node_cpu = asyncio.run(load(f"{urls['gateway']}/text-to-image", args.requests,
                                                         args.concurrency, proc.pid))
        finally:
            runner.terminate()
    load_avg = os.getloadavg()[0]
    print(f"{args.requests} requests, concurrency {args.concurrency}, text-to-image 64x64 on a mock runner "
          f"(load average {load_avg:.1f} on {os.cpu_count()} CPUs)")
    print(f"{'path':<28} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/req':>11}")
    for name, wall, lat, cpu in (("runner alone (baseline)", base_wall, base, base_cpu),
                                 ("gateway -> orch -> runner", node_wall, node, node_cpu)):
        print(f"{name:<28} {args.requests / wall:>8.1f} {1000 * pct(lat, 50):>8.1f} {1000 * pct(lat, 95):>8.1f} "
              f"{1000 * cpu / args.requests:>11.2f}")
    added_cpu = 1000 * (node_cpu - base_cpu) / args.requests
    print(f"{'added by the node':<28} {'':>8} {1000 * (pct(node, 50) - pct(base, 50)):>8.1f} "
          f"{1000 * (pct(node, 95) - pct(base, 95)):>8.1f} {added_cpu:>11.2f}   "
          f"({pct(node, 50) / pct(base, 50):.1f}x the runner's p50)")
    if args.check:
        print_check(args.requests, base_wall, base, node_wall, node,
                    f"; the node's CPU {node_cpu / max(base_cpu, 1e-9):.1f}x the runner's a request")
    return 0


def print_check(requests: int, base_wall: float, base: list[float], node_wall: float, node: list[float],
                extra: str = "") -> None:
    """The figures as ratios to issue 15's goals (and the runner alone, measured in the same run)."""
    added_ms, rate = 1000 * (pct(node, 50) - pct(base, 50)), requests / node_wall
    print(f"check: added p50 {added_ms:.1f} ms = {added_ms / GOAL_ADDED_MS:.1f}x the {GOAL_ADDED_MS:g} ms goal; "
          f"{rate:.0f} req/s = {rate / GOAL_RATE:.2f} of the {GOAL_RATE} req/s goal; "
          f"through the node {rate / (requests / base_wall):.2f} of the runner alone{extra}")


def processes(args) -> int:
    """gateway → orchestrator → runner, each its own process, on a devchain process: the CPU each
    node spends a request, and the latency added over the same runner alone."""
    import json
    import tempfile
    import threading
    from pathlib import Path

    from node.eth import LPT, JsonRpcChain, attach_protocol, dev_accounts
    from node.testing.chains import TEST_PARAMS
    from node.testing.devchain import start_devchain

    lpnode = [sys.executable, "-m", "node.cli"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-node-"))
    with start_devchain(tmp, params=TEST_PARAMS, accounts=20) as chain_proc:
        _, orch_acct, gw_acct = dev_accounts(3)
        chain = JsonRpcChain(chain_proc.url, accounts=[orch_acct])
        p = attach_protocol(chain, chain_proc.addresses)
        p.approve_and_bond(orch_acct, 1000 * LPT, orch_acct.address)
        p.BondingManager.transcoder(0, 1_000_000, sender=orch_acct)
        start_round, stop = p.current_round(), threading.Event()

        def mine():  # a block every 250 ms
            while not stop.wait(0.25):
                chain.mine()

        threading.Thread(target=mine, daemon=True).start()
        (tmp / "addresses.json").write_text(json.dumps(chain_proc.addresses))
        (tmp / "aiModels.json").write_text(json.dumps([{"pipeline": "text-to-image", "model_id": "test/tiny-sd",
                                                        "warm": True, "price_per_unit": 1,
                                                        "url": f"http://127.0.0.1:{RUNNER_PORT}"}]))
        chain_flags = ["-ethUrl", chain_proc.url, "-addresses", str(tmp / "addresses.json")]
        orch_port, gw_port = RUNNER_PORT + 1, RUNNER_PORT + 2
        runner = start_runner(RUNNER_PORT)
        nodes = [subprocess.Popen(lpnode + ["orchestrator", "-serviceAddr", f"127.0.0.1:{orch_port}", "-aiModels",
                                            str(tmp / "aiModels.json"), "-pricePerUnit", "1", "-ethKey",
                                            orch_acct.key.hex(), "-datadir", str(tmp / "orch"), "-initializeRound",
                                            *chain_flags], stdout=subprocess.DEVNULL,
                                  stderr=open(tmp / "orchestrator.log", "wb")),
                 subprocess.Popen(lpnode + ["gateway", "-httpAddr", f"127.0.0.1:{gw_port}", "-deposit", str(10 * LPT),
                                            "-reserve", str(10 * LPT), "-ethKey", gw_acct.key.hex(), *chain_flags],
                                  stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "wb"))]
        try:
            deadline = time.time() + 120
            while not (p.current_round() > start_round and p.RoundsManager.currentRoundInitialized()
                       and p.BondingManager.isActiveTranscoder(orch_acct.address)):
                if time.time() > deadline:
                    raise RuntimeError("the orchestrator did not become active")
                time.sleep(0.5)
            gateway = f"http://127.0.0.1:{gw_port}/text-to-image"
            for _ in range(100):  # until discovery has found the orchestrator
                try:
                    if httpx.post(gateway, json=BODY, timeout=30).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.3)
            base_wall, base, _ = asyncio.run(load(f"http://127.0.0.1:{RUNNER_PORT}/text-to-image", args.requests,
                                                  args.concurrency))
            spies = start_profiles(args.profile, {"gateway": nodes[1], "orchestrator": nodes[0]})
            cpu0 = [cpu_seconds(x.pid) for x in (nodes[1], nodes[0], runner)]
            try:
                node_wall, node, _ = asyncio.run(load(gateway, args.requests, args.concurrency))
            except RuntimeError:  # what the gateway counted, for the error's cause
                errors = httpx.get(f"http://127.0.0.1:{gw_port}/metrics").text.splitlines()
                print("\n".join(line for line in errors if "error" in line and not line.startswith("#")))
                raise
            cpu = [1000 * (cpu_seconds(x.pid) - c) / args.requests for x, c in zip((nodes[1], nodes[0], runner), cpu0)]
            stop_profiles(spies)
        finally:
            stop.set()
            for proc in (*nodes, runner):
                proc.terminate()
            for proc in (*nodes, runner):
                proc.wait(30)
    print(f"{args.requests} requests, concurrency {args.concurrency}, each node its own process "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"{'path':<28} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for name, wall, lat in (("runner alone (baseline)", base_wall, base), ("gateway -> orch -> runner", node_wall, node)):
        print(f"{name:<28} {args.requests / wall:>8.1f} {1000 * pct(lat, 50):>8.1f} {1000 * pct(lat, 95):>8.1f}")
    print(f"{'added by the node':<28} {'':>8} {1000 * (pct(node, 50) - pct(base, 50)):>8.1f} "
          f"{1000 * (pct(node, 95) - pct(base, 95)):>8.1f}")
    print("CPU a request: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in zip(("gateway", "orchestrator", "runner"),
                                                                                 cpu)))
    if args.check:
        print_check(args.requests, base_wall, base, node_wall, node)
    return 0


# where a node's CPU goes. A sample whose Python leaf is the event loop's run() or a line that
# writes to a socket is in C: uvloop and the kernel's loopback TCP (a send delivers to the peer's
# socket on the sender's CPU). Any other sample goes by the innermost frame of these packages.
IO_LEAVES = ("Runner.run (asyncio/", "._writelines (aiohttp/", "RequestResponseCycle.send (uvicorn/", ".readinto (",
             "_Connection.send (node/net/http_client.py")
PROFILE_GROUPS = (("client (http_client)", ("aiohttp/", "yarl/", "multidict/", "http_client.py", "httptools/")),
                  ("server (uvicorn)", ("uvicorn/", "httptools/")),
                  ("fastapi/starlette", ("fastapi/", "starlette/", "fast_path.py", "exact_routes.py")),
                  ("ticket crypto", ("eth_keys/", "coincurve/", "eth_account/", "eth_utils/", "keccak")),
                  ("protobuf/headers", ("google/protobuf", "headers.py", "wire.py")),
                  ("logging/metrics", ("logging/", "prometheus_client/", "metrics.py")),
                  ("node (rest)", ("node/",)),
                  ("asyncio (Python)", ("asyncio/",)))


def profile_group(stack: str) -> str:
    frames = stack.split(";")[::-1]
    if any(leaf in frames[0] for leaf in IO_LEAVES):
        return "uvloop+sockets (C)"
    for frame in frames:
        for group, keys in PROFILE_GROUPS:
            if any(k in frame for k in keys):
                return group
        if re.search(r"\([\w.]+\.py:\d+\)$", frame):  # py-spy names some of the node's files without their folder
            return "node (rest)"
    return "other"


def start_profiles(folder: str | None, procs: dict) -> list:
    """py-spy sampling each of `procs` (name -> Popen) until stop_profiles; [] without a folder."""
    if not folder:
        return []
    import shutil

    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    os.makedirs(folder, exist_ok=True)
    return [(name, os.path.join(folder, f"{name}.txt"),
             subprocess.Popen([spy, "record", "--pid", str(proc.pid), "--rate", "1000", "--gil", "--format", "raw", "--nonblocking",
                               "-o", os.path.join(folder, f"{name}.txt")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL))
            for name, proc in procs.items()]


def stop_profiles(spies: list) -> None:
    """Stop the samplers (py-spy writes its file on SIGINT) and print each node's CPU by group."""
    import signal

    for _, _, spy in spies:
        spy.send_signal(signal.SIGINT)
    for name, path, spy in spies:
        spy.wait(30)
        shares, total = dict.fromkeys(["uvloop+sockets (C)"] + [g for g, _ in PROFILE_GROUPS] + ["other"], 0), 0
        with open(path) as f:
            for line in f:
                stack, _, count = line.rstrip().rpartition(" ")
                total += int(count)
                shares[profile_group(stack)] += int(count)
        print(f"profile {name} ({total} samples, {path}): " +
              ", ".join(f"{g} {100 * n / max(total, 1):.0f} %" for g, n in shares.items() if n))


async def client_run(kind: str, url: str, n: int, concurrency: int) -> tuple[float, float]:
    """(requests per second, client CPU ms a request) for n POSTs from one client library."""
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    body = httpx.Request("POST", url, json=BODY).read()
    headers = {"content-type": "application/json"}
    if kind == "httpx":
        client = httpx.AsyncClient(timeout=60)

        async def post():
            r = await client.post(url, content=body, headers=headers)
            return r.content
    elif kind == "node":  # node.net.http_client, the paid hops' client
        from node.net.http_client import HTTPClient

        client = HTTPClient(60)

        async def post():
            return (await client.post(url, body, headers)).content
    else:
        client = aiohttp.ClientSession()

        async def post():
            async with client.post(url, data=body, headers=headers) as r:
                return await r.read()

    async def one():
        async with sem:
            await post()

    try:
        await one()
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return n / (time.perf_counter() - t0), 1000 * (time.process_time() - cpu0) / n
    finally:
        await (client.close() if kind == "aiohttp" else client.aclose())


def run_loop(main):
    from node.event_loop import run

    return run(main)


def clients(args) -> int:
    """httpx, aiohttp and node.net.http_client as the client of the same runner process, each
    twice, alternating."""
    runner = start_runner(RUNNER_PORT)
    try:
        url = f"http://127.0.0.1:{RUNNER_PORT}/text-to-image"
        print(f"{args.requests} POSTs, concurrency {args.concurrency}, to a mock runner (load average "
              f"{os.getloadavg()[0]:.1f})")
        print(f"{'client':<10} {'req/s':>8} {'client CPU ms/req':>18}")
        for kind in ("httpx", "aiohttp", "node", "httpx", "aiohttp", "node"):
            rate, cpu = run_loop(client_run(kind, url, args.requests, args.concurrency))  # the nodes' loop
            print(f"{kind:<10} {rate:>8.0f} {cpu:>18.3f}")
    finally:
        runner.terminate()
    return 0


def servers(args) -> int:
    """The runner's server CPU a request under uvicorn's HTTP parsers and event loops (the client
    aiohttp, the same for every row); the first row is the node's choice, the baseline."""
    print(f"{args.requests} POSTs, concurrency {args.concurrency}, client aiohttp (load average "
          f"{os.getloadavg()[0]:.1f})")
    print(f"{'server':<22} {'req/s':>8} {'server CPU ms/req':>18} {'vs baseline':>12}")
    baseline = None
    for http, loop in (("httptools", "uvloop"), ("h11", "uvloop"), ("httptools", "asyncio"), ("h11", "asyncio")):
        runner = start_runner(RUNNER_PORT, http=http, loop=loop)
        try:
            url = f"http://127.0.0.1:{RUNNER_PORT}/text-to-image"
            asyncio.run(client_run("aiohttp", url, 20, args.concurrency))  # warm-up
            cpu0 = cpu_seconds(runner.pid)
            rate, _ = asyncio.run(client_run("aiohttp", url, args.requests, args.concurrency))
            cpu = 1000 * (cpu_seconds(runner.pid) - cpu0) / args.requests
        finally:
            runner.terminate()
            runner.wait()
        baseline = baseline or cpu
        print(f"{http + ' on ' + loop:<22} {rate:>8.0f} {cpu:>18.3f} {cpu / baseline:>11.2f}x")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--check", action="store_true",
                    help="also print the figures against issue 15's goals (<= 5 ms p50 added, >= 600 req/s)")
    ap.add_argument("--client", choices=("node", "httpx"), default="node",
                    help="the load's HTTP client: node.net.http_client (default) or httpx (earlier figures)")
    ap.add_argument("--clients", action="store_true",
                    help="httpx vs aiohttp vs node.net.http_client as the client of one runner")
    ap.add_argument("--servers", action="store_true", help="uvicorn's httptools vs h11, on uvloop vs asyncio")
    ap.add_argument("--processes", action="store_true", help="each node its own process, as deployed")
    ap.add_argument("--layers", action="store_true",
                    help="server CPU a request: FastAPI vs node.net.fast_path vs raw ASGI, one echo route")
    ap.add_argument("--floor", action="store_true",
                    help="a do-nothing proxy (uvicorn + the node's HTTP client) before the runner: a hop's CPU floor")
    ap.add_argument("--profile", metavar="DIR", help="with --processes: sample the gateway and orchestrator with "
                                                      "py-spy during the load, stacks to DIR, CPU shares printed")
    args = ap.parse_args()
    global LOAD_CLIENT
    LOAD_CLIENT = args.client
    if args.processes:
        return processes(args)
    if args.clients:
        return clients(args)
    if args.floor:
        return floor(args)
    if args.layers:
        return layers(args)
    if args.servers:
        return servers(args)
    return node_path(args)


if __name__ == "__main__":
    sys.exit(main())
