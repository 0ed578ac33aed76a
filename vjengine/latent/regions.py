"""Regions of the frame and the w layers each drives (the paper's style mixing, Appendix A)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vjengine.errors import VJError

LAYOUT_FORMS = "whole, top/bottom, left/right, thirds, quadrants, grid:RxC"
MAX_REGIONS = 64


@dataclass(frozen=True)
class Layout:
    """A grid of `rows` x `cols` regions, named in row-major order."""

    name: str
    rows: int
    cols: int
    region_names: tuple[str, ...]


_NAMED = {
    "whole": (1, 1, ("whole",)),
    "top/bottom": (2, 1, ("top", "bottom")),
    "left/right": (1, 2, ("left", "right")),
    "thirds": (1, 3, ("left", "centre", "right")),
    "quadrants": (2, 2, ("top-left", "top-right", "bottom-left", "bottom-right")),
}


def parse_layout(name: str) -> Layout:
    """A layout by name; anything else is a one-line VJError listing the accepted forms."""
    text = name.strip().lower()
    if text in _NAMED:
        rows, cols, names = _NAMED[text]
        return Layout(text, rows, cols, names)
    match = re.fullmatch(r"grid:(\d+)x(\d+)", text)
    if match:
        rows, cols = int(match.group(1)), int(match.group(2))
        if min(rows, cols) >= 1 and rows * cols <= MAX_REGIONS:
            names = tuple(f"r{r}c{c}" for r in range(rows) for c in range(cols))
            return Layout(text, rows, cols, names)
    raise VJError(f"unknown layout {name!r}: use {LAYOUT_FORMS} (grid up to {MAX_REGIONS} regions)")


def region_means(feature_map: torch.Tensor, layout: Layout) -> torch.Tensor:
    """[regions, C]: the channel means over each region of a [C, h, w] (or [1, C, h, w]) map.

    Cells are split at round(i * h / rows), so every cell belongs to exactly one region; a map
    smaller than the grid is first enlarged (nearest) so that no region is empty.
    """
    x = feature_map[0] if feature_map.ndim == 4 else feature_map
    c, h, w = x.shape
    if h < layout.rows or w < layout.cols:
        x = F.interpolate(x[None], size=(max(h, layout.rows), max(w, layout.cols)), mode="nearest")[0]
        h, w = x.shape[1:]
    ys = [round(i * h / layout.rows) for i in range(layout.rows + 1)]
    xs = [round(j * w / layout.cols) for j in range(layout.cols + 1)]
    means = [
        x[:, ys[r] : ys[r + 1], xs[k] : xs[k + 1]].mean(dim=(1, 2))
        for r in range(layout.rows)
        for k in range(layout.cols)
    ]
    return torch.stack(means)


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
        if len(rows) == 0:
            continue
        target = region_ws[i] if region_ws.ndim == 2 else region_ws[i, rows.start : rows.stop]
        out[rows.start : rows.stop] = torch.lerp(
            anchor[rows.start : rows.stop], target.expand_as(out[rows.start : rows.stop]), strength
        )
    return out
