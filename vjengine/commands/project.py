"""`vjengine project IMAGE --model M`: embed a photo into W+ and write the latents, a loss curve and a
comparison strip (the optimisation itself is `vjengine.latent.projection`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from vjengine.analysis.vgg import open_encoder
from vjengine.commands.pictures import label, write_png
from vjengine.errors import VJError
from vjengine.files import check_new_file
from vjengine.latent.projection import ProjectionResult, project


def save_projection(result: ProjectionResult, out: str | Path) -> dict[str, Path]:
    """Write `<out>.npy` (w+ [num_ws, w_dim] float32), `<out>-loss.png` (loss curve) and `<out>-compare.png`
    (target | start | result). `out` is a path prefix; an existing folder or one ending in '/' gets
    `projection` inside it. Noise maps, if optimised, go to `<out>-noise.npz`. Returns the paths by kind."""
    paths = projection_paths(out, noise=bool(result.noise))
    paths["latents"].parent.mkdir(parents=True, exist_ok=True)
    np.save(paths["latents"], result.ws.numpy().astype(np.float32), allow_pickle=False)
    write_png(paths["loss"], loss_curve(result.losses, result.pixel_losses))
    write_png(paths["compare"], compare_strip(result))
    if result.noise:
        np.savez(paths["noise"], **{name: n.numpy() for name, n in result.noise.items()})
    return paths


def projection_paths(out: str | Path, noise: bool = False) -> dict[str, Path]:
    """The files `save_projection` writes for the prefix `out`, by kind (see there)."""
    prefix = Path(out)
    if str(out).endswith(("/", "\\")) or prefix.is_dir():
        prefix = prefix / "projection"
    prefix = prefix.with_suffix("") if prefix.suffix == ".npy" else prefix
    paths = {
        "latents": prefix.with_name(prefix.name + ".npy"),
        "loss": prefix.with_name(prefix.name + "-loss.png"),
        "compare": prefix.with_name(prefix.name + "-compare.png"),
    }
    if noise:
        paths["noise"] = prefix.with_name(prefix.name + "-noise.npz")
    return paths


def compare_strip(
    result: ProjectionResult, labels: Sequence[str] = ("target", "start (w_avg)", "result")
) -> np.ndarray:
    """Target, start and result side by side (RGB uint8), each labelled; small models are enlarged to 256 px."""
    size = max(256, result.target.shape[0])
    tiles = []
    for image, text in zip((result.target, result.image_before, result.image_after), labels, strict=True):
        tile = cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST) if image.shape[0] < size else image
        tile = tile.copy()
        label(tile, text, (8, 24))
        tiles.append(tile)
    return np.concatenate(tiles, axis=1)


def loss_curve(losses: Sequence[float], pixel_losses: Sequence[float] = (), size: tuple[int, int] = (640, 360)):
    """A loss-per-step plot (RGB uint8) on a log scale: total loss in blue, pixel MSE in orange."""
    width, height = size
    left, right, top, bottom = 70, 20, 30, 40
    canvas = np.full((height, width, 3), 255, np.uint8)
    series = [
        (np.asarray(s, np.float64), colour) for s, colour in ((losses, (40, 90, 200)), (pixel_losses, (230, 120, 20)))
    ]
    series = [(s, c) for s, c in series if len(s)]
    cv2.rectangle(canvas, (left, top), (width - right, height - bottom), (0, 0, 0), 1)
    if not series:
        return canvas
    logs = [np.log10(np.maximum(s, 1e-12)) for s, _ in series]
    lo, hi = min(v.min() for v in logs), max(v.max() for v in logs)
    hi = hi if hi > lo else lo + 1
    steps = max(len(s) for s, _ in series)
    for values, (_, colour) in zip(logs, series, strict=True):
        xs = left + np.arange(len(values)) * (width - left - right) / max(1, steps - 1)
        ys = height - bottom - (values - lo) / (hi - lo) * (height - top - bottom)
        points = np.stack([xs, ys], axis=1).round().astype(np.int32)
        cv2.polylines(canvas, [points], False, colour, 2, cv2.LINE_AA)
    label(canvas, f"{10**hi:.3g}", (4, top + 5), scale=0.4)
    label(canvas, f"{10**lo:.3g}", (4, height - bottom), scale=0.4)
    label(canvas, f"step 0..{steps - 1}", (left, height - 12), scale=0.45)
    label(canvas, "loss (log)", (left + 6, top - 10), scale=0.45, colour=series[0][1])
    if len(series) > 1:
        label(canvas, "pixel MSE", (left + 110, top - 10), scale=0.45, colour=series[1][1])
    return canvas


def _image_file(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise VJError(f"image {path} {what}; pass a photo (.jpg, .png, ...)")
    return path


def load_target(path: str | Path, resolution: int) -> np.ndarray:
    """An image file as (resolution, resolution, 3) uint8 RGB: centre square crop, then resized."""
    path = _image_file(path)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VJError(f"cannot read {path} as an image; pass a .jpg, .png, .webp or another format OpenCV reads")
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side]
    shrink = side > resolution
    square = cv2.resize(square, (resolution, resolution), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return cv2.cvtColor(square, cv2.COLOR_BGR2RGB)


def project_command(
    image_path: str | Path,
    model_spec: str,
    steps: int = 500,
    out: str | Path | None = None,
    device: str = "auto",
    lr: float = 0.1,
    noise_reg: float = 0.0,
    vgg_weights: str = "auto",
    bank: str | Path | None = None,
    slot: int | None = None,
    progress: bool = True,
) -> int:
    """`vjengine project IMAGE --model M`: embed a photo, write the latents, loss curve and comparison
    into the folder `out` (default: the current one, never the photo's, which may be read-only or
    shared), named after the photo, and (with `slot`) store it as a preset in `bank`; print one line
    saying what was written where."""
    from vjengine.latent.presets import INDEX, check_slot
    from vjengine.models import load_generator

    # Every mistake is said before the model loads and the optimisation runs, not after.
    if steps < 1:
        raise VJError(f"--steps {steps}: give at least 1 step, e.g. --steps 500")
    if not (math.isfinite(lr) and lr > 0):
        raise VJError(f"--lr {lr}: give a positive learning rate, e.g. --lr 0.1")
    if not (math.isfinite(noise_reg) and noise_reg >= 0):
        raise VJError(f"--noise-reg {noise_reg}: give 0 (off) or a positive weight, e.g. --noise-reg 1e5")
    _image_file(image_path)
    folder = Path(out if out is not None else ".").expanduser()
    prefix = folder / Path(image_path).stem
    for path in projection_paths(prefix, noise=noise_reg > 0).values():
        check_new_file(path, f"project --out {folder}", force=True)  # a projection replaces the one before it
    if slot is not None:
        check_slot(slot)
        check_new_file(Path(bank or "presets") / INDEX, f"project --bank {bank or 'presets'}", force=True)
    G = load_generator(model_spec, device)
    target = load_target(image_path, G.img_resolution)
    encoder = open_encoder(vgg_weights, G.mapping.w_avg.device, "the projection follows pixels more than looks")
    result = project(G, target, steps=steps, encoder=encoder, lr=lr, noise_reg=noise_reg, progress=progress)
    paths = save_projection(result, prefix)
    stored = ""
    if slot is not None:
        from vjengine.latent.presets import Preset, PresetBank, PresetError

        preset = Preset(slot, result.ws.numpy(), name=Path(image_path).stem, model=str(model_spec), psi=1.0)
        try:
            preset = PresetBank(bank or "presets").store(preset, keep_unsaved=False)
        except PresetError as exc:  # the projection itself is saved: say where, and how to store it again
            raise VJError(f"project --bank {bank or 'presets'}: {exc}; the latents are in {paths['latents']}") from None
        stored = f"; stored as {preset.label} in {Path(bank or 'presets')}"
    names = [path.name for path in paths.values()]
    print(
        f"projected {image_path} in {result.seconds:.1f} s ({steps} steps on {G.mapping.w_avg.device}): "
        f"pixel MSE {result.pixel_mse_before:.4f} -> {result.pixel_mse_after:.4f}; wrote {', '.join(names)} "
        f"in {folder.resolve()}{stored}"
    )
    return 0
