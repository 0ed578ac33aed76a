"""The audio analysis thread: takes the blocks an input delivers, cuts them into hops, runs `Features`
on each and keeps the newest signals for the render loop, which never waits on audio."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from vjengine.audio.features import HOP, REST, Features, Settings
from vjengine.audio.inputs import AudioInput
from vjengine.kit import Worker
from vjengine.params import ParamStore

log = logging.getLogger(__name__)

QUEUE_BLOCKS = 512  # about 2.7 s of 256-sample blocks: a stalled analysis drops audio rather than grow memory
STALL_SECONDS = 0.1  # no samples for this long: the input is gone, and the signals start gliding to rest
HopListener = Callable[[int, dict[str, float]], None]  # (samples analysed so far, signals after that hop)


class AudioAnalyser:
    """Signals from the music for modulation, OSC out and the status line.

    It has the analysers' `analyse(frame)` so the engine reads it like the others: the newest signals,
    at once. `on_hop` hears every hop with the stream's own sample count (tests, measurements).
    """

    name = "audio"

    def __init__(
        self,
        source: AudioInput,
        store: ParamStore,
        clock: Callable[[], float] = time.monotonic,
        on_hop: HopListener | None = None,
    ) -> None:
        self.source, self.store, self.clock, self.on_hop = source, store, clock, on_hop
        self.features: Features | None = None
        self.dropped = 0  # blocks dropped because the analysis fell behind
        self.busy_seconds = 0.0  # CPU time the analysis thread spent: its cost
        self.failures = 0  # blocks whose analysis raised (said once)
        self._signals: dict[str, float] = dict(REST)
        self._queue: queue.Queue[tuple[np.ndarray, int]] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self._pending = np.zeros(0, dtype=np.float32)
        self._worker = Worker("audio-analysis", self._run, logger=log)

    def start(self) -> None:
        """Start the analysis thread, then the input that feeds it."""
        self._worker.start()
        self.source.start(self.feed)

    def close(self) -> None:
        """Close the input, then stop the analysis thread."""
        self.source.close()
        self._worker.stop(timeout=5)

    @property
    def connected(self) -> bool:
        """Whether the input is open and delivering (the status line's "audio DOWN")."""
        return self.source.connected

    def feed(self, samples: np.ndarray, samplerate: int, wait: bool = False) -> None:
        """Called from the input's thread: hand the block over and return (`wait`: block while full)."""
        try:
            self._queue.put((samples, samplerate), block=wait, timeout=1.0 if wait else None)
        except queue.Full:
            self.dropped += 1

    def analyse(self, frame: Any = None) -> dict[str, float]:
        """The newest signals (rest values while audio.enabled is off)."""
        return self._signals if self.store.get("audio.enabled") else dict(REST)

    def latest(self) -> dict[str, float]:
        """The newest signals whatever audio.enabled says (the status line's meter)."""
        return self._signals

    def _run(self) -> None:
        last_audio = self.clock()
        while not self._worker.stopping:
            try:
                samples, rate = self._queue.get(timeout=STALL_SECONDS / 2)
            except queue.Empty:
                now = self.clock()
                if now - last_audio >= STALL_SECONDS:
                    self._rest(now - last_audio)
                    last_audio = now
                continue
            last_audio = self.clock()
            started = time.thread_time()
            try:
                self._analyse(samples, rate)
            except Exception as exc:  # a broken analysis keeps its last signals; the show goes on
                self.failures += 1
                if self.failures == 1:
                    log.error("audio analysis failed (%s); keeping the last signals", exc)
                self._worker.wait(1.0)
            self.busy_seconds += time.thread_time() - started

    def _analyse(self, samples: np.ndarray, rate: int) -> None:
        if self.features is None or self.features.samplerate != rate:
            self.features = Features(rate)
            self._pending = np.zeros(0, dtype=np.float32)
        if not self.store.get("audio.enabled"):
            return
        settings = Settings.from_store(self.store)
        pending = np.concatenate((self._pending, samples.astype(np.float32, copy=False)))
        cut = len(pending) - len(pending) % HOP
        for start in range(0, cut, HOP):
            signals = self.features.process(pending[start : start + HOP], settings)
            self._signals = signals
            if self.on_hop is not None:
                self.on_hop(self.features.samples, signals)
        self._pending = pending[cut:]

    def _rest(self, elapsed: float) -> None:
        """No audio: every envelope falls toward rest with audio.release, the tempo is kept."""
        if self.features is not None:
            self._signals = self.features.rest(elapsed, Settings.from_store(self.store))
