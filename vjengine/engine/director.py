"""What each frame shows: the model on screen, its w+ and the state the renderer turns into pixels.

The director owns what moves over time between frames (the latent's and the corruption's drift, the walk,
the camera's smoothing, the noise seeds) and the set's models: it switches to the model `model.slot` names at
a frame boundary once that one is resident, crossfading over `model.fade`, and picks the weight blend of
`model.blend`. It renders nothing; the `FrameState` it returns is all the renderer and the recorder need.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import torch

from vjengine.analysis import Signals
from vjengine.engine.bank import ModelBank
from vjengine.engine.frame import Blend, Fade, FrameState, manipulation_of
from vjengine.engine.model_fade import ModelFade
from vjengine.engine.rig import Rig
from vjengine.engine.weight_blend import WeightBlend
from vjengine.latent.visual import VisualDriver
from vjengine.latent.walk import LatentWalk, step_seconds

log = logging.getLogger(__name__)

MAX_STEP_SECONDS = 0.25  # a stalled frame moves the drifts and the walk by at most this much, never a jump


class Director:
    """Makes each frame's `FrameState` from the parameter snapshot, the signals and the time.

    `rig` is the model on screen at the start; `models` the set (a bank whose slot 0 is `rig`), None for a
    single model; `blend` the weight blend it shares with the renderer."""

    def __init__(self, rig: Rig, models: ModelBank | None = None, blend: WeightBlend | None = None) -> None:
        self.rig = rig
        self.models = models
        self.blend = blend or WeightBlend()
        self.walk = LatentWalk()
        self._camera = VisualDriver()
        self._slot = 0  # the bank slot on screen
        self._fade: ModelFade | None = None
        self._blend_rig: Rig | None = None  # the rig blended toward this frame
        self._composed_with: Rig = rig  # the rig this frame's w+ was composed with (a mixed copy, with a blend)
        self._phase = 0.0
        self._corruption_phase = 0.0
        self._last: float | None = None
        # Random noise is drawn from a fresh seed each frame, kept in the frame state so `render` draws it again.
        self._noise_seeds = np.random.default_rng()

    @property
    def model_name(self) -> str:
        """The name of the model on screen (its spec when it has no name)."""
        return self.rig.name or self.rig.spec

    def rig_of(self, spec: str) -> Rig:
        """The rig of a model this frame uses: the one on screen, the one fading out or the one blended toward."""
        for rig in (self.rig, self._fade.rig if self._fade else None, self._blend_rig):
            if rig is not None and rig.spec == spec:
                return rig
        raise KeyError(f"no model {spec} in this frame")

    def composed_with(self, state: FrameState) -> Rig:
        """The rig that renders `state`'s picture: the one its w+ was composed with (`model.blend`'s mixed copy,
        or the model on screen), so the renderer never asks the blend a second time in a frame."""
        return self._composed_with

    def direct(self, snapshot: Mapping, signals: Signals, camera_z: torch.Tensor | None, now: float) -> FrameState:
        """This frame's state at `now` (the engine's clock), with the camera's newest latent `camera_z`."""
        dt = 0.0 if self._last is None else min(now - self._last, MAX_STEP_SECONDS)
        self._last = now
        self._advance(snapshot, signals, dt)
        camera_z = self._camera.update(camera_z, snapshot, signals, now)
        self._switch(snapshot, now)
        fade = self._fading(now)
        old_ws = self._compose(fade.rig, snapshot, signals, camera_z) if fade else None
        rig, blend = self._blended(snapshot)
        self._composed_with = rig
        ws = self._compose(rig, snapshot, signals, camera_z)  # last: what presets store is the new model's
        return FrameState(
            model=self.rig.spec,
            ws=ws,
            noise=snapshot["generator.noise"],
            noise_seed=self._noise_seed(snapshot["generator.noise"]),
            manipulation=manipulation_of(snapshot, self._corruption_phase),
            fade=Fade(fade.rig.spec, old_ws, fade.weight(now)) if fade else None,
            blend=blend,
        )

    def close(self) -> None:
        """Stop the blend's worker and the rig's threads (the bank closes the rigs it loaded)."""
        self.blend.close()
        self.rig.close()

    def _advance(self, snapshot: Mapping, signals: Signals, dt: float) -> None:
        """Move the drifts and the walk on by `dt`; with a tempo, the walk's keys land on every walk.beats-th
        beat of `tempo.count` (the session's under Link, so keys fall on Ableton Live's bars)."""
        self._phase += snapshot["latent.drift"] / 60.0 * dt
        self._corruption_phase += snapshot["corruption.drift"] / 60.0 * dt
        if snapshot["walk.mode"] == "off":
            return
        bpm = snapshot["tempo.bpm"]
        seconds = step_seconds(snapshot["walk.step"], bpm, snapshot["walk.beats"])
        self.walk.advance(dt, seconds)
        count = signals.get("tempo.count")
        if bpm > 0 and count is not None:
            self.walk.lock(count / snapshot["walk.beats"], dt, seconds)

    def _switch(self, snapshot: Mapping, now: float) -> None:
        """At this frame boundary, show the model `model.slot` names if it is resident (it loads beside the
        loop otherwise); with `model.fade` > 0 the model on screen fades out over that many seconds."""
        if self.models is None or snapshot["model.slot"] == self._slot:
            return
        slot = snapshot["model.slot"]
        rig = self.models.rig_for(slot)
        if rig is None:
            return
        seconds = snapshot["model.fade"]
        self._fade = ModelFade(self.rig, self._slot, now, seconds) if seconds > 0 else None
        self.rig, self._slot = rig, slot
        self.models.shown(slot, rig)
        log.info("showing model %s%s", self.models.name(slot), f" (a {seconds:g} s crossfade)" if seconds > 0 else "")

    def _fading(self, now: float) -> ModelFade | None:
        """The crossfade of this frame, None once it is over (or its model left the device)."""
        if self._fade is not None and (self._fade.weight(now) >= 1 or self._fade.rig.closed):
            self._fade = None
        return self._fade

    def _blended(self, snapshot: Mapping) -> tuple[Rig, Blend | None]:
        """The rig to compose with (with `model.blend` > 0, the shown model's weights mixed with another's once
        that one is loaded and the mixed copy made, both beside the loop), and the frame's blend."""
        self._blend_rig = None
        amount = snapshot["model.blend"] if self.models is not None else 0.0
        if amount <= 0:
            return self.rig, None
        other = self.models.rig_for(snapshot["model.blend.slot"])
        layers = str(snapshot["model.blend.layers"])
        rig = self.blend.rig(self.rig, other, amount, layers)
        if rig is self.rig:
            return rig, None
        self._blend_rig = other
        return rig, Blend(other.spec, float(amount), layers)

    def _compose(self, rig: Rig, snapshot: Mapping, signals: Signals, camera_z: torch.Tensor | None) -> torch.Tensor:
        """`rig`'s w+ for this frame: the same seed, walk and phase for every model."""
        return rig.composer.compose(snapshot, signals, self._phase, camera_z, walk=self.walk.position)

    def _noise_seed(self, mode: str) -> int | None:
        """A new seed for this frame's noise when it is random; None when the noise draws nothing."""
        return int(self._noise_seeds.integers(2**63 - 1)) if mode == "random" else None
