"""Meaningful directions in W: found without labels (GANSpace, SeFa) or loaded from a file (InterFaceGAN).

- **GANSpace** (Härkönen et al. 2020): PCA of `G.mapping(z)` over many seeded samples. Components come
  in order of the variance of w they explain; a strength is in standard deviations of w along the
  component, so -3..3 spans nearly all of what the generator produces.
- **SeFa** (Shen & Zhou 2021): closed form, no sampling. The style affines that read the chosen w rows
  map w to styles; the directions that change the styles most are the top eigenvectors of A^T A, where
  A stacks those affines' weights (each style row scaled to unit norm, as the paper's code does;
  toRGB affines left out: they colour, they do not shape). A strength is a plain distance in W along
  the unit vector: 1 moves w by 1.

Either way, `Directions.steps()` gives each direction scaled to one unit of strength, and
`apply_directions` adds `sum_k strength_k * step_k` to the w rows of a layer range. Directions are
cached on disk keyed by a fingerprint of the generator's weights, so another model never reuses them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vjengine.downloads import cache_dir
from vjengine.errors import VJError
from vjengine.kit import SayOnce
from vjengine.latent.regions import layer_range

log = logging.getLogger(__name__)

METHODS = ("sefa", "ganspace")
GANSPACE_SAMPLES = 20_000
_BATCH = 2048
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Directions:
    """Directions in W, best first.

    `vectors` [K, w_dim] are unit-norm rows; `values` [K] are SeFa's eigenvalues or GANSpace's explained
    variances (both decreasing); `scales` [K] the W distance of one unit of strength; the layer range
    `[layer_start, layer_end)` is where they were found (SeFa) or meant to be applied (GANSpace);
    `fingerprint` identifies the generator's weights; `total` is the sum of all values (before `top`).
    """

    vectors: np.ndarray
    values: np.ndarray
    scales: np.ndarray
    method: str
    layer_start: int
    layer_end: int
    fingerprint: str
    total: float

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def shares(self) -> np.ndarray:
        """Each direction's share of the total eigenvalue / variance of all directions, in 0..1."""
        return self.values / self.total if self.total > 0 else np.zeros_like(self.values)

    def top(self, k: int) -> Directions:
        """The first `k` directions."""
        return replace(self, vectors=self.vectors[:k], values=self.values[:k], scales=self.scales[:k])

    def steps(self) -> np.ndarray:
        """[K, w_dim]: each direction scaled to one unit of strength, ready for `apply_directions`."""
        return (self.vectors * self.scales[:, None]).astype(np.float32)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp,
            version=_FORMAT_VERSION,
            vectors=self.vectors,
            values=self.values,
            scales=self.scales,
            method=self.method,
            layers=np.array([self.layer_start, self.layer_end]),
            fingerprint=self.fingerprint,
            total=self.total,
        )
        tmp.replace(path)  # atomic: a reader never sees half a file

    @classmethod
    def load(cls, path: Path) -> Directions:
        with np.load(path, allow_pickle=False) as data:
            if int(data["version"]) != _FORMAT_VERSION:
                raise ValueError(f"format version {int(data['version'])}")
            start, end = (int(x) for x in data["layers"])
            return cls(
                data["vectors"],
                data["values"],
                data["scales"],
                str(data["method"]),
                start,
                end,
                str(data["fingerprint"]),
                float(data["total"]),
            )


# ---------------------------------------------------------------- computing


def compute_directions(
    G: nn.Module,
    method: str = "sefa",
    layers: range | None = None,
    *,
    samples: int = GANSPACE_SAMPLES,
    seed: int = 0,
    cache: bool = True,
) -> Directions:
    """All directions of `method` for `G` over the w rows `layers` (default all), from the cache when there.

    The cache file is `cache_dir()/directions/<model>-<fingerprint>-<method>-<layers>[-<samples>-<seed>].npz`;
    a file whose stored fingerprint differs from the generator's is recomputed.
    """
    if method not in METHODS:
        raise VJError(f"unknown direction method {method!r}: use {' or '.join(METHODS)}")
    layers = range(G.num_ws) if layers is None else layers
    if len(layers) == 0 or layers.start < 0 or layers.stop > G.num_ws:
        raise VJError(f"layer range {layers.start}-{layers.stop - 1} is outside this model's w rows 0-{G.num_ws - 1}")
    fingerprint = model_fingerprint(G)
    path = _cache_path(G, fingerprint, method, layers, samples, seed)
    if cache and path.exists():
        try:
            found = Directions.load(path)
            if found.fingerprint == fingerprint:
                return found
            log.warning("directions cache %s belongs to another model; recomputing", path)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("directions cache %s is unreadable (%s); recomputing", path, exc)
    if method == "sefa":
        directions = sefa(G, layers, fingerprint)
    else:
        directions = ganspace(G, layers, fingerprint, samples=samples, seed=seed)
    if cache:
        directions.save(path)
    return directions


def sefa(G: nn.Module, layers: range, fingerprint: str = "") -> Directions:
    """SeFa: eigenvectors of A^T A for the stacked, row-normalised style affines reading `layers`."""
    weight = stacked_affine_weight(G, layers).double()
    weight = weight / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
    eigenvalues, eigenvectors = torch.linalg.eigh(weight.T @ weight)  # ascending
    order = torch.argsort(eigenvalues, descending=True)
    vectors = _fix_signs(eigenvectors[:, order].T.numpy())
    values = eigenvalues[order].clamp_min(0).numpy()
    return Directions(
        vectors.astype(np.float32),
        values.astype(np.float64),
        np.ones(len(values)),
        "sefa",
        layers.start,
        layers.stop,
        fingerprint,
        float(values.sum()),
    )


def ganspace(
    G: nn.Module, layers: range, fingerprint: str = "", *, samples: int = GANSPACE_SAMPLES, seed: int = 0
) -> Directions:
    """GANSpace: principal components of w = G.mapping(z) over `samples` seeded Gaussian z."""
    if samples < 2:
        raise VJError(f"GANSpace needs at least 2 samples, not {samples}")
    w = sample_w(G, samples, seed).double()
    w = w - w.mean(dim=0)
    covariance = w.T @ w / (samples - 1)
    variances, components = torch.linalg.eigh(covariance)
    order = torch.argsort(variances, descending=True)
    variances = variances[order].clamp_min(0).numpy()
    vectors = _fix_signs(components[:, order].T.numpy())
    return Directions(
        vectors.astype(np.float32),
        variances,
        np.sqrt(variances),
        "ganspace",
        layers.start,
        layers.stop,
        fingerprint,
        float(variances.sum()),
    )


@torch.no_grad()
def sample_w(G: nn.Module, samples: int, seed: int = 0) -> torch.Tensor:
    """[samples, w_dim] of `G.mapping` without truncation, from z drawn by a generator seeded `seed`."""
    device = G.mapping.w_avg.device
    rng = torch.Generator().manual_seed(seed)
    c_dim = G.c_dim
    out = []
    for start in range(0, samples, _BATCH):
        n = min(_BATCH, samples - start)
        z = torch.randn(n, G.z_dim, generator=rng).to(device)
        c = None
        if c_dim:  # conditional models: spread the samples over all classes
            labels = torch.randint(c_dim, (n,), generator=rng)
            c = torch.nn.functional.one_hot(labels, c_dim).float().to(device)
        out.append(G.mapping(z, c)[:, 0].float().cpu())
    return torch.cat(out)


def style_affines(G: nn.Module, include_torgb: bool = False) -> list[tuple[int, str, nn.Module]]:
    """(w row, module name, affine) for each layer whose style comes from one w row.

    StyleGAN2: `bR.conv0`, `bR.conv1` (and `bR.torgb`); StyleGAN3: `L*` layers (and the last, toRGB).
    StyleGAN3's `input.affine` is left out: it predicts a transform, not channel styles.
    """
    return [(layer.row, layer.name, layer.affine) for layer in G.style_layers(include_torgb)]


def stacked_affine_weight(G: nn.Module, layers: range, include_torgb: bool = False) -> torch.Tensor:
    """[sum of style channels, w_dim]: the effective weights of the affines reading rows in `layers`."""
    weights = [
        affine.effective_weight().detach().float().cpu()
        for row, _, affine in style_affines(G, include_torgb)
        if row in layers
    ]
    if not weights:
        raise VJError(
            f"no style layer reads w rows {layers.start}-{layers.stop - 1} (only toRGB does): widen the layer range"
        )
    return torch.cat(weights)


def model_fingerprint(G: nn.Module) -> str:
    """sha256 of the generator's tensors (names, shapes and values): equal only for the same weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(G.state_dict().items()):
        value = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{name}:{tuple(value.shape)};".encode())
        digest.update(value.numpy().tobytes())
    return digest.hexdigest()


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Flip each row so its largest-magnitude entry is positive: eigenvectors' signs are arbitrary, and
    a fixed convention keeps `direction.0 = +2` meaning the same thing after a recompute."""
    pivot = vectors[np.arange(len(vectors)), np.abs(vectors).argmax(axis=1)]
    return vectors * np.where(pivot < 0, -1.0, 1.0)[:, None]


def _cache_path(G: nn.Module, fingerprint: str, method: str, layers: range, samples: int, seed: int) -> Path:
    source = str(getattr(G, "source", "") or "model")
    label = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(source.split("?")[0]).stem).strip("-")[:40] or "model"
    name = f"{label}-{fingerprint[:16]}-{method}-L{layers.start}-{layers.stop - 1}"
    if method == "ganspace":
        name += f"-n{samples}-s{seed}"
    return cache_dir() / "directions" / f"{name}.npz"


# ---------------------------------------------------------------- using


def apply_directions(
    ws: torch.Tensor,
    vectors: torch.Tensor | np.ndarray,
    strengths: Sequence[float] | torch.Tensor | np.ndarray,
    layer_start: int = 0,
    layer_end: int | None = None,
) -> torch.Tensor:
    """`ws` ([num_ws, w_dim] or [N, num_ws, w_dim]) with `sum_k strengths[k] * vectors[k]` added to the rows
    `[layer_start, layer_end)`; a new tensor, `ws` itself is left alone.

    `vectors` are [K, w_dim] (one w offset, the same on every row in the range) or [K, num_ws, w_dim]
    (per row, e.g. a loaded w+ direction). Pass `Directions.steps()` so a strength is in that method's units.
    """
    # Strengths are a handful of floats: checked on the CPU, so an idle direction costs the GPU nothing.
    strengths = np.asarray(strengths.cpu() if isinstance(strengths, torch.Tensor) else strengths, dtype=np.float32)
    if strengths.ndim != 1 or len(strengths) != len(vectors):
        raise VJError(f"{len(vectors)} directions need as many strengths, got shape {tuple(strengths.shape)}")
    num_ws = ws.shape[-2]
    end = num_ws if layer_end is None else min(layer_end, num_ws)
    start = max(0, layer_start)
    if end <= start or not strengths.any():
        return ws
    vectors = torch.as_tensor(vectors).to(ws.device, ws.dtype)
    offset = torch.tensordot(torch.from_numpy(strengths).to(ws.device, ws.dtype), vectors, dims=1)
    if offset.ndim == 2:
        offset = offset[start:end]
    out = ws.clone()
    out[..., start:end, :] += offset
    return out


def load_direction(path: str | Path, w_dim: int | None = None, num_ws: int | None = None) -> np.ndarray:
    """A direction from a `.npy` (e.g. an InterFaceGAN boundary): float32 [w_dim] or [num_ws, w_dim].

    Shapes [w_dim] and [1, w_dim] give one w offset; [num_ws, w_dim] one offset per w row. Its length is
    kept: the file's own scale is the unit of strength.
    """
    path = Path(path).expanduser()
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise VJError(
            f"direction file {path} does not exist; pass a .npy of shape [w_dim] or [num_ws, w_dim]"
        ) from None
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise VJError(f"cannot read direction {path} as a .npy array ({reason}); save it with numpy.save") from None
    if not isinstance(data, np.ndarray) or not np.issubdtype(data.dtype, np.number):
        raise VJError(f"direction {path} is not a numeric .npy array; save a float array with numpy.save")
    if data.ndim == 2 and data.shape[0] == 1:
        data = data[0]
    expected = f"[{w_dim or 'w_dim'}], [1, {w_dim or 'w_dim'}] or [{num_ws or 'num_ws'}, {w_dim or 'w_dim'}]"
    if data.ndim not in (1, 2) or (w_dim is not None and data.shape[-1] != w_dim):
        raise VJError(f"direction {path} has shape {list(data.shape)}; this model needs {expected}")
    if data.ndim == 2 and num_ws is not None and data.shape[0] != num_ws:
        raise VJError(f"direction {path} has shape {list(data.shape)}; this model needs {expected}")
    if not np.isfinite(data).all() or not np.abs(data).max() > 0:
        raise VJError(f"direction {path} is all zeros or holds NaN/inf; it moves nothing")
    return data.astype(np.float32)


def text_checks(generator: nn.Module) -> dict[str, Callable[[str], object]]:
    """The direction parameters that are text, checked against `generator` (see `ParamStore.add_check`)."""
    return {
        "direction.layers": lambda spec: layer_range(spec, generator.num_ws, generator.arch),
        "direction.file": lambda path: load_direction(path, generator.w_dim, generator.num_ws),
    }


class DirectionOffset:
    """The `direction.*` parameters as a latent-composer offset: `offset(ws, snapshot) -> ws`.

    Directions are computed (or read from the cache) and `direction.file` is read on a worker thread,
    never in the render loop: until they are ready the offset moves nothing. Problems (a bad layer
    range, an unreadable file) are logged once and leave the picture as it is; a file that failed is
    not read again until `direction.file` names another.
    """

    def __init__(self, G: nn.Module, device: torch.device | str, count: int = 8) -> None:
        self.G, self.device, self.count = G, torch.device(device), count
        self.arch = G.arch
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="directions")  # joined at exit: see bank.py
        self._jobs: dict[Hashable, Future] = {}
        self._said = SayOnce(log)

    def __call__(self, ws: torch.Tensor, snapshot: Mapping) -> torch.Tensor:
        strengths = [float(snapshot[f"direction.{k}"]) for k in range(self.count)]
        path, user = str(snapshot["direction.file"]), float(snapshot["direction.user"])
        user_vector = self._result(("file", path)) if path else None  # read (and any error said) once named
        if not any(strengths) and not (user_vector is not None and user):
            return ws
        rows = self._rows(str(snapshot["direction.layers"]))
        if rows is None:
            return ws
        if any(strengths):
            steps = self._result(self._directions_key(str(snapshot["direction.method"]), rows))
            if steps is not None:
                ws = apply_directions(ws, steps[: self.count], strengths[: len(steps)], rows.start, rows.stop)
        if user_vector is not None and user:
            ws = apply_directions(ws, user_vector[None], [user], rows.start, rows.stop)
        return ws

    def prepare(self, snapshot: Mapping) -> list[Future]:
        """Start computing what `snapshot` asks for (e.g. at start-up): the directions and, if named,
        `direction.file`. The futures end when each is ready (or has failed)."""
        rows = self._rows(str(snapshot["direction.layers"])) or range(self.G.num_ws)
        jobs = [self._job(self._directions_key(str(snapshot["direction.method"]), rows))]
        if path := str(snapshot["direction.file"]):
            jobs.append(self._job(("file", path)))
        return jobs

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _directions_key(self, method: str, rows: range) -> tuple:
        # GANSpace's components do not depend on the rows they move; SeFa's do.
        rows = range(self.G.num_ws) if method == "ganspace" else rows
        return ("directions", method, rows.start, rows.stop)

    def _rows(self, spec: str) -> range | None:
        try:
            return layer_range(spec, self.G.num_ws, self.arch)
        except VJError as exc:
            self._said(("layers", str(exc)), "direction.layers: %s; directions move nothing", exc)
            return None

    def _result(self, key: tuple) -> torch.Tensor | None:
        job = self._job(key)
        if not job.done():
            return None
        try:
            return job.result()
        except Exception as exc:  # whatever went wrong on the worker, the render loop goes on
            if not isinstance(exc, VJError):
                exc = f"{type(exc).__name__}: {exc}"
            self._said((key, str(exc)), "%s: %s", key[1] if key[0] == "file" else "directions", exc)
            return None

    def _job(self, key: tuple) -> Future:
        if key not in self._jobs:
            self._jobs[key] = self._worker.submit(self._compute, key)
        return self._jobs[key]

    def _compute(self, key: tuple) -> torch.Tensor:
        if key[0] == "file":
            vector = load_direction(key[1], self.G.w_dim, self.G.num_ws)
        else:
            _, method, start, stop = key
            vector = compute_directions(self.G, method, range(start, stop)).top(self.count).steps()
        return torch.from_numpy(vector).to(self.device)
