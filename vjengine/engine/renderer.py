"""The one place a frame's state becomes a picture: live, in `vjengine render` and in the benchmarks."""

from __future__ import annotations

from collections.abc import Callable

import torch

from vjengine.engine.frame import FrameState, manipulator_view, noise_generator
from vjengine.engine.model_fade import crossfade, fit_picture
from vjengine.engine.rig import Rig
from vjengine.engine.weight_blend import WeightBlend

RigOf = Callable[[str], Rig]


class Renderer:
    """Renders `FrameState`s with the rigs `rig_of` names by model spec, at the first picture's size (the
    outputs keep one size for the whole show, whichever models a set switches between).

    `blend` mixes two models' weights for `model.blend`: live it is the director's (which says a frame blends
    only once the mixed copy is ready), offline a `WeightBlend(wait=True)` that makes the copy at once."""

    def __init__(self, rig_of: RigOf, blend: WeightBlend | None = None) -> None:
        self.rig_of = rig_of
        self.blend = blend or WeightBlend()
        self.size: tuple[int, int] | None = None

    def render(self, state: FrameState) -> torch.Tensor:
        """The picture [1, 3, H, W] of `state` (call inside the rig's precision and inference mode)."""
        rig = self.rig_of(state.model)
        if state.blend is not None:
            rig = self.blend.rig(rig, self.rig_of(state.blend.model), state.blend.amount, state.blend.layers)
        img = self._picture(rig, state.ws, state)
        if state.fade is not None:
            old = self._picture(self.rig_of(state.fade.model), state.fade.ws, state)
            img = crossfade(old, img, state.fade.weight)
        return img

    def close(self) -> None:
        self.blend.close()

    def _picture(self, rig: Rig, ws: torch.Tensor, state: FrameState) -> torch.Tensor:
        manipulation = state.manipulation
        if manipulation:
            rig.manipulator.apply(manipulator_view(manipulation), manipulation.get("corruption.phase", 0.0))
        ws = ws.to(rig.device)
        img = rig.render(ws, state.noise, noise_generator(state.noise_seed, rig.device))
        if self.size is None:
            self.size = (img.shape[-2], img.shape[-1])
        return fit_picture(img, self.size)
