"""Changes that land on the beat: with `preset.quantize` at beat or bar, a preset recall (OSC, MIDI, the
browser) waits for the next beat or bar boundary of the engine's tempo and happens on the first frame
at or after it. Without a tempo (tempo.bpm 0, no Link) nothing waits."""

from __future__ import annotations

import threading
from collections.abc import Callable

from vjengine.params import ParamStore
from vjengine.tempo.phase import BeatCount, beats_to_next

Action = Callable[[], None]
EPSILON_BEATS = 1e-6  # a beat count summed frame by frame lands a rounding error short of the boundary


class BeatQuantizer:
    """Holds actions until their boundary; the tempo's tick runs them on the render thread (`run_due`).

    `tempo_runs` says whether a beat count is running at all (a tempo, or a Link session's count)."""

    def __init__(self, store: ParamStore, count: BeatCount, tempo_runs: Callable[[], bool]) -> None:
        self.store, self.count, self.tempo_runs = store, count, tempo_runs
        self._pending: list[tuple[float, Action]] = []
        self._lock = threading.Lock()
        self.done = 0  # actions run at their boundary

    def defer(self, action: Action) -> None:
        """Run `action` at the next boundary `preset.quantize` names, or now when it is off or no tempo runs."""
        unit = self.store.get("preset.quantize")
        if unit == "off" or not self.tempo_runs():
            action()
            return
        due = self.count.beats + beats_to_next(self.count.beats, unit, self.store.get("tempo.quantum"))
        with self._lock:
            self._pending.append((due, action))

    def run_due(self, beats: float) -> int:
        """Run what is due by beat count `beats` (once a frame, after the count moved); how many ran."""
        reached = beats + EPSILON_BEATS
        with self._lock:
            due = [action for at, action in self._pending if at <= reached]
            self._pending = [(at, action) for at, action in self._pending if at > reached]
        for action in due:
            action()
            self.done += 1
        return len(due)
