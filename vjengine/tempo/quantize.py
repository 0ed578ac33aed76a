"""Changes that land on the beat: with `preset.quantize` at beat or bar, a preset recall (OSC, MIDI, the
browser) waits for the next beat or bar boundary of the engine's tempo and happens on the first frame
at or after it. Without a tempo (tempo.bpm 0, no Link) nothing waits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from vjengine.params import ParamStore
from vjengine.tempo.phase import TempoPhase

Action = Callable[[], None]
EPSILON_BEATS = 1e-6  # a beat count summed frame by frame lands a rounding error short of the boundary


class BeatQuantizer:
    """Holds actions until their boundary; runs them on the render thread (`analyse`, once a frame)."""

    name = "quantize"

    def __init__(self, store: ParamStore, phase: TempoPhase) -> None:
        self.store, self.phase = store, phase
        self._pending: list[tuple[float, Action]] = []
        self._lock = threading.Lock()
        self.done = 0  # actions run at their boundary

    def defer(self, action: Action) -> None:
        """Run `action` at the next boundary `preset.quantize` names, or now when it is off or no tempo runs."""
        unit = self.store.get("preset.quantize")
        if unit == "off" or (self.store.get("tempo.bpm") <= 0 and self.phase.source is None):
            action()
            return
        due = self.phase.beats + self.phase.beats_to_next(unit)
        with self._lock:
            self._pending.append((due, action))

    def analyse(self, frame: Any = None) -> dict[str, float]:
        """Called after TempoPhase each frame: run what is due by the beat count reached."""
        reached = self.phase.beats + EPSILON_BEATS
        with self._lock:
            due = [action for at, action in self._pending if at <= reached]
            self._pending = [(at, action) for at, action in self._pending if at > reached]
        for action in due:
            action()
            self.done += 1
        return {}
