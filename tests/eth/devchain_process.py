"""Start `lpnode devchain` as a separate process for the tests that use it over JSON-RPC, through
the pytest plugin's starter (node.testing.devchain)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from node.testing.devchain import start_devchain

from ..conftest import TEST_PARAMS


@contextmanager
def devchain_process(tmp: Path, *extra_args: str) -> Iterator[tuple[str, dict]]:
    """Run a devchain (20 accounts, TEST_PARAMS) until the block ends; yield (url, addresses).
    It must stop cleanly on SIGTERM."""
    with start_devchain(tmp, *extra_args, params=TEST_PARAMS, accounts=20) as devchain:
        yield devchain.url, devchain.addresses
        status = devchain.stop()
        assert status == 0, f"devchain exited with {status} on SIGTERM:\n{devchain.log()}"
