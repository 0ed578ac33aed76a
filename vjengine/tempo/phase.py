"""Where in the beat and the bar the music is, every frame: `tempo.beat` and `tempo.bar` (0..1), and
`tempo.count`, the beats counted (what walks lock their keys to).

Alone, the beat count runs at `tempo.bpm` on the engine's clock. In a Link session the count is the
session's, so every peer's bar starts together (Ableton Live's downbeat is ours); following a MIDI clock
it is the clock's ticks since its Start (the DAW's or mixer's downbeat).
"""

from __future__ import annotations

SIGNALS = ("tempo.beat", "tempo.bar", "tempo.count")
UNITS = ("beat", "bar")


class BeatCount:
    """The beats counted so far: advanced by the tempo between frames, or taken from a source that counts."""

    def __init__(self) -> None:
        self.beats = 0.0
        self._last: float | None = None

    def advance(self, now: float, bpm: float, shared: float | None = None) -> float:
        """Move to `now` (seconds) at `bpm`; a `shared` count (Link's, a leading MIDI clock's) replaces ours."""
        if shared is not None:
            self.beats = shared
        elif self._last is not None:
            self.beats += bpm / 60.0 * max(0.0, now - self._last)
        self._last = now
        return self.beats


def phase_signals(beats: float, quantum: float) -> dict[str, float]:
    """The phase signals at beat count `beats` with `quantum` beats to the bar."""
    return {"tempo.beat": beats % 1.0, "tempo.bar": (beats % quantum) / quantum, "tempo.count": beats}


def beats_to_next(beats: float, unit: str, quantum: float) -> float:
    """Beats from `beats` to the next beat ("beat") or bar ("bar") boundary (0 < result <= one unit)."""
    length = 1.0 if unit == "beat" else float(quantum)
    return length - beats % length or length
