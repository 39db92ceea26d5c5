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

pytestmark = pytest.mark.devchain

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


def test_a_users_own_suite_runs_on_the_installed_package_and_plugin(tmp_path):
    example = re.search(r"```python\n(# test_livepeer.py\n.*?)```", DOC.read_text(), re.S).group(1)
    project = tmp_path / "user-project"
    project.mkdir()
    (project / "test_livepeer.py").write_text(example)
    (project / "conftest.py").write_text(CONFTEST)
    (project / "test_overrides.py").write_text(OVERRIDES)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                       cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "5 passed" in r.stdout, r.stdout[-6000:] + r.stderr[-3000:]
