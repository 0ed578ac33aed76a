"""Filters that make camera-driven latents feel steady on stage."""

from __future__ import annotations

import math

import torch

from vjengine.kit import Hysteresis


class CriticallyDamped:
    """A critically damped spring toward the input: smooth, second order, never overshoots.

    Solved exactly per step (not Euler), so it is stable at any frame time. After about five time
    constants a step has settled within 5%. `time_constant` 0 passes the input through.
    """

    def __init__(self, time_constant: float) -> None:
        self.time_constant = time_constant
        self.reset()

    def reset(self) -> None:
        self._x: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self._t: float | None = None

    def __call__(self, target: torch.Tensor, t: float) -> torch.Tensor:
        if self._x is None or self.time_constant <= 0 or self._x.shape != target.shape:
            self._x, self._v, self._t = target.clone(), torch.zeros_like(target), t
            return target
        dt = max(0.0, t - self._t)
        self._t = t
        omega = 1.0 / self.time_constant
        decay = math.exp(-omega * dt)
        offset = self._x - target
        slope = self._v + omega * offset
        self._x = target + (offset + slope * dt) * decay
        self._v = (self._v - omega * slope * dt) * decay
        return self._x


class StillnessHold:
    """Tells when the picture has been nearly still for a while (`__call__(energy, t) -> held`).

    Held once the motion energy stayed at or under `threshold` for `hold_after` seconds; released as soon
    as it reaches twice the threshold. The gap (a kit Hysteresis) keeps a camera's autofocus breathing
    from toggling it.
    """

    def __init__(self, threshold: float, hold_after: float) -> None:
        self._still = Hysteresis(on=threshold, off=2 * threshold)
        self.hold_after = hold_after
        self.reset()

    @property
    def threshold(self) -> float:
        return self._still.on

    @threshold.setter
    def threshold(self, threshold: float) -> None:
        self._still.on, self._still.off = threshold, 2 * threshold

    def reset(self) -> None:
        self.held = False
        self._still.reset()
        self._still_since: float | None = None

    def __call__(self, energy: float, t: float) -> bool:
        if not self._still.update(energy):
            self._still_since = None
        elif self._still_since is None:
            self._still_since = t
        self.held = self._still_since is not None and t - self._still_since >= self.hold_after
        return self.held
