"""Shared fixtures: the NVIDIA reference generators copied from shared/fixtures (see README there)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's real model cache, and never download from the internet."""
    monkeypatch.setenv("VJENGINE_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("VJENGINE_OFFLINE", "1")


def reference(name: str) -> dict[str, np.ndarray]:
    """NVIDIA's own outputs for fixture `name` (keys described in tests/fixtures/README.md)."""
    with np.load(FIXTURES / f"{name}.ref.npz") as data:
        return {key: data[key] for key in data.files}


def wait_for(predicate, timeout: float = 5.0) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass (controls apply values on their own threads)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


@contextmanager
def serving(httpd):
    """Run a test HTTP server on a thread for the duration of the block, then shut it down."""
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
