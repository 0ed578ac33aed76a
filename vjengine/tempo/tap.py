"""Tap tempo: presses of `tempo.tap` in time with the music set `tempo.bpm`."""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable

from vjengine.params import ParamStore

TAP_TIMEOUT = 2.0  # seconds: a longer pause between taps starts a new count (slower than 30 bpm)
TAPS_KEPT = 8


class TapTempo:
    """Sets `tempo.bpm` from taps (`tap`: the `tempo.tap` action, from any surface): the median interval of
    the last taps, so one early or late tap does not throw the tempo."""

    def __init__(self, store: ParamStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.clock = store, clock
        self._taps: deque[float] = deque(maxlen=TAPS_KEPT)

    def tap(self) -> None:
        """One tap, now; from the second on, `tempo.bpm` follows."""
        now = self.clock()
        if self._taps and now - self._taps[-1] > TAP_TIMEOUT:
            self._taps.clear()
        self._taps.append(now)
        if len(self._taps) >= 2:
            gaps = [b - a for a, b in zip(self._taps, list(self._taps)[1:], strict=False)]
            self.store.set("tempo.bpm", round(60.0 / statistics.median(gaps), 1), source="tap")
