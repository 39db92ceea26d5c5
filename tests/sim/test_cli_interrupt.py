"""Ctrl-C on `lpsim run`: the run stops, writes the results folder for the time it simulated, says
what it wrote, and exits 130."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.sim.test_engine import ECONOMICS

ROOT = Path(__file__).resolve().parents[2]


def test_sigint_writes_the_run_so_far_and_says_what(tmp_path):
    scenario = tmp_path / "long.yaml"
    scenario.write_text(ECONOMICS.replace("duration: 30 rounds", "duration: 100000 rounds"))
    out, err = tmp_path / "out", tmp_path / "stderr.txt"
    with open(err, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "lpsim.cli", "run", str(scenario), "--out", str(out)],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 60
            # wait until the progress bar has moved: the simulation is running, not still being set up
            while not re.search(r"\|\s*[1-9][\d.]*k?/", err.read_text()):
                assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            stdout, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    message = err.read_text()
    assert proc.returncode == 130, message + stdout
    assert "lpsim run: interrupted at" in message and "metrics.csv" in message and "summary.json" in message
    summary = json.loads((out / "summary.json").read_text())
    at = summary["extra"]["interrupted_at_s"]
    assert 0 < at < summary["extra"]["duration_s"]
    assert summary["economics"]["rounds"]["last"] is not None  # the rounds that ran are in it
    assert (out / "metrics.csv").stat().st_size > 0 and (out / "scenario.yaml").exists()
