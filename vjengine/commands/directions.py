"""`vjengine directions MODEL`: the directions table, and a preview strip per direction."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vjengine.commands.pictures import render_images, write_png
from vjengine.errors import VJError
from vjengine.files import check_new_file
from vjengine.latent.directions import METHODS, Directions, apply_directions, compute_directions
from vjengine.latent.regions import layer_range
from vjengine.params import REGISTRY


def preview_strips(
    G: nn.Module,
    directions: Directions,
    k: int,
    steps: int,
    out_dir: str | Path,
    strength: float = 3.0,
    base_ws: torch.Tensor | None = None,
    size: int = 128,
) -> list[Path]:
    """Write `<method>-NN.png` for each of the first `k` directions: `steps` images from -strength to
    +strength (in the method's units) across the directions' layer range, from `base_ws` (default w_avg).

    Returns the paths written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if base_ws is None:
        base_ws = G.mapping.w_avg.detach().expand(G.num_ws, -1)
    amounts = np.linspace(-strength, strength, max(2, steps))
    size = min(size, G.img_resolution)
    paths = []
    for index, step in enumerate(directions.top(k).steps()):
        batch = torch.stack(
            [
                apply_directions(base_ws, step[None], [amount], directions.layer_start, directions.layer_end)
                for amount in amounts
            ]
        )
        strip = np.concatenate(list(render_images(G, batch, size)), axis=1)
        path = out_dir / f"{directions.method}-{index:02d}.png"
        write_png(path, strip)
        paths.append(path)
    return paths


def directions_command(
    model_spec: str,
    method: str = "sefa",
    k: int = 8,
    out_dir: str | Path = "directions",
    layers: str = "all",
    device: str = "auto",
    steps: int = 7,
    strength: float = 3.0,
) -> int:
    """`vjengine directions MODEL`: compute (or load cached) directions, print a table, write preview strips."""
    from vjengine.models import load_generator

    if method not in METHODS:
        raise VJError(f"--method {method!r}: use {' or '.join(METHODS)}")
    if k < 1:
        raise VJError(f"-k {k}: give a positive number of directions")
    if steps < 2:
        raise VJError(f"--steps {steps}: give at least 2 images per preview strip (from -S to +S), e.g. --steps 7")
    if not (math.isfinite(strength) and strength > 0):
        raise VJError(f"--strength {strength:g}: give a positive strength; previews go from -S to +S, e.g. 3")
    check_new_file(Path(out_dir) / f"{method}-00.png", f"directions --out {out_dir}", force=True)  # before work
    playable = sum(1 for p in REGISTRY if re.fullmatch(r"direction\.\d+", p.name))  # direction.0, direction.1 ...
    G = load_generator(model_spec, device)
    rows = layer_range(layers, G.num_ws, G.arch)
    directions = compute_directions(G, method, rows).top(k)
    value_name = "eigenvalue" if method == "sefa" else "variance"
    unit = "1 = distance 1 in W" if method == "sefa" else "1 = one standard deviation of w"
    print(f"{method} directions of {model_spec}, w rows {rows.start}-{rows.stop - 1} (strength unit: {unit})")
    print(f"{'param':<14}{value_name:>12}{'share':>9}")
    for index, (value, share) in enumerate(zip(directions.values, directions.shares, strict=True)):
        label = f"direction.{index}" if index < playable else f"(#{index})"
        print(f"{label:<14}{value:>12.4g}{share:>8.1%}")
    if k > playable:
        print(f"(#{playable} and later have no parameter: direction.0-{playable - 1} play the first {playable})")
    paths = preview_strips(G, directions, k, steps, out_dir, strength)
    print(f"wrote {len(paths)} preview strips (-{strength:g}..+{strength:g}) to {Path(out_dir)}/")
    return 0
