"""A worker thread: named, started and stopped, its failures said once and never silent.

    worker = Worker("camera 0", self._capture_frames, reopen=Backoff(1.0, 30.0)).start()
    ...
    worker.stop()  # sets `stopping`, wakes `wait`, joins with a timeout

The body runs on the thread and checks `worker.stopping` (or sleeps with `worker.wait(seconds)`, which wakes
at once on `stop`). A body that returns ends the worker. A body that raises ends it too, with one logged line
(`failure` keeps the reason), unless the worker reopens: then the body, which opens its resource (a camera, a
sound card, an output), uses it and releases it, is called again after a back-off delay, 1 s, 2 s, 4 s ... up
to a most. The first failure of a run is said once; retries go to the debug log; the body calls
`worker.healthy()` once it works again, and that is said once too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts to reopen: `first` seconds, then doubling, at most `most`."""

    first: float = 1.0
    most: float = 30.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row (1, 2, ...)."""
        return min(self.first * 2 ** min(max(failures, 1) - 1, 32), self.most)  # the cap on the power: no overflow


class Worker:
    """A named daemon thread running `body()` (see the module docstring).

    `reopen` (a Backoff) calls the body again after each failure. `consequence` ends the failure's line with
    what the show does about it ("the last frame stays on screen"; a reopening worker says by default that it
    retries). `on_stop` is called by `stop()` to wake a body that waits on something of its own (a queue, a
    condition). `on_exit` runs on the thread when it ends, however it ends, to release what the run held.
    `level` is the failure line's (a resource that comes and goes, such as a sound card, is a warning);
    `logger` is the caller's, so the lines read as coming from the part that failed.
    """

    def __init__(
        self,
        name: str,
        body: Callable[[], None],
        *,
        reopen: Backoff | None = None,
        consequence: str = "",
        on_stop: Callable[[], None] | None = None,
        on_exit: Callable[[], None] | None = None,
        level: int = logging.ERROR,
        logger: logging.Logger = log,
    ) -> None:
        self.name = name
        self.reopen = reopen
        self.consequence = consequence
        self.failures = 0  # failures in a row; 0 while the body works
        self.failure: str | None = None  # the newest failure's one-line reason, None while it works
        self._body = body
        self._on_stop = on_stop
        self._on_exit = on_exit
        self._log = logger
        self._level = level
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def start(self) -> Worker:
        """Start the thread (once: later calls, and calls after `stop`, do nothing); returns self."""
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        return self

    @property
    def stopping(self) -> bool:
        """True once `stop` was called: the body should return."""
        return self._stop.is_set()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def is_alive(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds`, waking at once on `stop`; True when stopping (as `threading.Event.wait`)."""
        return self._stop.wait(max(0.0, seconds))

    def healthy(self) -> None:
        """Tell the worker its resource works: after failures, says once that it is back. Cheap: call it freely."""
        if self.failures:
            failures, self.failures, self.failure = self.failures, 0, None
            self._log.warning("%s is back after %d failed attempt%s", self.name, failures, "s" * (failures > 1))

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the body to stop, wait up to `timeout` s for the thread, and say so if it is stuck; True when it
        ended (or never started). From the worker's own thread it only asks."""
        self._stop.set()
        if self._on_stop is not None:
            self._on_stop()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return thread is None
        thread.join(timeout)
        if thread.is_alive():
            self._log.warning("%s did not stop within %g s; leaving it behind", self.name, timeout)
            return False
        return True

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end by itself; True when it has (or never started)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return not self.is_alive()

    def __repr__(self) -> str:
        state = "stopping" if self.stopping else "running" if self.is_alive() else "idle"
        return f"<Worker {self.name} {state}>"

    def _run(self) -> None:
        try:
            self._attempts()
        finally:
            if self._on_exit is not None:
                try:
                    self._on_exit()
                except Exception as exc:  # releasing must not hide why the worker ended
                    self._log.debug("%s: releasing at the end failed: %s", self.name, exc, exc_info=True)

    def _attempts(self) -> None:
        while not self._stop.is_set():
            try:
                self._body()
                return
            except Exception as exc:  # said here, once: a worker never dies silently
                if self._stop.is_set():
                    self._log.debug("%s: failed while stopping: %s", self.name, exc)
                    return
                if self.reopen is None:
                    self._failed(exc, 0.0)
                    return
                delay = self.reopen.delay(self.failures + 1)
                self._failed(exc, delay)
            if self._stop.wait(delay):
                return

    def _failed(self, exc: Exception, delay: float) -> None:
        """Count and say a failure (`delay`: seconds until the next attempt)."""
        self.failures += 1
        self.failure = one_line(exc)
        if self.reopen is None:
            then = f"; {self.consequence}" if self.consequence else ""
            self._log.log(self._level, "%s stopped: %s%s", self.name, self.failure, then)
        elif self.failures == 1:
            then = self.consequence or "retrying with back-off"
            self._log.log(self._level, "%s failed: %s; %s", self.name, self.failure, then)
        else:
            self._log.debug("%s: attempt %d failed (%s); next in %g s", self.name, self.failures, self.failure, delay)
        self._log.debug("%s: failure details", self.name, exc_info=exc)


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message with the whitespace folded, or its type's name when it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__
