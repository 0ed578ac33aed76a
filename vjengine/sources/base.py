"""The threaded frame source every camera, video, image and test pattern builds on.

A source runs its own daemon thread that produces frames and overwrites a single "latest" slot. The render loop
polls `latest()` whenever it wants a picture: it never waits for the source and never sees a backlog, so a slow
source or a slow renderer cannot stall the other.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

# close() waits this long for the thread; a camera read blocks at most about one frame, so this is generous.
_JOIN_TIMEOUT = 2.0

_opencv_log_lock = threading.Lock()


@dataclass(frozen=True)
class Frame:
    """One picture from a source.

    `image` is (H, W, 3) uint8 RGB and C-contiguous; it is shared with every other reader, so treat it as
    read-only. `index` counts the frames the source produced (0, 1, 2 ...), `time` is `time.monotonic()` at capture.
    """

    image: np.ndarray
    index: int
    time: float


class Source:
    """Base class: owns the producer thread and the latest-frame slot.

    Subclasses open their device in `__init__` (so a bad spec fails at once, before anything starts), implement
    `_produce()` to loop until `_stopping` and call `_publish()` for every new picture, and free their device in
    `_release()`. `_release()` always runs on the producer thread (or in `close()` if it never started), so a
    device is never released while another thread is reading from it.
    """

    name: str

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._produced = 0
        self._has_frame = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._released = False

    def start(self) -> Source:
        """Start the producer thread (once; later calls do nothing) and return self."""
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, name=f"source {self.name}", daemon=True)
            self._thread.start()
        return self

    def latest(self) -> Frame | None:
        """The newest frame, or None before the first one; never blocks."""
        with self._lock:
            return self._frame

    def wait_first(self, timeout: float) -> Frame | None:
        """Block until the source has produced a frame (at most `timeout` seconds); None if it has not."""
        self._has_frame.wait(timeout)
        return self.latest()

    def close(self) -> None:
        """Stop the thread and release the device or file; safe to call more than once."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            self._release_once()
        elif thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)
            if thread.is_alive():
                log.warning("%s: reader thread did not stop within %.0f s; leaving it behind", self.name, _JOIN_TIMEOUT)

    @property
    def is_running(self) -> bool:
        """True while the producer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Source:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # --- for subclasses ---------------------------------------------------------------------------------------

    @property
    def _stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def _next_index(self) -> int:
        """The index the next published frame will get."""
        return self._produced

    def _publish(self, image: np.ndarray) -> Frame:
        """Make `image` (RGB, uint8, (H, W, 3)) the latest frame, replacing whatever was there."""
        frame = Frame(image=np.ascontiguousarray(image), index=self._produced, time=time.monotonic())
        self._produced += 1
        with self._lock:
            self._frame = frame
        self._has_frame.set()
        return frame

    def _produce(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Free the device or file; the default has nothing to free."""

    # --- internals --------------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._produce()
        except Exception as exc:
            # a broken source must not take the engine down: the last frame stays in the slot
            log.error("%s stopped: %s: %s; the last frame stays on screen", self.name, type(exc).__name__, exc)
        finally:
            self._release_once()

    def _release_once(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            self._release()
        except Exception as exc:
            # closing must always succeed, whatever state the device is in
            log.debug("%s: release failed: %s", self.name, exc)


class Pacer:
    """Sleeps so a loop runs at `fps`, on absolute deadlines so the rate does not drift with the work per frame.

    If the loop falls more than a frame behind (slow decode, a suspended laptop) it skips ahead instead of
    bursting to catch up. `wait()` sleeps on `stop` (anything with threading.Event's `wait(timeout)`), so it
    returns early, with False, when `stop` is set. `clock` gives the time in seconds.
    """

    def __init__(self, fps: float, stop: threading.Event, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = 1.0 / fps
        self._stop = stop
        self._clock = clock
        self._deadline = clock() + self.period

    def wait(self) -> bool:
        """Sleep until the next frame is due; False if the source is stopping."""
        now = self._clock()
        if self._deadline < now - self.period:
            self._deadline = now
        stopped = self._stop.wait(max(0.0, self._deadline - now))
        self._deadline += self.period
        return not stopped


def to_rgb(image: np.ndarray) -> np.ndarray:
    """An 8-bit OpenCV picture (BGR, BGRA or grey) as a C-contiguous (H, W, 3) uint8 RGB array."""
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own stderr chatter while probing devices and files; we report failures ourselves."""
    with _opencv_log_lock:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            yield
        finally:
            cv2.utils.logging.setLogLevel(level)
