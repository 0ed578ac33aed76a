"""Recording a performance (the w+ of every frame and the state that shaped it) and rendering it again.

A VJ plays live on whatever the laptop manages, with `--record set.npz`; afterwards
`vjengine render set.npz --output file:set.mp4` renders the same frames again, exactly with the live
settings, or at another frame rate by interpolating the recorded latents.
"""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vjengine.engine.frame import MANIPULATION, Blend, Fade, FrameState
from vjengine.errors import VJError
from vjengine.files import make_folder
from vjengine.models import portable_model

log = logging.getLogger(__name__)

FORMAT = "vjengine.recording/1"
STATE = MANIPULATION  # the per-frame numbers kept beside the latents: what else decides how a frame looks


class _Latents:
    """w+ of frames, appended to a scratch file (so hours of a set do not fill memory) with their shapes."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 (it lives until close())
        self.shapes: list[tuple[int, int]] = []

    def add(self, ws: torch.Tensor) -> None:
        array = ws[0].detach().to("cpu", torch.float32).numpy()
        self.shapes.append(array.shape)
        self.file.write(array.tobytes())

    def read(self) -> np.ndarray:
        """[frames, rows, dim]: models with fewer w rows or a smaller w are zero-padded to the largest."""
        self.file.seek(0)
        rows = max((r for r, _ in self.shapes), default=0)
        dim = max((d for _, d in self.shapes), default=0)
        if len(set(self.shapes)) <= 1:
            return np.frombuffer(self.file.read(), np.float32).reshape(len(self.shapes), rows, dim)
        out = np.zeros((len(self.shapes), rows, dim), np.float32)
        for i, (r, d) in enumerate(self.shapes):
            out[i, :r, :d] = np.frombuffer(self.file.read(r * d * 4), np.float32).reshape(r, d)
        return out

    def close(self) -> None:
        self.file.close()


class Recorder:
    """Appends each frame's w+ to a scratch file and writes the `.npz` on `close()`: `ws` [frames, num_ws,
    w_dim] float32, `time` [frames] seconds from the first frame, `noise` (the mode) and `noise_seed` (int64,
    -1 where the noise was not random) per frame, and `meta` (JSON: format, model, parameters at the start).

    A set that switches models also keeps `model` (each frame's index into meta's `models`, each with its
    `num_ws` and `w_dim`; `ws` is zero-padded to the largest), and for frames inside a crossfade the model
    fading out: `fade_frame`, `fade_model`, `fade_weight` (how much of the new model shows) and `ws_from`; for
    frames rendered with `model.blend`, `blend_frame`, `blend_model`, `blend_amount` and `blend_layers`."""

    def __init__(self, path: str | Path, model: str, params: dict) -> None:
        self.path = Path(path)
        if self.path.suffix != ".npz":
            raise VJError(f"--record {path}: the recording is an .npz file, e.g. --record set.npz")
        # Opened now, so a path that cannot be written fails before the show, not after it.
        make_folder(self.path.parent, f"--record {path}")
        try:
            self._file = self.path.open("wb")
        except OSError as exc:
            raise VJError(
                f"--record {path}: cannot write there ({exc.strerror}); give a path in a folder you own"
            ) from None
        self.meta = {"format": FORMAT, "model": portable_model(model), "params": params}
        self._model = model
        self._latents = _Latents()
        self._from = _Latents()  # the fading-out model's w+, for frames inside a crossfade
        self._models: list[dict] = []
        self._model_index: list[int] = []
        self._fades: list[tuple[int, int, float]] = []  # (frame, model, weight of the new model)
        self._blends: list[tuple[int, int, float, str]] = []  # (frame, model blended toward, amount, layers)
        self._times: list[float] = []
        self._noise: list[str] = []
        self._noise_seeds: list[int] = []
        self._state: list[list[float]] = []

    def add(self, state: FrameState, now: float) -> None:
        """Keep one frame's state, rendered at `now` (the engine's clock): its w+, model, noise and manipulation
        numbers and, when they apply, the crossfade from another model and the weight blend toward one."""
        if state.fade is not None:
            self._fades.append((len(self._times), self._index(state.fade.model, state.fade.ws), state.fade.weight))
            self._from.add(state.fade.ws)
        if state.blend is not None:
            blend = state.blend
            self._blends.append((len(self._times), self._index(blend.model, state.ws), blend.amount, blend.layers))
        self._model_index.append(self._index(state.model or self._model, state.ws))
        self._latents.add(state.ws)
        self._times.append(now)
        self._noise.append(state.noise)
        self._noise_seeds.append(-1 if state.noise_seed is None else state.noise_seed)
        self._state.append([float(state.manipulation[name]) for name in STATE])

    def _index(self, model: str, ws: torch.Tensor) -> int:
        spec = portable_model(model)
        for i, known in enumerate(self._models):
            if known["spec"] == spec:
                return i
        self._models.append({"spec": spec, "num_ws": int(ws.shape[-2]), "w_dim": int(ws.shape[-1])})
        return len(self._models) - 1

    def close(self) -> Path | None:
        """Write the .npz; returns its path, or None when no frame was recorded."""
        if not self._times:
            self._latents.close()
            self._from.close()
            self._file.close()
            self.path.unlink(missing_ok=True)
            return None
        ws = self._latents.read()
        times = np.asarray(self._times) - self._times[0]
        state = np.asarray(self._state, dtype=np.float64)
        meta = json.dumps({**self.meta, "model": self._models[0]["spec"], "models": self._models, "state": list(STATE)})
        fades = np.asarray(self._fades, dtype=np.float64).reshape(-1, 3)
        ws_from = self._from.read() if self._fades else np.zeros((0, *ws.shape[1:]), np.float32)
        try:
            with self._file:
                np.savez(
                    self._file,
                    ws=ws,
                    time=times,
                    noise=np.asarray(self._noise),
                    noise_seed=np.asarray(self._noise_seeds, dtype=np.int64),
                    state=state,
                    meta=meta,
                    model=np.asarray(self._model_index, dtype=np.int16),
                    fade_frame=fades[:, 0].astype(np.int64),
                    fade_model=fades[:, 1].astype(np.int16),
                    fade_weight=fades[:, 2],
                    ws_from=ws_from,
                    blend_frame=np.asarray([b[0] for b in self._blends], dtype=np.int64),
                    blend_model=np.asarray([b[1] for b in self._blends], dtype=np.int16),
                    blend_amount=np.asarray([b[2] for b in self._blends], dtype=np.float64),
                    blend_layers=np.asarray([b[3] for b in self._blends], dtype=str),
                )
        except OSError as exc:
            raise VJError(f"--record {self.path}: writing the recording failed ({exc.strerror})") from None
        finally:
            self._latents.close()
            self._from.close()
        log.info("recorded %d frames to %s", len(ws), self.path)
        return self.path


@dataclass
class Recording:
    """A loaded recording: per-frame latents and state. `noise_seed` is None in recordings made before
    vjengine kept the seeds of random noise."""

    ws: np.ndarray
    time: np.ndarray
    noise: np.ndarray
    state: np.ndarray
    meta: dict
    noise_seed: np.ndarray | None = None
    model: np.ndarray | None = None  # each frame's index into `models`; None: one model throughout
    fade_frame: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    fade_model: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    fade_weight: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ws_from: np.ndarray | None = None
    blend_frame: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    blend_model: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    blend_amount: np.ndarray = field(default_factory=lambda: np.zeros(0))
    blend_layers: np.ndarray = field(default_factory=lambda: np.zeros(0, str))

    @property
    def models(self) -> list[dict]:
        """The models that rendered the set, in order of appearance: `spec`, `num_ws`, `w_dim` each."""
        if "models" in self.meta:
            return self.meta["models"]
        return [{"spec": self.meta["model"], "num_ws": self.ws.shape[1], "w_dim": self.ws.shape[2]}]

    def frame_model(self, i: int) -> int:
        """The index (into `models`) of the model that rendered frame i."""
        return 0 if self.model is None else int(self.model[i])

    def frame_ws(self, i: int) -> np.ndarray:
        """Frame i's w+ [num_ws, w_dim] as its model takes it (without the padding of a mixed set)."""
        shape = self.models[self.frame_model(i)]
        return self.ws[i, : shape["num_ws"], : shape["w_dim"]]

    def frame_blend(self, i: int) -> tuple[int, float, str] | None:
        """With `model.blend`: (the model blended toward, the amount, the layers) of frame i, else None."""
        rows = np.flatnonzero(self.blend_frame == i)
        if len(rows) == 0:
            return None
        row = int(rows[0])
        return int(self.blend_model[row]), float(self.blend_amount[row]), str(self.blend_layers[row])

    def frame_fade(self, i: int) -> tuple[int, np.ndarray, float] | None:
        """Inside a crossfade: (the model fading out, its w+, how much of frame i's model shows), else None."""
        rows = np.flatnonzero(self.fade_frame == i)
        if len(rows) == 0 or self.ws_from is None:
            return None
        row, model = int(rows[0]), int(self.fade_model[rows[0]])
        shape = self.models[model]
        return model, self.ws_from[row, : shape["num_ws"], : shape["w_dim"]], float(self.fade_weight[row])

    def frame_noise_seed(self, i: int) -> int | None:
        """The seed frame i's random noise was drawn with, or None (not random, or not recorded)."""
        if self.noise_seed is None or self.noise_seed[i] < 0:
            return None
        return int(self.noise_seed[i])

    def frame_state(self, i: int) -> dict:
        """Frame i's manipulation numbers by name (as the engine's snapshot spells them)."""
        return dict(zip(self.meta["state"], self.state[i].tolist(), strict=True))

    def frame(self, i: int) -> FrameState:
        """Frame i as the renderer takes it (models named by their recorded spec)."""
        specs = [model["spec"] for model in self.models]
        fade = self.frame_fade(i)
        blend = self.frame_blend(i)
        return FrameState(
            model=specs[self.frame_model(i)],
            ws=_tensor(self.frame_ws(i)),
            noise=str(self.noise[i]),
            noise_seed=self.frame_noise_seed(i),
            manipulation=self.frame_state(i),
            fade=None if fade is None else Fade(specs[fade[0]], _tensor(fade[1]), fade[2]),
            blend=None if blend is None else Blend(specs[blend[0]], blend[1], blend[2]),
        )

    def resample(self, fps: float) -> Recording:
        """The latents at a new frame rate, linearly interpolated in W between recorded frames."""
        times = np.arange(0.0, float(self.time[-1]) + 1e-9, 1.0 / fps)
        index = np.clip(np.searchsorted(self.time, times, side="right") - 1, 0, len(self.time) - 1)
        nxt = np.minimum(index + 1, len(self.time) - 1)
        span = np.maximum(self.time[nxt] - self.time[index], 1e-9)
        frac = np.clip((times - self.time[index]) / span, 0.0, 1.0)[:, None, None]
        models = None if self.model is None else self.model[index]
        if self.model is not None:  # never between two models' latents: they mean different pictures
            frac[self.model[index] != self.model[nxt]] = 0.0
        ws = (self.ws[index] * (1 - frac) + self.ws[nxt] * frac).astype(np.float32)
        state = self.state[index] * (1 - frac[:, :, 0]) + self.state[nxt] * frac[:, :, 0]
        state[:, self.meta["state"].index("corruption.seed")] = self.state[
            index, self.meta["state"].index("corruption.seed")
        ]
        seeds = None if self.noise_seed is None else self.noise_seed[index]  # a frame between keeps the one before's
        fades = _resampled_fades(self, index)
        blends = _resampled_blends(self, index)
        return Recording(ws, times, self.noise[index], state, self.meta, seeds, models, *fades, *blends)


def _resampled_blends(recording: Recording, index: np.ndarray) -> tuple:
    """The blend columns for new frames that each take recorded frame `index[j]`'s blend."""
    row_of = {int(frame): row for row, frame in enumerate(recording.blend_frame)}
    new = [(j, row_of[int(i)]) for j, i in enumerate(index) if int(i) in row_of]
    frames = np.asarray([j for j, _ in new], dtype=np.int64)
    rows = np.asarray([r for _, r in new], dtype=np.int64)
    return frames, recording.blend_model[rows], recording.blend_amount[rows], recording.blend_layers[rows]


def _resampled_fades(recording: Recording, index: np.ndarray) -> tuple:
    """The crossfade columns for new frames that each take recorded frame `index[j]`'s fade."""
    row_of = {int(frame): row for row, frame in enumerate(recording.fade_frame)}
    new = [(j, row_of[int(i)]) for j, i in enumerate(index) if int(i) in row_of]
    frames = np.asarray([j for j, _ in new], dtype=np.int64)
    rows = np.asarray([r for _, r in new], dtype=np.int64)
    ws_from = None if recording.ws_from is None else recording.ws_from[rows]
    return frames, recording.fade_model[rows], recording.fade_weight[rows], ws_from


def load_recording(path: str | Path) -> Recording:
    """Read an .npz written by Recorder; a wrong or damaged file is a one-line VJError."""
    ask = "give the .npz that 'vjengine run --record' wrote"
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise VJError(f"recording {path} does not exist") from None
    except IsADirectoryError:
        raise VJError(f"{path} is a folder; {ask}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        # numpy's own reason would suggest allow_pickle=True for a file that is not numpy's at all: never that.
        raise VJError(f"{path} is not a vjengine recording (not an .npz archive); {ask}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):  # one array, e.g. the latents 'vjengine project' writes
        raise VJError(
            f"{path} is not a vjengine recording but one array (latents, e.g. from 'vjengine project'); {ask}"
        )
    try:
        with data:
            meta = json.loads(str(data["meta"]))
            seeds = data["noise_seed"] if "noise_seed" in data.files else None
            recording = Recording(data["ws"], data["time"], data["noise"], data["state"], meta, seeds)
            if "model" in data.files:  # a set recorded since models could switch
                recording.model = data["model"]
                recording.fade_frame, recording.fade_model = data["fade_frame"], data["fade_model"]
                recording.fade_weight, recording.ws_from = data["fade_weight"], data["ws_from"]
            if "blend_frame" in data.files:  # a set recorded since models could blend
                recording.blend_frame, recording.blend_model = data["blend_frame"], data["blend_model"]
                recording.blend_amount, recording.blend_layers = data["blend_amount"], data["blend_layers"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise VJError(f"{path} is not a vjengine recording ({exc})") from None
    seeds = recording.noise_seed
    if (
        meta.get("format") != FORMAT
        or recording.ws.ndim != 3
        or len(recording.time) != len(recording.ws)
        or (seeds is not None and seeds.shape != recording.time.shape)
        or (recording.model is not None and recording.model.shape != recording.time.shape)
        or (
            recording.model is not None
            and not 0 <= recording.model.min() <= recording.model.max() < len(recording.models)
        )
    ):
        raise VJError(f"{path} is not a vjengine recording (format {meta.get('format')!r})")
    return recording


def _tensor(ws: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(ws))[None]
