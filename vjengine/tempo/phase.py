"""Where in the beat and the bar the music is, every frame: `tempo.beat` and `tempo.bar` (0..1), and
`tempo.count`, the beats counted (what walks lock their keys to).

Alone, the beat count runs at `tempo.bpm` on the engine's clock. In a Link session the count is the
session's, so every peer's bar starts together (Ableton Live's downbeat is ours); following a MIDI clock
it is the clock's ticks since its Start (the DAW's or mixer's downbeat).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from vjengine.params import ParamStore

SIGNALS = ("tempo.beat", "tempo.bar", "tempo.count")


class BeatSource(Protocol):
    """Something that knows the beat count itself (a Link session, the arbiter's leading clock)."""

    def beats(self) -> float | None:
        """The beat count now, or None while it has none."""
        ...


class TempoPhase:
    """Counts beats; as an analyser (`analyse`), it publishes the phase signals each frame."""

    name = "tempo"

    def __init__(
        self,
        store: ParamStore,
        clock: Callable[[], float] = time.monotonic,
        source: BeatSource | None = None,
        leader: BeatSource | None = None,
    ) -> None:
        # `source` counts the beats whenever it is there (Link); `leader` only while the source leading the
        # tempo keeps a count (the arbiter: a MIDI clock's ticks).
        self.store, self.clock, self.source, self.leader = store, clock, source, leader
        self.beats = 0.0  # beats counted since the start (or the session's count under Link)
        self._last: float | None = None

    def update(self) -> float:
        """Advance to now and return the beat count."""
        now = self.clock()
        shared = self.source.beats() if self.source is not None else None
        if shared is None and self.leader is not None:
            shared = self.leader.beats()
        if shared is not None:
            self.beats = shared
        elif self._last is not None:
            self.beats += self.store.get("tempo.bpm") / 60.0 * max(0.0, now - self._last)
        self._last = now
        return self.beats

    def analyse(self, frame: Any = None) -> dict[str, float]:
        """The phase signals after advancing to now."""
        beats = self.update()
        quantum = self.store.get("tempo.quantum")
        return {"tempo.beat": beats % 1.0, "tempo.bar": (beats % quantum) / quantum, "tempo.count": beats}

    def beats_to_next(self, unit: str) -> float:
        """Beats from now to the next beat ("beat") or bar ("bar") boundary (0 < result <= one unit)."""
        length = 1.0 if unit == "beat" else float(self.store.get("tempo.quantum"))
        return length - self.beats % length or length
