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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vjengine.errors import VJError
from vjengine.files import make_folder

log = logging.getLogger(__name__)

FORMAT = "vjengine.recording/1"
# Per-frame numbers kept beside the latents: what else decides how a frame looks.
STATE = (
    "corruption.gain",
    "corruption.seed",
    "corruption.phase",
    "corruption.warp",
    "transform.rotate",
    "transform.x",
    "transform.y",
    "transform.scale",
)


def portable_model(spec: str) -> str:
    """The model spec to store in a recording: a local file as an absolute path, so `render` finds it from
    any folder; other specs (random, zoo names, URLs) as they are."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.is_file() else spec


class Recorder:
    """Appends each frame's w+ to a scratch file (so hours of a set do not fill memory) and writes
    the `.npz` on `close()`: `ws` [frames, num_ws, w_dim] float32, `time` [frames] seconds from the
    first frame, `noise` (the mode) and `noise_seed` (int64, -1 where the noise was not random) per
    frame, and `meta` (JSON: format, model, parameters at the start)."""

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
        self._scratch = tempfile.TemporaryFile()  # noqa: SIM115 (it lives until close())
        self._shape: tuple[int, ...] | None = None
        self._times: list[float] = []
        self._noise: list[str] = []
        self._noise_seeds: list[int] = []
        self._state: list[list[float]] = []

    def add(self, ws: torch.Tensor, state: dict, now: float, noise_seed: int | None = None) -> None:
        """Keep one frame: `ws` [1, num_ws, w_dim] and the state it was rendered with
        (`generator.noise` and the STATE numbers), and the seed of its random noise (see `seeded_noise`)."""
        array = ws[0].detach().to("cpu", torch.float32).numpy()
        self._shape = array.shape
        self._scratch.write(array.tobytes())
        self._times.append(now)
        self._noise.append(state["generator.noise"])
        self._noise_seeds.append(-1 if noise_seed is None else noise_seed)
        self._state.append([float(state[name]) for name in STATE])

    def close(self) -> Path | None:
        """Write the .npz; returns its path, or None when no frame was recorded."""
        if self._shape is None:
            self._scratch.close()
            self._file.close()
            self.path.unlink(missing_ok=True)
            return None
        self._scratch.seek(0)
        ws = np.frombuffer(self._scratch.read(), np.float32).reshape(-1, *self._shape)
        times = np.asarray(self._times) - self._times[0]
        state = np.asarray(self._state, dtype=np.float64)
        meta = json.dumps({**self.meta, "state": list(STATE)})
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
                )
        except OSError as exc:
            raise VJError(f"--record {self.path}: writing the recording failed ({exc.strerror})") from None
        finally:
            self._scratch.close()
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

    def frame_noise_seed(self, i: int) -> int | None:
        """The seed frame i's random noise was drawn with, or None (not random, or not recorded)."""
        if self.noise_seed is None or self.noise_seed[i] < 0:
            return None
        return int(self.noise_seed[i])

    def frame_state(self, i: int) -> dict:
        """Frame i's state by name (as the engine's snapshot spells it)."""
        return dict(zip(self.meta["state"], self.state[i].tolist(), strict=True))

    def resample(self, fps: float) -> Recording:
        """The latents at a new frame rate, linearly interpolated in W between recorded frames."""
        times = np.arange(0.0, float(self.time[-1]) + 1e-9, 1.0 / fps)
        index = np.clip(np.searchsorted(self.time, times, side="right") - 1, 0, len(self.time) - 1)
        nxt = np.minimum(index + 1, len(self.time) - 1)
        span = np.maximum(self.time[nxt] - self.time[index], 1e-9)
        frac = np.clip((times - self.time[index]) / span, 0.0, 1.0)[:, None, None]
        ws = (self.ws[index] * (1 - frac) + self.ws[nxt] * frac).astype(np.float32)
        state = self.state[index] * (1 - frac[:, :, 0]) + self.state[nxt] * frac[:, :, 0]
        state[:, self.meta["state"].index("corruption.seed")] = self.state[
            index, self.meta["state"].index("corruption.seed")
        ]
        seeds = None if self.noise_seed is None else self.noise_seed[index]  # a frame between keeps the one before's
        return Recording(ws, times, self.noise[index], state, self.meta, seeds)


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
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise VJError(f"{path} is not a vjengine recording ({exc})") from None
    seeds = recording.noise_seed
    if (
        meta.get("format") != FORMAT
        or recording.ws.ndim != 3
        or len(recording.time) != len(recording.ws)
        or (seeds is not None and seeds.shape != recording.time.shape)
    ):
        raise VJError(f"{path} is not a vjengine recording (format {meta.get('format')!r})")
    return recording


def noise_generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A torch generator on `device` seeded with a frame's noise seed, or None (no seed: the noise
    is not random). The live engine and `render` hand it to `G.synthesis` as `noise_generator`:
    the frame's random noise then comes from it alone, whatever other threads draw from torch's
    shared generator meanwhile, which is what makes a re-render bit for bit with random noise."""
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(seed)
