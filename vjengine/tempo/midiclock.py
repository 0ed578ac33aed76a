"""The music's tempo and downbeat from a MIDI clock: the 24 ticks per beat that a DAW, a DJ mixer or a
drum machine sends, and its Start, Continue and Stop.

The tempo is the least-squares slope of tick time against tick number over the last four beats:
MIDI drivers deliver ticks in bursts (JACK once per period, USB once per frame), and a fit over a few
beats averages that out where the gap between two ticks would not.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np

from vjengine.tempo.arbiter import TempoArbiter, is_tempo_change

TICKS_PER_BEAT = 24
WINDOW_TICKS = 4 * TICKS_PER_BEAT  # long enough to average jitter, short enough to follow a change in ~2 s
FIRST_ESTIMATE_TICKS = TICKS_PER_BEAT  # a beat of ticks before the first tempo
GAP_SECONDS = 0.5  # no tick for this long: the clock stopped, so what follows is a fresh start
PUBLISH_INTERVAL = 0.25  # seconds between tempo updates at most
MESSAGES = frozenset({"clock", "start", "continue", "stop"})


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
        if self.bpm is not None and not is_tempo_change(self.bpm, bpm):
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


class MidiClockIn:
    """A MIDI clock's messages to the arbiter: its tempo proposed for tempo.bpm, its beats since Start
    anchored for the beat phase. One clock is followed at a time (fed from one MIDI input thread)."""

    def __init__(self, arbiter: TempoArbiter) -> None:
        self.arbiter = arbiter
        self.follower = TempoFollower()
        self._ticks = -1  # clock ticks since the last Start: tick 0 is the downbeat

    @property
    def bpm(self) -> float | None:
        """The clock's last tempo, None before it has one."""
        return self.follower.bpm

    def message(self, kind: str, at: float) -> None:
        """A clock, start, continue or stop message that arrived at `at` (the arbiter's clock)."""
        if kind != "clock":
            self.follower.restart()
            if kind == "start":  # the next tick is the song's first beat
                self._ticks = -1
            return
        self._ticks += 1
        self.arbiter.anchor("clock", self._ticks / TICKS_PER_BEAT, at)  # the beat phase follows the clock
        if (bpm := self.follower.tick(at)) is not None:
            self.arbiter.propose("clock", bpm, at)
        else:  # a steady clock publishes no new tempo, yet it is running: it keeps its rank (tempo.source auto)
            self.arbiter.present("clock", at)
