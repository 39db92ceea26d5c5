"""ai-runner's live pipeline status: the state machine (process_guardian `_compute_current_state`,
checked every second), the runner `/health` mapping and the `PipelineStatus` JSON.

Times passed in are the running loop's (`loop.time()`, seconds); the ms timestamps in the JSON
are wall clock, for reports only. ai-runner serves one stream per runner (a new start stops the
previous stream), so one status per runner is per session."""
from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from dataclasses import dataclass, field

LOADING, ONLINE, OFFLINE = "LOADING", "ONLINE", "OFFLINE"
DEGRADED_INPUT, DEGRADED_INFERENCE, ERROR = "DEGRADED_INPUT", "DEGRADED_INFERENCE", "ERROR"

# ai-runner's thresholds, seconds
LOAD_TIMEOUT = 180.0         # LOADING longer than this is ERROR
OFFLINE_AFTER = 3.0          # no stream and no input for this long: OFFLINE
STOP_STREAM_AFTER = 60.0     # no input this long: the stream is stopped
INPUT_ERROR_AFTER = 90.0     # no input this long: ERROR
LOAD_GRACE = 2.0             # just (re)loaded, no output yet: still ONLINE
FIRST_OUTPUT_TIMEOUT = 10.0  # no output this long after (re)load: ERROR
OUTPUT_STALL = 5.0           # output this old and > 1 s behind input: ERROR
RECENT_ERROR = 15.0          # an error this recent: DEGRADED_INFERENCE
RECENT_RESTART = 60.0        # a restart this recent: DEGRADED_INFERENCE
MAX_RESTARTS = 3             # ERROR after this many restarts stays (go's worker restarts the container)
STALE = 2.0                  # input/output older than this: degraded
MIN_INPUT_FPS = 15.0
FPS_WINDOW = 10.0


def health_of(state: str) -> str:
    """Runner `/health` for an infer.py state (live/api/api.py): OFFLINE is IDLE, the rest OK."""
    return {LOADING: "LOADING", OFFLINE: "IDLE", ERROR: "ERROR"}.get(state, "OK")


@dataclass
class FpsCounter:
    """Frames per second over the last FPS_WINDOW seconds."""
    times: deque = field(default_factory=deque)

    def add(self, now: float) -> None:
        self.times.append(now)

    def fps(self, now: float) -> float:
        while self.times and self.times[0] < now - FPS_WINDOW:
            self.times.popleft()
        span = min(FPS_WINDOW, now - self.times[0]) if self.times else 0.0
        return len(self.times) / span if span > 0 else 0.0


class PipelineStatus:
    def __init__(self, pipeline: str, now: float) -> None:
        self.pipeline = pipeline
        self.start_time = now
        self.ready = False
        self.streaming = False
        self.state = LOADING
        self.last_state_update = now
        self.last_input: float | None = None
        self.last_output: float | None = None
        self.last_load = now
        self.input_fps, self.output_fps = FpsCounter(), FpsCounter()
        self.last_params: dict | None = None  # cleared after each status report, as ai-runner
        self.last_params_hash: str | None = None
        self.last_params_update: float | None = None
        self.last_error = ""
        self.last_error_time: float | None = None
        self.last_restart: float | None = None
        self.restart_count = 0

    # events from the stream loop
    def loaded(self, now: float) -> None:
        self.ready, self.last_load = True, now

    def stream_started(self, now: float) -> None:
        self.streaming, self.last_load, self.last_output = True, now, None

    def input_frame(self, now: float) -> None:
        self.last_input = now
        self.input_fps.add(now)

    def output_frame(self, now: float) -> None:
        self.last_output = now
        self.output_fps.add(now)

    def params_updated(self, params: dict, now: float) -> None:
        self.last_params, self.last_params_update = params, now
        self.last_params_hash = hashlib.md5(json.dumps(params, sort_keys=True).encode()).hexdigest()

    def error(self, message: str, now: float) -> None:
        self.last_error, self.last_error_time = message, now

    def compute(self, now: float) -> tuple[str, bool]:
        """(state, stop_stream): ai-runner's rules, in its order."""
        def age(t: float | None) -> float:
            return float("inf") if t is None else now - t

        if self.state == ERROR:
            return ERROR, False
        if not self.ready:
            return (ERROR if now - self.start_time > LOAD_TIMEOUT else LOADING), False
        if not self.streaming:
            return (OFFLINE if age(self.last_input) > OFFLINE_AFTER else DEGRADED_INPUT), False
        no_input = min(age(self.last_input), now - self.last_load)  # a new stream gets the full wait
        if no_input > STOP_STREAM_AFTER:
            return (ERROR if no_input > INPUT_ERROR_AFTER else DEGRADED_INPUT), True
        if self.last_output is None or self.last_output < self.last_load:
            if now - self.last_load < LOAD_GRACE:
                return ONLINE, False
            if age(self.last_input) > now - self.last_load:
                return DEGRADED_INPUT, False
            return (DEGRADED_INFERENCE if now - self.last_load < FIRST_OUTPUT_TIMEOUT else ERROR), False
        if age(self.last_output) > OUTPUT_STALL and self.last_output < self.last_input - 1.0:
            return ERROR, False
        if age(self.last_error_time) < RECENT_ERROR or age(self.last_restart) < RECENT_RESTART:
            return DEGRADED_INFERENCE, False
        in_fps, out_fps = self.input_fps.fps(now), self.output_fps.fps(now)
        if age(self.last_input) > STALE or in_fps < MIN_INPUT_FPS:
            return DEGRADED_INPUT, False
        if age(self.last_output) > STALE or out_fps < min(10.0, 0.8 * in_fps):
            return DEGRADED_INFERENCE, False
        return ONLINE, False

    def update(self, now: float) -> bool:
        """Recompute the state; True when the stream should be stopped (input gone too long)."""
        state, stop = self.compute(now)
        if state != self.state:
            self.state, self.last_state_update = state, now
        return stop

    def restarted(self, now: float) -> None:
        """The guardian reloads the pipeline after an ERROR (ai-runner's _restart_process):
        LOADING, the inference status reset but for the restart count and time."""
        self.ready, self.streaming = False, False
        self.state, self.last_state_update = LOADING, now
        self.restart_count += 1
        self.last_restart = self.last_load = now
        self.last_output = self.last_error_time = self.last_params_update = None
        self.last_error, self.last_params, self.last_params_hash = "", None, None
        self.output_fps = FpsCounter()

    def fail(self, message: str, now: float) -> None:
        """A crash: ERROR is sticky."""
        self.error(message, now)
        self.state, self.last_state_update = ERROR, now

    def to_json(self, now: float) -> dict:
        """ai-runner's PipelineStatus JSON (ms timestamps, wall clock)."""
        wall = time.time()

        def ms(t: float | None) -> int | None:
            return None if t is None else int((wall - (now - t)) * 1000)

        return {
            "type": "status", "pipeline": self.pipeline, "start_time": ms(self.start_time),
            "state": self.state, "last_state_update_time": ms(self.last_state_update),
            "input_status": {"last_input_time": ms(self.last_input), "fps": self.input_fps.fps(now)},
            "inference_status": {
                "last_output_time": ms(self.last_output), "fps": self.output_fps.fps(now),
                "last_params_update_time": ms(self.last_params_update), "last_params": self.last_params,
                "last_params_hash": self.last_params_hash, "last_error_time": ms(self.last_error_time),
                "last_error": self.last_error or None, "last_restart_time": ms(self.last_restart),
                "last_restart_logs": None, "restart_count": self.restart_count,
            },
        }
