"""The threaded frame source every camera, video, image and test pattern builds on.

A source runs its own worker thread that produces frames and overwrites a single "newest" slot. The render loop
polls `latest()` whenever it wants a picture: it never waits for the source and never sees a backlog, so a slow
source or a slow renderer cannot stall the other.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from vjengine.kit import Backoff, Newest, Pacer, Worker

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
    """Base class: owns the producer thread (a kit `Worker`) and the newest-frame slot (a kit `Newest`).

    Subclasses open their device in `__init__` (so a bad spec fails at once, before anything starts), implement
    `_produce()` to loop until `_stopping` and call `_publish()` for every new picture, and free their device in
    `_release()`. `_release()` always runs on the producer thread (or in `close()` if it never started), so a
    device is never released while another thread is reading from it. A source given `reopen` (a camera) has
    `_produce` called again with back-off after it raises; it calls `_worker.healthy()` once frames flow again.
    """

    name: str

    def __init__(self, name: str, reopen: Backoff | None = None) -> None:
        self.name = name
        self._frames: Newest[Frame] = Newest()
        self._produced = 0
        self._released = False
        self._release_lock = threading.Lock()
        self._worker = Worker(
            f"source {name}",
            self._produce,
            reopen=reopen,
            consequence="the last frame stays on screen" + (" while it is looked for again" if reopen else ""),
            on_exit=self._release_once,
            logger=log,
        )

    def start(self) -> Source:
        """Start the producer thread (once; later calls do nothing) and return self."""
        self._worker.start()
        return self

    def latest(self) -> Frame | None:
        """The newest frame, or None before the first one; never blocks."""
        return self._frames.get()

    def wait_first(self, timeout: float) -> Frame | None:
        """Block until the source has produced a frame (at most `timeout` seconds); None if it has not."""
        self._frames.wait_newer(0, timeout)
        return self.latest()

    def close(self) -> None:
        """Stop the thread and release the device or file; safe to call more than once."""
        if not self._worker.started:
            self._worker.stop()
            self._release_once()
            return
        self._worker.stop(_JOIN_TIMEOUT)  # says so when the reader is stuck, and leaves it behind

    @property
    def is_running(self) -> bool:
        """True while the producer thread is alive."""
        return self._worker.is_alive()

    def __enter__(self) -> Source:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    # --- for subclasses ---------------------------------------------------------------------------------------

    @property
    def _stopping(self) -> bool:
        return self._worker.stopping

    def _wait(self, seconds: float) -> bool:
        """Sleep on the producer thread, waking at once on `close`; True when stopping."""
        return self._worker.wait(seconds)

    def _pacer(self, fps: float) -> Pacer:
        """A pacer for `fps` frames a second whose waits end at once on `close`."""
        return Pacer(fps, wait=self._worker.wait)

    @property
    def _next_index(self) -> int:
        """The index the next published frame will get."""
        return self._produced

    def _publish(self, image: np.ndarray) -> Frame:
        """Make `image` (RGB, uint8, (H, W, 3)) the latest frame, replacing whatever was there."""
        frame = Frame(image=np.ascontiguousarray(image), index=self._produced, time=time.monotonic())
        self._produced += 1
        self._frames.put(frame)
        return frame

    def _produce(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Free the device or file; the default has nothing to free."""

    # --- internals --------------------------------------------------------------------------------------------

    def _release_once(self) -> None:
        with self._release_lock:
            if self._released:
                return
            self._released = True
        try:
            self._release()
        except Exception as exc:
            # closing must always succeed, whatever state the device is in
            log.debug("%s: release failed: %s", self.name, exc)


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
