"""Live manipulations inside the generator: StyleGAN2's learned constant and StyleGAN3's input transform.

The paper (section 3.2) corrupts `G.synthesis.b4.const` for "flesh digressions" and rotates or
shifts StyleGAN3's output through `G.synthesis.input.transform`. Both are changed in place on the
generator, once per frame, only when their parameters changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn


def make_transform(rotate_deg: float = 0.0, tx: float = 0.0, ty: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """The 3x3 matrix for StyleGAN3's input, in the convention of NVIDIA's `gen_images.py`: the
    inverse of a rotation by `rotate_deg` and a translation by (tx, ty), here also zoomed by `scale`."""
    angle = math.radians(rotate_deg)
    forward = np.eye(3)
    forward[0, :2] = (math.cos(angle) * scale, math.sin(angle) * scale)
    forward[1, :2] = (-math.sin(angle) * scale, math.cos(angle) * scale)
    forward[:2, 2] = (tx, ty)
    return np.linalg.inv(forward)


class Manipulator:
    """Applies `corruption.*` (StyleGAN2) and `transform.*` (StyleGAN3) parameters to a generator.

    Corruption (`corruption.mode` noise) blends the learned 4x4 constant toward a smooth random field
    of the same size and spread, or (warp) resamples it through a smooth displacement field; either
    drifts on a circle through two fields of `corruption.seed`. At gain 0 the original constant is
    copied back bit for bit.
    """

    def __init__(self, generator: nn.Module) -> None:
        self.const = generator.const
        self.transform = generator.input_transform
        self._original = None if self.const is None else self.const.detach().clone()
        self._fields: tuple[int, torch.Tensor] | None = None
        self._warps: tuple[int, torch.Tensor] | None = None
        self._const_state: str | None = None
        self._transform_state: tuple | None = None

    def apply(self, snapshot: Mapping, phase: float) -> None:
        """Bring the generator in line with this frame's parameters (`phase` drives the drift)."""
        if self.const is not None:
            mode = snapshot["corruption.mode"]
            self._corrupt(snapshot["corruption.gain"], snapshot["corruption.seed"], phase, mode)
        if self.transform is not None:
            key = tuple(snapshot[f"transform.{k}"] for k in ("rotate", "x", "y", "scale"))
            if key != self._transform_state:
                self.transform.copy_(torch.from_numpy(make_transform(*key)).to(self.transform))
                self._transform_state = key

    def _corrupt(self, gain: float, seed: int, phase: float, mode: str = "noise") -> None:
        if gain <= 0:
            if self._const_state != "original":
                self.const.copy_(self._original)
                self._const_state = "original"
            return
        angle = 2 * math.pi * phase
        if mode == "warp":
            self.const.copy_(self._warped(gain, seed, angle))
        else:
            a, b = self._field_pair(seed)
            field = a * math.cos(angle) + b * math.sin(angle)
            self.const.copy_(torch.lerp(self._original, field, gain))
        self._const_state = "corrupted"

    def _warped(self, gain: float, seed: int, angle: float) -> torch.Tensor:
        """The trained constant resampled through a smooth displacement field: its features slide
        and fold into each other instead of being replaced by noise. At gain 1 points move by up to
        about half the 4x4 grid; reflection at the borders keeps every value one of the constant's."""
        a, b = self._warp_pair(seed)
        displacement = a * math.cos(angle) + b * math.sin(angle)
        height, width = self._original.shape[-2:]
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
        grid = torch.stack((xs, ys), dim=-1).to(displacement) + gain * displacement
        source = self._original.reshape(1, -1, height, width).float()
        warped = torch.nn.functional.grid_sample(
            source, grid.unsqueeze(0), mode="bilinear", padding_mode="reflection", align_corners=True
        )
        return warped.reshape(self._original.shape).to(self._original.dtype)

    def _warp_pair(self, seed: int) -> torch.Tensor:
        if self._warps is None or self._warps[0] != seed:
            generator = torch.Generator().manual_seed(seed + 1)  # independent of the noise field's seed
            height, width = self._original.shape[-2:]
            fields = torch.randn((2, 2, height, width), generator=generator)
            fields = torch.nn.functional.avg_pool2d(fields, 3, stride=1, padding=1, count_include_pad=False)
            fields = fields / fields.std() * 0.5
            self._warps = (seed, fields.permute(0, 2, 3, 1).to(self._original.device, torch.float32))
        return self._warps[1]

    def _field_pair(self, seed: int) -> torch.Tensor:
        if self._fields is None or self._fields[0] != seed:
            generator = torch.Generator().manual_seed(seed)
            shape = (2, *self._original.shape)
            fields = torch.randn(shape, generator=generator).to(self._original)
            # Smooth across the 4x4 grid, then match the constant's spread so the blend stays in range.
            fields = torch.nn.functional.avg_pool2d(fields, 3, stride=1, padding=1, count_include_pad=False)
            fields = fields / fields.std() * self._original.std()
            self._fields = (seed, fields)
        return self._fields[1]
