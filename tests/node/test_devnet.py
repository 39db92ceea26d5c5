"""The node end to end: `lpnode devnet` as a real process (a devchain, orchestrators with AI
runners and PyAV transcoders, a gateway, all on loopback over gRPC, HTTP and JSON-RPC), driven
like a user would with HTTP requests; tickets sent, won, redeemed, and the fees on chain."""
import base64
import io
import json
import re
import subprocess
import sys
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
av = pytest.importorskip("av")


def start_devnet(tmp_path, *extra):
    addresses, ready = tmp_path / "addresses.json", tmp_path / "ready.json"
    cmd = [sys.executable, "-m", "node.cli", "devnet", "--port", "0", "--mode", "mock", "--block-time", "0.1",
           "--round-length", "100", "--addresses", str(addresses), "--ready-file", str(ready), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    urls, deadline = {}, time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.match(r"^([\w-]+): (https?://\S+)$", line.strip())
        if m:
            urls[m.group(1)] = m.group(2)
        if line.startswith("running"):
            assert json.loads(ready.read_text()) == {"urls": urls, "addresses": json.loads(addresses.read_text())}
            # keep reading its output: a chatty devnet would otherwise block on a full pipe
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, urls, json.loads(addresses.read_text())
    proc.kill()
    pytest.fail(f"devnet did not start: {proc.stdout.read()}")


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:  # e.g. a worker thread still inside a stalled transcode
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    # a ticket EV close to the face value (100 x 350,000 gas x 1 gwei): nearly every ticket wins
    proc, urls, addresses = start_devnet(tmp_path_factory.mktemp("devnet"), "--ticket-ev", str(3 * 10**16))
    yield urls, addresses
    stop(proc)


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", verify=False).text  # orchestrators: TLS, self-signed
    return sum(float(v) for v in re.findall(rf"^livepeer_{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def test_text_to_image_through_gateway_orchestrator_and_runner_paid_in_tickets(devnet):
    urls, _ = devnet
    body = {"prompt": "a cat", "model_id": "test/tiny-sd", "width": 64, "height": 64, "seed": 7}
    r = httpx.post(f"{urls['gateway']}/text-to-image", json=body, timeout=60)
    assert r.status_code == 200, r.text
    image = r.json()["images"][0]
    png = base64.b64decode(image["url"].split(",", 1)[1])
    from PIL import Image

    assert Image.open(io.BytesIO(png)).size == (64, 64)
    assert metric(urls["gateway"], "tickets_sent_total") >= 1
    assert metric(urls["orchestrator-0"], "tickets_recv_total") == metric(urls["gateway"], "tickets_sent_total")


def test_a_segment_is_transcoded_into_renditions(devnet):
    from node.worker.media import synthetic_segment

    urls, _ = devnet
    r = httpx.post(f"{urls['gateway']}/live/stream-a/0.ts", content=synthetic_segment(2.0, 1280, 720),
                   headers={"Accept": "multipart/mixed", "Content-Duration": "2000"}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("multipart/mixed; boundary=")
    boundary = r.headers["content-type"].split("boundary=")[1].encode()
    parts = [p for p in r.content.split(b"--" + boundary) if b"Rendition-Name" in p]
    sizes = []
    for part in parts:
        head, data = part.split(b"\r\n\r\n", 1)
        with av.open(io.BytesIO(data.rstrip(b"\r\n"))) as c:
            frame = next(c.decode(video=0))
            sizes.append((frame.width, frame.height))
    assert sorted(sizes) == [(426, 240), (640, 360)]


def test_winning_tickets_are_redeemed_and_the_fees_are_on_chain(devnet):
    from node.eth import JsonRpcChain, attach_protocol, dev_accounts

    urls, addresses = devnet
    for i in range(3):
        httpx.post(f"{urls['gateway']}/text-to-image", json={"prompt": f"p{i}", "model_id": "test/tiny-sd",
                                                             "width": 64, "height": 64}, timeout=60)
    assert metric(urls["orchestrator-0"], "winning_tickets_recv_total") >= 1
    deadline = time.time() + 60  # params expire after 40 blocks (4 s here), then the queue redeems
    while time.time() < deadline and metric(urls["orchestrator-0"], "value_redeemed_total") == 0:
        time.sleep(0.5)
    redeemed = metric(urls["orchestrator-0"], "value_redeemed_total")
    assert redeemed > 0
    protocol = attach_protocol(JsonRpcChain(urls["devchain"]), addresses)
    o, g = (a.address for a in dev_accounts(3)[1:3])
    # on chain: what was redeemed left the gateway's deposit, and the orchestrator has fees to claim
    time.sleep(1)  # let a redemption in flight finish
    redeemed = metric(urls["orchestrator-0"], "value_redeemed_total")
    (deposit, _), _ = protocol.TicketBroker.getSenderInfo(g)
    assert deposit == 10 * 10**18 - redeemed
    assert protocol.BondingManager.pendingFees(o, protocol.current_round()) > 0


def test_bad_requests_get_go_livepeer_status_and_body(devnet):
    urls, _ = devnet
    r = httpx.post(f"{urls['gateway']}/text-to-image", json={"model_id": "test/tiny-sd"})
    assert r.status_code == 400 and r.json() == {"error": {"message": "prompt is required"}}
    r = httpx.post(f"{urls['gateway']}/text-to-image", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "invalid JSON" in r.json()["error"]["message"]
    r = httpx.post(f"{urls['gateway']}/live/s/0.mkv", content=b"x")
    assert r.status_code == 400 and r.text == "ignoring file extension"
    # straight to the orchestrator: a malformed payment header is refused (402) and never credited
    before = metric(urls["orchestrator-0"], "tickets_recv_total")
    r = httpx.post(f"{urls['orchestrator-0']}/text-to-image", json={"prompt": "x"},
                   headers={"Livepeer-Payment": "%%%", "Livepeer-Segment": ""}, verify=False)
    assert r.status_code == 402
    r = httpx.post(f"{urls['orchestrator-0']}/segment", content=b"x", headers={"Livepeer-Segment": "AAAA"},
                   verify=False)
    assert r.status_code == 403
    assert metric(urls["orchestrator-0"], "tickets_recv_total") == before


def test_a_broken_worker_is_retried_and_swapped(tmp_path):
    proc, urls, _ = start_devnet(tmp_path, "--orchestrators", "2", "--broken-runners", "1")
    try:
        ok = 0
        for i in range(4):
            r = httpx.post(f"{urls['gateway']}/text-to-image", json={"prompt": f"p{i}", "model_id": "test/tiny-sd",
                                                                     "width": 64, "height": 64}, timeout=60)
            ok += r.status_code == 200
        assert ok == 4  # every request ends on the working orchestrator
        assert metric(urls["orchestrator-1"], "ai_models_requested_total") == 4
    finally:
        stop(proc)


def test_a_drained_gateway_gets_a_clear_error(tmp_path):
    proc, urls, _ = start_devnet(tmp_path, "--deposit", "0", "--reserve", "1")
    try:
        r = httpx.post(f"{urls['gateway']}/text-to-image", json={"prompt": "x", "model_id": "test/tiny-sd"}, timeout=30)
        assert r.status_code == 402
        assert r.json() == {"error": {"message": "cannot pay orchestrators: no sender deposit"}}
        assert metric(urls["orchestrator-0"], "tickets_recv_total") == 0
    finally:
        stop(proc)


def test_a_slow_orchestrator_times_out_and_the_segment_goes_to_another(tmp_path):
    from node.worker.media import synthetic_segment

    proc, urls, _ = start_devnet(tmp_path, "--orchestrators", "2", "--slow-transcoders", "1")
    try:
        segment = synthetic_segment(2.0, 1280, 720)
        # each new stream selects afresh (equal stakes: either orchestrator); go on until one picked
        # the slow orchestrator (0) first — at most 10 streams, a 1-in-1024 chance of never
        for stream in range(10):
            t0 = time.time()
            r = httpx.post(f"{urls['gateway']}/live/s{stream}/0.ts", content=segment,
                           headers={"Accept": "multipart/mixed"}, timeout=60)
            assert r.status_code == 200 and r.content.count(b"Rendition-Name: ") == 2
            if metric(urls["gateway"], "orchestrator_swaps_total"):
                # it waited out go's segment timeout, max(8 s, 4 x 2 s), then went to the other
                assert time.time() - t0 >= 8
                break
        assert metric(urls["gateway"], "orchestrator_swaps_total") == 1
        assert metric(urls["orchestrator-1"], "segment_transcoded_total") == stream + 1
    finally:
        stop(proc)
