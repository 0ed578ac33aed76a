"""The threaded sink machinery: every sink owns one kit Worker thread, so no output can stall the render loop."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from vjengine.errors import VJError
from vjengine.kit.worker import Backoff, Worker, one_line
from vjengine.outputs.frames import Shaping

log = logging.getLogger(__name__)

DROP_WARNING_INTERVAL_S = 5.0
ABORT_GRACE_S = 2.0


@dataclass(frozen=True)
class SinkStats:
    """Counters of one sink. Once closed, `sent == written + dropped` (unless a write never returned).

    `sent` counts frames handed to `send` while the sink was running, `written` those the sink finished,
    `dropped` those it let go (replaced, overflowed, pending at close or failure), `failed` is the
    one-line reason once the sink disabled itself, and `retrying` the reason while a live output waits to reopen.
    """

    sent: int = 0
    written: int = 0
    dropped: int = 0
    failed: str | None = None
    retrying: str | None = None


class Sink:
    """One output. `send` hands a frame over and returns at once; the sink's thread does the work.

    Frames are (H, W, 3) uint8 RGB, C-contiguous, one size for the whole run. The sink keeps a reference
    to each frame until it is written, so the caller must not modify a frame after sending it.

    Subclasses set `live` and implement, all run in the sink thread:
    `_open(first_frame)` once before the first write, `_write(frame)` per frame, and `_close()` exactly
    once at the end, even when `_open` never ran or failed (so it must cope with a half-open state).

    `live` sinks (previews, Syphon, NDI) hold one latest-frame slot: a newer frame replaces one still waiting.
    Recording sinks keep every frame in a bounded queue of `buffer` frames and drop only when it is full.
    The constructor starts the thread, so subclasses set their own attributes before calling it.

    Sinks with `retry_on_failure` (the live outputs to other programs) do not turn off when `_open` or `_write`
    raises: they call `_close`, wait `retry_first_s`, then 2x, 4x ... up to `retry_max_s`, and reopen with the
    newest frame; one line is logged when the output goes down and one when it is back. Their `_close` therefore
    runs after every failure as well as at the end, and must leave the sink ready for another `_open`.

    `shaping` (set by `open_sink` from the spec's options, before the first frame) resizes every frame for this
    output and flips it, unless the class sets `flips_itself` because its library flips for free.

    `send(frame, at=...)` may give the frame's time in seconds (any origin, the same for every frame of a
    run); `frame_time` holds it while `_write` runs, for the recordings that stamp frames with it.

    `layout` is the pixel layout the output sends on (RGB, RGBA, BGRA). When the generator runs on a GPU the
    engine converts each frame there once per layout and hands over (H, W, 4) frames already in it; otherwise
    frames come as RGB and the sink converts in its own thread (PixelPacker takes either).
    """

    kind: ClassVar[str] = ""
    usage: ClassVar[str] = ""  # how to write the spec, e.g. "preview[:PORT]"
    description: ClassVar[str] = ""  # usage, then what it does: one line for --help and the docs
    live: ClassVar[bool] = False
    retry_on_failure: ClassVar[bool] = False
    retry_first_s: ClassVar[float] = 1.0
    retry_max_s: ClassVar[float] = 30.0
    flips_itself: ClassVar[bool] = False
    layout: ClassVar[str] = "RGB"

    def __init__(self, name: str, *, buffer: int = 120, shaping: Shaping | None = None) -> None:
        self.name = name
        self.shaping = shaping or Shaping()
        self._buffer = 1 if self.live else max(1, int(buffer))
        self._queue: deque[tuple[np.ndarray, float | None]] = deque()  # frames and the times they were sent at
        self.frame_time: float | None = None  # the time of the frame `_write` is writing, if it was given one
        self._cond = threading.Condition()
        self._sent = self._written = self._dropped = 0
        self._failed: str | None = None
        self._closing = False
        self._abort = False
        self._next_drop_warning = 0.0
        self._frame_shape: tuple[int, ...] | None = None
        self._opened = False
        self._failures = 0  # consecutive failures of a retrying sink; 0 while it works
        self._retrying: str | None = None
        self._worker = Worker(f"sink {name}", self._run, logger=log)  # _run says its own failures
        self._worker.start()

    @classmethod
    def from_spec(cls, arg: str | None, name: str, fps: float) -> Sink:
        """Build the sink from the part of the spec after `kind:` (None when there was no colon)."""
        raise NotImplementedError

    @classmethod
    def availability(cls) -> str:
        """Say "available", or in one line why this kind cannot run here and what to install."""
        return "available"

    def send(self, frame: np.ndarray, at: float | None = None) -> None:
        """Hand `frame` to the sink without ever blocking; frames are dropped (and counted) instead.

        `at` is when the frame was rendered, in seconds: recordings stamp it, so they play in real time."""
        if self._failed is not None or self._closing:
            return  # unlocked fast path; the locked check below is the one that counts
        with self._cond:
            if self._failed is not None or self._closing:
                return
            self._sent += 1
            if len(self._queue) < self._buffer:
                self._queue.append((frame, at))
                self._cond.notify()
                return
            self._dropped += 1
            if self.live:
                self._queue[-1] = (frame, at)  # the thread is busy; only the newest frame is worth showing
                return
            warn = self._drop_warning_due()
        if warn:
            log.warning(
                "%s: the recording dropped frames (%d so far) because writing is slower than rendering; "
                "lower the resolution or frame rate, or record to a faster disk",
                self.name,
                self._dropped,
            )

    def close(self, timeout: float = 10.0) -> None:
        """Finish: recording sinks write what is queued, live sinks drop it; then the files are finalized.

        Waits up to `timeout` seconds; a recording still busy then drops the rest and gets ABORT_GRACE_S more
        to finalize what it has. Idempotent.
        """
        with self._cond:
            already = self._closing
            self._closing = True
            if self.live and not already:
                self._discard_pending()
            self._cond.notify()
        if not self._worker.join(timeout) and not already:
            self._abort_after(timeout)

    def _abort_after(self, timeout: float) -> None:
        with self._cond:
            self._abort = True
            lost = self._discard_pending()
        dropped = f"; dropped {lost} queued frames to finish what it has" if lost else ""
        log.warning("%s: still busy after %g s%s", self.name, timeout, dropped)
        if not self._worker.join(ABORT_GRACE_S):
            log.error("%s: its thread is stuck; the output may be incomplete", self.name)

    @property
    def stats(self) -> SinkStats:
        """A consistent snapshot of the counters."""
        with self._cond:
            return SinkStats(self._sent, self._written, self._dropped, self._failed, self._retrying)

    def set_shaping(self, shaping: Shaping) -> None:
        """Use `shaping` for every frame; only before the first `send`, as the output's size is fixed when it opens."""
        with self._cond:
            if self._sent:
                raise RuntimeError(f"{self.name}: set the shaping before sending frames")
            self.shaping = shaping

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Subclass hooks, all called in the sink thread.

    def _open(self, first_frame: np.ndarray) -> None:
        """Prepare for frames of `first_frame`'s size (opening files, allocating encoders)."""

    def _write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """Release everything `_open` acquired; called once at the end, even if `_open` never ran."""

    # The sink thread.

    def _run(self) -> None:
        try:
            while (item := self._next_frame()) is not None:
                frame, self.frame_time = item
                try:
                    self._handle(frame)
                except BadFrame:
                    raise  # the engine's frames will not get better by waiting
                except Exception as exc:
                    if not self.retry_on_failure:
                        raise
                    self._back_off(exc)
                    continue
                self._delivered()
        except Exception as exc:
            self._fail(exc, in_flight=True)
        finally:
            self._finish()

    def _next_frame(self) -> tuple[np.ndarray, float | None] | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if self._abort or not self._queue:
                return None
            return self._queue.popleft()

    def _handle(self, frame: np.ndarray) -> None:
        if self._frame_shape is None:
            _check_frame(frame)
            self._frame_shape = frame.shape
        elif frame.shape != self._frame_shape:
            raise BadFrame(f"frame size changed from {_size(self._frame_shape)} to {_size(frame.shape)}")
        frame = self.shaping.resize(frame)
        if self.shaping.flip and not self.flips_itself:
            frame = cv2.flip(frame, 0)
        if not self._opened:
            self._open(frame)
            self._opened = True
        self._write(frame)

    def _delivered(self) -> None:
        with self._cond:
            self._written += 1
            failures, self._failures, self._retrying = self._failures, 0, None
        if failures:
            log.warning("%s is back after %d failed attempt%s", self.name, failures, "s" if failures > 1 else "")

    def _back_off(self, exc: Exception) -> None:
        """Release what is half open, say so once, and wait (without ever holding up `send`) before reopening."""
        reason = one_line(exc)
        with self._cond:
            self._dropped += 1
            self._failures += 1
            self._retrying = reason
            delay = Backoff(self.retry_first_s, self.retry_max_s).delay(self._failures)
        self._opened = False
        try:
            self._close()
        except Exception:
            log.debug("%s: closing after the failure also failed", self.name, exc_info=True)
        if self._failures == 1:
            log.error("%s failed: %s; retrying with back-off while the other outputs go on", self.name, reason)
        log.debug("%s: attempt %d failed (%s); next in %g s", self.name, self._failures, reason, delay, exc_info=exc)
        self._wait_before_retry(delay)

    def _wait_before_retry(self, delay: float) -> None:
        """Wait `delay` seconds before the next attempt, or until `close`; in the sink thread, never holding
        `send` up. A hook of its own so that the back-off schedule can be observed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closing, timeout=delay)

    def _finish(self) -> None:
        failed_before = self._failed is not None
        try:
            self._close()
        except Exception as exc:
            if failed_before:
                log.debug("%s: closing after the failure also failed", self.name, exc_info=True)
            else:
                self._fail(exc, in_flight=False)

    def _fail(self, exc: Exception, *, in_flight: bool) -> None:
        reason = one_line(exc)
        with self._cond:
            self._failed = reason
            self._retrying = None
            self._dropped += int(in_flight)
            self._discard_pending()
        log.error("%s failed and is now off: %s", self.name, reason)
        log.debug("%s: failure details", self.name, exc_info=exc)

    # Helpers that expect the lock to be held.

    def _discard_pending(self) -> int:
        lost = len(self._queue)
        self._dropped += lost
        self._queue.clear()
        return lost

    def _drop_warning_due(self) -> bool:
        now = time.monotonic()
        if now < self._next_drop_warning:
            return False
        self._next_drop_warning = now + DROP_WARNING_INTERVAL_S
        return True


class BadFrame(ValueError):
    """The engine handed over something that is not a frame of the run's size: a bug, never worth a retry."""


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
        got = f"{type(frame).__name__} {getattr(frame, 'shape', '')} {getattr(frame, 'dtype', '')}".strip()
        raise BadFrame(f"frames must be (H, W, 3) uint8 RGB arrays (or (H, W, 4) in the sink's layout), got {got}")


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}"


def missing_module(module: str, message: str) -> str | None:
    """`message` if `module` cannot be imported, else None: for availability checks without hard dependencies."""
    try:
        importlib.import_module(module)
    except ImportError:
        return message
    return None


DEFAULT_PUBLISH_NAME = "vjengine"


def publish_name(arg: str | None, kind: str) -> str:
    """The name other programs see for `kind[:NAME]`: NAME, or "vjengine" when it is left out."""
    if arg is None:
        return DEFAULT_PUBLISH_NAME
    name = arg.strip()
    if not name:
        raise VJError(f"empty {kind} name: write {kind}:NAME, or just {kind} for {DEFAULT_PUBLISH_NAME!r}")
    return name
