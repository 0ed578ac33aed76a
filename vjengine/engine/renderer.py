"""The one place a frame's state becomes a picture: live, in `vjengine render` and in the benchmarks."""

from __future__ import annotations

from collections.abc import Callable

import torch

from vjengine.engine.frame import FrameState, manipulator_view, noise_generator
from vjengine.engine.model_fade import crossfade, fit_picture
from vjengine.engine.rig import Rig
from vjengine.engine.weight_blend import WeightBlend

RigOf = Callable[[str], Rig]
PictureRig = Callable[[FrameState], Rig]


def blending(rig_of: RigOf, blend: WeightBlend) -> PictureRig:
    """The rig of a state's picture: its model's, mixed by `blend` toward another's when the state blends
    (offline, `vjengine render`: a `WeightBlend(wait=True)`, which makes each mixed copy at once)."""

    def picture_rig(state: FrameState) -> Rig:
        shown = rig_of(state.model)
        if state.blend is None:
            return shown
        return blend.rig(shown, rig_of(state.blend.model), state.blend.amount, state.blend.layers)

    return picture_rig


class Renderer:
    """Renders `FrameState`s with the rigs `rig_of` names by model spec, at the first picture's size (the
    outputs keep one size for the whole show, whichever models a set switches between).

    `picture_rig` says which rig renders a state's picture when that is not simply its model's: with
    `model.blend`, the mixed copy. Live it is the director's `composed_with` (the very copy the frame's w+
    was composed with, never a newer one the blend's worker finished in between); offline, `blending`."""

    def __init__(self, rig_of: RigOf, picture_rig: PictureRig | None = None) -> None:
        self.rig_of = rig_of
        self.picture_rig = picture_rig or (lambda state: rig_of(state.model))
        self.size: tuple[int, int] | None = None

    def render(self, state: FrameState) -> torch.Tensor:
        """The picture [1, 3, H, W] of `state` (call inside the rig's precision and inference mode)."""
        img = self._picture(self.picture_rig(state), state.ws, state)
        if state.fade is not None:
            old = self._picture(self.rig_of(state.fade.model), state.fade.ws, state)
            img = crossfade(old, img, state.fade.weight)
        return img

    def _picture(self, rig: Rig, ws: torch.Tensor, state: FrameState) -> torch.Tensor:
        manipulation = state.manipulation
        if manipulation:
            rig.manipulator.apply(manipulator_view(manipulation), manipulation.get("corruption.phase", 0.0))
        ws = ws.to(rig.device)
        img = rig.render(ws, state.noise, noise_generator(state.noise_seed, rig.device))
        if self.size is None:
            self.size = (img.shape[-2], img.shape[-1])
        return fit_picture(img, self.size)
