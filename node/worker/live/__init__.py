"""The live runner: ai-runner's live interface (runner/src/runner/live) for live-video-to-video.

Start API (what node/orchestrator/live.py calls):

    POST /live-video-to-video  {"subscribe_url", "publish_url", "control_url", "events_url",
                                "params": {...}, "model_id", "gateway_request_id",
                                "manifest_id", "stream_id"}
        200 {"status": "ok"} once the stream's tasks run; 400 with {"detail": {"msg": ...}}
        for a missing subscribe_url/publish_url. One stream per runner, as ai-runner: a new start
        stops the previous stream (400 if it does not stop within 10 s).
    GET  /health  {"status": "LOADING" | "IDLE" | "OK" | "ERROR"}: ai-runner's mapping of its
        state machine (status.py): OFFLINE → IDLE, ONLINE/DEGRADED_* → OK, ERROR sticky.

Input segments (MPEG-TS) are read from subscribe_url, decoded with PyAV, run frame by frame
through the pipeline, encoded (libx264 zerolatency; h264_nvenc on request) and published as
MPEG-TS segments on publish_url. Each control_url segment is one JSON object taken as the complete
params ({"keep": "alive"} ignored; over 64 KiB or not JSON refused with an error event). Each
events_url segment is one event, {"event": {..., "timestamp": ms}, "queue_event_type":
"ai_stream_events" | "stream_trace"}: status (ai-runner's PipelineStatus, every 10 s and at the
end, plus per-frame latency), error, and the three runner_* trace events.
A frame the pipeline fails on is dropped and reported (an error event); a stream that goes to
ERROR is stopped and the pipeline reloaded (a restart event), at most 3 times, as ai-runner's
process guardian does. Frames waiting for a slower pipeline are bounded (the oldest dropped).
Pipelines: `noop`, `slow` (pass-through after `delay_ms`, a declared test pipeline),
`image-to-image` (diffusers, per frame). `lpnode live-runner` serves it.
"""
