"""Shared fixtures: the NVIDIA reference generators copied from shared/fixtures (see README there)."""

from __future__ import annotations

import subprocess
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


def wait_for(predicate, timeout: float = 30.0) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass (controls apply values on their own threads).

    The deadline is generous because it only matters when the test is failing: a busy machine is slow, not wrong.
    """
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


def finishes(call, timeout: float = 60.0) -> bool:
    """Whether `call()` returns within `timeout` seconds, run on a thread of its own; its exception is re-raised.

    For "X never waits for Y" while Y is held stuck: if X waited, it would not return at all, so a generous
    deadline tells the two apart on however busy a machine.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="finishes", daemon=True)
    thread.start()
    thread.join(timeout)
    if errors:
        raise errors[0]
    return not thread.is_alive()


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single `vjengine: error:` line of a CLI run that failed as a user mistake (exit 2, no traceback)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("vjengine: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


class FrameClock:
    """An engine's clock moved on by `step` seconds once per frame (`tick` is a signal listener, which
    the loop calls once a frame): time passes the same on an idle machine and on a busy one."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        return self.now

    def tick(self, signals) -> None:
        self.now += self.step
