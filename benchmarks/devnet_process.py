"""`lpnode devnet` as a child process for the node benchmarks: started, its URLs read from what it
prints, stopped on exit."""
from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from typing import Iterator


@contextlib.contextmanager
def devnet(*flags: str) -> Iterator[tuple[subprocess.Popen, dict[str, str]]]:
    """(the process, {name: URL}) of a mock-runner devnet on ephemeral ports, ready to serve."""
    proc = subprocess.Popen([sys.executable, "-m", "node.cli", "devnet", "--port", "0", "--mode", "mock", *flags],
                            stdout=subprocess.PIPE, text=True)
    urls: dict[str, str] = {}
    try:
        for line in proc.stdout:
            m = re.match(r"^([\w-]+): (https?://\S+)$", line.strip())
            if m:
                urls[m.group(1)] = m.group(2)
            if line.startswith("running"):
                break
        yield proc, urls
    finally:
        proc.terminate()
        proc.wait(timeout=30)
