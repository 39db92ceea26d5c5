"""A user's project, outside this repository: the example test file of docs/pytest-plugin.md plus a
conftest overriding a plugin fixture, knowing lpsim only as an installed package and its pytest
plugin (web3.py against the plugin's devchain process, the protocol moves on the in-process chain,
a paid request through the plugin's devnet in mock mode), run with `python -m pytest` in a
directory of its own. It passes, or this fails with its output."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "pytest-plugin.md"

CONFTEST = '''
import pytest


@pytest.fixture(scope="session")
def lp_num_accounts():
    return 5
'''

OVERRIDES = '''
def test_the_conftest_override_reaches_every_chain(lp_accounts, lp_devchain):
    assert len(lp_accounts) == len(lp_devchain.accounts) == 5
'''


@pytest.mark.devchain
def test_a_users_own_suite_runs_on_the_installed_package_and_plugin(tmp_path):
    example = re.search(r"```python\n(# test_livepeer.py\n.*?)```", DOC.read_text(), re.S).group(1)
    project = tmp_path / "user-project"
    project.mkdir()
    (project / "test_livepeer.py").write_text(example)
    (project / "conftest.py").write_text(CONFTEST)
    (project / "test_overrides.py").write_text(OVERRIDES)
    r = pytest_in(project)
    assert r.returncode == 0 and "5 passed" in r.stdout, r.stdout[-6000:] + r.stderr[-3000:]


BACKEND_TESTS = '''
import pytest


def test_default(lp_backend):
    pass


@pytest.mark.lp_backend("revm")
def test_pinned(lp_chain):
    pass


def test_no_chain():
    pass
'''


def test_the_backend_option_parametrises_the_tests_that_reach_a_chain(tmp_path):
    (tmp_path / "test_b.py").write_text(BACKEND_TESTS)
    ids = lambda r: sorted(line.split("::")[1] for line in r.stdout.splitlines() if "::" in line)  # noqa: E731
    r = pytest_in(tmp_path, "--collect-only")
    assert ids(r) == ["test_default", "test_no_chain", "test_pinned[revm]"], r.stdout + r.stderr
    r = pytest_in(tmp_path, "--collect-only", "--lp-backend", "embedded,fast")
    assert ids(r) == ["test_default[embedded]", "test_default[fast]", "test_no_chain", "test_pinned[revm]"], r.stdout
    r = pytest_in(tmp_path, "--collect-only", "--lp-backend", "ganache")
    assert r.returncode == 4 and "unknown backend(s) ['ganache']" in r.stderr, r.stdout + r.stderr


def pytest_in(directory, *args: str) -> subprocess.CompletedProcess:
    """`python -m pytest` of the installed package in `directory`, outside this repository."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=directory, env=env, capture_output=True, text=True, timeout=300)
