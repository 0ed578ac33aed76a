"""The music's tempo for `tempo.bpm` from a MIDI clock (the 24 ticks per beat that a DAW, a DJ mixer or a
drum machine sends), or from taps on `tempo.tap`.

The tempo is the least-squares slope of tick time against tick number over the last four beats:
MIDI drivers deliver ticks in bursts (JACK once per period, USB once per frame), and a fit over a few
beats averages that out where the gap between two ticks would not.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from vjengine.params import ParamStore

TICKS_PER_BEAT = 24
WINDOW_TICKS = 4 * TICKS_PER_BEAT  # long enough to average jitter, short enough to follow a change in ~2 s
FIRST_ESTIMATE_TICKS = TICKS_PER_BEAT  # a beat of ticks before the first tempo
GAP_SECONDS = 0.5  # no tick for this long: the clock stopped, so what follows is a fresh start
PUBLISH_INTERVAL = 0.25  # seconds between tempo updates at most
MIN_CHANGE_BPM = 0.1  # smaller changes are jitter, not a new tempo
TAP_TIMEOUT = 2.0  # seconds: a longer pause between taps starts a new count (slower than 30 bpm)
TAPS_KEPT = 8


class TempoFollower:
    """Turns clock tick times into a tempo worth publishing; not thread-safe (one reader feeds it)."""

    def __init__(self) -> None:
        self.bpm: float | None = None  # the last tempo published
        self._times: deque[float] = deque(maxlen=WINDOW_TICKS + 1)
        self._published_at = -math.inf

    def tick(self, now: float) -> float | None:
        """One clock tick received at `now` (seconds); returns the tempo when a new one is due, else None."""
        if self._times and now - self._times[-1] > GAP_SECONDS:
            self._times.clear()
        self._times.append(now)
        if len(self._times) <= FIRST_ESTIMATE_TICKS or now - self._published_at < PUBLISH_INTERVAL:
            return None
        self._published_at = now
        bpm = round(tempo(self._times), 1)
        if self.bpm is not None and abs(bpm - self.bpm) < MIN_CHANGE_BPM:
            return None
        self.bpm = bpm
        return bpm

    def restart(self) -> None:
        """MIDI Start, Continue or Stop: the ticks before it say nothing about the ones after."""
        self._times.clear()


def tempo(times: Sequence[float]) -> float:
    """Beats per minute from the receive times of consecutive clock ticks (at least two)."""
    seconds_per_tick = np.polyfit(np.arange(len(times)), np.asarray(times, dtype=np.float64), 1)[0]
    return 60.0 / (seconds_per_tick * TICKS_PER_BEAT) if seconds_per_tick > 0 else 0.0


class TapTempo:
    """Sets `tempo.bpm` from taps (`tap`, the `tempo.tap` action): the median interval of the last taps, so one
    early or late tap does not throw the tempo."""

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
