"""The analyser interface, and a wrapper that runs a slow analyser in its own thread."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from vjengine.kit import Newest, Pacer, SayOnce, Worker
from vjengine.sources import Frame

log = logging.getLogger(__name__)

Signals = dict[str, float]


@runtime_checkable
class Analyser(Protocol):
    """Reads a frame, returns signals. Cheap ones run on the render thread; wrap slow ones in AsyncAnalyser."""

    name: str

    def analyse(self, frame: Frame) -> Signals: ...


class AsyncAnalyser:
    """Runs `analyser` in its own thread (a kit Worker) on the newest submitted frame; `latest()` never waits.

    The render loop submits every frame into a kit `Newest` slot and reads whatever result is newest, so a slow
    analyser lowers its own update rate, never the frame rate. `max_rate` (analyses a second, None: as many as
    it can) paces it with the kit Pacer and may change at any time. A failing analyser logs once and keeps its
    last good signals.
    """

    def __init__(self, analyser: Analyser, max_rate: float | None = None) -> None:
        self.analyser = analyser
        self.name = analyser.name
        self.updates = 0
        self._frames: Newest[Frame] = Newest()
        self._signals: Signals = {}
        self._said = SayOnce(log, logging.ERROR)
        self._worker = Worker(f"analyser-{self.name}", self._run, on_stop=self._frames.close, logger=log)
        self._pacer = Pacer(max_rate or 0.0, wait=self._worker.wait)
        self._worker.start()

    @property
    def max_rate(self) -> float | None:
        return self._pacer.rate or None

    @max_rate.setter
    def max_rate(self, rate: float | None) -> None:
        self._pacer.rate = rate or 0.0

    def submit(self, frame: Frame) -> None:
        """Hand `frame` over; a frame already handed over (the same index: the source had nothing newer) is not
        analysed again."""
        current = self._frames.get()
        if current is None or current.index != frame.index:
            self._frames.put(frame)

    def latest(self) -> Signals:
        return self._signals

    @property
    def submitted(self) -> int:
        """How many distinct frames were handed over (a frame handed over again does not count)."""
        return self._frames.serial

    def close(self) -> None:
        self._worker.stop(timeout=5)

    def _run(self) -> None:
        serial = 0
        while (newest := self._frames.wait_newer(serial)) is not None:
            serial, frame = newest
            try:
                self._signals = dict(self.analyser.analyse(frame))
                self.updates += 1
            except Exception as exc:  # a broken analyser must not take the show down
                self._said("failed", "analyser %s failed (%s); keeping its last signals", self.name, exc)
            if not self._pacer.tick():
                return
