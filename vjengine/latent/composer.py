"""The frame's w+ from the parameter snapshot, the analysis signals and the generator's constants."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn

from vjengine.errors import VJError
from vjengine.kit import SayOnce
from vjengine.latent.morph import Anchor, PresetPlayer
from vjengine.latent.regions import layer_range, mix_ws
from vjengine.latent.walk import closed_spline

log = logging.getLogger(__name__)


def seed_latents(seed: int, z_dim: int, count: int = 2) -> np.ndarray:
    """`count` z vectors for a seed; the first is NVIDIA's `RandomState(seed).randn(z_dim)`."""
    return np.random.RandomState(seed).randn(count, z_dim)


def standardize(z: torch.Tensor, strength: float) -> torch.Tensor:
    """Move each row toward zero mean and unit variance, where G.mapping expects its input."""
    if strength <= 0:
        return z
    normal = (z - z.mean(dim=1, keepdim=True)) / z.std(dim=1, keepdim=True).clamp_min(1e-6)
    return torch.lerp(z, normal, strength)


def load_anchor(path: str, num_ws: int, w_dim: int) -> np.ndarray:
    """A saved w (`project`'s .npy): float32 [num_ws, w_dim] or [w_dim]; VJError saying why it cannot be used."""
    try:
        w = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise VJError(f"{path} does not exist; give a .npy w that 'vjengine project' wrote") from None
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise VJError(f"cannot read {path} as a .npy array ({reason})") from None
    if not np.issubdtype(w.dtype, np.number) or w.shape[-1:] != (w_dim,) or w.ndim not in (1, 2):
        raise VJError(f"{path} has shape {tuple(w.shape)}; this model needs ({num_ws}, {w_dim}) or ({w_dim},)")
    if w.ndim == 2 and w.shape[0] != num_ws:
        raise VJError(f"{path} has shape {tuple(w.shape)}; this model needs ({num_ws}, {w_dim}) or ({w_dim},)")
    return w.astype(np.float32)


def text_checks(generator: nn.Module) -> dict[str, Callable[[str], object]]:
    """The composer's text parameters, checked against `generator` (see `ParamStore.add_check`)."""
    num_ws, arch = generator.num_ws, generator.arch
    return {
        "latent.anchor": lambda path: load_anchor(path, num_ws, generator.w_dim),
        "preset.style": lambda spec: layer_range(spec, num_ws, arch),
        "visual.assign": lambda spec: [layer_range(p, num_ws, arch) for p in spec.split(",") if p.strip()],
    }


class LatentComposer:
    """Builds `[1, num_ws, w_dim]` for a frame.

    The anchor is the seed's z; `latent.drift` moves it around a great circle through a second z of
    the same seed (so it stays a typical Gaussian sample), driven by a phase the engine integrates.
    Then `G.mapping` with truncation toward `w_avg`. When the camera drives, each region's z goes
    through `G.mapping` too and replaces the w layers `visual.assign` gives it (style mixing),
    `visual.mix` of the way. The result depends only on the arguments; the anchor's mapping is
    cached while they stay the same.
    """

    def __init__(self, generator: nn.Module, device: torch.device, presets: PresetPlayer | None = None) -> None:
        self.G = generator
        self.device = device
        self._anchor: tuple[int, torch.Tensor] | None = None
        self._cached: tuple[tuple, tuple[torch.Tensor, np.ndarray]] | None = None
        self._label: torch.Tensor | None = None
        self._label_class: int | None = None
        self._assignment: tuple[str, int, list[range]] | None = None
        self._said = SayOnce(log)  # bad specs: this runs every frame
        self._saved: tuple[str, torch.Tensor | None] | None = None
        self._walk_keys: tuple[tuple[int, int], torch.Tensor] | None = None
        self.presets = presets
        # Functions (ws, snapshot) -> ws applied after presets, before the camera (directions).
        self.offsets: list[Callable[[torch.Tensor, Mapping], torch.Tensor]] = []

    def anchor(self, seed: int) -> torch.Tensor:
        """[2, z_dim]: the seed's z and the second point of its drift circle."""
        if self._anchor is None or self._anchor[0] != seed:
            z = torch.from_numpy(seed_latents(seed, self.G.z_dim)).to(self.device, torch.float32)
            self._anchor = (seed, z)
        return self._anchor[1]

    def compose(
        self,
        snapshot: Mapping,
        signals: Mapping[str, float],
        phase: float,
        camera_z: torch.Tensor | None = None,
        walk: float = 0.0,
    ) -> torch.Tensor:
        """w+ for one frame; `phase` (in loops) places the anchor on its drift circle, `walk` (in keys)
        places it on the latent walk when `walk.mode` is on, and `camera_z` ([regions, z_dim]) are the
        camera's latents, None when the camera drives nothing."""
        self._use_class(snapshot["latent.class"])
        anchor = self.anchor_for(snapshot, phase, walk)
        ws = anchor.ws
        if self.presets is not None:
            ws = self.presets.blend(anchor, snapshot)
            if snapshot["preset.style"]:
                ws = self.presets.style_mix(ws, anchor, snapshot, self._rows("preset.style", snapshot["preset.style"]))
        for offset in self.offsets:
            ws = offset(ws, snapshot)
        ws = self._camera(ws, snapshot, camera_z)
        if self.presets is not None:
            plain = ws is anchor.ws and snapshot["walk.mode"] == "off"
            self.presets.shown(ws, snapshot["truncation.psi"], anchor.z if plain else None)
        return ws

    def _use_class(self, wanted: int) -> None:
        """A conditional model's one-hot label for `latent.class` (its last class above it); the
        anchor's and the walk's cached mappings go with a change of class."""
        c_dim = self.G.c_dim
        chosen = min(int(wanted), c_dim - 1) if c_dim else None
        if chosen == self._label_class and (self._label is not None or not c_dim):
            return
        self._label_class = chosen
        self._label = None if chosen is None else torch.eye(c_dim, device=self.device)[chosen : chosen + 1]
        self._cached = None
        self._walk_keys = None

    def anchor_for(self, snapshot: Mapping, phase: float, walk: float = 0.0) -> Anchor:
        """The frame's anchor before presets, directions and camera: a walk, a saved w or the seed."""
        psi, cutoff = snapshot["truncation.psi"], snapshot["truncation.cutoff"]
        mode = snapshot["walk.mode"]
        z = None
        if mode == "seeds":
            ws = self._walk_seeds(snapshot["latent.seed"], snapshot["walk.length"], walk, psi, cutoff)
        elif mode == "presets" and self.presets is not None and len(self.presets.bank) > 1:
            ws = self._walk_presets(walk, psi)
        else:
            ws, z = self._anchor_ws(snapshot, phase)
        return Anchor(ws, z, self.G.mapping.w_avg, lambda z_: self._map(z_, psi, cutoff))

    def _camera(self, ws: torch.Tensor, snapshot: Mapping, camera_z: torch.Tensor | None) -> torch.Tensor:
        mix = snapshot["visual.mix"]
        if camera_z is None or mix <= 0:
            return ws
        ranges = self.assignment(snapshot["visual.assign"], camera_z.shape[0])
        z = standardize(camera_z, snapshot["visual.standardize"])
        label = None if self._label is None else self._label.expand(z.shape[0], -1)
        psi, cutoff = snapshot["truncation.psi"], snapshot["truncation.cutoff"]
        cutoff = cutoff if 0 < cutoff < self.G.num_ws else None
        camera_ws = self.G.mapping(z, label, truncation_psi=psi, truncation_cutoff=cutoff)
        return mix_ws(ws[0], camera_ws[: len(ranges)], ranges, mix).unsqueeze(0)

    def assignment(self, spec: str, regions: int) -> list[range]:
        """The w-layer range of each region from `visual.assign` ("coarse,middle"; regions beyond
        the list drive nothing). A bad spec is logged once and the last good one kept."""
        if self._assignment and self._assignment[:2] == (spec, regions):
            return self._assignment[2]
        arch = self.G.arch
        try:
            parts = [p.strip() for p in spec.split(",") if p.strip()]
            ranges = [layer_range(p, self.G.num_ws, arch) for p in parts][:regions]
        except VJError as exc:
            self._said(("visual.assign", spec), "visual.assign: %s; keeping the previous assignment", exc)
            return self._assignment[2] if self._assignment else []
        self._assignment = (spec, regions, ranges)
        return ranges

    def _rows(self, name: str, spec: str) -> range:
        """The w rows a layer spec names; a bad spec is logged once and selects nothing."""
        arch = self.G.arch
        try:
            return layer_range(spec, self.G.num_ws, arch)
        except VJError as exc:
            self._said((name, spec), "%s: %s", name, exc)
            return range(0)

    def saved_anchor(self, path: str) -> torch.Tensor | None:
        """[1, num_ws, w_dim] from a .npy w, or None (logged once) when it cannot be used."""
        if self._saved and self._saved[0] == path:
            return self._saved[1]
        ws = None
        try:
            w = torch.from_numpy(load_anchor(path, self.G.num_ws, self.G.w_dim)).to(self.device)
            ws = (w if w.ndim == 2 else w.expand(self.G.num_ws, -1)).unsqueeze(0)
        except VJError as exc:
            log.warning("latent.anchor cannot be used: %s; anchoring on the seed", exc)
        self._saved = (path, ws)
        return ws

    def _anchor_ws(self, snapshot: Mapping, phase: float) -> tuple[torch.Tensor, np.ndarray | None]:
        seed, psi, cutoff = snapshot["latent.seed"], snapshot["truncation.psi"], snapshot["truncation.cutoff"]
        saved = self.saved_anchor(snapshot["latent.anchor"]) if snapshot["latent.anchor"] else None
        if saved is not None:
            return self._truncate(saved, psi, cutoff), None
        key = (seed, round(phase % 1.0, 9), round(psi, 9), cutoff)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        z0, z1 = self.anchor(seed)
        angle = 2 * math.pi * phase
        z = (z0 * math.cos(angle) + z1 * math.sin(angle)).unsqueeze(0)
        result = self._map(z, psi, cutoff), z[0].cpu().numpy()
        self._cached = (key, result)
        return result

    def _map(self, z: np.ndarray | torch.Tensor, psi: float, cutoff: int) -> torch.Tensor:
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device).reshape(1, -1)
        cutoff = cutoff if 0 < cutoff < self.G.num_ws else None
        return self.G.mapping(z, self._label, truncation_psi=psi, truncation_cutoff=cutoff)

    def _truncate(self, ws: torch.Tensor, psi: float, cutoff: int) -> torch.Tensor:
        rows = cutoff if 0 < cutoff < self.G.num_ws else self.G.num_ws
        out = ws.clone()
        out[:, :rows] = self.G.mapping.w_avg.lerp(ws[:, :rows], psi)
        return out

    def _walk_seeds(self, seed: int, length: int, position: float, psi: float, cutoff: int) -> torch.Tensor:
        key = (seed, length)
        if self._walk_keys is None or self._walk_keys[0] != key:
            z = np.stack([seed_latents(s % 2**31, self.G.z_dim, 1)[0] for s in range(seed, seed + length)])
            label = None if self._label is None else self._label.expand(length, -1)
            z_t = torch.from_numpy(z).to(self.device, torch.float32)
            self._walk_keys = (key, self.G.mapping(z_t, label, truncation_psi=1.0))
        point = closed_spline(self._walk_keys[1], position)
        return self._truncate(point.unsqueeze(0), psi, cutoff)

    def _walk_presets(self, position: float, psi: float) -> torch.Tensor:
        assert self.presets is not None
        bank = self.presets.bank
        keys = []
        for slot in bank.slots():
            preset = bank.get(slot)
            ws = torch.from_numpy(preset.ws).to(self.device)
            if preset.psi != 0 and psi != preset.psi:
                ws = self.G.mapping.w_avg + (ws - self.G.mapping.w_avg) * (psi / preset.psi)
            keys.append(ws)
        return closed_spline(torch.stack(keys), position).unsqueeze(0)
