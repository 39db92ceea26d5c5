"""The livepeer-gateway SDK (PyPI `livepeer-gateway` 1.0.x, livepeer/livepeer-python-gateway) against
this node: GetOrchestrator over gRPC+TLS with its trust-on-first-use pinning and the remote signer's
/sign-orchestrator-info, and the live path through a devnet when it offers live-video-to-video.

The SDK needs Python >= 3.12: it is installed into its own virtual environment (in
~/.cache/lpsim/sdk-venv-<version>, or $LPSIM_SDK_VENV) with an interpreter found on this machine;
the test skips, saying what it looked for, where there is none or the package cannot be installed.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
from fractions import Fraction
from pathlib import Path

import pytest

SDK_REQUIREMENT = "livepeer-gateway>=1.0,<1.1"
CANDIDATES = ("python3.13", "python3.12", "python3.14")


def _version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                             text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split()
    return (int(parts[0]), int(parts[1])) if out.returncode == 0 and len(parts) == 2 else None


def find_python() -> str | None:
    """An interpreter >= 3.12: $LPSIM_SDK_PYTHON, python3.1[234] on PATH, pyenv's versions, uv's."""
    found = [os.environ.get("LPSIM_SDK_PYTHON", "")]
    found += [shutil.which(name) or "" for name in CANDIDATES]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found += sorted((str(p) for p in pyenv.glob("3.1[2-9]*/bin/python3")), reverse=True)
    if shutil.which("uv"):
        uv = subprocess.run(["uv", "python", "find", ">=3.12"], capture_output=True, text=True, timeout=30, check=False)
        found.append(uv.stdout.strip() if uv.returncode == 0 else "")
    for python in filter(None, found):
        version = _version(python)
        if version is not None and version >= (3, 12):
            return python
    return None


@pytest.fixture(scope="module")
def sdk_python() -> str:
    python = find_python()
    if python is None:
        pytest.skip("livepeer-gateway needs Python >= 3.12: none found ($LPSIM_SDK_PYTHON, python3.12/3.13/3.14 "
                    "on PATH, ~/.pyenv/versions/3.12+, `uv python find >=3.12`)")
    major, minor = _version(python)
    venv = Path(os.environ.get("LPSIM_SDK_VENV", Path.home() / ".cache" / "lpsim" / f"sdk-venv-{major}.{minor}"))
    bin_python = venv / "bin" / "python"
    check = [str(bin_python), "-c", "import livepeer_gateway"]
    if not bin_python.exists() or subprocess.run(check, capture_output=True, check=False).returncode != 0:
        subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
        pip = subprocess.run([str(bin_python), "-m", "pip", "install", "-q", SDK_REQUIREMENT], capture_output=True,
                             text=True, timeout=600, check=False)
        if pip.returncode != 0:
            pytest.skip(f"could not install {SDK_REQUIREMENT} with {python}: {pip.stderr.strip()[-300:]}")
    return str(bin_python)


def run_sdk(python: str, script: str, *args: str, timeout: float = 60) -> dict:
    out = subprocess.run([python, "-c", script, *args], capture_output=True, text=True, timeout=timeout, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


class Background:
    """An event loop in a thread serving what `start()` (a coroutine returning a stopper) starts."""

    def __init__(self, start) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.result = asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)

    def close(self, stop) -> None:
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


GET_ORCH_INFO = """
import json, sys
from livepeer_gateway import PaymentSession, get_orch_info
info = get_orch_info(sys.argv[1], signer_url=sys.argv[2])
session = PaymentSession(sys.argv[2], info, type="lv2v")
first = session.get_payment()  # no manifest id yet: the SDK's first call
session.set_manifest_id("sdk-stream")
session.send_payment()  # signer (state round-tripped) -> POST {orchestrator}/payment over TLS
print(json.dumps({"transcoder": info.transcoder, "address": "0x" + info.address.hex(),
                  "recipient": "0x" + info.ticket_params.recipient.hex(), "price": info.price_info.pricePerUnit,
                  "first_payment": bool(first.payment and first.seg_creds)}))
"""


def test_sdk_get_orch_info_over_tls_signed_by_the_remote_signer(sdk_python, tmp_path):
    """The SDK pins the orchestrator's self-signed certificate (TOFU), asks the remote signer for
    the request's signature, and the on-chain orchestrator (which checks that signature) answers;
    its PaymentSession gets signed tickets from the signer and the orchestrator accepts them."""
    import uvicorn
    from eth_account import Account

    from node.core.ai_models import AIModelConfig
    from node.core.sender import Sender
    from node.net.tls import new_cert, server_context
    from node.orchestrator.node import OrchestratorConfig, OrchestratorNode
    from node.orchestrator.server import serve_orchestrator
    from node.signer.server import RemoteSigner, create_signer_app
    from tests.core.stubs import StubBroker, StubChain
    from tests.ports import free_port

    o_key, g_key = bytes([31]) * 32, bytes([32]) * 32
    o, g = Account.from_key(o_key).address, Account.from_key(g_key).address
    chain = StubChain(price=1)
    chain.active.add(o)
    chain.fund(g, deposit=10**18, reserve=10**18)
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    node = OrchestratorNode(OrchestratorConfig(base, price_per_unit=Fraction(7), transcoding=False,
                                               ai_models=[AIModelConfig("live-video-to-video", "noop")],
                                               auto_adjust_price=False),
                            address=o, chain=chain, broker=StubBroker())

    async def start():
        _, stop_orch = await serve_orchestrator(node, "127.0.0.1", port, private_key=o_key, transcode=None,
                                                runners={},
                                                ssl_context=server_context(*new_cert(tmp_path, "127.0.0.1")))
        signer = RemoteSigner(g, g_key, Sender(g, g_key, chain), chain)
        server = uvicorn.Server(uvicorn.Config(create_signer_app(signer), host="127.0.0.1", port=0,
                                               log_level="warning"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)

        async def stop():
            server.should_exit = True
            await task
            await stop_orch()

        return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", stop

    bg = Background(start)
    signer_url, stop = bg.result
    try:
        got = run_sdk(sdk_python, GET_ORCH_INFO, base, signer_url)
    finally:
        bg.close(stop)
    assert got["transcoder"] == base and got["address"].lower() == o.lower()
    assert got["recipient"].lower() == o.lower() and got["price"] == 7 and got["first_payment"]
    received = node.metrics.tickets_recv.labels(g)._value.get()
    assert received >= 1 and not node.metrics.payment_recv_errors.labels(g, "fatal")._value.get()


LIVE_SCRIPT = """
import asyncio, json, os, sys, traceback
import av
from livepeer_gateway import MediaPublishConfig, StartJobRequest, start_lv2v

async def main(signer, model):
    # start_lv2v from async code also starts the SDK's payment sender (a payment per output segment)
    job = start_lv2v(None, StartJobRequest(model_id=model, params={"prompt": "x"}), signer_url=signer)
    out = job.media_output()
    try:
        return await stream(job, job.start_media(MediaPublishConfig()), out)
    finally:  # on every path, as an SDK user must
        await job.close()
        await out.close()

async def stream(job, media, out):
    frames = []

    async def read_frames():
        async for frame in out.frames():
            frames.append((frame.width, frame.height))
            if len(frames) >= 10:
                return

    reader = asyncio.create_task(read_frames())
    written = 0
    while not reader.done() and written < 300:  # a live source: 30 fps in real time, at most 10 s
        frame = av.VideoFrame(320, 240, "rgb24")
        frame.pts = written
        await media.write_frame(frame)
        written += 1
        await asyncio.sleep(1 / 30)
    await asyncio.wait_for(reader, 30)
    await job.control.write({"prompt": "hello"})
    kinds, applied = [], None

    async def read_events():
        nonlocal applied
        async for event in job.events():
            body = event.get("event", {})
            kinds.append(body.get("type"))
            params = (body.get("inference_status") or {}).get("last_params") or {}
            if body.get("type") == "status" and params.get("prompt") == "hello":
                applied = params
                return

    try:  # the runner reports status every 10 s; the update shows in the first one after it
        await asyncio.wait_for(read_events(), 40)
    except TimeoutError:
        pass
    return {"written": written, "frames_out": len(frames), "sizes": sorted(set(frames)), "event_types": kinds,
            "applied": applied}

# Not asyncio.run: its exit joins the default executor's threads (for up to 300 s on 3.12+), and the
# SDK (1.0.x) can leave one blocked there: MediaPublish reads its encoder's OS pipe with
# asyncio.to_thread(read_file.read), a builtin that returns only when the encoder thread writes or
# closes the pipe, and its close() waits for that thread 2 s at most (py-spy on a hung run: the
# main thread in Runner.close, asyncio_N threads in _WorkItem.run, MediaPublishEncoder alive).
# The session's channels are all closed on the server by then (tested on the orchestrator's and
# the runner's side); the script reports, then leaves without that join.
try:
    result = asyncio.new_event_loop().run_until_complete(main(*sys.argv[1:]))
    print(json.dumps(result), flush=True)
    code = 0
except BaseException:
    traceback.print_exc()
    code = 1
sys.stderr.flush()
os._exit(code)
"""


def _orchestrator_metric(url: str, name: str) -> float:
    import re

    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10, verify=False).text  # self-signed TLS
    return sum(float(v) for v in re.findall(rf"^livepeer_{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


def test_sdk_live_video_to_video_through_a_devnet(sdk_python, tmp_path):
    """start_lv2v through a devnet's remote signer and discovery (its orchestrator offers
    live-video-to-video/noop, a node.worker.live runner): frames in and frames out through trickle,
    tickets received by the orchestrator, a control message applied and reported on the events
    channel; then a second session after the first one stopped."""
    import httpx

    from tests.node.test_devnet import start_devnet, stop

    proc, urls, _ = start_devnet(tmp_path)
    try:
        signer, orch = urls["remote-signer"], urls["orchestrator-0"]
        assert httpx.post(signer + "/sign-orchestrator-info").json()["address"].startswith("0x")
        found = httpx.get(signer + "/discover-orchestrators", params={"caps": "live-video-to-video/noop"})
        assert found.status_code == 200 and orch in found.text, found.text
        assert _orchestrator_metric(orch, "tickets_recv_total") == 0
        got = run_sdk(sdk_python, LIVE_SCRIPT, signer, "noop", timeout=150)
        assert got["frames_out"] >= 10 and got["sizes"] == [[320, 240]], got  # noop: the frames come back
        assert got["written"] < 300, got
        assert got["applied"] == {"prompt": "hello"}, got  # control → runner params → status event
        assert "runner_send_first_processed_segment" in got["event_types"], got
        assert _orchestrator_metric(orch, "tickets_recv_total") >= 1  # paid up front, in tickets
        assert _orchestrator_metric(orch, "ticket_value_recv_total") > 0
        # the stream stopped (job.close): the runner is IDLE again and a second session runs
        again = run_sdk(sdk_python, LIVE_SCRIPT, signer, "noop", timeout=150)
        assert again["frames_out"] >= 10 and again["applied"] == {"prompt": "hello"}, again
    finally:
        stop(proc)
