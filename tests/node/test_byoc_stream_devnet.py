"""A paid BYOC stream on a devnet process (`lpnode devnet --byoc`: devchain, orchestrator, gateway
and the example filter as a streaming worker): images in, data lines and filtered images out, an
update reaching the worker, the stop closing the stream, and the start's tickets redeemed on chain.
The devnet runs go's periods (23 s debit, 50 s payment): the stream here lasts a few seconds."""
import asyncio
import io
import json
import time

import pytest

from node.core import byoc

from .test_devnet import metric, start_devnet, stop

httpx = pytest.importorskip("httpx")
Image = pytest.importorskip("PIL.Image")

PRICE = 10**14  # wei per second: one ticket of EV 3e16 buys the orchestrator's 60 s minimum
TICKET_EV = 3 * 10**16


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 20, 20)).save(buf, format="png")
    return buf.getvalue()


def _job(stream_id: str = "", **params) -> str:
    return byoc.job_request_header(byoc.JobRequest(
        request=json.dumps({"stream_id": stream_id}), parameters=json.dumps(params), capability="image-filter",
        timeout_seconds=60))


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    proc, urls, addresses = start_devnet(tmp_path_factory.mktemp("byoc_stream"), "--ticket-ev", str(TICKET_EV),
                                         "--max-face-value", str(TICKET_EV + 1),  # every ticket wins
                                         "--byoc", str(PRICE), "--live-model", "")
    yield urls, addresses
    stop(proc)


def test_a_paid_stream_on_the_devnet_filters_updates_stops_and_its_tickets_are_redeemed(devnet):
    from node.eth import JsonRpcChain, attach_protocol, dev_accounts
    from node.net.trickle import TricklePublisher, TrickleSubscriber

    urls, addresses = devnet
    gateway, orch = urls["gateway"], urls["orchestrator-0"]

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=30, verify=False) as http:
            r = await http.post(f"{gateway}/process/stream/start", json={"stream_name": "dev",
                                "params": json.dumps({"filter": "invert"})},
                                headers={"Livepeer": _job(enable_video_ingress=True, enable_video_egress=True,
                                                          enable_data_output=True)})
            assert r.status_code == 200, r.text
            s = r.json()
            lines: list[str] = []

            async def read_data() -> None:
                async with http.stream("GET", s["data_url"], timeout=None) as resp:
                    assert resp.status_code == 200
                    async for line in resp.aiter_lines():
                        if line:
                            lines.append(line)

            reader = asyncio.ensure_future(read_data())
            out = TrickleSubscriber(s["subscribe_url"], start_seq=0)
            inp = TricklePublisher(s["publish_url"], "video/MP2T")
            try:
                deadline = time.monotonic() + 30
                while not lines and time.monotonic() < deadline:  # until the worker runs on the stream
                    await inp.write(_png())
                    await asyncio.sleep(0.5)
                first = json.loads(lines[0][len("data: "):])
                assert first["filter"] == "invert" and first["mean"] == [55.0, 235.0, 235.0]
                img = Image.open(io.BytesIO(await (await out.next_segment()).read()))
                assert img.getpixel((0, 0)) == (55, 235, 235)
                r = await http.post(s["update_url"], json={"filter": "grayscale"},
                                    headers={"Livepeer": _job(s["stream_id"])})
                assert r.status_code == 200, r.text
                seen = len(lines)
                await inp.write(_png())
                while len(lines) == seen and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                assert json.loads(lines[-1][len("data: "):])["filter"] == "grayscale"
                r = await http.post(s["stop_url"], content=b"done")
                assert r.status_code == 200
                await asyncio.wait_for(reader, 10)
                assert lines[-1] == 'data: {"type":"stream_ended"}'
                r = await http.get(s["data_url"])
                assert (r.status_code, r.text) == (404, "Stream not found\n")
            finally:
                reader.cancel()
                await inp.close()
                await out.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))
    assert metric(orch, "winning_tickets_recv_total") >= 1
    deadline = time.time() + 60  # params expire after 40 blocks, then the queue redeems
    while time.time() < deadline and metric(orch, "value_redeemed_total") == 0:
        time.sleep(0.5)
    time.sleep(1)
    redeemed = metric(orch, "value_redeemed_total")
    assert redeemed > 0
    protocol = attach_protocol(JsonRpcChain(urls["devchain"]), addresses)
    _, _, g_acct = dev_accounts(3)
    (deposit, _), _ = protocol.TicketBroker.getSenderInfo(g_acct.address)
    assert 10 * 10**18 - deposit == pytest.approx(redeemed, rel=1e-12)
