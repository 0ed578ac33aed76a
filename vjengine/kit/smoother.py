"""Exponential smoothing with a time constant: after `tau` seconds 63% of the way to the target, after 3 tau 95%.

Time-constant based (not a per-step factor), so the result does not depend on how often it is stepped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


def approach(current: float, target: float, dt: float, tau: float) -> float:
    """`current` moved `dt` seconds toward `target` with time constant `tau` (0 or less: `target` at once)."""
    if tau <= 0:
        return target
    return current + (target - current) * (1.0 - math.exp(-max(0.0, dt) / tau))


class Smoother:
    """A value gliding toward the targets it is given, the time between steps read from `clock`.

    `rise` is the time constant while the target is above the value, `fall` (default: `rise`) while below,
    so an envelope can attack fast and release slowly. The first step jumps to its target unless `start`
    gives a value to glide from.
    """

    def __init__(
        self,
        rise: float,
        fall: float | None = None,
        *,
        start: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rise = rise
        self.fall = rise if fall is None else fall
        self.value = start
        self.clock = clock
        self._last: float | None = None

    def step(self, target: float, dt: float | None = None) -> float:
        """Move toward `target` by the time since the last step (or by `dt` seconds) and return the value."""
        now = self.clock() if dt is None else None
        if dt is None:
            dt = 0.0 if self._last is None else now - self._last
            self._last = now
        if self.value is None:
            self.value = target
            return target
        tau = self.rise if target > self.value else self.fall
        self.value = approach(self.value, target, dt, tau)
        return self.value

    def reset(self, value: float | None = None) -> None:
        """Forget the past; the next step starts from `value` (None: jumps to its target)."""
        self.value, self._last = value, None
