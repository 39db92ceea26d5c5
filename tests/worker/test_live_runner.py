"""The live runner: the decode → pipeline → encode loop in memory, dropping, errors, the app."""
import asyncio
import contextlib
import io

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from node.worker.live.app import LiveRunner, create_app
from node.worker.live.pipelines import LivePipeline, NoopPipeline, load_live_pipeline
from node.worker.live.stream import decode_segment, run_stream


def make_segment(n: int, start: int, size=(64, 64), seed=0) -> bytes:
    """n frames of smooth gradients (codec-friendly) shifted per frame, pts start.. at 30 fps."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as c:
        s = c.add_stream("libx264", rate=30, options={"preset": "ultrafast", "tune": "zerolatency"})
        s.height, s.width = size
        s.pix_fmt = "yuv420p"
        for i in range(n):
            y, x = np.mgrid[0:size[0], 0:size[1]]
            rgb = np.stack([(x * 3 + (start + i) * 4) % 256, (y * 3) % 256, np.full_like(x, 128)], -1).astype(np.uint8)
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts = (start + i) * 3000
            f.time_base = s.time_base = __import__("fractions").Fraction(1, 90000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


async def source(segments, delay=0.0):
    for seg in segments:
        if delay:
            await asyncio.sleep(delay)
        yield seg


def run(coro):
    return asyncio.run(coro)


async def collect_events(sub, out):
    """Every events-channel segment (one JSON event each) into `out`, until the channel ends."""
    import json

    from node.net.trickle.errors import TrickleError

    with contextlib.suppress(TrickleError):  # the runner closes the channel at the stream's end
        while True:
            out.append(json.loads(await (await sub.next_segment()).read()))


def test_noop_frames_in_frames_out():
    segs = [make_segment(10, 10 * k) for k in range(3)]
    out = []

    async def sink(data):
        out.append(data)

    stats = run(run_stream(source(segs), sink, NoopPipeline(), dict))
    assert (stats.frames_in, stats.frames_out, stats.dropped) == (30, 30, 0)
    assert len(out) == 3
    frames_in = [f for s in segs for f in decode_segment(s)]
    frames_out = [f for s in out for f in decode_segment(s)]
    assert len(frames_out) == 30
    pts = [p for _, p, _ in frames_out]
    assert pts == sorted(pts) and len(set(pts)) == 30
    assert [p for _, p, _ in frames_in] == pts
    for (a, _, _), (b, _, _) in zip(frames_in, frames_out):
        assert a.shape == b.shape == (64, 64, 3)
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 6  # codec tolerance
    assert len(stats.latencies) == 30 and all(lat > 0 for lat in stats.latencies)


def test_slow_pipeline_drops_frames_with_a_bounded_queue():
    """The declared `slow` pipeline (50 ms a frame) behind input arriving at 30 fps: the oldest
    waiting frames drop, at most `queue_frames` ever wait, and what comes out is in order."""
    segs = [make_segment(20, 20 * k) for k in range(3)]
    out = []

    async def sink(data):
        out.append(data)

    slow = load_live_pipeline("slow")
    stats = run(run_stream(source(segs, delay=20 / 30), sink, slow, lambda: {"delay_ms": 50}, queue_frames=4))
    assert stats.frames_in == 60
    assert stats.dropped > 0 and stats.frames_out == 60 - stats.dropped
    assert stats.peak_waiting == 4  # reached, never passed
    pts = [p for s in out for _, p, _ in decode_segment(s)]
    assert len(pts) == stats.frames_out and pts == sorted(pts)


class Invert(LivePipeline):
    def process(self, frame, params):
        return 255 - frame if params.get("invert") else frame


def test_params_change_the_output_mid_stream():
    params = {}
    outs = []

    async def sink(data):
        outs.append(decode_segment(data)[0][0])
        params["invert"] = True  # a control update after the first segment

    segs = [make_segment(5, 5 * k) for k in range(2)]
    run(run_stream(source(segs), sink, Invert(), lambda: params))
    first_in = decode_segment(segs[1])[0][0]
    assert np.abs(outs[1].astype(int) - (255 - first_in.astype(int))).mean() < 6


class Crash(LivePipeline):
    def process(self, frame, params):
        raise RuntimeError("boom")


def test_a_failing_frame_is_reported_and_dropped_the_stream_goes_on():
    segs = [make_segment(3, 0)]
    with pytest.raises(RuntimeError):  # no error handler: the pipeline's exception ends the stream
        run(run_stream(source(segs), lambda d: None, Crash(), dict))
    errors = []
    stats = run(run_stream(source(segs * 2), lambda d: None, Crash(), dict, on_error=errors.append))
    assert (stats.frames_in, stats.frames_out, stats.errors) == (6, 0, 6)
    assert len(errors) == 6 and all(str(e) == "boom" for e in errors)
    runner = LiveRunner(Crash())
    client = TestClient(create_app(runner))
    assert client.get("/health").json() == {"status": "IDLE"}  # OFFLINE: loaded, no stream
    assert client.post("/live-video-to-video", json={"publish_url": "x"}).status_code == 400


def test_vanished_publisher_does_not_hang():
    async def broken():
        yield make_segment(5, 0)
        yield make_segment(5, 5)[:1000]  # cut mid-segment
        raise ConnectionError("publisher gone")

    out = []

    async def sink(data):
        out.append(data)

    # the stream ends (as ai-runner's on a closed subscription) with what arrived, no hang
    stats = run(asyncio.wait_for(run_stream(broken(), sink, NoopPipeline(), dict), 20))
    assert stats.frames_out >= 5 and len(out) >= 1


def test_runner_over_trickle_on_a_real_socket():
    """POST /live-video-to-video on the served runner, input and output over a served trickle
    server: segments in → decoded frames out, and status/latency events on the events channel."""

    import httpx

    from node.net.trickle import TricklePublisher, TrickleSubscriber
    from node.net.trickle.server import TrickleServer
    from tests.net.trickle_serving import eventually, served
    from tests.net.trickle_serving import run as run_timed

    async def scenario():
        trickle = TrickleServer(autocreate=True)
        runner = LiveRunner(NoopPipeline())
        for suffix in ("", "-out", "-control", "-events"):  # as the orchestrator makes them
            trickle.create_channel("s1" + suffix)
        async with served(trickle, trickle) as tbase, served(create_app(runner)) as rbase:
            ch = f"{tbase}/s1"
            out_sub = TrickleSubscriber(ch + "-out", start_seq=0)
            ev_sub = TrickleSubscriber(ch + "-events", start_seq=0)
            async with httpx.AsyncClient() as client:
                r = await client.post(f"{rbase}/live-video-to-video", json={
                    "subscribe_url": ch, "publish_url": ch + "-out", "control_url": ch + "-control",
                    "events_url": ch + "-events", "params": {}, "manifest_id": "s1", "stream_id": "x"})
                assert r.status_code == 200
                assert (await client.get(f"{rbase}/health")).json() == {"status": "OK"}
            pub = TricklePublisher(ch, "video/MP2T")
            await asyncio.sleep(0.3)  # the runner's subscription reaches the live edge
            for k in range(3):
                await pub.write(make_segment(10, 10 * k))
            frames = []
            while len(frames) < 20:  # the first segment may race the subscription
                frames += decode_segment(await (await out_sub.next_segment()).read())
            assert all(f[0].shape == (64, 64, 3) for f in frames)
            seen = []
            reader = asyncio.create_task(collect_events(ev_sub, seen))
            await eventually(lambda: len(seen) >= 3, 10)
            # ai-runner: one event per segment, {"event": {..., "timestamp": ms}, "queue_event_type"}
            first = seen[0]
            assert first["queue_event_type"] == "stream_trace"
            assert first["event"]["type"] == "runner_receive_stream_request"
            assert isinstance(first["event"]["timestamp"], int)
            await pub.close()
            await eventually(lambda: runner.state == "OFFLINE", 10)
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"{rbase}/health")).json() == {"status": "IDLE"}
            await eventually(lambda: seen[-1]["event"]["type"] == "status", 10)
            reader.cancel()
            traces = [e["event"]["type"] for e in seen if e["queue_event_type"] == "stream_trace"]
            assert traces == ["runner_receive_stream_request", "runner_receive_first_ingest_segment",
                              "runner_send_first_processed_segment"]
            status = seen[-1]["event"]  # the final status event, ai-runner's PipelineStatus
            assert {"pipeline", "start_time", "state", "last_state_update_time", "input_status",
                    "inference_status", "last_status_timestamp"} <= set(status)
            assert status["input_status"]["last_input_time"] > 0
            assert status["inference_status"]["last_output_time"] >= status["input_status"]["last_input_time"] - 1000
            assert status["inference_status"]["latency_ms"]["frames"] >= 20
            assert status["inference_status"]["latency_ms"]["p50"] > 0
            await out_sub.close()
            await ev_sub.close()

    run_timed(scenario(), 60)


def test_tiny_sd_pipeline_changes_frames_and_params_change_output(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from node.worker.ai.tiny_models import TINY_SD_ID, build_tiny_sd
    from node.worker.live.pipelines import load_live_pipeline

    build_tiny_sd(tmp_path)
    pipe = load_live_pipeline("image-to-image", TINY_SD_ID, tmp_path, "cpu")
    frame = decode_segment(make_segment(1, 0))[0][0]
    a = pipe.process(frame, {"prompt": "a cat", "strength": 0.8, "num_inference_steps": 2, "seed": 1})
    b = pipe.process(frame, {"prompt": "a dog", "strength": 0.8, "num_inference_steps": 2, "seed": 2})
    assert a.shape == frame.shape
    assert np.abs(a.astype(int) - frame.astype(int)).mean() > 1
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 0


def test_a_pipeline_that_stops_producing_is_restarted_then_error_stays(monkeypatch):
    """ai-runner's guardian: failed frames are error events; no output while input flows is ERROR,
    which stops the stream (its output channel closes: the gateway swaps) and reloads the pipeline
    (LOADING, then IDLE, restart_count up), MAX_RESTARTS times; after that ERROR stays."""
    import json

    import httpx

    from node.net.trickle import TricklePublisher, TrickleSubscriber
    from node.net.trickle.server import TrickleServer
    from node.worker.live import app as live_app
    from node.worker.live import status as live_status
    from tests.net.trickle_serving import eventually, served
    from tests.net.trickle_serving import run as run_timed

    monkeypatch.setattr(live_status, "FIRST_OUTPUT_TIMEOUT", 0.6)
    monkeypatch.setattr(live_status, "LOAD_GRACE", 0.1)
    monkeypatch.setattr(live_app, "GUARD_EVERY", 0.1)
    monkeypatch.setattr(live_app, "MAX_RESTARTS", 1)
    loads = []

    async def stream_once(trickle, tbase, rbase, client, name):
        for suffix in ("", "-out", "-events"):
            trickle.create_channel(name + suffix)
        r = await client.post(f"{rbase}/live-video-to-video",
                              json={"subscribe_url": f"{tbase}/{name}", "publish_url": f"{tbase}/{name}-out",
                                    "events_url": f"{tbase}/{name}-events"})
        assert r.status_code == 200
        events = []
        collecting = asyncio.ensure_future(collect_events(TrickleSubscriber(f"{tbase}/{name}-events", 0), events))
        pub = TricklePublisher(f"{tbase}/{name}", "video/MP2T")
        for k in range(8):  # input keeps flowing, no output comes
            if f"{name}-out" not in trickle.channels:
                break
            await pub.write(make_segment(3, 3 * k))
            await asyncio.sleep(0.15)
        await eventually(lambda: f"{name}-out" not in trickle.channels, 10)  # the runner stopped the stream
        await asyncio.wait_for(collecting, 10)
        await pub.close()
        return [e["event"] for e in events]

    async def scenario():
        trickle = TrickleServer()

        def load():
            loads.append(1)
            return Crash()

        runner = LiveRunner(Crash(), load=load)
        async with served(trickle, trickle) as tbase, served(create_app(runner)) as rbase, \
                httpx.AsyncClient() as client:
            events = await stream_once(trickle, tbase, rbase, client, "a")
            kinds = [e["type"] for e in events]
            assert "error" in kinds and "restart" in kinds
            errors = [e for e in events if e["type"] == "error"]
            assert "boom" in errors[0]["message"] and len(errors) < 24  # one a second at most, not per frame
            assert next(e for e in events if e["type"] == "restart")["restart_count"] == 1
            await eventually(lambda: runner.state == "OFFLINE", 5)
            assert loads == [1] and runner.status.restart_count == 1
            assert (await client.get(f"{rbase}/health")).json() == {"status": "IDLE"}  # lent again

            events = await stream_once(trickle, tbase, rbase, client, "b")  # fails again: no restart left
            assert "restart" not in [e["type"] for e in events]
            assert runner.state == "ERROR" and loads == [1]
            assert (await client.get(f"{rbase}/health")).json() == {"status": "ERROR"}
            r = await client.post(f"{rbase}/live-video-to-video", json={"subscribe_url": "x", "publish_url": "y"})
            assert r.status_code == 500 and "pipeline error" in json.dumps(r.json())

    run_timed(scenario(), 60)


# ---- ai-runner's state machine (process_guardian._compute_current_state) and /health mapping

def test_health_mapping_follows_ai_runner_code():
    from node.worker.live.status import health_of

    # live/api/api.py: LOADING→LOADING, OFFLINE→IDLE, ERROR→ERROR, everything else→OK
    assert [health_of(s) for s in ("LOADING", "OFFLINE", "ERROR", "ONLINE", "DEGRADED_INPUT",
                                   "DEGRADED_INFERENCE")] == ["LOADING", "IDLE", "ERROR", "OK", "OK", "OK"]


def feed(status, t0, t1, fps_in=30, fps_out=30):
    """Input and output frames at the given rates from t0 to t1."""
    for k in range(int((t1 - t0) * fps_in)):
        status.input_frame(t0 + k / fps_in)
    for k in range(int((t1 - t0) * fps_out)):
        status.output_frame(t0 + k / fps_out)


def test_state_machine_transitions_with_ai_runner_thresholds():
    from node.worker.live.status import PipelineStatus

    s = PipelineStatus("noop", 0.0)
    assert s.compute(100.0) == ("LOADING", False)
    assert s.compute(181.0) == ("ERROR", False)          # not loaded after 180 s
    s.loaded(1.0)
    assert s.compute(2.0) == ("OFFLINE", False)          # no stream, no input
    s.stream_started(10.0)
    assert s.compute(11.0) == ("ONLINE", False)          # under 2 s since (re)load
    assert s.compute(13.0) == ("DEGRADED_INPUT", False)  # no input since the load
    s.input_frame(12.0)
    assert s.compute(15.0) == ("DEGRADED_INFERENCE", False)  # input, no output yet, under 10 s
    s.input_frame(20.5)
    assert s.compute(21.0) == ("ERROR", False)           # no first output 10 s after load
    s = PipelineStatus("noop", 0.0)
    s.loaded(0.0)
    s.stream_started(0.0)
    feed(s, 0.0, 20.0)
    assert s.compute(20.0) == ("ONLINE", False)
    feed(s, 20.0, 30.0, fps_in=10, fps_out=10)
    assert s.compute(30.0)[0] == "DEGRADED_INPUT"        # input fps under 15
    s = PipelineStatus("noop", 0.0)
    s.loaded(0.0)
    s.stream_started(0.0)
    feed(s, 0.0, 20.0, fps_in=30, fps_out=20)
    assert s.compute(20.0)[0] == "ONLINE"                # output 20 fps is over min(10, 0.8 × 30)
    feed(s, 20.0, 30.0, fps_in=30, fps_out=5)
    assert s.compute(30.0)[0] == "DEGRADED_INFERENCE"    # output 5 fps < min(10, 24)
    s.error("x", 30.0)
    assert s.compute(31.0)[0] == "DEGRADED_INFERENCE"    # an error in the last 15 s
    assert s.compute(46.0)[0] == "DEGRADED_INPUT"        # error over 15 s ago; input 16 s old
    s = PipelineStatus("noop", 0.0)
    s.loaded(0.0)
    s.stream_started(0.0)
    feed(s, 0.0, 10.0)
    assert s.compute(70.5) == ("DEGRADED_INPUT", True)   # no input for 60 s: stop the stream
    assert s.compute(101.0) == ("ERROR", True)           # past 90 s: ERROR
    s.fail("boom", 1.0)
    s.streaming = False
    assert s.compute(200.0) == ("ERROR", False)          # ERROR is sticky


def test_output_stall_behind_input_is_error():
    from node.worker.live.status import PipelineStatus

    s = PipelineStatus("noop", 0.0)
    s.loaded(0.0)
    s.stream_started(0.0)
    feed(s, 0.0, 10.0)
    for k in range(6 * 30):  # input goes on, output stops at 10 s
        s.input_frame(10.0 + k / 30)
    assert s.compute(16.0) == ("ERROR", False)


def test_control_keepalive_ignored_params_replaced_oversize_refused():
    """Control messages as ai-runner reads them, over a served trickle channel."""
    import json

    import httpx

    from node.net.trickle import TricklePublisher, TrickleSubscriber
    from node.net.trickle.server import TrickleServer
    from node.worker.live import app as live_app
    from tests.net.trickle_serving import eventually, served
    from tests.net.trickle_serving import run as run_timed

    seen = []

    class Record(LivePipeline):
        name = "record"

        def process(self, frame, params):
            seen.append(dict(params))
            return frame

    async def scenario():
        trickle = TrickleServer()
        for suffix in ("", "-out", "-control", "-events"):
            trickle.create_channel("k" + suffix)
        runner = LiveRunner(Record())
        async with served(trickle, trickle) as tbase, served(create_app(runner)) as rbase, \
                httpx.AsyncClient() as client:
            ch = f"{tbase}/k"
            ev_sub = TrickleSubscriber(ch + "-events", start_seq=0)
            r = await client.post(f"{rbase}/live-video-to-video", json={
                "subscribe_url": ch, "publish_url": ch + "-out", "control_url": ch + "-control",
                "events_url": ch + "-events", "params": {"a": 1}})
            assert r.status_code == 200
            control = TricklePublisher(ch + "-control", "application/json")
            pub = TricklePublisher(ch, "video/MP2T")
            await asyncio.sleep(0.3)
            await control.write(json.dumps({"keep": "alive"}).encode())
            await control.write(b"x" * (live_app.MAX_CONTROL_BYTES + 1))
            await control.write(json.dumps({"b": 2}).encode())
            await eventually(lambda: runner.status.last_params == {"b": 2}, 10)
            import hashlib  # ai-runner: md5 of the sorted JSON
            assert runner.status.last_params_hash == hashlib.md5(b'{"b": 2}').hexdigest()
            await pub.write(make_segment(3, 0))
            await eventually(lambda: len(seen) >= 3, 10)
            assert seen[-1] == {"b": 2}  # the whole params replaced; keepalive left them alone
            events = []
            reader = asyncio.create_task(collect_events(ev_sub, events))
            await eventually(lambda: any(e["event"]["type"] == "error" for e in events), 10)
            reader.cancel()
            errors = [e["event"] for e in events if e["event"]["type"] == "error"]
            assert "refused" in errors[0]["message"] and errors[0]["pipeline"] == "record"
            assert runner.health() == "OK"  # a refused control message is no crash
            await pub.close()
            await control.close()
            await ev_sub.close()

    run_timed(scenario(), 30)


def test_stale_input_stops_the_stream_and_a_new_start_replaces_the_old(monkeypatch):
    """ai-runner: no input past the stop threshold stops the stream (then OFFLINE → IDLE); a runner
    serves one stream, so a second start stops the first."""
    import httpx

    from node.net.trickle.server import TrickleServer
    from node.worker.live import app as live_app
    from node.worker.live import status as live_status
    from tests.net.trickle_serving import eventually, served
    from tests.net.trickle_serving import run as run_timed

    monkeypatch.setattr(live_status, "STOP_STREAM_AFTER", 0.5)
    monkeypatch.setattr(live_status, "OFFLINE_AFTER", 0.0)
    monkeypatch.setattr(live_app, "GUARD_EVERY", 0.1)

    async def scenario():
        trickle = TrickleServer()
        for name in ("a", "a-out", "b", "b-out"):
            trickle.create_channel(name)
        runner = LiveRunner(NoopPipeline())
        async with served(trickle, trickle) as tbase, served(create_app(runner)) as rbase, \
                httpx.AsyncClient() as client:
            body = {"subscribe_url": f"{tbase}/a", "publish_url": f"{tbase}/a-out"}
            assert (await client.post(f"{rbase}/live-video-to-video", json=body)).status_code == 200
            first = runner.task
            assert runner.health() == "OK"
            await eventually(lambda: first.done(), 10)  # no input: the guard stopped it
            assert runner.state == "OFFLINE" and runner.health() == "IDLE"
            assert (await client.post(f"{rbase}/live-video-to-video", json=body)).status_code == 200
            second = runner.task
            body = {"subscribe_url": f"{tbase}/b", "publish_url": f"{tbase}/b-out"}
            assert (await client.post(f"{rbase}/live-video-to-video", json=body)).status_code == 200
            assert second.done() and runner.task is not second and not runner.task.done()
            assert runner.health() == "OK"

    run_timed(scenario(), 30)


def test_output_channel_closed_under_the_runner_ends_the_stream_not_in_error(monkeypatch):
    """The orchestrator ended the session (or the gateway swapped away) while the runner was
    publishing: a normal end, the runner IDLE for its next session (not ERROR, which would refuse it)."""
    import httpx

    from node.net.trickle import TricklePublisher
    from node.net.trickle.server import TrickleServer
    from node.worker.live import status as live_status
    from tests.net.trickle_serving import eventually, served
    from tests.net.trickle_serving import run as run_timed

    monkeypatch.setattr(live_status, "OFFLINE_AFTER", 0.2)

    async def scenario():
        trickle = TrickleServer()
        for suffix in ("", "-out"):
            trickle.create_channel("c" + suffix)
        runner = LiveRunner(NoopPipeline())
        async with served(trickle, trickle) as tbase, served(create_app(runner)) as rbase, \
                httpx.AsyncClient() as client:
            r = await client.post(f"{rbase}/live-video-to-video",
                                  json={"subscribe_url": f"{tbase}/c", "publish_url": f"{tbase}/c-out"})
            assert r.status_code == 200
            pub = TricklePublisher(f"{tbase}/c", "video/MP2T")
            await pub.write(make_segment(3, 0))
            await eventually(lambda: runner.status.last_output is not None, 10)
            trickle.close_channel("c-out")  # gone under the runner's next write
            await pub.write(make_segment(3, 3))
            await eventually(lambda: runner.task.done(), 10)
            await eventually(lambda: runner.state == "OFFLINE", 5)
            assert runner.status.restart_count == 0 and not runner.status.last_error
            assert (await client.get(f"{rbase}/health")).json() == {"status": "IDLE"}
            await pub.close()

    run_timed(scenario(), 30)


def test_a_start_during_a_reload_waits_for_it_rather_than_cancelling_it():
    import time

    loads = []

    def load():
        time.sleep(0.3)
        loads.append(1)
        return NoopPipeline()

    async def scenario():
        runner = LiveRunner(NoopPipeline(), load=load)
        status = runner._status()
        runner.restarting = asyncio.get_running_loop().create_task(runner._restart(status))
        await asyncio.sleep(0.05)
        assert runner.state == "LOADING"
        await runner.start({"subscribe_url": "http://127.0.0.1:9/c", "publish_url": "http://127.0.0.1:9/c-out"})
        assert loads == [1] and status.ready and status.restart_count == 1  # reloaded, then streaming
        assert runner.health() == "OK"
        runner.task.cancel()
        await asyncio.gather(runner.task, return_exceptions=True)

    run(scenario())


def test_frames_whose_pts_go_back_are_dropped_not_a_failed_stream():
    """An input segment whose timestamps go back (two bursts in one segment, a publisher's cut) or
    repeat: the encoder would refuse such a frame with EINVAL (av.ArgumentError) and end the stream
    in ERROR, closing the output channel under the client; the frame is dropped and counted."""
    from node.worker.live.stream import SegmentEncoder

    encoder = SegmentEncoder("libx264")
    rgb = np.zeros((64, 64, 3), np.uint8)
    tb = __import__("fractions").Fraction(1, 90000)
    assert [encoder.add(rgb, pts, tb) for pts in (3000, 6000, 6000, 3000, 9000)] == [True, True, False, False, True]
    assert [p for _, p, _ in decode_segment(encoder.finish())] == [3000, 6000, 9000]
    encoder = SegmentEncoder("libx264")  # frames closer than 1/30 s (a live source's clock) are all kept
    assert all(encoder.add(rgb, pts, tb) for pts in (3000, 4000, 5000, 6000))
    assert [p for _, p, _ in decode_segment(encoder.finish())] == [3000, 4000, 5000, 6000]

    segs = [make_segment(5, 0) + make_segment(5, 0), make_segment(5, 5)]  # the first: pts 0..4 twice
    assert [p for _, p, _ in decode_segment(segs[0])] == [i * 3000 for i in range(5)] * 2
    out = []

    async def sink(data):
        out.append(data)

    stats = run(run_stream(source(segs), sink, NoopPipeline(), dict))
    assert (stats.frames_in, stats.frames_out, stats.dropped) == (15, 10, 5)
    assert [len(decode_segment(s)) for s in out] == [5, 5]
