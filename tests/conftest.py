"""Shared test kit: the NVIDIA reference generators copied from shared/fixtures (see README there), the one polling
helper (`wait_for`), the one fake clock (`FakeClock`), the one fake sink (`FakeSink`) and the CLI run in-process
(`run_cli`). The `slow` marker (declared in pyproject.toml) marks the long end-to-end runs: real engine processes,
torch.compile, many frames of a model; `python -m pytest -m "not slow"` is the quick subset."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from vjengine.outputs import Sink

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


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.005) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass: whether it came true. The one way a test waits
    for something another thread, process or device does (assert the answer: `assert wait_for(...)`).

    The deadline is generous because it only matters when the test is failing: a busy machine is slow, not wrong.
    `predicate` may itself block for a while (a socket read with a timeout): it is simply called again.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


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


class FakeClock:
    """Time that moves only when the test moves it: a `clock=` callable answering `now`, in seconds.

    Set `now` or call `advance`; `step` moves it on once a frame through `tick` (a signal listener, which the
    engine's loop calls once a frame), so time passes the same on an idle machine and on a busy one; `per_read`
    moves it on each time it is read (for code that reads the clock once per event, such as a MIDI clock tick).
    `wait(timeout)` passes `timeout` at once instead of sleeping and answers `stopped`, as a stop event's
    `wait` does: one object is then a pacer's clock and its stop event.
    """

    def __init__(self, now: float = 0.0, *, step: float = 0.0, per_read: float = 0.0) -> None:
        self.now, self.step, self.per_read = now, step, per_read
        self.reads = 0
        self.stopped = False

    def __call__(self) -> float:
        self.reads += 1
        return self.now + self.reads * self.per_read if self.per_read else self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def tick(self, _signals=None) -> None:
        self.now += self.step

    def wait(self, timeout: float | None = None) -> bool:
        if timeout:
            self.now += timeout
        return self.stopped


class FakeSink(Sink):
    """An output that keeps every frame it writes, in order, and the shape of the first (`opened_with`).

    A recording sink by default (every frame, queued up to `buffer`); `live=True` makes it a live output, whose
    one slot a newer frame replaces. `delay` seconds per write make it a slow one.
    """

    def __init__(self, name: str = "fake", *, live: bool = False, buffer: int = 10_000, delay: float = 0.0) -> None:
        self.live = live  # before Sink.__init__, which sizes the queue by it
        self.delay = delay
        self.frames: list[np.ndarray] = []
        self.opened_with: tuple[int, ...] | None = None
        super().__init__(name, buffer=buffer)

    def _open(self, first_frame: np.ndarray) -> None:
        self.opened_with = first_frame.shape

    def _write(self, frame: np.ndarray) -> None:
        if self.delay:
            time.sleep(self.delay)
        self.frames.append(frame)


def run_cli(
    *args: str, cwd: str | Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`vjengine ARGS` run in this process, as `subprocess.run(..., capture_output=True, text=True)` would answer.

    For the commands that end by themselves (mistakes said in one line, short runs): no second Python, no second
    torch import. Its log lines reach `stderr` formatted as the command's own; `env` adds to the environment
    and `cwd` is the folder it runs in, both for the call only. An exception `main` lets through is a traceback
    on `stderr` and status 1, as it would be in a process of its own. Left out: the process-wide filter of the
    C++ libraries' log lines (a real process installs it on fd 2, which pytest's capture owns here).
    """
    from vjengine.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)  # a handler in place makes main's logging.basicConfig leave the root logger alone
    root.setLevel(logging.DEBUG if {"-v", "--verbose"} & set(args) else logging.INFO)
    before = Path.cwd()
    try:
        with (
            mock.patch.dict(os.environ, env or {}),
            mock.patch("vjengine.nativelog.quiet_native_logs", lambda: None),
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
        ):
            if cwd is not None:
                os.chdir(cwd)
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's own mistakes and --help
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if isinstance(exc.code, str):
                    print(exc.code, file=stderr)
            except Exception:
                traceback.print_exc(file=stderr)
                code = 1
    finally:
        os.chdir(before)
        root.removeHandler(handler)
        root.setLevel(level)
    return subprocess.CompletedProcess(["vjengine", *args], code or 0, stdout.getvalue(), stderr.getvalue())
