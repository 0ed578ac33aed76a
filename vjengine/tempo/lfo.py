"""Four LFOs, `lfo.1` .. `lfo.4` (0..1), for modulation bindings: each a shape running either in beats
(locked to the tempo's beat count, so it restarts on the bar with everyone in a Link session) or in Hz."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from vjengine.params import ParamStore
from vjengine.tempo.phase import TempoPhase

COUNT = 4
SIGNALS = tuple(f"lfo.{k}" for k in range(1, COUNT + 1))
SHAPES = ("sine", "triangle", "saw", "square", "pulse")
PULSE_SHARPNESS = 6.0  # the pulse falls to e^-6 (0.25%) by the end of its cycle: a hit, then a tail


def shape_value(shape: str, position: float) -> float:
    """The LFO's value (0..1) at `position` (0..1) in its cycle; every shape starts its cycle on a beat."""
    x = position % 1.0
    if shape == "sine":
        return 0.5 - 0.5 * math.cos(2 * math.pi * x)  # starts at 0, peaks mid-cycle
    if shape == "triangle":
        return 1.0 - abs(2.0 * x - 1.0)
    if shape == "saw":
        return x
    if shape == "square":
        return 1.0 if x < 0.5 else 0.0
    if shape == "pulse":
        return math.exp(-PULSE_SHARPNESS * x)  # jumps to 1 on the beat, decays
    raise ValueError(f"unknown LFO shape {shape!r}")


class Lfos:
    """Publishes the LFO signals each frame (an analyser, after the TempoPhase it reads)."""

    name = "lfo"

    def __init__(self, store: ParamStore, phase: TempoPhase, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.phase, self.clock = store, phase, clock
        self._start = clock()

    def analyse(self, frame: Any = None) -> dict[str, float]:
        """Every LFO's value now, from the beat count (in beats) or the clock (in Hz)."""
        seconds = self.clock() - self._start
        signals = {}
        for k in range(1, COUNT + 1):
            hz = self.store.get(f"lfo.{k}.hz")
            cycles = seconds * hz if hz > 0 else self.phase.beats / self.store.get(f"lfo.{k}.beats")
            position = cycles + self.store.get(f"lfo.{k}.phase")
            signals[f"lfo.{k}"] = shape_value(self.store.get(f"lfo.{k}.shape"), position)
        return signals
