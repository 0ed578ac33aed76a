"""A frame as data: everything that decides one picture, so the live loop, `render`, `bench` and the recording
all mean the same thing by "this frame".

The live loop's `Director` makes one `FrameState` per frame, the `Renderer` turns it into pixels, and the
recorder saves it; `vjengine render` reads the states back and hands them to the same renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

# The numbers besides w+ that decide how a frame looks (the generator's manipulations); a recording keeps
# them per frame under these names.
MANIPULATION = (
    "corruption.gain",
    "corruption.seed",
    "corruption.phase",
    "corruption.warp",
    "transform.rotate",
    "transform.x",
    "transform.y",
    "transform.scale",
)


@dataclass(frozen=True)
class Fade:
    """A crossfade between two models: the model fading out, its w+, and how much of the new one shows (0..1)."""

    model: str
    ws: torch.Tensor
    weight: float


@dataclass(frozen=True)
class Blend:
    """`model.blend`: the shown model's weights moved `amount` of the way to `model`'s, on `layers`."""

    model: str
    amount: float
    layers: str


@dataclass(frozen=True)
class FrameState:
    """One frame: the model on screen (its spec), its w+ [1, num_ws, w_dim], the noise (mode and the seed of
    random noise, None when it draws nothing), the manipulation numbers (`MANIPULATION`), and, when they apply,
    the crossfade from another model and the weight blend toward another."""

    model: str
    ws: torch.Tensor
    noise: str = "const"
    noise_seed: int | None = None
    manipulation: Mapping[str, float] = field(default_factory=dict)
    fade: Fade | None = None
    blend: Blend | None = None


def manipulation_of(snapshot: Mapping, corruption_phase: float) -> dict[str, float]:
    """A parameter snapshot's manipulation numbers, as a frame keeps them (`corruption.mode` as `corruption.warp`)."""
    numbers = {name: float(snapshot[name]) for name in MANIPULATION if name in snapshot}
    numbers["corruption.phase"] = float(corruption_phase)
    numbers["corruption.warp"] = float(snapshot["corruption.mode"] == "warp")
    return numbers


def manipulator_view(manipulation: Mapping[str, float]) -> dict:
    """A frame's manipulation numbers as `Manipulator.apply` reads them (its parameter names and types)."""
    mode = "warp" if manipulation.get("corruption.warp", 0.0) >= 0.5 else "noise"
    return {**manipulation, "corruption.seed": int(manipulation["corruption.seed"]), "corruption.mode": mode}


def noise_generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A torch generator on `device` seeded with a frame's noise seed, or None (no seed: the noise
    is not random). The live engine and `render` hand it to `G.synthesis` as `noise_generator`:
    the frame's random noise then comes from it alone, whatever other threads draw from torch's
    shared generator meanwhile, which is what makes a re-render bit for bit with random noise."""
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(seed)
