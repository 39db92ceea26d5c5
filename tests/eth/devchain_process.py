"""Start `lpnode devchain` as a separate process for the tests that use it over JSON-RPC, through
the pytest plugin's starter (node.testing.devchain)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from node.testing.devchain import start_devchain

from ..conftest import TEST_PARAMS

# the devchain's EVMs: the devchain test modules run on each (their `devchain` fixtures take these as params)
BACKENDS = ("revm", "py-evm")


def chain_on(backend: str, num_accounts: int, **kwargs):
    """An in-process devchain chain (no protocol) on `backend`."""
    if backend == "revm":
        from node.eth.revm_devchain import RevmDevchain

        return RevmDevchain(num_accounts, **kwargs)
    from node.eth.chain import EmbeddedChain

    return EmbeddedChain(num_accounts, **kwargs)


@contextmanager
def devchain_process(tmp: Path, *extra_args: str, backend: str = "revm") -> Iterator[tuple[str, dict]]:
    """Run a devchain (20 accounts, TEST_PARAMS) on `backend` until the block ends; yield (url,
    addresses). It must stop cleanly on SIGTERM."""
    with start_devchain(tmp, "--backend", backend, *extra_args, params=TEST_PARAMS, accounts=20) as devchain:
        yield devchain.url, devchain.addresses
        status = devchain.stop()
        assert status == 0, f"devchain exited with {status} on SIGTERM:\n{devchain.log()}"
