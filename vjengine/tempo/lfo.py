"""Four LFOs, `lfo.1` .. `lfo.4` (0..1), for modulation bindings: each a shape running either in beats
(locked to the tempo's beat count, so it restarts on the bar with everyone in a Link session) or in Hz."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

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


def lfo_signals(snapshot: Mapping[str, Any], seconds: float, beats: float) -> dict[str, float]:
    """Every LFO's value `seconds` into the run at beat count `beats`, shaped as the snapshot's lfo.* say:
    in Hz on the clock when lfo.K.hz is above 0, else in cycles of lfo.K.beats beats."""
    signals = {}
    for k in range(1, COUNT + 1):
        hz = snapshot[f"lfo.{k}.hz"]
        cycles = seconds * hz if hz > 0 else beats / snapshot[f"lfo.{k}.beats"]
        signals[f"lfo.{k}"] = shape_value(snapshot[f"lfo.{k}.shape"], cycles + snapshot[f"lfo.{k}.phase"])
    return signals
