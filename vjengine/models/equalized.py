"""Layers with an equalised learning rate, shared by both synthesis networks and the mapping network.

StyleGAN stores weights unscaled (drawn from N(0, 1) at initialisation) and applies the He scale
when the layer runs, so that every weight learns at the same rate (Karras et al. 2018, section 4.1).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2)


def lrelu(x: torch.Tensor, slope: float = 0.2) -> torch.Tensor:
    """Leaky ReLU followed by the sqrt(2) gain that keeps the signal's magnitude."""
    return F.leaky_relu(x, slope) * SQRT2


class Dense(nn.Module):
    """A fully connected layer with equalised learning rate: weights are stored unscaled and
    multiplied by `lr / sqrt(in)` when used, biases by `lr`."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        lr: float = 1.0,
        bias_init: float | list[float] = 0.0,
        act: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr)
        self.bias = nn.Parameter(torch.empty(out_features).copy_(torch.as_tensor(bias_init)) / lr)
        self.weight_scale = lr / math.sqrt(in_features)
        self.bias_scale = lr
        self.act = act

    def effective_weight(self) -> torch.Tensor:
        """[out, in]: the weight as the layer applies it."""
        return self.weight * self.weight_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.effective_weight().to(x.dtype), (self.bias * self.bias_scale).to(x.dtype))
        return lrelu(y) if self.act else y


def normalize_rows(x: torch.Tensor) -> torch.Tensor:
    """Each row divided by its root mean square (the "pixel norm" of z and of the label embedding)."""
    return x / torch.sqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class StyleLayer(NamedTuple):
    """A synthesis layer whose channel styles come from one w row."""

    row: int
    name: str
    affine: Dense
    is_torgb: bool
