"""From the analyser's newest region latents to this frame's: hold, dead zone and smoothing."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from vjengine.latent.smoothing import CriticallyDamped, StillnessHold


class VisualDriver:
    """Runs once per rendered frame, so the camera's influence moves smoothly at the frame rate
    even though the analyser updates only a few times a second.

    - hold: while the picture is nearly still (`motion.energy` under `visual.hold_threshold` for
      half a second) the latents stay where they are, so autofocus hunting cannot reset the image;
    - dead zone: a region's z follows the analyser only when it moved by more than
      `visual.deadzone` of its size, which swallows sensor noise;
    - smoothing: a critically damped spring with time constant `visual.smoothing` glides there.
    """

    def __init__(self) -> None:
        self._target: torch.Tensor | None = None
        self._spring = CriticallyDamped(0.25)
        self._hold = StillnessHold(threshold=1.0, hold_after=0.5)

    def reset(self) -> None:
        self._target = None
        self._spring = CriticallyDamped(self._spring.time_constant)

    def update(
        self, z: torch.Tensor | None, snapshot: Mapping, signals: Mapping[str, float], now: float
    ) -> torch.Tensor | None:
        """This frame's region latents [regions, z_dim], or None when the camera drives nothing."""
        if z is None or not snapshot["visual.enabled"]:
            self.reset()
            return None
        if self._target is not None and self._target.shape != z.shape:
            self.reset()  # a new layout: start from its own latents rather than gliding from others
        self._hold.threshold = snapshot["visual.hold_threshold"]
        still = self._hold(signals.get("motion.energy", float("inf")), now)
        if self._target is None or not (snapshot["visual.hold"] and still):
            self._target = self._dead_zone(z, snapshot["visual.deadzone"])
        self._spring.time_constant = snapshot["visual.smoothing"]
        return self._spring(self._target, now)

    def _dead_zone(self, z: torch.Tensor, threshold: float) -> torch.Tensor:
        if self._target is None or threshold <= 0:
            return z
        moved = (z - self._target).norm(dim=1) > threshold * self._target.norm(dim=1).clamp_min(1e-6)
        return torch.where(moved.unsqueeze(1), z, self._target)
