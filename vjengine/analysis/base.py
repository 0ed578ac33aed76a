"""The analyser interface, and a wrapper that runs a slow analyser in its own thread."""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol, runtime_checkable

from vjengine.sources import Frame

log = logging.getLogger(__name__)

Signals = dict[str, float]


@runtime_checkable
class Analyser(Protocol):
    """Reads a frame, returns signals. Cheap ones run on the render thread; wrap slow ones in AsyncAnalyser."""

    name: str

    def analyse(self, frame: Frame) -> Signals: ...


class AsyncAnalyser:
    """Runs `analyser` in its own thread on the newest submitted frame; `latest()` never waits.

    The render loop submits every frame and reads whatever result is newest, so a slow analyser
    lowers its own update rate, never the frame rate. A failing analyser logs once and keeps its
    last good signals.
    """

    def __init__(self, analyser: Analyser, max_rate: float | None = None) -> None:
        self.analyser = analyser
        self.name = analyser.name
        self.max_rate = max_rate
        self._frame: Frame | None = None
        self._signals: Signals = {}
        self._wake = threading.Condition()
        self._stop = False
        self._failed = False
        self.updates = 0
        self._thread = threading.Thread(target=self._run, name=f"analyser-{self.name}", daemon=True)
        self._thread.start()

    def submit(self, frame: Frame) -> None:
        with self._wake:
            self._frame = frame
            self._wake.notify()

    def latest(self) -> Signals:
        return self._signals

    def close(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def _next_frame(self, last_index: int) -> Frame | None:
        with self._wake:
            while not self._stop and (self._frame is None or self._frame.index == last_index):
                self._wake.wait(timeout=0.5)
            return None if self._stop else self._frame

    def _run(self) -> None:
        last_index = -1
        while (frame := self._next_frame(last_index)) is not None:
            last_index = frame.index
            started = time.monotonic()
            try:
                self._signals = dict(self.analyser.analyse(frame))
                self.updates += 1
            except Exception as exc:  # a broken analyser must not take the show down
                if not self._failed:
                    log.error("analyser %s failed (%s); keeping its last signals", self.name, exc)
                    self._failed = True
            if self.max_rate:
                time.sleep(max(0.0, 1.0 / self.max_rate - (time.monotonic() - started)))
