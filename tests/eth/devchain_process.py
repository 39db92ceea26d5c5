"""Start `lpnode devchain` as a separate process for the tests that use it over JSON-RPC."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from node.eth.deploy import params_to_flags

from ..conftest import TEST_PARAMS


@contextmanager
def devchain_process(tmp: Path, *extra_args: str) -> Iterator[tuple[str, dict]]:
    """Run a devchain (20 accounts, TEST_PARAMS) until the block ends; yield (url, addresses).
    It must stop cleanly on SIGTERM."""
    out, log_path = tmp / "addresses.json", tmp / "devchain.log"
    cmd = [sys.executable, "-m", "node.cli", "devchain", "--port", "0", "--accounts", "20",
           "--addresses", str(out), *params_to_flags(TEST_PARAMS), *extra_args]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while "listening" not in log_path.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log_path.read_text()
    if "listening" not in text:
        proc.kill()
        pytest.fail("devchain did not start:\n" + text)
    url = next(line.split()[1] for line in text.splitlines() if line.startswith("devchain: "))
    try:
        yield url, json.loads(out.read_text())
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0, log_path.read_text()
