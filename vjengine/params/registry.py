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
    # visual: camera features drive the latent space (the paper's visual-reactive interpolation)
    Param(
        "visual.enabled",
        "bool",
        True,
        "Let the camera's VGG16 features drive the latents (off: only the seed and its drift).",
        group="visual",
    ),
    Param(
        "visual.layer",
        "enum",
        "conv4_1",
        "VGG16 layer whose channel means become the fake z (512-channel layers map directly).",
        choices=(
            "conv1_1",
            "conv1_2",
            "conv2_1",
            "conv2_2",
            "conv3_1",
            "conv3_2",
            "conv3_3",
            "conv4_1",
            "conv4_2",
            "conv4_3",
            "conv5_1",
            "conv5_2",
            "conv5_3",
            "adavgpool",
        ),  # fmt: skip
        group="visual",
    ),
    Param(
        "visual.layout",
        "string",
        "left/right",
        "How the frame splits into regions: whole, top/bottom, left/right, thirds, quadrants, grid:RxC.",
        group="visual",
    ),
    Param(
        "visual.assign",
        "string",
        "coarse,middle",
        "w layers each region drives, in region order: coarse, middle, fine, all, or a-b (0-based, inclusive).",
        group="visual",
    ),
    Param(
        "visual.mix",
        "float",
        1.0,
        "How far the driven layers move from the anchor toward the camera's latents (0 = seed only).",
        min=0.0,
        max=1.0,
        smoothing=0.2,
        group="visual",
    ),
    Param(
        "visual.standardize",
        "float",
        1.0,
        "How strongly the fake z is standardised to zero mean, unit variance (where G.mapping expects z).",
        min=0.0,
        max=1.0,
        group="visual",
    ),
    Param(
        "visual.smoothing",
        "float",
        0.25,
        "Time constant of the critically damped smoothing of the camera latents (0 = raw).",
        min=0.0,
        max=5.0,
        unit="s",
        group="visual",
    ),
    Param(
        "visual.deadzone",
        "float",
        0.05,
        "Ignore changes of a region's z smaller than this (relative to its norm): sensor noise.",
        min=0.0,
        max=1.0,
        group="visual",
    ),
    Param(
        "visual.hold",
        "bool",
        True,
        "Freeze the camera latents while the picture is nearly still, so autofocus hunting cannot reset it.",
        group="visual",
    ),
    Param(
        "visual.hold_threshold",
        "float",
        1.0,
        "Motion energy (mean absolute pixel change, 0-255) below which the picture counts as still.",
        min=0.0,
        max=50.0,
        group="visual",
    ),
    Param(
        "visual.size",
        "int",
        224,
        "Analysis size: the frame's short side is resized to this before VGG16 (smaller is faster).",
        min=32,
        max=1024,
        unit="px",
        group="visual",
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
