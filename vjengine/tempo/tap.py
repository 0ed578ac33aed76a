"""Tap tempo: presses of `tempo.tap` in time with the music set `tempo.bpm`."""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from vjengine.params import ParamStore

TAP_TIMEOUT = 2.0  # seconds: a longer pause between taps starts a new count (slower than 30 bpm)
TAPS_KEPT = 8


class TapTempo:
    """Sets `tempo.bpm` from presses of `tempo.tap`: the median interval of the last taps, so one early
    or late tap does not throw the tempo. Resets `tempo.tap` to false, so every press is a new tap."""

    def __init__(self, store: ParamStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.clock = store, clock
        self._taps: deque[float] = deque(maxlen=TAPS_KEPT)

    def listen(self) -> None:
        """Start hearing presses (a store listener: every surface's press reaches it)."""
        self.store.add_listener(self._changed)

    def close(self) -> None:
        self.store.remove_listener(self._changed)

    def _changed(self, name: str, value: Any, source: str) -> None:
        if name != "tempo.tap" or not value:
            return
        now = self.clock()
        if self._taps and now - self._taps[-1] > TAP_TIMEOUT:
            self._taps.clear()
        self._taps.append(now)
        if len(self._taps) >= 2:
            gaps = [b - a for a, b in zip(self._taps, list(self._taps)[1:], strict=False)]
            self.store.set("tempo.bpm", round(60.0 / statistics.median(gaps), 1), source="tap")
        self.store.set("tempo.tap", False, source="tap")
