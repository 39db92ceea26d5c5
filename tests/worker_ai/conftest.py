"""Shared fixtures for the AI runner's real-model tests."""
from __future__ import annotations

import socket

import pytest


@pytest.fixture(scope="module")
def offline():
    """HF_HUB_OFFLINE=1 and no outbound connection possible while models load; torch on one
    thread (on a busy 2-core machine two threads are many times slower) and restored after."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*a, **kw):
        raise OSError("network access attempted while loading a local model")

    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket, "create_connection", refuse)
    yield mp
    mp.undo()
    torch.set_num_threads(threads)
