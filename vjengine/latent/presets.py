"""A bank of named looks: each preset is a w+ latent (`.npy`) plus the parameter values that shape it.

On disk a bank is a folder with `presets.json` (versioned, readable, hand-editable) and one
`NNN-name.npy` per preset, `[num_ws, w_dim]` float32:

    {"format": "vjengine-presets", "version": 1,
     "presets": [{"slot": 1, "name": "venue", "latents": "001-venue.npy", "model": "ffhq",
                  "psi": 0.7, "params": {"truncation.psi": 0.7, "corruption.gain": 0.2}}]}

`psi` is the truncation the latent was stored with: recalling it with another `truncation.psi`
scales its distance from `w_avg` by the ratio, so the truncation knob keeps working on presets.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vjengine.errors import VJError
from vjengine.files import atomic_write
from vjengine.params import ParamError, ParamStore

log = logging.getLogger(__name__)

FORMAT = "vjengine-presets"
VERSION = 1
INDEX = "presets.json"
MAX_SLOT = 127  # a MIDI note or program number can name every slot

# What a look is made of besides its latent; the rest (fps, camera analysis settings) stays as it is.
PRESET_GROUPS = ("latent", "corruption", "transform", "direction")
PRESET_EXTRA = ("visual.mix", "visual.layout", "visual.assign", "generator.noise")
NOT_IN_PRESETS = ("latent.anchor", "preset.a", "preset.b", "preset.fade", "preset.recall")


class PresetError(VJError):
    """A preset or bank that cannot be read, written or recalled; the message names the file or slot."""


@dataclass
class Preset:
    """One look: `ws` [num_ws, w_dim], the parameter values that matter, and where it came from."""

    slot: int
    ws: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    model: str = ""
    psi: float = 1.0
    z: np.ndarray | None = None  # the seed's z when the look came from a seed anchor (for slerp in Z)

    @property
    def label(self) -> str:
        return f"preset {self.slot}" + (f" ({self.name})" if self.name else "")


def preset_params(store: ParamStore) -> dict[str, Any]:
    """The current values of the parameters a preset keeps."""
    names = [
        name
        for name, param in store.params.items()
        if (param.group in PRESET_GROUPS or name in PRESET_EXTRA) and name not in NOT_IN_PRESETS
    ]
    return {name: _plain(store.get(name)) for name in names}


class PresetBank:
    """The presets of one folder; every change is written through to disk at once (atomically)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._presets: dict[int, Preset] = {}
        if (self.directory / INDEX).exists():
            self._presets = {p.slot: p for p in _read_bank(self.directory)}

    def __contains__(self, slot: object) -> bool:
        return slot in self._presets

    def __len__(self) -> int:
        return len(self._presets)

    def slots(self) -> list[int]:
        return sorted(self._presets)

    def get(self, slot: int) -> Preset:
        try:
            return self._presets[check_slot(slot)]
        except KeyError:
            stored = ", ".join(map(str, self.slots())) or "none yet"
            raise PresetError(f"preset {slot} is empty (stored: {stored}); store one with /vj/preset/store") from None

    def store(self, preset: Preset, keep_unsaved: bool = True) -> Preset:
        """Add or replace the preset in its slot and write the bank.

        Live (`keep_unsaved`), a failed write keeps the preset for the session and warns; a one-shot command
        passes False and gets a PresetError instead, as it has no session to keep it for."""
        check_slot(preset.slot)
        ws = np.asarray(preset.ws, dtype=np.float32)
        if ws.ndim != 2:
            raise PresetError(f"preset {preset.slot}: latents must be [num_ws, w_dim], got shape {ws.shape}")
        preset.ws = ws
        old = self._presets.get(preset.slot)
        self._presets[preset.slot] = preset
        try:
            self._write(preset, old)
        except OSError as exc:  # the show goes on with the preset in memory; the VJ must know it is not saved
            if not keep_unsaved:
                self._presets.pop(preset.slot)
                if old is not None:
                    self._presets[preset.slot] = old
                reason = exc.strerror or exc
                raise PresetError(f"preset {preset.slot}: writing {self.directory} failed ({reason})") from None
            log.warning(
                "preset %d is kept for this session only: writing %s failed (%s); "
                "give --presets a folder you can write",
                preset.slot,
                self.directory,
                exc.strerror or exc,
            )
        return preset

    def delete(self, slot: int) -> None:
        old = self._presets.pop(check_slot(slot), None)
        if old is not None:
            self._write_index()
            for name in _files(old):
                (self.directory / name).unlink(missing_ok=True)

    def _write(self, preset: Preset, old: Preset | None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write(self.directory / _latent_file(preset), lambda f: np.save(f, preset.ws, allow_pickle=False))
        if preset.z is not None:
            z = np.asarray(preset.z, dtype=np.float32)
            atomic_write(self.directory / _z_file(preset), lambda f: np.save(f, z, allow_pickle=False))
        self._write_index()
        if old is not None:
            for name in {_latent_file(old), _z_file(old)} - set(_files(preset)):
                (self.directory / name).unlink(missing_ok=True)

    def _write_index(self) -> None:
        rows = [_row(p) for _, p in sorted(self._presets.items())]
        text = json.dumps({"format": FORMAT, "version": VERSION, "presets": rows}, indent=2) + "\n"
        atomic_write(self.directory / INDEX, lambda f: f.write(text.encode("utf-8")))


def _row(preset: Preset) -> dict[str, Any]:
    return {
        "slot": preset.slot,
        "name": preset.name,
        "latents": _latent_file(preset),
        "model": preset.model,
        "psi": preset.psi,
        "params": preset.params,
        **({"z": _z_file(preset)} if preset.z is not None else {}),
    }


def _stem(preset: Preset) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", preset.name).strip("-")[:40]
    return f"{preset.slot:03d}" + (f"-{safe}" if safe else "")


def _latent_file(preset: Preset) -> str:
    return _stem(preset) + ".npy"


def _z_file(preset: Preset) -> str:
    return _stem(preset) + ".z.npy"


def _files(preset: Preset) -> list[str]:
    return [_latent_file(preset)] + ([_z_file(preset)] if preset.z is not None else [])


def _read_bank(directory: Path) -> list[Preset]:
    index = directory / INDEX
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(f"cannot read {index}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PresetError(f"{index} is not valid JSON ({exc}); fix it or move the folder away") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PresetError(f'{index} is not a vjengine preset bank (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise PresetError(f"{index} is preset format version {data.get('version')!r}; this vjengine reads {VERSION}")
    rows = data.get("presets")
    if not isinstance(rows, list):
        raise PresetError(f'{index}: "presets" must be a list')
    return [_read_preset(directory, row, i) for i, row in enumerate(rows)]


def _read_preset(directory: Path, row: Any, position: int) -> Preset:
    where = f"{directory / INDEX}, preset #{position + 1}"
    if not isinstance(row, dict) or not isinstance(row.get("slot"), int) or not isinstance(row.get("latents"), str):
        raise PresetError(f'{where}: needs an integer "slot" and a "latents" file name')
    ws = _load_array(directory, row["latents"], where)
    if ws.ndim != 2:
        raise PresetError(f"{where}: {row['latents']} must hold [num_ws, w_dim] latents, got shape {ws.shape}")
    z = _load_array(directory, row["z"], where) if isinstance(row.get("z"), str) else None
    params = row.get("params", {})
    if not isinstance(params, dict):
        raise PresetError(f'{where}: "params" must be a table of parameter values')
    psi = row.get("psi", 1.0)
    if not isinstance(psi, (int, float)):
        raise PresetError(f'{where}: "psi" must be a number')
    name, model = str(row.get("name", "")), str(row.get("model", ""))
    return Preset(check_slot(row["slot"]), ws.astype(np.float32), params, name, model, float(psi), z)


def _load_array(directory: Path, name: str, where: str) -> np.ndarray:
    path = directory / Path(name).name  # never outside the bank's folder
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise PresetError(f"{where}: its file {path} is missing") from None
    except (OSError, ValueError) as exc:
        raise PresetError(f"{where}: cannot read {path} ({exc})") from None
    if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
        raise PresetError(f"{where}: {path} must hold finite floating-point numbers")
    return array


def check_slot(slot: Any) -> int:
    """`slot` as an int, or a one-line PresetError unless it is a whole number from 1 to MAX_SLOT."""
    if isinstance(slot, bool) or not isinstance(slot, (int, np.integer)) or not 1 <= slot <= MAX_SLOT:
        raise PresetError(f"preset slot {slot!r}: use a whole number from 1 to {MAX_SLOT}")
    return int(slot)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def apply_params(store: ParamStore, values: Mapping[str, Any], origin: str, immediate: bool = False) -> dict[str, Any]:
    """Set a preset's parameter values at once (source "preset", so MIDI pick-up holds the knobs); smoothed
    ones glide there unless `immediate`.

    Unknown names and bad values are skipped with one warning each: a bank written by a newer
    version or edited by hand still recalls what it can.
    """
    good: dict[str, Any] = {}
    for name, value in values.items():
        if name in NOT_IN_PRESETS:
            continue
        try:
            good[name] = store.accept(name, value)
        except ParamError as exc:
            log.warning("%s: skipped %s", origin, exc)
    return store.set_many(good, source="preset", immediate=immediate)


def interpolate(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Linear in W: exactly `a` at 0 and exactly `b` at 1."""
    if t <= 0:
        return a
    if t >= 1:
        return b
    return a + (b - a) * np.float32(t)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation row by row (for Gaussian z, which lives near a sphere)."""
    if t <= 0:
        return a
    if t >= 1:
        return b
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a64, axis=-1, keepdims=True), np.linalg.norm(b64, axis=-1, keepdims=True)
    cos = np.clip(np.sum(a64 * b64, axis=-1, keepdims=True) / np.maximum(na * nb, 1e-12), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    safe = sin > 1e-6
    wa = np.where(safe, np.sin((1 - t) * omega) / np.where(safe, sin, 1), 1 - t)
    wb = np.where(safe, np.sin(t * omega) / np.where(safe, sin, 1), t)
    return (wa * a64 + wb * b64).astype(a.dtype)


def describe(presets: Iterable[Preset]) -> str:
    """One line per preset, for logs and `vjengine presets`."""
    return "\n".join(f"{p.slot:>3}  {p.name or '-':<20} {p.model or '-':<24} psi {p.psi:g}" for p in presets)
