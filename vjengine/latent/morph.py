"""Presets live: store the look on screen, recall one with a timed crossfade, morph between two on a fader.

The fader parameters say what to show: `preset.a` and `preset.b` (slots; 0 = the live seed
anchor) blended by `preset.fade`, linear in W (or `preset.curve = slerp`, spherical in Z when both
presets kept their z). A recall points both at the new slot and starts a transition of
`preset.time` seconds from whatever was on screen, so nothing ever jumps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from vjengine.errors import VJError
from vjengine.latent.presets import (
    Preset,
    PresetBank,
    PresetError,
    apply_params,
    preset_params,
    slerp,
)
from vjengine.latent.regions import mix_rows
from vjengine.params import ParamStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Anchor:
    """The live seed anchor of this frame: its w+ and z (None when the anchor is a saved w), and how
    to map another z the same way (G.mapping with the frame's truncation)."""

    ws: torch.Tensor
    z: np.ndarray | None
    w_avg: torch.Tensor
    map_z: Callable[[np.ndarray], torch.Tensor]


@dataclass
class _Transition:
    start_ws: torch.Tensor
    started: float
    duration: float


class PresetPlayer:
    """Stores and recalls presets of a bank and blends their latents into each frame's anchor.

    `store_preset`/`recall` are called from control threads (OSC, MIDI) and, for a recall held for the beat,
    the render loop; `blend` from the render loop.
    """

    def __init__(
        self,
        bank: PresetBank,
        store: ParamStore,
        model: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bank = bank
        self.store = store
        self.model = model  # the spec of the model on screen: stored with each preset
        # Called with a recalled preset's model when it is not the one on screen (the model bank switches).
        self.switch_model: Callable[[str], object] | None = None
        self.clock = clock
        self._lock = threading.Lock()
        self._shown: torch.Tensor | None = None
        self._psi_shown = 1.0
        self._shown_z: np.ndarray | None = None
        self._slerp_note: tuple[int, int] | None = None
        self._transition: _Transition | None = None
        self._tensors: dict[tuple[int, torch.device], torch.Tensor] = {}
        self._mismatched: set[int] = set()

    def store_preset(self, slot: int, name: str = "") -> Preset:
        """Save what is on screen now (its w+ and the look's parameters) in `slot`."""
        with self._lock:
            shown, psi, z = self._shown, self._psi_shown, self._shown_z
        if shown is None:
            raise PresetError(f"preset {slot}: nothing has been rendered yet; store again once frames show")
        ws = shown[0].detach().float().cpu().numpy()
        name = name or (self.bank.get(slot).name if slot in self.bank else "")
        preset = Preset(slot, ws, preset_params(self.store), name, self.model, psi, z)
        preset = self.bank.store(preset)
        self._forget(slot)
        log.info("stored %s", preset.label)
        return preset

    def recall(self, slot: int, seconds: float | None = None) -> Preset | None:
        """Show `slot`: its parameters at once (smoothed ones slew, unless nothing has been shown yet), its
        latent over a crossfade. Controllers ask through `vjengine.control.actions` (which waits for
        `preset.quantize`).

        Slot 0 goes back to the live seed anchor (parameters stay as they are)."""
        preset = self.bank.get(slot) if slot != 0 else None
        if preset is not None:
            with self._lock:
                first = self._shown is None  # a recall before the first frame (`--set preset.recall=3`): no slew
            apply_params(self.store, preset.params, preset.label, immediate=first)
            self._switch_model(preset)
        duration = self.store.get("preset.time") if seconds is None else max(0.0, float(seconds))
        with self._lock:
            if self._shown is not None and duration > 0:
                self._transition = _Transition(self._shown, self.clock(), duration)
        self.store.set_many({"preset.a": slot, "preset.b": slot, "preset.fade": 0.0}, source="preset")
        log.info("recalled %s", preset.label if preset else "the live seed anchor")
        return preset

    def _switch_model(self, preset: Preset) -> None:
        """A preset stored with another model brings its model back (with `model.fade`), when a bank can."""
        if self.switch_model is None or not preset.model or preset.model == self.model:
            return
        try:
            self.switch_model(preset.model)
        except VJError as exc:
            log.warning("%s: its model %s cannot be shown (%s)", preset.label, preset.model, exc)

    def blend(self, anchor: Anchor, snapshot: Mapping) -> torch.Tensor:
        """The frame's base w+ [1, num_ws, w_dim]: the fader blend, inside any running transition."""
        a, b, fade = snapshot["preset.a"], snapshot["preset.b"], snapshot["preset.fade"]
        psi = snapshot["truncation.psi"]
        ws_a = self._ws(a, anchor, psi)
        if a == b or fade <= 0:
            ws = ws_a
        elif fade >= 1:
            ws = self._ws(b, anchor, psi)
        elif snapshot["preset.curve"] == "slerp" and (z := self._slerp_z(a, b, anchor, fade)) is not None:
            ws = anchor.map_z(z)
        else:
            ws = ws_a.lerp(self._ws(b, anchor, psi), float(fade))
        return self._in_transition(ws)

    def style_mix(self, ws: torch.Tensor, anchor: Anchor, snapshot: Mapping, rows: range) -> torch.Tensor:
        """`ws` with the w layers in `rows` taken from preset.b: e.g. a projected face's coarse layers
        (pose, shape) with another look's fine layers (colour, texture)."""
        if not rows or snapshot["preset.a"] == snapshot["preset.b"]:
            return ws
        return mix_rows(ws, self._ws(snapshot["preset.b"], anchor, snapshot["truncation.psi"]), rows)

    def shown(self, ws: torch.Tensor, psi: float, z: np.ndarray | None) -> None:
        """What the frame finally showed (after camera mixing): what `store_preset` saves and transitions
        start from; `z` is the seed anchor's z when the look is the plain seed anchor, else None."""
        with self._lock:
            self._shown, self._psi_shown, self._shown_z = ws, psi, z

    def _ws(self, slot: int, anchor: Anchor, psi: float) -> torch.Tensor:
        if slot == 0 or slot not in self.bank:
            return anchor.ws
        preset = self.bank.get(slot)
        ws = self._tensor(slot, preset, anchor.ws.device)
        if ws.shape[1:] != anchor.ws.shape[1:]:
            if slot not in self._mismatched:  # once per slot: this runs every frame
                self._mismatched.add(slot)
                log.warning(
                    "%s was stored with another model (latents %s, this model's are %s): it shows the live seed",
                    preset.label,
                    "x".join(map(str, ws.shape[1:])),
                    "x".join(map(str, anchor.ws.shape[1:])),
                )
            return anchor.ws
        if preset.psi != 0 and psi != preset.psi:  # keep the truncation knob alive on presets
            ws = anchor.w_avg + (ws - anchor.w_avg) * (psi / preset.psi)
        return ws

    def _slerp_z(self, a: int, b: int, anchor: Anchor, fade: float) -> np.ndarray | None:
        za, zb = (anchor.z if s == 0 else self.bank.get(s).z if s in self.bank else None for s in (a, b))
        if za is None or zb is None or za.shape != zb.shape:
            if self._slerp_note != (a, b):
                self._slerp_note = (a, b)
                log.info("presets %d and %d: no seed z kept for both, so the crossfade is linear in W", a, b)
            return None
        return slerp(za, zb, float(fade))

    def _in_transition(self, ws: torch.Tensor) -> torch.Tensor:
        with self._lock:
            transition = self._transition
        if transition is None:
            return ws
        t = (self.clock() - transition.started) / transition.duration
        if t >= 1 or transition.start_ws.shape != ws.shape:
            with self._lock:
                self._transition = None
            return ws
        eased = t * t * (3 - 2 * t)  # smoothstep: starts and ends at rest
        return transition.start_ws.lerp(ws, eased)

    def _tensor(self, slot: int, preset: Preset, device: torch.device) -> torch.Tensor:
        key = (slot, device)
        if key not in self._tensors:
            self._tensors[key] = torch.from_numpy(preset.ws).to(device).unsqueeze(0)
        return self._tensors[key]

    def _forget(self, slot: int) -> None:
        self._mismatched.discard(slot)
        for key in [k for k in self._tensors if k[0] == slot]:
            del self._tensors[key]
