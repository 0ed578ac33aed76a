"""The frame's w+ from the parameter snapshot, the analysis signals and the generator's constants."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn


def seed_latents(seed: int, z_dim: int, count: int = 2) -> np.ndarray:
    """`count` z vectors for a seed; the first is NVIDIA's `RandomState(seed).randn(z_dim)`."""
    return np.random.RandomState(seed).randn(count, z_dim)


class LatentComposer:
    """Builds `[1, num_ws, w_dim]` for a frame.

    The anchor is the seed's z; `latent.drift` moves it around a great circle through a second z of
    the same seed (so it stays a typical Gaussian sample), driven by a phase the engine integrates.
    Then `G.mapping` with truncation toward `w_avg`. The result depends only on its arguments;
    the mapping is cached while they stay the same.
    """

    def __init__(self, generator: nn.Module, device: torch.device) -> None:
        self.G = generator
        self.device = device
        self._anchor: tuple[int, torch.Tensor] | None = None
        self._cached: tuple[tuple, torch.Tensor] | None = None
        c_dim = getattr(generator, "c_dim", 0)
        self._label = torch.eye(c_dim, device=device)[:1] if c_dim else None

    def anchor(self, seed: int) -> torch.Tensor:
        """[2, z_dim]: the seed's z and the second point of its drift circle."""
        if self._anchor is None or self._anchor[0] != seed:
            z = torch.from_numpy(seed_latents(seed, self.G.z_dim)).to(self.device, torch.float32)
            self._anchor = (seed, z)
        return self._anchor[1]

    def compose(self, snapshot: Mapping, signals: Mapping[str, float], phase: float) -> torch.Tensor:
        """w+ for one frame; `phase` (in loops) places the anchor on its drift circle."""
        seed, psi, cutoff = snapshot["latent.seed"], snapshot["truncation.psi"], snapshot["truncation.cutoff"]
        key = (seed, round(phase % 1.0, 9), round(psi, 9), cutoff)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        z0, z1 = self.anchor(seed)
        angle = 2 * math.pi * phase
        z = (z0 * math.cos(angle) + z1 * math.sin(angle)).unsqueeze(0)
        cutoff = cutoff if 0 < cutoff < self.G.num_ws else None
        ws = self.G.mapping(z, self._label, truncation_psi=psi, truncation_cutoff=cutoff)
        self._cached = (key, ws)
        return ws
