"""BYOC batch jobs through real processes on loopback: `lpnode orchestrator -orchSecret`, `lpnode
gateway -orchAddr` and `lpnode byoc-worker` serving the shipped image filter (offchain: the paid
path is covered in-process by test_byoc_paid.py). go's statuses and messages for the faults."""
import base64
import io
import json
import subprocess
import sys
import time

import pytest

from node.core import byoc

from .test_byoc_paid import gateway_job
from .test_processes import stop_all, wait_http
from tests.ports import free_port

httpx = pytest.importorskip("httpx")
Image = pytest.importorskip("PIL.Image")

LPNODE = [sys.executable, "-m", "node.cli"]


def _png(size: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (200, 120, 40)).save(buf, format="png")
    return buf.getvalue()


def _job(capability: str = "image-filter", timeout: int = 10, **kw) -> str:
    job = byoc.JobRequest(id="j1", request="{}", parameters="{}", capability=capability, timeout_seconds=timeout, **kw)
    return byoc.job_request_header(job)


def _wait_registered(orch: int, capability: str, deadline: float) -> None:
    sender = byoc.JobSender("0x" + "00" * 20, "0x").header()
    while time.time() < deadline:
        r = httpx.get(f"http://127.0.0.1:{orch}/process/token", headers={
            byoc.ETH_ADDRESS_HEADER: sender, byoc.CAPABILITY_HEADER: capability})
        if r.status_code == 200 and json.loads(r.text).get("available_capacity", 0) > 0:
            return
        time.sleep(0.2)
    pytest.fail(f"{capability} never registered")


def test_byoc_batch_job_through_gateway_orchestrator_and_worker_processes(tmp_path):
    orch, gw, wk = free_port(), free_port(), free_port()
    procs = [subprocess.Popen(LPNODE + ["orchestrator", "-serviceAddr", f"127.0.0.1:{orch}", "-orchSecret", "s3cret"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen(LPNODE + ["gateway", "-httpAddr", f"127.0.0.1:{gw}", "-orchAddr", f"127.0.0.1:{orch}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    worker_log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - the worker process writes it until the end
    try:
        deadline = time.time() + 60
        wait_http(f"http://127.0.0.1:{orch}/metrics", deadline)
        wait_http(f"http://127.0.0.1:{gw}/healthz", deadline)
        # a wrong secret: the worker's registration is refused with go's message, and it exits
        bad = subprocess.run(LPNODE + ["byoc-worker", "--port", str(free_port()), "--orch-url",
                                       f"http://127.0.0.1:{orch}", "--orch-secret", "nope"],
                             check=False, capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and "registration refused: 400 invalid authorization" in bad.stderr
        worker = subprocess.Popen(LPNODE + ["byoc-worker", "--port", str(wk), "--orch-url", f"http://127.0.0.1:{orch}",
                                            "--orch-secret", "s3cret", "--token", "tok", "--reregister", "0"],
                                  stdout=worker_log, stderr=subprocess.STDOUT)
        procs.append(worker)
        _wait_registered(orch, "image-filter", deadline)

        r = gateway_job(f"http://127.0.0.1:{gw}/process/request/sepia", content=_png(),
                        headers={"Livepeer": _job(), "Content-Type": "image/png"}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png" and r.content[:8] == b"\x89PNG\r\n\x1a\n"
        out = Image.open(io.BytesIO(r.content))
        assert out.size == (48, 48) and out.getpixel((0, 0)) != (200, 120, 40)  # really filtered
        assert json.loads(r.headers["x-metadata"]) == {"filter": "sepia", "width": 48, "height": 48}
        assert r.headers["x-orchestrator-url"] == f"http://127.0.0.1:{orch}"
        assert r.headers["livepeer-balance"] == "0"

        # server-sent events passed through to [DONE], with the orchestrator's balance event
        r = gateway_job(f"http://127.0.0.1:{gw}/process/request/stream/grayscale", content=_png(),
                        headers={"Livepeer": _job(), "Content-Type": "image/png"}, timeout=30)
        events = [line for line in r.text.splitlines() if line.startswith("data: ")]
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        assert json.loads(events[0][6:])["progress"] == 0.25 and "image" in json.loads(events[-3][6:])
        assert events[-2:] == ['data: {"balance": 0.000}', "data: [DONE]"]

        # the worker's 4xx comes back as it is (go: the orchestrator passes it, the gateway too)
        r = gateway_job(f"http://127.0.0.1:{gw}/process/request/nope", content=_png(),
                        headers={"Livepeer": _job()}, timeout=30)
        assert r.status_code == 404 and "unknown filter" in r.text
        # no timeout, an unknown capability, a header that is not base64: go's 400s
        r = httpx.post(f"http://127.0.0.1:{gw}/process/request/sepia", content=b"x", headers={
            "Livepeer": base64.b64encode(b'{"capability":"image-filter","request":"{}","parameters":"{}"}').decode()})
        assert (r.status_code, r.text) == (400, f"Unable to parse job request, err={byoc.ERR_NO_TIMEOUT}\n")
        r = httpx.post(f"http://127.0.0.1:{gw}/process/request/sepia", content=b"x",
                       headers={"Livepeer": _job("no-such-capability")})
        assert (r.status_code, r.text) == (400, "No orchestrators found for capability no-such-capability\n")
        r = httpx.post(f"http://127.0.0.1:{orch}/process/request/sepia", content=b"x",
                       headers={"Livepeer": _job("no-such-capability")})
        assert (r.status_code, r.text) == (503, byoc.ERR_NO_CAPACITY + "\n")
        r = httpx.post(f"http://127.0.0.1:{gw}/process/request/sepia", headers={"Livepeer": "!!"})
        assert (r.status_code, r.text) == (400, f"Unable to parse job request, err={byoc.ERR_SEG_ENCODING}\n")
        r = httpx.post(f"http://127.0.0.1:{gw}/process/request/sepia", headers={"Livepeer": base64.b64encode(
            b'{"capability":"image-filter","timeout_seconds":5,"request":"{}","parameters":""}').decode()})
        assert r.status_code == 400 and "Unable to unmarshal job parameters err=unexpected end of JSON input" in r.text
        # the orchestrator's token refuses a missing sender header
        r = httpx.get(f"http://127.0.0.1:{orch}/process/token")
        assert r.status_code == 400 and "Livepeer-Eth-Address" in r.text

        # the worker dies: the job fails over to nothing, and the orchestrator drops the capability
        worker.kill()
        worker.wait(10)
        r = httpx.post(f"http://127.0.0.1:{orch}/process/request/sepia", content=_png(),
                       headers={"Livepeer": _job(), "Content-Type": "image/png"}, timeout=30)
        assert r.status_code == 500 and r.text.startswith("job not able to be processed, removing capability err=")
        r = httpx.post(f"http://127.0.0.1:{gw}/process/request/sepia", content=_png(),
                       headers={"Livepeer": _job()}, timeout=30)
        assert (r.status_code, r.text) == (400, "No orchestrators found for capability image-filter\n")
    finally:
        stop_all(procs)
        worker_log.close()
