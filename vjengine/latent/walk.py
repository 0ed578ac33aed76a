"""Latent walks: a smooth, closed loop through key latents (seeds or presets) when no camera drives.

The loop is a closed Catmull-Rom spline in W: it passes through every key exactly, its velocity is
continuous (no jolt at the keys), and after the last key it flows back into the first.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

Keys = TypeVar("Keys", np.ndarray, torch.Tensor)
LOCK_SECONDS = 0.5  # how fast a walk falls into step with the beat (a time constant)
MAX_CORRECTION = 0.5  # of the walk's own pace: falling into step never stops or reverses it


def closed_spline(keys: Keys, position: float) -> Keys:
    """The point `position` keys along the closed Catmull-Rom loop through `keys` ([K, ...], numpy or torch).

    Integer positions return the keys exactly; the loop has period K.
    """
    count = len(keys)
    if count == 1:
        return keys[0]
    position = position % count
    index = math.floor(position)
    t = position - index
    if t == 0:
        return keys[index]
    p0, p1, p2, p3 = (keys[(index + k) % count] for k in (-1, 0, 1, 2))
    t2, t3 = t * t, t * t * t
    return 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (3 * p1 - p0 - 3 * p2 + p3) * t3)


def step_seconds(step: float, bpm: float, beats: float) -> float:
    """Seconds from one key to the next: `beats` at `bpm` when a tempo is set, else `step` seconds."""
    if bpm > 0:
        return max(1e-3, beats * 60.0 / bpm)
    return max(1e-3, step)


class LatentWalk:
    """Keeps the walk's position (in keys) and advances it by elapsed time at the current pace."""

    def __init__(self) -> None:
        self.position = 0.0

    def advance(self, dt: float, seconds_per_step: float) -> float:
        self.position += dt / seconds_per_step
        return self.position

    def lock(self, target: float, dt: float, seconds_per_step: float) -> float:
        """Pull the position's place within a step toward `target`'s (keys counted from the tempo's beat
        count), so that keys land on beats: the walk runs at most half again as fast or half as slow
        while it falls into step (a glide with a LOCK_SECONDS time constant, never a jump or a reverse)."""
        error = (target - self.position + 0.5) % 1.0 - 0.5
        most = MAX_CORRECTION * dt / seconds_per_step
        self.position += max(-most, min(most, error * min(1.0, dt / LOCK_SECONDS)))
        return self.position
