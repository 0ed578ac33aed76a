"""What renders one model: its generator, the callable that renders w+, and what composes its latents.

The application assembles a `Rig` (with the presets and the direction offsets it opened) and hands it to the
engine, which only uses it: the engine builds no collaborator of the model's itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from vjengine.latent import LatentComposer
from vjengine.latent.morph import PresetPlayer
from vjengine.models.manipulation import Manipulator

log = logging.getLogger(__name__)

Offset = Callable[[torch.Tensor, Mapping], torch.Tensor]


@dataclass
class Rig:
    """One model ready to render.

    `synthesis` renders w+ (`generator.synthesis`, or its compiled form); `composer` builds each frame's w+
    for this generator; `manipulator` sets its const corruption and input transform; `precision` is the
    context a frame renders in (autocast for bf16) and `force_fp32` NVIDIA's flag against fp16 layers;
    `name` and `spec` say which model it is (in a bank, on the status line, in a recording).
    """

    generator: nn.Module
    synthesis: Callable[..., torch.Tensor]
    composer: LatentComposer
    manipulator: Manipulator
    precision: contextlib.AbstractContextManager
    force_fp32: bool = True
    name: str = ""
    spec: str = ""
    closed: bool = False

    @classmethod
    def build(
        cls,
        generator: nn.Module,
        *,
        presets: PresetPlayer | None = None,
        offsets: Sequence[Offset] = (),
        precision: contextlib.AbstractContextManager | None = None,
        force_fp32: bool = True,
        synthesis: Callable[..., torch.Tensor] | None = None,
        name: str = "",
    ) -> Rig:
        """A rig around `generator`: its composer (with `presets` and the `offsets` applied after them, e.g.
        directions), its manipulator, and `synthesis` (default `generator.synthesis`). Its spec is where
        the generator came from (`generator.source`)."""
        composer = LatentComposer(generator, device_of(generator), presets=presets)
        composer.offsets.extend(offsets)
        return cls(
            generator,
            generator.synthesis if synthesis is None else synthesis,
            composer,
            Manipulator(generator),
            precision or contextlib.nullcontext(),
            force_fp32,
            name,
            str(getattr(generator, "source", "") or ""),
        )

    @property
    def device(self) -> torch.device:
        return device_of(self.generator)

    def render(self, ws: torch.Tensor, noise_mode: str, noise: torch.Generator | None = None) -> torch.Tensor:
        """The picture [1, C, H, W] of w+ `ws` (call inside `precision` and inference mode)."""
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=self.force_fp32, noise_generator=noise)

    def warm_up(self) -> None:
        """Render one frame (of `w_avg`) and wait for it: the first frame's one-time costs (allocations, kernel
        choices, `--compile`'s compilation) are paid here, beside the loop, not in the show."""
        G = self.generator
        with torch.inference_mode(), self.precision:
            ws = G.mapping.w_avg.reshape(1, 1, -1).expand(1, G.num_ws, -1)
            self.render(ws, "const")
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)

    def close(self) -> None:
        """Stop the threads of the offsets (the directions worker); the presets belong to whoever opened them."""
        self.closed = True
        for offset in self.composer.offsets:
            if hasattr(offset, "close"):
                offset.close()


def device_of(generator: nn.Module) -> torch.device:
    """The device `generator`'s weights are on."""
    return next(generator.parameters()).device
