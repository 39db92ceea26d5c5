"""The BYOC worker kit's streaming handler (node.worker.byoc.stream) with the shipped streaming image
filter, against a real trickle server on loopback holding the channels an orchestrator would make."""
from __future__ import annotations

import asyncio
import contextlib
import io
import json

import httpx
from PIL import Image

from node.net.trickle import (
    EndOfStream,
    StreamNotFound,
    TricklePublisher,
    TrickleSubscriber,
)
from node.worker.byoc.app import create_app
from node.worker.byoc.examples import StreamingImageFilter
from node.worker.byoc.stream import MAX_CONTROL_BYTES
from tests.net.trickle_serving import eventually, run, served

CHANNELS = {"": "video/MP2T", "-out": "video/MP2T", "-control": "application/json",
            "-events": "application/json", "-data": "application/jsonl"}


def png(color=(200, 20, 20), size=(8, 6)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


@contextlib.asynccontextmanager
async def worker_and_channels(mid: str = "abc", token: str = ""):
    from node.net.trickle import TrickleServer

    ts = TrickleServer()
    for suffix, mime in CHANNELS.items():
        ts.create_channel(mid + suffix, mime)
    cap = StreamingImageFilter()
    cap.status_interval = 0.2
    app = create_app(cap, token=token)
    async with served(ts, ts) as trickle_base, served(app) as worker, httpx.AsyncClient(timeout=10) as http:
        urls = {"subscribe_url": f"{trickle_base}/{mid}", "publish_url": f"{trickle_base}/{mid}-out",
                "control_url": f"{trickle_base}/{mid}-control", "events_url": f"{trickle_base}/{mid}-events",
                "data_url": f"{trickle_base}/{mid}-data"}
        try:
            yield ts, app, worker, http, urls
        finally:
            await app.state.streams.stop_all()


async def collect_event_types(url: str, kinds: set) -> None:
    """Every event's type, read as they come (the ring keeps 5 segments)."""
    sub = TrickleSubscriber(url, start_seq=0)
    try:
        async for seg in sub:
            event = json.loads(await seg.read())["event"]
            kinds.add(event["type"])
            if event["type"] == "error":  # the message too, as "error: <message>"
                kinds.add(f"error: {event['message']}")
    finally:
        await sub.close()


async def data_line(sub: TrickleSubscriber) -> dict:
    seg = await sub.next_segment()
    return json.loads((await seg.read()).decode().strip())


def test_a_stream_filters_input_into_output_and_data_and_takes_new_params():
    async def scenario():
        async with worker_and_channels() as (ts, app, worker, http, urls):
            r = await http.post(f"{worker}/stream/start", json={"gateway_request_id": "abc",
                                                                 "params": {"filter": "invert"}, **urls})
            assert r.status_code == 200 and r.json()["request_id"] == "abc"
            kinds: set = set()
            collector = asyncio.ensure_future(collect_event_types(urls["events_url"], kinds))
            data = TrickleSubscriber(urls["data_url"], start_seq=0)
            out = TrickleSubscriber(urls["publish_url"], start_seq=0)
            inp = TricklePublisher(urls["subscribe_url"], "video/MP2T")
            try:
                await inp.write(png((200, 20, 20)))
                line = await data_line(data)
                assert line == {"seq": 0, "filter": "invert", "width": 8, "height": 6, "mean": [55.0, 235.0, 235.0]}
                out_img = Image.open(io.BytesIO(await (await out.next_segment()).read()))
                assert out_img.getpixel((0, 0)) == (55, 235, 235)

                # /stream/params (go's /ai/stream/update forwards here)
                r = await http.post(f"{worker}/stream/params", json={"filter": "grayscale"},
                                    headers={"X-Stream-Id": "abc"})
                assert r.status_code == 200 and r.json()["params"] == {"filter": "grayscale"}
                await inp.write(png((200, 20, 20)))
                assert (await data_line(data))["filter"] == "grayscale"

                # the control channel: keepalives ignored, a JSON object is new params
                control = TricklePublisher(urls["control_url"], "application/json")
                await control.write(b'{"keep":"alive"}')
                await control.write(b'{"filter":"sepia"}')
                await eventually(lambda: app.state.streams.running["abc"][0].params["filter"] == "sepia")
                await inp.write(png((200, 20, 20)))
                assert (await data_line(data))["filter"] == "sepia"
                stream = app.state.streams.running["abc"][0]
                assert stream.stats.param_updates == 2 and stream.stats.segments_in == 3

                # an oversize control message: refused from a bounded read, the params kept
                await control.write(b'{"filter":"' + b"x" * MAX_CONTROL_BYTES + b'"}')
                await eventually(lambda: f"error: control message over {MAX_CONTROL_BYTES} bytes refused" in kinds)
                assert stream.params["filter"] == "sepia" and stream.stats.param_updates == 2

                # an input that is not an image: a data line with the error, the stream goes on
                await inp.write(b"not an image")
                assert "not a readable image" in (await data_line(data))["error"]

                # events: status heartbeats (feeding the gateway's 30 s watchdog), params_updated, error
                await eventually(lambda: {"status", "params_updated", "error"} <= kinds)

                r = await http.post(f"{worker}/stream/stop", content=b"done", headers={"X-Stream-Id": "abc"})
                assert r.status_code == 200 and not app.state.streams.running
                # the worker closed its output channels: readers see the end
                assert "abc-data" not in ts.channels and "abc-out" not in ts.channels
                r = await http.post(f"{worker}/stream/stop", headers={"X-Stream-Id": "abc"})
                assert r.status_code == 400 and r.json()["message"] == "No active stream to stop"
                await control.close()
            finally:
                for c in (data, out):
                    await c.close()
                await inp.close()
                collector.cancel()
    run(scenario())


def test_the_orchestrator_closing_the_control_channel_ends_the_stream():
    async def scenario():
        async with worker_and_channels() as (ts, app, worker, http, urls):
            r = await http.post(f"{worker}/stream/start", json={"gateway_request_id": "abc", **urls})
            assert r.status_code == 200
            await asyncio.sleep(0.1)
            for suffix in CHANNELS:
                ts.close_channel("abc" + suffix)
            await eventually(lambda: not app.state.streams.running)
    run(scenario())


def test_bad_stream_requests_get_clear_errors_and_change_nothing():
    async def scenario():
        async with worker_and_channels(token="tok") as (_ts, app, worker, http, urls):
            auth = {"Authorization": "Bearer tok"}
            r = await http.post(f"{worker}/stream/start", json={"gateway_request_id": "abc", **urls})
            assert r.status_code == 401
            r = await http.post(f"{worker}/stream/start", content=b"{nope", headers=auth)
            assert r.status_code == 400 and "invalid JSON" in r.json()["message"]
            r = await http.post(f"{worker}/stream/start", json={"params": {}, **urls}, headers=auth)
            assert r.status_code == 400 and r.json()["message"] == "gateway_request_id is required"
            r = await http.post(f"{worker}/stream/start", json={"gateway_request_id": "x", "params": [1]},
                                headers=auth)
            assert r.status_code == 400
            r = await http.post(f"{worker}/stream/params", json={"filter": "blur"}, headers=auth)
            assert r.status_code == 400 and r.json()["message"] == "No active stream to update"
            assert not app.state.streams.running
            r = await http.post(f"{worker}/stream/start", json={"gateway_request_id": "abc", **urls}, headers=auth)
            assert r.status_code == 200
            r = await http.post(f"{worker}/stream/start", json={"gateway_request_id": "other", **urls}, headers=auth)
            assert r.status_code == 503 and r.json()["message"] == "Pipeline is still in use"
            r = await http.post(f"{worker}/stream/params", content=b"[1]", headers={**auth, "X-Stream-Id": "abc"})
            assert r.status_code == 400
            assert list(app.state.streams.running) == ["abc"]
            # the batch route still answers next to the stream routes
            r = await http.post(f"{worker}/invert", content=png(), headers=auth)
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    run(scenario())


def test_a_failing_run_stream_reports_an_error_event_and_ends():
    class Broken(StreamingImageFilter):
        async def run_stream(self, stream):
            raise RuntimeError("model exploded")

    async def scenario():
        from node.net.trickle import TrickleServer

        ts = TrickleServer()
        for suffix, mime in CHANNELS.items():
            ts.create_channel("abc" + suffix, mime)
        app = create_app(Broken())
        async with served(ts, ts) as base, served(app) as worker, httpx.AsyncClient(timeout=10) as http:
            events = TrickleSubscriber(f"{base}/abc-events", start_seq=0)
            r = await http.post(f"{worker}/stream/start", json={
                "gateway_request_id": "abc", "events_url": f"{base}/abc-events", "control_url": f"{base}/abc-control"})
            assert r.status_code == 200
            seen = []
            with contextlib.suppress(EndOfStream, StreamNotFound):
                async for seg in events:
                    seen.append(json.loads(await seg.read())["event"])
            assert {"type": "error", "message": "model exploded"}.items() <= \
                next(e for e in seen if e["type"] == "error").items()
            assert not app.state.streams.running
            await events.close()
    run(scenario())
