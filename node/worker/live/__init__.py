"""The live runner: ai-runner's live interface (runner/src/runner/live) for live-video-to-video.

Start API (what node/orchestrator/live.py calls):

    POST /live-video-to-video  {"subscribe_url", "publish_url", "control_url", "events_url",
                                "params": {...}, "model_id", "gateway_request_id",
                                "manifest_id", "stream_id"}
        200 {"status": "ok"} once the stream's tasks run; 400 with {"detail": {"msg": ...}}
        for a missing subscribe_url/publish_url.
    GET  /health  {"status": "LOADING" | "IDLE" | "OK" | "ERROR"}  (ERROR: the pipeline crashed)

Input segments (MPEG-TS) are read from subscribe_url, decoded with PyAV, run frame by frame
through the pipeline, encoded (libx264 zerolatency; h264_nvenc on request) and published as
MPEG-TS segments on publish_url; JSON on control_url updates the params mid-stream; status and
per-frame latency events go to events_url as JSON lines. `lpnode live-runner` serves it.
"""
