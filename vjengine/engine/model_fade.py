"""Crossfading from one model's picture to another's, at the output's size.

Models of a set may differ in resolution and channels: every picture is brought to the size of the first
model's (the outputs keep one size for the whole show, which files and receivers need), in RGB, before the
two are blended. Both pictures stay on the generator's device; only the blend crosses to bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vjengine.engine.rig import Rig


@dataclass(frozen=True)
class ModelFade:
    """A crossfade in progress: from `rig` (the model fading out, in bank slot `slot`) over `seconds` from
    `started` (the engine's clock)."""

    rig: Rig
    slot: int
    started: float
    seconds: float

    def weight(self, now: float) -> float:
        """How much of the new model shows at `now`: 0 to 1 on a smoothstep, so the fade starts and ends at rest."""
        t = (now - self.started) / self.seconds if self.seconds > 0 else 1.0
        t = min(max(t, 0.0), 1.0)
        return t * t * (3 - 2 * t)


def fit_picture(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Generator output [1, C, H, W] as [1, 3, height, width] (`size` = (height, width)): grayscale repeated,
    a fourth channel dropped, resized (area-averaged when shrinking, bilinear when growing)."""
    if img.shape[1] == 1:
        img = img.expand(-1, 3, -1, -1)
    img = img[:, :3]
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    shrinking = img.shape[-2] * img.shape[-1] > size[0] * size[1]
    mode = "area" if shrinking else "bilinear"
    return F.interpolate(img.float(), size=size, mode=mode, **({} if shrinking else {"align_corners": False}))


def crossfade(old: torch.Tensor, new: torch.Tensor, weight: float) -> torch.Tensor:
    """`weight` of the way from picture `old` to picture `new` (both [1, 3, H, W] at one size)."""
    return torch.lerp(old.float(), new.float(), float(weight))
