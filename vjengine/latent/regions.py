"""W rows: the layer bands (coarse, middle, fine) a region, a preset or a direction drives, and the one mixer
that moves some rows of a w+ toward another latent (the paper's style mixing, Appendix A). The regions of the
frame themselves are `vjengine.analysis.regions`."""

from __future__ import annotations

import re

import numpy as np
import torch

from vjengine.errors import VJError


def layer_range(spec: str, num_ws: int, arch: str = "stylegan2") -> range:
    """The w rows a region drives: coarse, middle, fine, all, or explicit `a-b` / `a` (0-based).

    StyleGAN2 bands follow the StyleGAN paper's resolutions: coarse 4-8 px (w 0-3), middle 16-32 px
    (w 4-7), fine the rest. StyleGAN3 has no resolution blocks, so its w rows split into thirds.
    """
    text = spec.strip().lower()
    bands = _bands(num_ws, arch)
    if text in bands:
        band = bands[text]
        if len(band) == 0:
            raise VJError(f"layer band {text!r} is empty for this model ({num_ws} w layers); use an a-b range")
        return band
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if match:
        lo, hi = int(match.group(1)), int(match.group(2) or match.group(1))
        if lo <= hi < num_ws:
            return range(lo, hi + 1)
    raise VJError(f"bad layer range {spec!r}: use coarse, middle, fine, all or a-b with 0 <= a <= b < {num_ws}")


def _bands(num_ws: int, arch: str) -> dict[str, range]:
    if arch == "stylegan3":
        third = max(1, num_ws // 3)
        return {
            "coarse": range(0, third),
            "middle": range(third, min(num_ws, 2 * third)),
            "fine": range(min(num_ws, 2 * third), num_ws),
            "all": range(num_ws),
        }
    return {
        "coarse": range(0, min(4, num_ws)),
        "middle": range(min(4, num_ws), min(8, num_ws)),
        "fine": range(min(8, num_ws), num_ws),
        "all": range(num_ws),
    }


def mix_rows(base, source, rows: range, amount: float = 1.0, out=None):
    """`base` (a w+ [..., num_ws, w_dim], tensor or numpy array) with its rows `rows` moved `amount` (0..1) of
    the way to `source`: a w+ of the same shape, or one w [w_dim] for every row. Written into `out` (same
    shape and type as `base`) when given, else into a copy; `amount` 1 copies the rows exactly."""
    if out is None:
        out = base.copy() if isinstance(base, np.ndarray) else base.clone()
    if len(rows) == 0:
        return out
    rows = slice(rows.start, rows.stop)
    start = base[..., rows, :]
    target = source if source.ndim == 1 else source[..., rows, :]
    if amount >= 1:
        out[..., rows, :] = target
    elif isinstance(base, np.ndarray):
        out[..., rows, :] = start + (target - start) * amount
    else:
        out[..., rows, :] = torch.lerp(start, target.expand_as(start), amount)
    return out


def mix_ws(
    anchor: torch.Tensor, region_ws: torch.Tensor, assignment: list[range], strength: float = 1.0
) -> torch.Tensor:
    """[num_ws, w_dim]: the anchor with each region's rows moved `strength` of the way to its latent.

    `region_ws` is [regions, num_ws, w_dim] (or [regions, w_dim]); later regions win where ranges
    overlap, as if each were painted over the previous ones.
    """
    strength = min(max(float(strength), 0.0), 1.0)
    out = anchor.clone()
    for i, rows in enumerate(assignment):
        mix_rows(anchor, region_ws[i], rows, strength, out=out)  # from the anchor: a later region replaces
    return out
