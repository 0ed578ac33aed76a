"""Regions of the camera frame: the layouts it can be split into, and each region's feature means."""

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
