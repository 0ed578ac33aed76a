"""Every parameter of the engine, declared once. OSC, MIDI, OSCQuery, config and docs derive from here.

Names are `stage.thing`; the stage groups them in `vjengine params` and the README.
"""

from __future__ import annotations

from vjengine.params.param import Param

REGISTRY: tuple[Param, ...] = (
    # render: the loop itself
    Param(
        "render.fps",
        "float",
        30.0,
        "Target frame rate; the loop paces itself to it and never queues frames (0 = as fast as possible).",
        min=0.0,
        max=240.0,
        unit="fps",
        group="render",
    ),
    Param(
        "render.paused", "bool", False, "Hold the current frame: keep publishing it without rendering.", group="render"
    ),
    # latent: where in the generator's latent space the picture comes from
    Param("latent.seed", "int", 0, "Seed of the anchor latent z.", min=0, max=2**31 - 1, group="latent"),
    Param(
        "latent.drift",
        "float",
        2.0,
        "Speed of the slow loop through latent space around the anchor, in loops per minute (0 = still).",
        min=0.0,
        max=120.0,
        unit="loops/min",
        smoothing=0.5,
        group="latent",
    ),
    Param(
        "truncation.psi",
        "float",
        0.7,
        "Truncation: 1 = the raw latent, 0 = the average image; lower is tamer, higher is wilder.",
        min=-1.0,
        max=2.0,
        smoothing=0.2,
        group="latent",
    ),
    Param(
        "truncation.cutoff",
        "int",
        0,
        "Truncate only the first N w layers (the coarse ones); 0 = all layers.",
        min=0,
        max=64,
        unit="layers",
        group="latent",
    ),
    # generator
    Param(
        "generator.noise",
        "enum",
        "const",
        "StyleGAN2 per-pixel noise: const (stable), random (shimmering), none (smooth).",
        choices=("const", "random", "none"),
        group="generator",
    ),
)
